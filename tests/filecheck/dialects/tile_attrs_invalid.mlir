// RUN: chewc-opt %s --split-input-file --parsing-diagnostics --verify-diagnostics | filecheck %s
// The typed attributes of the tile dialect refuse what the ISA cannot configure, as they are parsed.

func.func @missing_key() {
  %z = arith.constant 0 : index
  %a = tile.alloc {label = "a"} : !tile.buffer<acc, 32>
  %t = tile.alloc {label = "t"} : !tile.buffer<tmem, 4>
  %o = tile.alloc {label = "o"} : !tile.buffer<fmem, 16>
  tile.threshold %a[%z], %t[%z] -> %o[%z] channel %z {geom = #tile.threshold_geometry<out_w = 4, nrows = 4, oc_count = 2, rows = 1>} : !tile.buffer<acc, 32>, !tile.buffer<tmem, 4> -> !tile.buffer<fmem, 16>
  func.return
}
// CHECK: #tile.threshold_geometry: lacks obuf_rows

// -----

func.func @pad_mode() {
  %z = arith.constant 0 : index
  %i = tile.alloc {label = "i"} : !tile.buffer<fmem, 16>
  %w = tile.alloc {label = "w"} : !tile.buffer<wmem, 2>
  %a = tile.alloc {label = "a"} : !tile.buffer<acc, 32>
  tile.conv %i[%z], %w[%z] -> %a[%z] rows %z from %z {geom = #tile.conv_geometry<in_h = 4, in_w = 4, in_c = 16, buf_rows = 4, kh = 1, kw = 1, stride = 1, dilation = 1, pad_top = 0, pad_left = 0, pad_mode = zero, pack = 0, out_h = 4, out_w = 4, nrows = 4, oc_count = 2, accumulate = 0, shift = 0>} : !tile.buffer<fmem, 16>, !tile.buffer<wmem, 2> -> !tile.buffer<acc, 32>
  func.return
}
// CHECK: #tile.conv_geometry: pad_mode must be one of neg, pos, gate, got 'zero'

// -----

func.func @shift() {
  %z = arith.constant 0 : index
  %i = tile.alloc {label = "i"} : !tile.buffer<fmem, 16>
  %w = tile.alloc {label = "w"} : !tile.buffer<wmem, 2>
  %a = tile.alloc {label = "a"} : !tile.buffer<acc, 32>
  tile.conv %i[%z], %w[%z] -> %a[%z] rows %z from %z {geom = #tile.conv_geometry<in_h = 4, in_w = 4, in_c = 16, buf_rows = 4, kh = 1, kw = 1, stride = 1, dilation = 1, pad_top = 0, pad_left = 0, pad_mode = gate, pack = 0, out_h = 4, out_w = 4, nrows = 4, oc_count = 2, accumulate = 0, shift = 16>} : !tile.buffer<fmem, 16>, !tile.buffer<wmem, 2> -> !tile.buffer<acc, 32>
  func.return
}
// CHECK: #tile.conv_geometry: shift = 16 is outside CONV.S's range 1..15 (0: CONV)

// -----

func.func @dtype(%x: tensor<1x16x4x4xf32>) {
  %in = tile.alloc {label = "in"} : !tile.buffer<dram, 512>
  tile.write %x -> %in {desc = #tile.tensor<[16, 4, 4], f16>} : tensor<1x16x4x4xf32> -> !tile.buffer<dram, 512>
  func.return
}
// CHECK: #tile.tensor: dtype must be one of bits, int16, f32, got 'f16'

// -----

func.func @zero_rule(%x: tensor<1x16x4x4xf32>) {
  %in = tile.alloc {label = "in"} : !tile.buffer<dram, 512>
  tile.write %x -> %in {desc = #tile.tensor<[16, 4, 4], f32, plus>} : tensor<1x16x4x4xf32> -> !tile.buffer<dram, 512>
  func.return
}
// CHECK: #tile.tensor: zero rules (plus, reject) are for bits tensors

// -----

func.func @planes(%x: tensor<1x16x4x4xf32>) {
  %in = tile.alloc {label = "in"} : !tile.buffer<dram, 512>
  %s = tile.alloc {label = "s"} : !tile.buffer<dram, 16>
  tile.host "split"(%in) -> (%s) {onnx = "", in_names = ["in"], out_names = ["out"], in_descs = [#tile.tensor<[16, 4, 4], f32>], out_descs = [#tile.tensor<[16, 4, 4], bits>], planes = #tile.planes<bits = 0, exponent = 0, signed = 0>} : !tile.buffer<dram, 512> -> !tile.buffer<dram, 16>
  func.return
}
// CHECK: #tile.planes: not a valid bit-plane grid

// -----

func.func @register_range() {
  %z = arith.constant 0 : index
  %i = tile.alloc {label = "i"} : !tile.buffer<fmem, 16>
  %w = tile.alloc {label = "w"} : !tile.buffer<wmem, 2>
  %a = tile.alloc {label = "a"} : !tile.buffer<acc, 32>
  tile.conv %i[%z], %w[%z] -> %a[%z] rows %z from %z {geom = #tile.conv_geometry<in_h = 4, in_w = 4, in_c = 16, buf_rows = 4, kh = 9, kw = 1, stride = 1, dilation = 1, pad_top = 0, pad_left = 0, pad_mode = gate, pack = 0, out_h = 4, out_w = 4, nrows = 4, oc_count = 2, accumulate = 0, shift = 0>} : !tile.buffer<fmem, 16>, !tile.buffer<wmem, 2> -> !tile.buffer<acc, 32>
  func.return
}
// CHECK: #tile.conv_geometry: kh = 9 is outside the ISA's range 1..7
