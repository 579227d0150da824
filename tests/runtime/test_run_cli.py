"""`chewc-run`: inputs, outputs, checks, reports, operating points and exit codes."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

import runtime.mlir_run
from isa.machine import load_machine
from runtime.cli import main
from runtime.emulator import emulate
from tests.helpers import run_cli
from tests.runtime.reference import program, random_pm1

MACHINE = load_machine()


@pytest.fixture
def conv(tmp_path: Path) -> Path:
    path = tmp_path / "conv.chew"
    path.write_bytes(program("conv3x3.s", MACHINE).to_bytes())
    return path


@pytest.fixture
def residual(tmp_path: Path) -> Path:
    path = tmp_path / "res.chew"
    path.write_bytes(program("residual_add.s", MACHINE).to_bytes())
    return path


def test_help() -> None:
    code, out, _ = run_cli(main, "--help")
    assert code == 0
    for flag in ("--input", "--output", "--check", "--vdd", "--machine", "--report", ".mlir"):
        assert flag in out


def test_input_output_and_check(conv: Path, tmp_path: Path) -> None:
    x = random_pm1(np.random.default_rng(0), (20, 8, 8))
    np.save(tmp_path / "x.npy", x)
    code, out, err = run_cli(main, str(conv), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy"))
    assert code == 0, err
    y = np.load(tmp_path / "y.npy")
    np.testing.assert_array_equal(y, emulate(conv, x, MACHINE).outputs["y"])
    assert out.startswith("y int16[8,8,8]: min ") and "GOPS" in out and "utilisation" in out
    code, out, _ = run_cli(main, str(conv), "--input", f"x={tmp_path / 'x.npy'}", "--check", str(tmp_path / "y.npy"))
    assert code == 0 and "check: every output equals" in out
    y[1, 2, 3] += 2
    np.save(tmp_path / "bad.npy", y)
    code, _, err = run_cli(main, str(conv), "--input", str(tmp_path / "x.npy"), "--check", str(tmp_path / "bad.npy"))
    assert code == 1 and "output 'y' differs at index (1, 2, 3)" in err and "(1 of 512 elements differ)" in err


def test_several_inputs_and_outputs(residual: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    x, s = random_pm1(rng, (16, 6, 6)), rng.integers(-50, 50, (16, 6, 6))
    np.savez(tmp_path / "in.npz", x=x, s=s)
    np.save(tmp_path / "s.npy", s)
    np.save(tmp_path / "x.npy", x)
    code, _, err = run_cli(
        main, str(residual), "--input", str(tmp_path / "in.npz"), "--output", str(tmp_path / "o.npz")
    )
    assert code == 0, err
    want = emulate(residual, {"x": x, "s": s}, MACHINE).outputs["y"]
    np.testing.assert_array_equal(np.load(tmp_path / "o.npz")["y"], want)
    code, _, _ = run_cli(
        main,
        str(residual),
        "--input",
        f"x={tmp_path / 'x.npy'}",
        "--input",
        f"s={tmp_path / 's.npy'}",
        "--check",
        str(tmp_path / "o.npz"),
    )
    assert code == 0
    code, _, err = run_cli(main, str(residual), "--input", str(tmp_path / "x.npy"))
    assert code == 2 and "the program has inputs x, s: write NAME=" in err


def test_json_report_and_random_inputs(conv: Path) -> None:
    code, out, _ = run_cli(main, str(conv), "--report", "json", "--vdd", "0.6")
    assert code == 0
    result = json.loads(out)
    assert result["report"]["vdd"] == 0.6 and result["report"]["freq_hz"] == 380e6
    assert result["outputs"]["y"]["shape"] == [8, 8, 8] and result["check"] is None
    code, out, _ = run_cli(main, str(conv), "--report", "none", "--seed", "3")
    assert code == 0 and out.splitlines()[0] == "inputs: random (seed 3)" and len(out.splitlines()) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--vdd", "0.9"], "has operating points from 0.4 to 0.8 V (0.4, 0.5, 0.6, 0.8 V), not 0.9 V"),
        (["--machine", "quarter"], f"built for machine 'chewbaccann' ({MACHINE.hash().hex()[:12]}...), not for machine 'quarter'"),
        (["--input", "missing.npy"], "cannot read array file missing.npy: no such file"),
        (["--output", "y.npz", "--machine", "/nonexistent.toml"], "cannot read machine description"),
    ],
)
def test_bad_usage_exits_2(conv: Path, args: list[str], message: str) -> None:
    code, _, err = run_cli(main, str(conv), *args)
    assert code == 2 and message in err and err.startswith("chewc-run: error: ")


def test_not_a_program(tmp_path: Path) -> None:
    path = tmp_path / "x.chew"
    path.write_text("hello")
    assert run_cli(main, str(path)) == (2, "", f"chewc-run: error: {path}: bad magic at offset 0 (not a .chew file)\n")
    assert run_cli(main, str(tmp_path / "none.chew"))[0] == 2


def test_mlir_files_go_to_run_mlir(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[argparse.Namespace] = []

    def fake(args: argparse.Namespace) -> int:
        seen.append(args)
        return 0

    monkeypatch.setattr(runtime.mlir_run, "run_mlir", fake)
    code, _, _ = run_cli(main, "m.bnn.mlir", "--input", "a.npy", "--input", "b.npz", "--check", "m.onnx")
    assert code == 0
    assert seen[0].program == "m.bnn.mlir" and seen[0].input == ["a.npy", "b.npz"] and seen[0].check == "m.onnx"


@pytest.mark.parametrize("weight_scale", [1.0, 0.1])
def test_check_against_a_qonnx_model_with_a_symbolic_batch(tmp_path: Path, weight_scale: float) -> None:
    """Exporters declare the batch symbolic ('batch'); qonnx's executor refused the reference run's one
    sample ("found (0, 16, 8, 8) expected (1, 16, 8, 8)"): the reference runs it as batch 1."""
    from onnx import helper

    from compiler.cli import main as chewc
    from tests.helpers import save_model

    qonnx = "qonnx.custom_op.general"
    nodes = [helper.make_node("BipolarQuant", ["x", "one"], ["xb"], domain=qonnx),
             helper.make_node("BipolarQuant", ["wf", "s"], ["w"], domain=qonnx),
             helper.make_node("Conv", ["xb", "w"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])]
    inits = {"one": np.ones(1), "s": np.array(weight_scale), "wf": np.random.default_rng(0).normal(size=(8, 16, 3, 3))}
    model = save_model(tmp_path / "m.onnx", nodes, [("x", ["batch", 16, 8, 8])], [("y", ["batch", 8, 8, 8])], inits,
                       extra_opsets=[(qonnx, 1)])
    prog = tmp_path / "m.chew"
    assert run_cli(chewc, str(model), "-o", str(prog), "-q")[0] == 0
    code, out, err = run_cli(main, str(prog), "--check", str(model), "--samples", "2", "--report", "none")
    assert code == 0 and "bit-exact: 2 input(s)" in out, err
