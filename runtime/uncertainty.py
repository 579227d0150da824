"""What the energy model's assumptions leave open: the calibration re-solved over their ranges.

One energy is fitted to a published figure: `array.mac_energy` is solved so that the calibration
kernel (`calibration_7x7.s`: 512 7x7x64 filters over a 38x38x64 map, every lane busy) reaches
`published.peak_tops_per_watt` in core energy at the reference voltage, with every other energy as the
machine description gives it. Those others are assumptions; a description documents how far each may
be off with `range = [lo, hi]`. Any choice inside the ranges, with mac_energy solved again, still
gives the published peak, yet a workload whose events differ from the calibration kernel's (idle lanes,
more memory traffic per MAC) costs more or less: `spread` gives the least and the most.

The energy is a sum of terms, each events times a product of parameters (`runtime.cost.Term`), and
linear in every parameter alone; so its extremes over the box of ranges lie at corners. The parameters
that multiply another free one (the idle-lane fraction times mac_energy) are enumerated at their two
ends; for each, the rest is linear after substituting the solved mac_energy, and each parameter's end
is chosen on its own.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from math import prod

from isa.errors import ChewcError
from isa.machine import Machine
from runtime.cost import Counters, Term, energy_terms

SOLVED = "array.mac_energy"
IDLE = "array.idle_mac_fraction"
OFF_CHIP = "off-chip I/O"


@dataclass(frozen=True, eq=False)  # compared and hashed by identity (the calibration is one object)
class Events:
    """What a run of a program counted, and its cycles; the calibration kernel's are those of a run on
    the default machine (the chip the published peak was measured on)."""

    counters: Counters
    cycles: int


@dataclass(frozen=True)
class Spread:
    """A workload's energy over the documented ranges, mac_energy re-solved at each choice."""

    core_energy_j: tuple[float, float]
    system_energy_j: tuple[float, float]
    ranged: tuple[str, ...]  # the parameters with a range
    solved: str  # the one re-solved


def spread(m: Machine, terms: list[Term], cal: Events) -> Spread | None:
    """The least and most energy of the workload `terms` over `m`'s ranges; None without ranges (a machine
    rebuilt from IR values carries none)."""
    return _spread(tuple(m.ranges.items()), m, tuple(terms), cal)


# Every run of a program counts the same events: replays hit. Machines compare by value, not by their
# provenance records, which hold the ranges: those are part of the key.
@functools.lru_cache(maxsize=64)
def _spread(ranged: tuple[tuple[str, tuple[float, float]], ...], m: Machine, terms: tuple[Term, ...], cal: Events
            ) -> Spread | None:
    box = {p: r for p, r in ranged if p != SOLVED}
    if not box:
        return None
    cal_terms = _calibration_terms(m, cal)
    target = 2 * cal.counters.macs / (m.published.peak_tops_per_watt * 1e12)
    core, off = _core(list(terms)), [t for t in terms if t.part == OFF_CHIP]
    # parameters that share a term with another free one: their two ends are enumerated
    paired = sorted({p for t in (*core, *cal_terms) for p in t.params if p in box
                     and len([q for q in t.params if q in box or q == SOLVED]) > 1})
    lows, highs = [], []
    for ends in itertools.product(*(box[p] for p in paired)):
        fixed = {**m.parameters, **dict(zip(paired, ends))}
        free = {p: r for p, r in box.items() if p not in paired}
        c0, cc, cm = _linear(cal_terms, fixed, free)
        if c0 + sum(max(c * lo, c * hi) for p, c in cc.items() for lo, hi in [free[p]]) >= target or cm <= 0:
            raise ChewcError(f"machine '{m.name}': with its energies at the top of their ranges the calibration "
                             f"kernel costs more than {m.published.peak_tops_per_watt:g} TOPS/W allows without any MAC "
                             f"energy: narrow the ranges of {', '.join(sorted(cc))}")
        w0, wc, wm = _linear(core, fixed, free)
        base = w0 + wm * (target - c0) / cm
        coef = {p: wc.get(p, 0.0) - wm * cc.get(p, 0.0) / cm for p in free}
        lows.append(base + sum(min(c * free[p][0], c * free[p][1]) for p, c in coef.items()))
        highs.append(base + sum(max(c * free[p][0], c * free[p][1]) for p, c in coef.items()))
    o0, oc, _ = _linear(off, dict(m.parameters), box)
    off_lo = o0 + sum(min(c * box[p][0], c * box[p][1]) for p, c in oc.items())
    off_hi = o0 + sum(max(c * box[p][0], c * box[p][1]) for p, c in oc.items())
    lo, hi = min(lows), max(highs)
    return Spread((lo, hi), (lo + off_lo, hi + off_hi), tuple(sorted(box)), SOLVED)


@functools.lru_cache(maxsize=8)
def _calibration_terms(m: Machine, cal: Events) -> list[Term]:  # the same for every workload
    point = m.operating_point(None)
    return _core(energy_terms(m, cal.counters, point.vdd, cal.cycles / point.freq))


def _core(terms: list[Term]) -> list[Term]:
    return [t for t in terms if t.part != OFF_CHIP]


def _linear(terms: list[Term], fixed: Mapping[str, float], free: Mapping[str, tuple[float, float]]
            ) -> tuple[float, dict[str, float], float]:
    """`terms` as constant + sum of coefficient x free parameter + coefficient x the solved one."""
    const, coef, solved = 0.0, dict[str, float](), 0.0
    for t in terms:
        var = [p for p in t.params if p in free or p == SOLVED]
        k = t.events * prod(fixed[p] for p in t.params if p not in var)
        if not var:
            const += k
        elif var == [SOLVED]:
            solved += k
        else:
            (p,) = var  # `spread` fixed every parameter paired with another
            coef[p] = coef.get(p, 0.0) + k
    return const, coef, solved


def idle_ends(m: Machine, terms: list[Term]) -> dict[str, float]:
    """Joules of `terms` (core only) with idle lanes gated (fraction 0) and ungated (1), all else as given."""
    core = _core(terms)
    return {name: sum(t.events * prod({**m.parameters, IDLE: f}[p] for p in t.params) for t in core)
            for name, f in (("gated", 0.0), ("ungated", 1.0))}
