"""The cost report of one run: time, throughput, energy by component, traffic, array utilisation.

Time, energy, GOPS and TOPS/W are the accelerator's; host steps (HOST) are reported apart, in wall-clock
time of the computer running the emulator, since the accelerator idles while the host works.
"""

from __future__ import annotations

import dataclasses
import io
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

from isa.container import ChewProgram
from isa.errors import ChewcError
from isa.machine import Machine, OperatingPoint
from runtime.cost import ON_CHIP, Counters, Energy, KernelStats, Timeline, energy, energy_terms, evaluate
from runtime.uncertainty import Events, Spread, idle_ends, spread

REPORT_SCHEMA_VERSION = 2  # of --report json (chewc-run, chewc --estimate), described by runtime/report.schema.json


@dataclass(frozen=True)
class KernelRow:
    """CONV work of one window shape; `window_use` = the share of the 7x7 window the kernel covers."""

    count: int
    array_cycles: int
    macs: int
    utilisation: float
    window_use: float
    array_energy_j: dict[str, float] = field(default_factory=dict)  # idle lanes "gated" and "ungated"


@dataclass(frozen=True)
class LayerMark:
    """Where a layer's instructions start, from the program's `layers` section (see tile.layer)."""

    start: int
    layer: str
    kind: str
    bound_dram_bits: int  # -1: no bound (host steps)
    bound_cycles: int
    predicted_cycles: int = -1  # the mapping search's prediction (compiler.mapping); -1: none (older programs)
    predicted_dram_bits: int = -1
    mapping: str = ""  # the conv tiling chosen, "" for none
    onnx_nodes: tuple[str, ...] = ()  # the ONNX nodes the layer computes (compiler.provenance)


_MARK_FIELDS = {"start": int, "layer": str, "kind": str, "bound_dram_bits": int, "bound_cycles": int}
_MARK_PREDICTION = {"predicted_cycles": int, "predicted_dram_bits": int, "mapping": str}  # since the mapping search


def layer_marks(prog: ChewProgram) -> tuple[LayerMark, ...]:
    """The program's layer marks, checked (a program file is data: a bad section is one error)."""
    section = next((s for s in prog.sections if s.kind == "report" and s.name == "layers"), None)
    if section is None:
        return ()
    try:
        entries = json.loads(section.payload)
    except ValueError as e:
        raise ChewcError(f"section 'layers': not JSON ({e})") from e
    if not isinstance(entries, list):
        raise ChewcError("section 'layers': must be a list of layer marks")
    marks: list[LayerMark] = []
    for i, entry in enumerate(entries):
        nodes = entry.get("onnx_nodes", []) if isinstance(entry, dict) else None
        keys = set(entry) - {"onnx_nodes"} if isinstance(entry, dict) else set()
        if not isinstance(entry, dict) or keys not in (set(_MARK_FIELDS), {*_MARK_FIELDS, *_MARK_PREDICTION}) or any(
            type(entry[k]) is not t for k, t in {**_MARK_FIELDS, **_MARK_PREDICTION}.items() if k in entry
        ) or not isinstance(nodes, list) or not all(isinstance(n, str) for n in nodes):
            raise ChewcError(f"section 'layers': entry {i} must be an object of {', '.join(_MARK_FIELDS)}, and "
                             f"optionally all of {', '.join(_MARK_PREDICTION)} (integers and strings) and "
                             "onnx_nodes (a list of strings)")
        mark = LayerMark(**{**entry, "onnx_nodes": tuple(nodes)})
        if mark.start < (marks[-1].start if marks else 0) or mark.start >= len(prog.code):
            raise ChewcError(f"section 'layers': entry {i} starts at instruction {mark.start}, out of order or "
                             f"past the code ({len(prog.code)} instructions)")
        if min(mark.bound_dram_bits, mark.bound_cycles) < -1:
            raise ChewcError(f"section 'layers': entry {i} has a negative bound")
        if "mapping" in entry and min(mark.predicted_cycles, mark.predicted_dram_bits) < 0:
            raise ChewcError(f"section 'layers': entry {i} has a negative prediction")
        marks.append(mark)
    return tuple(marks)


@dataclass(frozen=True)
class LayerCost:
    """What one layer's instructions counted: events and cycles (energy follows at a supply voltage)."""

    mark: LayerMark
    counters: Counters
    cycles: int


@dataclass(frozen=True)
class LayerRow:
    """One layer of the report; its cycles, energies and traffic add up to the run's."""

    layer: str
    kind: str
    cycles: int
    macs: int
    array_cycles: int
    stall_cycles: int
    utilisation: float
    dram_bits: int
    core_energy_j: float
    system_energy_j: float
    bound_dram_bits: int  # -1: none
    bound_cycles: int  # array cycles at every used lane busy; -1: none
    predicted_cycles: int  # by the compiler's mapping search; -1: none
    predicted_dram_bits: int
    mapping: str
    onnx_nodes: tuple[str, ...] = ()  # the ONNX nodes it computes
    window_use: float = 0.0  # taps of the window its kernels use, weighted by array cycles
    onchip_bits: dict[str, int] = field(default_factory=dict)  # on-chip memory -> bits read and written
    energy_j: dict[str, float] = field(default_factory=dict)  # by component, as the run's
    gops: float = 0.0
    core_tops_per_watt: float = 0.0
    system_tops_per_watt: float = 0.0


@dataclass
class HostStepRow:
    """One host step: why it runs on the host, how often it ran, its wall time and the ops it ran."""

    reason: str
    runs: int = 0
    wall_seconds: float = 0.0
    ops: dict[str, int] = field(default_factory=dict)
    macs: int = 0  # over all runs: what the machine's host model prices (runtime.host_steps.host_work)
    values: int = 0


@dataclass(frozen=True)
class HostReport:
    """Host steps of the run, apart from the accelerator: none of this is in its time or energy."""

    steps: int  # HOST instructions executed
    wall_seconds: float
    macs: int
    values: int
    model_seconds: float  # on the machine description's host: MACs and values at its rates
    model_energy_j: float
    ops: dict[str, int]  # ops run, by type ("copy" for a step without a graph)
    by_step: dict[str, HostStepRow]  # by section name, host<k>


@dataclass(frozen=True)
class Report:
    machine: str
    vdd: float
    freq_hz: float
    cycles: int
    seconds: float
    macs: int
    ops: int  # 2 per binary MAC (xnor + add)
    gops: float
    core_energy_j: float  # excludes off-chip I/O
    system_energy_j: float
    core_tops_per_watt: float
    system_tops_per_watt: float
    utilisation: float  # active MACs / (array busy cycles * MACs per cycle)
    idle_lane_cycles: int  # lane slots of busy array cycles left idle (small kernel, partial group, gating)
    array_cycles: int
    array_stall_cycles: int
    packed_cycles: int  # busy cycles that read stacked channel groups (the tap-packing extension)
    dma_cycles: int
    sync_wait_cycles: int
    energy_j: dict[str, float]
    instructions: dict[str, dict[str, int]]  # class -> count, controller cycles
    traffic_bits: dict[str, dict[str, int]]  # memory -> read, write
    unit_ops: dict[str, int]
    kernels: dict[str, KernelRow]
    host: HostReport
    layers: tuple[LayerRow, ...] = ()
    # system energy without the off-chip reads of weights and thresholds (as all-on-chip designs report)
    weights_resident_energy_j: float = 0.0
    idle_lanes: dict[str, float] = field(default_factory=dict)  # core energy, idle lanes "gated" / "ungated"
    spread: Spread | None = None  # over the assumed energies' ranges; None: the machine documents none

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_text(self, width: int = 160) -> str:
        out = io.StringIO()
        console = Console(file=out, width=width, color_system=None, force_terminal=False)
        summary = Table(
            title=f"run on {self.machine} at {self.vdd:g} V / {self.freq_hz / 1e6:g} MHz (accelerator; host apart)",
            show_header=False,
        )
        summary.add_column(justify="left")
        summary.add_column(justify="right")
        for label, value in (
            ("time", f"{self.cycles:,} cycles = {self.seconds * 1e6:,.3f} us"),
            ("work", f"{self.macs:,} binary MACs = {self.ops:,} ops"),
            ("throughput", f"{self.gops:,.2f} GOPS"),
            ("array", f"{self.array_cycles:,} busy + {self.array_stall_cycles:,} stall cycles"
                      + (f" ({self.packed_cycles:,} busy cycles packed)" if self.packed_cycles else "")),
            (
                "array utilisation",
                f"{self.utilisation:.1%} ({self.macs:,} active, {self.idle_lane_cycles:,} idle lane-cycles)",
            ),
            ("units", ", ".join(f"{k} {v:,}" for k, v in self.unit_ops.items()) + " values"),
            ("core energy", f"{_joules(self.core_energy_j)} -> {self.core_tops_per_watt:,.2f} TOPS/W (no off-chip I/O)"),
            ("system energy", f"{_joules(self.system_energy_j)} -> {self.system_tops_per_watt:,.2f} TOPS/W (with I/O)"),
            ("weights-resident energy", f"{_joules(self.weights_resident_energy_j)} (system energy without the "
                                        "off-chip reads of weights and thresholds, as designs holding them on chip report)"),
            *self._assumption_rows(),
            (
                "DMA engine",
                f"{self.dma_cycles:,} busy cycles, {self.sync_wait_cycles:,} cycles waited at SYNC/END/HOST",
            ),
            ("host", self._host_summary()),
        ):
            summary.add_row(label, value)
        console.print(summary)

        parts = Table(title="energy")
        for col in ("component", "energy", "share"):
            parts.add_column(col, justify="left" if col == "component" else "right")
        for name, joules in self.energy_j.items():
            share = joules / self.system_energy_j if self.system_energy_j else 0.0
            parts.add_row(name, _joules(joules), f"{share:.1%}")
        console.print(parts)

        traffic = Table(title="memory traffic")
        for col in ("memory", "bits read", "bits written"):
            traffic.add_column(col, justify="left" if col == "memory" else "right")
        for name, t in self.traffic_bits.items():
            traffic.add_row(name, f"{t['read']:,}", f"{t['write']:,}")
        console.print(traffic)

        ins = Table(title="instructions")
        for col in ("class", "count", "controller cycles"):
            ins.add_column(col, justify="left" if col == "class" else "right")
        for name, counts in self.instructions.items():
            ins.add_row(name, f"{counts['count']:,}", f"{counts['cycles']:,}")
        console.print(ins)

        if self.kernels:
            k = Table(title="CONV by kernel (a kernel smaller than the window leaves lanes idle)")
            for col in ("kernel", "CONVs", "array cycles", "MACs", "window use", "utilisation", "array, gated",
                        "array, ungated"):
                k.add_column(col, justify="left" if col == "kernel" else "right")
            for name, row in self.kernels.items():
                k.add_row(
                    name,
                    f"{row.count:,}",
                    f"{row.array_cycles:,}",
                    f"{row.macs:,}",
                    f"{row.window_use:.1%}",
                    f"{row.utilisation:.1%}",
                    *(f"{_joules(row.array_energy_j[end])}, {2 * row.macs / row.array_energy_j[end] / 1e12:,.0f} TOPS/W"
                      if row.array_energy_j.get(end) else "-" for end in ("gated", "ungated")),
                )
            console.print(k)

        if self.layers:
            console.print(self.layers_table())
            console.print(self.nodes_table())

        if self.host.steps:
            h = Table(title="host steps (wall time; not in the accelerator's time, energy, GOPS or TOPS/W)")
            for col in ("step", "reason", "runs", "ops", "wall time"):
                h.add_column(col, justify="right" if col in ("runs", "wall time") else "left")
            for name, step in self.host.by_step.items():
                ops = ", ".join(f"{op} {n}" for op, n in step.ops.items())
                h.add_row(name, step.reason, f"{step.runs:,}", ops, f"{step.wall_seconds * 1e3:,.3f} ms")
            console.print(h)
        return out.getvalue()

    def layers_table(self) -> Table:
        """Each layer's costs against its layer-wise bounds (compiler.bounds)."""
        layers = Table(title="layers (achieved against the layer-wise bounds of compiler.bounds, and against "
                             "the compiler's prediction)")
        for col in ("layer", "kind", "cycles", "predicted", "array bound", "util.", "DRAM bits", "bound", "ratio",
                    "system"):
            layers.add_column(col, justify="left" if col in ("layer", "kind") else "right")
        for row in self.layers:
            bound = row.bound_dram_bits
            layers.add_row(
                row.layer, row.kind, f"{row.cycles:,}", _count(row.predicted_cycles), _count(row.bound_cycles),
                f"{row.utilisation:.1%}", f"{row.dram_bits:,}", _count(bound),
                f"{row.dram_bits / bound:.2f}x" if bound > 0 else "-", _joules(row.system_energy_j),
            )
        return layers

    def nodes_table(self) -> Table:
        """Each layer by the ONNX nodes it computes: its work, stalls, window use, traffic, energy, rates."""
        t = Table(title="layers by ONNX node (totals are the run's)")
        t.add_column("ONNX nodes", no_wrap=True, overflow="ellipsis", max_width=30)
        for col in ("MACs", "stalls", "window", "on-chip bits", "DRAM bits", "core", "system", "GOPS", "TOPS/W"):
            t.add_column(col, justify="right", no_wrap=True)
        for row in self.layers:
            nodes = ", ".join(row.onnx_nodes[:4]) + (f" +{len(row.onnx_nodes) - 4}" if len(row.onnx_nodes) > 4 else "")
            t.add_row(nodes or row.layer, f"{row.macs:,}", f"{row.stall_cycles:,}",
                      f"{row.window_use:.1%}" if row.array_cycles else "-", f"{sum(row.onchip_bits.values()):,}",
                      f"{row.dram_bits:,}", _joules(row.core_energy_j), _joules(row.system_energy_j),
                      f"{row.gops:,.1f}", f"{row.core_tops_per_watt:,.1f}")
        t.add_row("total", f"{self.macs:,}", f"{self.array_stall_cycles:,}", "",
                  f"{sum(v['read'] + v['write'] for k, v in self.traffic_bits.items() if k != 'dram'):,}",
                  f"{self.traffic_bits['dram']['read'] + self.traffic_bits['dram']['write']:,}",
                  _joules(self.core_energy_j), _joules(self.system_energy_j), f"{self.gops:,.1f}",
                  f"{self.core_tops_per_watt:,.1f}", end_section=True)
        return t

    def _host_summary(self) -> str:
        if not self.host.steps:
            return "no host steps"
        h = self.host
        return (f"{h.steps:,} steps, {h.wall_seconds * 1e3:,.3f} ms wall time; modeled host {h.model_seconds * 1e3:,.3f} ms, "
                f"{_joules(h.model_energy_j)} ({h.macs:,} MACs, {h.values:,} values at the host model's assumed rates "
                "and energies [A]; not counted in any energy above)")

    def _assumption_rows(self) -> list[tuple[str, str]]:
        rows = []
        if self.spread is not None:
            (lo, hi), n = self.spread.core_energy_j, len(self.spread.ranged)
            rows.append(("core energy range", f"{_joules(lo)} .. {_joules(hi)} over the documented ranges of {n} assumed "
                                              f"energies [A], {self.spread.solved} re-solved to the published peak"))
        if self.idle_lanes:
            rows.append(("idle lanes", f"core {_joules(self.idle_lanes['gated'])} gated, "
                                       f"{_joules(self.idle_lanes['ungated'])} ungated (array.idle_mac_fraction 0 .. 1 [A])"))
        return rows


def _count(n: int) -> str:
    return "-" if n < 0 else f"{n:,}"


def _layer_row(m: Machine, point: OperatingPoint, cost: LayerCost) -> LayerRow:
    c, mark = cost.counters, cost.mark
    seconds = cost.cycles / point.freq
    e = energy(m, c, point.vdd, seconds)
    taps = m.array.window_h * m.array.window_w
    busy = sum(k.array_cycles for k in c.kernels.values())
    ops = 2 * c.macs
    return LayerRow(
        layer=mark.layer, kind=mark.kind, cycles=cost.cycles, macs=c.macs, array_cycles=c.array_cycles,
        stall_cycles=c.array_stall_cycles,
        utilisation=c.macs / (c.array_cycles * m.array.macs_per_cycle) if c.array_cycles else 0.0,
        dram_bits=c.read_bits["dram"] + c.write_bits["dram"], core_energy_j=e.core, system_energy_j=e.system,
        bound_dram_bits=mark.bound_dram_bits, bound_cycles=mark.bound_cycles,
        predicted_cycles=mark.predicted_cycles, predicted_dram_bits=mark.predicted_dram_bits, mapping=mark.mapping,
        onnx_nodes=mark.onnx_nodes,
        window_use=sum(k.array_cycles * kh * kw for (kh, kw), k in c.kernels.items()) / (busy * taps) if busy else 0.0,
        onchip_bits={name: c.read_bits[name] + c.write_bits[name] for name in ON_CHIP},
        energy_j=dict(e.parts), gops=ops / seconds / 1e9 if seconds else 0.0,
        core_tops_per_watt=ops / e.core / 1e12 if e.core else 0.0,
        system_tops_per_watt=ops / e.system / 1e12 if e.system else 0.0,
    )


def _joules(value: float) -> str:
    for unit, scale in (("mJ", 1e-3), ("uJ", 1e-6), ("nJ", 1e-9)):
        if value >= scale:
            return f"{value / scale:,.3f} {unit}"
    return f"{value / 1e-12:,.3f} pJ"


def build_report(
    m: Machine, point: OperatingPoint, c: Counters, t: Timeline, host: Mapping[int, HostStepRow],
    layers: Sequence[LayerCost] = (), calibration: Events | None = None,
) -> Report:
    """The report of counters `c` and timeline `t`; with the `calibration` kernel's events (and a machine
    that documents ranges) also the spread of its energy over the ranges (`runtime.uncertainty`)."""
    seconds = t.now / point.freq
    terms = energy_terms(m, c, point.vdd, seconds)
    e = Energy(evaluate(terms, m.parameters))
    weight_bits = c.write_bits["wmem"] + c.write_bits["tmem"]  # only DMA writes WMEM and TMEM
    ops = 2 * c.macs
    full = m.array.macs_per_cycle
    return Report(
        machine=m.name,
        vdd=point.vdd,
        freq_hz=point.freq,
        cycles=t.now,
        seconds=seconds,
        macs=c.macs,
        ops=ops,
        gops=ops / seconds / 1e9 if seconds else 0.0,
        core_energy_j=e.core,
        system_energy_j=e.system,
        core_tops_per_watt=ops / e.core / 1e12 if e.core else 0.0,
        system_tops_per_watt=ops / e.system / 1e12 if e.system else 0.0,
        utilisation=c.macs / (c.array_cycles * full) if c.array_cycles else 0.0,
        idle_lane_cycles=c.array_cycles * full - c.macs,
        array_cycles=c.array_cycles,
        array_stall_cycles=c.array_stall_cycles,
        packed_cycles=c.packed_cycles,
        dma_cycles=t.dma_busy,
        sync_wait_cycles=t.sync_wait,
        energy_j=e.parts,
        instructions={k: {"count": c.instructions[k], "cycles": c.class_cycles[k]} for k in sorted(c.instructions)},
        traffic_bits={name: {"read": c.read_bits[name], "write": c.write_bits[name]} for name in (*ON_CHIP, "dram")},
        unit_ops={"threshold": c.threshold_ops, "pool": c.pool_ops, "add": c.add_ops},
        kernels={
            f"{kh}x{kw}": KernelRow(
                count=k.count,
                array_cycles=k.array_cycles,
                macs=k.macs,
                utilisation=k.macs / (k.array_cycles * full) if k.array_cycles else 0.0,
                window_use=kh * kw / (m.array.window_h * m.array.window_w),
                array_energy_j=_array_ends(m, k, point.vdd),
            )
            for (kh, kw), k in sorted(c.kernels.items())
        },
        host=host_report(m, host),
        layers=tuple(_layer_row(m, point, cost) for cost in layers),
        weights_resident_energy_j=e.system - weight_bits * m.memory.dram.read_energy,
        idle_lanes=idle_ends(m, terms),
        spread=spread(m, terms, calibration) if calibration is not None else None,
    )


def host_report(m: Machine, host: Mapping[int, HostStepRow]) -> HostReport:
    """The host steps of a run (what differs between runs of one program: their wall time)."""
    macs = sum(row.macs for row in host.values())
    values = sum(row.values for row in host.values())
    return HostReport(
        steps=sum(row.runs for row in host.values()),
        wall_seconds=sum(row.wall_seconds for row in host.values()),
        macs=macs,
        values=values,
        model_seconds=macs / m.host.mac_rate + values / m.host.element_rate,
        model_energy_j=macs * m.host.mac_energy + values * m.host.element_energy,
        ops=dict(sum((Counter(row.ops) for row in host.values()), Counter())),
        by_step={f"host{k}": row for k, row in sorted(host.items())},
    )


def _array_ends(m: Machine, k: KernelStats, vdd: float) -> dict[str, float]:
    """The array energy of one kernel shape's CONVs, idle lanes gated and ungated."""
    c = Counters(array_cycles=k.array_cycles, macs=k.macs)
    return idle_ends(m, [t for t in energy_terms(m, c, vdd, 0.0) if t.part == "array"])
