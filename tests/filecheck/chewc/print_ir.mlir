// chewc takes the --print-ir-* flags over its default pipeline; dumps go to stderr.
// RUN: chewc %S/../../../examples/models/mlp.onnx --emit=tile --print-ir-after=tile-loops 2>&1 >/dev/null | filecheck %s --check-prefix=AFTER
// RUN: chewc %S/../../../examples/models/mlp.onnx --emit=asm --print-ir-after-all 2>&1 >/dev/null | filecheck %s --check-prefix=ALL
// RUN: chewc %S/../../../examples/models/mlp.onnx --emit=tile --print-ir-before=tile-loops --print-ir-before-all 2>&1 >/dev/null | filecheck %s --check-prefix=BEFORE
// RUN: chewc %S/../../../examples/models/mlp.onnx --emit=tile --print-ir-after-change 2>&1 >/dev/null | filecheck %s --check-prefix=CHANGE
// RUN: chewc %S/../../../examples/models/mlp.onnx --emit=tile --print-ir-after=tile-loops --generic 2>&1 >/dev/null | filecheck %s --check-prefix=GENERIC
// RUN: chewc %S/../../../examples/models/mlp.onnx --emit=tile --print-ir-after=tile-loops 2>/dev/null | filecheck %s --check-prefix=STDOUT

// AFTER-NOT:  IR Dump After bnn-dense-to-conv
// AFTER:      // -----// IR Dump After tile-loops //----- //
// AFTER-NEXT: builtin.module attributes {chewbacca.machine = #chewbacca.machine<"chewbaccann", "{{[0-9a-f]+}}">} {
// AFTER:        scf.for
// AFTER-NOT:  IR Dump

// ALL: IR Dump After bnn-dense-to-conv
// ALL: IR Dump After bnn-decompose-kernels
// ALL: IR Dump After tile-loops
// ALL: IR Dump After tile-buffer-alloc
// ALL: IR Dump After convert-tile-to-chewbacca
// ALL: chewbacca.

// BEFORE:      IR Dump Before bnn-dense-to-conv
// BEFORE:      IR Dump Before bnn-decompose-kernels
// BEFORE:      IR Dump Before tile-loops
// BEFORE-NEXT: builtin.module attributes {chewbacca.machine = #chewbacca.machine<"chewbaccann", "{{[0-9a-f]+}}">} {
// BEFORE:        bnn.conv2d
// BEFORE:      IR Dump Before tile-buffer-alloc

// The MLP has no kernel to split, so bnn-decompose-kernels changes nothing.
// CHANGE:     IR Dump After bnn-dense-to-conv
// CHANGE-NOT: IR Dump After bnn-decompose-kernels
// CHANGE:     IR Dump After tile-loops
// CHANGE:     IR Dump After tile-buffer-alloc

// GENERIC:    IR Dump After tile-loops
// GENERIC:    "scf.for"

// STDOUT-NOT: IR Dump
// STDOUT:     tile.alloc {label = "input", offset =
