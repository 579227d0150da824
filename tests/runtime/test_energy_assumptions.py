"""The energy model's assumptions made explicit: energy is not part of a program, idle lanes have a price,
every energy names its basis, and the calibration's uncertainty is re-solved over documented ranges."""

from __future__ import annotations

import itertools
import json
from math import prod
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from compiler.cli import main as chewc
from compiler.driver import compile_model
from compiler.first_layer import parse_grid
from isa.errors import ChewcError
from isa.machine import DEFAULT_MACHINE, Machine, load_machine
from runtime.cli import main as chewc_run
from runtime.cost import Counters, energy_terms, evaluate
from runtime.emulator import calibration, emulate, program_events
from tests.helpers import EXAMPLES, REPO, run_cli

CNV = REPO.parent / "shared" / "data" / "models" / "cnv_w1a1_cifar10_bnnpynq.onnx"


def variant(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(f'extends = "{DEFAULT_MACHINE}"\n{body}')
    return path


ENERGIES = """
[array]
mac_energy = { value = 9e-15, tag = "A" }
idle_mac_fraction = { value = 0.5, tag = "A" }
[memory.fmem]
read_energy = { value = 5e-15, tag = "A" }
[memory.dram]
write_energy = { value = 20e-12, tag = "A" }
[units]
threshold_energy = { value = 40e-15, tag = "A" }
"""


def test_energy_parameters_are_not_part_of_the_program(tmp_path: Path) -> None:
    energies = variant(tmp_path, "energies", ENERGIES)
    m, e = load_machine(), load_machine(energies)
    assert e.hash() == m.hash() and e.parameters != m.parameters
    assert {"array.mac_energy", "memory.dram.write_energy", "operating_point.0.leakage"} <= set(m.energy_paths())
    assert "memory.fmem.size_bytes" not in m.energy_paths() and "operating_point.0.freq" not in m.energy_paths()
    sizes = variant(tmp_path, "sizes", "[memory.fmem]\nsize_bytes = { value = 32768, tag = \"A\" }\n")
    assert load_machine(sizes).hash() != m.hash()
    built = {}
    for name, machine in (("default", None), ("energies", energies), ("sizes", sizes)):
        out = tmp_path / f"{name}.chew"
        args = [str(EXAMPLES / "mlp.onnx"), "-o", str(out), "-q"] + (["--machine", str(machine)] if machine else [])
        assert run_cli(chewc, *args)[0] == 0
        built[name] = out.read_bytes()
    assert built["energies"] == built["default"]  # byte-identical: one program serves an energy sweep
    assert built["sizes"] != built["default"]
    # the program built for the default runs on the variant's energies: same cycles and traffic, other joules
    code, out, err = run_cli(chewc_run, str(tmp_path / "default.chew"), "--machine", str(energies), "--report", "json")
    assert code == 0, err
    swept = json.loads(out)["report"]
    base = json.loads(run_cli(chewc_run, str(tmp_path / "default.chew"), "--report", "json")[1])["report"]
    assert swept["cycles"] == base["cycles"] and swept["traffic_bits"] == base["traffic_bits"]
    fmem = base["traffic_bits"]["fmem"]
    assert swept["energy_j"]["FMEM"] == pytest.approx(fmem["read"] * 5e-15 + fmem["write"] * 4e-15)
    assert swept["energy_j"]["threshold"] == pytest.approx(base["energy_j"]["threshold"] * 2)
    code, _, err = run_cli(chewc_run, str(tmp_path / "default.chew"), "--machine", str(sizes))
    assert code == 2 and "built for machine" in err


@pytest.mark.skipif(not CNV.exists(), reason="../shared/data is absent (the real CNV-W1A1 model)")
def test_a_first_layer_choice_depends_on_no_energy(tmp_path: Path) -> None:
    """`--first-layer auto` decides by time: a host 200x cheaper in energy than the default changes no
    program (by energy, the 8-bit stem would have gone to the host)."""
    cheap = variant(tmp_path, "cheap_host", '[host]\nmac_energy = { value = 1e-13, tag = "A" }\n'
                    'element_energy = { value = 4e-13, tag = "A" }\n')
    grid = parse_grid("8,-7")
    a = compile_model(CNV, first_layer="auto", input_grid=grid)
    b = compile_model(CNV, machine_path=str(cheap), first_layer="auto", input_grid=grid)
    assert a.program is not None and b.program is not None and a.program.to_bytes() == b.program.to_bytes()
    assert a.placement is not None and "11 layers on the array" in a.placement.line()  # the stem by bit planes


def test_ranges_are_checked(tmp_path: Path) -> None:
    for body, message in (
        ('[memory.fmem]\nsize_bytes = { value = 65536, tag = "A", range = [1, 2] }\n', "only an energy parameter"),
        ('[memory.fmem]\nread_energy = { value = 3e-15, tag = "A", range = [4e-15, 5e-15] }\n', "must hold the value"),
        ('[array]\nidle_mac_fraction = { value = 0.5, tag = "A", range = [0, 2] }\n', r"lie in \[0, 1\]"),
        ('[array]\nidle_mac_fraction = { value = 1.5, tag = "A" }\n', r"must lie in \[0, 1\]"),
        ('[memory.fmem]\nread_energy = { value = 3e-15, tag = "A", range = "wide" }\n', "range must be"),
    ):
        with pytest.raises(ChewcError, match=message):
            load_machine(variant(tmp_path, "bad", body))


def test_idle_lanes_cost_what_the_fraction_says() -> None:
    m = load_machine()
    prog = compile_model(EXAMPLES / "mlp.onnx").program
    assert prog is not None
    r = emulate(prog, np.zeros(prog.inputs[0].shape, np.float32), m).report
    assert r.core_energy_j == pytest.approx(r.idle_lanes["gated"])  # the default gates idle lanes
    assert r.idle_lanes["ungated"] - r.idle_lanes["gated"] == pytest.approx(r.idle_lane_cycles * m.array.mac_energy)
    for row in r.kernels.values():
        idle = row.array_cycles * m.array.macs_per_cycle - row.macs
        assert row.array_energy_j["ungated"] - row.array_energy_j["gated"] == pytest.approx(idle * m.array.mac_energy)


def test_energy_bases() -> None:
    m = load_machine()
    prog = compile_model(EXAMPLES / "mlp.onnx").program
    assert prog is not None
    r = emulate(prog, np.zeros(prog.inputs[0].shape, np.float32), m).report
    assert r.system_energy_j - r.core_energy_j == pytest.approx(r.energy_j["off-chip I/O"])
    weights = r.traffic_bits["wmem"]["write"] + r.traffic_bits["tmem"]["write"]
    assert weights > 0
    assert r.weights_resident_energy_j == pytest.approx(r.system_energy_j - weights * m.memory.dram.read_energy)
    assert r.core_energy_j < r.weights_resident_energy_j < r.system_energy_j
    text = r.to_text()
    for label in ("(no off-chip I/O)", "(with I/O)", "weights-resident energy"):
        assert label in text
    assert r.host.steps and "not counted in any energy above" in text  # the float head runs on the host


def brute_force(m: Machine, counters: Counters, seconds: float) -> tuple[float, float]:
    """Every corner of the ranges that move this workload's or the calibration's core energy, mac_energy
    solved by evaluating the calibration at two values of it: apart from `runtime.uncertainty`'s algebra."""
    point = m.operating_point(None)
    cal = calibration()
    cal_terms = [t for t in energy_terms(m, cal.counters, point.vdd, cal.cycles / point.freq) if t.part != "off-chip I/O"]
    terms = [t for t in energy_terms(m, counters, point.vdd, seconds) if t.part != "off-chip I/O"]
    box = m.ranges
    moving = sorted(p for p in box if p != "array.mac_energy" and any(
        p in t.params and t.events for t in (*terms, *cal_terms)))
    target = 2 * cal.counters.macs / (m.published.peak_tops_per_watt * 1e12)
    core = []
    for ends in itertools.product(*(box[p] for p in moving)):
        values = {**m.parameters, **dict(zip(moving, ends))}
        at = [sum(evaluate(cal_terms, {**values, "array.mac_energy": mac}).values()) for mac in (0.0, 1e-15)]
        values["array.mac_energy"] = (target - at[0]) / (at[1] - at[0]) * 1e-15
        assert values["array.mac_energy"] > 0
        core.append(sum(t.events * prod(values[p] for p in t.params) for t in terms))
    return min(core), max(core)


def test_the_spread_is_the_extremes_over_the_ranges() -> None:
    m = load_machine()
    cal = calibration()
    point = m.operating_point(None)
    cal_core = sum(evaluate([t for t in energy_terms(m, cal.counters, point.vdd, cal.cycles / point.freq)
                             if t.part != "off-chip I/O"], m.parameters).values())
    assert 2 * cal.counters.macs / cal_core / 1e12 == pytest.approx(223.0, rel=1e-4)  # the stated mac_energy fits
    prog = compile_model(EXAMPLES / "mlp.onnx").program
    assert prog is not None
    r = emulate(prog, np.zeros(prog.inputs[0].shape, np.float32), m).report
    assert r.spread is not None
    lo, hi = r.spread.core_energy_j
    assert lo < r.core_energy_j < hi
    events = program_events(prog, m)
    assert (lo, hi) == pytest.approx(brute_force(m, events.counters, events.cycles / point.freq), rel=1e-9)


@pytest.mark.skipif(not CNV.exists(), reason="../shared/data is absent (the real CNV-W1A1 model)")
def test_cnv_report_shows_its_core_energy_range_and_both_idle_lane_ends(tmp_path: Path) -> None:
    prog = tmp_path / "cnv.chew"
    assert run_cli(chewc, str(CNV), "-o", str(prog), "-q")[0] == 0
    code, out, err = run_cli(chewc_run, str(prog), "--report", "json")
    assert code == 0, err
    doc = json.loads(out)
    jsonschema.validate(doc, json.loads((REPO / "runtime" / "report.schema.json").read_text()))
    r = doc["report"]
    lo, hi = r["spread"]["core_energy_j"]
    assert lo < r["core_energy_j"] < hi and hi > 3 * lo  # 3x3 kernels at 18 % window use: idle lanes decide
    gated, ungated = r["idle_lanes"]["gated"], r["idle_lanes"]["ungated"]
    assert gated == pytest.approx(r["core_energy_j"]) and ungated > 3 * gated
    k = r["kernels"]["3x3"]["array_energy_j"]
    assert k["ungated"] > 3 * k["gated"]
    text = run_cli(chewc_run, str(prog))[1]
    assert "core energy range" in text and "ungated" in text and "array, ungated" in text


def test_ranges_too_wide_to_calibrate_are_an_error(tmp_path: Path) -> None:
    """Array cycles at 9 pJ would cost more than the whole 7.0 pJ the published peak leaves per cycle."""
    wide = variant(tmp_path, "wide", '[array]\ncycle_energy = { value = 0.4e-12, tag = "A", range = [0.1e-12, 9e-12] }\n')
    prog = tmp_path / "mlp.chew"
    assert run_cli(chewc, str(EXAMPLES / "mlp.onnx"), "-o", str(prog), "-q")[0] == 0
    code, _, err = run_cli(chewc_run, str(prog), "--machine", str(wide))
    assert code == 2 and "narrow the ranges" in err and "array.cycle_energy" in err
