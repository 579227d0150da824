// RUN: XDSL_VERIFY_DIAG

func.func @wrong_channels(%x: !bnn.bits<1x4x4x4>) -> tensor<1x2x2x2xi32> {
  %c = bnn.conv2d %x {weights = #bnn.dense_bits<2x3x3x3, "a5f00f3c7e1f18">, strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, pad_value = "zero"} : !bnn.bits<1x4x4x4> -> tensor<1x2x2x2xi32>
  func.return %c : tensor<1x2x2x2xi32>
}
// CHECK: bnn.conv2d: weights expect 3 input channels, input has 4

// -----

func.func @bad_pad(%x: !bnn.bits<1x3x4x4>) -> tensor<1x2x2x2xi32> {
  %c = bnn.conv2d %x {weights = #bnn.dense_bits<2x3x3x3, "a5f00f3c7e1f18">, strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, pad_value = "0"} : !bnn.bits<1x3x4x4> -> tensor<1x2x2x2xi32>
  func.return %c : tensor<1x2x2x2xi32>
}
// CHECK: bnn.conv2d: pad_value must be one of ('+1', '-1', 'zero'), got '0'

// -----

func.func @wrong_result(%x: !bnn.bits<1x3x4x4>) -> tensor<1x2x3x3xi32> {
  %c = bnn.conv2d %x {weights = #bnn.dense_bits<2x3x3x3, "a5f00f3c7e1f18">, strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, pad_value = "zero"} : !bnn.bits<1x3x4x4> -> tensor<1x2x3x3xi32>
  func.return %c : tensor<1x2x3x3xi32>
}
// CHECK: bnn.conv2d: result shape (1, 2, 3, 3) does not match the computed (1, 2, 2, 2)

// -----

func.func @thresholds(%x: tensor<1x3xi32>) -> !bnn.bits<1x3> {
  %t = bnn.threshold %x {thresholds = array<i32: 0, 1>, modes = "ggg"} : tensor<1x3xi32> -> !bnn.bits<1x3>
  func.return %t : !bnn.bits<1x3>
}
// CHECK: bnn.threshold: 2 thresholds for 3 channels

// -----

func.func @modes(%x: tensor<1x2xi32>) -> !bnn.bits<1x2> {
  %t = bnn.threshold %x {thresholds = array<i32: 0, 1>, modes = "gx"} : tensor<1x2xi32> -> !bnn.bits<1x2>
  func.return %t : !bnn.bits<1x2>
}
// CHECK: bnn.threshold: modes must be among 'gl+-', found 'x'

// -----

func.func @sign(%x: tensor<1x2xf32>) -> !bnn.bits<1x2> {
  %s = bnn.sign %x {zero = "minus"} : tensor<1x2xf32> -> !bnn.bits<1x2>
  func.return %s : !bnn.bits<1x2>
}
// CHECK: bnn.sign: zero must be one of ('plus', 'reject'), got 'minus'

// -----

func.func @dense(%x: !bnn.bits<1x9>) -> tensor<1x2xi32> {
  %d = bnn.dense %x {weights = #bnn.dense_bits<2x8, "c3a5">} : !bnn.bits<1x9> -> tensor<1x2xi32>
  func.return %d : tensor<1x2xi32>
}
// CHECK: bnn.dense: weights expect 8 inputs, input has 9

// -----

func.func @reshape(%x: !bnn.bits<1x9>) -> !bnn.bits<1x8> {
  %r = bnn.reshape %x : !bnn.bits<1x9> -> !bnn.bits<1x8>
  func.return %r : !bnn.bits<1x8>
}
// CHECK: bnn.reshape: 9 elements cannot become 8

// -----

func.func @pool(%x: !bnn.bits<1x2x4x4>) -> tensor<1x2x2x2xi32> {
  %p = bnn.maxpool %x {kernel = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>} : !bnn.bits<1x2x4x4> -> tensor<1x2x2x2xi32>
  func.return %p : tensor<1x2x2x2xi32>
}
// CHECK: bnn.maxpool: input and result must both be bits or both integers

// -----

func.func @host(%x: tensor<1x2xi32>) -> tensor<1x2xf32> {
  %h = bnn.host " "(%x) {onnx = "AAAA", inputs = ["a"], outputs = ["b"]} : (tensor<1x2xi32>) -> tensor<1x2xf32>
  func.return %h : tensor<1x2xf32>
}
// CHECK: bnn.host: a host op must say why it is not accelerated

// -----

func.func @regroup(%x: !bnn.bits<1x24x1x1>) -> !bnn.bits<1x24x1x1> {
  %r = bnn.regroup %x : !bnn.bits<1x24x1x1> -> !bnn.bits<1x24x1x1>
  func.return %r : !bnn.bits<1x24x1x1>
}
// CHECK: bnn.regroup: regrouping moves whole 16-channel words

// -----

func.func @planes_unaligned(%x: tensor<1x3x4x4xf32>) -> !bnn.bits<1x24x4x4> {
  %p = bnn.bitplanes %x {bits = 8 : i64, exponent = -7 : i64, signed} : tensor<1x3x4x4xf32> -> !bnn.bits<1x24x4x4>
  func.return %p : !bnn.bits<1x24x4x4>
}
// CHECK: bnn.bitplanes: result shape (1, 24, 4, 4) must be (1, 128, 4, 4) (8 planes of 3 channels, each in whole words)

// -----

func.func @planes_too_wide(%x: tensor<1x3x4x4xf32>) -> !bnn.bits<1x272x4x4> {
  %p = bnn.bitplanes %x {bits = 17 : i64, exponent = 0 : i64} : tensor<1x3x4x4xf32> -> !bnn.bits<1x272x4x4>
  func.return %p : !bnn.bits<1x272x4x4>
}
// CHECK: bnn.bitplanes: planes: bits must be 1..16, got 17

// -----

func.func @plane_conv_channels(%x: !bnn.bits<1x32x4x4>) -> tensor<1x2x4x4xi32> {
  %c = bnn.bitplane_conv2d %x {weights = #bnn.dense_bits<2x3x3x3, "a5f00f3c7e1f18">, strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, bits = 3 : i64, exponent = -2 : i64, signed} : !bnn.bits<1x32x4x4> -> tensor<1x2x4x4xi32>
  func.return %c : tensor<1x2x4x4xi32>
}
// CHECK: bnn.bitplane_conv2d: 3 planes of 3 channels (in whole words) need 48 input channels, the input has 32
