"""Up-front checks of an ONNX model, before shape inference, folding or any executor sees it.

A model file is input from anywhere: names that are not UTF-8, tensors whose type disagrees with
their use, declared shapes of billions of elements, nodes that would make the folder loop for ever.
Each is refused here, in one line naming the node, tensor or constraint, so that later stages
only meet models they can handle within bounded time and memory. onnxruntime's own session
creation validates types and attributes for standard graphs; QONNX nodes are hidden from it as
qonnx itself does (an `Identity` in their place).
"""

from __future__ import annotations

from math import prod

import numpy as np
import onnx
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from isa.errors import ChewcError, first_line
from runtime.onnx_ref import QONNX_DOMAINS, STANDARD_DOMAINS, check_runnable, describe, ort_session

# The largest tensor chewc handles: more than DRAM (16 Mi words) holds as f32, and far beyond any
# binary network's map; a declared, inferred or folded tensor past it is refused before it exists.
MAX_ELEMENTS = 1 << 24
# All constants folding may create together (elements): as many float32 values as the largest model
# file holds (isa.files.MAX_MODEL_BYTES); Group-Net x 8 at ImageNet widths has 88.6 M weights.
MAX_FOLDED_ELEMENTS = 1 << 27
# Initializers up to this size stay constants in the onnxruntime check (shapes, pads, axes); larger ones
# (weights) become inputs of their type and shape.
CHECK_INLINE_ELEMENTS = 1 << 16
# Ops that iterate or branch: never evaluated at compile time (a Loop of 10**9 steps would not end).
CONTROL_FLOW = frozenset({"Loop", "Scan", "If", "SequenceMap"})
# Ops whose result has at most as many elements as their inputs together, so folding them is bounded
# even when shape inference cannot tell their output shape.
BOUNDED_OPS = frozenset({
    "Shape", "Size", "Gather", "GatherElements", "Concat", "Unsqueeze", "Squeeze", "Reshape", "Flatten",
    "Cast", "Identity", "Transpose", "Slice", "Add", "Sub", "Mul", "Div", "Neg", "Abs", "Floor", "Ceil",
    "Round", "Sign", "Sqrt", "Reciprocal", "Min", "Max", "Equal", "Less", "Greater", "Not", "And", "Or",
    "Where", "ReduceProd", "ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "Constant", "Clip",
    "BatchNormalization", "Relu", "Sigmoid", "Tanh", "MatMul", "Gemm", "Conv", "Split",
    "BipolarQuant", "Quant", "MultiThreshold", "Trunc",
})
OPSET_RANGE = (7, onnx.defs.onnx_opset_version())  # the standard opsets onnx (and so chewc) knows


def validate(model: onnx.ModelProto, origin: str) -> None:
    """Every up-front check, in the order that names the most basic problem first."""
    _check_strings(model, "model", origin)
    check_runnable(model, origin)
    _check_opsets(model, origin)
    _check_graph(model.graph, origin)
    _check_initializers(model.graph, origin)
    _check_declared(model.graph, origin)


def _check_strings(msg: Message, path: str, origin: str) -> None:
    """Every string field is text: protobuf hands back invalid UTF-8 as bytes, which nothing expects."""
    for field, value in msg.ListFields():
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            items = value if _repeated(field) else [value]
            if field.name in ("initializer", "sparse_initializer", "t", "tensors", "sparse_tensor"):
                for item in items:  # tensors: check the names, not megabytes of data
                    _check_strings_shallow(item, f"{path}.{field.name}", origin)
                continue
            for i, item in enumerate(items):
                _check_strings(item, f"{path}.{field.name}[{i}]", origin)
        elif field.type == FieldDescriptor.TYPE_STRING:
            for v in value if _repeated(field) else [value]:
                if not isinstance(v, str):
                    raise ChewcError(f"{origin}: {path}.{field.name} is not valid UTF-8 ({bytes(v)[:24]!r})")


def _repeated(field: FieldDescriptor) -> bool:
    # protobuf 5 and later say `is_repeated`; older releases only have `label`
    is_repeated = getattr(field, "is_repeated", None)
    return bool(is_repeated) if is_repeated is not None else field.label == FieldDescriptor.LABEL_REPEATED


def _check_strings_shallow(tensor: Message, path: str, origin: str) -> None:
    for field, value in tensor.ListFields():
        if field.type == FieldDescriptor.TYPE_STRING and not _repeated(field):
            if not isinstance(value, str):
                raise ChewcError(f"{origin}: {path}.{field.name} is not valid UTF-8 ({bytes(value)[:24]!r})")
        elif field.name == "string_data":
            raise ChewcError(f"{origin}: {path}: string tensors are not supported")


def _check_opsets(model: onnx.ModelProto, origin: str) -> None:
    seen: set[str] = set()
    for o in model.opset_import:
        if o.domain in seen:
            raise ChewcError(f"{origin}: opset of domain {o.domain or 'ai.onnx'!r} imported twice")
        seen.add(o.domain)
        lo, hi = OPSET_RANGE
        if o.domain in STANDARD_DOMAINS and not lo <= o.version <= hi:
            raise ChewcError(f"{origin}: ONNX opset {o.version} is outside the opsets {lo}..{hi} chewc reads")


def _check_graph(graph: onnx.GraphProto, origin: str) -> None:
    """Distinct node names and single producers; control flow only where it is dead (pruned later)."""
    names: set[str] = set()
    produced = {i.name for i in graph.input} | {t.name for t in graph.initializer}
    for node in graph.node:
        if node.name:
            if node.name in names:
                raise ChewcError(f"{origin}: two nodes are named {node.name!r}; node names must be unique")
            names.add(node.name)
        for out in node.output:
            if out and out in produced:
                raise ChewcError(f"{origin}: {describe(node)}: tensor {out!r} has another producer (graphs are SSA)")
            produced.add(out)
    for out in graph.output:
        if out.name not in produced:
            raise ChewcError(f"{origin}: graph output {out.name!r} is produced by no node")


def _check_initializers(graph: onnx.GraphProto, origin: str) -> None:
    total = 0
    for t in graph.initializer:
        if any(d < 0 for d in t.dims):
            raise ChewcError(f"{origin}: initializer {t.name!r} has a negative dimension {list(t.dims)}")
        n = prod(t.dims)
        if n > MAX_ELEMENTS:
            raise ChewcError(f"{origin}: initializer {t.name!r} has {n} elements (at most {MAX_ELEMENTS})")
        total += n
        if t.data_type in (onnx.TensorProto.STRING, onnx.TensorProto.UNDEFINED):
            raise ChewcError(f"{origin}: initializer {t.name!r} has data type {t.data_type}, not a number type")
        try:
            value = onnx.numpy_helper.to_array(t)
        except Exception as e:  # onnx raises ValueError/TypeError/struct errors for inconsistent tensors
            raise ChewcError(f"{origin}: initializer {t.name!r} does not hold {list(t.dims)} values ({first_line(e)})") from e
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            raise ChewcError(f"{origin}: initializer {t.name!r} holds a non-finite value (inf or NaN)")
    if total > MAX_FOLDED_ELEMENTS:
        raise ChewcError(f"{origin}: the initializers hold {total} elements (at most {MAX_FOLDED_ELEMENTS})")


def _check_declared(graph: onnx.GraphProto, origin: str) -> None:
    """Declared shapes of inputs, outputs and value infos: sizes in range before anything is allocated."""
    for group in (graph.input, graph.value_info):
        names = [vi.name for vi in group]
        twice = next((n for i, n in enumerate(names) if n in names[:i]), None)
        if twice is not None:
            raise ChewcError(f"{origin}: value {twice!r} is declared twice")
    inputs = {vi.name: vi.type for vi in graph.input}
    for vi in graph.value_info:  # old exporters repeat inputs here: the same type, or a contradiction
        if vi.name in inputs and vi.type != inputs[vi.name]:
            raise ChewcError(f"{origin}: value {vi.name!r} is declared as an input and again with another type or shape")
    for vi in (*graph.input, *graph.output, *graph.value_info):
        t = vi.type.tensor_type
        if not vi.type.HasField("tensor_type"):
            raise ChewcError(f"{origin}: value {vi.name!r} is not a tensor (sequences, maps and optionals are not supported)")
        dims = [d.dim_value for d in t.shape.dim if d.HasField("dim_value")]
        if any(d < 0 for d in dims):
            raise ChewcError(f"{origin}: value {vi.name!r} declares a negative dimension {dims}")
        if prod(dims) > MAX_ELEMENTS:
            raise ChewcError(f"{origin}: value {vi.name!r} declares {prod(dims)} elements {dims} (at most {MAX_ELEMENTS})")


def skeleton(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of `model` whose large initializers are typed graph inputs instead: what onnxruntime's session
    check and onnx's shape inference need, without a copy of the weights' bytes."""
    out = onnx.ModelProto(ir_version=model.ir_version, producer_name=model.producer_name, domain=model.domain)
    out.opset_import.extend(model.opset_import)
    out.functions.extend(model.functions)
    graph = model.graph
    g = out.graph
    g.name = graph.name
    g.node.extend(graph.node)
    g.input.extend(graph.input)
    g.output.extend(graph.output)
    g.value_info.extend(graph.value_info)
    for t in graph.initializer:
        if np.prod(t.dims, dtype=np.int64) > CHECK_INLINE_ELEMENTS:
            g.input.append(onnx.helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
        else:
            g.initializer.append(t)
    return out


def check_with_onnxruntime(model: onnx.ModelProto, origin: str) -> None:
    """onnxruntime's session creation checks types, attributes and shapes of every standard node.

    QONNX nodes (which onnxruntime does not know) stand behind an `Identity` of their first input,
    as qonnx's own shape inference does: their inputs and outputs have the same type and shape.
    """
    # large initializers (weights) as inputs of their type and shape: the check needs no weight data,
    # and a session over a 355 MB model would hold it all again
    hidden = skeleton(model)
    for node in hidden.graph.node:
        if node.domain in QONNX_DOMAINS:
            first = node.input[0] if node.input else ""
            del node.input[:]
            node.input.append(first)
            del node.attribute[:]
            node.op_type, node.domain = "Identity", ""
    kept = [o for o in hidden.opset_import if o.domain not in QONNX_DOMAINS]
    del hidden.opset_import[:]
    hidden.opset_import.extend(kept)
    try:
        ort_session.__wrapped__(hidden.SerializeToString())  # a check: not kept in the session cache
    except Exception as e:  # onnxruntime raises its own untyped exceptions
        raise ChewcError(f"{origin}: onnxruntime rejects the model: {_ort_message(e)}") from e


def _ort_message(e: BaseException) -> str:
    """onnxruntime's first line without its '[ONNXRuntimeError] : 1 : FAIL : Load model from ... failed:' prefix."""
    text = first_line(e)
    for marker in ("failed:", "FAIL : ", "INVALID_GRAPH : ", "INVALID_ARGUMENT : "):
        if marker in text:
            text = text.split(marker, 1)[1]
    return text.strip() or type(e).__name__


def check_fold(node: onnx.NodeProto, shapes: dict[str, tuple[int, ...]], inputs: list[np.ndarray], origin: str) -> None:
    """Folding `node` (all its inputs constant) stays bounded: no control flow, results of known, sane size."""
    where = f"{origin}: {describe(node)}"
    if node.op_type in CONTROL_FLOW:
        raise ChewcError(f"{where}: control flow ({node.op_type}) is not supported")
    budget = max([MAX_ELEMENTS, *(x.size for x in inputs)])
    for out in node.output:
        if not out:
            continue
        if out in shapes:
            n = prod(shapes[out])
            if n > MAX_ELEMENTS:
                raise ChewcError(f"{where}: its result {out!r} would have {n} elements (at most {MAX_ELEMENTS})")
        elif node.op_type not in BOUNDED_OPS:
            raise ChewcError(f"{where}: cannot fold it: the size of its result {out!r} is unknown")
    if sum(x.size for x in inputs) > budget * 4:
        raise ChewcError(f"{where}: its constant inputs are too large to fold")
