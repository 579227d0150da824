"""`tile-loops`: lower `bnn` layers to `tile` loop nests over buffers, sized to the machine's memories.

Every tensor between layers lives in DRAM in the ISA's layout (a ±1 map stays in FMEM when its
producer and consumers fit beside it); a layer streams its input rows and weights on chip, computes a
tile (output rows x output-channel block) and streams the result back. The loop nests are the
schedules of `compiler.schedule`, which this pass runs on an emitter that builds `tile` IR (`Lowering`);
each conv layer's tiling is the one the mapping search (`compiler.mapping`) picks, and each layer's
`tile.layer` marker records its bounds, the tiling and the search's predicted cycles and DRAM bits.

A layer is a conv group (`compiler.layers`): the convs `bnn.add`s sum (sub-convolutions from
`bnn-decompose-kernels` included) accumulate in ACC, onto a residual map loaded into ACC first when the
sum adds one, then are thresholded, or max-pooled in ACC (an integer pool right after the conv, e.g. an
ImageNet stem), before anything is written back: none of these intermediate sums crosses DRAM. Sums
another layer adds later are written as int16 and, when they are also thresholded, thresholded in ACC
by the same layer (`Lowering.epilogue`), whose marker then covers both layers of the bounds. Where the
group that adds onto them is their only other reader, they may stay in ACC until it runs
(`Lowering.may_stream`): the layers in between tile in the rest of ACC, and `lower_function` lowers
the function again with the map in DRAM when one of them does not fit. A max-pool of a layer's ±1
output runs on each tile's thresholded rows, depth first, where that moves less (`Lowering.pool_of_bits`).

Semantics preserved: each layer's DRAM result equals the `bnn` op's reference result, bit for bit.
Float and relayout work becomes `tile.host` steps between accelerator phases.
"""

from __future__ import annotations

import base64
import dataclasses
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import helper as onnx_helper
from xdsl.builder import Builder
from xdsl.context import Context
from xdsl.dialects import arith, func, scf
from xdsl.dialects.builtin import (
    ArrayAttr,
    IndexType,
    IntegerAttr,
    IntegerType,
    ModuleOp,
    StringAttr,
    TensorType,
)
from xdsl.ir import Block, Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import GreedyRewritePatternApplier, PatternRewriter, RewritePattern, op_type_rewrite_pattern
from xdsl.rewriter import InsertPoint, Rewriter

from compiler import mapping, schedule, tiling
from compiler.bounds import NetworkBound, function_bounds
from compiler.layers import Conv, ConvGroup, conv_group, epilogue_threshold, lowered_later, residual_user
from compiler.passes.common import INDEX_ARITH, functions, module_machine
from compiler.schedule import planes
from compiler.tiling import ConvShape, MapShape, groups
from dialects import bnn, tile
from isa.container import to_chw
from isa.errors import ChewcError
from isa.machine import Machine
from isa.table import THRESHOLD_MODES
from runtime.host import bits_words

# bnn pad values and threshold modes as the ISA encodes them (isa.table.PAD_MODES, THRESHOLD_MODES)
PAD_MODE = {"-1": "neg", "+1": "pos", "zero": "gate"}
THRESHOLD_MODE = {"g": "ge", "l": "le", "+": "plus", "-": "minus"}


@dataclass
class DramTensor:
    """Where a tensor between layers lives: in DRAM, or (on_chip) as a whole ±1 map kept in FMEM for its
    consumers, when producer and consumers fit beside it (else it spills to DRAM), or as a whole int16 map
    kept in ACC for the conv group that adds onto it (a residual stream)."""

    buffer: SSAValue
    shape: tuple[int, ...]  # logical [C, H, W] (batch dropped)
    dtype: str  # bits | int16 | f32
    on_chip: bool = False

    @property
    def in_acc(self) -> bool:
        return self.on_chip and self.dtype == "int16"

    def desc(self, zero: str = "") -> tile.TensorAttr:
        return tile.TensorAttr(self.shape, self.dtype, zero)


def constant(v: SSAValue) -> int | None:
    """The value of an index made by arith.constant, else None."""
    op = v.owner
    return op.value.value.data if isinstance(op, arith.ConstantOp) and isinstance(op.value, IntegerAttr) else None


def chw(shape: tuple[int, ...]) -> tuple[int, int, int]:
    """A bnn shape (batch 1 first) as the [C, H, W] of the data layouts."""
    return to_chw(shape[1:])


def weight_words(w: np.ndarray) -> np.ndarray:
    """±1 weights [O, C, KH, KW] -> words [O][G][KH][KW] (the ISA's weight layout), through the map
    packing of the host (`runtime.host.bits_words`) applied to C x (O*KH) x KW."""
    o, c, kh, kw = w.shape
    words = bits_words((w > 0).transpose(1, 0, 2, 3).reshape(c, o * kh, kw))
    return words.reshape(groups(c), o, kh, kw).transpose(1, 0, 2, 3)


def threshold_words(layer: str, th: bnn.ThresholdOp) -> np.ndarray:
    """Two TMEM words per channel: the int16 threshold and its mode (`isa.table.THRESHOLD_MODES`)."""
    t = np.asarray(bnn.ints(th.thresholds), np.int64)
    if t.min() < -(2**15) or t.max() >= 2**15:
        raise ChewcError(f"layer {layer}: a threshold does not fit the int16 threshold memory")
    modes = np.array([THRESHOLD_MODES.index(THRESHOLD_MODE[m]) for m in th.modes.data], np.int64)
    return np.stack([t, modes], 1).reshape(-1) & 0xFFFF


@dataclass
class Lowering:
    """Builds the tile program of one function, layer by layer, each bnn op's tile ops just before it."""

    machine: Machine
    builder: Builder
    values: dict[SSAValue, DramTensor] = field(default_factory=dict)
    # index constants already made in a block: later ops of the block, and of blocks nested in it, reuse them
    constants: dict[tuple[Block, int], SSAValue] = field(default_factory=dict)
    spent: mapping.Cost = mapping.Cost()  # predicted cost of everything lowered so far
    registers: mapping.Registers = field(default_factory=dict)  # what the predicted code left configured
    chosen: str = ""  # the tiling of the current layer's conv, for its marker
    layer_bounds: NetworkBound = NetworkBound(())
    layer_of: dict[Operation, int] = field(default_factory=dict)  # the layer each op that starts one belongs to
    current: set[int] = field(default_factory=set)  # the layers being lowered (two when one is fused into the other)
    marks: list[tuple[tile.LayerOp, mapping.Cost]] = field(default_factory=list)  # with the cost spent before each
    done: set[Operation] = field(default_factory=set)  # the bnn ops lowered so far
    convs: int = 0  # conv layers so far, for their labels
    streams: bool = False  # keep int16 maps in ACC between layers where they fit (`may_stream`)
    stream: SSAValue | None = None  # the int16 map kept in ACC now: later layers tile in the ACC it leaves
    no_stream: set[SSAValue] = field(default_factory=set)  # maps that must not stay in ACC (`lower_function`)
    chip: Machine | None = None  # the machine; `machine` is what the layer being lowered may use of it
    node: StringAttr | None = None  # the ONNX node of the op being lowered, for the tile ops it makes

    def __post_init__(self) -> None:
        self.chip = self.machine

    # -- the pass's walk -----------------------------------------------------------------------

    @contextmanager
    def lowering(self, op: Operation, fused: Operation | None = None) -> Iterator[None]:
        """Lower `op`: its tile ops go before it, after the marker of the layer it starts, and the ONNX
        tensor it computes is probed where it now lies. `fused`: a later op that starts a layer of its own
        in the bounds and is lowered with `op` here; one marker covers both layers, with both bounds."""
        self.builder = Builder(InsertPoint.before(op))
        node = op.attributes.get(bnn.ONNX_NODE)
        self.node = node if isinstance(node, StringAttr) else None
        if (index := self.layer_of.get(op)) is not None and index not in self.current:
            joined = [index] + [i for i in [self.layer_of.get(fused)] if fused is not None and i is not None]
            b = [self.layer_bounds.layers[i] for i in joined]
            self.mark(tile.LayerOp(", ".join(x.name for x in b), "+".join(x.kind for x in b),
                                   sum(x.traffic_bits for x in b), math.ceil(sum(x.cycle_bound for x in b))))
            self.current = set(joined)
        elif isinstance(op, bnn.HostOp | bnn.SignOp | bnn.BitplanesOp | bnn.SubsampleOp):
            name = op.attributes.get(bnn.ONNX_NAME)
            self.mark(tile.LayerOp(name.data if isinstance(name, StringAttr) else op.name, "host", -1, -1))
            self.current = set()
        yield
        self.probe(op)
        if self.marks and self.chosen:
            self.marks[-1][0].properties["mapping"] = StringAttr(self.chosen)
        self.done.add(op)

    def mark(self, op: tile.LayerOp) -> None:
        self.add(op)
        self.marks.append((op, self.spent))
        self.chosen = ""

    def close_marks(self) -> None:
        """Each marker's predicted cost: what was spent from it to the next."""
        for (op, before), after in zip(self.marks, [m[1] for m in self.marks[1:]] + [self.spent]):
            op.properties["predicted_cycles"] = IntegerAttr(after.cycles - before.cycles, 64)
            op.properties["predicted_dram_bits"] = IntegerAttr(after.dram_bits - before.dram_bits, 64)

    def layer_label(self) -> str:
        self.convs += 1
        return f"conv{self.convs}"

    def conv_sum(self, op: Conv | bnn.AddOp) -> bool:
        """Lower a conv or add whose sum a layer computes (its threshold, or a later add, lowers it when it
        is not the layer's last); False: not a conv sum."""
        if lowered_later(op):
            self.done.add(op)
            return True
        if (group := conv_group(op.results[0])) is None:
            return False
        user = op.results[0].get_user_of_unique_use()
        pool = user if isinstance(user, bnn.MaxPoolOp) else None
        th = self.epilogue(group, op.results[0], pool)
        with self.lowering(op, th):
            keep = th is not None and self.can_keep(th.output, lambda: tiling.choose_conv_tiling(self.group_shape(
                "conv", group, True, self.values[group.input].on_chip, True, self.pool_after(pool) if pool else None,
                True), self.machine))
            self.lower_layer(self.layer_label(), group, th, op.results[0], keep, pool, th is not None)
            if th is not None:
                self.probe(th)
                self.done.add(th)
        return True

    def epilogue(self, group: ConvGroup, result: SSAValue, pool: bnn.MaxPoolOp | None) -> bnn.ThresholdOp | None:
        """The threshold of the group's int16 map `result` (pooled, under a pool) the layer runs in ACC as
        well as writing the map for its other users (`compiler.layers.epilogue_threshold`), when a tiling fits."""
        th = epilogue_threshold(pool.output if pool is not None else result)
        pool_after = self.pool_after(pool) if pool is not None else None
        if th is None or (pool is not None and pool_after is None):
            return None
        fits = self.tiles(self.group_shape("conv", group, True, self.values[group.input].on_chip, False, pool_after, True))
        return th if fits else None

    # -- small builders ------------------------------------------------------------------------

    def add(self, op: Operation) -> Operation:
        if self.node is not None:
            op.attributes[bnn.ONNX_NODE] = self.node
        return self.builder.insert(op)

    def idx(self, n: int) -> SSAValue:
        """The index constant n: one already made in this block or an enclosing one (built earlier, so it
        dominates), else a new one here."""
        block: Block | None = self.builder.insertion_point.block
        while block is not None:
            if (found := self.constants.get((block, n))) is not None:
                return found
            block = block.parent_block()
        here = self.builder.insertion_point.block
        self.constants[here, n] = self.add(arith.ConstantOp(IntegerAttr(n, IndexType()))).result
        return self.constants[here, n]

    # index arithmetic folds on constant operands as it is built (peeled iterations have constant indices)
    def binary(self, kind: type[arith.SignlessIntegerBinaryOperation], a: SSAValue, b: SSAValue) -> SSAValue:
        ca, cb = constant(a), constant(b)
        if ca is not None and cb is not None:
            return self.idx(INDEX_ARITH[kind](ca, cb))
        return self.add(kind(a, b)).result

    def mul(self, a: SSAValue, n: int) -> SSAValue:
        return a if n == 1 else self.binary(arith.MuliOp, a, self.idx(n))

    def plus(self, a: SSAValue, n: int) -> SSAValue:
        return a if n == 0 else self.binary(arith.AddiOp, a, self.idx(n))

    def clamp(self, a: SSAValue, lo: int, hi: int) -> SSAValue:
        return self.binary(arith.MinSIOp, self.binary(arith.MaxSIOp, a, self.idx(lo)), self.idx(hi))

    def addi(self, a: SSAValue, b: SSAValue) -> SSAValue:
        if constant(a) == 0 or constant(b) == 0:
            return b if constant(a) == 0 else a
        return self.binary(arith.AddiOp, a, b)

    def rem(self, a: SSAValue, n: int) -> SSAValue:
        return self.binary(arith.RemSIOp, a, self.idx(n))

    def div(self, a: SSAValue, n: int) -> SSAValue:
        return self.binary(arith.DivSIOp, a, self.idx(n))

    def alloc(self, space: str, words: int, label: str) -> SSAValue:
        return self.add(tile.AllocOp(space, words, label)).buffer

    def dram(self, shape: tuple[int, ...], dtype: str, label: str) -> DramTensor:
        words = tile.TensorAttr(shape, dtype).words
        return DramTensor(self.alloc("dram", words, label), shape, dtype)

    def const(self, label: str, words: Callable[[], np.ndarray], size: int) -> SSAValue:
        data = words()
        assert data.size == size, (label, data.size, size)
        return self.add(tile.ConstOp(label, data.astype("<u2").tobytes())).buffer

    def dma(self, src, src_off, dst, dst_off, count: int, length: int, src_stride: int, dst_stride: int) -> None:  # noqa: ANN001
        self.add(tile.DmaOp(src, src_off, dst, dst_off, count, length, src_stride, dst_stride))

    def sync(self) -> None:
        self.add(tile.SyncOp())

    def conv(self, src, src_off, weights, w_off, acc, acc_off, row0, buf_row0, geom: tile.GeometryValues) -> None:  # noqa: ANN001
        self.add(tile.ConvOp(src, src_off, weights, w_off, acc, acc_off, row0, buf_row0, geom=geom))

    def threshold(self, acc, acc_off, thresholds, t_off, out, out_off, c0, geom: tile.GeometryValues) -> None:  # noqa: ANN001
        self.add(tile.ThresholdOp(acc, acc_off, thresholds, t_off, out, out_off, c0, geom=geom))

    def pool(self, src, src_off, out, out_off, row0, buf_row0, geom: tile.GeometryValues) -> None:  # noqa: ANN001
        self.add(tile.PoolOp(src, src_off, out, out_off, row0, buf_row0, geom=geom))

    def add_tiles(self, a, a_off, b, b_off, out, out_off, geom: tile.GeometryValues) -> None:  # noqa: ANN001
        self.add(tile.AddOp(a, a_off, b, b_off, out, out_off, geom=geom))

    def loop(self, n: int, step: int, unit: str, body: Callable[[SSAValue], None]) -> None:
        """An `scf.for` over `unit` (or the body alone, for a single iteration)."""
        assert unit in tile.LOOP_UNITS, unit
        if n == step:
            body(self.idx(0))
            return
        loop = self.add(scf.ForOp(self.idx(0), self.idx(n), self.idx(step), [], Block(arg_types=[IndexType()])))
        loop.attributes[tile.LOOP_UNIT] = StringAttr(unit)
        outer = self.builder
        self.builder = Builder(InsertPoint.at_end(loop.body.block))
        body(loop.body.block.args[0])
        self.add(scf.YieldOp())
        self.builder = outer

    def price(self, run: Callable[[mapping.Timed], None]) -> mapping.Cost:
        return mapping.price(self.machine, run).after(self.machine, self.registers)

    def host_instruction(self) -> None:
        """A HOST (or END): issued after the previous layer's last SYNC, so it waits for nothing."""
        self.spent += mapping.Cost(self.machine.control.issue_cycles, 0)

    def host(self, reason: str, ins: list[DramTensor], outs: list[DramTensor], onnx_b64: str = "",
             in_names: list[str] | None = None, out_names: list[str] | None = None, zero: str = "") -> None:
        self.host_instruction()
        self.add(tile.HostOp.build(
            operands=[[t.buffer for t in ins], [t.buffer for t in outs]],
            properties={
                "reason": StringAttr(reason), "onnx": StringAttr(onnx_b64),
                "in_names": ArrayAttr(StringAttr(n) for n in (in_names or ["in"])),
                "out_names": ArrayAttr(StringAttr(n) for n in (out_names or ["out"])),
                "in_descs": ArrayAttr(t.desc() for t in ins),
                "out_descs": ArrayAttr(t.desc(zero if t.dtype == "bits" else "") for t in outs),
            },
        ))

    # -- host side -----------------------------------------------------------------------------

    def lower_input(self, arg: SSAValue) -> None:
        assert isinstance(arg.type, TensorType)
        t = self.dram(tuple(arg.type.get_shape())[1:], "f32", "input")
        self.add(tile.WriteOp(arg, t.buffer, t.desc()))
        self.values[arg] = t

    def lower_host(self, op: bnn.HostOp) -> None:
        ins = [self.values[a] for a in op.args]
        outs = [self.dram(tuple(r.type.get_shape())[1:], "f32", f"host.{n.data}") for r, n in zip(op.res, op.outputs.data)]
        self.host(op.reason.data, ins, outs, op.onnx.data, [s.data for s in op.inputs.data], [s.data for s in op.outputs.data])
        self.values.update(zip(op.res, outs))

    def lower_sign(self, op: bnn.SignOp) -> None:
        # a Sign whose only user is a reshape writes the reshaped layout directly (the host relayouts for free)
        user = op.output.get_user_of_unique_use()
        shape = chw(bnn.shape_of(user.output.type)) if isinstance(user, bnn.ReshapeOp) else chw(bnn.shape_of(op.output.type))
        out = self.dram(shape, "bits", "sign")
        self.host(f"binarise float activations ({op.name}, zero -> {op.zero.data})", [self.values[op.input]], [out],
                  zero=op.zero.data)
        self.values[op.output] = out
        if isinstance(user, bnn.ReshapeOp):
            self.values[user.output] = out

    def lower_bitplanes(self, op: bnn.BitplanesOp) -> None:
        planes = op.planes
        out = self.dram(chw(bnn.shape_of(op.output.type)), "bits", "planes")
        self.host_instruction()
        self.add(tile.HostOp.build(
            operands=[[self.values[op.input].buffer], [out.buffer]],
            properties={
                "reason": StringAttr(f"split the {planes.bits}-bit input into bit planes ({op.name})"),
                "onnx": StringAttr(""),
                "in_names": ArrayAttr([StringAttr("in")]), "out_names": ArrayAttr([StringAttr("out")]),
                "in_descs": ArrayAttr([self.values[op.input].desc()]), "out_descs": ArrayAttr([out.desc()]),
                "planes": tile.PlanesAttr.from_planes(planes),
            },
        ))
        self.values[op.output] = out

    def lower_reshape(self, op: bnn.ReshapeOp) -> None:
        if op.output in self.values:
            return  # written in its final layout by the producer
        src = self.values[op.input]
        shape = chw(bnn.shape_of(op.output.type))
        if src.dtype != "bits" or same_layout(src.shape, shape):
            self.values[op.output] = DramTensor(src.buffer, shape, src.dtype, src.on_chip)
            return
        out = self.dram(shape, "bits", "relayout")
        self.host(f"relayout of a +-1 map {src.shape} -> {shape} ({op.name})", [src], [out])
        self.values[op.output] = out

    def probe(self, op: Operation) -> None:
        """After the layer producing an ONNX tensor, mark where it now lies complete in DRAM."""
        name = op.attributes.get(bnn.ONNX_NAME)
        if isinstance(name, StringAttr) and op.results and op.results[0] in self.values:
            t = self.values[op.results[0]]
            self.add(tile.ProbeOp(t.buffer, name.data, t.desc()))

    def lower_regroup(self, op: bnn.RegroupOp) -> None:
        """The same words read as a map: nothing moves (see `bnn.RegroupOp`)."""
        src = self.values[op.input]
        self.values[op.output] = DramTensor(src.buffer, chw(bnn.shape_of(op.output.type)), "bits", src.on_chip)

    def lower_subsample(self, op: bnn.SubsampleOp) -> None:
        """Every k-th row and column of a map, by the host (an ONNX Slice), between accelerator phases."""
        src = self.values[op.input]
        strides = bnn.ints(op.strides)
        out = self.dram(chw(bnn.shape_of(op.output.type)), src.dtype, "subsample")
        graph = slice_graph(src.shape, strides)
        self.host(f"keep every {strides[0]}th row and {strides[1]}th column ({op.name}): the array steps rows and "
                  "columns alike", [src], [out], base64.b64encode(graph).decode("ascii"))
        self.values[op.output] = out

    def lower_return(self, op: func.ReturnOp) -> None:
        results = []
        for v in op.arguments:
            t = self.values[v]
            # a ±1 result reaches the host as int8 -1/+1 values
            rtype = TensorType(IntegerType(8), bnn.shape_of(v.type)) if isinstance(v.type, bnn.BitsType) else v.type
            results.append(self.add(tile.ReadOp(t.buffer, t.desc(), rtype)).value)
        self.host_instruction()  # END
        self.add(func.ReturnOp(*results))

    # -- accelerator layers --------------------------------------------------------------------

    def conv_shape(self, name: str, convs: Sequence[Conv], thresholded: bool, src_shape: tuple[int, ...],
                   in_resident: bool, out_resident: bool, one_pass: bool = False,
                   pool: tiling.PoolAfter | None = None, sums_out: bool = False, residual_in_acc: bool = False,
                   sums_in_acc: bool = False, pool_bits: bool = False) -> ConvShape:
        """`one_pass`: every channel group in one CONV per tile (bit planes always); `pool`: an integer max-pool
        of the sums the layer runs before they leave ACC; `sums_out`: thresholded, the int16 sums leave too;
        `residual_in_acc`, `sums_in_acc`: the residual, the int16 sums are kept in ACC (`ConvShape`)."""
        c, h, w = src_shape
        _, o, oh, ow = bnn.shape_of(convs[0].output.type)
        strides, dils = bnn.ints(convs[0].strides), bnn.ints(convs[0].dilations)
        if strides[0] != strides[1] or dils[0] != dils[1]:
            raise ChewcError(f"layer {name}: the array steps rows and columns alike; strides {strides} / dilations {dils} differ")
        d = dils[0]
        # bit planes: one kernel over the stacked planes (a weight copy per plane), see lower_conv_group
        kernels = tuple(tuple(cv.weights.get_shape()[2:]) for cv in convs)
        pads = [bnn.ints(cv.pads) for cv in convs]
        for k in kernels:
            if max(k) > min(self.machine.array.window_h, self.machine.array.window_w):
                raise ChewcError(f"layer {name}: kernel {k[0]}x{k[1]} exceeds the {self.machine.array.window_h}x"
                                 f"{self.machine.array.window_w} window (run bnn-decompose-kernels)")
        lo = min(-p[0] for p in pads)
        hi = max(-p[0] + (k[0] - 1) * d for p, k in zip(pads, kernels))
        return ConvShape(name, c, h, w, o, oh, ow, strides[0], d, kernels, (lo, hi), thresholded,  # type: ignore[arg-type]
                         in_resident, out_resident, one_pass or isinstance(convs[0], bnn.BitplaneConv2dOp), pool,
                         sums_out, residual_in_acc, sums_in_acc, pool_bits)

    def group_shape(self, name: str, group: ConvGroup, thresholded: bool, in_resident: bool,
                    out_resident: bool, pool: tiling.PoolAfter | None = None, sums_out: bool = False,
                    sums_in_acc: bool = False, pool_bits: bool = False) -> ConvShape:
        """A group's layer shape; a residual whose partial sums may overflow takes one CONV per tile."""
        one_pass = group.residual is not None and not group.partial_sums_fit
        residual_in_acc = group.residual is not None and self.values[group.residual].in_acc
        return self.conv_shape(name, group.convs, thresholded, self.values[group.input].shape, in_resident,
                               out_resident, one_pass, pool, sums_out, residual_in_acc, sums_in_acc, pool_bits)

    def lower_layer(self, name: str, group: ConvGroup, th: bnn.ThresholdOp | None, result: SSAValue,
                    keep: bool = False, pool: bnn.MaxPoolOp | None = None, sums_out: bool = False,
                    pool_bits: bool = False) -> None:
        """A conv group with its residual, the integer max-pool of its sums, and its threshold (with
        `sums_out`, the int16 map is written as well, for its other users: `result` is then that map and
        `th`'s output the ±1 one). What no tiling fits in one layer runs apart: the pool after the sums reach
        DRAM; a residual that needs one CONV per tile (see `compiler.layers`) by ADD after the convs, the
        sum thresholded apart."""
        src = self.values[group.input]
        pool_after = self.pool_after(pool) if pool is not None else None
        if pool_after is not None and not self.tiles(self.group_shape(name, group, pool_bits, src.on_chip, False,
                                                                      pool_after, pool_bits=pool_bits)):
            pool_after = None
        in_acc = group.residual is not None and self.values[group.residual].in_acc
        if group.residual is not None and not group.partial_sums_fit and not self.tiles(
            self.group_shape(name, group, th is not None, src.on_chip, keep, pool_after, sums_out)
        ):
            assert not sums_out  # `epilogue` fused the threshold because this tiling fits
            if in_acc:  # lower_function then lowers the function again with every map in DRAM
                raise ChewcError(f"layer {name}: no tiling adds its residual in ACC")
            sums = self.lower_conv_group(name, group.convs, None, result)[0]
            total = self.add_maps(sums, self.values[group.residual], f"{name}.add")
            self.values[result] = self.threshold_map(total, th) if th is not None else total
        else:
            written = pool.output if pool is not None and pool_after is not None else result
            stream = self.may_stream(written, th, sums_out, in_acc, pool_after) and self.tiles(
                self.group_shape(name, group, th is not None, src.on_chip, keep, pool_after, sums_out, True))
            out, sums_map = self.lower_conv_group(name, group.convs, th, result, keep, group, pool_after, sums_out,
                                                  stream, pool_bits)
            self.values[result] = out if sums_map is None else sums_map
            if th is not None and sums_map is not None:
                self.values[th.output] = out
            if stream or in_acc:
                self.reserve(written if stream else None)
        if pool is not None:
            if pool_after is None:
                self.lower_maxpool(pool)
            else:
                self.values[pool.output] = self.values.pop(result)

    def may_stream(self, written: SSAValue, th: bnn.ThresholdOp | None, sums_out: bool, in_acc: bool,
                   pool: tiling.PoolAfter | None) -> bool:
        """Whether a layer's int16 map `written` may stay in ACC for the group that adds onto it: its only
        other reader is the threshold the layer runs, the map fits ACC, and it is the only map kept there
        (in the words of the residual the layer adds onto, or with none kept yet)."""
        if not self.streams or written in self.no_stream or (th is not None and not sums_out) \
                or residual_user(written) is None:
            return False
        if (other := epilogue_threshold(written)) is not None and other is not th:
            return False
        assert self.chip is not None
        words = math.prod(bnn.shape_of(written.type)[1:])
        if words > self.chip.memory.words("acc"):
            return False
        return pool is None if in_acc else self.stream is None

    def reserve(self, v: SSAValue | None) -> None:
        """The int16 map kept in ACC from now on (None: none); the layers lowered while it is there tile
        in the rest of ACC."""
        assert self.chip is not None
        self.stream = v
        self.machine = self.chip
        if v is not None:
            acc = self.chip.memory.acc
            left = acc.size_bytes - math.prod(bnn.shape_of(v.type)[1:]) * acc.word_bits // 8
            self.machine = dataclasses.replace(self.chip, memory=dataclasses.replace(
                self.chip.memory, acc=dataclasses.replace(acc, size_bytes=left)))

    def pool_of_bits(self, th: bnn.ThresholdOp, group: ConvGroup, keep: bool) -> bnn.MaxPoolOp | None:
        """The max-pool of a conv layer's ±1 output to run on each tile's thresholded rows (depth first: the
        unpooled map never exists whole), where that moves fewer off-chip words than writing the map, or
        keeping it whole, for the pool to read."""
        pool = th.output.get_user_of_unique_use()
        if not isinstance(pool, bnn.MaxPoolOp) or (after := self.pool_after(pool)) is None:
            return None
        src = self.values[group.input]
        try:
            fused = tiling.choose_conv_tiling(self.group_shape("conv", group, True, src.on_chip, False, after,
                                                               pool_bits=True), self.machine)
            apart = tiling.choose_conv_tiling(self.group_shape("conv", group, True, src.on_chip, keep), self.machine)
        except ChewcError:
            return None
        _, o, oh, ow = bnn.shape_of(th.output.type)
        unpooled = 0 if keep else 2 * groups(o) * oh * ow  # written, then read by the pool
        return pool if fused.traffic < apart.traffic + unpooled else None

    def tiles(self, shape: ConvShape) -> bool:
        try:
            tiling.choose_conv_tiling(shape, self.machine)
        except ChewcError:
            return False
        return True

    def pool_after(self, op: bnn.MaxPoolOp) -> tiling.PoolAfter | None:
        """An integer max-pool the array can run on a conv's sums in ACC, else None."""
        k, st, d = bnn.ints(op.kernel), bnn.ints(op.strides), op.dilation_values()
        a = self.machine.array
        if st[0] != st[1] or d[0] != d[1] or k[0] > a.window_h or k[1] > a.window_w:
            return None
        _, _, oh, ow = bnn.shape_of(op.output.type)
        pads = bnn.ints(op.pads)
        return tiling.PoolAfter(k[0], k[1], st[0], d[0], pads[0], pads[1], oh, ow)

    def lower_conv_group(self, name: str, convs: Sequence[Conv], th: bnn.ThresholdOp | None, result: SSAValue,
                         keep: bool = False, group: ConvGroup | None = None, pool: tiling.PoolAfter | None = None,
                         sums_out: bool = False, sums_in_acc: bool = False,
                         pool_bits: bool = False) -> tuple[DramTensor, DramTensor | None]:
        """The convs of a layer summed in ACC (onto `group`'s residual, loaded first, or there already, if it
        has one), max-pooled in ACC by `pool`, then thresholded: the map it writes, and with `sums_out` the
        int16 map it writes too; `sums_in_acc`: the int16 map stays in ACC (in the residual's words when
        that is there)."""
        src = self.values[convs[0].input]
        o = bnn.shape_of(convs[0].output.type)[1]
        residual = self.values[group.residual] if group is not None and group.residual is not None else None
        if group is not None:
            shape = self.group_shape(layer_name(name, result), group, th is not None, src.on_chip, keep, pool, sums_out,
                                     sums_in_acc, pool_bits)
        else:
            shape = self.conv_shape(layer_name(name, result), convs, th is not None, src.shape, src.on_chip, keep)
        if isinstance(convs[0], bnn.BitplaneConv2dOp):
            subs = sub_convs(convs[0], src.shape)
        else:
            subs = [SubConv(cv.weights.to_array(), bnn.ints(cv.pads), cv.pad_value.data) for cv in convs]
        layer = schedule.ConvLayer(shape, tuple(sub.geom(self.machine) for sub in subs), residual is not None)
        found = mapping.search(layer, self.machine)
        t = found.tiling
        self.spent += found.priced.after(self.machine, self.registers)
        self.chosen = found.describe()
        if isinstance(convs[0], bnn.BitplaneConv2dOp) and t.tiles(shape)[2] > 1:
            raise ChewcError(f"layer {shape.name}: the weights of all {len(subs)} bit planes must fit WMEM at "
                             f"once ({shape.weight_words_per_oc} words per output channel)")
        out_shape = (o, shape.out_h, shape.out_w)
        kept = None  # the int16 map kept in ACC
        if sums_in_acc:
            buf = residual.buffer if shape.residual_in_acc and residual is not None else self.alloc(
                "acc", o * shape.out_h * shape.out_w, f"{name}.stream")
            kept = DramTensor(buf, out_shape, "int16", True)
        if keep:
            out = DramTensor(self.alloc("fmem", groups(o) * shape.out_h * shape.out_w, f"{name}.map"), out_shape, "bits",
                             True)
        elif kept is not None and th is None:
            out = kept
        else:
            out = self.dram(out_shape, "bits" if th else "int16", f"{name}.pool" if pool and not th else name)
        sums = (kept or self.dram(out_shape, "int16", f"{name}.sums")) if sums_out else None
        data = schedule.ConvData(
            src.buffer, out.buffer, lambda t: pack_weights(subs, t, shape),
            (lambda: threshold_words(shape.name, th)) if th is not None else None,
            residual.buffer if residual is not None else None, sums.buffer if sums is not None else None)
        schedule.conv_layer(self, name, layer, t, data)
        return out, sums
    def lower_threshold(self, op: bnn.ThresholdOp) -> None:
        """A threshold of sums that are not a fresh conv (after a residual add or an int pool)."""
        self.values[op.output] = self.threshold_map(self.values[op.input], op)

    def threshold_map(self, src: DramTensor, op: bnn.ThresholdOp) -> DramTensor:
        c, h, w = src.shape
        name = f"threshold{len(self.values)}"
        t = tiling.choose_map_tiling(MapShape(name, c, h, w, h, w, 1, 1, True), self.machine, lambda blk, rows: {
            "tmem": 2 * blk, "acc": blk * rows * w, "fmem": groups(blk) * rows * w})
        out = self.dram((c, h, w), "bits", name)
        schedule.threshold_map(self, name, src.shape, t, src.buffer, out.buffer, lambda: threshold_words(name, op))
        self.spent += self.price(lambda e: schedule.threshold_map(
            e, name, src.shape, t, mapping.DRAM, mapping.DRAM, mapping.no_data))
        return out

    def pool_tiling(self, op: bnn.MaxPoolOp, src_shape: tuple[int, ...], dtype: str, in_resident: bool,
                    out_resident: bool) -> tiling.MapTiling:
        c, h, w = src_shape
        _, _, oh, ow = bnn.shape_of(op.output.type)
        k, st, d = bnn.ints(op.kernel), bnn.ints(op.strides), op.dilation_values()
        name = f"maxpool{len(self.values)}"
        a = self.machine.array
        if st[0] != st[1] or d[0] != d[1] or k[0] > a.window_h or k[1] > a.window_w:
            raise ChewcError(f"layer {name}: the array pools windows up to {a.window_h}x{a.window_w} with one stride "
                             f"and one dilation, got {k} / {st} / {d} (run bnn-legalize-windows)")
        bits = dtype == "bits"
        space = "fmem" if bits else "acc"
        s = MapShape(name, c, h, w, oh, ow, d[0] * (k[0] - 1) + 1, st[0], bits, in_resident, out_resident)
        return tiling.choose_map_tiling(s, self.machine, lambda blk, rows: {
            space: planes(blk, bits) * (s.rows_in(rows) * w + s.rows_out(rows) * ow)})

    def lower_maxpool(self, op: bnn.MaxPoolOp, keep: bool = False) -> None:
        src = self.values[op.input]
        c, h, w = src.shape
        _, _, oh, ow = bnn.shape_of(op.output.type)
        k, st, pads, d = bnn.ints(op.kernel), bnn.ints(op.strides), bnn.ints(op.pads), op.dilation_values()
        name = f"maxpool{len(self.values)}"
        t = self.pool_tiling(op, src.shape, src.dtype, src.on_chip, keep)
        bits = src.dtype == "bits"
        p = schedule.PoolLayer(c, h, w, oh, ow, (k[0], k[1]), st[0], d[0], (pads[0], pads[1]), bits, src.on_chip, keep)
        if keep:
            out = DramTensor(self.alloc("fmem", p.planes(c) * oh * ow, f"{name}.map"), (c, oh, ow), "bits", True)
        else:
            out = self.dram((c, oh, ow), src.dtype, name)
        schedule.maxpool(self, name, p, t, src.buffer, out.buffer)
        self.spent += self.price(lambda e: schedule.maxpool(
            e, name, p, t, mapping.Buf("fmem", 0) if p.in_resident else mapping.DRAM,
            mapping.Buf("fmem", 0) if p.out_resident else mapping.DRAM))
        self.values[op.output] = out

    def can_keep(self, result: SSAValue, producer: Callable[[], object]) -> bool:
        """Whether a ±1 map can stay in FMEM: its only consumers read it whole (convs, a max-pool) and
        both `producer` (a tiling attempt with the map kept) and each consumer fit beside it."""
        # the map's words may be read through views that move no data (a regroup, a [C]<->[C,1,1] reshape)
        while (view := result.get_user_of_unique_use()) is not None and (
            isinstance(view, bnn.RegroupOp) or isinstance(view, bnn.ReshapeOp) and same_layout(
                chw(bnn.shape_of(view.input.type)), chw(bnn.shape_of(view.output.type)))
        ):
            result = view.results[0]
        users = [u.operation for u in result.uses]
        if not users or not all(isinstance(u, bnn.Conv2dOp) for u in users) and not (
            len(users) == 1 and isinstance(users[0], bnn.MaxPoolOp)
        ):
            return False
        shape = chw(bnn.shape_of(result.type))
        try:
            producer()
            for u in users:
                if isinstance(u, bnn.MaxPoolOp):
                    self.pool_tiling(u, shape, "bits", True, False)
                else:
                    group = [cv for cv in users if isinstance(cv, bnn.Conv2dOp) and cv.output.type == u.output.type
                             and cv.strides == u.strides and cv.dilations == u.dilations]
                    tiling.choose_conv_tiling(self.conv_shape("next", group, True, shape, True, False), self.machine)
        except ChewcError:
            return False  # spill: the map goes to DRAM
        return True

    def lower_add(self, op: bnn.AddOp) -> None:
        self.values[op.output] = self.add_maps(self.values[op.lhs], self.values[op.rhs], f"add{len(self.values)}")

    def add_maps(self, a: DramTensor, b: DramTensor, name: str) -> DramTensor:
        c, h, w = a.shape
        t = tiling.choose_map_tiling(MapShape(name, c, h, w, h, w, 1, 1, False), self.machine,
                                     lambda blk, rows: {"acc": 2 * blk * rows * w})  # the sum overwrites lhs
        out = self.dram((c, h, w), "int16", name)
        schedule.add_maps(self, name, a.shape, t, a.buffer, b.buffer, out.buffer)
        self.spent += self.price(lambda e: schedule.add_maps(
            e, name, a.shape, t, mapping.DRAM, mapping.DRAM, mapping.DRAM))
        return out


def slice_graph(shape: tuple[int, ...], strides: tuple[int, ...]) -> bytes:
    """An ONNX model 'in' [1, C, H, W] -> 'out': rows 0, s0, 2 s0, ... and columns 0, s1, ... (opset 13)."""
    _, h, w = shape
    consts = [onnx_helper.make_tensor(name, onnx.TensorProto.INT64, [2], values) for name, values in
              (("starts", [0, 0]), ("ends", [h, w]), ("axes", [2, 3]), ("steps", list(strides)))]
    graph = onnx_helper.make_graph(
        [onnx_helper.make_node("Slice", ["in", "starts", "ends", "axes", "steps"], ["out"])], "subsample",
        [onnx_helper.make_tensor_value_info("in", onnx.TensorProto.FLOAT, [1, *shape])],
        [onnx_helper.make_tensor_value_info("out", onnx.TensorProto.FLOAT, None)], consts,
    )
    model = onnx_helper.make_model(graph, opset_imports=[onnx_helper.make_opsetid("", 13)], producer_name="chewc")
    model.ir_version = 8
    return model.SerializeToString(deterministic=True)


def same_layout(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    """Whether two shapes of a ±1 tensor lay out its words identically (integers always do)."""
    return a == b or (a[1:] == (1, 1) and b[1:] == (1, 1))


@dataclass(frozen=True)
class SubConv:
    """One CONV of a layer's accumulation: its weights, window pads and pad value; for a bit plane, the
    first input channel group it reads, its channels and its shift."""

    weights: np.ndarray  # ±1 [O, C, KH, KW]
    pads: tuple[int, ...]
    pad_value: str
    group: int = 0
    lanes: int = 0  # 0: every channel of the chunk
    shift: int = 0

    def geom(self, m: Machine) -> schedule.SubGeom:
        kh, kw = self.weights.shape[2:]
        return schedule.SubGeom(kh, kw, self.pads[0], self.pads[1], PAD_MODE[self.pad_value], groups(self.weights.shape[1]),
                                self.group, self.lanes, self.shift, m.array.pack(kh))


def pack_weights(subs: Sequence[SubConv], t: tiling.ConvTiling, shape: ConvShape) -> np.ndarray:
    """The layer's weight words in the order its schedule loads them: per (channel block, group chunk), the
    sub-kernels' weights [blk][chunk][kh][kw] in turn (a bit plane's own groups only)."""
    _, n_ob, n_ch = t.tiles(shape)
    blk, ch = t.block, t.chunk
    packed = [weight_words(sub.weights) for sub in subs]  # [O][G][kh][kw] words
    return np.concatenate([pw[b * blk:(b + 1) * blk, j * ch:(j + 1) * ch].reshape(-1)
                           for b in range(n_ob) for j in range(n_ch) for pw in packed])


def sub_convs(op: bnn.BitplaneConv2dOp, stacked: tuple[int, ...]) -> list[SubConv]:
    """The CONVs of a bit-plane conv: plane b reads its own channel groups of the stacked planes, with the
    weights negated for a negative plane weight, and adds 2**b times its sums; planes pad with -1."""
    w = op.weights.to_array()
    per_plane = groups(stacked[0]) // op.planes.bits
    return [SubConv(w if weight > 0 else -w, bnn.ints(op.pads), "-1", b * per_plane, w.shape[1],
                    abs(weight).bit_length() - 1)
            for b, weight in enumerate(op.planes.weights())]


def layer_name(name: str, result: SSAValue) -> str:
    """How errors name a layer: ours, and the ONNX tensor it computes when known."""
    tensor = result.owner.attributes.get(bnn.ONNX_NAME) if isinstance(result.owner, Operation) else None
    return f"{name} (ONNX tensor '{tensor.data}')" if isinstance(tensor, StringAttr) else name


# -- one rewrite pattern per bnn op -------------------------------------------------------------


@dataclass
class LowerOp(RewritePattern):
    """Lowers one kind of `bnn` op: its tile ops go before it, and `Lowering` records where its results
    now lie. Ops are lowered in program order and erased once the whole function is (later layers'
    analyses read their producers: conv groups, maps kept on chip)."""

    lw: Lowering


class LowerConv(LowerOp):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: bnn.Conv2dOp | bnn.BitplaneConv2dOp, rewriter: PatternRewriter) -> None:
        self.lw.conv_sum(op)


class LowerAdd(LowerOp):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: bnn.AddOp, rewriter: PatternRewriter) -> None:
        if not self.lw.conv_sum(op):
            with self.lw.lowering(op):
                self.lw.lower_add(op)


class LowerThreshold(LowerOp):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: bnn.ThresholdOp, rewriter: PatternRewriter) -> None:
        lw = self.lw
        group = conv_group(op.input) if op.input.has_one_use() else None
        with lw.lowering(op):
            if group is None:
                lw.lower_threshold(op)
                return
            src = lw.values[group.input]
            name = lw.layer_label()
            keep = lw.can_keep(op.output, lambda: tiling.choose_conv_tiling(
                lw.group_shape("conv", group, True, src.on_chip, True), lw.machine))
            if (pool := lw.pool_of_bits(op, group, keep)) is not None:
                after = lw.pool_after(pool)
                keep_pooled = lw.can_keep(pool.output, lambda: tiling.choose_conv_tiling(
                    lw.group_shape("conv", group, True, src.on_chip, True, after, pool_bits=True), lw.machine))
                lw.lower_layer(name, group, op, op.output, keep_pooled, pool, pool_bits=True)
                return
            lw.lower_layer(name, group, op, op.output, keep)


class LowerMaxPool(LowerOp):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: bnn.MaxPoolOp, rewriter: PatternRewriter) -> None:
        lw = self.lw
        with lw.lowering(op):
            if op.output in lw.values:
                return  # lowered with the conv it pools
            src = lw.values[op.input]
            keep = src.dtype == "bits" and lw.can_keep(
                op.output, lambda: lw.pool_tiling(op, src.shape, "bits", src.on_chip, True))
            lw.lower_maxpool(op, keep)


class LowerHost(LowerOp):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: bnn.HostOp, rewriter: PatternRewriter) -> None:
        with self.lw.lowering(op):
            self.lw.lower_host(op)


class LowerSign(LowerOp):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: bnn.SignOp, rewriter: PatternRewriter) -> None:
        with self.lw.lowering(op):
            self.lw.lower_sign(op)


class LowerBitplanes(LowerOp):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: bnn.BitplanesOp, rewriter: PatternRewriter) -> None:
        with self.lw.lowering(op):
            self.lw.lower_bitplanes(op)


class LowerReshape(LowerOp):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: bnn.ReshapeOp, rewriter: PatternRewriter) -> None:
        with self.lw.lowering(op):
            self.lw.lower_reshape(op)


class LowerRegroup(LowerOp):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: bnn.RegroupOp, rewriter: PatternRewriter) -> None:
        with self.lw.lowering(op):
            self.lw.lower_regroup(op)


class LowerSubsample(LowerOp):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: bnn.SubsampleOp, rewriter: PatternRewriter) -> None:
        with self.lw.lowering(op):
            self.lw.lower_subsample(op)


class LowerReturn(LowerOp):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: func.ReturnOp, rewriter: PatternRewriter) -> None:
        with self.lw.lowering(op):
            self.lw.lower_return(op)


PATTERNS: tuple[type[LowerOp], ...] = (LowerConv, LowerAdd, LowerThreshold, LowerMaxPool, LowerHost, LowerSign,
                                       LowerBitplanes, LowerReshape, LowerRegroup, LowerSubsample, LowerReturn)


@dataclass(frozen=True)
class TileLoopsPass(ModulePass):
    """Lower @main from `bnn` (after bnn-dense-to-conv and bnn-decompose-kernels) to `tile`."""

    name = "tile-loops"
    machine: str | None = None  # a machine description replacing the module's

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        m = module_machine(op, self.machine)
        for fn in functions(op):
            lower_function(fn, m)


STREAM_RETRIES = 8  # lowerings of a function that each leave out one more map kept in ACC, before none is


@dataclass
class StreamMiss(Exception):
    """A layer did not fit beside the int16 map kept in ACC, made by the op at `index` of the function."""

    index: int


def lower_function(fn: func.FuncOp, m: Machine) -> None:
    """Lower `fn`, keeping int16 maps in ACC between layers where they fit. Where a layer in between does
    not fit beside such a map, the function is lowered again (from a copy) with that map in DRAM; after
    `STREAM_RETRIES` misses, or any other error, with every map in DRAM."""
    if any(residual_user(r) is not None and math.prod(bnn.shape_of(r.type)[1:]) <= m.memory.words("acc")
           for op in fn.body.block.ops for r in op.results):
        missed: set[int] = set()
        for _ in range(STREAM_RETRIES):
            trial = fn.clone()
            try:
                lower_ops(trial, m, missed)
            except StreamMiss as miss:
                missed.add(miss.index)
                continue
            except ChewcError:
                break
            Rewriter.replace_op(fn, trial)
            return
    lower_ops(fn, m, None)


def lower_ops(fn: func.FuncOp, m: Machine, missed: set[int] | None) -> None:
    """Lower the ops of `fn`; `missed`: the ops whose int16 maps must not stay in ACC (None: no map does)."""
    block = fn.body.block
    bounds, layer_of = function_bounds(fn, m)
    ops = list(block.ops)
    no_stream = {ops[i].results[0] for i in missed or ()}
    lw = Lowering(m, Builder(InsertPoint.at_start(block)), layer_bounds=bounds, layer_of=layer_of,
                  streams=missed is not None, no_stream=no_stream)
    lw.lower_input(block.args[0])
    patterns = GreedyRewritePatternApplier([p(lw) for p in PATTERNS])
    # one walk in program order, each op once: xDSL's walker would also revisit the tile ops it inserts,
    # and it rewraps the pass's errors (one line, naming the layer) as diagnostics
    for o in ops:
        try:
            if o not in lw.done:
                patterns.match_and_rewrite(o, PatternRewriter(o))
        except ChewcError as e:
            if lw.stream is not None and isinstance(lw.stream.owner, Operation):
                raise StreamMiss(ops.index(lw.stream.owner)) from e
            raise
        if o not in lw.done:
            raise ChewcError(f"tile-loops: {o.name} has no lowering (run bnn-dense-to-conv first for bnn.dense)")
    lw.close_marks()
    for o in reversed(ops):
        Rewriter.erase_op(o)
    ret = block.last_op
    assert isinstance(ret, func.ReturnOp)
    fn.function_type = func.FunctionType.from_lists([a.type for a in block.args], [r.type for r in ret.arguments])
