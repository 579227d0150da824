"""The exact reading of binary layers with float scales, as Brevitas's stock binary quantisers export them.

A binary layer of weights ±s (one positive s per tensor or per output channel) on activations ±a
computes a * s * (a ±1 dot product). onnxruntime sums the float32 terms ±a*s and rounds as it goes,
so its result is not a function of the integer sum alone, and on a value next to a threshold it can
fall on either side. chewc gives such a layer one meaning: the exact integer sum times the float32
product fl32(a * s), rounded once, then the model's own float epilogue. `exact_model` writes that
meaning as ONNX (the layer on ±1 operands, then a `Mul`; ±a activations binarised again with scale
1, any shape ops and max-pools between them and the layer repeated on ±1): the compiler folds its
thresholds from it and `chewc-run --check` compares a program with it, and tells the differences
between it and the float model (the reference's own rounding) apart from real mismatches.

Layers whose product is 1 (±1 weights on ±1 activations) or one power of two are left alone: their
float32 sums are already exact.

A scaled layer's sums stay integers through what keeps them an integer times the same scale: a
max-pool (the scale is positive, so the max commutes with it, in float32 too) and the `Add` of two
such tensors with equal scales (a residual shortcut: (i + j) * c, rounded once, where onnxruntime
rounds i * c and j * c and then their sum). The scale is applied after them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper, numpy_helper

BINARY_LAYERS = ("Conv", "MatMul", "Gemm")
# ops that keep a ±1 tensor ±1 (a max-pool of ±1 values is ±1)
SHAPE_OPS = ("Flatten", "Reshape", "Identity", "Squeeze", "Unsqueeze", "MaxPool")


@dataclass(frozen=True)
class ScaledLayer:
    node: str  # how errors and reports name it: the node's name, else its output
    output: str  # the ONNX tensor it computes
    scale: np.ndarray  # fl32(a * s) per output channel


def _constant(model: onnx.ModelProto, name: str, producers: dict[str, onnx.NodeProto]) -> np.ndarray | None:
    """An initializer, or BipolarQuant of initializers (Brevitas quantises weights in the graph), or a
    Transpose of one (Brevitas's TorchScript export of a linear layer: MatMul(x, Transpose(W)))."""
    for t in model.graph.initializer:
        if t.name == name:
            return numpy_helper.to_array(t).astype(np.float64)
    node = producers.get(name)
    if node is not None and node.op_type == "BipolarQuant" and len(node.input) == 2:
        x, scale = (_constant(model, n, producers) for n in node.input)
        if x is not None and scale is not None:
            return np.where(x >= 0, 1.0, -1.0) * scale
    if node is not None and node.op_type == "Transpose" and len(node.input) == 1:
        x = _constant(model, node.input[0], producers)
        perm = next((list(a.ints) for a in node.attribute if a.name == "perm"), None)
        if x is not None and (perm is None or sorted(perm) == list(range(x.ndim))):
            return np.transpose(x, perm)
    return None


def _activation_scale(model: onnx.ModelProto, name: str,
                      producers: dict[str, onnx.NodeProto]) -> tuple[float, list[onnx.NodeProto]] | None:
    """(a, path) when tensor `name` is ±a by construction (Sign: 1, BipolarQuant: its scalar scale), else
    None; `path` is the binariser, then the shape ops and max-pools from it to `name`, which keep ±a."""
    node, path = producers.get(name), []
    while node is not None and node.op_type in SHAPE_OPS:
        path.insert(0, node)
        node = producers.get(node.input[0])
    if node is not None and node.op_type == "Sign":
        return 1.0, [node, *path]
    if node is not None and node.op_type == "BipolarQuant" and len(node.input) == 2:
        scale = _constant(model, node.input[1], producers)
        if scale is not None and scale.size == 1 and float(scale.reshape(-1)[0]) > 0:
            return float(scale.reshape(-1)[0]), [node, *path]
    return None


def _unit_copy(path: list[onnx.NodeProto], prefix: str, one: str) -> list[onnx.NodeProto]:
    """`path` (a BipolarQuant of scale a, then shape ops and max-pools) on ±1: the binariser with scale
    `one`, then a copy of each op (they keep ±1 values as they keep ±a); the last output is `prefix`."""
    binariser, *ops = path
    names = [f"{prefix}{k}" for k in range(len(ops))] + [prefix]
    nodes = [helper.make_node("BipolarQuant", [binariser.input[0], one], [names[0]], domain=binariser.domain)]
    for k, op in enumerate(ops):
        copy = onnx.NodeProto()
        copy.CopyFrom(op)
        copy.name = ""  # node names stay unique
        copy.input[0] = names[k]
        del copy.output[:]
        copy.output.append(names[k + 1])
        nodes.append(copy)
    return nodes


def _weight_scales(w: np.ndarray, op: str, trans_b: bool) -> np.ndarray | None:
    """s per output channel when every weight of a channel is ±s (s > 0, finite), else None."""
    if not np.isfinite(w).all():
        return None
    per_out = np.abs(w.reshape(w.shape[0], -1)) if op == "Conv" or trans_b else np.abs(w).T  # [outputs, fan-in]
    lo, hi = per_out.min(axis=1), per_out.max(axis=1)
    return hi if np.array_equal(lo, hi) and (hi > 0).all() else None


def _exact_by_itself(scale: np.ndarray) -> bool:
    """One power of two for every channel: float32 sums of ±scale terms are exact."""
    return bool(np.all(scale == scale.flat[0]) and scale.flat[0] == 2.0 ** np.round(np.log2(scale.flat[0])))


def exact_model(model: onnx.ModelProto) -> tuple[onnx.ModelProto, list[ScaledLayer]]:
    """`model` with every scaled binary layer written exactly, and those layers (none: `model` itself)."""
    producers = {o: n for n in model.graph.node for o in n.output}
    plans = []
    for node in model.graph.node:
        if node.op_type not in BINARY_LAYERS or node.domain not in ("", "ai.onnx") or len(node.input) < 2:
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "Gemm" and attrs.get("transA", 0):
            continue
        if node.op_type == "Conv" and attrs.get("group", 1) != 1:
            continue
        w = _constant(model, node.input[1], producers)
        activation = _activation_scale(model, node.input[0], producers)
        if w is None or activation is None or w.ndim not in (2, 4) or (node.op_type == "Conv") != (w.ndim == 4):
            continue
        a, path = activation
        trans_b = bool(attrs.get("transB", 0)) and node.op_type == "Gemm"
        s = _weight_scales(w, node.op_type, trans_b)
        if s is None:
            continue
        if _exact_by_itself(np.float64(a) * s):
            continue  # ±1 operands (a Gemm's alpha and bias alone are `compiler.importer.FusedGemm`'s)
        scale = (np.float64(a) * s * float(attrs.get("alpha", 1.0) if node.op_type == "Gemm" else 1.0)).astype(np.float32)
        if not np.isfinite(scale).all() or (scale == 0).any():
            continue
        plans.append((node, np.sign(w).astype(np.float32), scale, a, path))
    if not plans:
        return model, []
    exact = onnx.ModelProto()
    exact.CopyFrom(model)
    graph = exact.graph
    by_output = {n.output[0]: n for n in graph.node}
    new_inits = []
    layers = []
    scaled: dict[str, Scaled] = {}
    units: dict[str, str] = {}  # a ±a layer input -> its ±1 copy (layers reading one tensor share it)
    for original, signs, scale, a, path in plans:
        node = by_output[original.output[0]]
        out = node.output[0]
        p = f"{out}__exact"
        new_inits.append(numpy_helper.from_array(signs, f"{p}_w"))
        node.input[1] = f"{p}_w"
        if a != 1.0 and node.input[0] not in units:  # ±a activations as ±1: the binarisation with scale 1
            one = f"{p}_one"
            new_inits.append(numpy_helper.from_array(np.array(1.0, np.float32), one))
            at = list(graph.node).index(node)
            for k, copy in enumerate(_unit_copy(path, f"{p}_x", one)):
                graph.node.insert(at + k, copy)
            units[node.input[0]] = f"{p}_x"
        if a != 1.0:
            node.input[0] = units[node.input[0]]
        tail = []
        shape = [1, -1, 1, 1] if node.op_type == "Conv" else [1, -1]
        new_inits.append(numpy_helper.from_array(scale.reshape(shape), f"{p}_scale"))
        bias = node.input[2] if len(node.input) > 2 and node.input[2] else ""
        if node.op_type == "Gemm":
            beta = next((a_.f for a_ in node.attribute if a_.name == "beta"), 1.0)
            kept = [a_ for a_ in node.attribute if a_.name not in ("alpha", "beta")]
            del node.attribute[:]
            node.attribute.extend(kept)
            if bias and beta != 1.0:
                new_inits.append(numpy_helper.from_array(np.array(beta, np.float32), f"{p}_beta"))
                tail.append(helper.make_node("Mul", [bias, f"{p}_beta"], [f"{p}_bias"]))
                bias = f"{p}_bias"
        elif bias:
            tail.append(helper.make_node("Reshape", [bias, f"{p}_bshape"], [f"{p}_bias"]))
            new_inits.append(numpy_helper.from_array(np.array([1, -1, 1, 1], np.int64), f"{p}_bshape"))
            bias = f"{p}_bias"
        del node.input[2:]
        node.output[0] = f"{p}_acc"
        tail.append(helper.make_node("Mul", [f"{p}_acc", f"{p}_scale"], [f"{p}_scaled" if bias else out]))
        if bias:
            tail.append(helper.make_node("Add", [f"{p}_scaled", bias], [out]))
        at = list(graph.node).index(node) + 1
        for k, t in enumerate(tail):
            graph.node.insert(at + k, t)
        layers.append(ScaledLayer(original.name or out, out, scale))
        if not bias:
            scaled[out] = Scaled(f"{p}_acc", f"{p}_scale", scale)
    graph.initializer.extend(new_inits)
    _integer_until_scaled(graph, scaled)
    return exact, layers


@dataclass(frozen=True)
class Scaled:
    """An ONNX tensor that is, in the exact reading, integer tensor `acc` times `scale` (initializer
    `scale_name`, per output channel)."""

    acc: str
    scale_name: str
    scale: np.ndarray


def _integer_until_scaled(graph: onnx.GraphProto, scaled: dict[str, Scaled]) -> None:
    """Max-pools of scaled tensors and adds of two with equal scales compute on the integers, then scale:
    MaxPool(Mul(i, c)) becomes Mul(MaxPool(i), c), Add(Mul(i, c), Mul(j, c)) becomes Mul(Add(i, j), c).
    Each keeps its output name, so every other reader is unchanged; a Mul nothing reads any more is
    dead (the compiler prunes it)."""
    nodes: list[onnx.NodeProto] = []
    for node in graph.node:
        nodes.append(node)
        if node.domain not in ("", "ai.onnx") or len(node.output) != 1 or not all(n in scaled for n in node.input):
            continue
        ins = [scaled[n] for n in node.input]
        pools = node.op_type == "MaxPool" and len(ins) == 1 and bool((ins[0].scale > 0).all())
        adds = node.op_type == "Add" and len(ins) == 2 and ins[0].scale.shape == ins[1].scale.shape \
            and np.array_equal(ins[0].scale, ins[1].scale)
        if not pools and not adds:
            continue
        out = node.output[0]
        acc = f"{out}__exact_acc"
        node.input[:] = [i.acc for i in ins]
        node.output[0] = acc
        nodes.append(helper.make_node("Mul", [acc, ins[0].scale_name], [out]))
        scaled[out] = Scaled(acc, ins[0].scale_name, ins[0].scale)
    del graph.node[:]
    graph.node.extend(nodes)
