// --dump-dir writes the imported IR and the IR after every pass; --timing prints a wall-time table.
// RUN: rm -rf %t && chewc %S/../../../examples/models/mlp.onnx --emit=asm --dump-dir %t --timing 2>&1 >/dev/null | filecheck %s --check-prefix=TIMING
// RUN: ls %t | filecheck %s --check-prefix=FILES
// RUN: filecheck %s --check-prefix=LAST < %t/06-convert-tile-to-chewbacca.mlir
// RUN: chewc %S/../../../examples/models/mlp.onnx --emit=tile --ir-dump-dir %t.2 && ls %t.2 | filecheck %s --check-prefix=TILE-FILES

// TIMING:      pass timing
// TIMING:      1   bnn-dense-to-conv           {{[0-9.]+}}
// TIMING-NEXT: 2   bnn-legalize-windows        {{[0-9.]+}}
// TIMING-NEXT: 3   bnn-decompose-kernels       {{[0-9.]+}}
// TIMING-NEXT: 4   tile-loops                  {{[0-9.]+}}
// TIMING-NEXT: 5   tile-buffer-alloc           {{[0-9.]+}}
// TIMING-NEXT: 6   convert-tile-to-chewbacca   {{[0-9.]+}}
// TIMING-NEXT:     (verify-each)
// TIMING:          total

// FILES:      00-input.mlir
// FILES-NEXT: 01-bnn-dense-to-conv.mlir
// FILES-NEXT: 02-bnn-legalize-windows.mlir
// FILES-NEXT: 03-bnn-decompose-kernels.mlir
// FILES-NEXT: 04-tile-loops.mlir
// FILES-NEXT: 05-tile-buffer-alloc.mlir
// FILES-NEXT: 06-convert-tile-to-chewbacca.mlir
// LAST:       chewbacca.

// TILE-FILES:     05-tile-buffer-alloc.mlir
// TILE-FILES-NOT: 06-
