// RUN: XDSL_VERIFY_DIAG

func.func @dma_on_chip() {
  %z = arith.constant 0 : index
  %a = tile.alloc {label = "a"} : !tile.buffer<fmem, 16>
  %b = tile.alloc {label = "b"} : !tile.buffer<wmem, 16>
  tile.dma %a[%z] -> %b[%z] {count = 1 : i64, length = 16 : i64, src_stride = 0 : i64, dst_stride = 0 : i64} : !tile.buffer<fmem, 16> -> !tile.buffer<wmem, 16>
  func.return
}
// CHECK: Operation does not verify: tile.dma: moves between dram and one on-chip memory, not fmem -> wmem

// -----

func.func @dma_empty() {
  %z = arith.constant 0 : index
  %a = tile.alloc {label = "a"} : !tile.buffer<dram, 16>
  %b = tile.alloc {label = "b"} : !tile.buffer<fmem, 16>
  tile.dma %a[%z] -> %b[%z] {count = 0 : i64, length = 16 : i64, src_stride = 0 : i64, dst_stride = 0 : i64} : !tile.buffer<dram, 16> -> !tile.buffer<fmem, 16>
  func.return
}
// CHECK: Operation does not verify: tile.dma: count and length must be >= 1

// -----

func.func @space() {
  %a = tile.alloc {label = "a"} : !tile.buffer<sram, 16>
  func.return
}
// CHECK: !tile.buffer: unknown memory space 'sram' (one of ('fmem', 'wmem', 'tmem', 'acc', 'dram'))

// -----

func.func @negative_offset() {
  %a = tile.alloc {label = "a", offset = -2 : i64} : !tile.buffer<fmem, 16>
  func.return
}
// CHECK: Operation does not verify: tile.alloc: negative offset -2

// -----

func.func @const_size() {
  %w = tile.const {label = "w", data = "0f00f0ff0100"} : !tile.buffer<dram, 2>
  func.return
}
// CHECK: Operation does not verify: tile.const: 3 words of data for a buffer of 2

// -----

func.func @weights_in_fmem() {
  %z = arith.constant 0 : index
  %i = tile.alloc {label = "i"} : !tile.buffer<fmem, 16>
  %w = tile.alloc {label = "w"} : !tile.buffer<fmem, 2>
  %a = tile.alloc {label = "a"} : !tile.buffer<acc, 32>
  tile.conv %i[%z], %w[%z] -> %a[%z] rows %z from %z {geom = #tile.conv_geometry<in_h = 4, in_w = 4, in_c = 16, buf_rows = 4, kh = 1, kw = 1, stride = 1, dilation = 1, pad_top = 0, pad_left = 0, pad_mode = gate, pack = 0, out_h = 4, out_w = 4, nrows = 4, oc_count = 2, accumulate = 0, shift = 0>} : !tile.buffer<fmem, 16>, !tile.buffer<fmem, 2> -> !tile.buffer<acc, 32>
  func.return
}
// CHECK: Operation does not verify: tile.conv: weights must be in wmem, got fmem

// -----

func.func @pool_spaces() {
  %z = arith.constant 0 : index
  %i = tile.alloc {label = "i"} : !tile.buffer<fmem, 16>
  %o = tile.alloc {label = "o"} : !tile.buffer<acc, 4>
  tile.pool %i[%z] -> %o[%z] rows %z from %z {geom = #tile.pool_geometry<in_h = 4, in_w = 4, in_c = 2, buf_rows = 4, kh = 2, kw = 2, stride = 2, dilation = 1, pad_top = 0, pad_left = 0, out_h = 2, out_w = 2, obuf_rows = 2, nrows = 2>} : !tile.buffer<fmem, 16> -> !tile.buffer<acc, 4>
  func.return
}
// CHECK: Operation does not verify: tile.pool: pools stay in one memory (fmem for ±1 maps, acc for int16 maps)

// -----

func.func @host_reason(%x: tensor<1x16x4x4xf32>) {
  %in = tile.alloc {label = "in"} : !tile.buffer<dram, 512>
  %s = tile.alloc {label = "s"} : !tile.buffer<dram, 16>
  tile.host " "(%in) -> (%s) {onnx = "", in_names = ["in"], out_names = ["out"], in_descs = [#tile.tensor<[16, 4, 4], f32>], out_descs = [#tile.tensor<[16, 4, 4], bits, plus>]} : !tile.buffer<dram, 512> -> !tile.buffer<dram, 16>
  func.return
}
// CHECK: Operation does not verify: tile.host: a host step must say why it runs on the host

// -----

func.func @write_size(%x: tensor<1x16x4x4xf32>) {
  %in = tile.alloc {label = "in"} : !tile.buffer<dram, 256>
  tile.write %x -> %in {desc = #tile.tensor<[16, 4, 4], f32>} : tensor<1x16x4x4xf32> -> !tile.buffer<dram, 256>
  func.return
}
// CHECK: Operation does not verify: tile.write: a f32 tensor of shape [16, 4, 4] needs 512 words, the buffer has 256
