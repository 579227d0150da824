"""The cost model reproduces the published peak figures, and smaller kernels use the array less."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from isa.machine import Machine, load_machine
from runtime.cli import main as run_main
from isa.asm import assemble
from runtime.emulator import CALIBRATION, CALIBRATION_PROGRAM, EmulationResult, emulate
from tests.helpers import run_cli
from tests.runtime.reference import program, random_pm1


@pytest.fixture(scope="module")
def machine() -> Machine:
    return load_machine()


@pytest.fixture(scope="module")
def calibration(machine: Machine) -> EmulationResult:
    prog = assemble(CALIBRATION.read_text(), machine, str(CALIBRATION))
    return emulate(prog, random_pm1(np.random.default_rng(0), (64, 38, 38)), machine)


def test_calibration_hits_published_peaks(machine: Machine, calibration: EmulationResult) -> None:
    report = calibration.report
    assert machine.published.peak_gops == 241 and machine.published.peak_tops_per_watt == 223
    assert report.vdd == 0.4 and report.freq_hz == 154e6
    assert report.gops == pytest.approx(machine.published.peak_gops, rel=0.01)
    assert report.core_tops_per_watt == pytest.approx(machine.published.peak_tops_per_watt, rel=0.01)
    assert report.utilisation == 1.0
    # 512 output channels x 4 groups x 32x32 pixels, one window per cycle.
    assert report.array_cycles == 512 * 4 * 32 * 32 and report.macs == report.array_cycles * 784
    assert report.kernels["7x7"].window_use == 1.0 and report.kernels["7x7"].count == 32
    # Off-chip traffic is system energy, not core.
    assert report.system_energy_j - report.core_energy_j == pytest.approx(report.energy_j["off-chip I/O"])
    assert report.system_tops_per_watt < report.core_tops_per_watt


def test_calibration_output_is_thresholded_conv(calibration: EmulationResult) -> None:
    y = calibration.outputs["y"]
    assert y.shape == (512, 32, 32) and y.dtype == np.int8
    # The same 16 filters serve every block of 16 output channels.
    np.testing.assert_array_equal(y[:16], y[496:])


def test_smaller_kernels_use_the_array_proportionally_less(machine: Machine) -> None:
    report = emulate(program("conv3x3.s", machine), random_pm1(np.random.default_rng(0), (20, 8, 8)), machine).report
    row = report.kernels["3x3"]
    assert row.window_use == pytest.approx(9 / 49)
    # 20 input channels fill 20 of the 32 lanes of their two groups; +1 padding keeps every lane busy.
    assert row.utilisation == pytest.approx(9 / 49 * 20 / 32)
    assert report.utilisation == row.utilisation
    assert "3x3" in report.to_text() and "18.4%" in report.to_text()


def test_operating_points_scale_time_and_energy(machine: Machine) -> None:
    prog = program("conv7x7.s", machine)
    x = random_pm1(np.random.default_rng(1), (16, 13, 13))
    low, high = (emulate(prog, x, machine, vdd).report for vdd in (0.4, 0.8))
    assert low.cycles == high.cycles
    assert high.seconds == pytest.approx(low.seconds * 154 / 600)
    assert high.energy_j["array"] == pytest.approx(4 * low.energy_j["array"])
    assert high.energy_j["off-chip I/O"] == low.energy_j["off-chip I/O"]


def test_report_json_through_the_cli(tmp_path: Path) -> None:
    path = tmp_path / "cal.chew"
    path.write_bytes(assemble(CALIBRATION.read_text(), load_machine(), str(CALIBRATION)).to_bytes())
    code, out, err = run_cli(run_main, str(path), "--report", "json")
    assert code == 0, err
    result = json.loads(out)
    assert result["outputs"]["y"] == {"dtype": "int8", "shape": [512, 32, 32], "min": -1, "max": 1}
    report = result["report"]
    assert report["gops"] == pytest.approx(241, rel=0.01)
    assert report["core_tops_per_watt"] == pytest.approx(223, rel=0.01)


def test_the_assembled_calibration_kernel_is_current(machine: Machine) -> None:
    """runtime/calibration_7x7.chew is the .s assembled for the default machine (runs load it without the
    assembler); after changing either: chewc-as runtime/calibration_7x7.s -o runtime/calibration_7x7.chew"""
    assert CALIBRATION_PROGRAM.read_bytes() == assemble(CALIBRATION.read_text(), machine, str(CALIBRATION)).to_bytes()
