"""The ONNX reference executor: onnxruntime for standard ONNX, qonnx's executor for QONNX graphs.

Used for the `--check` reference, for host ops (which must compute exactly what the reference does)
and by the importer to fold batch norms into thresholds by evaluation.  Graph optimisations are off:
onnxruntime would otherwise fuse e.g. Conv+BatchNormalization and change float rounding, and the
reference we compare with is the model as written.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping

import numpy as np
import onnx

from isa.errors import ChewcError, first_line

QONNX_DOMAINS = ("qonnx.custom_op.general", "onnx.brevitas", "finn.custom_op.general")
STANDARD_DOMAINS = ("", "ai.onnx")
CHANNELS_LAST = "qonnx.custom_op.channels_last"  # qonnx's NHWC ops: refused by name
QONNX_OPS = frozenset({"BipolarQuant", "Quant", "MultiThreshold", "Trunc"})
# What a host step may compute: the float ops chewc leaves on the host (and the QONNX ops, in their
# domains). A program is data: it can name nothing else, so it can make no tool load code.
HOST_OPS = frozenset({
    "Conv", "MatMul", "Gemm", "Add", "Sub", "Mul", "Div", "BatchNormalization", "Relu", "LeakyRelu", "PRelu",
    "Sigmoid", "Tanh", "HardTanh", "Clip", "Softmax", "LogSoftmax", "MaxPool", "AveragePool",
    "GlobalAveragePool", "GlobalMaxPool", "Flatten", "Reshape", "Squeeze", "Unsqueeze", "Identity",
    "Transpose", "Concat", "Round", "Floor", "Ceil", "Cast", "Sign", "Pad", "Neg", "Abs", "Exp", "Log",
    "Sqrt", "Pow", "ReduceMean", "ArgMax", "Slice",
})


def describe(node: onnx.NodeProto) -> str:
    """How errors name a node: by its name, or by what it produces when the exporter left it unnamed."""
    if node.name:
        return f"node {node.name} ({node.op_type})"
    return f"{node.op_type} node producing '{node.output[0]}'" if node.output else f"{node.op_type} node"


def check_runnable(model: onnx.ModelProto, where: str, host_ops: bool = False) -> None:
    """Refuse, before anything runs it, a model that could make a tool do more than compute.

    qonnx finds a custom op by importing its domain as a Python module, so a node in an unknown domain
    (`this`, `os`, ...) would load code: only the standard ONNX and the QONNX domains pass. Model-local
    functions and external data (files read from wherever the model says) are refused too. With
    `host_ops`, every node must also be one chewc itself emits into a host step (`HOST_OPS`).
    """
    if model.functions:
        raise ChewcError(f"{where}: the model defines local functions ({model.functions[0].name!r}); chewc runs none")
    for tensor in tensors(model):
        if tensor.data_location == onnx.TensorProto.EXTERNAL or tensor.external_data:
            raise ChewcError(f"{where}: tensor {tensor.name!r} keeps its data in an external file; only a model "
                             "file's own loader (runtime.onnx_file) reads those, from beside the model")
    for graph in _graphs(model.graph):
        for node in graph.node:
            if node.domain == CHANNELS_LAST:
                raise ChewcError(f"{where}: {describe(node)} is channels-last QONNX ({CHANNELS_LAST}); chewc "
                                 "compiles channels-first (NCHW) graphs: export the model without qonnx's "
                                 "channels-last conversion")
            if node.domain not in STANDARD_DOMAINS + QONNX_DOMAINS:
                raise ChewcError(f"{where}: {describe(node)} is in domain {node.domain!r}, which chewc does not run "
                                 f"(known: the standard ONNX domain and {', '.join(QONNX_DOMAINS)})")
            if node.domain in QONNX_DOMAINS and node.op_type not in QONNX_OPS:
                raise ChewcError(f"{where}: {describe(node)} is not a QONNX op chewc knows ({', '.join(sorted(QONNX_OPS))})")
            if host_ops and node.domain in STANDARD_DOMAINS and node.op_type not in HOST_OPS:
                raise ChewcError(f"{where}: {describe(node)} is not an op chewc runs on the host")
            if host_ops and any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute):
                raise ChewcError(f"{where}: {describe(node)} has a subgraph; host steps run none")


def _graphs(graph: onnx.GraphProto) -> list[onnx.GraphProto]:
    """A graph and every subgraph nested in its nodes' attributes (If/Loop bodies)."""
    found, stack = [], [graph]
    while stack:
        g = stack.pop()
        found.append(g)
        for node in g.node:
            for a in node.attribute:
                stack.extend([a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs))
    return found


def tensors(model: onnx.ModelProto) -> list[onnx.TensorProto]:
    """Every tensor of the model that can hold data: initializers, sparse ones' values and indices, and
    attribute tensors (a Constant's value), in every graph."""
    found = []
    for graph in _graphs(model.graph):
        sparse = [*graph.sparse_initializer]
        found.extend(graph.initializer)
        for node in graph.node:
            for a in node.attribute:
                found.extend([a.t] if a.HasField("t") else a.tensors)
                sparse.extend([a.sparse_tensor] if a.HasField("sparse_tensor") else a.sparse_tensors)
        found.extend(t for s in sparse for t in (s.values, s.indices))
    return found


def is_qonnx(model: onnx.ModelProto) -> bool:
    return any(n.domain in QONNX_DOMAINS for n in model.graph.node)


# onnxruntime logs to stderr from C++ (warnings, and errors it also raises): fatal only, so that a
# refusal is our one line and nothing else
ORT_QUIET = 4


@functools.lru_cache(maxsize=64)
def ort_session(model_bytes: bytes):  # noqa: ANN201 -- onnxruntime has no stubs
    import onnxruntime as ort

    ort.set_default_logger_severity(ORT_QUIET)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = ORT_QUIET
    # no arena: a cached session would keep its largest run's buffers (threshold folding runs batches of
    # up to 2**24 values) for as long as it stays in the cache
    opts.enable_cpu_mem_arena = False
    return ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])


class OnnxExecutor:
    """Runs one ONNX model many times; sessions are cached by the model's bytes.

    The model is checked by `check_runnable` first (`host_ops`: it is a host step's graph, read from a
    program), so nothing it names is ever imported."""

    def __init__(self, model: onnx.ModelProto | bytes, where: str = "the ONNX model", host_ops: bool = False):
        self.model_bytes = model if isinstance(model, bytes) else model.SerializeToString()
        self.model = onnx.load_from_string(self.model_bytes) if isinstance(model, bytes) else model
        check_runnable(self.model, where, host_ops)
        self.qonnx = is_qonnx(self.model)
        self._wrapper = None  # qonnx ModelWrapper, built on first use

    def run(self, feeds: Mapping[str, np.ndarray], outputs: list[str] | None = None) -> dict[str, np.ndarray]:
        names = outputs or [o.name for o in self.model.graph.output]
        if self.qonnx:
            return self._run_qonnx(feeds, names)
        try:
            values = ort_session(self.model_bytes).run(names, dict(feeds))
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
        # qonnx warns (Python warnings) about every op it resolves: not for the user's stderr
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                if self._wrapper is None:
                    wrapper = ModelWrapper(self.model)
                    ready = wrapper.check_all_tensor_shapes_specified()
                    self._wrapper = wrapper if ready else wrapper.transform(InferShapes())
                result = execute_onnx(self._wrapper, dict(feeds), return_full_exec_context=True)
            except ChewcError:
                raise
            except Exception as e:  # qonnx and onnxruntime raise untyped errors
                raise ChewcError(f"the QONNX executor failed on the reference model: {first_line(e)}") from e
        return {n: np.asarray(result[n]) for n in names}


@functools.lru_cache(maxsize=64)
def executor_for(model_bytes: bytes, where: str = "the embedded ONNX graph") -> OnnxExecutor:
    """One executor per embedded model (a host step's, a bnn.host's): parsed, checked against the host
    ops, and for QONNX shape-inferred, once however often it runs."""
    return OnnxExecutor(model_bytes, where, host_ops=True)


def run_reference(model: onnx.ModelProto, x: np.ndarray, input_name: str | None = None) -> dict[str, np.ndarray]:
    """Run the whole model on one input, returning every graph output."""
    name = input_name or first_input_name(model)
    return OnnxExecutor(model).run({name: x})


def first_input_name(model: onnx.ModelProto) -> str:
    """The model's one input: not an initializer, and read by a node or an output (qonnx's cleanup of
    old exports leaves inputs nothing reads)."""
    inits = {i.name for i in model.graph.initializer}
    read = {n for g in _graphs(model.graph) for node in g.node for n in node.input} | {o.name for o in model.graph.output}
    real = [i.name for i in model.graph.input if i.name not in inits and i.name in read]
    if len(real) != 1:
        raise ChewcError(f"the model has {len(real)} non-constant inputs ({', '.join(real)}); chewc takes exactly one")
    return real[0]
