// chewc over a failing pipeline: a crash writes a reproducer; a broken verifier is caught by
// --verify-each (on by default); --print-ir-after-failure shows what the pass left.
// RUN: rm -rf %t && not chewc %S/../../../examples/models/mlp.onnx --emit=tile --load-pass-plugin %S/../../compiler/wrong_passes.py --pipeline 'bnn-dense-to-conv,test-crash,tile-loops' --reproducer-dir %t 2>&1 | filecheck %s --check-prefix=CRASH
// RUN: not sh %t/replay.sh 2>&1 | filecheck %s --check-prefix=REPLAY
// RUN: not chewc %S/../../../examples/models/mlp.onnx --emit=tile --load-pass-plugin %S/../../compiler/wrong_passes.py --pipeline 'test-break-verifier,bnn-dense-to-conv' --print-ir-after-failure 2>&1 | filecheck %s --check-prefix=VERIFY
// RUN: chewc %S/../../../examples/models/mlp.onnx --emit=bnn --load-pass-plugin %S/../../compiler/wrong_passes.py --pipeline 'test-break-verifier' --stop-after=test-break-verifier --no-verify-each | filecheck %s --check-prefix=NO-VERIFY

// CRASH-NOT: Traceback
// CRASH:     chewc: error: pass 'test-crash' crashed (a chewc bug): RuntimeError: deliberate crash; reproducer: {{.*}}replay.sh
// REPLAY:    chewc-opt: error: pass 'test-crash' crashed (a chewc bug): RuntimeError: deliberate crash

// VERIFY:      // -----// IR Dump After test-break-verifier Failed //----- //
// VERIFY:      chewc: error: pass 'test-break-verifier' produced IR that does not verify: bnn.threshold: 255 modes for 256 channels
// NO-VERIFY:   bnn.threshold
