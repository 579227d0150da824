// RUN: chewc-opt %s --split-input-file -p bnn-legalize-padding | filecheck %s
// RUN: chewc-opt %s --split-input-file -p 'bnn-legalize-padding{strict=true}' --verify-diagnostics | filecheck %s --check-prefix=STRICT

// A thresholded zero-padded conv becomes its +1- and -1-padded copies, summed, against doubled
// thresholds (constant channels keep theirs).
func.func @thresholded(%x: !bnn.bits<1x3x4x4>) -> !bnn.bits<1x2x4x4> {
  %c = bnn.conv2d %x {weights = #bnn.dense_bits<2x3x3x3, "a5f00f3c7e1f18">, strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, pad_value = "zero"} : !bnn.bits<1x3x4x4> -> tensor<1x2x4x4xi32>
  %t = bnn.threshold %c {thresholds = array<i32: 3, -2>, modes = "g+"} : tensor<1x2x4x4xi32> -> !bnn.bits<1x2x4x4>
  func.return %t : !bnn.bits<1x2x4x4>
}

// CHECK-LABEL: func.func @thresholded
// CHECK:       %[[P:.*]] = bnn.conv2d %x {{.*}}pads = array<i64: 1, 1, 1, 1>, pad_value = "+1"}
// CHECK-NEXT:  %[[N:.*]] = bnn.conv2d %x {{.*}}pads = array<i64: 1, 1, 1, 1>, pad_value = "-1"}
// CHECK-NEXT:  %[[S:.*]] = bnn.add %[[P]], %[[N]]
// CHECK-NEXT:  %{{.*}} = bnn.threshold %[[S]] {thresholds = array<i32: 6, -2>, modes = "g+"}
// CHECK-NOT:   pad_value = "zero"

// -----

// Sums that are not thresholded cannot be halved: left as they are, and an error with strict.
func.func @scores(%x: !bnn.bits<1x3x4x4>) -> tensor<1x2x4x4xi32> {
  %c = bnn.conv2d %x {weights = #bnn.dense_bits<2x3x3x3, "a5f00f3c7e1f18">, strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, pad_value = "zero"} : !bnn.bits<1x3x4x4> -> tensor<1x2x4x4xi32>
  func.return %c : tensor<1x2x4x4xi32>
}

// CHECK-LABEL: func.func @scores
// CHECK:       pad_value = "zero"
// STRICT: bnn-legalize-padding: 1 zero-padded convolution(s) feed integer results that cannot be halved on a ±1 datapath (they need the gate pad mode)
