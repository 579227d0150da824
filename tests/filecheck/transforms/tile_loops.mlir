// RUN: chewc-opt %s --split-input-file -p tile-loops | filecheck %s
// RUN: chewc-opt %s --split-input-file -p 'tile-loops{machine="%S/../../../isa/machines/quarter.toml"}' | filecheck %s --check-prefix=Q

// A small network, one tile per layer on the default machine: the host binarises the input, conv +
// threshold are one layer (weights, thresholds and input rows streamed in, the ±1 result out), then a
// pool and a dense-as-conv whose int16 sums are the output.
func.func @net(%x: tensor<1x3x6x6xf32>) -> tensor<1x2xi32> {
  %s = bnn.sign %x {zero = "plus"} : tensor<1x3x6x6xf32> -> !bnn.bits<1x3x6x6>
  %c = bnn.conv2d %s {weights = #bnn.dense_bits<4x3x3x3, "a5f00f3c7e1f18c3a5f00f3c7e1f">, strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, pad_value = "zero"} : !bnn.bits<1x3x6x6> -> tensor<1x4x6x6xi32>
  %t = bnn.threshold %c {thresholds = array<i32: 0, 1, -1, 2>, modes = "glgg"} : tensor<1x4x6x6xi32> -> !bnn.bits<1x4x6x6>
  %p = bnn.maxpool %t {kernel = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>} : !bnn.bits<1x4x6x6> -> !bnn.bits<1x4x3x3>
  %d = bnn.conv2d %p {weights = #bnn.dense_bits<2x4x3x3, "c3a5f00f3c7e1f18a5">, strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, pad_value = "zero"} : !bnn.bits<1x4x3x3> -> tensor<1x2x1x1xi32>
  %r = bnn.reshape %d : tensor<1x2x1x1xi32> -> tensor<1x2xi32>
  func.return %r : tensor<1x2xi32>
}

// CHECK-LABEL: func.func @net
// CHECK:         %[[IN:.*]] = tile.alloc {label = "input"} : !tile.buffer<dram, 216>
// CHECK-NEXT:    tile.write %{{.*}} -> %[[IN]] {desc = #tile.tensor<[3, 6, 6], f32>}
// A host step costs its HOST instruction's issue cycle and no accelerator traffic.
// CHECK-NEXT:    tile.layer {layer = "bnn.sign", kind = "host", bound_dram_bits = -1 : i64, bound_cycles = -1 : i64, predicted_cycles = 1 : i64, predicted_dram_bits = 0 : i64, mapping = ""}
// CHECK-NEXT:    %[[S:.*]] = tile.alloc {label = "sign"} : !tile.buffer<dram, 36>
// CHECK-NEXT:    tile.host "binarise float activations (bnn.sign, zero -> plus)"(%[[IN]]) -> (%[[S]]) {onnx = "", {{.*}} out_descs = [#tile.tensor<[3, 6, 6], bits, plus>]}

// The conv layer's ±1 result stays in FMEM (conv1.map) for the pool, whose result stays for the last
// conv: only the int16 scores go back to DRAM. The layer's bounds: weights 4 x 9 words, thresholds 8 words,
// its input 36 words and its pooled output 9 (of 16 bits): 1424 bits; 4 x 36 x 27 MACs over 16 x 9 lanes.
// The mapping search predicts what the schedule moves (weights, thresholds, input: 80 words, the pooled map
// stays on chip) and its cycles, for its one tile.
// CHECK:         tile.layer {layer = "maxpool", kind = "conv+threshold+maxpool", bound_dram_bits = 1424 : i64, bound_cycles = 27 : i64, predicted_cycles = 256 : i64, predicted_dram_bits = 1280 : i64, mapping = "rows 6, block 4, chunk 1, input buffers 1, weight buffers 1"}
// CHECK-NEXT:    %[[MAP1:.*]] = tile.alloc {label = "conv1.map"} : !tile.buffer<fmem, 36>
// CHECK-NEXT:    %[[W:.*]] = tile.const {label = "conv1.weights", data = "{{[0-9a-f]+}}"} : !tile.buffer<dram, 36>
// CHECK-NEXT:    %[[WB:.*]] = tile.alloc {label = "conv1.w"} : !tile.buffer<wmem, 36>
// CHECK-NEXT:    %[[ACC:.*]] = tile.alloc {label = "conv1.acc"} : !tile.buffer<acc, 144>
// CHECK-NEXT:    %[[IB:.*]] = tile.alloc {label = "conv1.in"} : !tile.buffer<fmem, 36>
// (threshold, mode) int16 pairs: (0, ge) (1, le) (-1, ge) (2, ge)
// CHECK-NEXT:    %[[T:.*]] = tile.const {label = "conv1.thresholds", data = "0000000001000100ffff000002000000"} : !tile.buffer<dram, 8>
// CHECK-NEXT:    %[[TB:.*]] = tile.alloc {label = "conv1.t"} : !tile.buffer<tmem, 8>
// CHECK:         tile.dma %[[W]][%{{.*}}] -> %[[WB]][%{{.*}}] {count = 1 : i64, length = 36 : i64, {{.*}}}
// CHECK:         tile.dma %[[T]][%{{.*}}] -> %[[TB]][%{{.*}}] {count = 1 : i64, length = 8 : i64, {{.*}}}
// CHECK:         tile.dma %[[S]][%{{.*}}] -> %[[IB]][%{{.*}}] {count = 1 : i64, length = 36 : i64, {{.*}}}
// CHECK-NEXT:    tile.sync
// CHECK:         tile.conv %[[IB]][%{{.*}}], %[[WB]][%{{.*}}] -> %[[ACC]][%{{.*}}] rows %{{.*}} from %{{.*}} {geom = #tile.conv_geometry<in_h = 6, in_w = 6, in_c = 3, buf_rows = 6, kh = 3, kw = 3, stride = 1, dilation = 1, pad_top = 1, pad_left = 1, pad_mode = gate, pack = 0, out_h = 6, out_w = 6, nrows = 6, oc_count = 4, accumulate = 0, shift = 0>}
// CHECK:         tile.threshold %[[ACC]][%{{.*}}], %[[TB]][%{{.*}}] -> %[[MAP1]][%{{.*}}] channel %{{.*}} {geom = #tile.threshold_geometry<out_w = 6, obuf_rows = 6, nrows = 6, oc_count = 4>}
// CHECK-NOT:     tile.dma %[[MAP1]]
// CHECK:         %[[MAP2:.*]] = tile.alloc {label = "maxpool{{[0-9]+}}.map"} : !tile.buffer<fmem, 9>
// CHECK:         tile.pool %[[MAP1]][%{{.*}}] -> %[[MAP2]][%{{.*}}] rows %{{.*}} from %{{.*}} {geom = #tile.pool_geometry<in_h = 6, in_w = 6, in_c = 4, buf_rows = 6, kh = 2, kw = 2, stride = 2, dilation = 1, pad_top = 0, pad_left = 0, out_h = 3, out_w = 3, obuf_rows = 3, nrows = 3>}

// The dense-as-conv: a 3x3 kernel over the whole 3x3 map, read in FMEM; int16 sums [2][1][1] stored one per row.
// CHECK:         %[[OUT2:.*]] = tile.alloc {label = "conv2"} : !tile.buffer<dram, 2>
// CHECK-NEXT:    tile.const {label = "conv2.weights", data = "{{[0-9a-f]+}}"} : !tile.buffer<dram, 18>
// CHECK-NEXT:    tile.alloc {label = "conv2.w"} : !tile.buffer<wmem, 18>
// CHECK-NEXT:    %[[ACC2:.*]] = tile.alloc {label = "conv2.acc"} : !tile.buffer<acc, 2>
// CHECK:         tile.conv %[[MAP2]][%{{.*}}], {{.*}} -> %[[ACC2]][%{{.*}}] {{.*}} {geom = #tile.conv_geometry<in_h = 3, in_w = 3, in_c = 4, buf_rows = 3, kh = 3, kw = 3, {{.*}} out_h = 1, out_w = 1, nrows = 1, oc_count = 2, accumulate = 0, shift = 0>}
// CHECK:         tile.dma %[[ACC2]][%{{.*}}] -> %[[OUT2]][%{{.*}}] {count = 2 : i64, length = 1 : i64, src_stride = 1 : i64, dst_stride = 1 : i64}
// CHECK:         %[[R:.*]] = tile.read %[[OUT2]] {desc = #tile.tensor<[2, 1, 1], int16>} : !tile.buffer<dram, 2> -> tensor<1x2xi32>
// CHECK-NEXT:    func.return %[[R]]
// CHECK-NOT:     scf.for

// The quarter machine has room for the same single tiles.
// Q-LABEL: func.func @net
// Q:         tile.alloc {label = "conv1.acc"} : !tile.buffer<acc, 144>
// Q-NOT:     scf.for
// Q:         func.return

// -----

// 1 -> 4 channels on a 120 x 120 map.  Default machine: the whole map is one row tile (14400 words of
// FMEM, and of ACC per channel), the output channels loop one at a time.  Quarter machine: 4 row tiles
// of 30 rows (32 input rows, double-buffered: the next tile's rows load while this one computes; the
// last tile is peeled), each looping over the channels.
func.func @wide(%x: tensor<1x1x120x120xf32>) -> tensor<1x4x120x120xi32> {
  %s = bnn.sign %x {zero = "plus"} : tensor<1x1x120x120xf32> -> !bnn.bits<1x1x120x120>
  %c = bnn.conv2d %s {weights = #bnn.dense_bits<4x1x3x3, "122b598615">, strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, pad_value = "zero"} : !bnn.bits<1x1x120x120> -> tensor<1x4x120x120xi32>
  func.return %c : tensor<1x4x120x120xi32>
}

// CHECK-LABEL: func.func @wide
// CHECK:         tile.alloc {label = "conv1"} : !tile.buffer<dram, 57600>
// CHECK-NEXT:    tile.const {label = "conv1.weights", data = "{{[0-9a-f]+}}"} : !tile.buffer<dram, 36>
// CHECK-NEXT:    tile.alloc {label = "conv1.w"} : !tile.buffer<wmem, 9>
// CHECK-NEXT:    tile.alloc {label = "conv1.acc"} : !tile.buffer<acc, 14400>
// CHECK-NEXT:    tile.alloc {label = "conv1.in"} : !tile.buffer<fmem, 14400>
// CHECK:         tile.dma {{.*}} {count = 1 : i64, length = 14400 : i64, {{.*}}}
// CHECK-NEXT:    tile.sync
// CHECK-NEXT:    %[[C4:.*]] = arith.constant 4 : index
// CHECK-NEXT:    %[[C1:.*]] = arith.constant 1 : index
// CHECK-NEXT:    scf.for %{{.*}} = %{{.*}} to %[[C4]] step %[[C1]] {
// CHECK:           tile.dma {{.*}} {count = 1 : i64, length = 9 : i64, {{.*}}}
// CHECK-NEXT:      tile.sync
// CHECK:           tile.conv {{.*}} buf_rows = 120, {{.*}} nrows = 120, oc_count = 1, accumulate = 0, shift = 0>}
// CHECK:           tile.dma {{.*}} {count = 1 : i64, length = 14400 : i64, src_stride = 14400 : i64, dst_stride = 14400 : i64}
// CHECK-NEXT:      tile.sync
// CHECK-NEXT:    } {tile.unit = "ochannels"}
// CHECK-NOT:     scf.for

// Q-LABEL: func.func @wide
// Q:         tile.alloc {label = "conv1.acc"} : !tile.buffer<acc, 3600>
// Q-NEXT:    %[[IB:.*]] = tile.alloc {label = "conv1.in"} : !tile.buffer<fmem, 7680>
// Q:         tile.dma %{{.*}}[%{{.*}}] -> %[[IB]][%{{.*}}] {count = 1 : i64, length = 3840 : i64, src_stride = 14400 : i64, dst_stride = 3840 : i64}
// Q-NEXT:    %[[C3:.*]] = arith.constant 3 : index
// Q-NEXT:    %[[C1:.*]] = arith.constant 1 : index
// Q-NEXT:    scf.for %{{.*}} = %{{.*}} to %[[C3]] step %[[C1]] {
// Q:           tile.sync
// Q:           tile.dma %{{.*}}[%{{.*}}] -> %[[IB]][%{{.*}}] {count = 1 : i64, length = 3840 : i64, {{.*}}}
// Q:           %[[C4:.*]] = arith.constant 4 : index
// Q-NEXT:      scf.for %{{.*}} = %{{.*}} to %[[C4]] step %[[C1]] {
// Q:             tile.conv %[[IB]]{{.*}} buf_rows = 32, {{.*}} nrows = 30, oc_count = 1, accumulate = 0, shift = 0>}
// Q:             tile.dma {{.*}} {count = 1 : i64, length = 3600 : i64, src_stride = 3600 : i64, dst_stride = 14400 : i64}
// Q:           } {tile.unit = "ochannels"}
// Q-NEXT:    } {tile.unit = "rows"}
// Q:         scf.for
// Q:           tile.conv {{.*}} nrows = 30,
// Q:         } {tile.unit = "ochannels"}
// Q:         func.return

// -----

// A pool over 64 channel groups of 128-pixel rows: two input rows and an output row of every channel
// need 40 KiB of FMEM, which the default machine (64 KiB) has; the quarter machine (16 KiB) pools
// blocks of 16 groups (256 channels, 10 KiB).
func.func @pool(%x: tensor<1x1024x2x128xf32>) -> tensor<1x1024x1x64xf32> {
  %s = bnn.sign %x {zero = "plus"} : tensor<1x1024x2x128xf32> -> !bnn.bits<1x1024x2x128>
  %p = bnn.maxpool %s {kernel = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>} : !bnn.bits<1x1024x2x128> -> !bnn.bits<1x1024x1x64>
  %h = bnn.host "float output"(%p) {onnx = "", inputs = ["a"], outputs = ["b"]} : (!bnn.bits<1x1024x1x64>) -> tensor<1x1024x1x64xf32>
  func.return %h : tensor<1x1024x1x64xf32>
}

// CHECK-LABEL: func.func @pool
// CHECK:         tile.alloc {label = "maxpool{{[0-9]+}}.in"} : !tile.buffer<fmem, 16384>
// CHECK:         tile.pool {{.*}} {geom = #tile.pool_geometry<in_h = 2, in_w = 128, in_c = 1024, buf_rows = 2, {{.*}} out_h = 1, out_w = 64, obuf_rows = 1, nrows = 1>}
// CHECK:         tile.host "float output"

// Q-LABEL:   func.func @pool
// Q:         tile.alloc {label = "maxpool{{[0-9]+}}.in"} : !tile.buffer<fmem, 4096>
// Q:         %[[C64:.*]] = arith.constant 64 : index
// Q-NEXT:    %[[C16:.*]] = arith.constant 16 : index
// Q-NEXT:    scf.for %[[G:.*]] = %{{.*}} to %[[C64]] step %[[C16]] {
// Q:           arith.muli %[[G]], %{{.*}} : index
// Q:           tile.dma %{{.*}}[%{{.*}}] -> %{{.*}}[%{{.*}}] {count = 16 : i64, length = 256 : i64, src_stride = 256 : i64, dst_stride = 256 : i64}
// Q:           tile.pool {{.*}} {geom = #tile.pool_geometry<in_h = 2, in_w = 128, in_c = 256, buf_rows = 2, {{.*}} nrows = 1>}
// Q:           tile.dma {{.*}} {count = 16 : i64, length = 64 : i64, src_stride = 64 : i64, dst_stride = 64 : i64}
// Q:         tile.host "float output"

// -----

// The int16 sums are both returned and thresholded: one layer writes both maps, the threshold running on
// the sums in ACC, so the int16 map is never read back for it. Its marker covers the bounds' two layers
// (conv: 36 weight, 36 input and 144 output words; threshold: 8 threshold, 144 input and 36 output words:
// 6464 bits), and the schedule moves 2304 bits (the 144-word read) less: 4160.
func.func @stream(%x: tensor<1x3x6x6xf32>) -> (tensor<1x4x6x6xi32>, !bnn.bits<1x4x6x6>) {
  %s = bnn.sign %x {zero = "plus"} : tensor<1x3x6x6xf32> -> !bnn.bits<1x3x6x6>
  %c = bnn.conv2d %s {weights = #bnn.dense_bits<4x3x3x3, "a5f00f3c7e1f18c3a5f00f3c7e1f">, strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, pad_value = "zero"} : !bnn.bits<1x3x6x6> -> tensor<1x4x6x6xi32>
  %t = bnn.threshold %c {thresholds = array<i32: 0, 1, -1, 2>, modes = "glgg"} : tensor<1x4x6x6xi32> -> !bnn.bits<1x4x6x6>
  func.return %c, %t : tensor<1x4x6x6xi32>, !bnn.bits<1x4x6x6>
}

// CHECK-LABEL: func.func @stream
// CHECK:         tile.layer {layer = "conv, threshold", kind = "conv+threshold", bound_dram_bits = 6464 : i64, bound_cycles = 27 : i64, predicted_cycles = {{[0-9]+}} : i64, predicted_dram_bits = 4160 : i64, {{.*}}}
// CHECK-NEXT:    %[[BITS:.*]] = tile.alloc {label = "conv1"} : !tile.buffer<dram, 36>
// CHECK-NEXT:    %[[SUMS:.*]] = tile.alloc {label = "conv1.sums"} : !tile.buffer<dram, 144>
// CHECK:         %[[ACC:.*]] = tile.alloc {label = "conv1.acc"} : !tile.buffer<acc, 144>
// CHECK:         %[[OUT:.*]] = tile.alloc {label = "conv1.out"} : !tile.buffer<fmem, 36>
// CHECK:         tile.conv {{.*}} -> %[[ACC]]
// CHECK-NEXT:    tile.threshold %[[ACC]][%{{.*}}], %{{.*}} -> %[[OUT]]
// CHECK-NEXT:    tile.dma %[[ACC]][%{{.*}}] -> %[[SUMS]][%{{.*}}] {count = 4 : i64, length = 36 : i64, {{.*}}}
// CHECK-NEXT:    tile.sync
// CHECK-NEXT:    tile.dma %[[OUT]][%{{.*}}] -> %[[BITS]][%{{.*}}] {count = 1 : i64, length = 36 : i64, {{.*}}}
// CHECK-NEXT:    tile.sync
// CHECK-NOT:     tile.dma %[[SUMS]]
// CHECK-NOT:     tile.threshold
// CHECK:         tile.read %[[SUMS]]
// CHECK-NEXT:    tile.read %[[BITS]]

// -----

// The int16 sums %c are thresholded and then added onto by a second conv, their only other reader: they
// stay in ACC (conv1.stream), the threshold runs on them there, and the second conv accumulates onto them
// in place (its CONV writes conv1.stream, no residual DMA); only the final sums leave.
func.func @acc_stream(%x: tensor<1x3x6x6xf32>) -> tensor<1x4x6x6xi32> {
  %s = bnn.sign %x {zero = "plus"} : tensor<1x3x6x6xf32> -> !bnn.bits<1x3x6x6>
  %c = bnn.conv2d %s {weights = #bnn.dense_bits<4x3x3x3, "a5f00f3c7e1f18c3a5f00f3c7e1f">, strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, pad_value = "zero"} : !bnn.bits<1x3x6x6> -> tensor<1x4x6x6xi32>
  %t = bnn.threshold %c {thresholds = array<i32: 0, 1, -1, 2>, modes = "glgg"} : tensor<1x4x6x6xi32> -> !bnn.bits<1x4x6x6>
  %d = bnn.conv2d %t {weights = #bnn.dense_bits<4x4x3x3, "a5f00f3c7e1f18c3a5f00f3c7e1f18c3a5f0">, strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, pad_value = "zero"} : !bnn.bits<1x4x6x6> -> tensor<1x4x6x6xi32>
  %y = bnn.add %c, %d : tensor<1x4x6x6xi32>, tensor<1x4x6x6xi32> -> tensor<1x4x6x6xi32>
  func.return %y : tensor<1x4x6x6xi32>
}

// CHECK-LABEL: func.func @acc_stream
// CHECK:         tile.layer {layer = "conv, threshold", kind = "conv+threshold", {{.*}} predicted_dram_bits = 1280 : i64, {{.*}}}
// CHECK-NEXT:    %[[STREAM:.*]] = tile.alloc {label = "conv1.stream"} : !tile.buffer<acc, 144>
// CHECK-NEXT:    %[[MAP:.*]] = tile.alloc {label = "conv1.map"} : !tile.buffer<fmem, 36>
// CHECK:         tile.conv {{.*}} -> %[[STREAM]]
// CHECK-NEXT:    tile.threshold %[[STREAM]][%{{.*}}], %{{.*}} -> %[[MAP]]
// CHECK-NEXT:    tile.layer {layer = "conv", kind = "conv+residual", {{.*}} predicted_dram_bits = 2880 : i64, {{.*}}}
// CHECK-NEXT:    %[[OUT:.*]] = tile.alloc {label = "conv2"} : !tile.buffer<dram, 144>
// CHECK-NOT:     tile.dma {{.*}} -> %[[STREAM]]
// CHECK:         tile.conv %[[MAP]][%{{.*}}], %{{.*}} -> %[[STREAM]][%{{.*}}] {{.*}} accumulate = 1
// CHECK-NEXT:    tile.dma %[[STREAM]][%{{.*}}] -> %[[OUT]][%{{.*}}] {count = 4 : i64, length = 36 : i64, {{.*}}}
// CHECK-NEXT:    tile.sync
// CHECK-NEXT:    tile.read %[[OUT]]
