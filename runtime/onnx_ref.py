"""The ONNX reference executor: onnxruntime for standard ONNX, qonnx's executor for QONNX graphs.

Used for the `--check` reference, for host ops (which must compute exactly what the reference does)
and by the importer to fold batch norms into thresholds by evaluation.  Graph optimisations are off:
onnxruntime would otherwise fuse e.g. Conv+BatchNormalization and change float rounding, and the
reference we compare with is the model as written.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import numpy as np
import onnx

from isa.errors import ChewcError

QONNX_DOMAINS = ("qonnx.custom_op.general", "onnx.brevitas", "finn.custom_op.general")


def is_qonnx(model: onnx.ModelProto) -> bool:
    return any(n.domain in QONNX_DOMAINS for n in model.graph.node)


@functools.lru_cache(maxsize=64)
def _ort_session(model_bytes: bytes):  # noqa: ANN202 -- onnxruntime has no stubs
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3  # initializers listed as inputs only warn
    return ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])


class OnnxExecutor:
    """Runs one ONNX model many times; sessions are cached by the model's bytes."""

    def __init__(self, model: onnx.ModelProto | bytes):
        self.model_bytes = model if isinstance(model, bytes) else model.SerializeToString()
        self.model = onnx.load_from_string(self.model_bytes) if isinstance(model, bytes) else model
        self.qonnx = is_qonnx(self.model)
        self._wrapper = None  # qonnx ModelWrapper, built on first use

    def run(self, feeds: Mapping[str, np.ndarray], outputs: list[str] | None = None) -> dict[str, np.ndarray]:
        names = outputs or [o.name for o in self.model.graph.output]
        if self.qonnx:
            return self._run_qonnx(feeds, names)
        sess = _ort_session(self.model_bytes)
        try:
            values = sess.run(names, dict(feeds))
        except Exception as e:  # onnxruntime raises its own untyped errors
            raise ChewcError(f"onnxruntime failed on the reference model: {str(e).splitlines()[0]}") from e
        return dict(zip(names, values, strict=True))

    def _run_qonnx(self, feeds: Mapping[str, np.ndarray], names: list[str]) -> dict[str, np.ndarray]:
        try:
            from qonnx.core.modelwrapper import ModelWrapper
            from qonnx.core.onnx_exec import execute_onnx
            from qonnx.transformation.infer_shapes import InferShapes
        except ImportError as e:
            raise ChewcError("this is a QONNX graph and needs the qonnx package: pip install qonnx") from e
        if self._wrapper is None:
            wrapper = ModelWrapper(self.model)
            self._wrapper = wrapper if wrapper.check_all_tensor_shapes_specified() else wrapper.transform(InferShapes())
        result = execute_onnx(self._wrapper, dict(feeds), return_full_exec_context=True)
        return {n: np.asarray(result[n]) for n in names}


@functools.lru_cache(maxsize=64)
def executor_for(model_bytes: bytes) -> OnnxExecutor:
    """One executor per embedded model (a host step's, a bnn.host's): parsed, and for QONNX shape-inferred,
    once however often it runs."""
    return OnnxExecutor(model_bytes)


def run_reference(model: onnx.ModelProto, x: np.ndarray, input_name: str | None = None) -> dict[str, np.ndarray]:
    """Run the whole model on one input, returning every graph output."""
    name = input_name or first_input_name(model)
    return OnnxExecutor(model).run({name: x})


def first_input_name(model: onnx.ModelProto) -> str:
    inits = {i.name for i in model.graph.initializer}
    real = [i.name for i in model.graph.input if i.name not in inits]
    if len(real) != 1:
        raise ChewcError(f"the model has {len(real)} non-constant inputs ({', '.join(real)}); chewc takes exactly one")
    return real[0]
