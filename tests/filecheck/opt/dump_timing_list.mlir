// --ir-dump-dir writes one numbered file per stage; --timing prints a wall-time table; --list-passes.
// RUN: rm -rf %t && chewc-opt %s -p 'bnn-decompose-kernels,bnn-dense-to-conv,tile-loops' --ir-dump-dir %t > /dev/null
// RUN: ls %t | filecheck %s --check-prefix=FILES
// RUN: filecheck %s --check-prefix=INPUT < %t/00-input.mlir
// RUN: filecheck %s --check-prefix=TILE < %t/03-tile-loops.mlir
// RUN: chewc-opt %s -p 'bnn-decompose-kernels,bnn-dense-to-conv,tile-loops' --timing 2>&1 >/dev/null | filecheck %s --check-prefix=TIMING
// RUN: chewc-opt %s -p 'bnn-dense-to-conv' --no-verify-each --timing 2>&1 >/dev/null | filecheck %s --check-prefix=NO-VERIFY
// RUN: chewc-opt --list-passes | filecheck %s --check-prefix=LIST
// RUN: chewc-opt --list-passes --load-pass-plugin %S/../../compiler/wrong_passes.py | filecheck %s --check-prefix=PLUGIN

func.func @main(%0: tensor<1x16xf32>) -> tensor<1x4xi32> attributes {bnn.inputs = ["x"], bnn.outputs = ["y"]} {
  %1 = bnn.sign %0 {zero = "reject"} : tensor<1x16xf32> -> !bnn.bits<1x16>
  %2 = bnn.dense %1 {weights = #bnn.dense_bits<8x16, "dde59f0b5f77ca8824ec5ec0956a2548">} : !bnn.bits<1x16> -> tensor<1x8xi32>
  %3 = bnn.threshold %2 {thresholds = array<i32: 0, 2, -2, 2, 0, 4, 0, -2>, modes = "gggggggg"} : tensor<1x8xi32> -> !bnn.bits<1x8>
  %4 = bnn.dense %3 {weights = #bnn.dense_bits<4x8, "6c6a64eb">} : !bnn.bits<1x8> -> tensor<1x4xi32>
  func.return %4 : tensor<1x4xi32>
}

// FILES:      00-input.mlir
// FILES-NEXT: 01-bnn-decompose-kernels.mlir
// FILES-NEXT: 02-bnn-dense-to-conv.mlir
// FILES-NEXT: 03-tile-loops.mlir
// INPUT:      bnn.dense
// TILE:       tile.alloc

// TIMING:      pass timing
// TIMING:      #   pass                    wall time (ms)   %
// TIMING:      1   bnn-decompose-kernels   {{[0-9.]+}}
// TIMING-NEXT: 2   bnn-dense-to-conv       {{[0-9.]+}}
// TIMING-NEXT: 3   tile-loops              {{[0-9.]+}}
// TIMING-NEXT:     (verify-each)           {{[0-9.]+}}
// TIMING:          total                   {{[0-9.]+}}   100.0
// NO-VERIFY-NOT:   (verify-each)

// LIST:      bnn-decompose-kernels        Rewrite every `bnn.conv2d` whose kernel is taller or wider than `max_kernel`
// LIST-NEXT:                                 options: max-kernel=<module machine> (int)
// LIST:      tile-loops                   Lower @main from `bnn`
// LIST-NEXT:                                 options: machine=<module machine> (str)
// LIST:      upstream xDSL passes
// LIST:      canonicalize
// PLUGIN:    test-flip-threshold          Wrong on purpose
// PLUGIN-NEXT:                               options: channel=0 (int)

// With --split-input-file every chunk gets its own directory; an unwritable dump dir is one line.
// RUN: rm -rf %t.split && chewc-opt %S/upstream_flags.mlir --split-input-file -p bnn-dense-to-conv --ir-dump-dir %t.split > /dev/null
// RUN: ls %t.split/chunk1 %t.split/chunk2 | filecheck %s --check-prefix=CHUNKS
// RUN: not chewc-opt %s -p bnn-dense-to-conv --ir-dump-dir %s/not-a-dir 2>&1 | filecheck %s --check-prefix=UNWRITABLE
// CHUNKS:      chunk1:
// CHUNKS-NEXT: 00-input.mlir
// CHUNKS-NEXT: 01-bnn-dense-to-conv.mlir
// CHUNKS:      chunk2:
// CHUNKS-NEXT: 00-input.mlir
// UNWRITABLE:  chewc-opt: error: cannot write {{.*}}not-a-dir/00-input.mlir: Not a directory
