"""What a compiled program records about its build (`isa.build`) and returns: outputs in the ONNX graph's
own type and shape (a saved onnxruntime result compares directly), inputs accepted in the model's shape,
and the build manifest (chewc-objdump, `--report json`)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort

from compiler.cli import main as chewc
from compiler.driver import compile_model
from isa import build
from isa.cli import objdump_main
from isa.version import version
from runtime.cli import main as chewc_run
from runtime.datasets import RealModel, preprocess_cnv_plain
from runtime.emulator import emulate
from tests.helpers import EXAMPLES, run_cli


def test_cnv_outputs_are_what_onnxruntime_returns_and_its_saved_result_checks(
        real_model: Callable[[str], RealModel], tmp_path: Path) -> None:
    model = real_model("cnv").path()
    images = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    x = np.concatenate([preprocess_cnv_plain(im) for im in images])  # [3, 3, 32, 32] Q1.7, as the package makes it
    want = ort.InferenceSession(str(model)).run(None, {"x": x})[0]
    assert want.dtype == np.float32 and want.shape == (3, 10)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "want.npy", want)
    assert run_cli(chewc, str(model), "-o", str(tmp_path / "cnv.chew"), "-q")[0] == 0
    code, out, err = run_cli(chewc_run, str(tmp_path / "cnv.chew"), "--input", str(tmp_path / "x.npy"), "--output",
                             str(tmp_path / "got.npy"), "--check", str(tmp_path / "want.npy"), "--report", "none")
    assert code == 0, err
    assert "check: every output equals" in out
    got = np.load(tmp_path / "got.npy")
    assert got.dtype == np.float32 and got.shape == (3, 10) and np.array_equal(got, want)
    # the Python API takes the package's own preprocessed array, [1, 3, 32, 32]
    prog = compile_model(model).program
    assert prog is not None
    single = emulate(prog, preprocess_cnv_plain(images[0])).outputs["scores"]
    assert np.array_equal(single.reshape(-1), want[0])


def test_the_manifest_records_the_model_pipeline_machine_and_version(tmp_path: Path) -> None:
    model = EXAMPLES / "vgg_cifar.onnx"
    out = tmp_path / "vgg.chew"
    assert run_cli(chewc, str(model), "-o", str(out), "-q", "--machine", "quarter")[0] == 0
    prog = compile_model(model, machine_path="quarter").program
    assert prog is not None
    m = build.manifest(prog)
    assert m is not None
    assert m["model_sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    assert m["chewc"] == version() and m["machine"] == "quarter"
    assert m["pipeline"].split(",")[3] == "tile-loops" and m["options"]["first_layer"] == "auto"
    assert out.read_bytes() == prog.to_bytes()  # deterministic: the CLI's and the API's program agree
    listing = run_cli(objdump_main, str(out))[1]
    assert f"; built by chewc {version()} from a model of sha256 {m['model_sha256']}" in listing
    code, text, _ = run_cli(chewc_run, str(out), "--report", "json")
    assert code == 0 and json.loads(text)["manifest"] == m
    assert build.model_outputs(prog) == {"scores": ("float32", (1, 10))}
