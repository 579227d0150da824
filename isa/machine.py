"""Machine descriptions: every size, width, rate and energy of the accelerator, with provenance.

A description is a TOML file (`isa/machines/*.toml`). Each parameter is a table
`{ value = ..., tag = "S" | "D" | "A", source = "..." }`: S = stated by the authors, D = derived from
stated figures, A = our assumption. S and D need a `source`; A may carry a `note`. A file may start
with `extends = "other.toml"` and override single parameters. The schema (names, types, units,
meanings) is the dataclass tree below; `load_machine` checks every file against it.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from isa.errors import ChewcError, one_line
from isa.files import read_text
from isa.table import CHANNELS_PER_WORD, address_limit, register_field

MACHINES_DIR = Path(__file__).resolve().parent / "machines"
# A machine's name travels in every program built for it (`.chew` header, IR attribute): ASCII, short.
NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,32}")
NAME_BYTES = 32
DEFAULT_MACHINE = MACHINES_DIR / "chewbaccann.toml"
TAGS = {"S": "stated", "D": "derived", "A": "assumed"}


def _p(unit: str, doc: str) -> Any:
    return field(metadata={"unit": unit, "doc": doc})


def _e(unit: str, doc: str, fraction: bool = False) -> Any:
    """A parameter that only prices energy: a program never depends on it, so it is not in `Machine.hash()`.
    A `fraction` lies in [0, 1]; every other parameter is positive."""
    return field(metadata={"unit": unit, "doc": doc, "energy": True, "fraction": fraction})


@dataclass(frozen=True)
class Published:
    peak_gops: float = _e("GOPS", "peak throughput (2 ops per binary MAC)")
    peak_tops_per_watt: float = _e("TOPS/W", "peak core energy efficiency")


@dataclass(frozen=True)
class ArraySpec:
    window_h: int = _p("rows", "rows of the xnor/popcount window")
    window_w: int = _p("columns", "columns of the window")
    lanes: int = _p("channels", "input channels per window position (one FMEM word)")
    macs_per_cycle: int = _p("MAC/cycle", "binary MACs per cycle at full use (= window_h*window_w*lanes)")
    row_buffers: int = _p("rows", "row buffers feeding the window (window rows + filling ones)")
    row_buffer_words: int = _p("words", "longest input row (of one channel group) a row buffer holds")
    cycle_energy: float = _e("J/cycle", "array clock and control energy per busy cycle")
    mac_energy: float = _e("J/MAC", "energy per active binary MAC (xnor + popcount)")
    max_pack: int = _p("groups", "channel groups one window cycle may read, kernels stacked in the window's rows "
                       "(1: the chip as published; more: the tap-packing extension, CFG.K pack)")
    pack_cycle_energy: float = _e("J/cycle", "extra energy of a window cycle that reads stacked groups (tap muxes)")
    idle_mac_fraction: float = _e("", "energy of an idle MAC position of a busy window cycle (a lane without a "
                                  "channel, a tap outside the kernel) as a fraction of mac_energy: 0 gated, 1 ungated",
                                  fraction=True)

    def pack(self, kh: int) -> int:
        """Channel groups one window cycle can read for kernels of `kh` rows."""
        return min(self.max_pack, self.window_h // kh)


@dataclass(frozen=True)
class OnChipMemory:
    size_bytes: int = _p("bytes", "capacity")
    word_bits: int = _p("bits", "word width (addresses count words)")
    port_bits: int = _p("bits/cycle", "read (and separate write) port width")
    read_energy: float = _e("J/bit", "energy per bit read")
    write_energy: float = _e("J/bit", "energy per bit written")

    @property
    def words(self) -> int:
        return self.size_bytes * 8 // self.word_bits


@dataclass(frozen=True)
class OffChipMemory:
    size_bytes: int = _p("bytes", "capacity")
    word_bits: int = _p("bits", "word width (addresses count words)")
    read_energy: float = _e("J/bit", "off-chip I/O energy per bit read (system energy, not core)")
    write_energy: float = _e("J/bit", "off-chip I/O energy per bit written (system energy, not core)")

    @property
    def words(self) -> int:
        return self.size_bytes * 8 // self.word_bits


@dataclass(frozen=True)
class Memories:
    fmem: OnChipMemory = _p("", "feature-map memory (binary maps)")
    wmem: OnChipMemory = _p("", "weight memory")
    tmem: OnChipMemory = _p("", "threshold memory")
    acc: OnChipMemory = _p("", "accumulator memory (int16)")
    dram: OffChipMemory = _p("", "off-chip memory")

    def on_chip(self, name: str) -> OnChipMemory:
        return typing.cast(OnChipMemory, getattr(self, name))

    def words(self, name: str) -> int:
        return typing.cast(OnChipMemory | OffChipMemory, getattr(self, name)).words


@dataclass(frozen=True)
class Units:
    threshold_lanes: int = _p("values/cycle", "accumulator values THRESH binarises per cycle")
    pool_lanes: int = _p("inputs/cycle", "window inputs (words or int16 values) POOL combines per cycle")
    add_lanes: int = _p("values/cycle", "int16 additions ADD performs per cycle")
    threshold_energy: float = _e("J/value", "energy per thresholded value")
    pool_energy: float = _e("J/input", "energy per pooled window input")
    add_energy: float = _e("J/value", "energy per int16 addition")


@dataclass(frozen=True)
class Dma:
    bits_per_cycle: int = _p("bits/cycle", "DMA bandwidth between DRAM and the chip")
    setup_cycles: int = _p("cycles", "latency of one DMA instruction before data flows")


@dataclass(frozen=True)
class Control:
    issue_cycles: int = _p("cycles", "controller cycles to fetch and issue one instruction")
    instruction_energy: float = _e("J", "energy to fetch and issue one instruction")


@dataclass(frozen=True)
class Host:
    mac_rate: float = _p("MAC/s", "multiply-accumulates per second of the host processor (host steps)")
    mac_energy: float = _e("J/MAC", "host energy per multiply-accumulate, memory accesses included")
    element_rate: float = _p("values/s", "values per second the host quantises, binarises or relayouts")
    element_energy: float = _e("J/value", "host energy per value quantised, binarised or relayouted")


@dataclass(frozen=True)
class EnergyScaling:
    reference_vdd: float = _p("V", "supply voltage at which every energy here is given")
    voltage_exponent: float = _e("", "dynamic energy scales as (vdd / reference_vdd) ** exponent")


@dataclass(frozen=True)
class OperatingPoint:
    vdd: float = _p("V", "supply voltage")
    freq: float = _p("Hz", "clock frequency")
    leakage: float = _e("W", "leakage power")


@dataclass(frozen=True)
class Param:
    """Provenance of one parameter value."""

    path: str
    value: int | float
    tag: str
    source: str
    note: str
    unit: str
    doc: str
    range: tuple[float, float] | None = None  # the documented range of an assumed energy (uncertainty)
    energy: bool = False  # prices energy only: not in the machine's identity (`Machine.hash()`)


@dataclass(frozen=True)
class Machine:
    name: str
    description: str
    published: Published
    array: ArraySpec
    memory: Memories
    units: Units
    dma: Dma
    control: Control
    host: Host
    energy: EnergyScaling
    operating_points: tuple[OperatingPoint, ...]
    params: tuple[Param, ...] = field(compare=False, repr=False)

    def operating_point(self, vdd: float | None) -> OperatingPoint:
        """The operating point at `vdd` (default: the reference voltage): a point of the table, or between
        two of them frequency and leakage interpolated linearly in vdd (an assumption, `interpolated`)."""
        want = self.energy.reference_vdd if vdd is None else vdd
        weights = self.point_weights(want)
        if len(weights) == 1:
            return self.operating_points[weights[0][0]]
        (i, a), (j, b) = weights
        lo, hi = self.operating_points[i], self.operating_points[j]
        return OperatingPoint(want, a * lo.freq + b * hi.freq, a * lo.leakage + b * hi.leakage)

    def point_weights(self, vdd: float) -> list[tuple[int, float]]:
        """The table's points (by index) that the operating point at `vdd` interpolates, with their weights."""
        order = sorted(range(len(self.operating_points)), key=lambda i: self.operating_points[i].vdd)
        points = [self.operating_points[i] for i in order]
        for i, op in zip(order, points):
            if math.isclose(op.vdd, vdd, abs_tol=1e-9):
                return [(i, 1.0)]
        for (i, lo), (j, hi) in zip(zip(order, points), zip(order[1:], points[1:])):
            if lo.vdd < vdd < hi.vdd:
                f = (vdd - lo.vdd) / (hi.vdd - lo.vdd)
                return [(i, 1.0 - f), (j, f)]
        have = ", ".join(f"{op.vdd:g}" for op in points)
        raise ChewcError(f"machine '{self.name}' has operating points from {points[0].vdd:g} to {points[-1].vdd:g} V "
                         f"({have} V), not {vdd:g} V")

    def point_basis(self, vdd: float) -> str:
        """Where an operating point's frequency and leakage come from: the tags of a point of the table
        ("stated" only when both are [S]), or "interpolated" between two of them (our assumption)."""
        for i, p in enumerate(self.operating_points):
            if math.isclose(p.vdd, vdd, abs_tol=1e-9):
                tags = {q.tag for q in self.params if q.path in (f"operating_point[{i}].freq", f"operating_point[{i}].leakage")}
                return "stated" if tags == {"S"} else "assumed [A]" if tags == {"A"} else "partly assumed [A]"
        return "interpolated [A]"

    def sweep_points(self) -> list[float]:
        """The table's voltages and the midpoints between neighbours, ascending (chewc-run --sweep-vdd)."""
        vdds = sorted(p.vdd for p in self.operating_points)
        mids = [(a + b) / 2 for a, b in zip(vdds, vdds[1:])]
        return sorted(vdds + mids)

    def energy_scale(self, vdd: float) -> float:
        return (vdd / self.energy.reference_vdd) ** self.energy.voltage_exponent

    def hash(self) -> bytes:
        """The machine's identity, the sha256 of what a program depends on: every parameter value but
        the energies and powers (`_e` fields). A program built for a machine runs on any machine of the
        same identity, so a sweep of energy parameters reuses one compiled program."""
        return self._identity

    @functools.cached_property
    def _identity(self) -> bytes:
        values = {path: v for path, (v, energy) in self._walk.items() if not energy}
        return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).digest()

    def values(self) -> dict[str, int | float]:
        """Every parameter value by its path (`memory.fmem.size_bytes`, `operating_point.0.vdd`): what
        `from_values` needs to rebuild this machine, e.g. from the IR that carries it."""
        return dict(self.parameters)

    @functools.cached_property
    def parameters(self) -> typing.Mapping[str, int | float]:
        """`values()`, read-only and kept (the energy model reads it on every report)."""
        return types.MappingProxyType({path: v for path, (v, _) in self._walk.items()})

    @functools.cached_property
    def ranges(self) -> typing.Mapping[str, tuple[float, float]]:
        """The documented ranges of the assumed energies, by path as `parameters` spells it."""
        return types.MappingProxyType({re.sub(r"^operating_point\[(\d+)\]", r"operating_point.\1", p.path): p.range
                                       for p in self.params if p.range is not None})

    @functools.cached_property
    def values_digest(self) -> bytes:
        """sha256 of every parameter value, energies included (`hash()` leaves them out)."""
        return hashlib.sha256(json.dumps(dict(self.parameters), sort_keys=True).encode()).digest()

    def energy_paths(self) -> list[str]:
        """The paths of the parameters that only price energy (not in `hash()`)."""
        return [path for path, (_, energy) in self._walk.items() if energy]

    @functools.cached_property
    def _walk(self) -> dict[str, tuple[int | float, bool]]:
        flat: dict[str, tuple[int | float, bool]] = {}

        def walk(prefix: str, obj: Any) -> None:
            for f in dataclasses.fields(obj):
                value = getattr(obj, f.name)
                if dataclasses.is_dataclass(value):
                    walk(f"{prefix}{f.name}.", value)
                else:
                    flat[f"{prefix}{f.name}"] = (value, bool(f.metadata.get("energy")))

        for f in dataclasses.fields(self):
            if f.name == "operating_points":
                for i, op in enumerate(self.operating_points):
                    walk(f"operating_point.{i}.", op)
            elif f.name not in ("name", "description", "params"):
                walk(f"{f.name}.", getattr(self, f.name))
        return flat

    @staticmethod
    def from_values(name: str, description: str, values: typing.Mapping[str, int | float], origin: str) -> Machine:
        """The machine of `values()`, checked like a description file; it has no provenance records
        (`params` is empty: tags and sources live in the .toml it came from)."""
        raw: dict[str, Any] = {"name": name, "description": description}
        points: dict[int, dict[str, Any]] = {}
        for path, value in values.items():
            parts = path.split(".")
            if parts[0] == "operating_point" and len(parts) == 3 and parts[1].isdigit():
                table = points.setdefault(int(parts[1]), {})
            else:
                table = raw
                for part in parts[:-1]:
                    table = table.setdefault(part, {})
                    if not isinstance(table, dict):
                        raise ChewcError(f"{origin}: machine parameter '{path}' is not a parameter path")
            table[parts[-1]] = {"value": value, "tag": "A"}
        raw["operating_point"] = [points[i] for i in sorted(points)]
        return dataclasses.replace(_Loader(Path(origin)).machine(raw), params=())


MAX_PARAM = 2.0**48  # no size, rate or energy of a machine comes near; bigger ones overflow the ISA and IR
MAX_EXTENDS = 16  # descriptions a chain of `extends` may stack


def _read_toml(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    if path in seen:
        raise ChewcError(f"{path}: 'extends' loops back to itself")
    if len(seen) >= MAX_EXTENDS:
        raise ChewcError(f"{path}: more than {MAX_EXTENDS} descriptions stacked by 'extends'")
    text = read_text(path, "machine description")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ChewcError(f"{path}: invalid TOML: {one_line(str(e))}") from e
    base = raw.pop("extends", None)
    if base is None:
        return raw
    if not isinstance(base, str):
        raise ChewcError(f"{path}: 'extends' must be a file name")
    return _merge(_read_toml(path.parent / base, (*seen, path)), raw)


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep merge; a parameter table (one with `value`) and any non-table replaces what it overrides."""
    out = dict(base)
    for key, val in override.items():
        old = out.get(key)
        if isinstance(old, dict) and isinstance(val, dict) and "value" not in val:
            out[key] = _merge(old, val)
        else:
            out[key] = val
    return out


class _Loader:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.params: list[Param] = []

    def fail(self, where: str, message: str) -> typing.NoReturn:
        raise ChewcError(f"{self.path}: {where}: {message}")

    def section(self, cls: type, table: Any, where: str) -> Any:
        if not isinstance(table, dict):
            self.fail(where, "expected a table")
        hints = typing.get_type_hints(cls)
        unknown = sorted(set(table) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            self.fail(f"{where}.{unknown[0]}" if where else unknown[0], "unknown parameter")
        values = {}
        for f in dataclasses.fields(cls):
            path = f"{where}.{f.name}" if where else f.name
            if f.name not in table:
                self.fail(path, "missing")
            kind = hints[f.name]
            if dataclasses.is_dataclass(kind):
                values[f.name] = self.section(typing.cast(type, kind), table[f.name], path)
            else:
                values[f.name] = self.param(path, table[f.name], kind, f.metadata)
        return cls(**values)

    def param(self, path: str, entry: Any, kind: type, meta: typing.Mapping[str, Any]) -> int | float:
        if not isinstance(entry, dict) or "value" not in entry:
            self.fail(path, "expected { value = ..., tag = ..., source = ... }")
        unknown = sorted(set(entry) - {"value", "tag", "source", "note", "range"})
        if unknown:
            self.fail(path, f"unknown key '{unknown[0]}'")
        value, tag = entry["value"], entry.get("tag")
        if tag not in TAGS:
            self.fail(path, f"tag must be one of {', '.join(TAGS)} (got {tag!r})")
        if tag in ("S", "D") and not entry.get("source"):
            self.fail(path, f"a [{tag}] parameter needs a source")
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            self.fail(path, f"expected an integer (got {value!r})")
        if kind is float and (isinstance(value, bool) or not isinstance(value, int | float)):
            self.fail(path, f"expected a number (got {value!r})")
        if meta.get("fraction"):
            if not 0 <= value <= 1:
                self.fail(path, f"must lie in [0, 1] (got {value!r})")
        elif not value > 0:
            self.fail(path, f"must be positive (got {value!r})")
        if not value < MAX_PARAM or not math.isfinite(value):
            self.fail(path, f"{value!r} is beyond any machine (at most {MAX_PARAM:g})")
        value = kind(value)
        span = self.span(path, entry["range"], value, meta) if "range" in entry else None
        self.params.append(
            Param(path, value, tag, entry.get("source", ""), entry.get("note", ""), meta["unit"], meta["doc"], span,
                  bool(meta.get("energy")))
        )
        return value

    def span(self, path: str, span: Any, value: float, meta: typing.Mapping[str, Any]) -> tuple[float, float]:
        """`range = [lo, hi]`: the values an energy parameter may take, its value inside."""
        if not meta.get("energy"):
            self.fail(path, "only an energy parameter takes a range (the others change the program)")
        if not (isinstance(span, list) and len(span) == 2
                and all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in span)):
            self.fail(path, f"range must be [lo, hi], two numbers (got {span!r})")
        lo, hi = float(span[0]), float(span[1])
        if not 0 <= lo <= value <= hi or (meta.get("fraction") and hi > 1) or hi >= MAX_PARAM:
            self.fail(path, f"range [{lo:g}, {hi:g}] must hold the value {value:g} and lie in "
                      f"{'[0, 1]' if meta.get('fraction') else 'the non-negative numbers'}")
        return lo, hi

    def machine(self, raw: dict[str, Any]) -> Machine:
        for key in ("name", "description"):
            if not isinstance(raw.get(key), str):
                self.fail(key, "missing (a string)")
        if not NAME_RE.fullmatch(raw["name"]):
            self.fail("name", f"{raw['name']!r} is not 1 to {NAME_BYTES} letters, digits, '_', '.' or '-'")
        sections = {
            f.name: self.section(typing.cast(type, hint), raw.get(f.name), f.name)
            for f in dataclasses.fields(Machine)
            for hint in [typing.get_type_hints(Machine)[f.name]]
            if dataclasses.is_dataclass(hint)
        }
        points = raw.get("operating_point")
        if not isinstance(points, list) or not points:
            self.fail("operating_point", "need at least one [[operating_point]]")
        ops = tuple(self.section(OperatingPoint, p, f"operating_point[{i}]") for i, p in enumerate(points))
        known = {"name", "description", "operating_point", *sections}
        extra = sorted(set(raw) - known)
        if extra:
            self.fail(extra[0], "unknown section")
        m = Machine(raw["name"], raw["description"], operating_points=ops, params=tuple(self.params), **sections)
        self.validate(m)
        return m

    def validate(self, m: Machine) -> None:
        a = m.array
        for name, limit in (("window_h", register_field("kh").hi), ("window_w", register_field("kw").hi)):
            if getattr(a, name) > limit:
                self.fail(f"array.{name}", f"the ISA encodes windows up to {limit}")
        if a.macs_per_cycle != a.window_h * a.window_w * a.lanes:
            self.fail("array.macs_per_cycle", f"{a.macs_per_cycle} != window_h*window_w*lanes")
        if a.row_buffers <= a.window_h:
            self.fail("array.row_buffers", "needs at least one buffer beyond the window rows")
        most = min(a.window_h, register_field("pack").hi + 1)  # a kernel row per window row; what pack encodes
        if not 1 <= a.max_pack <= most:
            self.fail("array.max_pack", f"must be 1..{most} (one kernel row per window row, and what CFG.K pack encodes)")
        for f in dataclasses.fields(Memories):
            mem = getattr(m.memory, f.name)
            if mem.word_bits != CHANNELS_PER_WORD:
                self.fail(f"memory.{f.name}.word_bits", f"must be {CHANNELS_PER_WORD} (the ISA's data conventions)")
            if mem.size_bytes * 8 % mem.word_bits:
                self.fail(f"memory.{f.name}.size_bytes", "not a whole number of words")
            if mem.words > address_limit(f.name):
                self.fail(
                    f"memory.{f.name}.size_bytes",
                    f"{mem.words} words exceed the {address_limit(f.name)} words the ISA can address",
                )
        if a.lanes != CHANNELS_PER_WORD:
            self.fail("array.lanes", f"must be {CHANNELS_PER_WORD}: one FMEM word holds one channel group")
        vdds = [op.vdd for op in m.operating_points]
        if len(set(vdds)) != len(vdds):
            self.fail("operating_point", "two operating points share a voltage")
        ref = m.energy.reference_vdd
        if not any(math.isclose(v, ref, abs_tol=1e-9) for v in vdds):  # a point of the table, not interpolated
            have = ", ".join(f"{v:g}" for v in sorted(vdds))
            raise ChewcError(f"machine '{m.name}' has no operating point at {ref:g} V, its reference voltage "
                             f"(it has {have} V)")


def load_machine(path: str | Path | None = None) -> Machine:
    """Load and validate a machine description: a file, the name of a bundled one, or None (default)."""
    if path is None:
        path = DEFAULT_MACHINE
    path = Path(path)
    if not path.exists() and (MACHINES_DIR / f"{path}.toml").is_file():
        path = MACHINES_DIR / f"{path}.toml"
    try:
        st = path.stat()
    except OSError:
        return _Loader(path).machine(_read_toml(path))  # which names the problem
    return _load(path.resolve(), st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=16)
def _load(path: Path, mtime_ns: int, size: int) -> Machine:
    """A parsed description, kept while its file is unchanged (tools load the same one many times)."""
    return _Loader(path).machine(_read_toml(path))


def bundled_machine(name: str) -> Machine | None:
    """The machine description bundled under `name` (isa/machines/NAME.toml), if there is one."""
    path = MACHINES_DIR / f"{name}.toml"
    return load_machine(path) if NAME_RE.fullmatch(name) and path.is_file() else None
