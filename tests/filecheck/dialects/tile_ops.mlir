// RUN: XDSL_ROUNDTRIP
// RUN: XDSL_GENERIC_ROUNDTRIP

// Every tile op in its custom form (loops are scf.for), printed back unchanged after a trip through the generic form.
func.func @ops(%x: tensor<1x16x4x4xf32>) -> tensor<1x2x4x4xi32> {
  %z = arith.constant 0 : index
  %in = tile.alloc {label = "input", offset = 64 : i64} : !tile.buffer<dram, 512>
  tile.write %x -> %in {desc = #tile.tensor<[16, 4, 4], f32>} : tensor<1x16x4x4xf32> -> !tile.buffer<dram, 512>
  %s = tile.alloc {label = "sign"} : !tile.buffer<dram, 16>
  tile.host "binarise"(%in) -> (%s) {onnx = "", in_names = ["in"], out_names = ["out"], in_descs = [#tile.tensor<[16, 4, 4], f32>], out_descs = [#tile.tensor<[16, 4, 4], bits, reject>]} : !tile.buffer<dram, 512> -> !tile.buffer<dram, 16>
  %w = tile.const {label = "w", data = "0f00f0ff"} : !tile.buffer<dram, 2>
  %t = tile.const {label = "t", data = "0000000003000100"} : !tile.buffer<dram, 4>
  %wb = tile.alloc {label = "w.chip"} : !tile.buffer<wmem, 2>
  %tb = tile.alloc {label = "t.chip"} : !tile.buffer<tmem, 4>
  %ib = tile.alloc {label = "in.chip"} : !tile.buffer<fmem, 16>
  %ob = tile.alloc {label = "out.chip"} : !tile.buffer<fmem, 16>
  %pb = tile.alloc {label = "pool.chip"} : !tile.buffer<fmem, 4>
  %acc = tile.alloc {label = "acc"} : !tile.buffer<acc, 64>
  %out = tile.alloc {label = "out"} : !tile.buffer<dram, 32>
  tile.dma %w[%z] -> %wb[%z] {count = 1 : i64, length = 2 : i64, src_stride = 0 : i64, dst_stride = 0 : i64} : !tile.buffer<dram, 2> -> !tile.buffer<wmem, 2>
  tile.dma %t[%z] -> %tb[%z] {count = 1 : i64, length = 4 : i64, src_stride = 0 : i64, dst_stride = 0 : i64} : !tile.buffer<dram, 4> -> !tile.buffer<tmem, 4>
  tile.dma %s[%z] -> %ib[%z] {count = 1 : i64, length = 16 : i64, src_stride = 16 : i64, dst_stride = 16 : i64} : !tile.buffer<dram, 16> -> !tile.buffer<fmem, 16>
  tile.sync
  %c2 = arith.constant 2 : index
  %c4 = arith.constant 4 : index
  scf.for %r = %z to %c4 step %c2 {
    tile.conv %ib[%z], %wb[%z] -> %acc[%z] rows %r from %z {geom = #tile.conv_geometry<in_h = 4, in_w = 4, in_c = 16, buf_rows = 4, kh = 1, kw = 1, stride = 1, dilation = 1, pad_top = 0, pad_left = 0, pad_mode = gate, pack = 0, out_h = 4, out_w = 4, nrows = 2, oc_count = 2, accumulate = 0, shift = 0>} : !tile.buffer<fmem, 16>, !tile.buffer<wmem, 2> -> !tile.buffer<acc, 64>
  } {tile.unit = "rows"}
  tile.threshold %acc[%z], %tb[%z] -> %ob[%z] channel %z {geom = #tile.threshold_geometry<out_w = 4, obuf_rows = 4, nrows = 4, oc_count = 2>} : !tile.buffer<acc, 64>, !tile.buffer<tmem, 4> -> !tile.buffer<fmem, 16>
  tile.pool %ob[%z] -> %pb[%z] rows %z from %z {geom = #tile.pool_geometry<in_h = 4, in_w = 4, in_c = 2, buf_rows = 4, kh = 2, kw = 2, stride = 2, dilation = 1, pad_top = 0, pad_left = 0, out_h = 2, out_w = 2, obuf_rows = 2, nrows = 2>} : !tile.buffer<fmem, 16> -> !tile.buffer<fmem, 4>
  %c32 = arith.constant 32 : index
  tile.pool %acc[%z] -> %acc[%c32] rows %z from %z {geom = #tile.pool_geometry<in_h = 4, in_w = 4, in_c = 2, buf_rows = 4, kh = 2, kw = 2, stride = 2, dilation = 1, pad_top = 0, pad_left = 0, out_h = 2, out_w = 2, obuf_rows = 2, nrows = 2>} : !tile.buffer<acc, 64> -> !tile.buffer<acc, 64>
  tile.add %acc[%z], %acc[%z] -> %acc[%z] {geom = #tile.add_geometry<out_w = 4, nrows = 4, oc_count = 2>} : !tile.buffer<acc, 64>, !tile.buffer<acc, 64> -> !tile.buffer<acc, 64>
  tile.dma %acc[%z] -> %out[%z] {count = 2 : i64, length = 16 : i64, src_stride = 16 : i64, dst_stride = 16 : i64} : !tile.buffer<acc, 64> -> !tile.buffer<dram, 32>
  tile.sync
  %y = tile.read %out {desc = #tile.tensor<[2, 4, 4], int16>} : !tile.buffer<dram, 32> -> tensor<1x2x4x4xi32>
  func.return %y : tensor<1x2x4x4xi32>
}

// CHECK-LABEL: func.func @ops
// CHECK:         %in = tile.alloc {label = "input", offset = 64 : i64} : !tile.buffer<dram, 512>
// CHECK-NEXT:    tile.write %x -> %in {desc = #tile.tensor<[16, 4, 4], f32>} : tensor<1x16x4x4xf32> -> !tile.buffer<dram, 512>
// CHECK-NEXT:    %s = tile.alloc {label = "sign"} : !tile.buffer<dram, 16>
// CHECK-NEXT:    tile.host "binarise"(%in) -> (%s) {onnx = "", in_names = ["in"], out_names = ["out"], in_descs = [#tile.tensor<[16, 4, 4], f32>], out_descs = [#tile.tensor<[16, 4, 4], bits, reject>]} : !tile.buffer<dram, 512> -> !tile.buffer<dram, 16>
// CHECK-NEXT:    %w = tile.const {label = "w", data = "0f00f0ff"} : !tile.buffer<dram, 2>
// CHECK-NEXT:    %t = tile.const {label = "t", data = "0000000003000100"} : !tile.buffer<dram, 4>
// CHECK:         %acc = tile.alloc {label = "acc"} : !tile.buffer<acc, 64>
// CHECK:         tile.dma %w[%z] -> %wb[%z] {count = 1 : i64, length = 2 : i64, src_stride = 0 : i64, dst_stride = 0 : i64} : !tile.buffer<dram, 2> -> !tile.buffer<wmem, 2>
// CHECK:         tile.sync
// CHECK-NEXT:    %c2 = arith.constant 2 : index
// CHECK-NEXT:    %c4 = arith.constant 4 : index
// CHECK-NEXT:    scf.for %r = %z to %c4 step %c2 {
// CHECK-NEXT:      tile.conv %ib[%z], %wb[%z] -> %acc[%z] rows %r from %z {geom = #tile.conv_geometry<in_h = 4, in_w = 4, in_c = 16, buf_rows = 4, kh = 1, kw = 1, stride = 1, dilation = 1, pad_top = 0, pad_left = 0, pad_mode = gate, pack = 0, out_h = 4, out_w = 4, nrows = 2, oc_count = 2, accumulate = 0, shift = 0>} : !tile.buffer<fmem, 16>, !tile.buffer<wmem, 2> -> !tile.buffer<acc, 64>
// CHECK-NEXT:    } {tile.unit = "rows"}
// CHECK-NEXT:    tile.threshold %acc[%z], %tb[%z] -> %ob[%z] channel %z {geom = #tile.threshold_geometry<out_w = 4, obuf_rows = 4, nrows = 4, oc_count = 2>} : !tile.buffer<acc, 64>, !tile.buffer<tmem, 4> -> !tile.buffer<fmem, 16>
// CHECK-NEXT:    tile.pool %ob[%z] -> %pb[%z] rows %z from %z {geom = {{.*}}} : !tile.buffer<fmem, 16> -> !tile.buffer<fmem, 4>
// CHECK-NEXT:    %c32 = arith.constant 32 : index
// CHECK-NEXT:    tile.pool %acc[%z] -> %acc[%c32] rows %z from %z {geom = {{.*}}} : !tile.buffer<acc, 64> -> !tile.buffer<acc, 64>
// CHECK-NEXT:    tile.add %acc[%z], %acc[%z] -> %acc[%z] {geom = #tile.add_geometry<out_w = 4, nrows = 4, oc_count = 2>} : !tile.buffer<acc, 64>, !tile.buffer<acc, 64> -> !tile.buffer<acc, 64>
// CHECK-NEXT:    tile.dma %acc[%z] -> %out[%z] {count = 2 : i64, length = 16 : i64, src_stride = 16 : i64, dst_stride = 16 : i64} : !tile.buffer<acc, 64> -> !tile.buffer<dram, 32>
// CHECK-NEXT:    tile.sync
// CHECK-NEXT:    %y = tile.read %out {desc = #tile.tensor<[2, 4, 4], int16>} : !tile.buffer<dram, 32> -> tensor<1x2x4x4xi32>
// CHECK-NEXT:    func.return %y : tensor<1x2x4x4xi32>

// CHECK-GENERIC:      "tile.alloc"() <{label = "input", offset = 64 : i64}> : () -> !tile.buffer<dram, 512>
// CHECK-GENERIC:      "tile.host"(%in, %s) <{reason = "binarise", onnx = "", {{.*}} operandSegmentSizes = array<i32: 1, 1>}>
// CHECK-GENERIC:      "scf.for"(%z, %c4, %c2) ({
// CHECK-GENERIC-NEXT: ^{{.*}}(%r: index):
// CHECK-GENERIC-NEXT:   "tile.conv"(%ib, %z, %wb, %z, %acc, %z, %r, %z) <{geom = #tile.conv_geometry<in_h = 4,
// CHECK-GENERIC-NEXT:   "scf.yield"() : () -> ()
// CHECK-GENERIC-NEXT: }) {tile.unit = "rows"} : (index, index, index) -> ()
// CHECK-GENERIC:      "tile.dma"(%acc, %z, %out, %z) <{count = 2 : i64, length = 16 : i64, src_stride = 16 : i64, dst_stride = 16 : i64}> : (!tile.buffer<acc, 64>, index, !tile.buffer<dram, 32>, index) -> ()
