// RUN: chewc-opt %s -p bnn-dense-to-conv | filecheck %s
// RUN: chewc-opt %s -p 'bnn-dense-to-conv{window=2 lanes=4}' | filecheck %s --check-prefix=W2

// A dense fed by a flatten of a [C, H, W] map within the window keeps the map: the flatten goes, the
// weights become [M][C][H][W] and a reshape drops the 1x1 output's trailing dimensions.
func.func @flatten(%x: !bnn.bits<1x4x3x3>) -> tensor<1x2xi32> {
  %f = bnn.reshape %x : !bnn.bits<1x4x3x3> -> !bnn.bits<1x36>
  %d = bnn.dense %f {weights = #bnn.dense_bits<2x36, "c3a5f00f3c7e1f18a5">} : !bnn.bits<1x36> -> tensor<1x2xi32>
  func.return %d : tensor<1x2xi32>
}

// CHECK-LABEL: func.func @flatten
// CHECK-NEXT:    %[[C:.*]] = bnn.conv2d %x {weights = #bnn.dense_bits<2x4x3x3, "c3a5f00f3c7e1f18a5">, strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, pad_value = "zero"} : !bnn.bits<1x4x3x3> -> tensor<1x2x1x1xi32>
// CHECK-NEXT:    %[[R:.*]] = bnn.reshape %[[C]] : tensor<1x2x1x1xi32> -> tensor<1x2xi32>
// CHECK-NEXT:    func.return %[[R]] : tensor<1x2xi32>

// A dense fed by the host (a Sign) gets the view that fills the window best: 108 = 3 x 6 x 6 is one
// channel group per output, the fewest array cycles (with a 2x2 window and 4 lanes: 27 x 2 x 2).
func.func @from_host(%x: tensor<1x108xf32>) -> tensor<1x2xi32> {
  %s = bnn.sign %x {zero = "plus"} : tensor<1x108xf32> -> !bnn.bits<1x108>
  %d = bnn.dense %s {weights = #bnn.dense_bits<2x108, "c3a5f00f3c7e1f18a5c3a5f00f3c7e1f18a5c3a5f00f3c7e1f18a5">} : !bnn.bits<1x108> -> tensor<1x2xi32>
  func.return %d : tensor<1x2xi32>
}

// CHECK-LABEL: func.func @from_host
// CHECK-NEXT:    %s = bnn.sign %x {zero = "plus"} : tensor<1x108xf32> -> !bnn.bits<1x108>
// CHECK-NEXT:    %[[V:.*]] = bnn.reshape %s : !bnn.bits<1x108> -> !bnn.bits<1x3x6x6>
// CHECK-NEXT:    %[[C:.*]] = bnn.conv2d %[[V]] {weights = #bnn.dense_bits<2x3x6x6, "c3a5f00f3c7e1f18a5c3a5f00f3c7e1f18a5c3a5f00f3c7e1f18a5">, {{.*}} pads = array<i64: 0, 0, 0, 0>, pad_value = "zero"} : !bnn.bits<1x3x6x6> -> tensor<1x2x1x1xi32>
// CHECK-NEXT:    %[[R:.*]] = bnn.reshape %[[C]] : tensor<1x2x1x1xi32> -> tensor<1x2xi32>
// CHECK-NEXT:    func.return %[[R]]

// W2-LABEL: func.func @from_host
// W2:         bnn.reshape %s : !bnn.bits<1x108> -> !bnn.bits<1x27x2x2>
// W2-NEXT:    bnn.conv2d {{.*}}#bnn.dense_bits<2x27x2x2, {{.*}} : !bnn.bits<1x27x2x2> -> tensor<1x2x1x1xi32>

// Otherwise a 1x1 map of K channels, the layout the previous layer wrote; the threshold moves before
// the reshape so that it reads the convolution's sums (and fuses with it).
func.func @chain(%x: !bnn.bits<1x4x3x3>) -> tensor<1x2xi32> {
  %f = bnn.reshape %x : !bnn.bits<1x4x3x3> -> !bnn.bits<1x36>
  %d = bnn.dense %f {weights = #bnn.dense_bits<3x36, "c3a5f00f3c7e1f18a5c3a5f00f3c">} : !bnn.bits<1x36> -> tensor<1x3xi32>
  %t = bnn.threshold %d {thresholds = array<i32: 0, 1, -1>, modes = "glg"} : tensor<1x3xi32> -> !bnn.bits<1x3>
  %e = bnn.dense %t {weights = #bnn.dense_bits<2x3, "a4">} : !bnn.bits<1x3> -> tensor<1x2xi32>
  func.return %e : tensor<1x2xi32>
}

// CHECK-LABEL: func.func @chain
// CHECK-NEXT:    %[[D:.*]] = bnn.conv2d %x {weights = #bnn.dense_bits<3x4x3x3, {{.*}} -> tensor<1x3x1x1xi32>
// CHECK-NEXT:    %[[T:.*]] = bnn.threshold %[[D]] {thresholds = array<i32: 0, 1, -1>, modes = "glg"} : tensor<1x3x1x1xi32> -> !bnn.bits<1x3x1x1>
// CHECK-NEXT:    %[[E:.*]] = bnn.conv2d %[[T]] {weights = #bnn.dense_bits<2x3x1x1, "a4">, {{.*}} : !bnn.bits<1x3x1x1> -> tensor<1x2x1x1xi32>
// CHECK-NEXT:    %[[R:.*]] = bnn.reshape %[[E]] : tensor<1x2x1x1xi32> -> tensor<1x2xi32>
// CHECK-NEXT:    func.return %[[R]]
