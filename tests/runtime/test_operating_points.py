"""Operating points as a curve: any vdd between the machine's points (frequency and leakage interpolated,
marked as an assumption), and chewc-run --sweep-vdd over the points and the midpoints between them."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from compiler.cli import main as chewc
from isa.errors import ChewcError
from isa.machine import load_machine
from runtime.cli import main as chewc_run
from tests.helpers import EXAMPLES, REPO, run_cli


def test_a_voltage_between_two_points_interpolates_frequency_and_leakage() -> None:
    m = load_machine(None)
    p = m.operating_point(0.45)  # halfway between 0.4 V (154 MHz, 70 uW) and 0.5 V (260 MHz, 110 uW)
    assert (p.vdd, p.freq, p.leakage) == pytest.approx((0.45, 207e6, 90e-6))
    assert m.point_basis(0.45) == "interpolated [A]" and m.point_basis(0.5) == "assumed [A]"
    assert m.point_basis(0.4) == "partly assumed [A]"  # 154 MHz is stated, its leakage is ours
    with pytest.raises(ChewcError, match="from 0.4 to 0.8 V"):
        m.operating_point(0.9)


def test_sweep_vdd_prints_every_point_and_midpoint(tmp_path: Path) -> None:
    prog = tmp_path / "m.chew"
    assert run_cli(chewc, str(EXAMPLES / "mlp.onnx"), "-o", str(prog), "-q")[0] == 0
    code, out, err = run_cli(chewc_run, str(prog), "--vdd", "0.45", "--report", "json")
    assert code == 0, err
    assert json.loads(out)["report"]["freq_hz"] == pytest.approx(207e6)
    code, out, err = run_cli(chewc_run, str(prog), "--sweep-vdd", "--report", "json")
    assert code == 0, err
    doc = json.loads(out)
    jsonschema.validate(doc, json.loads((REPO / "runtime" / "report.schema.json").read_text()))
    rows = doc["sweep_vdd"]
    assert [r["vdd"] for r in rows] == pytest.approx([0.4, 0.45, 0.5, 0.55, 0.6, 0.7, 0.8])
    assert [r["basis"] for r in rows][1::2] == ["interpolated [A]"] * 3
    latency, core = [r["latency_s"] for r in rows], [r["core_energy_j"] for r in rows]
    assert latency == sorted(latency, reverse=True) and core == sorted(core)  # faster, and dearer, with vdd
    text = run_cli(chewc_run, str(prog), "--sweep-vdd")[1]
    assert "operating points of chewbaccann" in text and text.count("interpolated [A]") == 3
