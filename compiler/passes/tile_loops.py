"""`tile-loops`: lower `bnn` layers to `tile` loop nests over buffers, sized to the machine's memories.

Every tensor between layers lives in DRAM in the ISA's layout; a layer streams its input rows and
weights on chip, computes a tile (output rows x output-channel block) and streams the result back.
Tile sizes come from `compiler.tiling` (fit on chip, least off-chip traffic); when two input buffers
fit, the next row tile's DMA is issued before the current tile computes (double buffering).

A layer is a conv group (`compiler.layers`): the convs `bnn.add`s sum (sub-convolutions from
`bnn-decompose-kernels` included) accumulate in ACC, onto a residual map loaded into ACC first when the
sum adds one, then are thresholded, or max-pooled in ACC (an integer pool right after the conv, e.g. an
ImageNet stem), before anything is written back: none of these intermediate sums crosses DRAM.

Semantics preserved: each layer's DRAM result equals the `bnn` op's reference result, bit for bit.
Float and relayout work becomes `tile.host` steps between accelerator phases.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import helper as onnx_helper
from xdsl.builder import Builder
from xdsl.context import Context
from xdsl.dialects import arith, func
from xdsl.dialects.builtin import (
    ArrayAttr,
    DictionaryAttr,
    IndexType,
    IntegerAttr,
    IntegerType,
    ModuleOp,
    StringAttr,
    TensorType,
)
from xdsl.ir import Block, Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint

from compiler import tiling
from compiler.bounds import function_bounds
from compiler.layers import Conv, ConvGroup, conv_group, in_group
from compiler.passes.common import functions, module_machine, replace_body
from compiler.tiling import ConvShape, MapShape, groups
from dialects import bnn, tile
from isa.container import to_chw
from isa.errors import ChewcError
from isa.machine import Machine
from isa.table import CHANNELS_PER_WORD
from runtime.host import bits_words

PAD_MODE = {"-1": 0, "+1": 1, "zero": 2}  # tile.PAD_MODES: neg, pos, gate


@dataclass
class DramTensor:
    """Where a tensor between layers lives: in DRAM, or (on_chip) as a whole ±1 map kept in FMEM for its
    consumers, when producer and consumers fit beside it (else it spills to DRAM)."""

    buffer: SSAValue
    shape: tuple[int, ...]  # logical [C, H, W] (batch dropped)
    dtype: str  # bits | int16 | f32
    on_chip: bool = False

    def desc(self, zero: str = "") -> DictionaryAttr:
        return tile.tensor_desc(self.shape, self.dtype, zero)


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
    """Two TMEM words per channel: the int16 threshold and its mode (0 ge, 1 le, 2 +1, 3 -1)."""
    t = np.asarray(bnn.ints(th.thresholds), np.int64)
    if t.min() < -(2**15) or t.max() >= 2**15:
        raise ChewcError(f"layer {layer}: a threshold does not fit the int16 threshold memory")
    modes = np.array(["gl+-".index(m) for m in th.modes.data], np.int64)
    return np.stack([t, modes], 1).reshape(-1) & 0xFFFF


@dataclass
class Lowering:
    """Builds the tile program of one function, layer by layer, at the end of the new body."""

    machine: Machine
    builder: Builder
    values: dict[SSAValue, DramTensor] = field(default_factory=dict)
    # index constants already made in a block: later ops of the block reuse them
    constants: dict[tuple[Block, int], SSAValue] = field(default_factory=dict)

    # -- small builders ------------------------------------------------------------------------

    def add(self, op: Operation) -> Operation:
        return self.builder.insert(op)

    def idx(self, n: int) -> SSAValue:
        block = self.builder.insertion_point.block
        if (block, n) not in self.constants:
            self.constants[block, n] = self.add(arith.ConstantOp(IntegerAttr(n, IndexType()))).result
        return self.constants[block, n]

    def mul(self, a: SSAValue, n: int) -> SSAValue:
        return a if n == 1 else self.add(arith.MuliOp(a, self.idx(n))).result

    def plus(self, a: SSAValue, n: int) -> SSAValue:
        return a if n == 0 else self.add(arith.AddiOp(a, self.idx(n))).result

    def clamp(self, a: SSAValue, lo: int, hi: int) -> SSAValue:
        return self.add(arith.MinSIOp(self.add(arith.MaxSIOp(a, self.idx(lo))).result, self.idx(hi))).result

    def alloc(self, space: str, words: int, label: str) -> SSAValue:
        return self.add(tile.AllocOp(space, words, label)).buffer

    def dram(self, shape: tuple[int, ...], dtype: str, label: str) -> DramTensor:
        words = tile.desc_words(tile.tensor_desc(shape, dtype))
        return DramTensor(self.alloc("dram", words, label), shape, dtype)

    def const(self, label: str, words: np.ndarray) -> SSAValue:
        return self.add(tile.ConstOp(label, words.astype("<u2").tobytes())).buffer

    def dma(self, src, src_off, dst, dst_off, count: int, length: int, src_stride: int, dst_stride: int) -> None:  # noqa: ANN001
        self.add(tile.DmaOp(src, src_off, dst, dst_off, count, length, src_stride, dst_stride))

    def sync(self) -> None:
        self.add(tile.SyncOp())

    def loop(self, n: int, step: int, unit: str, body: Callable[[SSAValue], None]) -> None:
        """A `tile.for` (or the body alone, for a single iteration)."""
        if n == step:
            body(self.idx(0))
            return
        loop = self.add(tile.ForOp(0, n, step, unit))
        outer = self.builder
        self.builder = Builder(InsertPoint.at_end(loop.body.block))
        body(loop.iv)
        self.add(tile.YieldOp())
        self.builder = outer

    def host(self, reason: str, ins: list[DramTensor], outs: list[DramTensor], onnx_b64: str = "",
             in_names: list[str] | None = None, out_names: list[str] | None = None, zero: str = "") -> None:
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

    def lower_input(self, arg: SSAValue, old: SSAValue) -> None:
        assert isinstance(arg.type, TensorType)
        t = self.dram(tuple(arg.type.get_shape())[1:], "f32", "input")
        self.add(tile.WriteOp(arg, t.buffer, t.desc()))
        self.values[old] = t

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
        self.add(tile.HostOp.build(
            operands=[[self.values[op.input].buffer], [out.buffer]],
            properties={
                "reason": StringAttr(f"split the {planes.bits}-bit input into bit planes ({op.name})"),
                "onnx": StringAttr(""),
                "in_names": ArrayAttr([StringAttr("in")]), "out_names": ArrayAttr([StringAttr("out")]),
                "in_descs": ArrayAttr([self.values[op.input].desc()]), "out_descs": ArrayAttr([out.desc()]),
                **tile.planes_properties(planes),
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
        self.add(func.ReturnOp(*results))

    # -- accelerator layers --------------------------------------------------------------------

    def conv_shape(self, name: str, convs: Sequence[Conv], thresholded: bool, src_shape: tuple[int, ...],
                   in_resident: bool, out_resident: bool, one_pass: bool = False,
                   pool: tiling.PoolAfter | None = None) -> ConvShape:
        """`one_pass`: every channel group in one CONV per tile (bit planes always); `pool`: an integer max-pool
        of the sums the layer runs before they leave ACC."""
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
                         in_resident, out_resident, one_pass or isinstance(convs[0], bnn.BitplaneConv2dOp), pool)

    def group_shape(self, name: str, group: ConvGroup, thresholded: bool, in_resident: bool,
                    out_resident: bool, pool: tiling.PoolAfter | None = None) -> ConvShape:
        """A group's layer shape; a residual whose partial sums may overflow takes one CONV per tile."""
        one_pass = group.residual is not None and not group.partial_sums_fit
        return self.conv_shape(name, group.convs, thresholded, self.values[group.input].shape, in_resident,
                               out_resident, one_pass, pool)

    def lower_layer(self, name: str, group: ConvGroup, th: bnn.ThresholdOp | None, result: SSAValue,
                    keep: bool = False, pool: bnn.MaxPoolOp | None = None) -> None:
        """A conv group with its residual, and its threshold or the integer max-pool of its sums. What no
        tiling fits in one layer runs apart: the pool after the sums reach DRAM; a residual that needs one
        CONV per tile (see `compiler.layers`) by ADD after the convs, the sum thresholded apart."""
        src = self.values[group.input]
        pool_after = self.pool_after(pool) if pool is not None else None
        if pool_after is not None and not self.tiles(self.group_shape(name, group, False, src.on_chip, False, pool_after)):
            pool_after = None
        if group.residual is not None and not group.partial_sums_fit and not self.tiles(
            self.group_shape(name, group, th is not None, src.on_chip, keep, pool_after)
        ):
            sums = self.lower_conv_group(name, group.convs, None, result)
            total = self.add_maps(sums, self.values[group.residual], f"{name}.add")
            self.values[result] = self.threshold_map(total, th) if th is not None else total
        else:
            self.values[result] = self.lower_conv_group(name, group.convs, th, result, keep, group, pool_after)
        if pool is not None:
            if pool_after is None:
                self.lower_maxpool(pool)
            else:
                self.values[pool.output] = self.values.pop(result)

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
                         keep: bool = False, group: ConvGroup | None = None,
                         pool: tiling.PoolAfter | None = None) -> DramTensor:
        """The convs of a layer summed in ACC (onto `group`'s residual, loaded first, if it has one), then
        thresholded, or max-pooled in ACC by `pool`."""
        src = self.values[convs[0].input]
        c, h, w = src.shape
        _, o, oh, ow = bnn.shape_of(convs[0].output.type)
        residual = self.values[group.residual] if group is not None and group.residual is not None else None
        if group is not None:
            shape = self.group_shape(layer_name(name, result), group, th is not None, src.on_chip, keep, pool)
        else:
            shape = self.conv_shape(layer_name(name, result), convs, th is not None, src.shape, src.on_chip, keep)
        s, d, kernels, (lo, _) = shape.stride, shape.dilation, shape.kernels, shape.row_span
        t = tiling.choose_conv_tiling(shape, self.machine)
        n_rt, n_ob, n_ch = t.tiles(shape)
        crows = shape.conv_rows(t.rows)  # conv rows a tile computes (more than its rows under a pool)
        g, rows_in, blk, ch = shape.g, shape.rows_in(crows), t.block, t.chunk
        if keep:
            out = DramTensor(self.alloc("fmem", groups(o) * oh * ow, f"{name}.map"), (o, oh, ow), "bits", True)
        elif pool is not None:
            out = self.dram((o, pool.oh, pool.ow), "int16", f"{name}.pool")
        else:
            out = self.dram((o, oh, ow), "bits" if th else "int16", name)

        if isinstance(convs[0], bnn.BitplaneConv2dOp):
            subs = sub_convs(convs[0], src.shape)
            if n_ch > 1:
                raise ChewcError(f"layer {shape.name}: the weights of all {len(subs)} bit planes must fit WMEM at "
                                 f"once ({shape.weight_words_per_oc} words per output channel)")
        else:
            subs = [SubConv(cv.weights.to_array(), bnn.ints(cv.pads), cv.pad_value.data) for cv in convs]
        # constants: per (channel block, group chunk), the sub-kernels' weights [blk][ch][kh][kw] in turn (a bit
        # plane's own groups only)
        packed = [weight_words(sub.weights) for sub in subs]  # [O][G][kh][kw] words
        wwords = np.concatenate([
            pw[b * blk:(b + 1) * blk, j * ch:(j + 1) * ch].reshape(-1)
            for b in range(n_ob) for j in range(n_ch) for pw in packed
        ])
        wconst = self.const(f"{name}.weights", wwords)
        sizes = [blk * min(ch, pw.shape[1]) * pw.shape[2] * pw.shape[3] for pw in packed]
        w_block = sum(sizes)  # one (block, chunk) step
        sub_off = np.cumsum([0] + sizes)
        wbuf = self.alloc("wmem", w_block, f"{name}.w")
        abuf = self.alloc("acc", blk * crows * ow, f"{name}.acc")
        if pool is not None:
            pbuf = self.alloc("acc", blk * t.rows * pool.ow, f"{name}.pooled")
        ibuf = src.buffer if src.on_chip else self.alloc("fmem", g * rows_in * w * (2 if t.double_buffer else 1), f"{name}.in")
        in_words = g * rows_in * w
        if th is not None:
            tconst = self.const(f"{name}.thresholds", threshold_words(shape.name, th))
            tbuf = self.alloc("tmem", 2 * blk, f"{name}.t")
            # THRESH fills it block by block: the row tile of every channel, or the whole kept map
            obuf = out.buffer if keep else self.alloc("fmem", groups(o) * t.rows * ow, f"{name}.out")
        zero = self.idx(0)

        def load_weights(ob: SSAValue, j: SSAValue) -> None:
            # (block ob/blk, chunk j) is step (ob/blk)*n_ch + j of w_block words each
            at = self.add(arith.AddiOp(self.mul(ob, n_ch * w_block // blk), self.mul(j, w_block))).result
            self.dma(wconst, at, wbuf, zero, 1, w_block, 0, 0)

        def load_thresholds(ob: SSAValue) -> None:
            if th is not None:
                self.dma(tconst, self.mul(ob, 2), tbuf, zero, 1, 2 * blk, 0, 0)

        def first_row(rt: SSAValue) -> SSAValue:
            """The first conv row of the tile whose first output row is rt (under a pool, its windows' first)."""
            if pool is None:
                return rt
            return self.clamp(self.plus(self.mul(rt, pool.stride), -pool.pad_top), 0, oh - crows)

        def window_start(rt: SSAValue) -> SSAValue:
            """The first input row the buffer holds for row tile rt (the whole map when it stays on chip)."""
            return zero if src.on_chip else self.clamp(self.plus(self.mul(rt, s), lo), 0, h - rows_in)

        def load_rows(rt: SSAValue, slot: SSAValue) -> SSAValue:
            start = window_start(rt)
            if not src.on_chip:
                self.dma(src.buffer, self.mul(start, w), ibuf, slot, g, rows_in * w, h * w, rows_in * w)
            return start

        def compute(out_row: SSAValue, rt: SSAValue, start: SSAValue, slot: SSAValue) -> None:
            """Row tile out_row, whose first conv row is rt, its input rows in the buffer from image row `start` on."""

            def chunk(ob: SSAValue, j: SSAValue, first: bool, lanes: int) -> None:
                if streamed:
                    load_weights(ob, j)
                    self.sync()
                # the chunk's channel groups are consecutive planes of the input buffer
                at = self.add(arith.AddiOp(slot, self.mul(j, ch * rows_in * w))).result
                for i, sub in enumerate(subs):
                    kh, kw = sub.weights.shape[2:]
                    p = sub.pads
                    geom = dict(in_h=h, in_w=w, in_c=sub.lanes or lanes, buf_rows=rows_in, kh=kh, kw=kw, stride=s,
                                dilation=d, pad_top=p[0], pad_left=p[1], pad_mode=PAD_MODE[sub.pad_value],
                                out_h=oh, out_w=ow, nrows=crows, oc_count=blk, accumulate=int(i > 0 or not first))
                    if sub.shift:
                        geom["shift"] = sub.shift
                    src_at = self.plus(at, sub.group * rows_in * w) if sub.group else at
                    self.add(tile.ConvOp(ibuf, src_at, wbuf, self.idx(int(sub_off[i])), abuf, zero, rt, start, geom))

            def block(ob: SSAValue) -> None:
                if n_ob > 1:
                    load_thresholds(ob)
                if residual is not None:  # the sums start from the residual's tile (streamed weights SYNC with it)
                    at = self.add(arith.AddiOp(self.mul(rt, ow), self.mul(ob, oh * ow))).result
                    self.dma(residual.buffer, at, abuf, zero, blk, crows * ow, oh * ow, crows * ow)
                    if not streamed:
                        self.sync()
                # peeled: it starts the sums (unless a residual did), the others add to them
                chunk(ob, zero, residual is None, min(c, CHANNELS_PER_WORD * ch))
                if n_ch > 1 and c % CHANNELS_PER_WORD == 0:
                    self.loop(n_ch - 1, 1, "cgroups", lambda j: chunk(ob, self.plus(j, 1), False, CHANNELS_PER_WORD * ch))
                else:  # the last chunk has fewer real channels: unrolled, each with its lane count
                    for j in range(1, n_ch):
                        chunk(ob, self.idx(j), False, min(CHANNELS_PER_WORD * ch, c - CHANNELS_PER_WORD * ch * j))
                if th is not None:
                    at, obuf_rows = (self.mul(rt, ow), oh) if keep else (zero, t.rows)
                    self.add(tile.ThresholdOp(abuf, zero, tbuf, zero, obuf, at, ob,
                                              dict(out_w=ow, obuf_rows=obuf_rows, nrows=t.rows, oc_count=blk)))
                elif pool is not None:
                    geom = dict(in_h=oh, in_w=ow, in_c=blk, buf_rows=crows, kh=pool.kh, kw=pool.kw, stride=pool.stride,
                                dilation=pool.dilation, pad_top=pool.pad_top, pad_left=pool.pad_left, out_h=pool.oh,
                                out_w=pool.ow, obuf_rows=t.rows, nrows=t.rows)
                    self.add(tile.PoolOp(abuf, zero, pbuf, zero, out_row, rt, geom))
                    plane = pool.oh * pool.ow
                    dst = self.add(arith.AddiOp(self.mul(out_row, pool.ow), self.mul(ob, plane))).result
                    self.dma(pbuf, zero, out.buffer, dst, blk, t.rows * pool.ow, t.rows * pool.ow, plane)
                    self.sync()
                else:
                    dst = self.add(arith.AddiOp(self.mul(rt, ow), self.mul(ob, oh * ow))).result
                    self.dma(abuf, zero, out.buffer, dst, blk, t.rows * ow, t.rows * ow, oh * ow)
                    self.sync()

            self.loop(o, blk, "ochannels", block)
            if th is not None and not keep:  # the row tile of every channel, in one transfer
                self.dma(obuf, zero, out.buffer, self.mul(rt, ow), groups(o), t.rows * ow, t.rows * ow, oh * ow)
                self.sync()

        streamed = n_ob > 1 or n_ch > 1  # else the weights stay on chip for the whole layer
        if not streamed:
            load_weights(zero, zero)
        if n_ob == 1:
            load_thresholds(zero)
        if t.double_buffer:
            load_rows(first_row(zero), zero)

            def row_tile(i: SSAValue) -> None:
                rt = self.mul(i, t.rows)
                slot = self.mul(self.add(arith.RemSIOp(i, self.idx(2))).result, in_words)
                nslot = self.mul(self.add(arith.RemSIOp(self.plus(i, 1), self.idx(2))).result, in_words)
                # this tile's rows (prefetched by the previous iteration) must have arrived; the SYNC comes
                # before the next prefetch, so that transfer still overlaps this tile's compute
                self.sync()
                load_rows(first_row(self.plus(rt, t.rows)), nslot)
                conv_row = first_row(rt)
                compute(rt, conv_row, window_start(conv_row), slot)

            self.loop(n_rt - 1, 1, "rows", row_tile)
            last = self.idx((n_rt - 1) * t.rows)  # peeled: nothing left to prefetch
            self.sync()
            conv_row = first_row(last)
            compute(last, conv_row, window_start(conv_row), self.idx(((n_rt - 1) % 2) * in_words))
        else:
            def row_tile_single(rt: SSAValue) -> None:
                conv_row = first_row(rt)
                start = load_rows(conv_row, zero)
                self.sync()  # the rows, and the layer's weights on the first tile
                compute(rt, conv_row, start, zero)

            self.loop(shape.out_h, t.rows, "rows", row_tile_single)
        return out

    def lower_threshold(self, op: bnn.ThresholdOp) -> None:
        """A threshold of sums that are not a fresh conv (after a residual add or an int pool)."""
        self.values[op.output] = self.threshold_map(self.values[op.input], op)

    def threshold_map(self, src: DramTensor, op: bnn.ThresholdOp) -> DramTensor:
        c, h, w = src.shape
        name = f"threshold{len(self.values)}"
        shape = MapShape(name, c, h, w, h, w, 1, 1, True)
        t = tiling.choose_map_tiling(shape, self.machine, lambda blk, rows: {
            "tmem": 2 * blk, "acc": blk * rows * w, "fmem": groups(blk) * rows * w})
        blk, rows = t.block, t.rows
        out = self.dram((c, h, w), "bits", name)
        tconst = self.const(f"{name}.thresholds", threshold_words(name, op))
        tbuf = self.alloc("tmem", 2 * blk, f"{name}.t")
        abuf = self.alloc("acc", blk * rows * w, f"{name}.acc")
        obuf = self.alloc("fmem", groups(blk) * rows * w, f"{name}.out")
        zero = self.idx(0)

        def block(ob: SSAValue) -> None:
            self.dma(tconst, self.mul(ob, 2), tbuf, zero, 1, 2 * blk, 0, 0)

            def row_tile(rt: SSAValue) -> None:
                at = self.add(arith.AddiOp(self.mul(ob, h * w), self.mul(rt, w))).result
                self.dma(src.buffer, at, abuf, zero, blk, rows * w, h * w, rows * w)
                self.sync()
                self.add(tile.ThresholdOp(abuf, zero, tbuf, zero, obuf, zero, zero,
                                          dict(out_w=w, obuf_rows=rows, nrows=rows, oc_count=blk)))
                group0 = self.add(arith.DivSIOp(ob, self.idx(CHANNELS_PER_WORD))).result
                dst = self.add(arith.AddiOp(self.mul(group0, h * w), self.mul(rt, w))).result
                self.dma(obuf, zero, out.buffer, dst, groups(blk), rows * w, rows * w, h * w)
                self.sync()

            self.loop(h, rows, "rows", row_tile)

        self.loop(c, blk, "ochannels", block)
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
        space, rows, n_planes, blk_planes = ("fmem" if bits else "acc"), t.rows, planes(c, bits), planes(t.block, bits)
        rows_in = h if src.on_chip else min(h, (rows - 1) * st[0] + d[0] * (k[0] - 1) + 1)
        if keep:
            out = DramTensor(self.alloc("fmem", n_planes * oh * ow, f"{name}.map"), (c, oh, ow), "bits", True)
        else:
            out = self.dram((c, oh, ow), src.dtype, name)
        ibuf = src.buffer if src.on_chip else self.alloc(space, blk_planes * rows_in * w, f"{name}.in")
        obuf = out.buffer if keep else self.alloc(space, blk_planes * rows * ow, f"{name}.out")
        zero = self.idx(0)

        def block(plane: SSAValue) -> None:
            def row_tile(rt: SSAValue) -> None:
                if src.on_chip:  # resident maps are one block (choose_map_tiling)
                    start = zero
                else:
                    start = self.clamp(self.plus(self.mul(rt, st[0]), -pads[0]), 0, h - rows_in)
                    at = self.add(arith.AddiOp(self.mul(plane, h * w), self.mul(start, w))).result
                    self.dma(src.buffer, at, ibuf, zero, blk_planes, rows_in * w, h * w, rows_in * w)
                    self.sync()
                at, obuf_rows = (self.mul(rt, ow), oh) if keep else (zero, rows)
                geom = dict(in_h=h, in_w=w, in_c=t.block, buf_rows=rows_in, kh=k[0], kw=k[1], stride=st[0],
                            dilation=d[0], pad_top=pads[0], pad_left=pads[1], out_h=oh, out_w=ow,
                            obuf_rows=obuf_rows, nrows=rows)
                self.add(tile.PoolOp(ibuf, zero, obuf, at, rt, start, geom))
                if not keep:
                    dst = self.add(arith.AddiOp(self.mul(plane, oh * ow), self.mul(rt, ow))).result
                    self.dma(obuf, zero, out.buffer, dst, blk_planes, rows * ow, rows * ow, oh * ow)
                    self.sync()

            self.loop(oh, rows, "rows", row_tile)

        self.loop(n_planes, blk_planes, "cgroups" if bits else "ochannels", block)
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
        blk, rows = t.block, t.rows
        out = self.dram((c, h, w), "int16", name)
        abuf = self.alloc("acc", blk * rows * w, f"{name}.a")
        bbuf = self.alloc("acc", blk * rows * w, f"{name}.b")
        zero = self.idx(0)

        def block(ob: SSAValue) -> None:
            def row_tile(rt: SSAValue) -> None:
                at = self.add(arith.AddiOp(self.mul(ob, h * w), self.mul(rt, w))).result
                for src, buf in ((a, abuf), (b, bbuf)):
                    self.dma(src.buffer, at, buf, zero, blk, rows * w, h * w, rows * w)
                self.sync()
                self.add(tile.AddOp(abuf, zero, bbuf, zero, abuf, zero, dict(out_w=w, nrows=rows, oc_count=blk)))
                self.dma(abuf, zero, out.buffer, at, blk, rows * w, rows * w, h * w)
                self.sync()

            self.loop(h, rows, "rows", row_tile)

        self.loop(c, blk, "ochannels", block)
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


def planes(channels: int, bits: bool) -> int:
    """Word planes of `channels` channels: 16 per word in a ±1 map, one per word in an integer map."""
    return groups(channels) if bits else channels


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


@dataclass(frozen=True)
class TileLoopsPass(ModulePass):
    """Lower @main from `bnn` (after bnn-dense-to-conv and bnn-decompose-kernels) to `tile`."""

    name = "tile-loops"
    machine: str | None = None  # a machine description replacing the module's

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        m = module_machine(op, self.machine)
        for fn in functions(op):
            self.lower_function(fn, m)

    def lower_function(self, fn: func.FuncOp, m: Machine) -> None:
        old = fn.body.block
        new = fn.body.block.__class__(arg_types=[a.type for a in old.args])
        lw = Lowering(m, Builder(InsertPoint.at_end(new)))
        lw.lower_input(new.args[0], old.args[0])
        bounds, layer_of = function_bounds(fn)
        current: int | None = None
        counter = 0
        for o in list(old.ops):
            if in_group(o):
                continue
            if (index := layer_of.get(o)) is not None and index != current:
                b = bounds.layers[index]
                lw.add(tile.LayerOp(b.name, b.kind, b.traffic_bits, math.ceil(b.cycle_bound)))
                current = index
            elif isinstance(o, bnn.HostOp | bnn.SignOp | bnn.BitplanesOp | bnn.SubsampleOp):
                name = o.attributes.get(bnn.ONNX_NAME)
                lw.add(tile.LayerOp(name.data if isinstance(name, StringAttr) else o.name, "host", -1, -1))
                current = None
            if isinstance(o, bnn.Conv2dOp | bnn.BitplaneConv2dOp | bnn.AddOp) and (group := conv_group(o.results[0])) is not None:
                user = o.results[0].get_user_of_unique_use()
                if isinstance(user, bnn.ThresholdOp):
                    continue  # lowered with its threshold
                counter += 1
                lw.lower_layer(f"conv{counter}", group, None, o.results[0],
                               pool=user if isinstance(user, bnn.MaxPoolOp) else None)
            elif isinstance(o, bnn.ThresholdOp):
                group = conv_group(o.input) if o.input.has_one_use() else None
                if group is not None:
                    counter += 1
                    src = lw.values[group.input]
                    keep = lw.can_keep(o.output, lambda: tiling.choose_conv_tiling(
                        lw.group_shape("conv", group, True, src.on_chip, True), m))
                    lw.lower_layer(f"conv{counter}", group, o, o.output, keep)
                else:
                    lw.lower_threshold(o)
            elif isinstance(o, bnn.AddOp):
                lw.lower_add(o)
            elif isinstance(o, bnn.MaxPoolOp) and o.output in lw.values:
                pass  # lowered with the conv it pools
            elif isinstance(o, bnn.MaxPoolOp):
                src = lw.values[o.input]
                keep = src.dtype == "bits" and lw.can_keep(
                    o.output, lambda: lw.pool_tiling(o, src.shape, "bits", src.on_chip, True))
                lw.lower_maxpool(o, keep)
            elif isinstance(o, bnn.HostOp):
                lw.lower_host(o)
            elif isinstance(o, bnn.SignOp):
                lw.lower_sign(o)
            elif isinstance(o, bnn.BitplanesOp):
                lw.lower_bitplanes(o)
            elif isinstance(o, bnn.ReshapeOp):
                lw.lower_reshape(o)
            elif isinstance(o, bnn.RegroupOp):
                lw.lower_regroup(o)
            elif isinstance(o, bnn.SubsampleOp):
                lw.lower_subsample(o)
            elif isinstance(o, func.ReturnOp):
                lw.lower_return(o)
            else:
                raise ChewcError(f"tile-loops: {o.name} has no lowering (run bnn-dense-to-conv first for bnn.dense)")
            lw.probe(o)
        replace_body(fn, new)
