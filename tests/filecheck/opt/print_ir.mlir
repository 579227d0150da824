// The --print-ir-* flags print MLIR-style dumps to stderr; stdout stays the final IR.
// RUN: chewc-opt %s -p 'bnn-decompose-kernels,bnn-dense-to-conv' --print-ir-after-all 2>&1 >/dev/null | filecheck %s --check-prefix=AFTER-ALL
// RUN: chewc-opt %s -p 'bnn-decompose-kernels,bnn-dense-to-conv' --print-ir-before-all 2>&1 >/dev/null | filecheck %s --check-prefix=BEFORE-ALL
// RUN: chewc-opt %s -p 'bnn-decompose-kernels,bnn-dense-to-conv,tile-loops' --print-ir-after=bnn-dense-to-conv --print-ir-before=tile-loops 2>&1 >/dev/null | filecheck %s --check-prefix=ONE
// RUN: chewc-opt %s -p 'bnn-decompose-kernels,bnn-dense-to-conv' --print-ir-after=bnn-decompose-kernels,bnn-dense-to-conv 2>&1 >/dev/null | filecheck %s --check-prefix=LIST
// RUN: chewc-opt %s -p 'bnn-decompose-kernels,bnn-dense-to-conv' --print-ir-after-change 2>&1 >/dev/null | filecheck %s --check-prefix=CHANGE
// RUN: chewc-opt %s -p 'bnn-decompose-kernels,bnn-dense-to-conv' --print-ir-after=bnn-decompose-kernels --print-ir-after-change 2>&1 >/dev/null | filecheck %s --check-prefix=NONE --allow-empty
// RUN: chewc-opt %s -p 'bnn-dense-to-conv' --print-ir-after-all --print-op-generic 2>&1 >/dev/null | filecheck %s --check-prefix=GENERIC
// RUN: chewc-opt %s -p 'bnn-dense-to-conv' --print-ir-after-all 2>/dev/null | filecheck %s --check-prefix=STDOUT

func.func @main(%0: tensor<1x16xf32>) -> tensor<1x4xi32> attributes {bnn.inputs = ["x"], bnn.outputs = ["y"]} {
  %1 = bnn.sign %0 {zero = "reject"} : tensor<1x16xf32> -> !bnn.bits<1x16>
  %2 = bnn.dense %1 {weights = #bnn.dense_bits<8x16, "dde59f0b5f77ca8824ec5ec0956a2548">} : !bnn.bits<1x16> -> tensor<1x8xi32>
  %3 = bnn.threshold %2 {thresholds = array<i32: 0, 2, -2, 2, 0, 4, 0, -2>, modes = "gggggggg"} : tensor<1x8xi32> -> !bnn.bits<1x8>
  %4 = bnn.dense %3 {weights = #bnn.dense_bits<4x8, "6c6a64eb">} : !bnn.bits<1x8> -> tensor<1x4xi32>
  func.return %4 : tensor<1x4xi32>
}

// AFTER-ALL:      // -----// IR Dump After bnn-decompose-kernels //----- //
// AFTER-ALL-NEXT: builtin.module {
// AFTER-ALL:        bnn.dense
// AFTER-ALL:      // -----// IR Dump After bnn-dense-to-conv //----- //
// AFTER-ALL-NEXT: builtin.module {
// AFTER-ALL-NOT:    bnn.dense
// AFTER-ALL:        bnn.conv2d
// AFTER-ALL-NOT:  IR Dump

// BEFORE-ALL:     // -----// IR Dump Before bnn-decompose-kernels //----- //
// BEFORE-ALL:     // -----// IR Dump Before bnn-dense-to-conv //----- //
// BEFORE-ALL:       bnn.dense
// BEFORE-ALL-NOT: IR Dump

// ONE-NOT: IR Dump After bnn-decompose-kernels
// ONE:     // -----// IR Dump After bnn-dense-to-conv //----- //
// ONE:     // -----// IR Dump Before tile-loops //----- //
// ONE-NEXT: builtin.module {
// ONE:       bnn.conv2d
// ONE-NOT: IR Dump

// LIST: IR Dump After bnn-decompose-kernels
// LIST: IR Dump After bnn-dense-to-conv

// bnn-decompose-kernels has no kernel to split here: it changes nothing, so it is not printed.
// CHANGE-NOT: IR Dump After bnn-decompose-kernels
// CHANGE:     // -----// IR Dump After bnn-dense-to-conv //----- //
// NONE-NOT:   IR Dump

// GENERIC: // -----// IR Dump After bnn-dense-to-conv //----- //
// GENERIC: "builtin.module"() ({
// GENERIC: "bnn.conv2d"

// STDOUT-NOT:  IR Dump
// STDOUT:      builtin.module {
// STDOUT:        bnn.conv2d
