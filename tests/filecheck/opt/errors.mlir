// Usage errors are one line (exit 2), never a traceback.
// RUN: not chewc-opt %s -p 'no-such-pass' 2>&1 | filecheck %s --check-prefix=PASS
// RUN: not chewc-opt %s -p 'bnn-dense-to-conv{lanes=x}' 2>&1 | filecheck %s --check-prefix=OPTION
// RUN: not chewc-opt %s -p 'bnn-dense-to-conv' --print-ir-after=tile-lops 2>&1 | filecheck %s --check-prefix=PRINT
// RUN: not chewc-opt %S/does-not-exist.mlir 2>&1 | filecheck %s --check-prefix=MISSING
// RUN: not chewc-opt %s --load-pass-plugin %S/does-not-exist.py 2>&1 | filecheck %s --check-prefix=PLUGIN
// RUN: not chewc-opt %s --load-pass-plugin %S/../../compiler/wrong_passes.py --load-pass-plugin %S/../../compiler/wrong_passes.py 2>&1 | filecheck %s --check-prefix=TWICE
// RUN: not chewc-opt %s --check-against %S/does-not-exist.onnx 2>&1 | filecheck %s --check-prefix=MODEL

func.func @main(%0: tensor<1x16xf32>) -> tensor<1x16xf32> {
  func.return %0 : tensor<1x16xf32>
}

// PASS:    chewc-opt: error: bad pass pipeline 'no-such-pass': Unrecognized passes: ['no-such-pass']
// OPTION:  chewc-opt: error: bad pass pipeline 'bnn-dense-to-conv{lanes=x}'
// PRINT:   chewc-opt: error: --print-ir-after: unknown pass 'tile-lops' (see --list-passes)
// MISSING: chewc-opt: error: cannot read {{.*}}does-not-exist.mlir: no such file
// PLUGIN:  chewc-opt: error: pass plugin {{.*}}does-not-exist.py: no such file
// TWICE:   chewc-opt: error: pass plugin {{.*}}wrong_passes.py: a pass named '{{.*}}' is already registered
// MODEL:   chewc-opt: error: cannot read {{.*}}does-not-exist.onnx: no such file
