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
        return np.where(x >= 0, np.float32(1), np.float32(-1))
    if node.op_type == "MultiThreshold":
        thr = constant_input(graph, node, 1, "thresholds")
        attrs = attributes(node)
        if x.ndim < 2:
            raise ChewcError(f"{describe(node)}: its input of shape {list(x.shape)} has no channel axis (NCHW or NC)")
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
        if node.op_type == "BatchNormalization":
            attrs = attributes(node)
            if attrs.get("training_mode", 0) or not attrs.get("spatial", 1):
                # onnxruntime then normalises by the input's own mean and variance, or per element
                raise ChewcError(f"{describe(node)}: a batch norm in training mode or with spatial=0 is not one "
                                 "scale and offset per channel; cannot fold it into thresholds")
            continue
        if node.op_type in SHAPE_OPS:
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
    exact: Callable[[np.ndarray], np.ndarray]  # accumulator values [V] -> [V, C], float64
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
    if len(shape) < 2:
        raise ChewcError(f"{describe(binarizer)}: the accumulator '{raw}' has shape {list(shape)} (as the model "
                         "declares it), with no channel axis to threshold")
    channels = shape[1]
    check_per_channel(graph, chain, channels)
    values = reach.values()
    table = _evaluator(graph, chain, raw, binarizer)(values[:, None])
    if uncertain is not None:
        post, mid = chain[uncertain.length :], chain[uncertain.length - 1].output[0]
        evaluate = _evaluator(graph, post, mid, binarizer)
        exact, err = uncertain.exact(values), uncertain.error[None, :]
        for bound in (np.nextafter((exact - err).astype(np.float32), -np.inf), np.nextafter((exact + err).astype(np.float32), np.inf)):
            if not np.array_equal(evaluate(bound), table):
                return None
    return _steps(table, values, binarizer)


# Elements of the accumulator tensor one onnxruntime run evaluates at most (64 MB of float32): larger
# reaches take a few runs rather than one tensor of gigabytes.
MAX_RUN_ELEMENTS = 2**24


def _evaluator(graph: Graph, chain: list[onnx.NodeProto], start: str,
               binarizer: onnx.NodeProto) -> Callable[[np.ndarray], np.ndarray]:
    """A function from values x = matrix[v, c] (matrix[v, 0]: the same for every channel) to
    binarizer(chain(x)), [V, C].

    Row r of the evaluation puts values[r*P + p] at position p of every channel (P positions per
    channel); the rows are the batch of one run of the chain's batched submodel (`_batched`), or, for a
    chain that does not keep the batch axis, one run each of the submodel as written.
    """
    shape = graph.shape(start)
    channels = shape[1]
    per_channel = int(np.prod(shape)) // channels
    pre = chain[-1].output[0] if chain else start
    batched = _batched(graph, chain, start, pre)
    rows_per_run = max(1, MAX_RUN_ELEMENTS // int(np.prod(shape))) if batched is not None or not chain else 1
    executor = OnnxExecutor(batched or graph.submodel(chain, [start], [pre])) if chain else None

    def evaluate(matrix: np.ndarray) -> np.ndarray:
        matrix = matrix.astype(np.float32, copy=False)  # once, not once per channel
        count, width = matrix.shape
        rows = -(-count // per_channel)
        results = []
        for r in range(0, rows, rows_per_run):
            block = min(rows_per_run, rows - r)
            part = matrix[r * per_channel : (r + block) * per_channel]
            if len(part) < block * per_channel:  # the last row repeats the last value
                part = np.pad(part, ((0, block * per_channel - len(part)), (0, 0)), mode="edge")
            acc = np.repeat(part.reshape(block, per_channel, width).transpose(0, 2, 1), channels // width, axis=1)
            x = acc.reshape((-1, *shape[1:]))  # [block, C, ...]; as written, [1, C, ...]
            y = binarise(graph, binarizer, executor.run({start: x})[pre] if executor is not None else x)
            # coded in the run's own (contiguous) layout, then transposed as int8
            results.append(_codes(y.reshape(block, channels, per_channel)).transpose(0, 2, 1).reshape(-1, channels))
        return np.concatenate(results)[:count]

    return evaluate


def _batched(graph: Graph, chain: list[onnx.NodeProto], start: str, out: str) -> onnx.ModelProto | None:
    """The chain's submodel on a batch [N, ...] of inputs, each element computed as the [1, ...] model
    computes it; None when a value in the chain does not lead with the batch axis.

    Affine ops stay as written: their constants are one value per channel and of at most the data's
    rank, so they broadcast over the batch. Shape ops move no data (ONNX reshapes keep row-major order),
    so each becomes a Reshape to [-1, *its output shape[1:]]: shapes written for batch 1 ([1, -1],
    [1, 512], Squeeze of axis 0) would fold the batch into other axes or refuse it.
    """
    if graph.shape(start)[:1] != (1,):
        return None
    nodes: list[onnx.NodeProto] = []
    shapes: dict[str, np.ndarray] = {}
    for node in chain:
        data, after = data_input(graph, node), graph.shape(node.output[0], node)
        if after[:1] != (1,):
            return None
        if node.op_type in SHAPE_OPS:
            target = f"{node.output[0]}__batch_shape"
            shapes[target] = np.array([-1, *after[1:]], np.int64)
            nodes.append(onnx.helper.make_node("Reshape", [data, target], [node.output[0]]))
        elif len(after) != len(graph.shape(data, node)):  # a constant of higher rank: the batch axis moves
            return None
        else:
            nodes.append(node)
    return graph.submodel(nodes, [start], [out], batch="N", constants=shapes)


# binarised values as int8 codes: a table of every reachable value of a wide layer is a quarter of float32's
ZERO, OTHER = 0, 2  # an exact 0 (Sign(0)); anything else but +-1 (NaN, a multi-level output)


def _codes(y: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):  # NaN and inf cast to some int8; the comparison marks them
        codes = np.sign(y).astype(np.int8)  # -1, 0 (ZERO) or 1
    codes[y != codes] = OTHER
    return codes


def _steps(table: np.ndarray, values: np.ndarray, binarizer: onnx.NodeProto) -> tuple[list[int], str]:
    """Each channel's step in table[v, c] = binarizer(chain(values[v])) (as `_codes`) as (threshold, mode)."""
    channels = table.shape[1]
    n, up, down, bad_any = (np.zeros(channels, np.int64), np.zeros(channels, bool), np.zeros(channels, bool),
                            np.zeros(channels, bool))
    step = max(1, MAX_RUN_ELEMENTS // max(1, len(values)))  # channels at a time: temporaries stay small
    for c0 in range(0, channels, step):
        part = table[:, c0 : c0 + step]
        rising = np.diff((part > 0).astype(np.int8), axis=0)
        cols = slice(c0, c0 + part.shape[1])
        up[cols], down[cols] = (rising >= 0).all(axis=0), (rising <= 0).all(axis=0)
        bad_any[cols] = ((part != 1) & (part != -1)).any(axis=0)
        n[cols] = (part > 0).sum(axis=0)
    wrong = np.flatnonzero(bad_any | ~(up | down))
    if len(wrong):  # the first channel that has no step; a value other than ±1 is the first reason
        c = int(wrong[0])
        if bad_any[c]:
            v = int(np.argmax((table[:, c] != 1) & (table[:, c] != -1)))
            what = "0" if table[v, c] == ZERO else "a value other than ±1 or 0 (NaN, or one of several levels)"
            raise ChewcError(
                f"{describe(binarizer)}: channel {c} gives {what} for accumulator value {values[v]}, "
                "which is not ±1 (ONNX Sign(0) = 0 cannot be represented on a ±1 datapath)"
            )
        raise ChewcError(f"{describe(binarizer)}: channel {c} is not a monotone function of its accumulator")
    # monotone: the n values giving +1 are the last n (rising) or the first n (falling)
    every, none = n == len(values), n == 0
    first, last = values[np.minimum(len(values) - n, len(values) - 1)], values[np.maximum(n - 1, 0)]
    thresholds = np.where(every | none, 0, np.where(up, first, last))
    modes = np.where(every, "+", np.where(none, "-", np.where(up, "g", "l")))
    for t in thresholds:
        if not -(2**31) <= t < 2**31:
            raise ChewcError(f"{describe(binarizer)}: threshold {t} does not fit 32 bits")
    return [int(t) for t in thresholds], "".join(modes)
