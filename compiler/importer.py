"""ONNX/QONNX -> `bnn` dialect.

The importer walks the folded graph in topological order and classifies every ONNX value as
  bits  a ±1 tensor (after Sign/BipolarQuant/MultiThreshold), a `!bnn.bits` SSA value;
  int   an integer accumulator (a binary conv or dense) plus the chain of per-channel float ops
        (bias Add, Mul/Sub/Div scales, BatchNormalization, reshapes) applied to it so far;
  float anything else, computed on the host.
A binarisation of an `int` value folds its chain into exact thresholds; consecutive float nodes are
grouped into one `bnn.host` op that embeds the original ONNX nodes and says why they stay on the host.
Nothing is dropped: every node ends up in a `bnn` op or in a host op.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import onnx
from xdsl.builder import ImplicitBuilder
from xdsl.dialects import func
from xdsl.dialects.builtin import ArrayAttr, ModuleOp, StringAttr, TensorType, f32
from xdsl.ir import Block, Operation, SSAValue
from xdsl.utils.exceptions import VerifyException
from xdsl.transforms.dead_code_elimination import region_dce

from compiler import first_layer as fl
from compiler.onnx_loader import Graph, attributes, describe, load_graph
from compiler.provenance import ModelSource
from compiler.threshold_folding import (
    AFFINE_OPS,
    SHAPE_OPS,
    Reach,
    Uncertain,
    bipolar_scale,
    data_input,
    fold_thresholds,
)
from dialects import bnn
from dialects.bnn_kernels import maxpool
from dialects.chewbacca import set_machine
from isa.container import Planes
from isa.errors import ChewcError, one_line
from isa.machine import Machine, load_machine
from runtime.onnx_ref import HOST_OPS, QONNX_DOMAINS, QONNX_OPS, OnnxExecutor

BINARISERS = {"Sign", "BipolarQuant", "MultiThreshold"}


@dataclass
class Value:
    kind: Literal["bits", "int", "float"]
    ssa: SSAValue | None = None  # None: a float still pending in the current host cluster
    raw: str = ""  # int: the ONNX name of the accumulator the chain starts from
    chain: list[onnx.NodeProto] = field(default_factory=list)
    reach: Reach | None = None
    # int from a Gemm that onnxruntime computes fused (alpha != 1 or a bias C): its float result depends
    # on the order of summation, so the host reruns the node itself on its ±1 input, standing for the
    # first `fused.length` nodes of the chain
    fused: FusedGemm | None = None
    # bits padded by an ONNX Pad, not yet materialised: a following conv takes it as its own padding
    pad: PadOf | None = None


@dataclass(frozen=True)
class PadOf:
    node: onnx.NodeProto  # the Pad
    pads: tuple[int, int, int, int]  # top, left, bottom, right
    value: str  # a bnn.conv2d pad value: "+1", "-1" or "zero"


@dataclass(frozen=True)
class FusedGemm:
    node: onnx.NodeProto  # the original Gemm
    x: SSAValue  # its ±1 input
    length: int  # chain nodes it stands for
    gain: float  # alpha * weight scale: the exact result is gain * sum + offset
    offset: np.ndarray  # beta * C per output
    error: np.ndarray  # per output: bound of |onnxruntime's result - the exact result|

    def uncertain(self) -> Uncertain:
        return Uncertain(self.length, lambda acc: self.gain * acc[:, None] + self.offset[None, :], self.error)


class Importer:
    def __init__(self, graph: Graph, machine: Machine, first_layer: str = "auto", input_grid: Planes | None = None):
        self.g = graph
        self.machine = machine
        self.first_layer = first_layer
        self.input_grid = input_grid
        self.values: dict[str, Value] = {}
        self.pending: list[onnx.NodeProto] = []
        self.reasons: list[str] = []
        self.refusals: list[str] = []  # --first-layer=bitplane: why a multi-bit conv has no bit-plane form
        self.host_reasons: dict[str, str] = {}  # by output: why a multi-bit conv stays on the host
        self.block = Block()  # @main's body, once `run` builds it

    # -- entry -------------------------------------------------------------------------------

    def run(self) -> ModuleOp:
        g = self.g
        in_type = TensorType(f32, g.shape(g.input_name))
        module = ModuleOp([])
        with ImplicitBuilder(module.body):
            fn = func.FuncOp("main", ((in_type,), ()))
            with ImplicitBuilder(fn.body) as (x,):
                self.block = fn.body.block
                self.values[g.input_name] = Value("float", x)
                for node in g.nodes:
                    self.visit(node)
                results = [self.materialise(name) for name in g.output_names]
                func.ReturnOp(*results)
        if self.first_layer == "bitplane" and not any(isinstance(o, bnn.BitplaneConv2dOp) for o in module.walk()):
            why = self.refusals[0] if self.refusals else "the model has no conv of a multi-bit input"
            raise ChewcError(f"--first-layer=bitplane: no layer maps by bit planes: {why}")
        fn.function_type = func.FunctionType.from_lists([in_type], [r.type for r in results])
        fn.attributes["bnn.inputs"] = ArrayAttr([StringAttr(g.input_name)])
        fn.attributes["bnn.outputs"] = ArrayAttr([StringAttr(n) for n in g.output_names])
        self.name_values()
        module.verify()
        return module

    def name_values(self) -> None:
        """Mark each op whose result equals an ONNX tensor (so layers can be compared one by one)."""
        real = {o for n in self.g.nodes for o in n.output}
        for name, v in self.values.items():
            owner = v.ssa.owner if v.ssa is not None else None
            if name in real and not (v.kind == "int" and v.chain) and isinstance(owner, Operation):
                if bnn.ONNX_NAME not in owner.attributes:
                    owner.attributes[bnn.ONNX_NAME] = StringAttr(name)

    # -- node dispatch -------------------------------------------------------------------------

    def visit(self, node: onnx.NodeProto) -> None:
        """Import one node; an op it makes that does not verify means the model's shapes disagree. The ops
        it makes carry its name (`bnn.ONNX_NODE`), down to the instructions they become."""
        last = self.block.last_op
        self.dispatch(node)
        op = last.next_op if last is not None else self.block.first_op
        while node.name and op is not None:
            if bnn.ONNX_NODE not in op.attributes:
                op.attributes[bnn.ONNX_NODE] = StringAttr(node.name)
            op = op.next_op
        for out in node.output:
            v = self.values.get(out)
            owner = v.ssa.owner if v is not None and v.ssa is not None else None
            if isinstance(owner, Operation):
                try:
                    owner.verify_()  # the op's own constraints (the block is still being built)
                except VerifyException as e:
                    raise ChewcError(f"{describe(node)}: {one_line(str(e))} (the shapes the model declares or "
                                     "implies are inconsistent)") from e

    def dispatch(self, node: onnx.NodeProto) -> None:
        if node.domain not in ("", "ai.onnx", *QONNX_DOMAINS):
            raise ChewcError(f"{describe(node)}: op {node.domain}.{node.op_type} is not supported")
        for i, name in enumerate(node.input):
            v = self.values.get(name)
            if v is not None and v.pad is not None and not (i == 0 and self.takes_pad(node, v.pad)):
                self.materialise_pad(name, v)
        ins = [self.values.get(n) for n in node.input if n and n not in self.g.constants]
        kinds = {v.kind for v in ins if v is not None}
        op = node.op_type
        if op in BINARISERS and kinds == {"int"}:
            return self.threshold(node)
        if op in BINARISERS and kinds == {"bits"}:
            return self.rebinarise(node)
        if op in BINARISERS and kinds == {"float"} and op != "MultiThreshold":
            return self.sign(node)
        if op == "Conv" and kinds == {"float"} and self.first_layer != "host" and self.bitplane_layer(node):
            return None
        if op in ("Conv", "MatMul", "Gemm") and kinds == {"bits"} and node.input[0] not in self.g.constants \
                and all(n == "" or n in self.g.constants for n in node.input[1:]):
            return self.binary_layer(node)
        if kinds == {"int"} and len(ins) == 1 and (op in SHAPE_OPS or op in AFFINE_OPS and self.constant_operands(node)):
            return self.extend_chain(node)
        if kinds == {"bits"} and len(ins) == 1 and op in SHAPE_OPS:
            return self.reshape(node)
        if op == "MaxPool" and len(ins) == 1 and (kinds == {"bits"} or kinds == {"int"} and not ins[0].chain):
            return self.maxpool(node)
        if op == "Add" and kinds == {"int"} and len(ins) == 2 and not ins[0].chain and not ins[1].chain:
            return self.add(node)
        if op == "Pad" and kinds == {"bits"} and len(ins) == 1 and (pad := self.pad_of(node)) is not None:
            self.values[node.output[0]] = Value("bits", self.values[node.input[0]].ssa, pad=pad)
            return None
        if op not in HOST_OPS | QONNX_OPS:
            raise ChewcError(f"{describe(node)}: op {op} is not supported (neither binary nor a known host op)")
        self.to_host(node, ins, self.host_reasons.get(node.output[0], ""))

    def pad_of(self, node: onnx.NodeProto) -> PadOf | None:
        """A constant Pad of a ±1 map by +1, -1 or 0 over rows and columns only, else None (the host)."""
        attrs = attributes(node)
        mode = attrs.get("mode", b"constant")
        consts = [self.g.constants.get(n) if n else None for n in node.input[1:]]
        if mode not in (b"constant", "constant") or len(node.input) > 3 and node.input[3]:  # no axes input
            return None
        pads = attrs.get("pads") if "pads" in attrs else consts[0] if consts else None
        value = attrs.get("value", 0.0) if len(node.input) < 3 or not node.input[2] else consts[1]
        if pads is None or value is None or np.size(value) != 1:
            return None
        p = [int(v) for v in np.asarray(pads).reshape(-1)]
        fill = float(np.asarray(value).reshape(-1)[0])  # type: ignore[arg-type]
        if len(p) != 8 or min(p) < 0 or any(p[i] for i in (0, 1, 4, 5)) or fill not in (1.0, -1.0, 0.0):
            return None
        return PadOf(node, (p[2], p[3], p[6], p[7]), {1.0: "+1", -1.0: "-1", 0.0: "zero"}[fill])

    def takes_pad(self, node: onnx.NodeProto, pad: PadOf) -> bool:
        """Whether a binary conv can take the Pad before it as its own padding: it pads nothing more, or
        pads with zeros too."""
        if node.op_type != "Conv" or any(n and n not in self.g.constants for n in node.input[1:]):
            return False
        attrs = attributes(node)
        w = self.g.constants.get(node.input[1])
        if w is None or np.ndim(w) != 4:
            return False
        own = self.conv_pads(node, attrs, self.g.shape(node.input[0], node)[2:], np.shape(w)[2:],
                             attrs.get("strides", [1, 1]), attrs.get("dilations", [1, 1]))
        return not any(own) or pad.value == "zero"

    def materialise_pad(self, name: str, v: Value) -> None:
        """A Pad a conv does not take: the host pads (its ±1 result comes back as bits)."""
        assert v.pad is not None
        self.to_host(v.pad.node, [self.values[v.pad.node.input[0]]])
        if v.pad.value != "zero":
            self.set_bits(v.pad.node, bnn.SignOp(self.float_ssa(name), "reject").output)

    def constant_operands(self, node: onnx.NodeProto) -> bool:
        """An affine op whose other operands are constants (BatchNormalization: all but the data)."""
        return sum(1 for n in node.input if n and n not in self.g.constants) == 1

    # -- binary ops ----------------------------------------------------------------------------

    def binary_layer(self, node: onnx.NodeProto) -> None:
        g = self.g
        x = self.values[node.input[0]]
        assert x.ssa is not None
        wname = node.input[1]
        if wname not in g.constants:
            raise ChewcError(f"{describe(node)}: weights '{wname}' are not constant")
        w = np.asarray(g.constants[wname], np.float64)
        attrs = attributes(node)
        chain: list[onnx.NodeProto] = []
        if node.op_type == "Conv":
            if attrs.get("group", 1) != 1:
                raise ChewcError(f"{describe(node)}: grouped convolution (group={attrs['group']}) is not supported")
            scale = self.weight_scale(node, w)
            kh, kw = w.shape[2:]
            strides = attrs.get("strides", [1, 1])
            dil = attrs.get("dilations", [1, 1])
            pads = self.conv_pads(node, attrs, g.shape(node.input[0])[2:], (kh, kw), strides, dil)
            fill = "zero"
            if x.pad is not None:  # an ONNX Pad before the conv: its padding, in the conv's pad mode
                pads, fill = [a + b for a, b in zip(pads, x.pad.pads, strict=True)], x.pad.value
            op = bnn.Conv2dOp(x.ssa, np.sign(w).astype(np.int8), strides, dil, pads, fill)
            # every window holds fanin ±1 terms unless zero padding gates some
            reach = Reach.dot(int(np.prod(w.shape[1:])), exact_fanin=fill != "zero" or not any(pads))
            if len(node.input) > 2 and node.input[2]:
                chain.append(self.const_node("Add", node, node.input[2], (1, -1, 1, 1)))
        else:
            if node.op_type == "Gemm":
                if attrs.get("transA", 0):
                    raise ChewcError(f"{describe(node)}: Gemm with transA=1 is not supported")
                w = w.T if attrs.get("transB", 0) else w
            if w.ndim != 2 or len(g.shape(node.input[0])) != 2:
                raise ChewcError(f"{describe(node)}: only 2-D [1, K] x [K, M] products are binary layers")
            scale = self.weight_scale(node, w)
            op = bnn.DenseOp(x.ssa, np.sign(w.T).astype(np.int8))
            reach = Reach.dot(w.shape[0], exact_fanin=True)
            if node.op_type == "Gemm":
                if attrs.get("alpha", 1.0) != 1.0:
                    chain.append(self.scalar_node("Mul", node, attrs["alpha"]))
                if len(node.input) > 2 and node.input[2]:
                    bias = gemm_bias(node, g.constants[node.input[2]], w.shape[1]).astype(np.float32)
                    bias = bias * np.float32(attrs.get("beta", 1.0))
                    chain.append(self.const_node("Add", node, self.add_const(f"{node.output[0]}__bias", bias), None))
        if scale is not None:
            chain.insert(0, self.scalar_node("Mul", node, scale))
        fused = self.fused_gemm(node, attrs, x.ssa, w, len(chain)) if node.op_type == "Gemm" else None
        self.int_value(node, op.output, chain, reach, fused)

    def int_value(self, node: onnx.NodeProto, acc: SSAValue, chain: list[onnx.NodeProto], reach: Reach,
                  fused: FusedGemm | None = None) -> None:
        """The output of `node` as the integer `acc` followed by the float `chain` (wired up here)."""
        raw = f"{node.output[0]}__acc" if chain else node.output[0]
        if chain:
            chain[0].input[0] = raw
            for a, b in zip(chain, chain[1:]):
                b.input[0] = a.output[0]
            chain[-1].output[0] = node.output[0]
            for name in (raw, *(n.output[0] for n in chain)):
                self.g.shapes[name] = self.g.shape(node.output[0], node)
                self.g.elem_types[name] = onnx.TensorProto.FLOAT
        self.values[node.output[0]] = Value("int", acc, raw=raw, chain=chain, reach=reach, fused=fused)

    def bitplane_layer(self, node: onnx.NodeProto) -> bool:
        """A conv of a multi-bit input on the array by bit planes, if it may and should be (`first_layer`);
        else False, with the reason kept for the host step."""
        why = self.bitplane_refusal(node)
        if isinstance(why, str):
            if self.first_layer == "bitplane":
                self.refusals.append(why)
            self.host_reasons[node.output[0]] = f"{describe(node)}: multi-bit input activations (not by bit planes: {why})"
            return False
        planes, w, scale, strides, dil, pads = why
        if self.first_layer == "auto":
            work = self.conv_work(node, w, pads)
            host, array = fl.host_seconds(self.machine, work), fl.bitplane_seconds(self.machine, planes, work)
            if host <= array:
                self.host_reasons[node.output[0]] = (
                    f"{describe(node)}: multi-bit input activations (by bit planes {array * 1e6:.3g} us, on the "
                    f"host {host * 1e6:.3g} us, estimated)")
                return False
        x = bnn.BitplanesOp(self.float_ssa(node.input[0]), planes)
        signs = np.sign(w).astype(np.int8)
        op = bnn.BitplaneConv2dOp(x.output, signs, planes, strides, dil, pads)
        # the array holds 2 * sum(w * q) - S[o] * sum_b weight(b); the chain makes it the model's sum of w * x
        # again, exactly
        fanin, planes_sum = int(np.prod(w.shape[1:])), sum(planes.weights())
        offset = -planes_sum * signs.reshape(len(signs), -1).sum(axis=1)
        total = self.add_const(f"{node.output[0]}__wsum", offset.reshape(1, -1, 1, 1))
        chain = [self.const_node("Sub", node, total, None),
                 self.scalar_node("Mul", node, 0.5 * 2.0**planes.exponent * (scale or 1.0))]
        if len(node.input) > 2 and node.input[2]:
            chain.append(self.const_node("Add", node, node.input[2], (1, -1, 1, 1)))
        m = 2 * fanin * max(-planes.range[0], planes.range[1]) + fanin * abs(planes_sum)
        self.int_value(node, op.output, chain, Reach(-m, m, 2))  # every sum of planes is odd: fanin's parity
        return True

    def bitplane_refusal(self, node: onnx.NodeProto):  # noqa: ANN201
        """Why the conv `node` of a float input has no bit-plane form, or what it needs to get one:
        (planes, weights, weight scale, strides, dilations, pads)."""
        g, attrs = self.g, attributes(node)
        grid = self.grid_of(node.input[0])
        if isinstance(grid, str):
            return grid
        if node.input[1] not in g.constants or any(n and n not in g.constants for n in node.input[2:]):
            return "its weights or bias are not constant"
        w = np.asarray(g.constants[node.input[1]], np.float64)
        if w.ndim != 4 or attrs.get("group", 1) != 1:
            return "only a 2-D conv with group = 1 splits into bit planes"
        try:
            scale = self.weight_scale(node, w)
        except ChewcError as e:
            return str(e).split(": ", 1)[-1]
        strides, dil = list(attrs.get("strides", [1, 1])), list(attrs.get("dilations", [1, 1]))
        a = self.machine.array
        if w.shape[2] > a.window_h or w.shape[3] > a.window_w or strides[0] != strides[1] or dil[0] != dil[1]:
            return (f"kernel {w.shape[2]}x{w.shape[3]}, strides {strides}, dilations {dil}: the planes run as one "
                    f"window of up to {a.window_h}x{a.window_w} with one stride")
        pads = self.conv_pads(node, attrs, g.shape(node.input[0])[2:], w.shape[2:], strides, dil)
        if min(pads) < 0:
            return f"pads {pads} crop the input"
        bound, limit = fl.plane_sum_bound(grid, int(np.prod(w.shape[1:]))), 2 ** (self.machine.memory.acc.word_bits - 1) - 1
        if bound > limit:
            return (f"the sums of {grid.bits} planes over {int(np.prod(w.shape[1:]))} inputs reach {bound}, beyond "
                    f"the {self.machine.memory.acc.word_bits}-bit accumulator")
        return grid, w, scale, strides, dil, pads

    def grid_of(self, name: str) -> Planes | str:
        """The integer grid a float value lies on, or why none is known."""
        if name == self.g.input_name and self.input_grid is not None:
            return self.input_grid
        producer = self.g.nodes[self.g.producers[name]] if name in self.g.producers else None
        if producer is not None and producer.op_type == "Quant" and producer.domain in QONNX_DOMAINS:
            return fl.quant_grid(self.g, producer)
        if name == self.g.input_name:
            return "the model input is float (declare its grid with --input-grid BITS,EXPONENT)"
        return "the input is not the output of a QONNX Quant, so its integer grid is unknown"

    def conv_work(self, node: onnx.NodeProto, w: np.ndarray, pads: list[int]) -> fl.ConvWork:
        _, c, h, wd = self.g.shape(node.input[0], node)
        _, o, oh, ow = self.g.shape(node.output[0], node)
        return fl.ConvWork(c, o, oh, ow, w.shape[2], w.shape[3], h + pads[0] + pads[2], wd + pads[1] + pads[3])

    def fused_gemm(self, node: onnx.NodeProto, attrs: dict[str, object], x: SSAValue, w: np.ndarray,
                   length: int) -> FusedGemm | None:
        """A Gemm whose result onnxruntime rounds as it sums (alpha != 1 or a nonzero bias): measured, its
        output is not a function of the integer sum alone (it differs by an ulp from alpha*sum + beta*C)."""
        alpha, beta = float(attrs.get("alpha", 1.0)), float(attrs.get("beta", 1.0))  # type: ignore[arg-type]
        has_c = len(node.input) > 2 and node.input[2] != ""
        c = gemm_bias(node, self.g.constants[node.input[2]], w.shape[1]) if has_c else 0.0
        if alpha == 1.0 and not np.any(beta * np.asarray(c) != 0):
            return None
        k, s = w.shape[0], float(np.abs(w).max())
        offset = beta * np.asarray(c, np.float64) + np.zeros(w.shape[1])
        # any order of the K + 1 float32 additions (FMA or not): |error| <= (K + 2) u * sum |terms|, u = 2**-24
        error = (k + 2) * 2.0**-24 * (np.abs(offset) + abs(alpha) * s * k) * 1.001
        return FusedGemm(node, x, length, alpha * s, offset, error)

    def weight_scale(self, node: onnx.NodeProto, w: np.ndarray) -> float | None:
        """±1 weights, or ±s with one power-of-two s (then x*s sums stay exact in float32)."""
        if not np.isfinite(w).all():
            raise ChewcError(f"{describe(node)}: weights are not finite")
        mags = np.unique(np.abs(w))
        if len(mags) != 1 or mags[0] == 0:
            bad = next((float(m) for m in mags if m != mags.max() or m == 0), float(mags[0]))
            raise ChewcError(f"{describe(node)}: weights are not ±1 (found {bad:g})")
        s = float(mags[0])
        if s == 1.0:
            return None
        if np.log2(s) != np.round(np.log2(s)):
            raise ChewcError(f"{describe(node)}: weights are ±{s:g} on activations that are not ±1 or ±a by "
                             "construction (a Sign or BipolarQuant, through shape ops and max-pools): no exact "
                             "integer reading of its sums")
        fanin = int(np.prod(w.shape)) // (w.shape[0] if node.op_type == "Conv" else w.shape[1])
        if not 2.0**-126 <= s or fanin * s >= 2.0**128:
            # float32 sums of fanin terms +-s are exact only between the normal range's ends
            raise ChewcError(
                f"{describe(node)}: weights are ±{s:g}: sums of {fanin} of them leave float32's exact range "
                "(the reference would overflow or lose precision)"
            )
        return s

    def conv_pads(self, node, attrs, hw, kernel, strides, dil) -> list[int]:  # noqa: ANN001
        auto = attrs.get("auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else auto
        if auto in ("NOTSET", ""):
            p = list(attrs.get("pads", [0, 0, 0, 0]))
            return [p[0], p[1], p[2], p[3]]
        if auto == "VALID":
            return [0, 0, 0, 0]
        pads = [0, 0, 0, 0]
        for ax in range(2):
            out = -(-hw[ax] // strides[ax])
            total = max(0, (out - 1) * strides[ax] + (kernel[ax] - 1) * dil[ax] + 1 - hw[ax])
            small, big = total // 2, total - total // 2
            pads[ax], pads[ax + 2] = (small, big) if auto == "SAME_UPPER" else (big, small)
        return pads

    def threshold(self, node: onnx.NodeProto) -> None:
        v = self.values[node.input[0]]
        assert v.reach is not None and v.ssa is not None
        folded = fold_thresholds(self.g, v.raw, v.chain, node, v.reach, v.fused.uncertain() if v.fused else None)
        if folded is None:
            # not provable: the host runs the Gemm and its chain as written; ±1 values leave it as bits
            assert v.fused is not None
            self.to_host(node, [v], f"{describe(v.fused.node)}: onnxruntime rounds this Gemm as it sums, and a "
                         "reachable result lies within that rounding of the binarisation threshold")
            self.set_bits(node, bnn.SignOp(self.float_ssa(node.output[0]), "reject").output)
            return
        thresholds, modes = folded
        op = bnn.ThresholdOp(v.ssa, thresholds, modes)
        self.set_bits(node, op.output)

    def rebinarise(self, node: onnx.NodeProto) -> None:
        """Sign/BipolarQuant of a value that is already ±1 leaves it unchanged (scale 1)."""
        if node.op_type == "BipolarQuant":
            bipolar_scale(self.g, node)
        if node.op_type == "MultiThreshold":
            return self.to_host(node, [self.values[node.input[0]]])
        self.set_bits(node, self.values[node.input[0]].ssa)

    def sign(self, node: onnx.NodeProto) -> None:
        if node.op_type == "BipolarQuant":
            bipolar_scale(self.g, node)
        x = self.float_ssa(node.input[0])
        zero = "plus" if node.op_type == "BipolarQuant" else "reject"
        self.set_bits(node, bnn.SignOp(x, zero).output)

    def reshape(self, node: onnx.NodeProto) -> None:
        x = self.values[node.input[0]].ssa
        assert x is not None
        self.set_bits(node, bnn.ReshapeOp(x, self.g.shape(node.output[0], node)).output)

    def maxpool(self, node: onnx.NodeProto) -> None:
        v = self.values[node.input[0]]
        assert v.ssa is not None
        geometry = self.pool_geometry(node)
        if isinstance(geometry, str):  # onnxruntime's geometry, as computed, has no bnn.maxpool form
            self.to_host(node, [v], f"{describe(node)}: {geometry}")
            if v.kind == "bits":  # the host's max of ±1 values is ±1
                self.set_bits(node, bnn.SignOp(self.float_ssa(node.output[0]), "reject").output)
            return
        op = bnn.MaxPoolOp(v.ssa, *geometry)
        if v.kind == "bits":
            self.set_bits(node, op.output)
        else:
            self.values[node.output[0]] = Value("int", op.output, raw=node.output[0], reach=v.reach)

    def pool_geometry(self, node: onnx.NodeProto) -> tuple[list[int], list[int], list[int], list[int]] | str:
        """(kernel, strides, pads, dilations) of a bnn.maxpool that computes exactly what onnxruntime
        computes for this MaxPool, or why there is none.

        ONNX's auto_pad rules give the leading pads; the output size is onnxruntime's (its ceil mode drops
        a last window that would start past the input), which larger trailing pads express. The geometry
        is then checked against onnxruntime itself on random data, so any rule it applies differently
        sends the pool to the host rather than giving a different result.
        """
        attrs = attributes(node)
        hw = self.g.shape(node.input[0], node)[2:]
        k = list(attrs.get("kernel_shape", []))  # type: ignore[call-overload]
        if len(k) != 2 or len(hw) != 2:
            return "only 2-D max-pools run on the array"
        s = list(attrs.get("strides", [1, 1]))  # type: ignore[call-overload]
        d = list(attrs.get("dilations", [1, 1]))  # type: ignore[call-overload]
        pads = self.conv_pads(node, attrs, hw, k, s, d)
        ceil = bool(attrs.get("ceil_mode", 0))
        for ax in range(2):
            ext = d[ax] * (k[ax] - 1) + 1
            span = hw[ax] + pads[ax] + pads[ax + 2] - ext
            out = (-(-span // s[ax]) if ceil else span // s[ax]) + 1
            if ceil and (out - 1) * s[ax] >= hw[ax] + pads[ax]:
                out -= 1
            # the end pads for which the floor formula gives `out`: [need, need + stride - 1]
            need = (out - 1) * s[ax] + ext - hw[ax] - pads[ax]
            pads[ax + 2] = min(max(pads[ax + 2], need), need + s[ax] - 1)
        # onnxruntime itself, on distinct values: what it computes, and the shape it gives
        shape = self.g.shape(node.input[0], node)
        x = np.random.default_rng(0).permutation(int(np.prod(shape))).reshape(shape).astype(np.float32)
        ref = OnnxExecutor(self.g.submodel([node], [node.input[0]], [node.output[0]])).run({node.input[0]: x})[node.output[0]]
        want = self.g.shape(node.output[0], node)
        if tuple(ref.shape) != tuple(want):
            raise ChewcError(f"{describe(node)}: onnx shape inference gives {list(want)}, but onnxruntime computes "
                             f"{list(ref.shape)}; chewc cannot tell which the rest of the model expects")
        if min(pads) < 0 or min(k) < 1 or min(s) < 1 or min(d) < 1:
            return f"pads {pads}, kernel {k}, strides {s} have no max-pool form on the array"
        try:
            ours = maxpool(x, k, s, pads, d)
        except ValueError:  # a window larger than the padded input
            return "onnxruntime's window geometry for these attributes is not reproduced exactly"
        if ours.shape != ref.shape or not np.array_equal(ours, ref):
            return "onnxruntime's window geometry for these attributes is not reproduced exactly"
        return k, s, pads, d

    def add(self, node: onnx.NodeProto) -> None:
        a, b = (self.values[n] for n in node.input)
        assert a.ssa is not None and b.ssa is not None and a.reach and b.reach
        op = bnn.AddOp(a.ssa, b.ssa)
        self.values[node.output[0]] = Value("int", op.output, raw=node.output[0], reach=a.reach.union_add(b.reach))

    def extend_chain(self, node: onnx.NodeProto) -> None:
        v = self.values[data_input(self.g, node)]
        self.values[node.output[0]] = Value("int", v.ssa, raw=v.raw, chain=[*v.chain, node], reach=v.reach, fused=v.fused)

    def set_bits(self, node: onnx.NodeProto, ssa: SSAValue | None) -> None:
        assert ssa is not None
        self.values[node.output[0]] = Value("bits", ssa)

    # -- synthesised chain nodes ---------------------------------------------------------------

    def add_const(self, name: str, value: np.ndarray) -> str:
        self.g.constants[name] = np.asarray(value, np.float32)
        self.g.shapes[name] = self.g.constants[name].shape
        return name

    def const_node(self, op: str, node: onnx.NodeProto, const: str, shape: tuple[int, ...] | None) -> onnx.NodeProto:
        if shape is not None:
            const = self.add_const(f"{const}__{node.output[0]}", np.asarray(self.g.constants[const]).reshape(shape))
        return onnx.helper.make_node(op, ["", const], [f"{node.output[0]}__{op.lower()}{len(self.g.constants)}"])

    def scalar_node(self, op: str, node: onnx.NodeProto, value: float) -> onnx.NodeProto:
        name = self.add_const(f"{node.output[0]}__{op.lower()}_s{len(self.g.constants)}", np.float32(value))
        return onnx.helper.make_node(op, ["", name], [f"{node.output[0]}__{op.lower()}{len(self.g.constants)}"])

    # -- host side -----------------------------------------------------------------------------

    def to_host(self, node: onnx.NodeProto, ins: list[Value | None], reason: str = "") -> None:
        self.pending.append(node)
        self.reasons.append(reason or self.reason(node, ins))
        for out in node.output:
            if out:
                self.values[out] = Value("float")

    @staticmethod
    def reason(node: onnx.NodeProto, ins: list[Value | None]) -> str:
        kinds = {v.kind for v in ins if v is not None}
        if node.op_type in ("Conv", "MatMul", "Gemm"):
            what = "input activations are not binary" if "bits" not in kinds else "weights are not constant +-1"
        elif node.op_type in ("Quant", "MultiThreshold"):
            what = "multi-bit quantisation"
        elif "float" in kinds:
            what = "float computation"
        else:
            what = "no binary equivalent"
        return f"{describe(node)}: {what}"

    def float_ssa(self, name: str) -> SSAValue:
        v = self.values[name]
        if v.ssa is None:
            self.flush()
            v = self.values[name]
        assert v.ssa is not None
        return v.ssa

    def materialise(self, name: str) -> SSAValue:
        """The SSA value of a graph output, applying any pending float chain on the host."""
        if (padded := self.values[name]).pad is not None:
            self.materialise_pad(name, padded)
        v = self.values[name]
        if v.kind == "int" and v.chain and all(n.op_type in SHAPE_OPS for n in v.chain):
            assert v.ssa is not None
            return bnn.ReshapeOp(v.ssa, self.g.shape(name)).output
        if v.kind == "int" and v.chain:
            self.pending.append(onnx.helper.make_node("Identity", [name], [f"{name}__out"]))
            self.reasons.append(f"{describe(v.chain[-1])}: float scale of the final scores")
            self.g.shapes[f"{name}__out"] = self.g.shape(name)
            self.values[f"{name}__out"] = Value("float")
            return self.float_ssa(f"{name}__out")
        if v.kind == "float":
            return self.float_ssa(name)
        assert v.ssa is not None
        return v.ssa

    def flush(self) -> None:
        """Turn the pending float nodes into one `bnn.host` op."""
        nodes: list[onnx.NodeProto] = []
        inputs: list[str] = []
        operands: list[SSAValue] = []
        produced: set[str] = set()
        placed: set[int] = set()  # ids of the nodes already in `nodes` (comparing protos is slow)
        for node in self.pending:
            for name in node.input:
                if not name or name in produced or name in self.g.constants or name in inputs:
                    continue
                v = self.values[name]
                if v.kind == "int" and v.chain:
                    # the host recomputes the float chain from the raw accumulator, exactly as the source does
                    # (a fused Gemm from its ±1 input)
                    source, ssa, chain = host_chain(v)
                    if source not in inputs:
                        inputs.append(source)
                        operands.append(ssa)
                    nodes.extend(n for n in chain if id(n) not in placed)
                    placed.update(id(n) for n in chain)
                    produced.update(n.output[0] for n in chain)
                    continue
                assert v.ssa is not None, name
                inputs.append(name)
                operands.append(v.ssa)
            nodes.append(node)
            placed.add(id(node))
            produced.update(node.output)
        # what leaves the host op: graph outputs, materialised scores, and values later nodes read
        pending = {id(n) for n in self.pending}
        outputs = [
            o for n in self.pending for o in n.output
            if o and (o in self.g.output_names or o.endswith("__out") or self.used_later(o, pending))
        ]
        sub = self.g.submodel(nodes, inputs, outputs)
        types = [TensorType(f32, self.g.shape(o)) for o in outputs]
        reason = "; ".join(dict.fromkeys(self.reasons))
        op = bnn.HostOp(operands, types, reason, sub.SerializeToString(deterministic=True), inputs, outputs)
        for o, r in zip(outputs, op.res, strict=True):
            self.values[o] = Value("float", r)
        self.pending, self.reasons = [], []

    def used_later(self, name: str, pending: set[int]) -> bool:
        """Whether a node outside the pending cluster (ids `pending`) reads `name`."""
        return any(id(self.g.nodes[i]) not in pending for i in self.g.consumers.get(name, []))


def gemm_bias(node: onnx.NodeProto, c: np.ndarray, m: int) -> np.ndarray:
    """A Gemm's C as the [M] values it adds to the one row of a [1, M] result (ONNX broadcasts it)."""
    try:
        return np.broadcast_to(np.asarray(c, np.float64), (1, m)).reshape(m)
    except ValueError:
        raise ChewcError(f"{describe(node)}: C of shape {list(np.shape(c))} does not broadcast to [1, {m}]") from None


def host_chain(v: Value) -> tuple[str, SSAValue, list[onnx.NodeProto]]:
    """What the host computes an int value's float chain from: (input name, its SSA value, nodes)."""
    if v.fused is not None:
        return v.fused.node.input[0], v.fused.x, [v.fused.node, *v.chain[v.fused.length :]]
    assert v.ssa is not None
    return v.raw, v.ssa, v.chain


def import_model(path: str | Path, machine: Machine | None = None, first_layer: str = "auto",
                 input_grid: Planes | None = None) -> ModuleOp:
    """Load, check and fold an ONNX/QONNX model and return its `bnn` module (verified), carrying the
    machine it is compiled for (default: the ChewBaccaNN model).

    `first_layer` maps a conv of a multi-bit input: on the `host`, on the array by `bitplane`s (an error
    when no layer can be), or `auto`, by bit planes where possible and cheaper (`compiler.first_layer`);
    `input_grid` declares the integer grid of a float model input."""
    return import_with_source(path, machine, first_layer, input_grid)[0]


def import_with_source(path: str | Path, machine: Machine | None = None, first_layer: str = "auto",
                       input_grid: Planes | None = None) -> tuple[ModuleOp, ModelSource]:
    """`import_model`, and what the build record keeps of the model file (read once, by the loader)."""
    if first_layer not in fl.MODES:
        raise ChewcError(f"--first-layer={first_layer}: choose one of {', '.join(fl.MODES)}")
    graph = load_graph(path)
    assert graph.source is not None
    machine = machine or load_machine()
    module = Importer(graph, machine, first_layer, input_grid).run()
    region_dce(module.body)  # accumulators only a host op's rerun of a fused Gemm would have read
    set_machine(module, machine)
    return module, graph.source
