// Numeric bisection: --check-against executes the input IR and the IR after every pass with the
// reference semantics of its level and compares with the ONNX model.
// RUN: chewc %S/../../../examples/models/mlp.onnx --emit=bnn -o %t.mlir
// RUN: chewc-opt %t.mlir -p 'bnn-decompose-kernels,bnn-dense-to-conv,tile-loops,tile-buffer-alloc,convert-tile-to-chewbacca' --check-against %S/../../../examples/models/mlp.onnx 2>&1 >/dev/null | filecheck %s --check-prefix=OK
// A deliberately wrong pass is named, with the output tensor and first differing index, and replayed.
// RUN: rm -rf %t.repro && not chewc-opt %t.mlir -p 'bnn-dense-to-conv,test-flip-threshold{channel=3},tile-loops' --check-against %S/../../../examples/models/mlp.onnx --load-pass-plugin %S/../../compiler/wrong_passes.py --reproducer-dir %t.repro --seed 1 2>&1 | filecheck %s --check-prefix=WRONG
// RUN: not sh %t.repro/replay.sh 2>&1 | filecheck %s --check-prefix=REPLAY
// A pass that leaves IR the reference semantics cannot execute is reported too.
// RUN: not chewc-opt %t.mlir -p 'bnn-dense-to-conv,tile-loops,test-dma-off-by-one' --check-against %S/../../../examples/models/mlp.onnx --load-pass-plugin %S/../../compiler/wrong_passes.py --reproducer-dir %t.repro2 2>&1 | filecheck %s --check-prefix=UNEXECUTABLE
// --input takes the input from a file (here the reproducer's).
// RUN: chewc-opt %t.mlir --check-against %S/../../../examples/models/mlp.onnx --input %t.repro/input.npy 2>&1 >/dev/null | filecheck %s --check-prefix=INPUT

// OK:      bisect: #0  input IR {{ +}} [bnn] ok
// OK:      bisect: #3  after tile-loops {{ +}} [tile] ok
// OK:      bisect: #5  after convert-tile-to-chewbacca {{ +}} [chewbacca] ok
// OK:      bisect: all 6 stages equal the reference (seed 0)

// WRONG:      bisect: #1  after bnn-dense-to-conv {{ +}} [bnn] ok
// WRONG-NEXT: bisect: #2  after test-flip-threshold {{ +}} [bnn] output 'scores' differs at index [[IDX:\([0-9, ]*\)]]: got
// WRONG-NEXT: bisect: reproducer in {{.*}}; replay with:
// WRONG-NEXT:   chewc-opt {{.*}}before.mlir -p 'test-flip-threshold{channel=3}' --check-against {{.*}}mlp.onnx --input {{.*}}input.npy --load-pass-plugin {{.*}}wrong_passes.py --reproducer-dir
// WRONG-NEXT: chewc-opt: error: pass 'test-flip-threshold' (#2 of 3) is the first whose result differs from the reference: output 'scores' differs at index [[IDX]]: got

// REPLAY:      bisect: #0  input IR {{ +}} [bnn] ok
// REPLAY-NEXT: bisect: #1  after test-flip-threshold {{ +}} [bnn] output 'scores' differs at index
// REPLAY:      chewc-opt: error: pass 'test-flip-threshold' (#1 of 1) is the first whose result differs from the reference: output 'scores' differs at index

// UNEXECUTABLE: bisect: #3  after test-dma-off-by-one {{ +}} [tile] cannot be executed: {{.*}}never written
// UNEXECUTABLE: chewc-opt: error: pass 'test-dma-off-by-one' (#3 of 3) leaves IR that cannot be executed

// INPUT: bisect: all 1 stages equal the reference ({{.*}}input.npy)
