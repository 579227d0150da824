"""Numeric bisection: `chewc --bisect` / `chewc-opt --check-against` name the first wrong pass and
write a reproducer whose replay command fails the same way."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from compiler.cli import main as chewc
from compiler.opt import main as chewc_opt
from compiler.pipeline_debug import seeded_input
from tests.helpers import EXAMPLES, REPO, run_cli

PLUGIN = str(Path(__file__).with_name("wrong_passes.py"))
MLP = str(EXAMPLES / "mlp.onnx")
DEFAULT = "bnn-decompose-kernels,bnn-dense-to-conv,tile-loops,tile-buffer-alloc,convert-tile-to-chewbacca"
WITH_FLIP = "bnn-decompose-kernels,test-flip-threshold{channel=5},bnn-dense-to-conv,tile-loops,tile-buffer-alloc," \
    "convert-tile-to-chewbacca"
DIFFERS = re.compile(r"output '(\w+)' differs at index (\([0-9, ]*\))")


def replay(script: Path) -> subprocess.CompletedProcess[str]:
    """Run a reproducer's replay.sh as a user would, with the chewc tools on PATH."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(["sh", str(script)], capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.parametrize("model", ["mlp.onnx", "cnn_9x9_11x11.onnx"])
def test_default_pipeline_is_exact_at_every_stage(model):
    code, out, err = run_cli(chewc, str(EXAMPLES / model), "--bisect")
    assert code == 0, err
    assert out == ""
    assert err.strip().endswith("bisect: all 7 stages equal the reference (seed 0)")
    assert err.count(" ok\n") == 7


def test_bisect_names_the_wrong_pass_and_the_replay_fails_the_same_way(tmp_path):
    repro = tmp_path / "repro dir"  # a space: the replay command must quote paths
    code, _, err = run_cli(chewc, MLP, "--bisect", "--load-pass-plugin", PLUGIN, "--pipeline", WITH_FLIP,
                           "--reproducer-dir", str(repro))
    assert code == 1, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("chewc: error: pass 'test-flip-threshold' (#2 of 6) is the first whose result differs")
    assert "Traceback" not in err
    tensor, index = DIFFERS.search(last).groups()
    assert {p.name for p in repro.iterdir()} == {"before.mlir", "input.npy", "replay.sh"}
    assert "bnn.dense" in (repro / "before.mlir").read_text()  # the IR before the bad pass
    x = np.load(repro / "input.npy")
    assert x.shape == (1, 1, 28, 28) and np.array_equal(x, seeded_input(x.shape, 0))
    script = (repro / "replay.sh").read_text()
    assert "-p 'test-flip-threshold{channel=5}' --check-against" in script
    assert f"replay with:\n  {script.splitlines()[-1].removeprefix('exec ')}\n" in err

    proc = replay(repro / "replay.sh")
    assert proc.returncode == 1, proc.stderr
    replayed = proc.stderr.strip().splitlines()[-1]
    assert replayed.startswith("chewc-opt: error: pass 'test-flip-threshold' (#1 of 1) is the first whose result")
    assert DIFFERS.search(replayed).groups() == (tensor, index)


def test_chewc_opt_check_against_names_the_wrong_pass(tmp_path):
    bnn = tmp_path / "mlp.mlir"
    assert run_cli(chewc, MLP, "--emit=bnn", "-o", str(bnn))[0] == 0
    code, _, err = run_cli(chewc_opt, str(bnn), "-p", "bnn-dense-to-conv,test-flip-threshold,tile-loops",
                           "--check-against", MLP, "--load-pass-plugin", PLUGIN, "--reproducer-dir", str(tmp_path / "r"))
    assert code == 1, err
    assert "pass 'test-flip-threshold' (#2 of 3) is the first whose result differs" in err
    assert "bisect: #3" not in err  # stops at the first difference


@pytest.mark.slow
def test_a_pass_that_leaves_unexecutable_ir_is_named(tmp_path):
    pipeline = "bnn-decompose-kernels,bnn-dense-to-conv,tile-loops,test-dma-off-by-one"
    code, _, err = run_cli(chewc, MLP, "--bisect", "--emit=tile", "--load-pass-plugin", PLUGIN,
                           "--pipeline", pipeline, "--reproducer-dir", str(tmp_path))
    assert code == 1, err
    assert "pass 'test-dma-off-by-one' (#4 of 4) leaves IR that cannot be executed" in err
    assert "[tile]" in err and "tile.dma" in (tmp_path / "before.mlir").read_text()
    proc = replay(tmp_path / "replay.sh")
    assert proc.returncode == 1 and "cannot be executed" in proc.stderr


def test_a_wrong_input_ir_is_reported_before_any_pass(tmp_path):
    bnn = tmp_path / "mlp.mlir"
    assert run_cli(chewc, MLP, "--emit=bnn", "-o", str(bnn))[0] == 0
    text = bnn.read_text()
    modes = re.search(r'modes = "([gl+-]+)"', text)
    flipped = "l" if modes.group(1)[0] == "g" else "g"
    bnn.write_text(text[: modes.start(1)] + flipped + text[modes.start(1) + 1:])
    code, _, err = run_cli(chewc_opt, str(bnn), "-p", DEFAULT, "--check-against", MLP,
                           "--reproducer-dir", str(tmp_path / "r"))
    assert code == 1, err
    assert "error: the input IR (before any pass) differs from the reference: output 'scores'" in err
    assert " -p " not in (tmp_path / "r" / "replay.sh").read_text()  # nothing to run: the input is wrong
    assert replay(tmp_path / "r" / "replay.sh").returncode == 1


def test_input_file_and_seed_choose_the_input(tmp_path):
    bnn = tmp_path / "mlp.mlir"
    assert run_cli(chewc, MLP, "--emit=bnn", "-o", str(bnn))[0] == 0
    x = seeded_input((1, 1, 28, 28), 7)
    np.save(tmp_path / "x.npy", x)
    code, _, err = run_cli(chewc_opt, str(bnn), "--check-against", MLP, "--input", str(tmp_path / "x.npy"))
    assert code == 0 and err.strip().endswith("x.npy)"), err
    np.save(tmp_path / "bad.npy", np.zeros((3, 3), np.float32))
    code, _, err = run_cli(chewc_opt, str(bnn), "--check-against", MLP, "--input", str(tmp_path / "bad.npy"))
    assert code == 2 and "does not fit the model input (1, 1, 28, 28)" in err


def test_seeded_input_looks_like_an_image():
    a, b = seeded_input((1, 3, 8, 8), 0), seeded_input((1, 3, 8, 8), 1)
    assert a.dtype == np.float32 and a.shape == (1, 3, 8, 8)
    assert np.array_equal(a, seeded_input((1, 3, 8, 8), 0)) and not np.array_equal(a, b)
    assert a.min() >= 0 and a.max() <= 1 and np.allclose(a * 255, np.round(a * 255))


def test_the_wrong_passes_stay_out_of_the_production_registry():
    from compiler.passes import get_all_passes

    assert not any(name.startswith("test-") for name in get_all_passes())
    code, out, _ = run_cli(chewc, "--list-passes")
    assert code == 0 and "test-" not in out
    assert REPO / "tests" in Path(PLUGIN).parents
