"""Cycle and energy model of ChewBaccaNN, derived from the datapath (all rates from the machine file).

Two engines run in parallel: the controller, which issues every instruction in order and runs compute
instructions on the array and the threshold / pool / add units (one at a time), and the DMA engine,
which executes queued DMAs in order. SYNC and END make the controller wait for the DMA engine, so the
time of an interval between SYNCs is the longer of the two engines' work in it.

CONV, with G = ceil(in_c / 16) channel groups, runs `for g: for row: for o: for x`: one 7x7x16 window
per cycle (array_cycles = G * nrows * oc_count * out_w). Weights of (o, g) stay in the array while the
window slides along a row; the next set loads into shadow registers meanwhile, so a load of
ceil(kh*kw*16 / wmem port) cycles stalls only if it exceeds out_w. The row buffers hold the kh window
rows plus `row_buffers - kh` spare ones, filled from FMEM at the FMEM port width while the previous row
computes; rows beyond the spare buffers, and the first rows of the instruction, stall the array.
With the tap-packing extension (CFG.K pack = p - 1, machine array.max_pack >= p), p groups' kernels
stack in the window's rows: ceil(G / p) passes, each row step filling the rows of p groups into
kh * p row buffers, and each busy cycle costs array.pack_cycle_energy more.
Padding rows are never read. THRESH, POOL and ADD take as long as their busiest resource (unit lanes,
memory ports). A DMA takes setup_cycles + bits / dma bits_per_cycle.

Energy = events x per-event energy x (vdd / reference_vdd) ** voltage_exponent + leakage x time, one
`Term` per kind of event. An idle MAC position of a busy window cycle costs array.idle_mac_fraction x
mac_energy (0: gated lanes).
Off-chip bits are system energy at a fixed I/O voltage: they do not scale with vdd and are not core.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from math import ceil, prod

import numpy as np

from isa.machine import Machine
from isa.table import CHANNELS_PER_WORD

ON_CHIP = ("fmem", "wmem", "tmem", "acc")


@dataclass
class KernelStats:
    """CONV work of one window shape."""

    count: int = 0
    array_cycles: int = 0
    macs: int = 0


@dataclass
class Counters:
    """Every event the energy model prices, plus where the time went."""

    instructions: Counter[str] = field(default_factory=Counter)  # by class
    class_cycles: Counter[str] = field(default_factory=Counter)  # controller cycles by class
    array_cycles: int = 0  # cycles computing one window each
    array_stall_cycles: int = 0  # row-buffer fill and weight-load stalls inside CONV
    macs: int = 0  # active binary MACs
    read_bits: Counter[str] = field(default_factory=Counter)  # by memory, incl. dram
    write_bits: Counter[str] = field(default_factory=Counter)
    threshold_ops: int = 0
    pool_ops: int = 0
    add_ops: int = 0
    kernels: dict[tuple[int, int], KernelStats] = field(default_factory=dict)  # by (kh, kw)
    packed_cycles: int = 0  # array cycles that read stacked channel groups (the tap-packing extension)

    def copy(self) -> Counters:
        return self.since(Counters())

    def since(self, earlier: Counters) -> Counters:
        """The events counted after `earlier`, a copy of these counters taken before."""
        kernels = {}
        for key, k in self.kernels.items():
            e = earlier.kernels.get(key, KernelStats())
            if k.count != e.count:
                kernels[key] = KernelStats(k.count - e.count, k.array_cycles - e.array_cycles, k.macs - e.macs)
        return Counters(
            self.instructions - earlier.instructions, self.class_cycles - earlier.class_cycles,
            self.array_cycles - earlier.array_cycles, self.array_stall_cycles - earlier.array_stall_cycles,
            self.macs - earlier.macs, self.read_bits - earlier.read_bits, self.write_bits - earlier.write_bits,
            self.threshold_ops - earlier.threshold_ops, self.pool_ops - earlier.pool_ops, self.add_ops - earlier.add_ops,
            kernels, self.packed_cycles - earlier.packed_cycles,
        )


@dataclass
class Timeline:
    """Controller and DMA engine clocks."""

    now: int = 0  # controller
    dma_free: int = 0  # when the DMA engine finishes its queue
    dma_busy: int = 0
    sync_wait: int = 0

    def dma(self, cycles: int) -> None:
        start = max(self.now, self.dma_free)
        self.dma_free = start + cycles
        self.dma_busy += cycles

    def sync(self) -> None:
        wait = max(0, self.dma_free - self.now)
        self.sync_wait += wait
        self.now += wait


def _busiest(ops: int, lanes: int, *transfers: tuple[int, int]) -> int:
    """Cycles of a unit doing `ops` on `lanes` while moving (bits, port_bits) through memory ports."""
    return max([ceil(ops / lanes), *(ceil(bits / port) for bits, port in transfers)])


def new_rows(iy: np.ndarray, in_h: int) -> tuple[int, np.ndarray]:
    """Image rows the row buffers must load: (for the tile's first row, for each later row).

    `iy[r, ky]` is the image row that window row ky of tile row r reads (distinct in ky); rows outside
    the image are padding. E.g. a 3-row window, stride 1, inside the image: 3 rows first, then 1 per row.
    """
    inside = (iy >= 0) & (iy < in_h)
    seen = (iy[1:, :, None] == iy[:-1, None, :]).any(axis=2)
    return int(inside[0].sum()), (inside[1:] & ~seen).sum(axis=1)


@dataclass(frozen=True)
class ConvCost:
    array_cycles: int
    stall_cycles: int
    fmem_rows: int  # rows of in_w words loaded into the row buffers
    weight_loads: int  # weight sets loaded into the array
    weight_words: int  # WMEM words they read

    @property
    def cycles(self) -> int:
        return self.array_cycles + self.stall_cycles


def conv_cost(
    m: Machine,
    *,
    groups: int,
    oc: int,
    nrows: int,
    out_w: int,
    in_w: int,
    kh: int,
    kw: int,
    first: int,
    later: np.ndarray,
    pack: int = 1,
) -> ConvCost:
    """`pack` groups per window cycle (the tap-packing extension): ceil(groups / pack) passes, each
    filling the rows of `pack` groups per window row into kh * pack row buffers."""
    passes = ceil(groups / pack)
    fill = pack * ceil(in_w * m.memory.fmem.word_bits / m.memory.fmem.port_bits)
    spare = (m.array.row_buffers - kh * pack) // pack  # window rows of every group the spare buffers prefetch
    row_compute = oc * out_w

    def stall(rows: np.ndarray | int, overlap: int) -> np.ndarray | int:
        hidden = np.minimum(rows, spare)
        return np.maximum(0, hidden * fill - overlap) + (rows - hidden) * fill

    per_group_rows = int(np.sum(stall(later, row_compute)))
    fill_stall = int(stall(first, 0)) + (passes - 1) * int(stall(first, row_compute)) + passes * per_group_rows
    load = ceil(pack * kh * kw * m.memory.wmem.word_bits / m.memory.wmem.port_bits)  # one word per position
    loads = passes * nrows * oc
    weight_stall = load + (loads - 1) * max(0, load - out_w)
    return ConvCost(
        array_cycles=passes * nrows * oc * out_w,
        stall_cycles=fill_stall + weight_stall,
        fmem_rows=groups * (first + int(later.sum())),
        weight_loads=loads,
        weight_words=groups * nrows * oc * kh * kw,
    )


def window_rows(row0: int, nrows: int, stride: int, pad_top: int, kh: int, dilation: int) -> np.ndarray:
    """`iy[r, ky]`: the image row window row ky of tile row r reads (outside [0, in_h): padding)."""
    return (row0 + np.arange(nrows))[:, None] * stride - pad_top + np.arange(kh)[None, :] * dilation


def conv_op_cost(m: Machine, *, in_h: int, in_w: int, in_c: int, kh: int, kw: int, stride: int, dilation: int,
                 pad_top: int, out_w: int, row0: int, nrows: int, oc: int, pack: int = 0) -> ConvCost:
    """The cost of one CONV from its configured geometry (what the emulator charges, data aside); `pack`
    is CFG.K's field (groups per cycle beyond the first)."""
    first, later = new_rows(window_rows(row0, nrows, stride, pad_top, kh, dilation), in_h)
    return conv_cost(m, groups=ceil(in_c / CHANNELS_PER_WORD), oc=oc, nrows=nrows, out_w=out_w, in_w=in_w, kh=kh,
                     kw=kw, first=first, later=later, pack=pack + 1)


def used_rows(iy: np.ndarray, in_h: int) -> int:
    """Distinct image rows a tile's windows read (padding rows are never read)."""
    return int(np.unique(iy[(iy >= 0) & (iy < in_h)]).size)


def threshold_planes(c0: int, channels: int) -> int:
    """Word planes of the ±1 map that channels c0 .. c0 + channels - 1 fall in."""
    return (c0 + channels - 1) // CHANNELS_PER_WORD - c0 // CHANNELS_PER_WORD + 1


def threshold_cycles(m: Machine, channels: int, pixels: int, planes: int) -> int:
    """THRESH of `channels` x `pixels` sums into `planes` word planes of the ±1 map."""
    n = channels * pixels
    return unit_cycles(m, "threshold", n, ("acc", n * m.memory.acc.word_bits),
                       ("tmem", 2 * channels * m.memory.tmem.word_bits), ("fmem", planes * pixels * m.memory.fmem.word_bits))


def pool_cycles(m: Machine, mem: str, n_out: int, window: int, src_words: int) -> int:
    """POOL.B (mem fmem) or POOL.I (acc): `n_out` output words, each over `window` taps, reading `src_words`."""
    word = m.memory.on_chip(mem).word_bits
    return unit_cycles(m, "pool", n_out * window, (mem, src_words * word), (mem, n_out * word))


def add_cycles(m: Machine, n: int) -> int:
    word = m.memory.acc.word_bits
    return unit_cycles(m, "add", n, ("acc", 2 * n * word), ("acc", n * word))


def unit_cycles(m: Machine, unit: str, ops: int, *transfers: tuple[str, int]) -> int:
    """Cycles of THRESH / POOL / ADD: `ops` on the unit's lanes while (memory, bits) pass each port.

    Reads and writes use separate ports, so each transfer is bounded on its own.
    """
    lanes = {"threshold": m.units.threshold_lanes, "pool": m.units.pool_lanes, "add": m.units.add_lanes}[unit]
    return _busiest(ops, lanes, *((bits, m.memory.on_chip(mem).port_bits) for mem, bits in transfers))


@dataclass(frozen=True)
class Work:
    """The events of one compute instruction and the cycles it keeps the controller, from its registers
    and fields alone (data aside): what the emulator and the estimate (`compiler.estimate`) both charge."""

    busy: int
    reads: tuple[tuple[str, int], ...] = ()  # (memory, bits)
    writes: tuple[tuple[str, int], ...] = ()
    array_cycles: int = 0
    stall_cycles: int = 0
    macs: int = 0
    packed_cycles: int = 0
    threshold_ops: int = 0
    pool_ops: int = 0
    add_ops: int = 0
    kernel: tuple[int, int] | None = None  # a CONV's (kh, kw)

    def count(self, c: Counters) -> None:
        """Add these events to `c`."""
        for mem, bits in self.reads:
            c.read_bits[mem] += bits
        for mem, bits in self.writes:
            c.write_bits[mem] += bits
        c.array_cycles += self.array_cycles
        c.array_stall_cycles += self.stall_cycles
        c.macs += self.macs
        c.packed_cycles += self.packed_cycles
        c.threshold_ops += self.threshold_ops
        c.pool_ops += self.pool_ops
        c.add_ops += self.add_ops
        if self.kernel is not None:
            stats = c.kernels.setdefault(self.kernel, KernelStats())
            stats.count += 1
            stats.array_cycles += self.array_cycles
            stats.macs += self.macs


# the registers of a windowed op (CONV, POOL) its cost reads: conv_work's and pool_work's keywords
WINDOW_REGISTERS = ("in_h", "in_w", "in_c", "kh", "kw", "stride", "dilation", "pad_top", "out_w", "row0", "nrows")


def conv_work(m: Machine, *, in_h: int, in_w: int, in_c: int, kh: int, kw: int, stride: int, dilation: int,
              pad_top: int, pad_left: int, out_w: int, row0: int, nrows: int, oc: int, pack: int, gated: bool,
              accumulate: int) -> Work:
    """One CONV (`pack`: CFG.K's field). Gated padding switches its lanes off: those taps are no MACs."""
    groups, word = ceil(in_c / CHANNELS_PER_WORD), m.memory.fmem.word_bits
    cost = conv_op_cost(m, in_h=in_h, in_w=in_w, in_c=in_c, kh=kh, kw=kw, stride=stride, dilation=dilation,
                        pad_top=pad_top, out_w=out_w, row0=row0, nrows=nrows, oc=oc, pack=pack)
    if gated:
        iy = window_rows(row0, nrows, stride, pad_top, kh, dilation)
        ix = np.arange(out_w)[:, None] * stride - pad_left + np.arange(kw)[None, :] * dilation
        taps = int(((iy >= 0) & (iy < in_h)).sum()) * int(((ix >= 0) & (ix < in_w)).sum())
    else:
        taps = nrows * kh * out_w * kw
    n_out = oc * nrows * out_w
    return Work(busy=cost.cycles,
                reads=(("fmem", cost.fmem_rows * in_w * word), ("wmem", cost.weight_words * word),
                       ("acc", (groups - 1 + accumulate) * n_out * word)),
                writes=(("acc", groups * n_out * word),),
                array_cycles=cost.array_cycles, stall_cycles=cost.stall_cycles, macs=oc * in_c * taps,
                packed_cycles=cost.array_cycles if pack > 0 else 0, kernel=(kh, kw))


def pool_work(m: Machine, mem: str, *, in_h: int, in_w: int, in_c: int, kh: int, kw: int, stride: int,
              dilation: int, pad_top: int, out_w: int, row0: int, nrows: int) -> Work:
    """POOL.B (`mem` fmem: channel groups of ±1 words) or POOL.I (acc: int16 channels)."""
    planes = ceil(in_c / CHANNELS_PER_WORD) if mem == "fmem" else in_c
    rows = used_rows(window_rows(row0, nrows, stride, pad_top, kh, dilation), in_h)
    n_out, src_words, word = planes * nrows * out_w, planes * rows * in_w, m.memory.on_chip(mem).word_bits
    return Work(busy=pool_cycles(m, mem, n_out, kh * kw, src_words), reads=((mem, src_words * word),),
                writes=((mem, n_out * word),), pool_ops=n_out * kh * kw)


def threshold_work(m: Machine, channels: int, pixels: int, c0: int) -> Work:
    """THRESH of `channels` x `pixels` sums from channel c0: one bit a value, into words other channels share."""
    n = channels * pixels
    return Work(busy=threshold_cycles(m, channels, pixels, threshold_planes(c0, channels)),
                reads=(("acc", n * m.memory.acc.word_bits), ("tmem", 2 * channels * m.memory.tmem.word_bits)),
                writes=(("fmem", n),), threshold_ops=n)


def add_work(m: Machine, n: int) -> Work:
    word = m.memory.acc.word_bits
    return Work(busy=add_cycles(m, n), reads=(("acc", 2 * n * word),), writes=(("acc", n * word),), add_ops=n)


def dma_cycles(m: Machine, words: int) -> int:
    return m.dma.setup_cycles + ceil(words * m.memory.dram.word_bits / m.dma.bits_per_cycle)


@dataclass(frozen=True)
class Energy:
    """Joules by component; `core` excludes off-chip I/O, `system` includes it."""

    parts: dict[str, float]

    @property
    def core(self) -> float:
        return sum(v for k, v in self.parts.items() if k != "off-chip I/O")

    @property
    def system(self) -> float:
        return sum(self.parts.values())


def idle_macs(m: Machine, c: Counters) -> int:
    """MAC positions of busy window cycles that carry nothing: lanes without a channel, taps outside the
    kernel, gated padding (what `array.idle_mac_fraction` prices)."""
    return c.array_cycles * m.array.macs_per_cycle - c.macs


@dataclass(frozen=True)
class Term:
    """One term of the energy: `events` times the product of the machine parameters at `params` (paths
    of `Machine.parameters`), into component `part`."""

    part: str
    params: tuple[str, ...]
    events: float


def energy_terms(m: Machine, c: Counters, vdd: float, seconds: float) -> list[Term]:
    """The energy of the events `c` over `seconds` at `vdd`, term by term (what `energy` sums and what the
    calibration's uncertainty re-solves)."""
    scale = m.energy_scale(vdd)
    dynamic = [
        Term("array", ("array.cycle_energy",), c.array_cycles),
        Term("array", ("array.mac_energy",), c.macs),
        Term("array", ("array.idle_mac_fraction", "array.mac_energy"), idle_macs(m, c)),
        Term("array", ("array.pack_cycle_energy",), c.packed_cycles),
        *(Term(name.upper(), (f"memory.{name}.{way}_energy",), bits[name])
          for name in ON_CHIP for way, bits in (("read", c.read_bits), ("write", c.write_bits))),
        Term("threshold", ("units.threshold_energy",), c.threshold_ops),
        Term("pool", ("units.pool_energy",), c.pool_ops),
        Term("add", ("units.add_energy",), c.add_ops),
        Term("control", ("control.instruction_energy",), sum(c.instructions.values())),
    ]
    return [
        *(Term(t.part, t.params, t.events * scale) for t in dynamic),
        *(Term("leakage", (f"operating_point.{i}.leakage",), w * seconds) for i, w in m.point_weights(vdd)),
        # off-chip I/O runs at its own fixed voltage
        Term("off-chip I/O", ("memory.dram.read_energy",), c.read_bits["dram"]),
        Term("off-chip I/O", ("memory.dram.write_energy",), c.write_bits["dram"]),
    ]


def evaluate(terms: list[Term], values: Mapping[str, float]) -> dict[str, float]:
    """Joules by component of `terms` with the parameters `values`."""
    parts: dict[str, float] = {}
    for t in terms:
        parts[t.part] = parts.get(t.part, 0.0) + t.events * prod(values[p] for p in t.params)
    return parts


def energy(m: Machine, c: Counters, vdd: float, seconds: float) -> Energy:
    return Energy(evaluate(energy_terms(m, c, vdd, seconds), m.parameters))
