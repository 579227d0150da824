// --pipeline replaces the default pipeline; --stop-after prints the IR after a pass.
// RUN: chewc %S/../../../examples/models/mlp.onnx --stop-after=bnn-dense-to-conv | filecheck %s --check-prefix=STOP
// RUN: chewc %S/../../../examples/models/mlp.onnx --stop-after=tile-loops | filecheck %s --check-prefix=STOP-TILE
// RUN: chewc %S/../../../examples/models/mlp.onnx --pipeline 'bnn-dense-to-conv{window=5}' --emit=tile | filecheck %s --check-prefix=CUSTOM
// RUN: not chewc %S/../../../examples/models/mlp.onnx --stop-after=tile-lops 2>&1 | filecheck %s --check-prefix=UNKNOWN
// RUN: not chewc %S/../../../examples/models/mlp.onnx --stop-after=tile-loops --emit=asm 2>&1 | filecheck %s --check-prefix=CONFLICT
// RUN: not chewc %S/../../../examples/models/mlp.onnx --pipeline 'tile-loops{bogus=1}' --emit=tile 2>&1 | filecheck %s --check-prefix=BAD
// RUN: chewc --list-passes | filecheck %s --check-prefix=LIST

// STOP:      bnn.conv2d
// STOP-NOT:  tile.

// STOP-TILE: scf.for
// STOP-TILE-NOT: tile.alloc {{.*}}offset

// With only bnn-dense-to-conv there is nothing at the tile level: the IR stays bnn.
// CUSTOM: bnn.conv2d {{.*}} #bnn.dense_bits<256x{{[0-9]+}}x{{[1-5]}}x{{[1-5]}}
// CUSTOM-NOT: tile.

// UNKNOWN:  chewc: error: --stop-after=tile-lops: the pipeline has no such pass (bnn-dense-to-conv, bnn-legalize-windows, bnn-decompose-kernels, tile-loops, tile-buffer-alloc, convert-tile-to-chewbacca)
// CONFLICT: chewc: error: --stop-after prints IR; it cannot be combined with --emit=asm
// BAD:      chewc: error: bad pass pipeline 'tile-loops{bogus=1}'

// LIST: tile-loops                   Lower @main from `bnn`
// LIST-NEXT: options: machine=<module machine> (str)
