"""Random valid binary CNNs (ONNX) for differential testing of chewc against onnxruntime.

Hand-written tests cover the layer combinations someone thought of. A generator of *valid* networks
(onnxruntime runs them and no `Sign` ever sees an exact 0) lets `fuzz/difftest.py` and the test suite
compare every compiler level with the reference on shapes, paddings and chains nobody wrote down.

Valid by construction:
- an integer accumulator (binary Conv/MatMul/Gemm, a residual Add, a MaxPool of one) is binarised at a
  threshold half a lattice step between attainable values. With zero padding border windows reach
  every integer, so the thresholds are half-integers in accumulator units, and chewc's threshold
  folding, which evaluates the chain on every reachable integer, never meets Sign(0);
- a float tensor binarised on the host (the first layer, host ops mid-network) gets its threshold in a
  gap between the values it takes on the inputs generated with the network;
- at the end the whole model runs in onnxruntime with every Sign input exposed; an exact 0 or a NaN
  there, or a non-finite pool, rejects the network and it is drawn again.

Determinism: every choice comes from a `Choices` source. `generate(seed)` uses one seeded stream per
decision site (scope), so switching a feature off (`Limits.without`) or lowering a size changes that
site and leaves the rest of the network as it was: this is what lets the harness shrink a failure by
regenerating it. `networks()` draws the same choices from hypothesis, which shrinks them itself.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import onnx
from hypothesis import reject
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from runtime.datasets import quantize_q17
from runtime.onnx_ref import OnnxExecutor

OPSET = 13
IR_VERSION = 8  # fixed so that a model's bytes do not depend on the installed onnx
BN_EPSILON = 1e-5
N_INPUTS = 2  # inputs generated (and checked) per network
MAC_BUDGET = 1_500_000  # per binary layer, so a network goes through every level well under a second
MAX_FLAT = 1024  # widest flattened map a dense head reads
ATTEMPTS = 8  # draws before generate() gives up on a seed (an invalid draw is rare)
HUGE_SCALE = 2.0**127

# Every switch of the generator, with what it adds. A disabled feature is never used.
FEATURES: dict[str, str] = {
    "sign_input": "first layer: Sign(x*a - t) of the [0,1) input itself",
    "float_conv": "first layer: Conv with float weights on the [0,1) input, binarised on the host",
    "q17_input": "first layer: Q1.7-quantised input, ±1 Conv on the host",
    "bitplane_input": "first layer: Q1.7-quantised input declared (--input-grid 8,-7), ±1 Conv on the array by "
                      "bit planes (--first-layer=bitplane)",
    "pow2_weights": "binary weights ±s, s a power of two other than 1",
    "huge_weights": "binary weights ±2^127 (fan-in at most 2, so the reference sum is order-independent)",
    "big_kernel": "kernels 8..13 (decomposed into pieces of at most 7x7)",
    "rect_kernel": "kernel rows != columns",
    "stride": "conv stride > 1",
    "unequal_stride": "conv row stride != column stride",
    "dilation": "conv dilation > 1",
    "unequal_dilation": "conv row dilation != column dilation",
    "pads": "auto_pad NOTSET with symmetric explicit pads",
    "asym_pads": "auto_pad NOTSET with begin and end pads differing",
    "same_upper": "auto_pad SAME_UPPER",
    "same_lower": "auto_pad SAME_LOWER",
    "valid": "auto_pad VALID",
    "conv_bias": "bias input of a binary Conv (or Gemm bias / Add after MatMul of a hidden dense layer)",
    "odd_channels": "odd channel counts",
    "bn": "BatchNormalization before Sign",
    "bn_gamma_neg": "BatchNormalization with gamma < 0 (an inverted comparison)",
    "bn_gamma_zero": "BatchNormalization with gamma = 0 (a constant channel)",
    "bn_tiny_var": "BatchNormalization with a tiny running variance (a huge scale)",
    "scale_chain": "Mul/Div/Add/Sub chain between an accumulator and Sign",
    "rsub": "a Sub with the constant first (c - acc) in a scale chain",
    "maxpool_bits": "MaxPool of a ±1 map",
    "maxpool_int": "MaxPool of an integer accumulator, before its threshold",
    "pool_rect": "MaxPool kernel rows != columns",
    "pool_stride": "MaxPool stride != kernel",
    "pool_pads": "MaxPool with explicit pads",
    "pool_ceil": "MaxPool ceil_mode=1",
    "pool_dilation": "MaxPool dilations > 1",
    "pool_big": "MaxPool window larger than the map (padded to fit)",
    "pool_autopad": "MaxPool with auto_pad SAME_UPPER/SAME_LOWER/VALID",
    "residual": "Add of two binary-conv accumulators of one shape, then threshold",
    "residual_stream": "an integer stream s = s + Conv(Sign(BN(s))), s read by the threshold and the Add",
    "host_mid": "a float op between binary layers (Tanh of an accumulator, AveragePool of a ±1 map), then Sign",
    "flatten": "Flatten into a dense head",
    "reshape": "Reshape [1, -1] into a dense head",
    "dense_hidden": "hidden ±1 dense layers (MatMul/Gemm -> chain -> Sign)",
    "matmul": "MatMul dense layer",
    "gemm": "Gemm dense layer",
    "gemm_transb": "Gemm with transB=1",
    "gemm_alpha": "Gemm with alpha != 1",
    "gemm_bias": "Gemm with a bias C",
    "gemm_beta": "Gemm with beta != 1",
    "acc_output": "the network ends in a binary conv's integer accumulator",
    "final_scale": "a float scale of the scores",
    "host_tail": "a float op after the scores (Relu, Sigmoid, Softmax, Abs)",
}

Kind = Literal["bits", "int", "float"]


class InvalidNetwork(Exception):
    """A draw that does not give a valid network (a Sign would see 0); the caller draws again."""


@dataclass(frozen=True)
class Limits:
    """Sizes and switched-off features: the knobs the shrinker turns."""

    max_map: int = 20  # input rows and columns, at least 4
    max_channels: int = 40
    max_layers: int = 4  # binary layers between the first layer and the head
    max_units: int = 64  # width of a hidden dense layer
    disabled: frozenset[str] = frozenset()
    skip: frozenset[int] = frozenset()  # body layers left out (by index), the rest as drawn

    def allows(self, feature: str) -> bool:
        return feature not in self.disabled

    def without(self, *features: str) -> Limits:
        unknown = set(features) - FEATURES.keys()
        if unknown:
            raise ValueError(f"unknown features {sorted(unknown)}")
        return replace(self, disabled=self.disabled | frozenset(features))

    def spec(self) -> str:
        """A one-word form for command lines: map=20,channels=40,layers=4,units=64[,off=a+b][,skip=0+2]."""
        words = [f"map={self.max_map}", f"channels={self.max_channels}", f"layers={self.max_layers}",
                 f"units={self.max_units}"]
        if self.disabled:
            words.append("off=" + "+".join(sorted(self.disabled)))
        if self.skip:
            words.append("skip=" + "+".join(map(str, sorted(self.skip))))
        return ",".join(words)

    @staticmethod
    def parse(spec: str) -> Limits:
        fields = dict(word.split("=", 1) for word in spec.split(",") if word)
        limits = Limits(int(fields.get("map", 20)), int(fields.get("channels", 40)), int(fields.get("layers", 4)),
                        int(fields.get("units", 64)),
                        skip=frozenset(int(i) for i in fields.get("skip", "").split("+") if i))
        off = [f for f in fields.get("off", "").split("+") if f]
        return limits.without(*off) if off else limits


class Choices(Protocol):
    """Where the generator's decisions come from: a seeded stream or hypothesis draws."""

    def integer(self, lo: int, hi: int) -> int: ...

    def chance(self, p: float) -> bool: ...

    def data(self) -> np.random.Generator: ...

    def scope(self, name: str) -> Choices: ...


class SeededChoices:
    """One `random.Random` per scope path, so that decisions at one site do not move the others."""

    def __init__(self, seed: int, path: str = "") -> None:
        self.seed, self.path = seed, path
        self._rng = random.Random(f"{seed}/{path}")  # str seeds hash with sha512: stable across runs

    def integer(self, lo: int, hi: int) -> int:
        return self._rng.randint(lo, hi)

    def chance(self, p: float) -> bool:
        return self._rng.random() < p

    def data(self) -> np.random.Generator:
        return np.random.default_rng(self._rng.getrandbits(64))

    def scope(self, name: str) -> SeededChoices:
        return SeededChoices(self.seed, f"{self.path}/{name}")


class DrawnChoices:
    """Hypothesis draws; each shrinks towards the simplest answer (lowest integer, no feature)."""

    def __init__(self, draw: st.DrawFn) -> None:
        self._draw = draw

    def integer(self, lo: int, hi: int) -> int:
        return self._draw(st.integers(lo, hi))

    def chance(self, p: float) -> bool:
        return self._draw(st.integers(0, 99)) >= 100 - round(100 * p)

    def data(self) -> np.random.Generator:
        return np.random.default_rng(self._draw(st.integers(0, 2**32 - 1)))

    def scope(self, name: str) -> DrawnChoices:
        return self


@dataclass(frozen=True)
class Network:
    """A generated model, the inputs it is valid on, and what it exercises."""

    model: onnx.ModelProto
    inputs: tuple[np.ndarray, ...]  # each in the model's input shape [1, C, H, W], float32
    features: frozenset[str]
    description: str
    seed: int | None = None
    limits: Limits = field(default_factory=Limits)
    depth: int = 0  # body layers drawn, the skipped ones included
    first_layer: str = "auto"  # chewc's --first-layer for it
    input_grid: str = ""  # chewc's --input-grid for it, if any

    @property
    def chewc_flags(self) -> str:
        """The compile options the network is meant for, as chewc flags."""
        grid = f" --input-grid {self.input_grid}" if self.input_grid else ""
        return grid + (f" --first-layer={self.first_layer}" if self.first_layer != "auto" else "")

    @property
    def size(self) -> tuple[int, int]:
        """(nodes, constant and input values): what the shrinker minimises, in that order."""
        params = sum(int(np.prod(t.dims)) for t in self.model.graph.initializer)
        return len(self.model.graph.node), params + int(self.inputs[0].size)


# ------------------------------------------------------------------------------------------------
# Building a network
# ------------------------------------------------------------------------------------------------


@dataclass
class Acc:
    """An integer accumulator's float value: scale * k + offset[channel], k an integer in [-fanin, fanin]."""

    scale: float
    fanin: int
    offset: np.ndarray  # float64, one per channel


@dataclass
class Geometry:
    """A Conv or MaxPool window and its ONNX attributes."""

    kernel: tuple[int, int]
    strides: tuple[int, int]
    dilations: tuple[int, int]
    pads: tuple[int, int, int, int]  # explicit pads, begin rows/cols then end rows/cols
    auto_pad: str  # NOTSET, SAME_UPPER, SAME_LOWER or VALID
    ceil_mode: int = 0

    def attrs(self, pool: bool = False) -> dict[str, object]:
        a: dict[str, object] = {"kernel_shape": list(self.kernel)}
        if self.strides != (1, 1):
            a["strides"] = list(self.strides)
        if self.dilations != (1, 1):
            a["dilations"] = list(self.dilations)
        if self.auto_pad != "NOTSET":
            a["auto_pad"] = self.auto_pad
        elif any(self.pads):
            a["pads"] = list(self.pads)
        if pool and self.ceil_mode:
            a["ceil_mode"] = 1
        return a

    def effective(self) -> tuple[int, int]:
        return tuple((k - 1) * d + 1 for k, d in zip(self.kernel, self.dilations, strict=True))  # type: ignore[return-value]

    def text(self) -> str:
        kh, kw = self.kernel
        parts = [f"{kh}x{kw}"]
        if self.strides != (1, 1):
            parts.append("s" + ("x".join(map(str, self.strides)) if self.strides[0] != self.strides[1] else str(self.strides[0])))
        if self.dilations != (1, 1):
            parts.append("d" + "x".join(map(str, self.dilations)))
        if self.auto_pad != "NOTSET":
            parts.append(self.auto_pad)
        elif any(self.pads):
            parts.append("p" + ",".join(map(str, self.pads)))
        if self.ceil_mode:
            parts.append("ceil")
        return "/".join(parts)


def per_channel(values: np.ndarray, rank: int) -> np.ndarray:
    """Constants of one value per channel, broadcasting against a [1, C, ...] tensor of `rank`."""
    return np.asarray(values, np.float32).reshape((1, -1) + (1,) * (rank - 2))


class Builder:
    """Grows a graph node by node, running each node in onnxruntime on the generated inputs."""

    def __init__(self, ch: Choices, limits: Limits) -> None:
        self.ch = ch
        self.limits = limits
        self.rng = ch.scope("data").data()
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.vals: dict[str, np.ndarray] = {}  # name -> (N_INPUTS, *shape), shape with its batch of 1
        self.kind: dict[str, Kind] = {}
        self.acc: dict[str, Acc] = {}
        self.features: set[str] = set()
        self.layers: list[str] = []  # one summary per layer, for the description
        self.signs: list[str] = []  # tensors that feed a Sign
        self.depth = 0
        self.first_layer_mode, self.input_grid = "auto", ""  # the compile options the network needs
        self._names: dict[str, int] = {}

    # -- decisions ---------------------------------------------------------------------------

    def use(self, ch: Choices, feature: str, p: float) -> bool:
        """Whether to use `feature` here (always drawn, so a disabled one does not shift later draws)."""
        hit = ch.chance(p)
        return hit and self.limits.allows(feature)

    def pick(self, ch: Choices, options: Sequence[tuple[str, int]]) -> str:
        """One of weighted options; a disabled one falls back to the first, the simplest."""
        r = ch.integer(0, sum(w for _, w in options) - 1)
        for name, weight in options:
            if r < weight:
                return name if self.limits.allows(name) else options[0][0]
            r -= weight
        raise AssertionError("unreachable")

    def channels(self, ch: Choices) -> int:
        n = ch.integer(1, self.limits.max_channels)
        if n % 2 and not self.limits.allows("odd_channels"):
            n = n + 1 if n < self.limits.max_channels else max(n - 1, 2)
        return n

    def note(self, *features: str) -> None:
        self.features.update(features)

    def note_if(self, flags: Sequence[tuple[str, bool]]) -> None:
        self.note(*(f for f, on in flags if on))

    # -- graph plumbing ----------------------------------------------------------------------

    def fresh(self, prefix: str) -> str:
        self._names[prefix] = self._names.get(prefix, 0) + 1
        return f"{prefix}{self._names[prefix]}"

    def shape(self, name: str) -> tuple[int, ...]:
        return self.vals[name].shape[1:]

    def node(self, op: str, inputs: Sequence[str | np.ndarray], **attrs: object) -> str:
        """Append `op(inputs)` (arrays become initializers) and compute its value on every input."""
        out = self.fresh(op.lower())
        names, consts = [], []
        for i, x in enumerate(inputs):
            if isinstance(x, str):
                names.append(x)
            else:
                consts.append(numpy_helper.from_array(np.asarray(x), f"{out}_c{i}"))
                names.append(consts[-1].name)
        node = helper.make_node(op, names, [out], name=out, **attrs)
        self.vals[out] = self.evaluate(node, consts)
        self.nodes.append(node)
        self.inits.extend(consts)
        return out

    def evaluate(self, node: onnx.NodeProto, consts: Sequence[onnx.TensorProto]) -> np.ndarray:
        """One node alone in onnxruntime, once per generated input: (N_INPUTS, *its shape)."""
        feeds = [n for n in dict.fromkeys(node.input) if n in self.vals]
        graph = helper.make_graph(
            [node], node.name, [helper.make_tensor_value_info(n, TensorProto.FLOAT, self.shape(n)) for n in feeds],
            [helper.make_tensor_value_info(node.output[0], TensorProto.FLOAT, None)], list(consts))
        executor = OnnxExecutor(helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                                  ir_version=IR_VERSION))
        try:
            runs = [executor.run({n: self.vals[n][i] for n in feeds})[node.output[0]] for i in range(N_INPUTS)]
        except Exception as e:  # a combination onnxruntime rejects (its errors are untyped): draw again
            raise InvalidNetwork(f"{node.op_type} {node.name}: {e}") from e
        if runs[0].size == 0:
            raise InvalidNetwork(f"{node.op_type} {node.name}: empty result")
        return np.stack(runs).astype(np.float32)

    def add_bias(self, conv: str, bias: np.ndarray) -> None:
        """Give the Conv producing `conv` (the last node) a bias input, and recompute its values."""
        node = self.nodes[-1]
        assert node.output[0] == conv and len(node.input) == 2
        const = numpy_helper.from_array(bias.astype(np.float32), f"{conv}_bias")
        node.input.append(const.name)
        self.inits.append(const)
        self.vals[conv] = self.evaluate(node, [i for i in self.inits if i.name in node.input])
        self.acc[conv].offset = bias.astype(np.float32).astype(np.float64)

    def set_int(self, name: str, acc: Acc) -> str:
        self.kind[name] = "int"
        self.acc[name] = acc
        return name

    def sign(self, src: str) -> str:
        self.signs.append(src)
        out = self.node("Sign", [src])
        self.kind[out] = "bits"
        return out

    def channel_rows(self, src: str) -> np.ndarray:
        """The values of `src` per channel: [C, everything else], float64."""
        v = self.vals[src].astype(np.float64)
        return np.moveaxis(v, 2, 0).reshape(v.shape[2], -1)

    # -- first layer -------------------------------------------------------------------------

    def first_layer(self) -> str:
        """The input and its binarisation: directly, or through a float/Q1.7 conv on the host."""
        ch = self.ch.scope("input")
        c, h = ch.integer(1, 4), ch.integer(4, self.limits.max_map)
        w = ch.integer(4, self.limits.max_map) if ch.chance(0.3) else h
        kind = self.pick(ch, [("sign_input", 4), ("float_conv", 3), ("q17_input", 2), ("bitplane_input", 2)])
        cout = self.channels(ch) if kind != "sign_input" else 0
        geo = self.geometry(ch, h, w, kmax=5) if kind != "sign_input" else None
        if kind == "bitplane_input" and geo is not None and (geo.strides[0] != geo.strides[1]
                                                             or geo.dilations[0] != geo.dilations[1]):
            kind = "q17_input"  # the planes run as one window with one stride: this layer stays on the host
        self.note(kind)
        if kind == "bitplane_input":
            self.first_layer_mode, self.input_grid = "bitplane", "8,-7"
        shape = (N_INPUTS, 1, c, h, w)
        if kind in ("q17_input", "bitplane_input"):
            self.vals["x"] = quantize_q17(self.rng.integers(0, 256, shape))
        else:
            self.vals["x"] = self.rng.random(shape, dtype=np.float32)
        self.kind["x"] = "float"
        if kind == "sign_input":
            src = "x"
            if ch.chance(0.5):
                src = self.node("Mul", ["x", np.float32(self.rng.choice([2.0, 0.5, -1.5, 3.0]))])
            self.layers.append(f"in {c}x{h}x{w} -> Sign(x{'*a' if src != 'x' else ''}-t)")
            return self.float_sign(src)
        assert geo is not None
        weights = (self.rng.normal(0.0, 0.5, (cout, c, *geo.kernel)).astype(np.float32) if kind == "float_conv"
                   else self.pm1((cout, c, *geo.kernel)))
        inputs: list[str | np.ndarray] = ["x", weights]
        bias = self.rng.normal(0.0, 0.3, cout).astype(np.float32) if ch.chance(0.5) else np.zeros(cout, np.float32)
        if bias.any():
            inputs.append(bias)
        y = self.node("Conv", inputs, **geo.attrs())
        text = f"in {c}x{h}x{w} ({kind}) -> Conv {geo.text()} {c}->{cout}"
        if kind == "bitplane_input":
            # chewc folds the threshold over every sum the grid reaches, not only the ones drawn: the
            # threshold goes half a lattice step (1/256) off the conv's values bias + k/128
            t = [b + (np.floor((self.gap(row) - b) * 128) + 0.5) / 128 for row, b in zip(self.channel_rows(y), bias)]
            self.layers.append(text + " (bit planes) -> Sign")
            return self.sign(self.node("Sub", [y, per_channel(np.array(t), len(self.shape(y)))]))
        if ch.chance(0.3):
            rows = self.channel_rows(y)
            params = (self.rng.uniform(0.5, 1.5, cout), self.rng.normal(0, 0.3, cout), rows.mean(1), rows.var(1) + 0.01)
            y = self.node("BatchNormalization", [y, *(p.astype(np.float32) for p in params)], epsilon=BN_EPSILON)
            text += " -> BN"
        self.layers.append(text + " (host) -> Sign")
        return self.float_sign(y)

    def float_sign(self, src: str) -> str:
        """Sign(src - t) with t in a gap of the values each channel of `src` takes: never an exact 0."""
        t = np.array([self.gap(row) for row in self.channel_rows(src)])
        return self.sign(self.node("Sub", [src, per_channel(t, len(self.shape(src)))]))

    def gap(self, row: np.ndarray) -> float:
        """A float32 strictly between two adjacent values of `row`, near a random quantile."""
        u = np.unique(row.astype(np.float32))
        if len(u) > 1:
            start = int(self.rng.uniform(0.25, 0.75) * (len(u) - 1))
            for i in sorted(range(len(u) - 1), key=lambda j: abs(j - start)):
                mid = np.float32((float(u[i]) + float(u[i + 1])) / 2)
                if u[i] < mid < u[i + 1]:
                    return float(mid)
        return float(u[0]) - 1.0

    # -- windows -------------------------------------------------------------------------

    def geometry(self, ch: Choices, h: int, w: int, kmax: int = 13) -> Geometry:
        """A conv window on an h x w map with an output of at least 1x1; explicit pads at most 'same'."""
        big = self.use(ch, "big_kernel", 0.2) and kmax > 7
        top = 13 if big else min(kmax, 7)
        k = [ch.integer(8, 13) if big else ch.integer(1, top)]
        k.append(ch.integer(1, top) if self.use(ch, "rect_kernel", 0.25) else k[0])
        s = [ch.integer(2, 3) if self.use(ch, "stride", 0.3) else 1]
        s.append((1, 2, 3)[ch.integer(0, 2)] if self.use(ch, "unequal_stride", 0.07) else s[0])
        d = [ch.integer(2, 3) if self.use(ch, "dilation", 0.2) else 1]
        d.append((1, 2, 3)[ch.integer(0, 2)] if self.use(ch, "unequal_dilation", 0.07) else d[0])
        if not self.limits.allows("stride"):  # unequal alone must not bring in a stride > 1
            s = [1, 1]
        if not self.limits.allows("dilation"):
            d = [1, 1]
        mode = self.pick(ch, [("no_pads", 3), ("pads", 4), ("asym_pads", 2), ("same_upper", 2), ("same_lower", 2),
                              ("valid", 1)])
        if mode in ("same_upper", "same_lower"):  # onnxruntime: no dilation with auto_pad SAME
            d = [1, 1]
        pads = [0, 0, 0, 0]
        for ax, size in enumerate((h, w)):
            if mode in ("no_pads", "valid"):  # no padding: the window must fit the map
                while (k[ax] - 1) * d[ax] + 1 > size:
                    d[ax], k[ax] = (d[ax] - 1, k[ax]) if d[ax] > 1 else (1, size)
            eff = (k[ax] - 1) * d[ax] + 1
            cap = max(1, (eff - 1) // 2)
            if mode == "pads" and eff > 1:
                pads[ax] = pads[ax + 2] = ch.integer(1, cap)
            elif mode == "asym_pads":
                pads[ax], pads[ax + 2] = ch.integer(0, cap), ch.integer(0, cap)
            while mode in ("pads", "asym_pads") and size + pads[ax] + pads[ax + 2] < eff:
                pads[ax if pads[ax] <= pads[ax + 2] else ax + 2] += 1
        auto = {"same_upper": "SAME_UPPER", "same_lower": "SAME_LOWER", "valid": "VALID"}.get(mode, "NOTSET")
        return Geometry((k[0], k[1]), (s[0], s[1]), (d[0], d[1]), (pads[0], pads[1], pads[2], pads[3]), auto)

    def note_geometry(self, geo: Geometry) -> None:
        (kh, kw), explicit = geo.kernel, geo.auto_pad == "NOTSET" and any(geo.pads)
        self.note_if([
            ("big_kernel", max(kh, kw) > 7), ("rect_kernel", kh != kw), ("stride", max(geo.strides) > 1),
            ("unequal_stride", geo.strides[0] != geo.strides[1]), ("dilation", max(geo.dilations) > 1),
            ("unequal_dilation", geo.dilations[0] != geo.dilations[1]),
            ("pads", explicit and geo.pads[:2] == geo.pads[2:]), ("asym_pads", explicit and geo.pads[:2] != geo.pads[2:]),
            ("same_upper", geo.auto_pad == "SAME_UPPER"), ("same_lower", geo.auto_pad == "SAME_LOWER"),
            ("valid", geo.auto_pad == "VALID"),
        ])

    def pool_geometry(self, ch: Choices, h: int, w: int) -> Geometry:
        """A MaxPool window on an h x w map; pads stay below the kernel, as ONNX requires."""
        rect = self.use(ch, "pool_rect", 0.15)
        k = [ch.integer(1, 3)]
        k.append(ch.integer(1, 4) if rect else k[0])
        big = self.use(ch, "pool_big", 0.1)
        if big:
            k = [h + ch.integer(1, 2), w + ch.integer(1, 2)] if rect else [max(h, w) + 1] * 2
        dil = 2 if self.use(ch, "pool_dilation", 0.15) and not big else 1
        ceil = int(self.use(ch, "pool_ceil", 0.2))
        # with ceil_mode, pads or a stride beyond the kernel make windows that start past the map
        padded = self.use(ch, "pool_pads", 0.6 if ceil else 0.3) or big
        auto = "NOTSET"
        if self.use(ch, "pool_autopad", 0.08) and not padded and not ceil:
            auto = ("SAME_UPPER", "SAME_LOWER", "VALID")[ch.integer(0, 2)]
        stride = None
        if self.use(ch, "pool_stride", 0.4):
            stride = [ch.integer(1, 3)]
            stride.append(ch.integer(1, 3) if rect else stride[0])
        pads = [0, 0, 0, 0]
        for ax, size in enumerate((h, w)):
            if not padded:
                while (k[ax] - 1) * dil + 1 > size:
                    k[ax] -= 1
            else:
                pads[ax], pads[ax + 2] = ch.integer(0, k[ax] - 1), ch.integer(0, k[ax] - 1)
                while size + pads[ax] + pads[ax + 2] < (k[ax] - 1) * dil + 1:
                    pads[ax if pads[ax] <= pads[ax + 2] else ax + 2] += 1
        strides = (stride[0], stride[1]) if stride else (k[0], k[1])
        if auto.startswith("SAME"):  # onnxruntime rejects the negative pads of a stride beyond the kernel
            strides = (min(strides[0], k[0]), min(strides[1], k[1]))
        geo = Geometry((k[0], k[1]), strides, (dil, dil), (pads[0], pads[1], pads[2], pads[3]), auto, ceil)
        self.note_if([
            ("pool_rect", k[0] != k[1]), ("pool_stride", strides != geo.kernel), ("pool_pads", any(pads)),
            ("pool_ceil", bool(ceil)), ("pool_dilation", dil > 1), ("pool_big", k[0] > h or k[1] > w),
            ("pool_autopad", auto != "NOTSET"),
        ])
        return geo

    def maxpool(self, ch: Choices, src: str) -> tuple[str, Geometry]:
        """MaxPool of a ±1 map or of an accumulator (max of k + offset is still on its lattice)."""
        _, _, h, w = self.shape(src)
        geo = self.pool_geometry(ch, h, w)
        out = self.node("MaxPool", [src], **geo.attrs(pool=True))
        v, lowest = self.vals[out], np.finfo(np.float32).min  # onnxruntime's max of an empty window
        if np.any(v == lowest) or np.any(np.isneginf(v) & ~np.isneginf(self.vals[src]).any()):
            raise InvalidNetwork(f"MaxPool {geo.text()} on {h}x{w} has a window of padding only")
        if self.kind[src] == "bits":
            self.kind[out] = "bits"
        else:
            self.set_int(out, replace(self.acc[src]))
        return out, geo

    # -- binary layers -------------------------------------------------------------------------

    def pm1(self, shape: tuple[int, ...]) -> np.ndarray:
        return (self.rng.integers(0, 2, shape) * 2 - 1).astype(np.float32)

    def conv(self, ch: Choices, src: str, cout: int, geo: Geometry | None = None, *, allow_huge: bool = True,
             bias: np.ndarray | None = None) -> str:
        """A binary Conv of a ±1 map (weights ±1 or ±2^e), giving an int value."""
        _, cin, h, w = self.shape(src)
        geo = geo or self.geometry(ch, h, w)
        huge = allow_huge and cin <= 2 and self.use(ch, "huge_weights", 0.15)
        pow2 = self.use(ch, "pow2_weights", 0.15)
        exponent = ch.integer(-6, 5)
        if huge:  # fan-in <= 2: no partial sum can overflow in an order-dependent way
            geo = Geometry((1, 1), geo.strides, (1, 1), (0, 0, 0, 0), "NOTSET")
            scale = HUGE_SCALE
        else:
            scale = 2.0 ** (exponent + (exponent >= 0)) if pow2 else 1.0
        kh, kw = geo.kernel
        oh, ow = self.conv_out(geo, h, w)
        cout = max(1, min(cout, MAC_BUDGET // (cin * kh * kw * oh * ow)))
        inputs: list[str | np.ndarray] = [src, self.pm1((cout, cin, kh, kw)) * np.float32(scale)]
        if bias is not None:
            inputs.append(bias[:cout].astype(np.float32))
        out = self.node("Conv", inputs, **geo.attrs())
        self.note_geometry(geo)
        self.note_if([("huge_weights", huge), ("pow2_weights", scale not in (1.0, HUGE_SCALE)),
                      ("odd_channels", cout % 2 == 1), ("conv_bias", bias is not None)])
        offset = np.zeros(cout) if bias is None else bias[:cout].astype(np.float32).astype(np.float64)
        self.layers.append(f"Conv {geo.text()} {cin}->{cout}{f' w*{scale:g}' if scale != 1 else ''}"
                           f"{' +bias' if bias is not None else ''}")
        return self.set_int(out, Acc(scale, cin * kh * kw, offset))

    @staticmethod
    def conv_out(geo: Geometry, h: int, w: int) -> tuple[int, int]:
        out = []
        for ax, size in enumerate((h, w)):
            eff, s = geo.effective()[ax], geo.strides[ax]
            if geo.auto_pad in ("SAME_UPPER", "SAME_LOWER"):
                out.append(-(-size // s))
            else:
                out.append((size + geo.pads[ax] + geo.pads[ax + 2] - eff) // s + 1)
        return out[0], out[1]

    def crossing(self, src: str) -> np.ndarray:
        """Per channel, a value of `src` half an accumulator step from attainable ones, near its values."""
        acc = self.acc[src]
        if acc.scale == HUGE_SCALE:  # k in [-2, 2]: T = ±0.5 keeps T * 2^127 finite
            return acc.scale * (self.rng.integers(0, 2, len(acc.offset)) - 0.5) + acc.offset
        ks = (self.channel_rows(src) - acc.offset[:, None]) / acc.scale
        mean, std = ks.mean(1), np.maximum(ks.std(1), 1.0)
        k = np.floor(mean + self.rng.uniform(-0.5, 0.5, len(mean)) * std)
        return acc.scale * (np.clip(k, -acc.fanin, acc.fanin - 1) + 0.5) + acc.offset

    def threshold(self, ch: Choices, src: str) -> str:
        """BN or a scale chain, then Sign, crossing 0 between attainable accumulator values."""
        z = self.crossing(src)
        rank = len(self.shape(src))
        if self.acc[src].scale == HUGE_SCALE:
            self.layers[-1] += " -> Sub -> Sign"
            return self.sign(self.node("Sub", [src, per_channel(z, rank)]))
        if self.pick(ch, [("bn", 5), ("scale_chain", 3)]) == "bn":
            self.note("bn")
            y = self.node("BatchNormalization", [src, *self.bn_params(ch, src, z)], epsilon=BN_EPSILON)
            self.layers[-1] += " -> BN -> Sign"
        else:
            self.note("scale_chain")
            y, ops = self.scale_chain(ch, src, z, rank)
            self.layers[-1] += f" -> {'/'.join(ops)} -> Sign"
        return self.sign(y)

    def bn_params(self, ch: Choices, src: str, z: np.ndarray) -> list[np.ndarray]:
        """gamma, beta, mean, var whose output is 0 at z; some gamma < 0 or = 0, a variance tiny."""
        c = len(z)
        acc = self.acc[src]
        spread = acc.scale * np.maximum(self.channel_rows(src).std(1) / acc.scale, 1.0)
        gamma = self.rng.uniform(0.5, 1.5, c)
        if self.use(ch, "bn_gamma_neg", 0.5):
            gamma[self.rng.random(c) < 0.3] *= -1.0
            gamma[ch.integer(0, c - 1)] *= -1.0 if np.all(gamma > 0) else 1.0
            self.note("bn_gamma_neg")
        beta = self.rng.normal(0.0, 0.3, c)
        var = spread**2 * self.rng.uniform(0.7, 1.3, c)
        if self.use(ch, "bn_gamma_zero", 0.3):
            i = ch.integer(0, c - 1)
            gamma[i] = 0.0
            beta[i] = self.rng.uniform(0.2, 1.0) * self.rng.choice([-1.0, 1.0])
            self.note("bn_gamma_zero")
        if self.use(ch, "bn_tiny_var", 0.3):
            var[ch.integer(0, c - 1)] = self.rng.uniform(1e-7, 1e-4)
            self.note("bn_tiny_var")
        safe = np.where(gamma == 0.0, 1.0, gamma)
        mean = np.where(gamma == 0.0, z, z + beta * np.sqrt(var + BN_EPSILON) / safe)
        return [a.astype(np.float32) for a in (gamma, beta, mean, var)]

    def scale_chain(self, ch: Choices, src: str, z: np.ndarray, rank: int) -> tuple[str, list[str]]:
        """1-3 of Mul/Div/Add/Sub (per channel or scalar); one Add/Sub solved so the chain is 0 at z."""
        n = ch.integer(1, 3)
        solve = ch.integer(0, n - 1)
        a, b = np.ones_like(z), np.zeros_like(z)  # the chain so far is a * v + b
        spread = self.acc[src].scale * max(1.0, self.acc[src].fanin**0.5)
        y, ops = src, []
        for i in range(n):
            if i == solve:
                op = "rSub" if self.use(ch, "rsub", 0.1) else ("Add", "Sub")[ch.integer(0, 1)]
            else:
                op = ("Mul", "Div", "Add", "Sub")[ch.integer(0, 3)]
            size = 1 if i != solve and ch.chance(0.4) else len(z)  # a scalar or one per channel
            if op in ("Mul", "Div"):
                k = self.rng.uniform(0.25, 4.0, size) * np.where(self.rng.random(size) < 0.3, -1.0, 1.0)
                a, b = (a * k, b * k) if op == "Mul" else (a / k, b / k)
            else:
                k = (-1.0 if op == "Add" else 1.0) * (a * z + b) if i == solve else self.rng.normal(0.0, spread, size)
                k = np.float32(k).astype(np.float64)  # the constant as the model stores it
                a, b = (a, b + k) if op == "Add" else (a, b - k) if op == "Sub" else (-a, k - b)
            const = np.float32(k[0]) if size == 1 else per_channel(k, rank)
            y = self.node("Sub", [const, y]) if op == "rSub" else self.node(op, [y, const])
            ops.append(op)
        self.note_if([("rsub", "rSub" in ops)])
        return y, ops

    def conv_layer(self, ch: Choices, src: str) -> str:
        """Conv [+bias] [-> MaxPool] -> BN or chain -> Sign, or Conv + a bias that alone thresholds."""
        cout = self.channels(ch)
        with_bias = self.use(ch, "conv_bias", 0.3)
        solved = with_bias and ch.chance(0.5)
        random_bias = self.rng.normal(0.0, 2.0, cout) if with_bias and not solved else None
        y = self.conv(ch, src, cout, bias=random_bias, allow_huge=not solved)
        if solved:  # the bias alone puts the crossing between attainable values: Sign(conv + b)
            self.add_bias(y, -self.crossing(y))
            self.note("conv_bias")
            self.layers[-1] += " +bias"
        if self.use(ch, "maxpool_int", 0.2):
            y, geo = self.maxpool(ch.scope("pool"), y)
            self.note("maxpool_int")
            self.layers[-1] += f" -> MaxPool {geo.text()}"
        if solved:
            self.layers[-1] += " -> Sign"
            return self.sign(y)
        return self.threshold(ch, y)

    def add_accs(self, lhs: str, rhs: str) -> str:
        """Add of two accumulators: on the finer lattice of the two, the fan-ins in its steps."""
        a, b = self.acc[lhs], self.acc[rhs]
        scale = min(a.scale, b.scale)
        fanin = int(a.fanin * a.scale / scale + b.fanin * b.scale / scale)
        return self.set_int(self.node("Add", [lhs, rhs]), Acc(scale, fanin, a.offset + b.offset))

    def residual_stream(self, ch: Choices, src: str) -> str:
        """s = Conv(src); 1-3 blocks s = s + Conv(Sign(BN(s))) as in Bi-Real / Group-Net, each s read by its
        threshold and by the next Add; [MaxPool] -> BN or chain -> Sign."""
        def same(bch: Choices) -> Geometry:
            k = 2 * bch.integer(0, 2) + 1
            p = (k - 1) // 2
            return Geometry((k, k), (1, 1), (1, 1), (p, p, p, p), "NOTSET")

        s = self.conv(ch.scope("conv"), src, self.channels(ch), same(ch.scope("geometry")), allow_huge=False)
        for i in range(ch.integer(1, 3)):
            bch = ch.scope(f"block{i}")
            a = self.threshold(bch.scope("sign"), s)
            c = self.conv(bch.scope("conv"), a, self.shape(s)[1], same(bch.scope("geometry")), allow_huge=False)
            if self.shape(c) != self.shape(s):  # the MAC budget cut the conv's channels: the stream ends
                return self.threshold(bch.scope("end"), c)
            s = self.add_accs(s, c)
            self.note("residual_stream")
            self.layers[-1] += " -> Add (the stream)"
        if self.use(ch, "maxpool_int", 0.2):
            s, geo = self.maxpool(ch.scope("pool"), s)
            self.note("maxpool_int")
            self.layers[-1] += f" -> MaxPool {geo.text()}"
        return self.threshold(ch, s)

    def residual(self, ch: Choices, src: str) -> str:
        """Two binary convs of one output shape, their Add [-> MaxPool] -> BN or chain -> Sign."""
        _, cin, h, w = self.shape(src)
        stride = 2 if self.use(ch, "stride", 0.3) else 1
        big = self.limits.allows("big_kernel")
        geos = []
        for branch in ("a", "b"):  # odd kernels padded 'same': both outputs are ceil(h / stride)
            bch = ch.scope(branch)
            k = 2 * bch.integer(0, 6 if big and bch.chance(0.2) else 3) + 1
            auto = {"same_upper": "SAME_UPPER", "same_lower": "SAME_LOWER"}.get(
                self.pick(bch, [("pads", 3), ("same_upper", 1), ("same_lower", 1)]), "NOTSET")
            p = (k - 1) // 2 if auto == "NOTSET" else 0
            geos.append(Geometry((k, k), (stride, stride), (1, 1), (p, p, p, p), auto))
        oh, ow = -(-h // stride), -(-w // stride)
        kmax = max(g.kernel[0] for g in geos)
        cout = max(1, min(self.channels(ch), MAC_BUDGET // (cin * kmax * kmax * oh * ow)))
        accs = [self.conv(ch.scope(f"conv{i}"), src, cout, geo, allow_huge=False) for i, geo in enumerate(geos)]
        y = self.add_accs(*accs)
        self.note("residual")
        self.layers[-1] += " (+ the conv above) -> Add"
        if self.use(ch, "maxpool_int", 0.2):
            y, geo = self.maxpool(ch.scope("pool"), y)
            self.note("maxpool_int")
            self.layers[-1] += f" -> MaxPool {geo.text()}"
        return self.threshold(ch, y)

    def host_mid(self, ch: Choices, src: str) -> str:
        """A float op between binary layers: Sign(Tanh(acc - z)) or Sign(AveragePool(bits))."""
        self.note("host_mid")
        _, _, h, w = self.shape(src)
        if ch.chance(0.5) or min(h, w) < 3:
            y = self.conv(ch, src, self.channels(ch), allow_huge=False)
            t = self.node("Tanh", [self.node("Sub", [y, per_channel(self.crossing(y), 4)])])
            self.layers[-1] += " -> Sub -> Tanh (host) -> Sign"
            return self.sign(t)
        k = 5 if min(h, w) >= 5 and ch.chance(0.3) else 3  # an odd count of ±1 terms never averages to 0
        s = ch.integer(1, 2)
        self.layers.append(f"AveragePool {k}x{k}/s{s} (host) -> Sign")
        return self.sign(self.node("AveragePool", [src], kernel_shape=[k, k], strides=[s, s]))

    # -- heads -----------------------------------------------------------------------------

    def dense(self, ch: Choices, src: str, units: int, *, scores: bool) -> str:
        """A ±1 MatMul or Gemm; hidden layers get a chain and Sign, the scores stay numbers."""
        features = self.shape(src)[1]
        kind = self.pick(ch, [("matmul", 1), ("gemm", 1)])
        w = self.pm1((features, units))
        alpha, beta, bias = 1.0, 1.0, np.zeros(units)
        if kind == "gemm":
            trans = self.use(ch, "gemm_transb", 0.5)
            if self.use(ch, "gemm_alpha", 0.4):
                alpha = (0.5, 0.3, 2.0, 0.125, 3.0)[ch.integer(0, 4)]
            with_bias = self.use(ch, "gemm_bias", 0.5)
            if with_bias and self.use(ch, "gemm_beta", 0.5):
                beta = (0.5, 0.7, 2.0)[ch.integer(0, 2)]
            attrs = {k: v for k, v, default in (("transB", int(trans), 0), ("alpha", alpha, 1.0), ("beta", beta, 1.0))
                     if v != default}
            inputs: list[str | np.ndarray] = [src, w.T.copy() if trans else w]
            if with_bias:
                bias = self.rng.normal(0.0, 2.0, units).astype(np.float32).astype(np.float64)
                inputs.append(bias.astype(np.float32))
            self.note_if([("gemm_transb", trans), ("gemm_alpha", alpha != 1.0), ("gemm_bias", with_bias),
                          ("gemm_beta", beta != 1.0)])
            y = self.node("Gemm", inputs, **attrs)
            self.layers.append(f"Gemm {features}->{units}" + "".join(f" {k}={v:g}" for k, v in attrs.items())
                               + (" +bias" if with_bias else ""))
        else:
            y = self.node("MatMul", [src, w])
            self.layers.append(f"MatMul {features}->{units}")
        self.note(kind)
        self.set_int(y, Acc(alpha, features, bias * beta))
        if scores:
            return y
        if kind == "matmul" and self.use(ch, "conv_bias", 0.3):
            b = self.rng.normal(0.0, 2.0, units).astype(np.float32)
            y = self.set_int(self.node("Add", [y, b]), Acc(1.0, features, b.astype(np.float64)))
            self.note("conv_bias")
            self.layers[-1] += " + bias"
        return self.threshold(ch, y)

    def head(self, src: str) -> str:
        """What the body's ±1 map becomes: itself, a final accumulator, or a dense head of scores."""
        ch = self.ch.scope("head")
        kind = self.pick(ch, [("bits_out", 2), ("acc_output", 1), ("flatten", 3), ("reshape", 2)])
        if kind == "bits_out":
            return src
        if kind == "acc_output":
            self.note("acc_output")
            return self.tail(ch, self.conv(ch, src, self.channels(ch), allow_huge=False))
        while int(np.prod(self.shape(src))) > MAX_FLAT:  # pool the map down to a dense layer's size
            _, _, h, w = self.shape(src)
            k = [min(2, h), min(2, w)]
            src = self.node("MaxPool", [src], kernel_shape=k, strides=k)
            self.kind[src] = "bits"
            self.note("maxpool_bits")
            self.layers.append(f"MaxPool {k[0]}x{k[1]}")
        self.note(kind)
        if kind == "flatten":
            flat = self.node("Flatten", [src], axis=1)
        else:
            flat = self.node("Reshape", [src, np.array([1, -1], np.int64)])
        self.kind[flat] = "bits"
        self.layers.append(f"{kind.capitalize()} -> {self.shape(flat)[1]}")
        hidden = ch.integer(1, 2) if self.use(ch, "dense_hidden", 0.5) else 0
        self.note_if([("dense_hidden", hidden > 0)])
        for i in range(hidden):
            flat = self.dense(ch.scope(f"hidden{i}"), flat, ch.integer(1, self.limits.max_units), scores=False)
        return self.tail(ch, self.dense(ch.scope("scores"), flat, ch.integer(1, 16), scores=True))

    def tail(self, ch: Choices, y: str) -> str:
        """Optionally a float scale of the scores, then a float op on the host."""
        if self.use(ch, "final_scale", 0.4):
            k = (0.0625, 0.3, 1.7, -0.25)[ch.integer(0, 3)]
            y = self.node("Mul", [y, np.float32(k)])
            self.note("final_scale")
            self.layers[-1] += f" * {k:g}"
        if self.use(ch, "host_tail", 0.3):
            op = ("Relu", "Sigmoid", "Softmax", "Abs")[ch.integer(0, 3)]
            y = self.node(op, [y], **({"axis": 1} if op == "Softmax" else {}))
            self.note("host_tail")
            self.layers[-1] += f" -> {op} (host)"
        return y

    # -- the whole network -----------------------------------------------------------------

    def body(self, src: str) -> str:
        """1..max_layers binary layers on the first layer's ±1 map (those in `limits.skip` left out)."""
        self.depth = self.ch.scope("depth").integer(1, self.limits.max_layers)
        for i in range(self.depth):
            if i in self.limits.skip:
                continue
            ch = self.ch.scope(f"layer{i}")
            kind = self.pick(ch, [("conv", 6), ("residual", 2), ("residual_stream", 2), ("maxpool_bits", 2),
                                  ("host_mid", 1)])
            if kind == "maxpool_bits":
                src, geo = self.maxpool(ch, src)
                self.note("maxpool_bits")
                self.layers.append(f"MaxPool {geo.text()}")
            else:
                src = {"conv": self.conv_layer, "residual": self.residual, "residual_stream": self.residual_stream,
                       "host_mid": self.host_mid}[kind](ch, src)
        return src

    def model(self, out: str) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes, "fuzz", [helper.make_tensor_value_info("x", TensorProto.FLOAT, self.shape("x"))],
            # the output's rank only: for a ceil_mode pool onnx's shape inference and onnxruntime disagree,
            # and a declared shape would be refused for that instead of showing what chewc makes of it
            [helper.make_tensor_value_info(out, TensorProto.FLOAT, [None] * len(self.shape(out)))], self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION,
                                  producer_name="chewc fuzz/netgen.py")
        onnx.checker.check_model(model)
        return model


def validate(model: onnx.ModelProto, inputs: Sequence[np.ndarray], signs: Sequence[str]) -> None:
    """The whole model in onnxruntime: every Sign input free of 0 and NaN on every input."""
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    probe.graph.output.extend(helper.make_empty_tensor_value_info(s) for s in signs)
    executor = OnnxExecutor(probe)
    for x in inputs:
        try:
            values = executor.run({"x": x})
        except Exception as e:  # onnxruntime's own errors (a shape its inference disagrees with) are untyped
            raise InvalidNetwork(str(e).splitlines()[0]) from e
        for s in signs:
            v = values[s]
            if np.any(v == 0) or np.any(np.isnan(v)):
                raise InvalidNetwork(f"Sign input {s} has {int(np.sum(v == 0))} zeros")


def build(ch: Choices, limits: Limits, seed: int | None = None) -> Network:
    """One network from the choices `ch` within `limits`; InvalidNetwork if this draw is not valid."""
    if limits.max_map < 4 or min(limits.max_channels, limits.max_layers, limits.max_units) < 1:
        raise ValueError(f"limits too small: {limits.spec()}")
    b = Builder(ch, limits)
    out = b.head(b.body(b.first_layer()))
    model = b.model(out)
    inputs = tuple(b.vals["x"][i] for i in range(N_INPUTS))
    validate(model, inputs, b.signs)
    return Network(model, inputs, frozenset(b.features), " | ".join(b.layers), seed, limits, b.depth,
                   b.first_layer_mode, b.input_grid)


def generate(seed: int, limits: Limits | None = None) -> Network:
    """The network of `seed` (deterministic); a rare invalid draw is redrawn from a derived stream."""
    limits = limits or Limits()
    for attempt in range(ATTEMPTS):
        try:
            return build(SeededChoices(seed, f"try{attempt}" if attempt else ""), limits, seed)
        except InvalidNetwork:
            continue
    raise RuntimeError(f"seed {seed}: no valid network in {ATTEMPTS} draws ({limits.spec()})")


@st.composite
def networks(draw: st.DrawFn, limits: Limits | None = None) -> Network:
    """Hypothesis strategy over the same choices as `generate` (shrinks towards fewer features)."""
    try:
        return build(DrawnChoices(draw), limits or Limits())
    except InvalidNetwork:
        reject()


def chewc_command(machine: str | None = None, flags: str = "") -> str:
    """The command line that compiles, runs and checks a reproducer folder's model on its input."""
    m = f" --machine {machine}" if machine else ""
    return f"chewc model.onnx -o m.chew{m}{flags} && chewc-run m.chew --input input.npy --check model.onnx{m}"


def save_reproducer(net: Network, folder: Path, machine_toml: str | None = None, note: str = "") -> str:
    """Write model.onnx, input.npy (the inputs stacked), machine.toml (if any) and cmd.sh; return the command."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.onnx").write_bytes(net.model.SerializeToString())
    np.save(folder / "input.npy", np.stack(net.inputs))
    if machine_toml is not None:
        (folder / "machine.toml").write_text(machine_toml)
    command = chewc_command("machine.toml" if machine_toml is not None else None, net.chewc_flags)
    origin = f"python -m fuzz.difftest --replay {net.seed} --limits '{net.limits.spec()}'" if net.seed is not None else ""
    lines = ["#!/bin/sh", f"# {note}" if note else "", f"# network: {net.description}",
             f"# features: {' '.join(sorted(net.features))}", f"# regenerate: {origin}" if origin else "",
             'cd "$(dirname "$0")"', command]
    (folder / "cmd.sh").write_text("\n".join(line for line in lines if line) + "\n")
    return command
