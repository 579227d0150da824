"""Load an ONNX/QONNX model into a checked, shape-inferred graph with its constant subgraphs folded.

Real exporters write shape arithmetic (Shape/Gather/Unsqueeze/Concat -> Reshape, as older PyTorch
does) and quantise weights in the graph (`BipolarQuant(W)`, `Sign(W)`).  Everything that depends only
on constants and static shapes is evaluated here, with the reference executor, so the importer sees
constant weights and plain reshapes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from math import prod
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from compiler.model_check import MAX_ELEMENTS, check_fold, check_with_onnxruntime, skeleton, validate
from compiler.provenance import ModelSource
from isa.errors import ChewcError, one_line
from runtime.exact import exact_model
from runtime.onnx_file import read_model_file
from runtime.onnx_ref import QONNX_DOMAINS, OnnxExecutor, describe, first_input_name

# QONNX ops keep the shape of their first input: what shape inference needs to know of them.
ELEMENTWISE_CUSTOM = {"BipolarQuant", "Quant", "MultiThreshold", "Trunc"}


def attributes(node: onnx.NodeProto) -> dict[str, object]:
    """A node's attributes by name, as Python values."""
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


@dataclass
class Graph:
    """A loaded model: nodes in topological order, folded constants, and a static shape for every value."""

    model: onnx.ModelProto
    nodes: list[onnx.NodeProto]
    constants: dict[str, np.ndarray]
    shapes: dict[str, tuple[int, ...]]
    elem_types: dict[str, int]
    input_name: str
    output_names: list[str]
    source: ModelSource | None = None  # the model file as given, for the build record
    consumers: dict[str, list[int]] = field(default_factory=dict)
    producers: dict[str, int] = field(default_factory=dict)  # value name -> index of the node making it

    def __post_init__(self) -> None:
        for i, node in enumerate(self.nodes):
            for name in node.input:
                self.consumers.setdefault(name, []).append(i)
            for name in node.output:
                self.producers[name] = i

    def shape(self, name: str, node: onnx.NodeProto | None = None) -> tuple[int, ...]:
        if name not in self.shapes:
            where = f"{describe(node)}: " if node is not None else ""
            raise ChewcError(f"{where}shape inference cannot resolve the shape of '{name}'")
        return self.shapes[name]

    def submodel(self, nodes: list[onnx.NodeProto], inputs: list[str], outputs: list[str], batch: str | None = None,
                 constants: Mapping[str, np.ndarray] | None = None) -> onnx.ModelProto:
        """A standalone model of `nodes`, fed by `inputs`, with the constants it uses as initializers (the
        graph's and `constants`). With `batch`, every value's leading dimension is that symbolic name."""
        known = {**self.constants, **(constants or {})}
        used = {n for node in nodes for n in node.input if n in known}
        produced = {o for node in nodes for o in node.output}
        inits = [numpy_helper.from_array(known[n], n) for n in sorted(used - produced)]

        def info(name: str) -> onnx.ValueInfoProto:
            shape: tuple[int | str, ...] | None = self.shapes.get(name)
            if batch is not None and shape:
                shape = (batch, *shape[1:])
            return onnx.helper.make_tensor_value_info(name, self.elem_types.get(name, onnx.TensorProto.FLOAT), shape)

        # qonnx's executor wants a shape for every intermediate value too
        inner = [info(n) for n in sorted(produced - set(outputs)) if n in self.shapes]
        graph = onnx.helper.make_graph(
            nodes, "host", [info(n) for n in inputs], [info(n) for n in outputs], inits, value_info=inner
        )
        sub = onnx.helper.make_model(graph, opset_imports=list(self.model.opset_import), producer_name="chewc")
        sub.ir_version = self.model.ir_version
        return sub


def _check(model: onnx.ModelProto | bytes, origin: str) -> None:
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as e:
        first = str(e).strip().splitlines()[0]
        # the checker does not know QONNX's custom domains; everything else it reports is fatal
        if not any(d in first for d in QONNX_DOMAINS):
            raise ChewcError(f"{origin}: the ONNX checker rejects the model: {first}") from e


def _import_qonnx_domains(model: onnx.ModelProto) -> None:
    """Old Brevitas exports use `onnx.brevitas` nodes without importing the domain (as qonnx tolerates);
    shape inference needs the import, so a QONNX domain a node uses gets one (version 1)."""
    imported = {o.domain for o in model.opset_import}
    used = sorted({n.domain for n in model.graph.node if n.domain in QONNX_DOMAINS} - imported)
    model.opset_import.extend(onnx.helper.make_opsetid(d, 1) for d in used)


def _fix_batch(model: onnx.ModelProto, input_name: str) -> None:
    """chewc compiles one image at a time: a symbolic batch dimension becomes 1, a fixed one must be 1."""
    for inp in model.graph.input:
        if inp.name != input_name:
            continue
        dims = inp.type.tensor_type.shape.dim
        if not inp.type.tensor_type.HasField("shape") or not dims:
            raise ChewcError(f"input '{input_name}' declares no shape; chewc compiles fixed shapes [N, C, H, W] or [N, K]")
        for i, d in enumerate(dims):
            if i == 0 and d.HasField("dim_value") and d.dim_value not in (0, 1):
                raise ChewcError(
                    f"input '{input_name}' has a fixed batch of {d.dim_value}; chewc compiles one image at a time "
                    "(export with batch 1 or a symbolic batch)"
                )
            if d.HasField("dim_value") and d.dim_value > 0:
                continue
            if i == 0:
                d.Clear()
                d.dim_value = 1
            else:
                raise ChewcError(
                    f"input '{input_name}' has a dynamic dimension {i} ('{d.dim_param}'); chewc compiles fixed shapes"
                )


def _prune(model: onnx.ModelProto) -> None:
    """Drop the nodes no graph output depends on: dead code is never folded, checked further or run."""
    needed = {o.name for o in model.graph.output}
    live: list[onnx.NodeProto] = []
    for node in reversed(model.graph.node):
        if any(o in needed for o in node.output if o):
            live.append(node)
            needed.update(n for n in node.input if n)
    kept = list(reversed(live))
    if len(kept) != len(model.graph.node):
        del model.graph.node[:]
        model.graph.node.extend(kept)


def _infer(model: onnx.ModelProto) -> onnx.ModelProto:
    """onnx shape inference (strict: an inconsistency is an error, not a silently missing shape), plus the
    shape-preserving QONNX ops it does not know (to a fixpoint)."""
    while True:
        inferred = onnx.shape_inference.infer_shapes(skeleton(model), check_type=True, strict_mode=True)
        del model.graph.value_info[:]
        model.graph.value_info.extend(inferred.graph.value_info)
        del model.graph.output[:]
        model.graph.output.extend(inferred.graph.output)
        shapes, _, _ = _collect(model, with_values=False)
        missing = {
            n.output[0]: shapes[n.input[0]] for n in model.graph.node
            if n.domain in QONNX_DOMAINS and n.op_type in ELEMENTWISE_CUSTOM
            and n.input[0] in shapes and n.output[0] not in shapes
        }
        if not missing:
            return model
        kept = [vi for vi in model.graph.value_info if vi.name not in missing]
        del model.graph.value_info[:]
        model.graph.value_info.extend(kept)
        model.graph.value_info.extend(
            onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, shape) for name, shape in missing.items()
        )


def _collect(model: onnx.ModelProto, with_values: bool = True) -> tuple[dict[str, tuple[int, ...]], dict[str, int],
                                                                         dict[str, np.ndarray]]:
    shapes: dict[str, tuple[int, ...]] = {}
    types: dict[str, int] = {}
    for vi in (*model.graph.input, *model.graph.value_info, *model.graph.output):
        t = vi.type.tensor_type
        if t.elem_type:
            types[vi.name] = t.elem_type
        if t.HasField("shape") and all(d.HasField("dim_value") for d in t.shape.dim):
            shapes[vi.name] = tuple(d.dim_value for d in t.shape.dim)
    for i in model.graph.initializer:
        shapes[i.name], types[i.name] = tuple(i.dims), i.data_type
    consts = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer} if with_values else {}
    return shapes, types, consts


def _foldable(node: onnx.NodeProto, consts: dict[str, np.ndarray], shapes: dict[str, tuple[int, ...]]) -> bool:
    if node.op_type == "Shape" and node.domain == "":
        return node.input[0] in shapes
    return all(name == "" or name in consts for name in node.input)


def _evaluate(node: onnx.NodeProto, model: onnx.ModelProto, consts: dict[str, np.ndarray],
              shapes: dict[str, tuple[int, ...]], types: dict[str, int], origin: str) -> dict[str, np.ndarray]:
    check_fold(node, shapes, [consts[n] for n in node.input if n in consts], origin)
    if node.op_type == "Shape":
        value = np.asarray(shapes[node.input[0]], np.int64)
        start = next((a.i for a in node.attribute if a.name == "start"), 0)
        end = next((a.i for a in node.attribute if a.name == "end"), len(value))
        return {node.output[0]: value[start:end]}
    sub = Graph(model, [node], consts, shapes, types, "", []).submodel([node], [], list(node.output))
    try:
        values = OnnxExecutor(sub).run({})
    except ChewcError as e:
        raise ChewcError(f"{origin}: {describe(node)}: cannot evaluate its constant inputs ({e})") from e
    for name, v in values.items():
        if np.asarray(v).size > MAX_ELEMENTS:
            raise ChewcError(f"{origin}: {describe(node)}: its result {name!r} has {np.asarray(v).size} elements "
                             f"(at most {MAX_ELEMENTS})")
    return values


def _floor_ceil_pools(model: onnx.ModelProto, shapes: dict[str, tuple[int, ...]]) -> bool:
    """Rewrite pools whose shape onnx shape inference and onnxruntime compute differently with pads
    written out: ceil-mode pools as floor-mode pools with larger end pads, SAME pads of dilated pools.

    onnxruntime drops a last window that would start past the input ([1, 6] where onnx shape inference
    says [2, 7]) and sizes SAME padding for the undilated kernel; with the pads written out, shape
    inference and onnxruntime agree, and the rest of the
    graph gets the shapes that onnxruntime computes. Whether the values agree too is checked where the
    pool is imported (`Importer.pool_geometry`) and by every differential test against the original.
    """
    changed = False
    for node in model.graph.node:
        if node.op_type not in ("MaxPool", "AveragePool") or node.domain not in ("", "ai.onnx"):
            continue
        attrs = attributes(node)
        auto = attrs.get("auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else str(auto)
        if node.input[0] not in shapes:
            continue
        hw = shapes[node.input[0]][2:]
        k = list(attrs.get("kernel_shape", []))  # type: ignore[call-overload]
        s = list(attrs.get("strides", [1, 1]))  # type: ignore[call-overload]
        d = list(attrs.get("dilations", [1, 1]))  # type: ignore[call-overload]
        pads = list(attrs.get("pads", [0, 0, 0, 0]))  # type: ignore[call-overload]
        if len(hw) != 2 or len(k) != 2 or min(s, default=0) < 1 or min(d, default=0) < 1 or min(k) < 1 or len(pads) != 4:
            continue
        if auto.startswith("SAME") and d != [1, 1]:
            # onnxruntime sizes SAME padding for the undilated kernel (onnx shape inference: the dilated one)
            for ax in range(2):
                need = (-(-hw[ax] // s[ax]) - 1) * s[ax] + k[ax] - hw[ax]
                head = (need + 1) // 2 if auto == "SAME_LOWER" else need // 2
                pads[ax], pads[ax + 2] = head, need - head
            if min(pads) < 0:
                continue
            kept = [a for a in node.attribute if a.name not in ("auto_pad", "pads")]
            del node.attribute[:]
            node.attribute.extend([*kept, onnx.helper.make_attribute("pads", pads)])
            changed = True
            continue
        if not attrs.get("ceil_mode", 0) or auto not in ("NOTSET", ""):
            continue
        if attrs.get("count_include_pad", 0):
            continue  # explicit pads would enter the border windows' divisors, ceil mode's do not
        for ax in range(2):
            ext = d[ax] * (k[ax] - 1) + 1
            out = -(-(hw[ax] + pads[ax] + pads[ax + 2] - ext) // s[ax]) + 1
            if (out - 1) * s[ax] >= hw[ax] + pads[ax]:
                out -= 1
            pads[ax + 2] = max(pads[ax + 2], (out - 1) * s[ax] + ext - hw[ax] - pads[ax])
        if any(p >= kk for p, kk in zip(pads, k * 2)):
            continue  # onnxruntime refuses pads of a kernel's size or more: leave the node as it is
        kept = [a for a in node.attribute if a.name not in ("ceil_mode", "pads")]
        del node.attribute[:]
        node.attribute.extend([*kept, onnx.helper.make_attribute("pads", pads)])
        changed = True
    return changed


def _fold(model: onnx.ModelProto, origin: str) -> onnx.ModelProto:
    """Replace every node computable from constants and static shapes by an initializer, to a fixpoint."""
    while True:
        model = _infer(model)
        shapes, types, consts = _collect(model)
        if _floor_ceil_pools(model, shapes):
            # shapes after those pools may change (declared outputs too, if the exporter took them from
            # shape inference rather than from running the model): infer them all again
            del model.graph.value_info[:]
            for out in model.graph.output:
                out.type.tensor_type.ClearField("shape")
            continue
        keep: list[onnx.NodeProto] = []
        folded: dict[str, np.ndarray] = {}
        for node in model.graph.node:
            if _foldable(node, {**consts, **folded}, shapes):
                folded.update(_evaluate(node, model, {**consts, **folded}, shapes, types, origin))
            else:
                keep.append(node)
        used = {n for node in keep for n in node.input} | {o.name for o in model.graph.output}
        del model.graph.node[:]
        model.graph.node.extend(keep)
        # the initializers still read, the unchanged ones as they are (no second copy of the weights)
        tensors = {t.name: t for t in model.graph.initializer if t.name in used}
        del consts
        tensors |= {n: numpy_helper.from_array(np.asarray(v), n) for n, v in folded.items() if n in used}
        inits = [tensors[n] for n in sorted(tensors)]
        del model.graph.initializer[:]
        model.graph.initializer.extend(inits)
        if not folded:
            return model  # inferred at the top of this round, and unchanged since


def load_graph(path: str | Path) -> Graph:
    """Read, validate (`compiler.model_check`), prune, shape-infer and fold a model."""
    origin = str(path)
    model, raw = read_model_file(path)
    validate(model, origin)
    source = ModelSource.of(model, raw)
    _import_qonnx_domains(model)
    # the file as read when it is the whole model; a missing QONNX opset import is forgiven either way
    _check(raw if raw is not None else model, origin)
    del raw  # hundreds of MB at ImageNet scale
    input_name = first_input_name(model)
    # initializers listed as graph inputs (old exporters) are constants, not inputs
    kept = [i for i in model.graph.input if i.name == input_name]
    del model.graph.input[:]
    model.graph.input.extend(kept)
    _fix_batch(model, input_name)
    model, _ = exact_model(model)  # binary layers with float scales: exact sums times the scale
    _prune(model)
    check_with_onnxruntime(model, origin)
    try:
        model = _fold(model, origin)
    except (onnx.shape_inference.InferenceError, onnx.checker.ValidationError) as e:
        raise ChewcError(f"{origin}: shape inference failed: {one_line(str(e))}") from e
    shapes, types, consts = _collect(model)
    # the graph keeps the weights as arrays only: a model without its initializers, in a message of its own
    # (protobuf frees the loaded model's memory only with the whole message)
    kept = onnx.ModelProto(ir_version=model.ir_version)
    kept.opset_import.extend(model.opset_import)
    kept.graph.node.extend(model.graph.node)
    kept.graph.output.extend(model.graph.output)
    del model
    graph = Graph(kept, list(kept.graph.node), consts, shapes, types, input_name, [o.name for o in kept.graph.output],
                  source)
    for node in graph.nodes:
        for name in (*node.input, *node.output):
            if name:
                shape = graph.shape(name, node)
                if 0 in shape:
                    raise ChewcError(f"{origin}: {describe(node)}: tensor {name!r} is empty (shape {list(shape)}): "
                                     "chewc compiles networks whose every tensor holds values")
                if prod(shape) > MAX_ELEMENTS:
                    raise ChewcError(f"{origin}: {describe(node)}: tensor {name!r} has shape {list(shape)}, "
                                     f"{prod(shape)} elements (at most {MAX_ELEMENTS})")
    return graph
