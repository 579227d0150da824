// RUN: chewc-opt %s -p tile-loops | filecheck %s
// RUN: chewc-opt %s -p tile-loops,tile-buffer-alloc,convert-tile-to-chewbacca | filecheck %s --check-prefix=ISA

// A 3-bit signed input (q = x * 4) by bit planes: the host splits it into three planes of one word each,
// the array runs one CONV per plane over the plane's own word, the second and third shifted by 1 and 2,
// the sign plane with negated weights, all summed in ACC before the threshold.
func.func @first(%x: tensor<1x3x4x4xf32>) -> !bnn.bits<1x2x4x4> {
  %p = bnn.bitplanes %x {bits = 3 : i64, exponent = -2 : i64, signed} : tensor<1x3x4x4xf32> -> !bnn.bits<1x48x4x4>
  %c = bnn.bitplane_conv2d %p {weights = #bnn.dense_bits<2x3x3x3, "a5f00f3c7e1f18">, strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, bits = 3 : i64, exponent = -2 : i64, signed} : !bnn.bits<1x48x4x4> -> tensor<1x2x4x4xi32>
  %t = bnn.threshold %c {thresholds = array<i32: 1, -3>, modes = "gl"} : tensor<1x2x4x4xi32> -> !bnn.bits<1x2x4x4>
  func.return %t : !bnn.bits<1x2x4x4>
}

// CHECK:      %[[PL:.*]] = tile.alloc {label = "planes"} : !tile.buffer<dram, 48>
// CHECK-NEXT: tile.host "split the 3-bit input into bit planes (bnn.bitplanes)"(%{{.*}}) -> (%[[PL]]) {onnx = "", {{.*}}out_descs = [#tile.tensor<[48, 4, 4], bits>], planes = #tile.planes<bits = 3, exponent = -2, signed = 1>}
// One weight copy per plane (2 channels x 9 words each): planes 0 and 1 alike, the sign plane's negated
// (each word holds 3 channels: 0x0003 <-> 0x0004):
// CHECK:      tile.const {label = "conv1.weights", data = "030002000700040004000500000001000500070007000700000000000000050007000300030002000700040004000500000001000500070007000700000000000000050007000300040005000000030003000200070006000200000000000000070007000700020000000400"} : !tile.buffer<dram, 54>
// All three planes' rows in one transfer (3 words of 16 each):
// CHECK:      tile.dma %[[PL]][%{{.*}}] -> %[[IB:.*]][%{{.*}}] {count = 3 : i64, length = 16 : i64
// CHECK:      tile.conv %[[IB]][%[[P0:.*]]], %{{.*}}[%{{.*}}] -> {{.*}} {geom = #tile.conv_geometry<{{.*}}in_c = 3, {{.*}}pad_mode = neg, pack = 0, {{.*}}accumulate = 0, shift = 0>}
// offsets of constant operands fold as they are built
// CHECK-NEXT: %[[P1:.*]] = arith.constant 16 : index
// CHECK-NEXT: %[[O18:.*]] = arith.constant 18 : index
// CHECK-NEXT: tile.conv %[[IB]][%[[P1]]], %{{.*}}[%[[O18]]] -> {{.*}} {geom = #tile.conv_geometry<{{.*}}in_c = 3, {{.*}}accumulate = 1, shift = 1>}
// CHECK:      tile.conv %[[IB]][%{{.*}}], %{{.*}}[%{{.*}}] -> {{.*}} {geom = #tile.conv_geometry<{{.*}}accumulate = 1, shift = 2>}
// CHECK-NEXT: tile.threshold

// ISA:      chewbacca.host {step = 0 : i64}
// ISA:      chewbacca.conv {fmem = {{[0-9]+}} : i64, wmem = 0 : i64, acc = 0 : i64, accumulate = 0 : i64}
// ISA:      chewbacca.conv.s {fmem = {{[0-9]+}} : i64, wmem = 18 : i64, acc = 0 : i64, accumulate = 1 : i64, shift = 1 : i64}
// ISA:      chewbacca.conv.s {fmem = {{[0-9]+}} : i64, wmem = 36 : i64, acc = 0 : i64, accumulate = 1 : i64, shift = 2 : i64}
// ISA-NEXT: chewbacca.thresh
