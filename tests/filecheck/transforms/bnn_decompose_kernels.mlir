// RUN: chewc-opt %s -p bnn-decompose-kernels | filecheck %s
// RUN: chewc-opt %s -p 'bnn-decompose-kernels{max-kernel=3}' | filecheck %s --check-prefix=K3
// RUN: chewc-opt %s -p 'bnn-decompose-kernels{max-kernel=0}' --verify-diagnostics | filecheck %s --check-prefix=BAD

// 8x8 -> four 4x4 quadrants (weights: +1 | -1 over alternating rows | alternating columns).
func.func @quadrants(%x: !bnn.bits<1x1x10x10>) -> !bnn.bits<1x1x10x10> {
  %c = bnn.conv2d %x {weights = #bnn.dense_bits<1x1x8x8, "f0f0f0f0fa0afa0a">, strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 3, 3, 4, 4>, pad_value = "zero"} : !bnn.bits<1x1x10x10> -> tensor<1x1x10x10xi32>
  %t = bnn.threshold %c {thresholds = array<i32: 0>, modes = "g"} : tensor<1x1x10x10xi32> -> !bnn.bits<1x1x10x10>
  func.return %t : !bnn.bits<1x1x10x10>
}

// CHECK-LABEL: func.func @quadrants
// CHECK-NEXT:  %[[C0:.*]] = bnn.conv2d %x {weights = #bnn.dense_bits<1x1x4x4, "ffff">, strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 3, 3, 0, 0>, pad_value = "zero"} : !bnn.bits<1x1x10x10> -> tensor<1x1x10x10xi32>
// CHECK-NEXT:  %[[C1:.*]] = bnn.conv2d %x {weights = #bnn.dense_bits<1x1x4x4, "0000">, strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 3, -1, 0, 4>, pad_value = "zero"}
// CHECK-NEXT:  %[[S1:.*]] = bnn.add %[[C0]], %[[C1]] : tensor<1x1x10x10xi32>, tensor<1x1x10x10xi32> -> tensor<1x1x10x10xi32>
// CHECK-NEXT:  %[[C2:.*]] = bnn.conv2d %x {weights = #bnn.dense_bits<1x1x4x4, "f0f0">, strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: -1, 3, 4, 0>, pad_value = "zero"}
// CHECK-NEXT:  %[[S2:.*]] = bnn.add %[[S1]], %[[C2]]
// CHECK-NEXT:  %[[C3:.*]] = bnn.conv2d %x {weights = #bnn.dense_bits<1x1x4x4, "aaaa">, strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: -1, -1, 4, 4>, pad_value = "zero"}
// CHECK-NEXT:  %[[S3:.*]] = bnn.add %[[S2]], %[[C3]]
// CHECK-NEXT:  %t = bnn.threshold %[[S3]] {thresholds = array<i32: 0>, modes = "g"}
// CHECK-NEXT:  func.return %t

// 8 = 3+3+2 per axis: nine sub-convs, eight adds.
// K3-LABEL:     func.func @quadrants
// K3-NEXT:      bnn.conv2d %x {weights = #bnn.dense_bits<1x1x3x3, "{{[0-9a-f]+}}">, {{.*}} pads = array<i64: 3, 3, -1, -1>
// K3-NEXT:      bnn.conv2d %x {weights = #bnn.dense_bits<1x1x3x3, "{{[0-9a-f]+}}">, {{.*}} pads = array<i64: 3, 0, -1, 2>
// K3-NEXT:      bnn.add
// K3-NEXT:      bnn.conv2d %x {weights = #bnn.dense_bits<1x1x3x2, "{{[0-9a-f]+}}">, {{.*}} pads = array<i64: 3, -3, -1, 4>
// K3-COUNT-6:   bnn.conv2d %x
// K3:           %[[LAST:.*]] = bnn.add
// K3-NEXT:      bnn.threshold %[[LAST]]
// K3-NOT:       bnn.conv2d
// K3:           func.return

// 9x3, stride 2x1, dilation 2x1, asymmetric pads, +1 padding: only the rows split (5+4); the
// second block starts 5 * 2 rows into every window, so it crops 9 rows at the top.
func.func @rect_9x3(%x: !bnn.bits<1x2x12x9>) -> tensor<1x1x2x9xi32> {
  %c = bnn.conv2d %x {weights = #bnn.dense_bits<1x2x9x3, "674fe676dcb910">, strides = array<i64: 2, 1>, dilations = array<i64: 2, 1>, pads = array<i64: 1, 0, 6, 2>, pad_value = "+1"} : !bnn.bits<1x2x12x9> -> tensor<1x1x2x9xi32>
  func.return %c : tensor<1x1x2x9xi32>
}

// CHECK-LABEL: func.func @rect_9x3
// CHECK-NEXT:  %[[R0:.*]] = bnn.conv2d %x {weights = #bnn.dense_bits<1x2x5x3, "{{[0-9a-f]+}}">, strides = array<i64: 2, 1>, dilations = array<i64: 2, 1>, pads = array<i64: 1, 0, -2, 2>, pad_value = "+1"} : !bnn.bits<1x2x12x9> -> tensor<1x1x2x9xi32>
// CHECK-NEXT:  %[[R1:.*]] = bnn.conv2d %x {weights = #bnn.dense_bits<1x2x4x3, "{{[0-9a-f]+}}">, strides = array<i64: 2, 1>, dilations = array<i64: 2, 1>, pads = array<i64: -9, 0, 6, 2>, pad_value = "+1"} : !bnn.bits<1x2x12x9> -> tensor<1x1x2x9xi32>
// CHECK-NEXT:  %[[R:.*]] = bnn.add %[[R0]], %[[R1]]
// CHECK-NEXT:  func.return %[[R]] : tensor<1x1x2x9xi32>

// K3-LABEL:     func.func @rect_9x3
// K3-NEXT:      bnn.conv2d %x {weights = #bnn.dense_bits<1x2x3x3, "{{[0-9a-f]+}}">, {{.*}} pads = array<i64: 1, 0, -6, 2>
// K3-NEXT:      bnn.conv2d %x {weights = #bnn.dense_bits<1x2x3x3, "{{[0-9a-f]+}}">, {{.*}} pads = array<i64: -5, 0, 0, 2>
// K3-NEXT:      bnn.add
// K3-NEXT:      bnn.conv2d %x {weights = #bnn.dense_bits<1x2x3x3, "{{[0-9a-f]+}}">, {{.*}} pads = array<i64: -11, 0, 6, 2>
// K3-NEXT:      bnn.add
// K3-NEXT:      func.return

// The array's native size is left alone (and split 3+2+2 by the max-kernel=3 run).
func.func @native_7x7(%x: !bnn.bits<1x1x9x9>) -> tensor<1x1x9x9xi32> {
  %c = bnn.conv2d %x {weights = #bnn.dense_bits<1x1x7x7, "b8cad56f4cba00">, strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 3, 3, 3, 3>, pad_value = "-1"} : !bnn.bits<1x1x9x9> -> tensor<1x1x9x9xi32>
  func.return %c : tensor<1x1x9x9xi32>
}

// CHECK-LABEL: func.func @native_7x7
// CHECK-NEXT:  %c = bnn.conv2d %x {weights = #bnn.dense_bits<1x1x7x7, "b8cad56f4cba00">, strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 3, 3, 3, 3>, pad_value = "-1"} : !bnn.bits<1x1x9x9> -> tensor<1x1x9x9xi32>
// CHECK-NEXT:  func.return %c

// K3-LABEL:     func.func @native_7x7
// K3-NEXT:      bnn.conv2d %x {weights = #bnn.dense_bits<1x1x3x3, "{{[0-9a-f]+}}">, {{.*}} pads = array<i64: 3, 3, -1, -1>
// K3-COUNT-8:   bnn.conv2d %x {{.*}}, pad_value = "-1"}
// K3-NOT:       bnn.conv2d
// K3:           func.return

// A kernel within max-kernel is never touched.
func.func @small_3x3(%x: !bnn.bits<1x1x4x4>) -> tensor<1x1x2x2xi32> {
  %c = bnn.conv2d %x {weights = #bnn.dense_bits<1x1x3x3, "4680">, strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, pad_value = "zero"} : !bnn.bits<1x1x4x4> -> tensor<1x1x2x2xi32>
  func.return %c : tensor<1x1x2x2xi32>
}

// CHECK-LABEL: func.func @small_3x3
// CHECK-NEXT:  %c = bnn.conv2d %x {weights = #bnn.dense_bits<1x1x3x3, "4680">
// CHECK-NEXT:  func.return %c
// K3-LABEL:     func.func @small_3x3
// K3-NEXT:      %c = bnn.conv2d %x {weights = #bnn.dense_bits<1x1x3x3, "4680">
// K3-NEXT:      func.return %c

// BAD: bnn-decompose-kernels: max-kernel must be >= 1, got 0
