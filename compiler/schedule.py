"""Layer schedules: the loop nest of each kind of layer, written once against an `Emitter`.

`tile-loops` runs a schedule on an emitter that builds `tile` IR (`compiler.passes.tile_loops`); the
mapping search (`compiler.mapping`) runs the same schedule on one that prices every step with the
emulator's cost model instead. What the search predicts is therefore what tile-loops emits.

A conv layer computes tiles (output rows x output-channel block x input-channel-group chunk), in one
of two loop orders. Row tiles outer: its input rows stream through one or two FMEM buffers (two: the
next row tile's DMA is issued before the current tile computes); its weights stay in WMEM for the whole
layer when they fit, else stream per (block, chunk) step, through one buffer or two (two: the next
step's weights load while this step computes); its sums accumulate in one ACC buffer or, with one
block and one chunk, two (two: the next tile's residual loads and this tile's int16 sums leave while the
next tile computes). Channel blocks outer: the whole input map is on chip, each block's weights load
once, and its row tiles follow. A residual map is loaded into ACC before the convs accumulate onto it; the sums are then
max-pooled in ACC or not, and thresholded into FMEM, stored as int16, or both (when another layer adds
the int16 map: the threshold then reads it in ACC instead of from DRAM). An int16 map kept in ACC
between layers (`ConvShape.residual_in_acc`, `sums_in_acc`) takes one row tile: each block's sums lie
at their place in the map, accumulated onto the residual in place, and neither is transferred. A ±1
max-pool after the threshold (`ConvShape.pool_bits`) runs depth first: each tile's thresholded conv rows
are pooled in FMEM (POOL.B) and only the pooled rows leave or stay.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from compiler.tiling import ConvShape, ConvTiling, MapTiling, groups
from dialects.tile import GeometryValues
from isa.table import CHANNELS_PER_WORD

Index = Any  # an index SSAValue when building IR, an int when pricing
Buffer = Any  # a tile buffer SSAValue when building IR, a `compiler.mapping.Buf` when pricing


class Emitter(Protocol):
    """What a schedule does: index arithmetic, buffers, transfers and the array's instructions."""

    def idx(self, n: int) -> Index: ...
    def mul(self, a: Index, n: int) -> Index: ...
    def plus(self, a: Index, n: int) -> Index: ...
    def addi(self, a: Index, b: Index) -> Index: ...
    def rem(self, a: Index, n: int) -> Index: ...
    def div(self, a: Index, n: int) -> Index: ...
    def clamp(self, a: Index, lo: int, hi: int) -> Index: ...
    def alloc(self, space: str, words: int, label: str) -> Buffer: ...
    def const(self, label: str, words: Callable[[], np.ndarray], size: int) -> Buffer: ...
    def dma(self, src: Buffer, src_off: Index, dst: Buffer, dst_off: Index, count: int, length: int,
            src_stride: int, dst_stride: int) -> None: ...
    def sync(self) -> None: ...
    def loop(self, n: int, step: int, unit: str, body: Callable[[Index], None]) -> None: ...
    def conv(self, src: Buffer, src_off: Index, weights: Buffer, w_off: Index, acc: Buffer, acc_off: Index,
             row0: Index, buf_row0: Index, geom: GeometryValues) -> None: ...
    def threshold(self, acc: Buffer, acc_off: Index, thresholds: Buffer, t_off: Index, out: Buffer, out_off: Index,
                  c0: Index, geom: GeometryValues) -> None: ...
    def pool(self, src: Buffer, src_off: Index, out: Buffer, out_off: Index, row0: Index, buf_row0: Index,
             geom: GeometryValues) -> None: ...
    def add_tiles(self, a: Buffer, a_off: Index, b: Buffer, b_off: Index, out: Buffer, out_off: Index,
                  geom: GeometryValues) -> None: ...


@dataclass(frozen=True)
class SubGeom:
    """One CONV of a layer's accumulation as the schedule sees it: window, pads and, for a bit plane, the
    first input channel group it reads, its channels and its shift."""

    kh: int
    kw: int
    pad_top: int
    pad_left: int
    pad_mode: str  # isa.table.PAD_MODES
    weight_groups: int  # channel groups of its weights
    group: int = 0
    lanes: int = 0  # 0: every channel of the chunk
    shift: int = 0
    pack: int = 1  # channel groups one window cycle can read at its kernel size (`ArraySpec.pack`)


@dataclass(frozen=True)
class ConvLayer:
    """Everything a conv layer's schedule (and so its cost) depends on, weights aside."""

    shape: ConvShape
    subs: tuple[SubGeom, ...]
    residual: bool  # the sums start from an int16 map loaded into ACC

    def step_words(self, t: ConvTiling) -> list[int]:
        """WMEM words of each sub-conv in one (block, chunk) step."""
        return [t.block * min(t.chunk, s.weight_groups) * s.kh * s.kw for s in self.subs]


@dataclass(frozen=True)
class ConvData:
    """A conv layer's operands: its input map (in DRAM, or the FMEM buffer of a kept map), the residual,
    the output (DRAM, or the FMEM buffer it is kept in) and its constants, packed for a tiling on demand."""

    src: Buffer
    out: Buffer
    weights: Callable[[ConvTiling], np.ndarray]
    thresholds: Callable[[], np.ndarray] | None
    residual: Buffer | None = None
    sums: Buffer | None = None  # where the int16 sums go when `out` is their threshold (`ConvShape.sums_out`)


def conv_layer(e: Emitter, label: str, layer: ConvLayer, t: ConvTiling, data: ConvData) -> None:
    s = layer.shape
    h, w, c, o, oh, ow = s.h, s.w, s.c, s.o, s.oh, s.ow
    stride, d, lo = s.stride, s.dilation, s.row_span[0]
    pool, keep, thresholded = s.pool, s.out_resident, s.thresholded
    out_h, out_w = s.out_h, s.out_w  # of the map the layer writes: pooled, under a pool
    n_rt, n_ob, n_ch = t.tiles(s)
    crows = s.conv_rows(t.rows)  # conv rows a tile computes (more than its rows under a pool)
    # blocks outer: each block's weights load once and its row tiles read the whole map, on chip throughout
    blocks_outer = t.order == "blocks"
    g, blk, ch = s.g, t.block, t.chunk
    rows_in = h if blocks_outer else s.rows_in(crows)
    sizes = layer.step_words(t)
    w_block = sum(sizes)  # one (block, chunk) step
    sub_off = np.cumsum([0] + sizes)
    wconst = e.const(f"{label}.weights", lambda: data.weights(t), n_ob * n_ch * w_block)
    wbuf = e.alloc("wmem", t.weight_buffers * w_block, f"{label}.w")
    a_words = blk * crows * ow  # one tile's sums
    # two accumulators: the next tile's residual loads, and this tile's int16 sums leave, while a tile computes
    two_acc = t.acc_buffers == 2
    sums_dst = data.sums if thresholded else data.out
    # a map kept in ACC (one row tile): each block's sums at its place in it, the residual's or their own
    whole_acc = s.residual_in_acc or (s.sums_in_acc and pool is None)
    if s.residual_in_acc:
        abuf = data.residual
    elif whole_acc:
        abuf = sums_dst
    else:
        abuf = e.alloc("acc", t.acc_buffers * a_words, f"{label}.acc")
    int_pool = pool is not None and not s.pool_bits  # on the sums in ACC, before any threshold
    if int_pool:
        pbuf = sums_dst if s.sums_in_acc else e.alloc("acc", blk * t.rows * pool.ow, f"{label}.pooled")
    ibuf = data.src if s.in_resident else e.alloc("fmem", g * rows_in * w * (2 if t.double_buffer else 1), f"{label}.in")
    in_words = g * rows_in * w
    if thresholded:
        assert data.thresholds is not None
        tconst = e.const(f"{label}.thresholds", data.thresholds, 2 * o)
        tbuf = e.alloc("tmem", 2 * blk, f"{label}.t")
        # THRESH fills it block by block: the row tile of every channel (blocks outer: of the block's), or
        # the whole kept map
        obuf = data.out if keep else e.alloc("fmem", groups(blk if blocks_outer else o) * t.rows * out_w,
                                                     f"{label}.out")
        if s.pool_bits:  # THRESH fills the tile's unpooled rows, POOL.B pools them into the buffer above
            bits_buf = e.alloc("fmem", groups(blk if blocks_outer else o) * crows * ow, f"{label}.bits")
    zero = e.idx(0)
    streamed = n_ob > 1 or n_ch > 1  # else the weights stay on chip for the whole layer
    steps = n_ob * n_ch  # (block, chunk) steps per row tile
    prefetch = t.weight_buffers == 2

    def load_weights(ob: Index, j: Index) -> None:
        # (block ob/blk, chunk j) is step (ob/blk)*n_ch + j of w_block words each
        e.dma(wconst, e.addi(e.mul(ob, n_ch * w_block // blk), e.mul(j, w_block)), wbuf, zero, 1, w_block, 0, 0)

    def weights_at(i: Index, ob: Index, j: Index, last: bool) -> Index:
        """With two weight buffers: the WMEM slot of step (row tile i, block ob, chunk j), once the next
        step's weights are on their way into the other slot (none after the layer's last step)."""
        k = e.addi(e.mul(i, steps), e.addi(e.mul(e.div(ob, blk), n_ch), j))
        e.sync()  # this step's weights, loaded during the previous step
        if not last:
            nxt = e.plus(k, 1)
            e.dma(wconst, e.mul(e.rem(nxt, steps), w_block), wbuf, e.mul(e.rem(nxt, 2), w_block), 1, w_block, 0, 0)
        return e.mul(e.rem(k, 2), w_block)

    def load_thresholds(ob: Index) -> None:
        if thresholded:
            e.dma(tconst, e.mul(ob, 2), tbuf, zero, 1, 2 * blk, 0, 0)

    def first_row(rt: Index) -> Index:
        """The first conv row of the tile whose first output row is rt (under a pool, its windows' first)."""
        if pool is None:
            return rt
        return e.clamp(e.plus(e.mul(rt, pool.stride), -pool.pad_top), 0, oh - crows)

    def window_start(rt: Index) -> Index:
        """The first input row the buffer holds for row tile rt (the whole map when it stays on chip)."""
        return zero if s.in_resident else e.clamp(e.plus(e.mul(rt, stride), lo), 0, h - rows_in)

    def load_rows(rt: Index, slot: Index) -> Index:
        start = window_start(rt)
        if not s.in_resident:
            e.dma(data.src, e.mul(start, w), ibuf, slot, g, rows_in * w, h * w, rows_in * w)
        return start

    def load_residual(rt: Index, acc_at: Index) -> None:
        e.dma(data.residual, e.mul(rt, ow), abuf, acc_at, blk, crows * ow, oh * ow, crows * ow)

    def store_sums(rt: Index, acc_at: Index) -> None:
        e.dma(abuf, acc_at, sums_dst, e.mul(rt, ow), blk, t.rows * ow, t.rows * ow, oh * ow)

    def pool_bits_tile(out_row: Index, rt: Index, channels: int, plane: Index) -> None:
        """POOL.B the tile's thresholded rows (conv rows from rt) of `channels` channels into output rows from
        out_row, at word plane `plane` of the map: into the kept map, or a buffer sent at once."""
        assert pool is not None
        at, rows = (e.addi(plane, e.mul(out_row, out_w)), out_h) if keep else (zero, t.rows)
        e.pool(bits_buf, zero, obuf, at, out_row, rt,
               dict(in_h=oh, in_w=ow, in_c=channels, buf_rows=crows, kh=pool.kh, kw=pool.kw, stride=pool.stride,
                    dilation=pool.dilation, pad_top=pool.pad_top, pad_left=pool.pad_left, out_h=pool.oh,
                    out_w=pool.ow, obuf_rows=rows, nrows=t.rows))
        if not keep:
            e.dma(obuf, zero, data.out, e.addi(plane, e.mul(out_row, out_w)), groups(channels), t.rows * out_w,
                  t.rows * out_w, out_h * out_w)
            e.sync()

    def compute(i: Index, out_row: Index, rt: Index, start: Index, slot: Index, acc_at: Index, last_tile: bool,
                only: Index | None = None) -> None:
        """Row tile i from output row out_row, whose first conv row is rt, its input rows in the buffer from
        image row `start` on, its sums at `acc_at` of the accumulator; `last_tile`: the layer's last. Blocks
        outer: of block `only` alone, whose weights and thresholds are on chip. Two accumulators: the
        residual is there already and the int16 sums leave with the next tile."""

        def chunk(ob: Index, j: Index, first: bool, lanes: int, last: bool, acc_b: Index) -> None:
            w_at = zero
            if prefetch:
                w_at = weights_at(i, ob, j, last)
            elif streamed and not blocks_outer:
                load_weights(ob, j)
                e.sync()
            # the chunk's channel groups are consecutive planes of the input buffer
            at = e.addi(slot, e.mul(j, ch * rows_in * w))
            for n, sub in enumerate(layer.subs):
                in_c = sub.lanes or lanes
                geom = dict(in_h=h, in_w=w, in_c=in_c, buf_rows=rows_in, kh=sub.kh, kw=sub.kw, stride=stride,
                            dilation=d, pad_top=sub.pad_top, pad_left=sub.pad_left, pad_mode=sub.pad_mode,
                            pack=min(sub.pack, groups(in_c)) - 1, out_h=oh, out_w=ow, nrows=crows, oc_count=blk,
                            accumulate=int(n > 0 or not first), shift=sub.shift)
                src_at = e.plus(at, sub.group * rows_in * w) if sub.group else at
                e.conv(ibuf, src_at, wbuf, e.plus(w_at, int(sub_off[n])), abuf, acc_b, rt, start, geom)

        def block(ob: Index, last_block: bool) -> None:
            if n_ob > 1 and not blocks_outer:
                load_thresholds(ob)
            acc_b = e.addi(acc_at, e.mul(ob, oh * ow)) if whole_acc else acc_at
            # the sums start from the residual's tile (streamed weights SYNC with it; two accumulators prefetch
            # it; kept in ACC, it is in place)
            if data.residual is not None and not two_acc and not s.residual_in_acc:
                at = e.addi(e.mul(rt, ow), e.mul(ob, oh * ow))
                e.dma(data.residual, at, abuf, zero, blk, crows * ow, oh * ow, crows * ow)
                if not streamed or blocks_outer:
                    e.sync()
            # peeled: it starts the sums (unless a residual did), the others add to them
            chunk(ob, zero, data.residual is None, min(c, CHANNELS_PER_WORD * ch), last_block and n_ch == 1, acc_b)
            if n_ch > 1 and c % CHANNELS_PER_WORD == 0:
                full = CHANNELS_PER_WORD * ch
                # the layer's last step prefetches nothing: peeled
                peel = int(last_block and prefetch)
                if n_ch - 1 - peel > 0:
                    e.loop(n_ch - 1 - peel, 1, "cgroups", lambda j: chunk(ob, e.plus(j, 1), False, full, False, acc_b))
                if peel:
                    chunk(ob, e.idx(n_ch - 1), False, full, True, acc_b)
            else:  # the last chunk has fewer real channels: unrolled, each with its lane count
                for j in range(1, n_ch):
                    chunk(ob, e.idx(j), False, min(CHANNELS_PER_WORD * ch, c - CHANNELS_PER_WORD * ch * j),
                          last_block and j == n_ch - 1, acc_b)
            sums, sums_at = abuf, acc_b  # the tile's sums in ACC, pooled or not
            if int_pool:
                geom = dict(in_h=oh, in_w=ow, in_c=blk, buf_rows=crows, kh=pool.kh, kw=pool.kw, stride=pool.stride,
                            dilation=pool.dilation, pad_top=pool.pad_top, pad_left=pool.pad_left, out_h=pool.oh,
                            out_w=pool.ow, obuf_rows=t.rows, nrows=t.rows)
                pool_at = e.mul(ob, pool.oh * pool.ow) if s.sums_in_acc else zero
                e.pool(abuf, acc_b, pbuf, pool_at, out_row, rt, geom)
                sums, sums_at = pbuf, pool_at
            if thresholded and s.pool_bits:
                # the tile's conv rows of the block's channels (blocks outer: the block's words alone)
                e.threshold(sums, sums_at, tbuf, zero, bits_buf, zero, zero if blocks_outer else ob,
                            dict(out_w=ow, obuf_rows=crows, nrows=crows, oc_count=blk))
                if blocks_outer:
                    pool_bits_tile(out_row, rt, blk, e.mul(e.div(ob, CHANNELS_PER_WORD), out_h * out_w))
            elif thresholded:
                at, obuf_rows = (e.mul(out_row, out_w), out_h) if keep else (zero, t.rows)
                # blocks outer (whole 16-channel words per block): the block's words alone, sent at once
                c0 = zero if blocks_outer and not keep else ob
                e.threshold(sums, sums_at, tbuf, zero, obuf, at, c0,
                            dict(out_w=out_w, obuf_rows=obuf_rows, nrows=t.rows, oc_count=blk))
                if blocks_outer and not keep:
                    dst = e.addi(e.mul(e.div(ob, CHANNELS_PER_WORD), out_h * out_w), e.mul(out_row, out_w))
                    e.dma(obuf, zero, data.out, dst, groups(blk), t.rows * out_w, t.rows * out_w, out_h * out_w)
                    e.sync()
            if s.writes_sums and not two_acc and not s.sums_in_acc:
                plane = out_h * out_w
                dst = e.addi(e.mul(out_row, out_w), e.mul(ob, plane))
                e.dma(sums, sums_at, sums_dst, dst, blk, t.rows * out_w, t.rows * out_w, plane)
                e.sync()

        if only is not None:
            block(only, last_tile)
            return
        if last_tile and prefetch and n_ob > 1:  # the layer's last block prefetches nothing at its end: peeled
            e.loop(o - blk, blk, "ochannels", lambda ob: block(ob, False))
            block(e.idx(o - blk), True)
        else:
            e.loop(o, blk, "ochannels", lambda ob: block(ob, last_tile))
        if s.pool_bits:
            pool_bits_tile(out_row, rt, o, zero)
        elif thresholded and not keep:  # the row tile of every channel, in one transfer
            e.dma(obuf, zero, data.out, e.mul(out_row, out_w), groups(o), t.rows * out_w, t.rows * out_w,
                  out_h * out_w)
            e.sync()

    if blocks_outer:
        if not s.in_resident:  # the whole map, once
            e.dma(data.src, zero, ibuf, zero, g, h * w, h * w, h * w)

        def block_rows(ob: Index) -> None:
            load_weights(ob, zero)
            load_thresholds(ob)
            e.sync()  # the block's weights and thresholds (and on the first block, the map)

            def row_tile(i: Index) -> None:
                rt = e.mul(i, t.rows)
                compute(i, rt, first_row(rt), zero, zero, zero, False, ob)

            e.loop(n_rt, 1, "rows", row_tile)

        e.loop(o, blk, "ochannels", block_rows)
        return

    if not streamed or prefetch:  # all the weights, or the first step's
        load_weights(zero, zero)
    if n_ob == 1:
        load_thresholds(zero)
    if two_acc and data.residual is not None:
        load_residual(zero, zero)

    def overlap(i: Index, first: bool, last: bool) -> Index:
        """With two accumulators, after tile i's SYNC: tile i-1's int16 sums leave and tile i+1's residual
        comes in (in that order: they share an accumulator), both behind tile i's compute. Tile i's slot."""
        if not two_acc:
            return zero
        rt, other = e.mul(i, t.rows), e.mul(e.rem(e.plus(i, 1), 2), a_words)
        if not first and s.writes_sums:
            store_sums(e.plus(rt, -t.rows), other)
        if not last and data.residual is not None:
            load_residual(e.plus(rt, t.rows), other)
        return e.mul(e.rem(i, 2), a_words)

    def row_loop(tile: Callable[[Index, bool, bool], None]) -> None:
        """Every row tile; the last peeled when it prefetches nothing, the first when it stores nothing."""
        peel_first = int(two_acc)
        peel_last = int(t.double_buffer or prefetch or two_acc)
        if peel_first:
            tile(zero, True, n_rt == 1)
        if n_rt - peel_first - peel_last > 0:
            e.loop(n_rt - peel_first - peel_last, 1, "rows", lambda i: tile(e.plus(i, peel_first), False, False))
        if peel_last and n_rt > peel_first:
            tile(e.idx(n_rt - 1), n_rt == 1, True)

    if t.double_buffer:
        load_rows(first_row(zero), zero)

        def row_tile(i: Index, first: bool, last: bool) -> None:
            rt = e.mul(i, t.rows)
            # this tile's rows (prefetched by the previous tile) must have arrived; the SYNC comes before
            # the next prefetch, so that transfer still overlaps this tile's compute
            e.sync()
            if not last:
                load_rows(first_row(e.plus(rt, t.rows)), e.mul(e.rem(e.plus(i, 1), 2), in_words))
            acc_at = overlap(i, first, last)
            conv_row = first_row(rt)
            compute(i, rt, conv_row, window_start(conv_row), e.mul(e.rem(i, 2), in_words), acc_at, last)

        row_loop(row_tile)
    else:
        def row_tile_single(i: Index, first: bool, last: bool) -> None:
            rt = e.mul(i, t.rows)
            conv_row = first_row(rt)
            start = load_rows(conv_row, zero)
            e.sync()  # the rows, and the layer's weights on the first tile
            acc_at = overlap(i, first, last)
            compute(i, rt, conv_row, start, zero, acc_at, last)

        row_loop(row_tile_single)
    if two_acc and s.writes_sums:  # the last tile's sums
        e.sync()
        store_sums(e.idx((n_rt - 1) * t.rows), e.idx((n_rt - 1) % 2 * a_words))
        e.sync()


def threshold_map(e: Emitter, label: str, shape: tuple[int, int, int], t: MapTiling, src: Buffer, out: Buffer,
                  thresholds: Callable[[], np.ndarray]) -> None:
    """Binarise an int16 map in DRAM (sums that are not a fresh conv's) into a ±1 map in DRAM."""
    c, h, w = shape
    blk, rows = t.block, t.rows
    tconst = e.const(f"{label}.thresholds", thresholds, 2 * c)
    tbuf = e.alloc("tmem", 2 * blk, f"{label}.t")
    abuf = e.alloc("acc", blk * rows * w, f"{label}.acc")
    obuf = e.alloc("fmem", groups(blk) * rows * w, f"{label}.out")
    zero = e.idx(0)

    def block(ob: Index) -> None:
        e.dma(tconst, e.mul(ob, 2), tbuf, zero, 1, 2 * blk, 0, 0)

        def row_tile(rt: Index) -> None:
            at = e.addi(e.mul(ob, h * w), e.mul(rt, w))
            e.dma(src, at, abuf, zero, blk, rows * w, h * w, rows * w)
            e.sync()
            e.threshold(abuf, zero, tbuf, zero, obuf, zero, zero, dict(out_w=w, obuf_rows=rows, nrows=rows, oc_count=blk))
            dst = e.addi(e.mul(e.div(ob, CHANNELS_PER_WORD), h * w), e.mul(rt, w))
            e.dma(obuf, zero, out, dst, groups(blk), rows * w, rows * w, h * w)
            e.sync()

        e.loop(h, rows, "rows", row_tile)

    e.loop(c, blk, "ochannels", block)


def add_maps(e: Emitter, label: str, shape: tuple[int, int, int], t: MapTiling, a: Buffer, b: Buffer,
             out: Buffer) -> None:
    """The sum of two int16 maps in DRAM, tile by tile in ACC (the sum overwrites the left operand)."""
    c, h, w = shape
    blk, rows = t.block, t.rows
    abuf = e.alloc("acc", blk * rows * w, f"{label}.a")
    bbuf = e.alloc("acc", blk * rows * w, f"{label}.b")
    zero = e.idx(0)

    def block(ob: Index) -> None:
        def row_tile(rt: Index) -> None:
            at = e.addi(e.mul(ob, h * w), e.mul(rt, w))
            for src, buf in ((a, abuf), (b, bbuf)):
                e.dma(src, at, buf, zero, blk, rows * w, h * w, rows * w)
            e.sync()
            e.add_tiles(abuf, zero, bbuf, zero, abuf, zero, dict(out_w=w, nrows=rows, oc_count=blk))
            e.dma(abuf, zero, out, at, blk, rows * w, rows * w, h * w)
            e.sync()

        e.loop(h, rows, "rows", row_tile)

    e.loop(c, blk, "ochannels", block)


def planes(channels: int, bits: bool) -> int:
    """Word planes of `channels` channels: 16 per word in a ±1 map, one per word in an integer map."""
    return groups(channels) if bits else channels


@dataclass(frozen=True)
class PoolLayer:
    """A max-pool over a map: ±1 in FMEM (bits) or int16 in ACC."""

    c: int
    h: int
    w: int
    oh: int
    ow: int
    kernel: tuple[int, int]
    stride: int
    dilation: int
    pads: tuple[int, int]  # top, left
    bits: bool
    in_resident: bool
    out_resident: bool

    def planes(self, channels: int) -> int:
        return planes(channels, self.bits)


def maxpool(e: Emitter, label: str, p: PoolLayer, t: MapTiling, src: Buffer, out: Buffer) -> None:
    h, w, oh, ow = p.h, p.w, p.oh, p.ow
    space, rows = ("fmem" if p.bits else "acc"), t.rows
    n_planes, blk_planes = p.planes(p.c), p.planes(t.block)
    rows_in = h if p.in_resident else min(h, (rows - 1) * p.stride + p.dilation * (p.kernel[0] - 1) + 1)
    ibuf = src if p.in_resident else e.alloc(space, blk_planes * rows_in * w, f"{label}.in")
    obuf = out if p.out_resident else e.alloc(space, blk_planes * rows * ow, f"{label}.out")
    zero = e.idx(0)

    def block(plane: Index) -> None:
        def row_tile(rt: Index) -> None:
            if p.in_resident:  # resident maps are one block (choose_map_tiling)
                start = zero
            else:
                start = e.clamp(e.plus(e.mul(rt, p.stride), -p.pads[0]), 0, h - rows_in)
                e.dma(src, e.addi(e.mul(plane, h * w), e.mul(start, w)), ibuf, zero, blk_planes, rows_in * w, h * w,
                      rows_in * w)
                e.sync()
            at, obuf_rows = (e.mul(rt, ow), oh) if p.out_resident else (zero, rows)
            geom = dict(in_h=h, in_w=w, in_c=t.block, buf_rows=rows_in, kh=p.kernel[0], kw=p.kernel[1],
                        stride=p.stride, dilation=p.dilation, pad_top=p.pads[0], pad_left=p.pads[1], out_h=oh,
                        out_w=ow, obuf_rows=obuf_rows, nrows=rows)
            e.pool(ibuf, zero, obuf, at, rt, start, geom)
            if not p.out_resident:
                dst = e.addi(e.mul(plane, oh * ow), e.mul(rt, ow))
                e.dma(obuf, zero, out, dst, blk_planes, rows * ow, rows * ow, oh * ow)
                e.sync()

        e.loop(oh, rows, "rows", row_tile)

    e.loop(n_planes, blk_planes, "cgroups" if p.bits else "ochannels", block)
