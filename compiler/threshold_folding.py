"""Fold `accumulator -> (bias, scale, batch norm, ...) -> binarise` into exact integer thresholds.

Closed-form thresholds such as ceil(mean - beta*sqrt(var+eps)/gamma) are off by one whenever float32
rounding lands on the other side of an integer.  Instead we *evaluate* the source subgraph, with the
reference executor and in float32, on every integer the accumulator can take, and read the step off
the results.  The thresholds are therefore exact by construction on the whole reachable range;
gamma < 0 gives a `<=` channel, gamma = 0 a constant channel.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import onnx

from compiler.onnx_loader import Graph, attributes, describe
from isa.errors import ChewcError
from runtime.onnx_ref import OnnxExecutor

SHAPE_OPS = {"Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze"}
AFFINE_OPS = {"Add", "Sub", "Mul", "Div", "BatchNormalization"}
CHAIN_OPS = SHAPE_OPS | AFFINE_OPS


@dataclass(frozen=True)
class Reach:
    """The integers an accumulator can hold: lo, lo+step, ..., hi."""

    lo: int
    hi: int
    step: int = 1

    def values(self) -> np.ndarray:
        return np.arange(self.lo, self.hi + 1, self.step, dtype=np.int64)

    @staticmethod
    def dot(fanin: int, exact_fanin: bool) -> Reach:
        """A ±1 dot product over `fanin` terms; with zero padding some windows have fewer terms."""
        return Reach(-fanin, fanin, 2 if exact_fanin else 1)

    def union_add(self, other: Reach) -> Reach:
        return Reach(self.lo + other.lo, self.hi + other.hi, 1)


def constant_input(graph: Graph, node: onnx.NodeProto, i: int, what: str) -> np.ndarray:
    """Input i of `node`, which must be a constant (a scale, thresholds)."""
    if len(node.input) <= i or node.input[i] not in graph.constants:
        raise ChewcError(f"{describe(node)}: its {what} is not a constant")
    return np.asarray(graph.constants[node.input[i]])


def bipolar_scale(graph: Graph, node: onnx.NodeProto) -> None:
    """BipolarQuant yields ±scale: only scale 1 gives ±1 values."""
    scale = constant_input(graph, node, 1, "scale")
    if scale.size != 1 or float(scale.reshape(-1)[0]) != 1.0:
        raise ChewcError(f"{describe(node)}: activation scale {scale.reshape(-1)[:3]} is not 1")


def binarise(graph: Graph, node: onnx.NodeProto, x: np.ndarray) -> np.ndarray:
    """The binarisation node's own semantics, in numpy (as onnxruntime / qonnx define it)."""
    if node.op_type == "Sign":
        return np.sign(x)
    if node.op_type == "BipolarQuant":
        bipolar_scale(graph, node)  # +-1 bits only for scale 1
        return np.where(x >= 0, 1.0, -1.0)
    if node.op_type == "MultiThreshold":
        thr = constant_input(graph, node, 1, "thresholds")
        attrs = attributes(node)
        if attrs.get("data_layout", b"NCHW") not in (b"NCHW", "NCHW"):
            raise ChewcError(f"{describe(node)}: data_layout {attrs['data_layout']!r} is not supported (NCHW only)")
        if thr.ndim != 2 or thr.shape[0] not in (1, x.shape[1]):
            raise ChewcError(f"{describe(node)}: thresholds of shape {list(thr.shape)} are not [1 or C, T] "
                             f"for the {x.shape[1]} channels")
        scale, bias = attrs.get("out_scale", 1.0), attrs.get("out_bias", 0.0)
        if not all(isinstance(a, int | float) for a in (scale, bias)):
            raise ChewcError(f"{describe(node)}: out_scale and out_bias must be numbers")
        xm = np.moveaxis(x, 1, -1)[..., None]
        count = (xm >= thr.reshape((1,) * (xm.ndim - 2) + thr.shape)).sum(axis=-1)
        y = count * float(scale) + float(bias)  # type: ignore[arg-type]
        return np.moveaxis(y, -1, 1)
    raise AssertionError(node.op_type)


def data_input(graph: Graph, node: onnx.NodeProto) -> str:
    """The one non-constant input of a chain node (`c - x` has it second)."""
    return next(n for n in node.input if n and n not in graph.constants)


def check_per_channel(graph: Graph, chain: list[onnx.NodeProto], channels: int) -> None:
    """Every constant in the chain must be one value per channel (axis 1), so one threshold per channel exists."""
    for node in chain:
        data_shape = graph.shape(data_input(graph, node), node)
        if len(data_shape) < 2 or data_shape[1] != channels:
            raise ChewcError(f"{describe(node)}: moves the channel axis ({data_shape}); cannot fold it into thresholds")
        if node.op_type in SHAPE_OPS or node.op_type == "BatchNormalization":
            continue
        for name in node.input:
            if name not in graph.constants:
                continue
            c = np.asarray(graph.constants[name])
            if c.size == 1:
                continue
            aligned = (1,) * (len(data_shape) - c.ndim) + c.shape
            per_channel = len(aligned) == len(data_shape) and all(
                d == (channels if ax == 1 else 1) for ax, d in enumerate(aligned)
            )
            if not per_channel:
                raise ChewcError(
                    f"{describe(node)}: constant '{name}' of shape {c.shape} varies within a channel; "
                    "only per-channel scales and offsets fold into thresholds"
                )


@dataclass(frozen=True)
class Uncertain:
    """The chain's value after its first `length` nodes is known only to within +-error[c] of
    exact(acc)[c] (a Gemm that onnxruntime rounds as it sums)."""

    length: int
    exact: Callable[[np.ndarray], np.ndarray]  # accumulator values [V] -> [C, V], float64
    error: np.ndarray  # [C]


def fold_thresholds(
    graph: Graph, raw: str, chain: list[onnx.NodeProto], binarizer: onnx.NodeProto, reach: Reach,
    uncertain: Uncertain | None = None,
) -> tuple[list[int], str] | None:
    """Per-channel (threshold, mode) so that threshold(acc) == binarizer(chain(acc)) for every reachable acc.

    With `uncertain`, also proves that the binarised result is the same anywhere within the error
    bound of every reachable value; None when it is not (the result then depends on rounding).
    """
    shape = graph.shape(raw)
    channels = shape[1]
    check_per_channel(graph, chain, channels)
    values = reach.values()
    table = _evaluate(graph, chain, raw, binarizer, np.broadcast_to(values, (channels, len(values))), shape)
    if uncertain is not None:
        post, mid = chain[uncertain.length :], chain[uncertain.length - 1].output[0]
        exact, err = uncertain.exact(values), uncertain.error[:, None]
        for bound in (np.nextafter((exact - err).astype(np.float32), -np.inf), np.nextafter((exact + err).astype(np.float32), np.inf)):
            if not np.array_equal(_evaluate(graph, post, mid, binarizer, bound, shape), table):
                return None
    return _steps(table, values, binarizer)


def _evaluate(graph: Graph, chain: list[onnx.NodeProto], start: str, binarizer: onnx.NodeProto,
              matrix: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """binarizer(chain(x)) for the values x = matrix[c, v] of each channel c: [C, V]."""
    channels, count = matrix.shape
    per_channel = int(np.prod(shape)) // channels
    runs = -(-count // per_channel)
    # run r puts values[r*P + p] at position p of every channel: all values in ceil(V/P) runs
    idx = np.minimum(np.arange(runs * per_channel), count - 1).reshape(runs, per_channel)
    pre = chain[-1].output[0] if chain else start
    executor = OnnxExecutor(graph.submodel(chain, [start], [pre])) if chain else None
    results = []
    for r in range(runs):
        acc = np.ascontiguousarray(matrix[:, idx[r]]).reshape(shape).astype(np.float32)
        y = executor.run({start: acc})[pre] if executor is not None else acc
        results.append(binarise(graph, binarizer, y).reshape(channels, per_channel))
    return np.concatenate(results, axis=1)[:, :count]


def _steps(table: np.ndarray, values: np.ndarray, binarizer: onnx.NodeProto) -> tuple[list[int], str]:
    thresholds: list[int] = []
    modes = []
    for c, row in enumerate(table):
        if not np.all(np.abs(row) == 1):
            bad = int(np.flatnonzero(np.abs(row) != 1)[0])
            raise ChewcError(
                f"{describe(binarizer)}: channel {c} gives {row[bad]:g} for accumulator value {values[bad]}, "
                "which is not ±1 (ONNX Sign(0) = 0 cannot be represented on a ±1 datapath)"
            )
        plus = row > 0
        if plus.all():
            thresholds.append(0)
            modes.append("+")
        elif not plus.any():
            thresholds.append(0)
            modes.append("-")
        elif np.all(np.diff(plus.astype(np.int8)) >= 0):
            thresholds.append(int(values[np.argmax(plus)]))
            modes.append("g")
        elif np.all(np.diff(plus.astype(np.int8)) <= 0):
            thresholds.append(int(values[len(plus) - 1 - np.argmax(plus[::-1])]))
            modes.append("l")
        else:
            raise ChewcError(f"{describe(binarizer)}: channel {c} is not a monotone function of its accumulator")
    for t in thresholds:
        if not -(2**31) <= t < 2**31:
            raise ChewcError(f"{describe(binarizer)}: threshold {t} does not fit 32 bits")
    return thresholds, "".join(modes)
