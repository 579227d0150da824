"""Tile-size analysis: which output-row tiles and channel blocks fit the on-chip memories.

Pure functions of a layer's shape and the machine description. `conv_tilings` lists every tiling of a
conv layer that fits (rows, channel block, group chunk, input and weight buffers, loop order,
accumulators) with its off-chip traffic (input rows re-read at tile borders, weights re-read when they
do not stay on chip), which the mapping search (`compiler.mapping`) prices; `choose_conv_tiling` is the
feasibility check (least traffic, then fewer, larger tiles). Sizes are in 16-bit words, as the
memories count them.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from collections.abc import Callable
from dataclasses import dataclass

from isa.errors import ChewcError
from isa.machine import Machine
from isa.table import CHANNELS_PER_WORD


def groups(channels: int) -> int:
    return -(-channels // CHANNELS_PER_WORD)


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


@dataclass(frozen=True)
class PoolAfter:
    """An integer max-pool of a conv's sums, run from ACC before they leave the chip: a tile of pooled rows
    needs the conv rows under its windows (neighbouring tiles recompute the rows they share)."""

    kh: int
    kw: int
    stride: int
    dilation: int
    pad_top: int
    pad_left: int
    oh: int
    ow: int

    @property
    def k(self) -> int:
        """Window height in conv rows, dilation included."""
        return self.dilation * (self.kh - 1) + 1


@dataclass(frozen=True)
class ConvShape:
    """A binary conv layer (possibly several sub-kernels accumulated over the same input)."""

    name: str
    c: int
    h: int
    w: int
    o: int
    oh: int
    ow: int
    stride: int
    dilation: int
    kernels: tuple[tuple[int, int], ...]  # (kh, kw) of each sub-convolution
    row_span: tuple[int, int]  # input rows read by output row 0, relative to 0*stride (lo, hi inclusive)
    thresholded: bool
    in_resident: bool = False  # the input map stays in FMEM from the previous layer: no input DMA
    out_resident: bool = False  # the output map stays in FMEM for the next layer: no output DMA
    whole_groups: bool = False  # every input channel group in one chunk (bit planes: one CONV per plane)
    pool: PoolAfter | None = None
    # thresholded, and its int16 sums (pooled, under a pool) leave for DRAM too, for another user
    sums_out: bool = False
    # int16 maps kept in ACC between layers (a residual stream), one row tile then: the residual is already
    # there and the sums accumulate onto it in place; the sums (pooled, under a pool) stay there, in place
    # of the residual when it is there too, else in a map the layer's ACC need counts
    residual_in_acc: bool = False
    sums_in_acc: bool = False
    # `pool` is a max-pool of the thresholded ±1 map (POOL.B on each tile's rows in FMEM), not of the sums
    pool_bits: bool = False

    @property
    def out_h(self) -> int:
        """Rows of the map the layer writes (the pooled map's, after a pool)."""
        return self.pool.oh if self.pool else self.oh

    @property
    def out_w(self) -> int:
        return self.pool.ow if self.pool else self.ow

    @property
    def writes_sums(self) -> bool:
        """Whether the int16 sums leave the chip: unthresholded, or thresholded with `sums_out`."""
        return not self.thresholded or self.sums_out

    def conv_rows(self, rows: int) -> int:
        """Conv rows one tile of `rows` output rows computes."""
        return min(self.oh, (rows - 1) * self.pool.stride + self.pool.k) if self.pool else rows

    @property
    def g(self) -> int:
        return groups(self.c)

    @property
    def weight_words_per_oc(self) -> int:
        return self.g * sum(kh * kw for kh, kw in self.kernels)

    def rows_in(self, r: int) -> int:
        if self.in_resident:
            return self.h
        lo, hi = self.row_span
        return min(self.h, (r - 1) * self.stride + hi - lo + 1)


@dataclass(frozen=True)
class ConvTiling:
    rows: int  # output rows per tile (divides oh)
    block: int  # output channels per block (divides o)
    chunk: int  # input channel groups whose weights are on chip at once (divides g)
    double_buffer: bool  # two input buffers: the next tile's DMA overlaps this tile's compute
    traffic: int  # off-chip words moved (input rows and weights)
    weight_buffers: int = 1  # 2: the next (block, chunk) step's weights load while this step computes
    # loop order: "rows", row tiles outer (a tile's input rows load once, streamed weights once per tile);
    # "blocks", channel blocks outer (a block's weights load once, its row tiles read the whole map on chip)
    order: str = "rows"
    # 2: two accumulators, so a tile's residual loads and its int16 sums leave behind the next tile's
    # compute (row tiles outer, one block, one chunk)
    acc_buffers: int = 1

    def tiles(self, s: ConvShape) -> tuple[int, int, int]:
        return s.out_h // self.rows, s.o // self.block, s.g // self.chunk


def need(s: ConvShape, rows: int, block: int, chunk: int, double: bool, weight_buffers: int = 1,
         order: str = "rows", acc_buffers: int = 1) -> dict[str, int]:
    """Words of each on-chip memory one (row tile, channel block, group chunk) step needs."""
    crows = s.conv_rows(rows)
    in_buf = s.g * (s.h if order == "blocks" else s.rows_in(crows)) * s.w
    # every channel of the row tile (blocks outer: the block's), or of the whole map when it stays for the next layer
    words = groups(s.o if order == "rows" else block)  # of the channels a THRESH step fills
    if not s.thresholded:
        out_buf = 0
    elif s.out_resident:
        out_buf = groups(s.o) * s.out_h * s.out_w
    else:
        out_buf = words * rows * s.out_w
    if s.pool_bits:  # the tile's unpooled ±1 rows, pooled into the buffer above
        out_buf += words * crows * s.ow
    sums = acc_buffers * block * crows * s.ow  # a tile's sums
    pooled = block * rows * s.pool.ow if s.pool and not s.pool_bits else 0
    if s.sums_in_acc and not s.residual_in_acc:  # the whole map of sums (or pooled sums) stays
        sums, pooled = (sums, s.o * s.out_h * s.out_w) if s.pool else (s.o * s.oh * s.ow, 0)
    if s.residual_in_acc:  # the sums accumulate in the residual's words, which the caller has reserved
        sums = 0
    return {
        "fmem": in_buf * (2 if double else 1) + out_buf,
        "wmem": weight_buffers * block * chunk * sum(kh * kw for kh, kw in s.kernels),
        "tmem": 2 * block if s.thresholded else 0,
        "acc": sums + pooled,
    }


def fits(m: Machine, req: dict[str, int]) -> bool:
    return all(req[k] <= m.memory.words(k) for k in req)


def choose_conv_tiling(s: ConvShape, m: Machine) -> ConvTiling:
    if s.w > m.array.row_buffer_words:
        raise ChewcError(
            f"layer {s.name}: input rows of {s.w} pixels exceed the row buffers ({m.array.row_buffer_words} words)"
        )
    best = _best_conv_tiling(dataclasses.replace(s, name=""), m)
    if best is None:
        in_acc = s.residual_in_acc or s.sums_in_acc  # one row tile of the map kept in ACC
        smallest = need(s, s.out_h if in_acc else 1, 1, s.g if s.whole_groups else 1, False)
        over = [k for k in smallest if smallest[k] > m.memory.words(k)]
        if not over:
            raise ChewcError(f"layer {s.name}: no tile computes whole rows of the int16 map it keeps in ACC")
        k = over[0]
        raise ChewcError(
            f"layer {s.name}: one tile needs {smallest[k] * 2 / 1024:.1f} KiB of {k} memory, "
            f"the machine has {m.memory.words(k) * 2 / 1024:.1f} KiB"
        )
    return best


# ResNets repeat shapes (Group-Net's bases eight times over): each shape is searched once per machine
@functools.lru_cache(maxsize=1024)
def _best_conv_tiling(s: ConvShape, m: Machine) -> ConvTiling | None:
    """The least-traffic tiling, then fewer, larger tiles (feasibility, and the tiling when cost is not asked)."""
    options = conv_tilings(s, m)
    if not options:
        return None
    return min(options, key=lambda t: (t.traffic, -t.rows * t.block * t.chunk, not t.double_buffer, t.weight_buffers,
                                       t.order != "rows", t.acc_buffers))


WEIGHT_BUFFERS = (1, 2)  # WMEM buffers a streamed layer's weights may take


@functools.lru_cache(maxsize=1024)
def _conv_tilings(s: ConvShape, m: Machine) -> tuple[ConvTiling, ...]:
    found = []
    chunks = [s.g] if s.whole_groups else divisors(s.g)
    # a map kept in ACC is one row tile: its blocks lie at their places in the map
    row_options = [s.out_h] if s.residual_in_acc or s.sums_in_acc else divisors(s.out_h)
    for rows, block, chunk in itertools.product(row_options, divisors(s.o), chunks):
        if s.residual_in_acc and s.conv_rows(rows) != s.oh:  # the sums are the residual's rows, all of them
            continue
        n_rt = s.out_h // rows
        streamed = s.o // block > 1 or s.g // chunk > 1  # weights do not stay on chip
        inputs = 0 if s.in_resident else n_rt * s.g * s.rows_in(s.conv_rows(rows)) * s.w
        weights = s.o * s.weight_words_per_oc * (n_rt if streamed else 1)
        for double in (True, False) if n_rt > 1 and not s.in_resident else (False,):
            for wbufs in WEIGHT_BUFFERS if streamed else (1,):
                if fits(m, need(s, rows, block, chunk, double, wbufs)):
                    found.append(ConvTiling(rows, block, chunk, double, inputs + weights, wbufs))
            if n_rt > 1 and not streamed and s.pool is None and fits(m, need(s, rows, block, chunk, double, 1, "rows", 2)):
                found.append(ConvTiling(rows, block, chunk, double, inputs + weights, 1, "rows", 2))
        # blocks outer: worth it where row tiles would reload streamed weights; a block's words of the ±1 map
        # are its own when it is whole 16-channel words (or the map stays on chip)
        if (n_rt > 1 and s.o // block > 1 and chunk == s.g
                and (not s.thresholded or s.out_resident or block % CHANNELS_PER_WORD == 0)
                and fits(m, need(s, rows, block, chunk, False, 1, "blocks"))):
            inputs = 0 if s.in_resident else s.g * s.h * s.w
            found.append(ConvTiling(rows, block, chunk, False, inputs + s.o * s.weight_words_per_oc, 1, "blocks"))
    return tuple(found)


def conv_tilings(s: ConvShape, m: Machine) -> tuple[ConvTiling, ...]:
    """Every tiling of the layer that fits the machine's memories, with its off-chip traffic."""
    return _conv_tilings(dataclasses.replace(s, name=""), m)



@dataclass(frozen=True)
class MapShape:
    """A map processed tile by tile by a window op (pool) or an element-wise op (threshold, add): blocks
    of channels times row tiles."""

    name: str
    c: int
    h: int
    w: int
    oh: int
    ow: int
    k: int  # window height in input rows (dilation included); 1 for element-wise ops
    stride: int
    bit_blocks: bool  # a ±1 map is read or written: channel blocks fill whole 16-channel words
    in_resident: bool = False  # the input map stays in FMEM: every row of every channel is there
    out_resident: bool = False  # the output map stays in FMEM for the next layer

    def rows_in(self, rows: int) -> int:
        return self.h if self.in_resident else min(self.h, (rows - 1) * self.stride + self.k)

    def rows_out(self, rows: int) -> int:
        return self.oh if self.out_resident else rows


@dataclass(frozen=True)
class MapTiling:
    block: int  # channels per block: a divisor of c, a multiple of 16 on ±1 maps (or all of c)
    rows: int  # output rows per tile (divides oh)


def choose_map_tiling(s: MapShape, m: Machine, need: Callable[[int, int], dict[str, int]]) -> MapTiling:
    """Channel block and row tile of a map op whose (block, rows) step needs `need(block, rows)` words
    of each memory.  Least off-chip traffic first (input rows re-read where row tiles overlap; channel
    blocks read disjoint planes, so they cost none), then fewest steps, then the largest channel blocks
    (per-block parameters such as thresholds load once per block).  A resident map is one block."""
    whole = s.in_resident or s.out_resident
    blocks = [b for b in divisors(s.c) if b == s.c or (not whole and (not s.bit_blocks or b % CHANNELS_PER_WORD == 0))]
    best: tuple[tuple[int, int, int], MapTiling] | None = None
    for block, rows in itertools.product(blocks, divisors(s.oh)):
        if not fits(m, need(block, rows)):
            continue
        n_rt = s.oh // rows
        key = (n_rt * s.rows_in(rows), n_rt * (s.c // block), -block)
        if best is None or key < best[0]:
            best = key, MapTiling(block, rows)
    if best is None:
        smallest = need(min(blocks), 1)
        k = next(k for k in smallest if smallest[k] > m.memory.words(k))
        raise ChewcError(
            f"layer {s.name}: one output row of {min(blocks)} channels needs {smallest[k] * 2 / 1024:.1f} KiB "
            f"of {k} memory, the machine has {m.memory.words(k) * 2 / 1024:.1f} KiB"
        )
    return best[1]
