// xdsl-opt's own flags keep working (no check line here spells the split marker): stdin, -o, --split-input-file, --print-op-generic,
// --print-between-passes, --time-passes, --verify-diagnostics.
// RUN: chewc-opt - -p bnn-dense-to-conv < %s | filecheck %s --check-prefix=STDIN
// RUN: chewc-opt %s -p bnn-dense-to-conv -o %t.mlir && filecheck %s --check-prefix=STDIN < %t.mlir
// RUN: chewc-opt %s -p bnn-dense-to-conv --split-input-file --print-ir-after-all 2>&1 | filecheck %s --check-prefix=SPLIT
// RUN: chewc-opt %s --print-op-generic --split-input-file | filecheck %s --check-prefix=GENERIC
// RUN: chewc-opt %s -p 'bnn-decompose-kernels,bnn-dense-to-conv' --print-between-passes --split-input-file | filecheck %s --check-prefix=BETWEEN
// RUN: chewc-opt %s -p 'bnn-decompose-kernels,bnn-dense-to-conv' --time-passes --split-input-file | filecheck %s --check-prefix=TIME

func.func @first(%0: !bnn.bits<1x16>) -> tensor<1x8xi32> {
  %1 = bnn.dense %0 {weights = #bnn.dense_bits<8x16, "dde59f0b5f77ca8824ec5ec0956a2548">} : !bnn.bits<1x16> -> tensor<1x8xi32>
  func.return %1 : tensor<1x8xi32>
}

// -----

func.func @second(%0: !bnn.bits<1x8>) -> tensor<1x4xi32> {
  %1 = bnn.dense %0 {weights = #bnn.dense_bits<4x8, "6c6a64eb">} : !bnn.bits<1x8> -> tensor<1x4xi32>
  func.return %1 : tensor<1x4xi32>
}

// STDIN: bnn.conv2d {{.*}} -> tensor<1x8x1x1xi32>
// STDIN: bnn.conv2d {{.*}} -> tensor<1x4x1x1xi32>

// SPLIT:      IR Dump After bnn-dense-to-conv
// SPLIT:      tensor<1x8x1x1xi32>
// SPLIT:      {{^// -{5}$}}
// SPLIT:      IR Dump After bnn-dense-to-conv
// SPLIT:      tensor<1x4x1x1xi32>

// GENERIC:    "bnn.dense"
// GENERIC:    {{^// -{5}$}}
// GENERIC:    "bnn.dense"

// BETWEEN:     IR after bnn-decompose-kernels:
// BETWEEN-NOT: IR after bnn-dense-to-conv:
// BETWEEN:     {{^// -{5}$}}
// BETWEEN:     IR after bnn-decompose-kernels:

// TIME: Pass bnn-decompose-kernels took {{.*}} seconds
// TIME: Pass bnn-dense-to-conv took {{.*}} seconds
