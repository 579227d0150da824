"""benchmarks/fidelity.py: every published figure in one table, fitted ones labelled, predicted ones with
their ratio to the paper (the quick variant, without Group-Net x 8 at 224)."""

from __future__ import annotations

import contextlib
import io
import sys

import pytest

from tests.helpers import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import fidelity  # noqa: E402


def test_the_fidelity_table_labels_every_figure() -> None:
    rows = {r.figure: r for r in fidelity.rows(quick=True)}
    assert {r.status for r in rows.values()} == {"fitted", "predicted", "unverifiable"}
    assert rows["peak core efficiency, 0.4 V"].status == "fitted"  # it set array.mac_energy
    assert rows["peak core efficiency, 0.4 V"].model == pytest.approx(223.0, rel=0.01)
    power = rows["power at 0.4 V / 154 MHz"]
    assert power.status == "predicted" and power.model is not None and power.cells()[4] == f"{power.model / 1.1:.2f}x"
    cifar = rows["CIFAR-10 inference, 86.8 %"]
    assert cifar.status == "unverifiable" and cifar.span is not None and cifar.model is not None
    assert cifar.span[0] < cifar.model < cifar.span[1]  # the proxy's core energy over the assumed ranges
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert fidelity.main(["--quick"]) == 0
    assert "fitted" in out.getvalue() and "not run (--quick)" in out.getvalue()
