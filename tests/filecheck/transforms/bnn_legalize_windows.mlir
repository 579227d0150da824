// RUN: chewc-opt %s -p bnn-legalize-windows | filecheck %s
// RUN: chewc-opt %s -p 'bnn-legalize-windows{window=3}' | filecheck %s --check-prefix=W3

// Strides (2, 1): the conv at stride 1, then every second row; the threshold moves before the subsample.
func.func @unequal_strides(%x: !bnn.bits<1x1x5x5>) -> !bnn.bits<1x1x3x5> {
  %c = bnn.conv2d %x {weights = #bnn.dense_bits<1x1x1x1, "80">, strides = array<i64: 2, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, pad_value = "zero"} : !bnn.bits<1x1x5x5> -> tensor<1x1x3x5xi32>
  %t = bnn.threshold %c {thresholds = array<i32: 0>, modes = "g"} : tensor<1x1x3x5xi32> -> !bnn.bits<1x1x3x5>
  func.return %t : !bnn.bits<1x1x3x5>
}
// CHECK-LABEL: func.func @unequal_strides
// CHECK-NEXT:    %[[C:.*]] = bnn.conv2d %{{.*}} {{.*}}strides = array<i64: 1, 1>{{.*}} -> tensor<1x1x5x5xi32>
// CHECK-NEXT:    %[[T:.*]] = bnn.threshold %[[C]] {{.*}} -> !bnn.bits<1x1x5x5>
// CHECK-NEXT:    %[[S:.*]] = bnn.subsample %[[T]] {strides = array<i64: 2, 1>} : !bnn.bits<1x1x5x5> -> !bnn.bits<1x1x3x5>
// CHECK-NEXT:    func.return %[[S]]

// Dilations (2, 1) of a 2x2 kernel: one single-row conv per kernel row, summed.
func.func @unequal_dilations(%x: !bnn.bits<1x1x6x6>) -> tensor<1x1x4x5xi32> {
  %c = bnn.conv2d %x {weights = #bnn.dense_bits<1x1x2x2, "90">, strides = array<i64: 1, 1>, dilations = array<i64: 2, 1>, pads = array<i64: 0, 0, 0, 0>, pad_value = "zero"} : !bnn.bits<1x1x6x6> -> tensor<1x1x4x5xi32>
  func.return %c : tensor<1x1x4x5xi32>
}
// CHECK-LABEL: func.func @unequal_dilations
// CHECK-NEXT:    %[[R0:.*]] = bnn.conv2d %{{.*}} {weights = #bnn.dense_bits<1x1x1x2, "80">, {{.*}}dilations = array<i64: 1, 1>, pads = array<i64: 0, 0, -2, 0>{{.*}}
// CHECK-NEXT:    %[[R1:.*]] = bnn.conv2d %{{.*}} {weights = #bnn.dense_bits<1x1x1x2, "40">, {{.*}}dilations = array<i64: 1, 1>, pads = array<i64: -2, 0, 0, 0>{{.*}}
// CHECK-NEXT:    %{{.*}} = bnn.add %[[R0]], %[[R1]]

// A 9x9 pool over a 7x7 window: separable, each axis a 7-tap pool then a 2-tap pool 2 apart (taps 0..6, 2..8).
func.func @large_pool(%x: !bnn.bits<1x1x9x9>) -> !bnn.bits<1x1x1x1> {
  %p = bnn.maxpool %x {kernel = array<i64: 9, 9>, strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>} : !bnn.bits<1x1x9x9> -> !bnn.bits<1x1x1x1>
  func.return %p : !bnn.bits<1x1x1x1>
}
// CHECK-LABEL: func.func @large_pool
// CHECK-NEXT:    %{{.*}} = bnn.maxpool %{{.*}} {kernel = array<i64: 1, 7>, {{.*}}} : !bnn.bits<1x1x9x9> -> !bnn.bits<1x1x9x3>
// CHECK-NEXT:    %{{.*}} = bnn.maxpool %{{.*}} {kernel = array<i64: 1, 2>, {{.*}}dilations = array<i64: 2, 2>} : !bnn.bits<1x1x9x3> -> !bnn.bits<1x1x9x1>
// CHECK-NEXT:    %{{.*}} = bnn.maxpool %{{.*}} {kernel = array<i64: 7, 1>, {{.*}}} : !bnn.bits<1x1x9x1> -> !bnn.bits<1x1x3x1>
// CHECK-NEXT:    %{{.*}} = bnn.maxpool %{{.*}} {kernel = array<i64: 2, 1>, {{.*}}dilations = array<i64: 2, 2>} : !bnn.bits<1x1x3x1> -> !bnn.bits<1x1x1x1>

// With a 3x3 window: 3 taps, then 3 taps 3 apart, on each axis.
// W3-LABEL: func.func @large_pool
// W3-COUNT-2: kernel = array<i64: 1, 3>
// W3-COUNT-2: kernel = array<i64: 3, 1>
