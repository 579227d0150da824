"""Which on-chip memory sizes would bring a network's system energy to a target: maps on chip, layer by layer.

    python benchmarks/memory_sizes.py [--network groupnet|resnet18] [--bases 8] [--size 224]
                                      [--fmem 64,128,256,512,1024,2048] [--acc 32,64,...] [--target-mj 3.0]
                                      [--no-emulate]

The issue: Group-Net x 8 at 224 at or below the paper's 3.0 mJ/frame (ChewBaccaNN, ISCAS 2021: Group-Net
ResNet-18 at 3.0 mJ per frame; the figure the machine description's off-chip energy is derived from),
or, layer by layer, what makes that impossible with the default machine's memories and which sizes
would make it possible. Everything below is read off the compiler's own analyses: the `bnn` module
after `bnn-decompose-kernels`, its layers as `compiler.bounds.function_bounds` forms them (conv groups
of `compiler.layers.conv_group` with their threshold / residual / max-pool chains), map sizes in the
ISA's words (`compiler.bounds.map_bits`: a ±1 map ceil(C/16) 16-bit words per pixel, an int16 map C),
and energies from the machine description. The core energy is the emulator's for the real compiled
program (one seeded input; costs do not depend on it), held fixed across memory sizes.

The model (a necessary-condition model of the maps, not a schedule):

- **Maps and where they live.** A map is a layer's output read by later layers (or the network input,
  written by the host, or the output, read by it). ±1 maps live in FMEM, int16 maps (the residual
  stream, a conv's sums before a shared threshold) in ACC, where the ISA produces and consumes them (a
  residual is loaded into ACC and the conv accumulates onto it). Views that move no data (`bnn.regroup`,
  the reshape of an integer map) alias their input.
- **Segments.** A map's lifetime is cut at its uses: producer -> 1st reader -> 2nd reader ... Keeping one
  segment on chip saves that reader's DRAM read; keeping all of them saves the producer's write too.
  A segment kept on chip occupies its memory at every layer from its start to its end, both included
  (a layer's inputs and its output are on chip together), except that a residual accumulated in place
  (its last reader is the layer that adds onto it) shares its words with that layer's output.
- **Fused thresholds.** An int16 map that is added later and also thresholded is thresholded by its
  producer while each tile of sums is still in ACC (`compiler.layers.epilogue_threshold`, as tile-loops
  does it): that segment, producer -> threshold, is on chip at no cost in whole-map words.
- **Which segments stay.** Greedily, shortest segments first (most reads saved per word-layer of memory),
  larger maps first among equal spans, program order last: a segment stays iff at every layer it covers
  the segments already kept plus it fit the memory. (This keeps every map that the simpler rule "a map
  stays iff everything live at every layer of its life fits" keeps, and more.)
- **Compulsory traffic.** Each layer's constants (weights, two threshold words per channel) are read
  once: one frame cannot do better (only a weight memory holding all weights across frames could). The
  host's maps are read from DRAM once, maps the host reads are written once. Tile buffers, line buffers
  and the sums of a conv whose output is thresholded are not counted: they come on top (a few KiB; the
  weights of one output channel block, and one row tile of sums, are enough to read weights once when
  the layer's input map stays on chip).
- **Energy** = DRAM bits read x `memory.dram.read_energy` + bits written x `write_energy` + the emulated
  core energy of today's program (more on-chip traffic and the leakage of larger memories are not priced).

Printed: the compulsory floor (is the target reachable at all with these weights?), a per-layer table
(what must be live on chip at each layer for nothing but constants to cross DRAM, and the DRAM bits
today, by the emulator, beside the model's at today's sizes), the sweep of (FMEM, ACC) sizes, and the
smallest sizes that meet the target.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "examples"))

import resnets  # noqa: E402
from xdsl.dialects import func  # noqa: E402
from xdsl.ir import Operation, SSAValue  # noqa: E402

from compiler.bounds import LayerBound, function_bounds, map_bits  # noqa: E402
from compiler.driver import compile_model  # noqa: E402
from compiler.layers import conv_group, epilogue_threshold  # noqa: E402
from compiler.tiling import groups  # noqa: E402
from dialects import bnn  # noqa: E402
from dialects.chewbacca import machine_of  # noqa: E402
from isa.machine import Machine, load_machine  # noqa: E402
from isa.table import CHANNELS_PER_WORD  # noqa: E402
from runtime.emulator import emulate  # noqa: E402

PAPER_MJ = 3.0  # ChewBaccaNN (Andri et al., ISCAS 2021): Group-Net ResNet-18 at 3.0 mJ per frame
FMEM_KIB = (64, 128, 256, 512, 1024, 2048)
ACC_KIB = (32, 64, 128, 256, 512, 1024, 2048)
HOST = -1  # producer index of a map the host writes
KIB = 1024 * 8  # bits


@dataclass
class Layer:
    index: int
    bound: LayerBound
    ops: list[Operation] = field(default_factory=list)
    reads: list[SSAValue] = field(default_factory=list)  # maps it reads, canonical (views resolved)
    writes: list[SSAValue] = field(default_factory=list)  # maps it writes that something outside reads
    residual: SSAValue | None = None  # an int map it accumulates onto in ACC
    weight_bits: int = 0

    @property
    def threshold_bits(self) -> int:
        return self.bound.constant_bits - self.weight_bits


@dataclass(eq=False)  # by identity: one per map
class Map:
    value: SSAValue
    bits: int
    binary: bool  # ±1 (FMEM) or int16 (ACC)
    units: int  # words per pixel: 16-channel groups of a ±1 map, channels of an int map
    producer: int  # a layer index, or HOST
    readers: list[int]  # layer indices, ascending; the host's reads are `host_reads`
    host_reads: bool = False

    @property
    def memory(self) -> str:
        return "fmem" if self.binary else "acc"


@dataclass(frozen=True)
class Segment:
    map: Map
    start: int  # layer index (HOST: from before the first layer)
    end: int  # the reading layer
    fused: bool = False  # the reader is the threshold its producer runs on the sums in ACC: always on chip, free

    @property
    def span(self) -> int:
        return self.end - max(self.start, 0) + 1


def _is_view(op: Operation) -> bool:
    """An op that moves no data: its output is its input's words read as another shape."""
    return isinstance(op, bnn.RegroupOp) or isinstance(op, bnn.ReshapeOp) and not isinstance(op.input.type,
                                                                                               bnn.BitsType)


def _source(v: SSAValue) -> SSAValue:
    while isinstance(v.owner, Operation) and _is_view(v.owner):
        v = v.owner.operands[0]
    return v


def _conv_weight_bits(op: Operation) -> int:
    """Weight bits of one conv as the ISA stores them (whole 16-channel words per kernel position)."""
    o, c, kh, kw = op.weights.get_shape()
    planes = op.planes.bits if isinstance(op, bnn.BitplaneConv2dOp) else 1
    return planes * o * groups(c) * kh * kw * CHANNELS_PER_WORD


def analyse(fn: func.FuncOp) -> tuple[list[Layer], list[Map]]:
    """The layers of `fn` (as `compiler.bounds` forms them) with the maps between them."""
    bound, index_of = function_bounds(fn, machine_of(fn))
    layers = [Layer(i, b) for i, b in enumerate(bound.layers)]
    owner: dict[Operation, int] = dict(index_of)
    body = list(fn.body.block.ops)
    # ops inside a layer that no step is rooted at (a conv under its threshold, the convs and adds of a
    # group): they feed, through single uses, the op their layer is lowered at
    for op in reversed(body):
        if op in owner or _is_view(op) or isinstance(op, func.ReturnOp) or len(op.results) != 1:
            continue
        user = op.results[0].get_user_of_unique_use()
        if user is not None and user in owner and isinstance(op, bnn.Conv2dOp | bnn.BitplaneConv2dOp | bnn.AddOp):
            owner[op] = owner[user]
    for op in body:
        if op in owner:
            layers[owner[op]].ops.append(op)
    maps: dict[SSAValue, Map] = {}

    def map_of(v: SSAValue) -> Map:
        v = _source(v)
        if v not in maps:
            producer = owner.get(v.owner, HOST) if isinstance(v.owner, Operation) else HOST
            binary = isinstance(v.type, bnn.BitsType)
            c = bnn.shape_of(v.type)[1]
            maps[v] = Map(v, map_bits(v), binary, groups(c) if binary else c, producer, [])
        return maps[v]

    for op in body:
        if _is_view(op):
            continue
        here = owner.get(op)
        for operand in op.operands:
            src = _source(operand)
            there = owner.get(src.owner) if isinstance(src.owner, Operation) else None
            if here is not None and there == here:
                continue  # inside the layer
            if here is None and there is None:
                continue  # host to host
            m = map_of(src)
            if here is None:
                m.host_reads = True
            elif here not in m.readers:
                m.readers.append(here)
    for layer in layers:
        layer.weight_bits = sum(_conv_weight_bits(op) for op in layer.ops
                                if isinstance(op, bnn.Conv2dOp | bnn.BitplaneConv2dOp))
        for m in maps.values():
            if layer.index in m.readers:
                layer.reads.append(m.value)
            if m.producer == layer.index:
                layer.writes.append(m.value)
        for op in layer.ops:
            if isinstance(op, bnn.AddOp) and (group := conv_group(op.output)) is not None and group.residual is not None:
                layer.residual = _source(group.residual)
    for m in maps.values():
        m.readers.sort()
    return layers, list(maps.values())


def check(layers: list[Layer]) -> list[str]:
    """Where the maps found here disagree with `compiler.bounds` (none expected)."""
    out = []
    for layer in layers:
        reads = sum(map_bits(v) for v in layer.reads)
        writes = sum(map_bits(v) for v in layer.writes)
        if (reads, writes) != (layer.bound.input_bits, layer.bound.output_bits):
            out.append(f"layer {layer.index} {layer.bound.name}: reads {reads} / writes {writes} bits here, "
                       f"{layer.bound.input_bits} / {layer.bound.output_bits} in compiler.bounds")
    return out


def segments(layers: list[Layer], maps: list[Map]) -> list[Segment]:
    out = []
    for m in maps:
        points = [m.producer, *m.readers]
        th = epilogue_threshold(m.value)
        for a, b in zip(points, points[1:]):
            if a != HOST:  # the host's maps are in DRAM: their first read is compulsory
                out.append(Segment(m, a, b, a == m.producer and th is not None and th in layers[b].ops))
    return out


@dataclass(frozen=True)
class Traffic:
    read_bits: int
    write_bits: int

    @property
    def bits(self) -> int:
        return self.read_bits + self.write_bits

    def energy_j(self, m: Machine, core_j: float) -> float:
        return self.read_bits * m.memory.dram.read_energy + self.write_bits * m.memory.dram.write_energy + core_j


def _cover(s: Segment) -> range:
    return range(max(s.start, 0), s.end + 1)


Choice = dict[Segment, float]  # the kept segments, each with the fraction of its map's channels kept


def occupancy(layers: list[Layer], kept: Choice, memory: str) -> list[float]:
    """Bits of `memory` the kept segments occupy at each layer: each map once where its kept segments
    cover the layer, less what a residual accumulated in place shares with the layer's output."""
    covered: dict[Map, dict[int, float]] = {}
    for s, f in kept.items():
        if s.map.memory == memory and not s.fused:
            where = covered.setdefault(s.map, {})
            for i in _cover(s):
                where[i] = max(where.get(i, 0.0), f)
    occ = [0.0] * len(layers)
    for m, where in covered.items():
        for i, f in where.items():
            occ[i] += f * m.bits
    by_value = {m.value: m for m in covered}
    for layer in layers:
        i = layer.index
        r = by_value.get(layer.residual) if layer.residual is not None else None
        if r is None or i not in covered[r] or max(r.readers) != i:
            continue
        # the residual's last reader is this layer, which writes its sums over it
        for v in layer.writes:
            o = by_value.get(v)
            if o is not None and i in covered[o]:
                occ[i] -= min(covered[r][i] * r.bits, covered[o][i] * o.bits)
                break
    return occ


def choose(layers: list[Layer], segs: list[Segment], capacity: dict[str, float], split: bool = False) -> Choice:
    """The greedy choice of segments kept on chip within `capacity` (bits per memory); with `split`, a
    second pass keeps the largest share of whole channels (16-channel words of a ±1 map) of each
    segment left out that still fits beside the others."""
    kept: Choice = {s: 1.0 for s in segs if s.fused}
    occ = {mem: [0.0] * len(layers) for mem in capacity}
    covered: dict[Map, set[int]] = {}
    order = sorted((s for s in segs if not s.fused), key=lambda s: (s.span, -s.map.bits, s.start, s.end))
    for s in order:
        mem, cap = s.map.memory, capacity[s.map.memory]
        new = [i for i in _cover(s) if i not in covered.get(s.map, ())]
        if all(occ[mem][i] + s.map.bits <= cap for i in new):
            for i in new:
                occ[mem][i] += s.map.bits
        else:  # the in-place credit may make room: check exactly
            trial = occupancy(layers, {**kept, s: 1.0}, mem)
            if any(trial[i] > cap for i in _cover(s)):
                continue
            occ[mem] = trial
        kept[s] = 1.0
        covered.setdefault(s.map, set()).update(_cover(s))
    if not split:
        return kept
    for s in order:
        if s in kept:
            continue
        mem, cap = s.map.memory, capacity[s.map.memory]
        lo, hi = 0, s.map.units  # the most whole channels (words) that fit, by bisection on the exact occupancy
        while lo < hi:
            mid = (lo + hi + 1) // 2
            trial = occupancy(layers, {**kept, s: mid / s.map.units}, mem)
            lo, hi = (mid, hi) if all(trial[i] <= cap for i in _cover(s)) else (lo, mid - 1)
        if lo:
            kept[s] = lo / s.map.units
            occ[mem] = occupancy(layers, kept, mem)
    return kept


def _kept_at(kept: Choice) -> dict[tuple[SSAValue, int], float]:
    """(map, reading layer) -> share of the map on chip when that layer reads it."""
    return {(s.map.value, s.end): f for s, f in kept.items()}


def traffic(layers: list[Layer], maps: list[Map], kept: Choice) -> Traffic:
    per = per_layer(layers, maps, kept)
    return Traffic(round(sum(r for r, _ in per)), round(sum(w for _, w in per)))


def per_layer(layers: list[Layer], maps: list[Map], kept: Choice) -> list[tuple[float, float]]:
    """DRAM bits (read, written) of each layer under a choice: its constants, the shares of maps it reads
    from DRAM, and of the map it writes there (all of it for the host, else what some reader reads)."""
    reads = [float(layer.bound.constant_bits) for layer in layers]
    writes = [0.0] * len(layers)
    at = _kept_at(kept)
    for m in maps:
        for r in m.readers:
            reads[r] += m.bits * (1 - at.get((m.value, r), 0.0))
        if m.producer != HOST:
            on_chip = 0.0 if m.host_reads else min(at.get((m.value, r), 0.0) for r in m.readers)
            writes[m.producer] += m.bits * (1 - on_chip)
    return list(zip(reads, writes))


def per_layer_traffic(layers: list[Layer], maps: list[Map], kept: Choice) -> list[float]:
    return [r + w for r, w in per_layer(layers, maps, kept)]


def model_path(network: str, size: int, bases: int, work: Path) -> Path:
    path = work / f"{network}{bases if network == 'groupnet' else ''}_{size}.onnx"
    path.write_bytes(resnets.builder(network, size, bases).onnx().SerializeToString())
    return path


def _kib(bits: float) -> str:
    return f"{bits / KIB:,.1f}"


def _mbit(bits: float) -> str:
    return f"{bits / 1e6:,.2f}"


def _size(kib: float) -> str:
    return f"{kib / 1024:g} MiB" if kib >= 1024 else f"{kib:g} KiB"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--network", choices=("groupnet", "resnet18"), default="groupnet")
    p.add_argument("--bases", type=int, default=8, help="Group-Net bases (ResNet-18: 1)")
    p.add_argument("--size", type=int, default=224, help="input height and width")
    p.add_argument("--fmem", default=",".join(map(str, FMEM_KIB)), help="FMEM sizes of the sweep, KiB")
    p.add_argument("--acc", default=",".join(map(str, ACC_KIB)), help="ACC sizes of the sweep, KiB")
    p.add_argument("--target-mj", type=float, default=PAPER_MJ, help="energy per frame to reach (the paper's 3.0)")
    p.add_argument("--no-emulate", action="store_true", help="skip compiling and emulating: core energy taken as 0")
    args = p.parse_args(argv)
    if args.bases < 1 or args.size < 1 or args.target_mj <= 0:
        p.error("--bases and --size must be at least 1, --target-mj positive")
    bases = args.bases if args.network == "groupnet" else 1
    try:
        fmem_sweep = [float(x) for x in args.fmem.split(",")]
        acc_sweep = [float(x) for x in args.acc.split(",")]
    except ValueError:
        p.error(f"--fmem and --acc are comma-separated KiB sizes, got {args.fmem!r} / {args.acc!r}")
    if min(fmem_sweep + acc_sweep) <= 0:
        p.error("--fmem and --acc sizes must be positive")
    console = Console(width=190)
    machine = load_machine()
    title = f"{'Group-Net x ' + str(bases) if args.network == 'groupnet' else 'ResNet-18'} at {args.size}"
    target_j = args.target_mj * 1e-3

    with tempfile.TemporaryDirectory(prefix="chewc-memsizes-") as tmp:
        path = model_path(args.network, args.size, bases, Path(tmp))
        module = compile_model(path, "bnn", stop_after="bnn-decompose-kernels").module
        fn = next(op for op in module.walk() if isinstance(op, func.FuncOp))
        layers, maps = analyse(fn)
        core_j, now_bits, now_j, now_layers = 0.0, None, 0.0, None
        if not args.no_emulate:
            c = compile_model(path)
            assert c.program is not None
            desc = c.program.inputs[0]
            report = emulate(c.program, np.random.default_rng(0).random(desc.shape, dtype=np.float32)).report
            core_j, now_j = report.core_energy_j, report.system_energy_j
            now_bits = report.traffic_bits["dram"]["read"] + report.traffic_bits["dram"]["write"]
            rows = [r for r in report.layers if r.kind != "host"]  # host steps: no accelerator traffic
            # a fused row ("add1, sign4") counts in its first layer's row
            named = [(name, r.dram_bits if k == 0 else 0) for r in rows for k, name in enumerate(r.layer.split(", "))]
            if [name for name, _ in named] == [layer.bound.name for layer in layers]:
                now_layers = [bits for _, bits in named]
            else:  # the report's layers are not the bound's (host steps, renamed): no per-layer column
                console.print(f"[yellow]the run report has {len(rows)} layers, the bound "
                              f"{len(layers)}: no per-layer 'today' column[/yellow]")

    for problem in check(layers):
        console.print(f"[red]mismatch with compiler.bounds: {problem}[/red]")
    segs = segments(layers, maps)
    everything: Choice = {seg: 1.0 for seg in segs}
    need = {mem: occupancy(layers, everything, mem) for mem in ("fmem", "acc")}
    floor = traffic(layers, maps, everything)
    today_caps = {"fmem": machine.memory.fmem.size_bytes * 8, "acc": machine.memory.acc.size_bytes * 8}
    today_kept = choose(layers, segs, today_caps)
    today_model = traffic(layers, maps, today_kept)
    today_per_layer = per_layer_traffic(layers, maps, today_kept)
    floor_per_layer = per_layer_traffic(layers, maps, everything)

    # per-layer table
    t = Table(title=f"{title}: per layer, what must be on chip for only constants to cross DRAM "
                    "(sizes in KiB, traffic in Mbit)")
    for col in ("#", "layer", "kind", "±1 in", "int in", "out", "int live across", "weights",
                "FMEM need", "ACC need", "DRAM today", "model today", "model all on chip"):
        t.add_column(col, justify="left" if col in ("layer", "kind") else "right")
    live_across = [0] * len(layers)
    for m in maps:
        if not m.binary:
            lo = m.producer + 1 if m.producer != HOST else 0
            hi = max(m.readers, default=lo - 1)
            for i in range(lo, hi):
                if i not in m.readers:
                    live_across[i] += m.bits
    for layer in layers:
        i = layer.index
        bin_in = sum(map_bits(v) for v in layer.reads if isinstance(v.type, bnn.BitsType))
        int_in = sum(map_bits(v) for v in layer.reads if not isinstance(v.type, bnn.BitsType))
        out = sum(map_bits(v) for v in layer.writes)
        out_kind = "±1" if all(isinstance(v.type, bnn.BitsType) for v in layer.writes) else "int"
        t.add_row(str(i), layer.bound.name, layer.bound.kind, _kib(bin_in), _kib(int_in), f"{_kib(out)} {out_kind}",
                  _kib(live_across[i]), _kib(layer.weight_bits), _kib(need["fmem"][i]), _kib(need["acc"][i]),
                  _mbit(now_layers[i]) if now_layers else "-", _mbit(today_per_layer[i]),
                  _mbit(floor_per_layer[i]))
    t.add_row("", "total", "", "", "", "", "", _kib(sum(la.weight_bits for la in layers)),
              _kib(max(need["fmem"])), _kib(max(need["acc"])),
              _mbit(sum(now_layers)) if now_layers else "-", _mbit(today_model.bits), _mbit(floor.bits), end_section=True)
    console.print(t)

    # the floor
    dram = machine.memory.dram
    weights = sum(la.weight_bits for la in layers)
    thresholds = sum(la.threshold_bits for la in layers)
    host_in = sum(m.bits * len(m.readers[:1]) for m in maps if m.producer == HOST)
    host_out = sum(m.bits for m in maps if m.host_reads and m.producer != HOST)
    f = Table(title=f"{title}: compulsory DRAM traffic per frame (everything else on chip) and energy")
    for col in ("part", "bits", "energy"):
        f.add_column(col, justify="left" if col == "part" else "right")
    f.add_row("weights, read once", f"{weights:,}", f"{weights * dram.read_energy * 1e3:.3f} mJ")
    f.add_row("thresholds, read once", f"{thresholds:,}", f"{thresholds * dram.read_energy * 1e3:.3f} mJ")
    f.add_row("network input (host's map), read once", f"{host_in:,}", f"{host_in * dram.read_energy * 1e3:.3f} mJ")
    f.add_row("network output, written once", f"{host_out:,}", f"{host_out * dram.write_energy * 1e3:.3f} mJ")
    f.add_row("DRAM floor", f"{floor.bits:,}", f"{floor.energy_j(machine, 0.0) * 1e3:.3f} mJ")
    f.add_row("core (emulated, today's program)" if not args.no_emulate else "core (not emulated: 0)", "",
              f"{core_j * 1e3:.3f} mJ")
    f.add_row("system energy floor", "", f"{floor.energy_j(machine, core_j) * 1e3:.3f} mJ", end_section=True)
    if now_bits is not None:
        f.add_row("today: DRAM (emulator) / system", f"{now_bits:,}",
                  f"{now_j * 1e3:.3f} mJ")
    f.add_row(f"model at today's sizes (FMEM {_size(today_caps['fmem'] / KIB)}, ACC {_size(today_caps['acc'] / KIB)})",
              f"{today_model.bits:,}", f"{today_model.energy_j(machine, core_j) * 1e3:.3f} mJ")
    budget = (target_j - core_j - floor.energy_j(machine, 0.0)) / max(dram.read_energy, dram.write_energy)
    f.add_row(f"room under {args.target_mj} mJ above the floor", f"{budget:,.0f}", "")
    console.print(f)
    console.print(f"everything on chip needs FMEM {_kib(max(need['fmem']))} KiB (at layer "
                  f"{layers[int(np.argmax(need['fmem']))].bound.name}), ACC {_kib(max(need['acc']))} KiB (at layer "
                  f"{layers[int(np.argmax(need['acc']))].bound.name}), besides tile buffers")

    # where today's model traffic goes: constants, then the maps by type and shape
    at = _kept_at(today_kept)
    w = Table(title=f"{title}: DRAM bits per frame by what crosses, in the model at today's sizes "
                    f"(FMEM {_size(today_caps['fmem'] / KIB)}, ACC {_size(today_caps['acc'] / KIB)})")
    for col in ("what", "maps", "KiB each", "crossings (reads + writes)", "Mbit", "energy"):
        w.add_column(col, justify="left" if col == "what" else "right")
    consts = sum(la.bound.constant_bits for la in layers)
    w.add_row("constants (weights, thresholds)", "", "", "", _mbit(consts), f"{consts * dram.read_energy * 1e3:.3f} mJ")
    kinds: dict[tuple[str, tuple[int, ...]], list[Map]] = {}
    for m in maps:
        shape = tuple(bnn.shape_of(m.value.type)[1:])
        kinds.setdefault(("±1" if m.binary else "int16", shape), []).append(m)
    for (dtype, shape), ms in sorted(kinds.items(), key=lambda kv: -kv[1][0].bits):
        reads = sum(m.bits * (1 - at.get((m.value, r), 0.0)) for m in ms for r in m.readers)
        writes = sum(m.bits * (1 - (0.0 if m.host_reads else min(at.get((m.value, r), 0.0) for r in m.readers)))
                     for m in ms if m.producer != HOST)
        if reads + writes == 0:
            continue
        w.add_row(f"{dtype} {'x'.join(map(str, shape))}", str(len(ms)), _kib(ms[0].bits),
                  f"{(reads + writes) / ms[0].bits:,.0f}", _mbit(reads + writes),
                  f"{(reads * dram.read_energy + writes * dram.write_energy) * 1e3:.3f} mJ")
    console.print(w)

    # the sweep: whole maps, then maps split by channels
    for split in (False, True):
        how = "maps split by channels (part on chip)" if split else "whole maps"
        s = Table(title=f"{title}: system energy per frame (mJ), every map segment that fits on chip ({how}); "
                        f"* = at or below {args.target_mj} mJ; DRAM Mbit in brackets")
        s.add_column("FMEM \\ ACC", justify="right")
        for a in acc_sweep:
            s.add_column(_size(a), justify="right")
        results = {}
        for fm in fmem_sweep:
            row = []
            for a in acc_sweep:
                tr = traffic(layers, maps, choose(layers, segs, {"fmem": fm * KIB, "acc": a * KIB}, split))
                e = tr.energy_j(machine, core_j)
                results[fm, a] = (tr, e)
                row.append(f"{e * 1e3:.2f}{'*' if e <= target_j else ' '} ({tr.bits / 1e6:,.1f})")
            s.add_row(_size(fm), *row)
        console.print(s)
        ok = [(fm, a) for (fm, a), (_, e) in results.items() if e <= target_j]
        minimal = [(fm, a) for fm, a in ok if not any((f2, a2) != (fm, a) and f2 <= fm and a2 <= a for f2, a2 in ok)]
        if minimal:
            console.print(f"smallest sweep points at or below the target ({how}): " + ", ".join(
                f"FMEM {_size(fm)} + ACC {_size(a)} ({results[fm, a][1] * 1e3:.2f} mJ)" for fm, a in sorted(minimal)))
        else:
            console.print(f"no sweep point reaches {args.target_mj} mJ ({how})")
    # along each axis with the other memory unbounded: the smallest size that meets the target, whole maps
    # only, then with maps split by channels (part of a map on chip, the rest through DRAM)
    for mem, other in (("acc", "fmem"), ("fmem", "acc")):
        sweep = acc_sweep if mem == "acc" else fmem_sweep
        for split in (False, True):
            cands = sorted({v for v in need[mem] if v > 0} | {x * KIB for x in sweep})
            if split:  # the smallest at a resolution of 1 KiB: bisect (traffic falls as the memory grows)
                lo, hi = 0, int(max(need[mem]) // KIB) + 1
                while lo < hi:
                    mid = (lo + hi) // 2
                    tr = traffic(layers, maps, choose(layers, segs, {mem: mid * KIB, other: float("inf")}, True))
                    lo, hi = (lo, mid) if tr.energy_j(machine, core_j) <= target_j else (mid + 1, hi)
                cands = [lo * KIB]
            found = None
            for cap in cands:
                tr = traffic(layers, maps, choose(layers, segs, {mem: cap, other: float("inf")}, split))
                if tr.energy_j(machine, core_j) <= target_j:
                    found = (cap, tr)
                    break
            how = "maps split by channels, to 1 KiB" if split else "whole maps, of the layers' needs and the sweep"
            if found:
                console.print(f"with {other.upper()} unbounded, the smallest {mem.upper()} ({how}) at or below "
                              f"{args.target_mj} mJ: {_kib(found[0])} KiB ({found[1].energy_j(machine, core_j) * 1e3:.3f}"
                              f" mJ, {_mbit(found[1].bits)} Mbit)")
            else:
                console.print(f"with {other.upper()} unbounded, no {mem.upper()} size ({how}) reaches {args.target_mj} mJ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
