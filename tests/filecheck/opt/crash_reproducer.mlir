// A pass that crashes: one line naming it and the reproducer (the IR before it, the rest of the
// pipeline, and replay.sh), which replays the crash.
// RUN: rm -rf %t && not chewc-opt %s -p 'bnn-dense-to-conv,test-crash,tile-loops' --load-pass-plugin %S/../../compiler/wrong_passes.py --reproducer-dir %t 2>&1 | filecheck %s
// RUN: filecheck %s --check-prefix=BEFORE < %t/before.mlir
// RUN: filecheck %s --check-prefix=SCRIPT < %t/replay.sh
// RUN: not sh %t/replay.sh 2>&1 | filecheck %s
// The reproducer goes under the dump dir unless --reproducer-dir says otherwise.
// RUN: rm -rf %t.dump && not chewc-opt %s -p 'test-crash' --load-pass-plugin %S/../../compiler/wrong_passes.py --ir-dump-dir %t.dump 2>&1 | filecheck %s --check-prefix=DUMP
// RUN: ls %t.dump/reproducer | filecheck %s --check-prefix=DUMP-FILES

func.func @main(%0: tensor<1x16xf32>) -> tensor<1x4xi32> attributes {bnn.inputs = ["x"], bnn.outputs = ["y"]} {
  %1 = bnn.sign %0 {zero = "reject"} : tensor<1x16xf32> -> !bnn.bits<1x16>
  %2 = bnn.dense %1 {weights = #bnn.dense_bits<8x16, "dde59f0b5f77ca8824ec5ec0956a2548">} : !bnn.bits<1x16> -> tensor<1x8xi32>
  %3 = bnn.threshold %2 {thresholds = array<i32: 0, 2, -2, 2, 0, 4, 0, -2>, modes = "gggggggg"} : tensor<1x8xi32> -> !bnn.bits<1x8>
  %4 = bnn.dense %3 {weights = #bnn.dense_bits<4x8, "6c6a64eb">} : !bnn.bits<1x8> -> tensor<1x4xi32>
  func.return %4 : tensor<1x4xi32>
}

// CHECK-NOT: Traceback
// CHECK:     chewc-opt: error: pass 'test-crash' crashed (a chewc bug): RuntimeError: deliberate crash; reproducer: {{.*}}replay.sh

// BEFORE-NOT: bnn.dense
// BEFORE:     bnn.conv2d

// SCRIPT: exec chewc-opt {{.*}}before.mlir -p test-crash,tile-loops --load-pass-plugin {{.*}}wrong_passes.py --reproducer-dir

// DUMP:       reproducer: {{.*}}reproducer/replay.sh
// DUMP-FILES: before.mlir
// DUMP-FILES: replay.sh
