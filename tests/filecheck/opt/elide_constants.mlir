// RUN: chewc-opt %s --elide-constants-larger-than 8 | filecheck %s
// RUN: chewc-opt %s -p tile-loops --elide-constants-larger-than 8 | filecheck %s --check-prefix=TILE
// RUN: chewc-opt %s | filecheck %s --check-prefix=WHOLE

// Payloads longer than 8 characters (and 16 at least) print as "__elided__" (weights, constant words);
// shorter ones and names stay.
func.func @net(%x: tensor<1x3x6x6xf32>) -> tensor<1x4x6x6xi32> {
  %s = bnn.sign %x {zero = "plus"} : tensor<1x3x6x6xf32> -> !bnn.bits<1x3x6x6>
  %c = bnn.conv2d %s {weights = #bnn.dense_bits<4x3x3x3, "a5f00f3c7e1f18c3a5f00f3c7e1f">, strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, pad_value = "zero"} : !bnn.bits<1x3x6x6> -> tensor<1x4x6x6xi32>
  func.return %c : tensor<1x4x6x6xi32>
}

// CHECK:      bnn.sign %{{.*}} {zero = "plus"}
// CHECK:      bnn.conv2d %{{.*}} {weights = #bnn.dense_bits<4x3x3x3, "__elided__">, {{.*}} pad_value = "zero"}
// TILE:       tile.const {label = "conv1.weights", data = "__elided__"}
// WHOLE:      #bnn.dense_bits<4x3x3x3, "a5f00f3c7e1f18c3a5f00f3c7e1f">
