// A pass that rejects its input, or leaves IR that does not verify, is one line on stderr naming it.
// (test-* passes are deliberately wrong ones from the test-only plugin tests/compiler/wrong_passes.py)
// RUN: not chewc-opt %s -p 'bnn-dense-to-conv,test-fail' --load-pass-plugin %S/../../compiler/wrong_passes.py 2>&1 | filecheck %s --check-prefix=FAIL
// RUN: not chewc-opt %s -p 'bnn-dense-to-conv,test-fail' --load-pass-plugin %S/../../compiler/wrong_passes.py --print-ir-after-failure 2>&1 | filecheck %s --check-prefix=AFTER-FAILURE
// RUN: not chewc-opt %s -p 'test-break-verifier' --load-pass-plugin %S/../../compiler/wrong_passes.py 2>&1 | filecheck %s --check-prefix=VERIFY-EACH
// RUN: not chewc-opt %s -p 'test-break-verifier' --load-pass-plugin %S/../../compiler/wrong_passes.py --verify-each 2>&1 | filecheck %s --check-prefix=VERIFY-EACH
// RUN: chewc-opt %s -p 'test-break-verifier' --load-pass-plugin %S/../../compiler/wrong_passes.py --no-verify-each | filecheck %s --check-prefix=NO-VERIFY-EACH
// xDSL's --verify-diagnostics keeps its behaviour: the diagnostic on stdout, exit 0.
// RUN: chewc-opt %s -p 'test-break-verifier' --load-pass-plugin %S/../../compiler/wrong_passes.py --verify-diagnostics | filecheck %s --check-prefix=DIAG
// RUN: chewc-opt %s -p 'test-fail' --load-pass-plugin %S/../../compiler/wrong_passes.py --verify-diagnostics | filecheck %s --check-prefix=DIAG-FAIL

func.func @main(%0: tensor<1x16xf32>) -> tensor<1x4xi32> attributes {bnn.inputs = ["x"], bnn.outputs = ["y"]} {
  %1 = bnn.sign %0 {zero = "reject"} : tensor<1x16xf32> -> !bnn.bits<1x16>
  %2 = bnn.dense %1 {weights = #bnn.dense_bits<8x16, "dde59f0b5f77ca8824ec5ec0956a2548">} : !bnn.bits<1x16> -> tensor<1x8xi32>
  %3 = bnn.threshold %2 {thresholds = array<i32: 0, 2, -2, 2, 0, 4, 0, -2>, modes = "gggggggg"} : tensor<1x8xi32> -> !bnn.bits<1x8>
  %4 = bnn.dense %3 {weights = #bnn.dense_bits<4x8, "6c6a64eb">} : !bnn.bits<1x8> -> tensor<1x4xi32>
  func.return %4 : tensor<1x4xi32>
}

// FAIL-NOT:  Traceback
// FAIL:      chewc-opt: error: pass 'test-fail' failed: this input is not supported (deliberately)

// AFTER-FAILURE:      // -----// IR Dump After test-fail Failed //----- //
// AFTER-FAILURE-NEXT: builtin.module {
// AFTER-FAILURE:        bnn.conv2d
// AFTER-FAILURE:      chewc-opt: error: pass 'test-fail' failed

// VERIFY-EACH-NOT: Traceback
// VERIFY-EACH:     chewc-opt: error: pass 'test-break-verifier' produced IR that does not verify: bnn.threshold: 7 modes for 8 channels

// NO-VERIFY-EACH: bnn.threshold %{{.*}} modes = "ggggggg"

// DIAG:      7 modes for 8 channels
// DIAG-FAIL: this input is not supported (deliberately)

// xDSL's --disable-verify turns off every verification, --verify-each included.
// RUN: chewc-opt %s -p 'test-break-verifier' --load-pass-plugin %S/../../compiler/wrong_passes.py --disable-verify | filecheck %s --check-prefix=NO-VERIFY-EACH
