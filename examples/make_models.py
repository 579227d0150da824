#!/usr/bin/env python3
"""Build the deterministic example ONNX models of chewc (described in examples/README.md).

    python examples/make_models.py [--out examples/models] [--stats]

Every model is written with ``onnx.helper`` in the style real BNN exporters produce: a first layer
that binarises a real-valued input, then ``Conv(W in ±1) -> BatchNormalization -> Sign``,
``MaxPool`` on ±1 maps, ``Flatten``, ±1 ``MatMul``/``Gemm`` -> BN or bias -> ``Sign``, and a last
±1 dense layer whose integer dot products are the scores (sometimes times a float scale).

The BatchNormalization statistics are calibrated: each layer is run (onnxruntime, one node at a
time) on a fixed batch of random inputs, and its running mean/variance are set around the measured
per-channel accumulator mean/variance, so that every Sign sees both signs. Each channel's
threshold (where the BN output crosses 0) is put half a step between two attainable accumulator
values, so that ONNX ``Sign`` never sees an exact 0 and float rounding cannot flip a bit.

Output is byte-identical on every run: seeded RNGs, exact integer statistics, fixed producer and
IR version, no timestamps.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from runtime.datasets import quantize_q17

OPSET = 13
IR_VERSION = 8  # fixed so that the bytes do not depend on the installed onnx version
PRODUCER = "chewc examples/make_models.py"
PRODUCER_VERSION = "1"
BN_EPSILON = 1e-5
PAPER_CIFAR10_MACS = 145e6  # 1.3 uJ at 223 TOPS/W (shared/chewbaccann.md)
Q17_STEP = 1.0 / 128.0  # accumulator lattice of a ±1 conv over Q1.7 inputs

InputKind = Literal["unit", "q17"]
INPUT_KIND_KEY = "chewc.input"  # metadata: "unit" = pixel/255 in [0,1], "q17" = CNV Q1.7 quantised pixels


def random_inputs(kind: InputKind, shape: tuple[int, ...], n: int, rng: np.random.Generator) -> np.ndarray:
    """n random model inputs: pixels k/255 ("unit") or their CNV Q1.7 quantisation ("q17")."""
    pixels = rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)
    if kind == "q17":
        return quantize_q17(pixels)
    return pixels.astype(np.float32) / np.float32(255.0)


def _session(model: onnx.ModelProto) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


class Builder:
    """Grows a single-chain graph node by node, pushing a calibration batch through each node."""

    def __init__(self, name: str, input_shape: tuple[int, ...], input_kind: InputKind, seed: int, calib_n: int) -> None:
        self.name = name
        self.input_shape = input_shape  # without the batch dimension
        self.input_kind = input_kind
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: dict[str, onnx.TensorProto] = {}
        self.layers: list[str] = []  # one summary line per layer
        self.macs_first = 0  # MACs of layers whose inputs are not ±1
        self.macs_binary = 0
        self.cur = "x"  # the tensor the next node consumes
        self.shape = input_shape
        self.val = random_inputs(input_kind, input_shape, calib_n, self.rng)  # calibration batch at `cur`
        self.step = Q17_STEP if input_kind == "q17" else 0.0  # accumulator lattice; 0: not yet binary
        self._counts: dict[str, int] = {}

    # -- graph plumbing --------------------------------------------------------------------------

    def _fresh(self, prefix: str) -> str:
        self._counts[prefix] = self._counts.get(prefix, 0) + 1
        return f"{prefix}{self._counts[prefix]}"

    def _const(self, prefix: str, value: np.ndarray | float) -> str:
        name = self._fresh(prefix)
        self.inits[name] = numpy_helper.from_array(np.asarray(value, dtype=np.float32), name)
        return name

    def _op(self, op: str, consts: list[str], prefix: str, out: str | None = None, *,
            operands: tuple[tuple[str, np.ndarray], ...] = (), **attrs: object) -> None:
        """Append `op(cur, *operands, *consts)` and push the calibration batch through it.

        `operands` are other tensors of the graph with their calibration batches (a residual Add).
        """
        name = self._fresh(prefix)
        feeds = {self.cur: self.val, **dict(operands)}
        node = helper.make_node(op, [*feeds, *consts], [out or name], name=name, **attrs)
        self.nodes.append(node)
        graph = helper.make_graph(
            [node],
            name,
            [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in feeds],
            [helper.make_tensor_value_info(node.output[0], TensorProto.FLOAT, None)],
            [self.inits[c] for c in consts],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION)
        (self.val,) = _session(model).run(None, feeds)
        self.cur = node.output[0]

    def _pm1(self, shape: tuple[int, ...]) -> np.ndarray:
        return (self.rng.integers(0, 2, size=shape) * 2 - 1).astype(np.float32)

    # -- thresholds and batch-norm statistics ----------------------------------------------------

    def _accumulator_stats(self, acc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact per-channel mean and variance (in lattice units) of accumulators (N, C, ...)."""
        channels = acc.shape[1]
        units = np.moveaxis(acc, 1, 0).reshape(channels, -1).astype(np.float64) / self.step
        ints = np.rint(units).astype(np.int64)
        assert np.array_equal(ints, units), "accumulators off their lattice"
        count = ints.shape[1]
        mean = ints.sum(axis=1) / count  # integer sums: exact, hence the same bytes everywhere
        var = (ints * ints).sum(axis=1) / count - mean * mean
        return mean, var

    def _thresholds(self, acc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-channel thresholds half a lattice step off the attainable values, near the mean.

        Returns (thresholds, accumulator variances), both in accumulator units.
        """
        if self.step == 0.0:
            raise ValueError(f"{self.name}: a layer on real-valued input; use Q1.7 input or binarize() first")
        mean, var = self._accumulator_stats(acc)
        std = np.sqrt(np.maximum(var, 1.0))
        offset = self.rng.uniform(-0.5, 0.5, size=mean.shape) * std
        return (np.floor(mean + offset) + 0.5) * self.step, np.maximum(var, 1.0) * self.step**2

    def _batchnorm(self) -> None:
        """BatchNormalization whose output changes sign at a calibrated threshold.

        gamma is mostly positive, some negative (an inverted comparison), a few exactly 0 (a
        constant channel: Sign(beta), beta != 0); a few running variances are tiny (a huge scale).
        """
        acc = self.val
        thresholds, acc_var = self._thresholds(acc)
        c = len(thresholds)
        perm = self.rng.permutation(c)
        zero, tiny = perm[: max(1, c // 64)], perm[max(1, c // 64) : max(1, c // 64) + max(1, c // 32)]
        gamma = self.rng.uniform(0.5, 1.5, size=c) * np.where(self.rng.random(c) < 0.15, -1.0, 1.0)
        gamma[zero] = 0.0
        running_var = acc_var * self.rng.uniform(0.7, 1.3, size=c)
        running_var[tiny] = self.rng.uniform(1e-7, 1e-4, size=len(tiny))
        beta = self.rng.normal(0.0, 0.3, size=c)
        beta[zero] = self.rng.uniform(0.2, 1.0, size=len(zero)) * self.rng.choice([-1.0, 1.0], size=len(zero))
        # y = gamma * (acc - mean) / sqrt(var + eps) + beta is 0 at acc = mean - beta * sqrt(var + eps) / gamma.
        scale = np.sqrt(running_var + BN_EPSILON)
        safe_gamma = np.where(gamma == 0.0, 1.0, gamma)
        running_mean = np.where(gamma == 0.0, thresholds, thresholds + beta * scale / safe_gamma)
        params = [self._const(p, v) for p, v in (("gamma", gamma), ("beta", beta))]
        params += [self._const(p, v) for p, v in (("mean", running_mean), ("var", running_var))]
        self._op("BatchNormalization", params, "bn", epsilon=BN_EPSILON)

    def _sign(self) -> None:
        self._op("Sign", [], "sign")
        self.step = 1.0

    def _count(self, macs: int, what: str) -> None:
        binary = self.step == 1.0
        if binary:
            self.macs_binary += macs
        else:
            self.macs_first += macs
        self.layers.append(f"{what}  [{macs / 1e6:.2f} M {'binary' if binary else 'first-layer'} MACs]")

    # -- layers ----------------------------------------------------------------------------------

    def binarize(self, mul: float | None, sub: float) -> None:
        """Sign(x * mul - sub) of the real-valued input (never 0 for pixels k/255)."""
        if mul is not None:
            self._op("Mul", [self._const("k", mul)], "mul")
        self._op("Sub", [self._const("k", sub)], "sub")
        self._sign()
        self.layers.append(f"binarize Sign(x{f'*{mul:g}' if mul is not None else ''}-{sub:g})")

    def conv_acc(self, cout: int, k: int, stride: int = 1, pad: int = 0) -> None:
        """Conv(W in ±1, no bias), leaving its integer accumulator; zero padding as ONNX defines it."""
        cin, h, w = self.shape
        ho, wo = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
        weight = self._const("w", self._pm1((cout, cin, k, k)))
        attrs = {"kernel_shape": [k, k], "strides": [stride, stride], "pads": [pad] * 4}
        self._op("Conv", [weight], "conv", **attrs)
        self._count(ho * wo * cout * cin * k * k, f"conv {k}x{k} s{stride} p{pad} {cin}->{cout} {h}x{w}->{ho}x{wo}")
        self.shape = (cout, ho, wo)

    def binarize_acc(self) -> None:
        """BatchNormalization -> Sign of the integer accumulator at `cur`."""
        self._batchnorm()
        self._sign()

    def conv(self, cout: int, k: int, stride: int = 1, pad: int = 0) -> None:
        """Conv(W in ±1, no bias) -> BatchNormalization -> Sign."""
        self.conv_acc(cout, k, stride, pad)
        self.binarize_acc()

    def maxpool(self, k: int = 2, stride: int | None = None, pad: int = 0) -> None:
        """MaxPool k x k (stride k unless given), on a ±1 map or an integer accumulator."""
        c, h, w = self.shape
        s = stride or k
        ho, wo = (h + 2 * pad - k) // s + 1, (w + 2 * pad - k) // s + 1
        self._op("MaxPool", [], "pool", kernel_shape=[k, k], strides=[s, s], **({"pads": [pad] * 4} if pad else {}))
        self.shape = (c, ho, wo)
        self.layers.append(f"maxpool {k}x{k}{f' s{s}' if s != k else ''}{f' p{pad}' if pad else ''} -> {c}x{ho}x{wo}")

    def flatten(self) -> None:
        self._op("Flatten", [], "flatten", axis=1)
        self.shape = (int(np.prod(self.shape)),)
        self.layers.append(f"flatten -> {self.shape[0]}")

    def _dense_acc(self, weight: np.ndarray, gemm: bool, bias: np.ndarray | None = None, out: str | None = None) -> None:
        """±1 dense layer with weight [out, in]; Gemm stores it PyTorch-style (transB), MatMul as [in, out]."""
        n_out, k = weight.shape
        self._count(k * n_out, f"{'gemm' if gemm else 'matmul'} {k}->{n_out}")
        if gemm:
            consts = [self._const("w", weight)] + ([self._const("b", bias)] if bias is not None else [])
            self._op("Gemm", consts, "gemm", out, transB=1)
        else:
            self._op("MatMul", [self._const("w", weight.T)], "matmul", out)
            if bias is not None:
                self._op("Add", [self._const("b", bias)], "add")
        self.shape = (n_out,)

    def dense(self, n_out: int, *, gemm: bool = False, norm: Literal["bn", "bias"] = "bn") -> None:
        """±1 MatMul/Gemm -> BatchNormalization or bias -> Sign."""
        weight = self._pm1((n_out, self.shape[0]))
        if norm == "bn":
            self._dense_acc(weight, gemm)
            self._batchnorm()
        else:
            # The bias (minus the threshold) must exist before the node: ±1 sums are exact in float64.
            thresholds, _ = self._thresholds(self.val.astype(np.float64) @ weight.T.astype(np.float64))
            self._dense_acc(weight, gemm, bias=-thresholds)
            self.layers[-1] += " + bias"
        self._sign()

    def scores(self, n_out: int, *, gemm: bool = False, scale: float | None = None) -> None:
        """Last ±1 dense layer: integer dot products, optionally times a float scale."""
        self._dense_acc(self._pm1((n_out, self.shape[0])), gemm, out=None if scale is not None else "scores")
        if scale is not None:
            self._op("Mul", [self._const("k", scale)], "mul", "scores")
            self.layers[-1] += f" * {scale:g}"

    def model(self, doc: str) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes,
            self.name,
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, *self.input_shape])],
            [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, *self.shape])],
            list(self.inits.values()),
        )
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", OPSET)],
            ir_version=IR_VERSION,
            producer_name=PRODUCER,
            producer_version=PRODUCER_VERSION,
            doc_string=doc,
        )
        helper.set_model_props(model, {INPUT_KIND_KEY: self.input_kind})
        onnx.checker.check_model(model, full_check=True)
        return model

    def summary(self) -> str:
        total = self.macs_first + self.macs_binary
        lines = [f"{self.name}: input [1,{','.join(map(str, self.input_shape))}] ({self.input_kind})"]
        lines += [f"  {layer}" for layer in self.layers]
        lines.append(
            f"  total {total / 1e6:.2f} M MACs ({self.macs_binary / 1e6:.2f} M binary, "
            f"{self.macs_first / 1e6:.2f} M first-layer)"
        )
        return "\n".join(lines)


# -- the models ----------------------------------------------------------------------------------


def build_mlp() -> Builder:
    b = Builder("mlp", (1, 28, 28), "unit", seed=1, calib_n=256)
    b.flatten()
    b.binarize(mul=2.0, sub=1.0)
    b.dense(256)
    b.dense(256)
    b.scores(10)
    return b


def build_vgg_cifar() -> Builder:
    # VGG widths, the second widened to 96 so that the 32x32 maps of the first block (64 in, 96 out)
    # fit the default 64 KiB FMEM but not a quarter of it: the quarter machine must spill them to DRAM.
    # A fourth pool keeps the dense layer, and so the file, small.
    b = Builder("vgg_cifar", (3, 32, 32), "q17", seed=2, calib_n=32)
    for i, cout in enumerate((64, 96, 128, 128, 256, 256)):
        b.conv(cout, 3, pad=1)
        if i % 2:
            b.maxpool()
    b.maxpool()
    b.flatten()
    b.dense(256, gemm=True)
    b.scores(10, gemm=True, scale=0.0625)
    return b


def build_cnn_5x5_7x7() -> Builder:
    # Most MACs on 32x32 maps, where each weight is reused 1024 times, so 145 M MACs fit in ~4 MB.
    b = Builder("cnn_5x5_7x7", (3, 32, 32), "q17", seed=3, calib_n=32)
    b.conv(32, 5, pad=2)
    b.conv(32, 5, pad=2)
    b.conv(50, 7, pad=3)
    b.maxpool()
    b.conv(64, 7)
    b.conv(128, 5, pad=2)
    b.maxpool()
    b.conv(128, 5)
    b.flatten()
    b.dense(256, norm="bias")
    b.scores(10)
    total = b.macs_first + b.macs_binary
    if abs(total - PAPER_CIFAR10_MACS) > 0.05 * PAPER_CIFAR10_MACS:
        raise SystemExit(f"cnn_5x5_7x7 has {total / 1e6:.1f} M MACs, want 145 M +-5 %")
    return b


def build_cnn_9x9_11x11() -> Builder:
    b = Builder("cnn_9x9_11x11", (3, 64, 64), "unit", seed=4, calib_n=32)
    b.binarize(mul=None, sub=0.5)
    b.conv(16, 11, stride=2, pad=5)
    b.conv(32, 9, stride=2)
    b.conv(32, 9, pad=4)
    b.maxpool()
    b.flatten()
    b.dense(64, gemm=True, norm="bias")
    b.scores(10, scale=0.25)
    return b


MODELS: dict[str, tuple[Callable[[], Builder], str]] = {
    "mlp": (build_mlp, "Binary MLP 784-256-256-10 for MNIST-like [0,1] inputs; input binarised by Sign(2x-1)."),
    "vgg_cifar": (build_vgg_cifar, "VGG-style binary CNN, 3x3 convs with zero padding 1; input is CNV Q1.7."),
    "cnn_5x5_7x7": (build_cnn_5x5_7x7, "Binary CNN with 5x5 and 7x7 kernels, ~145 M MACs; input is CNV Q1.7."),
    "cnn_9x9_11x11": (build_cnn_9x9_11x11, "Binary CNN with 9x9 and 11x11 kernels, stride 2; input binarised by Sign(x-0.5)."),
}


# -- sanity statistics ---------------------------------------------------------------------------


@dataclass
class SignStats:
    tensor: str
    plus: float  # fraction of +1 over all positions and inputs
    varying: float  # fraction of positions that are +1 for some inputs and -1 for others
    zeros: int  # exact zeros (Sign(0)); must be none


def input_spec(model: onnx.ModelProto) -> tuple[InputKind, tuple[int, ...]]:
    """The input encoding (metadata `chewc.input`) and shape without the batch dimension."""
    kind = next(p.value for p in model.metadata_props if p.key == INPUT_KIND_KEY)
    if kind != "unit" and kind != "q17":
        raise ValueError(f"unknown {INPUT_KIND_KEY} = {kind!r}")
    return kind, tuple(d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim[1:])


def activation_stats(model: onnx.ModelProto, inputs: np.ndarray) -> tuple[list[SignStats], np.ndarray]:
    """Statistics of every Sign output, and the scores (n, classes), over inputs (n, ...)."""
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    signs = [node.output[0] for node in model.graph.node if node.op_type == "Sign"]
    probe.graph.output.extend(helper.make_empty_tensor_value_info(s) for s in signs)
    session = _session(probe)
    runs = [session.run(None, {"x": x[np.newaxis]}) for x in inputs]
    scores = np.concatenate([r[0] for r in runs])
    stats = []
    for i, name in enumerate(signs, start=1):
        acts = np.stack([r[i] for r in runs])
        positive = acts > 0
        stats.append(
            SignStats(
                name,
                plus=float(positive.mean()),
                varying=float((positive.any(axis=0) & ~positive.all(axis=0)).mean()),
                zeros=int((acts == 0).sum()),
            )
        )
    return stats, scores


def degeneracy_problems(stats: list[SignStats], scores: np.ndarray) -> list[str]:
    """Reasons why a model's binary layers or scores look degenerate (empty if they do not)."""
    problems = [f"{s.tensor}: {s.zeros} exact zeros" for s in stats if s.zeros]
    problems += [f"{s.tensor}: {s.plus:.0%} of bits are +1" for s in stats if not 0.1 <= s.plus <= 0.9]
    problems += [f"{s.tensor}: only {s.varying:.0%} of bits vary" for s in stats if s.varying < 0.5]
    if np.any(scores.std(axis=0) == 0):
        problems.append("some class score is the same for every input")
    if len(np.unique(scores.argmax(axis=1))) < 2:
        problems.append("every input gets the same class")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "models")
    parser.add_argument("--stats", action="store_true", help="print and check activation statistics")
    parser.add_argument("--only", choices=sorted(MODELS), action="append", help="build only these models")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    failed = False
    for name, (build, doc) in MODELS.items():
        if args.only and name not in args.only:
            continue
        builder = build()
        model = builder.model(doc)
        path = args.out / f"{name}.onnx"
        path.write_bytes(model.SerializeToString())
        print(builder.summary())
        print(f"  {path}: {path.stat().st_size / 1e6:.2f} MB")
        if args.stats:
            kind, shape = input_spec(model)
            inputs = random_inputs(kind, shape, 64, np.random.default_rng(100))
            stats, scores = activation_stats(model, inputs)
            for s in stats:
                print(f"  {s.tensor:8s} +1 {s.plus:6.1%}  varying {s.varying:6.1%}  zeros {s.zeros}")
            print(f"  scores: mean {scores.mean():.2f} std {scores.std():.2f}, "
                  f"{len(np.unique(scores.argmax(axis=1)))} distinct argmax over {len(scores)} inputs")
            for problem in degeneracy_problems(stats, scores):
                print(f"  DEGENERATE: {problem}")
                failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
