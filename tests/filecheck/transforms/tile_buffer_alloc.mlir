// RUN: chewc-opt %s --split-input-file -p tile-buffer-alloc | filecheck %s
// RUN: not chewc-opt %s --split-input-file -p 'tile-buffer-alloc{machine="%S/../../../isa/machines/quarter.toml"}' 2>/dev/null | filecheck %s --check-prefix=Q
// RUN: not chewc-opt %s --split-input-file -p 'tile-buffer-alloc{machine="%S/../../../isa/machines/quarter.toml"}' 2>&1 >/dev/null | filecheck %s --check-prefix=QERR

// Each memory is packed first-fit in order of definition; a buffer is live from its alloc to its last
// use (a use inside a loop: to the end of the loop).  Constants go first in DRAM and stay live.
//   a [0, 64) dies at its DMA back to DRAM, so c (allocated after) takes offset 0 beside b [64, 96);
//   b dies before d is allocated, so d takes [48, 64) after the live c; c and d are used inside the
//   loop and die with it, so e takes offset 0 again.
func.func @reuse() {
  %z = arith.constant 0 : index
  %in = tile.alloc {label = "in"} : !tile.buffer<dram, 64>
  %a = tile.alloc {label = "a"} : !tile.buffer<fmem, 64>
  tile.dma %in[%z] -> %a[%z] {count = 1 : i64, length = 64 : i64, src_stride = 0 : i64, dst_stride = 0 : i64} : !tile.buffer<dram, 64> -> !tile.buffer<fmem, 64>
  %b = tile.alloc {label = "b"} : !tile.buffer<fmem, 32>
  tile.dma %a[%z] -> %in[%z] {count = 1 : i64, length = 64 : i64, src_stride = 0 : i64, dst_stride = 0 : i64} : !tile.buffer<fmem, 64> -> !tile.buffer<dram, 64>
  tile.dma %in[%z] -> %b[%z] {count = 1 : i64, length = 32 : i64, src_stride = 0 : i64, dst_stride = 0 : i64} : !tile.buffer<dram, 64> -> !tile.buffer<fmem, 32>
  %c = tile.alloc {label = "c"} : !tile.buffer<fmem, 48>
  tile.dma %in[%z] -> %c[%z] {count = 1 : i64, length = 48 : i64, src_stride = 0 : i64, dst_stride = 0 : i64} : !tile.buffer<dram, 64> -> !tile.buffer<fmem, 48>
  tile.dma %b[%z] -> %in[%z] {count = 1 : i64, length = 32 : i64, src_stride = 0 : i64, dst_stride = 0 : i64} : !tile.buffer<fmem, 32> -> !tile.buffer<dram, 64>
  %w = tile.const {label = "w", data = "0100020003000400"} : !tile.buffer<dram, 4>
  tile.dma %w[%z] -> %c[%z] {count = 1 : i64, length = 4 : i64, src_stride = 0 : i64, dst_stride = 0 : i64} : !tile.buffer<dram, 4> -> !tile.buffer<fmem, 48>
  %d = tile.alloc {label = "d"} : !tile.buffer<fmem, 16>
  %one = arith.constant 1 : index
  %four = arith.constant 4 : index
  scf.for %i = %z to %four step %one {
    tile.dma %in[%i] -> %d[%z] {count = 1 : i64, length = 16 : i64, src_stride = 0 : i64, dst_stride = 0 : i64} : !tile.buffer<dram, 64> -> !tile.buffer<fmem, 16>
    tile.dma %c[%z] -> %in[%i] {count = 1 : i64, length = 16 : i64, src_stride = 0 : i64, dst_stride = 0 : i64} : !tile.buffer<fmem, 48> -> !tile.buffer<dram, 64>
  } {tile.unit = "rows"}
  %e = tile.alloc {label = "e"} : !tile.buffer<fmem, 16>
  tile.dma %in[%z] -> %e[%z] {count = 1 : i64, length = 16 : i64, src_stride = 0 : i64, dst_stride = 0 : i64} : !tile.buffer<dram, 64> -> !tile.buffer<fmem, 16>
  func.return
}

// CHECK-LABEL: func.func @reuse
// CHECK:         %in = tile.alloc {label = "in", offset = 4 : i64} : !tile.buffer<dram, 64>
// CHECK-NEXT:    %a = tile.alloc {label = "a", offset = 0 : i64} : !tile.buffer<fmem, 64>
// CHECK:         %b = tile.alloc {label = "b", offset = 64 : i64} : !tile.buffer<fmem, 32>
// CHECK:         %c = tile.alloc {label = "c", offset = 0 : i64} : !tile.buffer<fmem, 48>
// CHECK:         %w = tile.const {label = "w", data = "0100020003000400", offset = 0 : i64} : !tile.buffer<dram, 4>
// CHECK:         %d = tile.alloc {label = "d", offset = 48 : i64} : !tile.buffer<fmem, 16>
// CHECK:         scf.for
// CHECK:         %e = tile.alloc {label = "e", offset = 0 : i64} : !tile.buffer<fmem, 16>

// Q-LABEL: func.func @reuse
// Q:         %c = tile.alloc {label = "c", offset = 0 : i64} : !tile.buffer<fmem, 48>

// -----

// Two buffers of 6000 words live at once: side by side in the default 32768-word FMEM; the quarter
// machine's 8192 words cannot hold both.
func.func @both_live() {
  %z = arith.constant 0 : index
  %in = tile.alloc {label = "in"} : !tile.buffer<dram, 6000>
  %x = tile.alloc {label = "x"} : !tile.buffer<fmem, 6000>
  %y = tile.alloc {label = "y"} : !tile.buffer<fmem, 6000>
  tile.dma %in[%z] -> %x[%z] {count = 1 : i64, length = 6000 : i64, src_stride = 0 : i64, dst_stride = 0 : i64} : !tile.buffer<dram, 6000> -> !tile.buffer<fmem, 6000>
  tile.dma %in[%z] -> %y[%z] {count = 1 : i64, length = 6000 : i64, src_stride = 0 : i64, dst_stride = 0 : i64} : !tile.buffer<dram, 6000> -> !tile.buffer<fmem, 6000>
  func.return
}

// CHECK-LABEL: func.func @both_live
// CHECK:         %x = tile.alloc {label = "x", offset = 0 : i64} : !tile.buffer<fmem, 6000>
// CHECK-NEXT:    %y = tile.alloc {label = "y", offset = 6000 : i64} : !tile.buffer<fmem, 6000>

// QERR: chewc-opt: error: tile-buffer-alloc: buffer 'y' (11.7 KiB) does not fit fmem: 11.7 KiB already live, the machine has 16.0 KiB
