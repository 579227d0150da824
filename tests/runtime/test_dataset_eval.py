"""chewc-run --dataset: a labelled set through a program, with accuracy, agreement and mean costs."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from compiler.cli import main as chewc
from runtime.cli import main as chewc_run
from runtime.datasets import RealModel, cifar10_subset, preprocess_cnv_plain, quantize_q17
from tests.helpers import EXAMPLES, run_cli

VGG = EXAMPLES / "vgg_cifar.onnx"  # declares its input encoding: q17


def compiled(model: Path, tmp_path: Path) -> Path:
    out = tmp_path / f"{model.stem}.chew"
    assert run_cli(chewc, str(model), "-o", str(out), "-q")[0] == 0
    return out


def test_an_npz_set_reports_accuracy_agreement_and_each_image(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)  # NHWC pixels
    y = rng.integers(0, 10, 6)
    np.savez(tmp_path / "set.npz", x=x, y=y)
    prog = compiled(VGG, tmp_path)
    code, out, err = run_cli(chewc_run, str(prog), "--dataset", str(tmp_path / "set.npz"), "--check", str(VGG),
                             "--report", "json", "--per-image", str(tmp_path / "each.csv"))
    assert code == 0, err
    # the reference's predictions on the same Q1.7 inputs, which the program matches bit for bit
    session = ort.InferenceSession(str(VGG))  # a batch of one
    want = np.array([session.run(None, {"x": quantize_q17(im.transpose(2, 0, 1))[None]})[0].argmax()
                     for im in x])
    data = json.loads(out)["dataset"]
    assert data["images"] == 6 and data["agreement"] == 1.0
    assert data["top1"] == float(np.mean(want == y))
    assert data["system_energy_j"] > data["core_energy_j"] > 0 and data["latency_s"] > 0
    rows = list(csv.DictReader((tmp_path / "each.csv").open()))
    assert [int(r["prediction"]) for r in rows] == want.tolist() == [int(r["reference_prediction"]) for r in rows]
    assert [int(r["label"]) for r in rows] == y.tolist() and all(r["match"] == "1" for r in rows)


def test_raw_pixels_into_a_q17_model_get_one_warning(tmp_path: Path) -> None:
    x = np.random.default_rng(0).integers(0, 256, (2, 3, 32, 32)).astype(np.float32)  # raw pixels, as floats
    np.savez(tmp_path / "raw.npz", x=x, y=np.zeros(2, np.int64))
    prog = compiled(VGG, tmp_path)
    code, _, err = run_cli(chewc_run, str(prog), "--dataset", str(tmp_path / "raw.npz"), "--preprocess", "none")
    assert code == 0
    assert err.strip() == ("warning: inputs range 0..255, outside the -1..0.992188 of the model's q17 input "
                           "encoding: is the preprocessing right?")
    np.save(tmp_path / "x.npy", x[0])
    assert "warning: inputs range 0..255" in run_cli(chewc_run, str(prog), "--input", str(tmp_path / "x.npy"))[2]


@pytest.mark.slow
def test_cnv_on_cifar10_matches_a_hand_written_evaluation(real_model: Callable[[str], RealModel],
                                                           tmp_path: Path) -> None:
    model = real_model("cnv").path()
    prog = compiled(model, tmp_path)
    # the model declares no encoding: the preprocessing must be named
    code, _, err = run_cli(chewc_run, str(prog), "--dataset", "cifar10", "--limit", "5")
    assert code == 2 and "pass --preprocess unit|q17|none" in err
    code, out, err = run_cli(chewc_run, str(prog), "--dataset", "cifar10", "--limit", "100", "--preprocess", "q17",
                             "--check", str(model), "--report", "json")
    assert code == 0, err
    images, labels = cifar10_subset(100)
    x = np.concatenate([preprocess_cnv_plain(im) for im in images])
    want = ort.InferenceSession(str(model)).run(None, {"x": x})[0].argmax(1)
    data = json.loads(out)["dataset"]
    assert data == {**data, "images": 100, "agreement": 1.0, "top1": float(np.mean(want == labels))}
    # declared when compiling, the encoding needs no --preprocess
    declared = tmp_path / "declared.chew"
    assert run_cli(chewc, str(model), "-o", str(declared), "-q", "--input-encoding", "q17")[0] == 0
    code, again, err = run_cli(chewc_run, str(declared), "--dataset", "cifar10", "--limit", "100", "--check", str(model),
                               "--report", "json")
    assert code == 0, err
    assert {k: v for k, v in json.loads(again)["dataset"].items() if k != "images_per_second"} == \
        {k: v for k, v in data.items() if k != "images_per_second"}


def test_dataset_usage_errors(tmp_path: Path) -> None:
    prog = compiled(VGG, tmp_path)
    assert "go with --dataset" in run_cli(chewc_run, str(prog), "--limit", "3")[2]
    np.save(tmp_path / "x.npy", np.zeros((3, 32, 32), np.float32))
    code, _, err = run_cli(chewc_run, str(prog), "--dataset", "cifar10", "--input", str(tmp_path / "x.npy"))
    assert code == 2 and "takes none of --input" in err
    np.savez(tmp_path / "nolabels.npz", x=np.zeros((2, 3, 32, 32), np.float32))
    code, _, err = run_cli(chewc_run, str(prog), "--dataset", str(tmp_path / "nolabels.npz"))
    assert code == 2 and "needs arrays 'x' (images) and 'y' (labels)" in err
