// RUN: chewc-opt %s -p bnn-dense-to-conv | filecheck %s

// A dense fed by another layer's ±1 vector reads that vector's 16-channel words as a map
// (bnn.regroup): 64 inputs = 4 words = one 16-channel group of 1x4 positions, so one output takes one
// cycle of a 1x4 window instead of four cycles of a single position.  The threshold moves before the
// reshape so it stays with its convolution.
func.func @vector(%x: tensor<1x64xi32>) -> tensor<1x4xi32> {
  %t = bnn.threshold %x {thresholds = array<i32: 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>, modes = "gggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggg"} : tensor<1x64xi32> -> !bnn.bits<1x64>
  %d = bnn.dense %t {weights = #bnn.dense_bits<4x64, "0123456789abcdef0123456789abcdeffedcba9876543210fedcba9876543210">} : !bnn.bits<1x64> -> tensor<1x4xi32>
  func.return %d : tensor<1x4xi32>
}

// CHECK-LABEL: func.func @vector
// CHECK:       %[[V:.*]] = bnn.reshape %{{.*}} : !bnn.bits<1x64> -> !bnn.bits<1x64x1x1>
// CHECK-NEXT:  %[[M:.*]] = bnn.regroup %[[V]] : !bnn.bits<1x64x1x1> -> !bnn.bits<1x16x1x4>
// CHECK-NEXT:  %[[C:.*]] = bnn.conv2d %[[M]] {weights = #bnn.dense_bits<4x16x1x4, "{{[0-9a-f]+}}">, {{.*}}} : !bnn.bits<1x16x1x4> -> tensor<1x4x1x1xi32>
// CHECK-NEXT:  %{{.*}} = bnn.reshape %[[C]] : tensor<1x4x1x1xi32> -> tensor<1x4xi32>
// CHECK-NOT:   bnn.dense
