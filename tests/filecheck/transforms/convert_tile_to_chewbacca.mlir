// RUN: not chewc-opt %s --split-input-file -p convert-tile-to-chewbacca 2>/dev/null | filecheck %s
// RUN: not chewc-opt %s --split-input-file -p convert-tile-to-chewbacca 2>&1 >/dev/null | filecheck %s --check-prefix=ERR
// RUN: not chewc-opt %s --split-input-file -p 'convert-tile-to-chewbacca{machine="%S/../../../isa/machines/quarter.toml"}' 2>&1 >/dev/null | filecheck %s --check-prefix=QERR

// The loop unrolls into two CONVs; configuration that would rewrite registers with the values they
// hold is dropped (the second DMA.LD and the second row's CFG.DMA, and all of the second row's window
// configuration but CFG.TILE); buffers become their offsets (DMA.ST at 500, then 500 + 4), the host
// step a host_step payload + HOST, the constant a data block, and END closes the program.
func.func @rows(%x: tensor<1x16x2x4xf32>) -> tensor<1x2x2x4xi32> attributes {bnn.inputs = ["x"], bnn.outputs = ["y"]} {
  %z = arith.constant 0 : index
  %in = tile.alloc {label = "input", offset = 100 : i64} : !tile.buffer<dram, 256>
  tile.write %x -> %in {desc = #tile.tensor<[16, 2, 4], f32>} : tensor<1x16x2x4xf32> -> !tile.buffer<dram, 256>
  %s = tile.alloc {label = "sign", offset = 400 : i64} : !tile.buffer<dram, 8>
  tile.host "binarise the input"(%in) -> (%s) {onnx = "", in_names = ["in"], out_names = ["out"], in_descs = [#tile.tensor<[16, 2, 4], f32>], out_descs = [#tile.tensor<[16, 2, 4], bits, plus>]} : !tile.buffer<dram, 256> -> !tile.buffer<dram, 8>
  %w = tile.const {label = "w", data = "0f00f0ff", offset = 0 : i64} : !tile.buffer<dram, 2>
  %wb = tile.alloc {label = "w.on_chip", offset = 0 : i64} : !tile.buffer<wmem, 2>
  %ib = tile.alloc {label = "in.on_chip", offset = 0 : i64} : !tile.buffer<fmem, 8>
  %acc = tile.alloc {label = "acc", offset = 0 : i64} : !tile.buffer<acc, 8>
  %out = tile.alloc {label = "out", offset = 500 : i64} : !tile.buffer<dram, 16>
  tile.dma %w[%z] -> %wb[%z] {count = 1 : i64, length = 2 : i64, src_stride = 0 : i64, dst_stride = 0 : i64} : !tile.buffer<dram, 2> -> !tile.buffer<wmem, 2>
  tile.dma %s[%z] -> %ib[%z] {count = 1 : i64, length = 8 : i64, src_stride = 0 : i64, dst_stride = 0 : i64} : !tile.buffer<dram, 8> -> !tile.buffer<fmem, 8>
  tile.sync
  %one = arith.constant 1 : index
  %two = arith.constant 2 : index
  scf.for %r = %z to %two step %one {
    tile.conv %ib[%z], %wb[%z] -> %acc[%z] rows %r from %z {geom = #tile.conv_geometry<in_h = 2, in_w = 4, in_c = 16, buf_rows = 2, kh = 1, kw = 1, stride = 1, dilation = 1, pad_top = 0, pad_left = 0, pad_mode = gate, pack = 0, out_h = 2, out_w = 4, nrows = 1, oc_count = 2, accumulate = 0, shift = 0>} : !tile.buffer<fmem, 8>, !tile.buffer<wmem, 2> -> !tile.buffer<acc, 8>
    %four = arith.constant 4 : index
    %dst = arith.muli %r, %four : index
    tile.dma %acc[%z] -> %out[%dst] {count = 2 : i64, length = 4 : i64, src_stride = 4 : i64, dst_stride = 8 : i64} : !tile.buffer<acc, 8> -> !tile.buffer<dram, 16>
    tile.sync
  } {tile.unit = "rows"}
  %y = tile.read %out {desc = #tile.tensor<[2, 2, 4], int16>} : !tile.buffer<dram, 16> -> tensor<1x2x2x4xi32>
  func.return %y : tensor<1x2x2x4xi32>
}

// CHECK:       builtin.module {
// CHECK-LABEL: func.func @rows
// CHECK-NEXT:    chewbacca.input %0 {tensor = "x", dram = 100 : i64, shape = [16 : i64, 2 : i64, 4 : i64], dtype = "f32"} : tensor<1x16x2x4xf32>
// CHECK-NEXT:    chewbacca.host_step {step = 0 : i64, payload = "{\"inputs\":[{\"dram\":100,\"dtype\":\"f32\",\"name\":\"in\",\"shape\":[16,2,4]}],\"onnx\":\"\",\"outputs\":[{\"dram\":400,\"dtype\":\"bits\",\"name\":\"out\",\"shape\":[16,2,4],\"zero\":\"plus\"}],\"reason\":\"binarise the input\"}"}
// CHECK-NEXT:    chewbacca.host {step = 0 : i64}
// CHECK-NEXT:    chewbacca.data {label = "w", dram = 0 : i64, data = "0f00f0ff"}
// CHECK-NEXT:    chewbacca.cfg.dma {count = 1 : i64, dram_stride = 0 : i64, chip_stride = 0 : i64}
// CHECK-NEXT:    chewbacca.dma.ld {mem = "wmem", dram = 0 : i64, chip = 0 : i64, length = 2 : i64}
// CHECK-NEXT:    chewbacca.dma.ld {mem = "fmem", dram = 400 : i64, chip = 0 : i64, length = 8 : i64}
// CHECK-NEXT:    chewbacca.sync
// CHECK-NEXT:    chewbacca.cfg.in {in_h = 2 : i64, in_w = 4 : i64, in_c = 16 : i64}
// CHECK-NEXT:    chewbacca.cfg.buf {buf_row0 = 0 : i64, buf_rows = 2 : i64}
// CHECK-NEXT:    chewbacca.cfg.k {kh = 1 : i64, kw = 1 : i64, stride = 1 : i64, dilation = 1 : i64, pad_top = 0 : i64, pad_left = 0 : i64, pad_mode = "gate"}
// CHECK-NEXT:    chewbacca.cfg.out {out_h = 2 : i64, out_w = 4 : i64, obuf_rows = 1 : i64}
// CHECK-NEXT:    chewbacca.cfg.tile {row0 = 0 : i64, nrows = 1 : i64, oc_count = 2 : i64}
// CHECK-NEXT:    chewbacca.conv {fmem = 0 : i64, wmem = 0 : i64, acc = 0 : i64, accumulate = 0 : i64}
// CHECK-NEXT:    chewbacca.cfg.dma {count = 2 : i64, dram_stride = 8 : i64, chip_stride = 4 : i64}
// CHECK-NEXT:    chewbacca.dma.st {mem = "acc", dram = 500 : i64, chip = 0 : i64, length = 4 : i64}
// CHECK-NEXT:    chewbacca.sync
// CHECK-NEXT:    chewbacca.cfg.tile {row0 = 1 : i64, nrows = 1 : i64, oc_count = 2 : i64}
// CHECK-NEXT:    chewbacca.conv {fmem = 0 : i64, wmem = 0 : i64, acc = 0 : i64, accumulate = 0 : i64}
// CHECK-NEXT:    chewbacca.dma.st {mem = "acc", dram = 504 : i64, chip = 0 : i64, length = 4 : i64}
// CHECK-NEXT:    chewbacca.sync
// CHECK-NEXT:    %[[Y:.*]] = chewbacca.output {tensor = "y", dram = 500 : i64, shape = [2 : i64, 2 : i64, 4 : i64], dtype = "int16"} : tensor<1x2x2x4xi32>
// CHECK-NEXT:    chewbacca.end
// CHECK-NEXT:    func.return %[[Y]] : tensor<1x2x2x4xi32>
// CHECK-NOT:     tile.
// CHECK-NOT:     arith.

// -----

// An FMEM address that exists on the default machine (32768 words) but not on the quarter one (8192):
// the chewbacca verifiers check addresses against the machine the pass was given.
func.func @high() {
  %z = arith.constant 0 : index
  %d = tile.alloc {label = "d", offset = 0 : i64} : !tile.buffer<dram, 16>
  %f = tile.alloc {label = "f", offset = 10000 : i64} : !tile.buffer<fmem, 16>
  tile.dma %d[%z] -> %f[%z] {count = 1 : i64, length = 16 : i64, src_stride = 0 : i64, dst_stride = 0 : i64} : !tile.buffer<dram, 16> -> !tile.buffer<fmem, 16>
  tile.sync
  func.return
}

// CHECK-LABEL: func.func @high
// CHECK:         chewbacca.dma.ld {mem = "fmem", dram = 0 : i64, chip = 10000 : i64, length = 16 : i64}
// CHECK-NEXT:    chewbacca.sync
// CHECK-NEXT:    chewbacca.end

// QERR: chewc-opt: error: pass 'convert-tile-to-chewbacca' produced IR that does not verify: chewbacca.dma.ld: field 'chip' = 0x2710 is outside fmem (8192 words on 'quarter')

// -----

// A buffer without an offset: tile-buffer-alloc has not run.
func.func @unplaced() {
  %z = arith.constant 0 : index
  %d = tile.alloc {label = "d", offset = 0 : i64} : !tile.buffer<dram, 16>
  %f = tile.alloc {label = "staging"} : !tile.buffer<fmem, 16>
  tile.dma %d[%z] -> %f[%z] {count = 1 : i64, length = 16 : i64, src_stride = 0 : i64, dst_stride = 0 : i64} : !tile.buffer<dram, 16> -> !tile.buffer<fmem, 16>
  func.return
}

// ERR: chewc-opt: error: convert-tile-to-chewbacca: buffer 'staging' has no address: run tile-buffer-alloc before convert-tile-to-chewbacca
