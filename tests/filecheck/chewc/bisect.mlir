// chewc --bisect: every stage of the default pipeline equals the ONNX reference; a deliberately
// wrong pass (test-only plugin) in a --pipeline is named, and its reproducer replays the mismatch.
// RUN: chewc %S/../../../examples/models/mlp.onnx --bisect 2>&1 | filecheck %s --check-prefix=OK
// RUN: chewc %S/../../../examples/models/cnn_9x9_11x11.onnx --bisect --emit=tile --seed 3 2>&1 | filecheck %s --check-prefix=CNN
// RUN: rm -rf %t && not chewc %S/../../../examples/models/mlp.onnx --bisect --load-pass-plugin %S/../../compiler/wrong_passes.py --pipeline 'bnn-decompose-kernels,test-flip-threshold{channel=5},bnn-dense-to-conv,tile-loops,tile-buffer-alloc,convert-tile-to-chewbacca' --reproducer-dir %t 2>&1 | filecheck %s --check-prefix=WRONG
// RUN: ls %t | filecheck %s --check-prefix=FILES
// RUN: not sh %t/replay.sh 2>&1 | filecheck %s --check-prefix=REPLAY
// The reproducer goes under the dump dir unless --reproducer-dir says otherwise.
// RUN: rm -rf %t.dump && not chewc %S/../../../examples/models/mlp.onnx --bisect --load-pass-plugin %S/../../compiler/wrong_passes.py --pipeline 'test-flip-threshold' --dump-dir %t.dump 2>&1 | filecheck %s --check-prefix=DUMP

// OK:      bisect: #0  input IR {{ +}} [bnn] ok
// OK:      bisect: #6  after convert-tile-to-chewbacca {{ +}} [chewbacca] ok
// OK-NEXT: bisect: all 7 stages equal the reference (seed 0)

// CNN:      bisect: #1  after bnn-dense-to-conv {{ +}} [bnn] ok
// CNN:      bisect: all 6 stages equal the reference (seed 3)

// WRONG:      bisect: #1  after bnn-decompose-kernels {{ +}} [bnn] ok
// WRONG-NEXT: bisect: #2  after test-flip-threshold {{ +}} [bnn] output 'scores' differs at index (0, 0): got
// WRONG-NEXT: bisect: reproducer in {{.*}}; replay with:
// WRONG-NEXT:   chewc-opt {{.*}}before.mlir -p 'test-flip-threshold{channel=5}' --check-against {{.*}}mlp.onnx --input {{.*}}input.npy --load-pass-plugin
// WRONG-NEXT: chewc: error: pass 'test-flip-threshold' (#2 of 6) is the first whose result differs from the reference: output 'scores' differs at index (0, 0): got {{.*}} (reproducer: {{.*}}replay.sh)

// FILES: before.mlir
// FILES: input.npy
// FILES: replay.sh

// The replay names the same tensor and index (seed 0, channel 5: scores[0, 0]).
// REPLAY: chewc-opt: error: pass 'test-flip-threshold' (#1 of 1) is the first whose result differs from the reference: output 'scores' differs at index (0, 0): got

// DUMP: (reproducer: {{.*}}dump/reproducer/replay.sh)
