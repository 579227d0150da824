"""Mapping search: which tiling of a conv layer tile-loops emits, chosen by its predicted cost.

A mapping is a `compiler.tiling.ConvTiling`: output rows per tile, output channels per block, input
channel groups per weight chunk, and whether input rows and weights go through one buffer or two.
Each mapping that fits the memories is priced by running the layer's schedule (`compiler.schedule`, the
loop nest tile-loops emits) on `Timed`, an emitter that charges every instruction what the emulator's
cost model (`runtime.cost`) charges it, data aside: issue cycles, configuration that changes registers,
CONV / THRESH / POOL / ADD cycles from their geometry, and DMAs on a second engine that SYNC waits for.
The search keeps the mappings with the least off-chip traffic (the dominant energy), then takes the
fewest predicted cycles; ties go to fewer, larger tiles.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass, field

from compiler import schedule
from compiler.schedule import ConvLayer, Index
from compiler.tiling import ConvTiling, choose_conv_tiling, conv_tilings
from dialects.tile_to_isa import add_config, conv_config, dma_config, pool_config, threshold_config
from isa.instruction import Instruction
from isa.machine import Machine
from runtime.cost import (
    WINDOW_REGISTERS,
    Timeline,
    Work,
    add_work,
    conv_op_cost,
    dma_cycles,
    pool_work,
    threshold_work,
)


@dataclass(frozen=True)
class Buf:
    """A buffer as the pricing sees it."""

    space: str
    words: int


@dataclass(frozen=True)
class Cost:
    """Predicted cycles and off-chip bits of a piece of program."""

    cycles: int = 0
    dram_bits: int = 0

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.cycles + other.cycles, self.dram_bits + other.dram_bits)


Registers = dict[tuple[str, ...], tuple[int | str, ...]]  # a configuration instruction's registers -> values


@dataclass(frozen=True)
class Priced:
    """A predicted cost from a start with no registers set; `first` and `last`: the values each
    configuration instruction set first and last (each sets its own registers)."""

    cost: Cost
    first: tuple[tuple[tuple[str, ...], tuple[int | str, ...]], ...]
    last: tuple[tuple[tuple[str, ...], tuple[int | str, ...]], ...]

    def after(self, m: Machine, registers: Registers) -> Cost:
        """The cost following code that left `registers` (updated to what this code leaves): a first
        configuration that repeats their values is not emitted."""
        kept = sum(1 for kind, values in self.first if registers.get(kind) == values)
        registers.update(self.last)
        return Cost(self.cost.cycles - kept * m.control.issue_cycles, self.cost.dram_bits)


@dataclass(frozen=True)
class Mapping:
    tiling: ConvTiling
    priced: Priced

    @property
    def cost(self) -> Cost:
        return self.priced.cost

    def describe(self) -> str:
        t = self.tiling
        return (f"rows {t.rows}, block {t.block}, chunk {t.chunk}, input buffers {2 if t.double_buffer else 1}, "
                f"weight buffers {t.weight_buffers}" + (", blocks outer" if t.order == "blocks" else "")
                + (", accumulators 2" if t.acc_buffers == 2 else ""))


@dataclass
class Timed:
    """A `schedule.Emitter` that prices each step instead of building IR (indices are ints)."""

    m: Machine
    memo: _Memo
    timeline: Timeline = field(default_factory=Timeline)
    dram_bits: int = 0
    registers: Registers = field(default_factory=dict)
    first: Registers = field(default_factory=dict)

    def priced(self) -> Priced:
        return Priced(Cost(self.timeline.now, self.dram_bits), tuple(self.first.items()), tuple(self.registers.items()))

    # index arithmetic (indices are never negative: remainder and quotient as arith's)
    def idx(self, n: int) -> int:
        return n

    def mul(self, a: int, n: int) -> int:
        return a * n

    def plus(self, a: int, n: int) -> int:
        return a + n

    def addi(self, a: int, b: int) -> int:
        return a + b

    def rem(self, a: int, n: int) -> int:
        return a % n

    def div(self, a: int, n: int) -> int:
        return a // n

    def clamp(self, a: int, lo: int, hi: int) -> int:
        return min(max(a, lo), hi)

    def alloc(self, space: str, words: int, label: str) -> Buf:
        return Buf(space, words)

    def const(self, label: str, words: Callable[[], object], size: int) -> Buf:
        return Buf("dram", size)

    def loop(self, n: int, step: int, unit: str, body: Callable[[Index], None]) -> None:
        """Iterations after the second repeat its cost, except the last (edges: padding rows, nothing
        left to prefetch): two are priced, the middle ones extrapolated from the second, the last priced."""
        ivs = range(0, n, step)
        if len(ivs) <= 3:
            for iv in ivs:
                body(iv)
            return
        body(ivs[0])
        before = self._clocks()
        body(ivs[1])
        after = self._clocks()
        k = len(ivs) - 3
        t = self.timeline
        t.now, t.dma_free, t.dma_busy, t.sync_wait, self.dram_bits = (
            a + k * (a - b) for a, b in zip(after, before))
        body(ivs[-1])

    def _clocks(self) -> tuple[int, ...]:
        t = self.timeline
        return t.now, t.dma_free, t.dma_busy, t.sync_wait, self.dram_bits

    # instructions
    def issue(self, busy: int = 0) -> None:
        self.timeline.now += self.m.control.issue_cycles + busy

    def configure(self, config: Config) -> None:
        """Configuration instructions that change their registers (the conversion drops the others)."""
        for kind, values in config:
            if self.registers.get(kind) != values:
                self.first.setdefault(kind, values)
                self.registers[kind] = values
                self.issue()

    def dma(self, src: Buf, src_off: int, dst: Buf, dst_off: int, count: int, length: int, src_stride: int,
            dst_stride: int) -> None:
        load = src.space == "dram"
        strides = (src_stride, dst_stride) if load else (dst_stride, src_stride)
        self.configure(self.memo.config(("dma", count, *strides), lambda: [dma_config(count, *strides)]))
        self.issue()
        self.timeline.dma(dma_cycles(self.m, count * length))
        self.dram_bits += count * length * self.m.memory.dram.word_bits

    def sync(self) -> None:
        self.issue()
        self.timeline.sync()

    def conv(self, src: Buf, src_off: int, weights: Buf, w_off: int, acc: Buf, acc_off: int, row0: int,
             buf_row0: int, geom: dict[str, int]) -> None:
        key = tuple(geom.items())
        self.configure(self.memo.config(("conv", key, buf_row0, row0), lambda: conv_config(geom, buf_row0, row0)))
        self.issue(self.memo.conv(key, row0))

    def threshold(self, acc: Buf, acc_off: int, thresholds: Buf, t_off: int, out: Buf, out_off: int, c0: int,
                  geom: dict[str, int]) -> None:
        self.configure(self.memo.config(("threshold", *geom.items()), lambda: threshold_config(geom)))
        self.issue(self.memo.unit(("threshold", *geom.items(), c0),
                                  lambda: threshold_work(self.m, geom["oc_count"], geom["nrows"] * geom["out_w"], c0)))

    def pool(self, src: Buf, src_off: int, out: Buf, out_off: int, row0: int, buf_row0: int,
             geom: dict[str, int]) -> None:
        self.configure(self.memo.config(("pool", *geom.items(), buf_row0, row0),
                                        lambda: pool_config(geom, buf_row0, row0)))
        window = {k: geom[k] for k in WINDOW_REGISTERS if k != "row0"}
        self.issue(self.memo.unit(("pool", src.space, *geom.items(), row0),
                                  lambda: pool_work(self.m, src.space, **window, row0=row0)))

    def add_tiles(self, a: Buf, a_off: int, b: Buf, b_off: int, out: Buf, out_off: int, geom: dict[str, int]) -> None:
        self.configure(self.memo.config(("add", *geom.items()), lambda: add_config(geom)))
        self.issue(self.memo.unit(("add", *geom.items()),
                                  lambda: add_work(self.m, geom["oc_count"] * geom["nrows"] * geom["out_w"])))


Config = tuple[tuple[tuple[str, ...], tuple[int | str, ...]], ...]  # per instruction: its registers, their values
GeometryKey = tuple[tuple[str, int | str], ...]  # a CONV's geometry, hashable


def _registers(instructions: list[Instruction]) -> Config:
    return tuple((tuple(d), tuple(d.values())) for d in (ins.as_dict() for ins in instructions))


@dataclass
class _Memo:
    """What pricing computes again and again, per machine (no Machine in the keys: hashing one is slow)."""

    m: Machine
    conv_cycles: dict[tuple[GeometryKey, int], int] = field(default_factory=dict)
    configs: dict[tuple[object, ...], Config] = field(default_factory=dict)
    unit_cycles: dict[tuple[object, ...], int] = field(default_factory=dict)  # THRESH, POOL, ADD

    def unit(self, key: tuple[object, ...], work: Callable[[], Work]) -> int:
        if (found := self.unit_cycles.get(key)) is None:
            found = self.unit_cycles[key] = work().busy
        return found

    def config(self, key: tuple[object, ...], make: Callable[[], list[Instruction]]) -> Config:
        if (found := self.configs.get(key)) is None:
            found = self.configs[key] = _registers(make())
        return found

    def conv(self, geom: GeometryKey, row0: int) -> int:
        if (found := self.conv_cycles.get((geom, row0))) is None:
            g = dict(geom)
            found = self.conv_cycles[geom, row0] = conv_op_cost(
                self.m, in_h=g["in_h"], in_w=g["in_w"], in_c=g["in_c"], kh=g["kh"], kw=g["kw"], stride=g["stride"],
                dilation=g["dilation"], pad_top=g["pad_top"], out_w=g["out_w"], row0=row0, nrows=g["nrows"],
                oc=g["oc_count"], pack=g["pack"]).cycles
        return found


@functools.lru_cache(maxsize=8)
def _memo(m: Machine) -> _Memo:
    return _Memo(m)


def price(m: Machine, run: Callable[[Timed], None]) -> Priced:
    """The predicted cost of the steps `run` emits, from a synchronised start with no registers set."""
    e = Timed(m, _memo(m))
    run(e)
    return e.priced()


def layer_cost(m: Machine, layer: ConvLayer, t: ConvTiling) -> Priced:
    s = layer.shape
    src = Buf("fmem", 0) if s.in_resident else DRAM
    acc = Buf("acc", 0)  # a map kept in ACC
    sums = acc if s.sums_in_acc else DRAM
    out = Buf("fmem", 0) if s.out_resident else DRAM if s.thresholded else sums
    data = schedule.ConvData(src, out, no_data, no_data if s.thresholded else None,
                             (acc if s.residual_in_acc else DRAM) if layer.residual else None,
                             sums if s.sums_out else None)
    return price(m, lambda e: schedule.conv_layer(e, "", layer, t, data))


def no_data(*_: object) -> object:
    raise AssertionError("pricing reads no constants")


DRAM = Buf("dram", 0)  # a map in DRAM, as pricing needs it


def search(layer: ConvLayer, m: Machine) -> Mapping:
    """The mapping of a conv layer with the least off-chip traffic, then the fewest predicted cycles; a
    ChewcError naming the layer and the memory when none fits."""
    choose_conv_tiling(layer.shape, m)
    return _search(dataclasses.replace(layer, shape=dataclasses.replace(layer.shape, name="")), m)


# ResNets repeat layers (Group-Net's bases eight times over): each is searched once per machine
@functools.lru_cache(maxsize=1024)
def _search(layer: ConvLayer, m: Machine) -> Mapping:
    # two accumulators only help sums that come in (a residual) or go out (int16)
    candidates = [t for t in conv_tilings(layer.shape, m)
                  if t.acc_buffers == 1 or layer.residual or layer.shape.writes_sums]
    least = min(t.traffic for t in candidates)
    # Per (rows, input buffers, weight buffers, loop order), the (block, chunk) steps of one size cost alike but for one
    # THRESH per block: the largest block of each step size represents it.
    families: dict[tuple[int, bool, int, str, int], dict[int, ConvTiling]] = {}
    for t in candidates:
        if t.traffic == least:
            sizes = families.setdefault((t.rows, t.double_buffer, t.weight_buffers, t.order, t.acc_buffers), {})
            if (held := sizes.get(t.block * t.chunk)) is None or t.block > held.block:
                sizes[t.block * t.chunk] = t
    priced: list[Mapping] = []
    for sizes in families.values():
        # One weight buffer exposes every step's load: the largest steps are best. With two, a step hides the
        # next one's load and only the first is exposed, against per-step overhead: sizes from the largest
        # down until the cost has risen twice.
        rises, last = 0, None
        for size in sorted(sizes, reverse=True)[: None if sizes[max(sizes)].weight_buffers == 2 else 1]:
            mapping = Mapping(sizes[size], layer_cost(m, layer, sizes[size]))
            priced.append(mapping)
            rises = rises + 1 if last is not None and mapping.cost.cycles > last else 0
            last = mapping.cost.cycles
            if rises == 2:
                break
    # within CYCLE_TOLERANCE of the fewest cycles, the fewest, largest tiles: fewer instructions to fetch
    fewest = min(p.cost.cycles for p in priced)
    return min((p for p in priced if p.cost.cycles <= fewest * (1 + CYCLE_TOLERANCE)), key=lambda p: _tile_order(p.tiling))


CYCLE_TOLERANCE = 0.02


def _tile_order(t: ConvTiling) -> tuple[int, bool, int, bool, int]:
    return (-t.rows * t.block * t.chunk, not t.double_buffer, t.weight_buffers, t.order != "rows", t.acc_buffers)
