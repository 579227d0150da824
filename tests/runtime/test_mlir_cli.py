"""`chewc-run FILE.mlir --check MODEL.onnx`: 0 when every output equals the reference, 1 naming the
first differing output and index when not, 2 for bad input."""

from __future__ import annotations

import re

import numpy as np

from compiler.cli import main as chewc
from runtime.cli import main as chewc_run
from tests.helpers import EXAMPLES, run_cli

MODEL = str(EXAMPLES / "mlp.onnx")


def emit(tmp_path, level: str) -> str:
    out = tmp_path / f"mlp.{level}.mlir"
    code, _, err = run_cli(chewc, MODEL, f"--emit={level}", "-o", str(out))
    assert code == 0, err
    return str(out)


def test_bnn_matches(tmp_path):
    x = tmp_path / "x.npy"
    np.save(x, np.random.default_rng(0).integers(0, 256, (4, 1, 1, 28, 28)).astype(np.float32) / 255)
    code, out, err = run_cli(chewc_run, emit(tmp_path, "bnn"), "--input", str(x), "--check", MODEL)
    assert code == 0, err
    assert "bit-exact: 4 input(s)" in out


def test_every_level_runs(tmp_path):
    for level in ("tile", "chewbacca"):
        code, out, err = run_cli(chewc_run, emit(tmp_path, level), "--check", MODEL, "--samples", "2")
        assert code == 0, err
        assert "bit-exact: 2 input(s)" in out


def test_mismatch_names_output_and_index(tmp_path):
    path = emit(tmp_path, "bnn")
    text = open(path).read()
    # make the first layer's channels constant +1: the IR now computes something else
    text = re.sub(r'modes = "([gl+-]+)"', lambda m: f'modes = "{"+" * len(m.group(1))}"', text, count=1)
    bad = tmp_path / "bad.mlir"
    bad.write_text(text)
    code, _, err = run_cli(chewc_run, str(bad), "--check", MODEL, "--samples", "5")
    assert code == 1, err
    assert re.search(r"output 'scores' differs at index \(0, \d+\): got -?\d+, reference -?\d+", err)
    assert len(err.strip().splitlines()) == 1


def test_bad_ir_is_one_line(tmp_path):
    bad = tmp_path / "bad.mlir"
    bad.write_text("func.func @main(%x: tensor<1x8xf32>) -> !bnn.bits<1x8> {\n  %s = bnn.sign %x {zero = \"maybe\"} : tensor<1x8xf32> -> !bnn.bits<1x8>\n  func.return %s : !bnn.bits<1x8>\n}\n")
    code, _, err = run_cli(chewc_run, str(bad))
    assert code == 2 and "zero must be one of" in err and len(err.strip().splitlines()) == 1


def test_no_sample_is_an_error_not_a_pass(tmp_path):
    code, out, err = run_cli(chewc_run, emit(tmp_path, "bnn"), "--check", MODEL, "--samples", "0")
    assert code == 2 and "run at least one sample" in err and "bit-exact" not in out
