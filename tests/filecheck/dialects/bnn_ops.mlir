// RUN: XDSL_ROUNDTRIP
// RUN: XDSL_GENERIC_ROUNDTRIP

func.func @main(%x: tensor<1x3x4x4xf32>) -> tensor<1x2xf32> {
  %s = bnn.sign %x {zero = "plus"} : tensor<1x3x4x4xf32> -> !bnn.bits<1x3x4x4>
  %c = bnn.conv2d %s {weights = #bnn.dense_bits<2x3x3x3, "a5f00f3c7e1f18">, strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, pad_value = "zero"} : !bnn.bits<1x3x4x4> -> tensor<1x2x4x4xi32>
  %t = bnn.threshold %c {thresholds = array<i32: 0, -3>, modes = "gl"} : tensor<1x2x4x4xi32> -> !bnn.bits<1x2x4x4>
  %p = bnn.maxpool %t {kernel = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>} : !bnn.bits<1x2x4x4> -> !bnn.bits<1x2x2x2>
  %r = bnn.reshape %p : !bnn.bits<1x2x2x2> -> !bnn.bits<1x8>
  %d = bnn.dense %r {weights = #bnn.dense_bits<2x8, "c3a5">} : !bnn.bits<1x8> -> tensor<1x2xi32>
  %a = bnn.add %d, %d : tensor<1x2xi32>, tensor<1x2xi32> -> tensor<1x2xi32>
  %h = bnn.host "node fc (Mul): float scale of the final scores"(%a) {onnx = "AAAA", inputs = ["acc"], outputs = ["scores"]} : (tensor<1x2xi32>) -> tensor<1x2xf32>
  func.return %h : tensor<1x2xf32>
}

// CHECK:      %s = bnn.sign %x {zero = "plus"} : tensor<1x3x4x4xf32> -> !bnn.bits<1x3x4x4>
// CHECK-NEXT: %c = bnn.conv2d %s {weights = #bnn.dense_bits<2x3x3x3, "a5f00f3c7e1f18">, strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, pad_value = "zero"} : !bnn.bits<1x3x4x4> -> tensor<1x2x4x4xi32>
// CHECK-NEXT: %t = bnn.threshold %c {thresholds = array<i32: 0, -3>, modes = "gl"}
// CHECK-NEXT: %p = bnn.maxpool %t {kernel = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>} : !bnn.bits<1x2x4x4> -> !bnn.bits<1x2x2x2>
// CHECK-NEXT: %r = bnn.reshape %p : !bnn.bits<1x2x2x2> -> !bnn.bits<1x8>
// CHECK-NEXT: %d = bnn.dense %r {weights = #bnn.dense_bits<2x8, "c3a5">}
// CHECK-NEXT: %a = bnn.add %d, %d
// CHECK-NEXT: %h = bnn.host "node fc (Mul): float scale of the final scores"(%a) {onnx = "AAAA", inputs = ["acc"], outputs = ["scores"]} : (tensor<1x2xi32>) -> tensor<1x2xf32>

// CHECK-GENERIC: "bnn.conv2d"(%{{.*}}) <{weights = #bnn.dense_bits<2x3x3x3, "a5f00f3c7e1f18">,
// CHECK-GENERIC: "bnn.threshold"(%{{.*}}) <{thresholds = array<i32: 0, -3>, modes = "gl"}>

// -----

func.func @regroup(%x: !bnn.bits<1x64x1x1>) -> !bnn.bits<1x16x2x2> {
  %r = bnn.regroup %x : !bnn.bits<1x64x1x1> -> !bnn.bits<1x16x2x2>
  func.return %r : !bnn.bits<1x16x2x2>
}
// CHECK: %r = bnn.regroup %x : !bnn.bits<1x64x1x1> -> !bnn.bits<1x16x2x2>
// CHECK-GENERIC: "bnn.regroup"(%{{.*}}) : (!bnn.bits<1x64x1x1>) -> !bnn.bits<1x16x2x2>
