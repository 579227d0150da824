"""runtime.datasets against the facts stated in the shared data README."""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from isa.errors import ChewcError
from runtime.datasets import (
    MNIST_IMAGES,
    MNIST_LABELS,
    REAL_MODELS,
    RealModel,
    cifar10_image0,
    cifar10_subset,
    data_dir,
    get_real_model,
    mnist_test,
    preprocess_cnv_plain,
    preprocess_cnv_qonnx,
    preprocess_lfc,
    quantize_q17,
)

MNIST_CLASS_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
MNIST_MD5 = {MNIST_IMAGES: "2646ac647ad5339dbf082846283269ea", MNIST_LABELS: "27ae3e4e09519cfbb04c329615203637"}
CAT_SCORES = [-68, -14, -2, 316, -28, 18, -28, -12, -44, -46]  # CNV on exact test image #0


def _session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3  # LFC lists its initializers as inputs; onnxruntime warns per tensor
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _input_shape(path: Path) -> list[int | None]:
    """The model's input shape, None for a symbolic dimension (CNV's batch is "N")."""
    graph = onnx.load(str(path)).graph
    inits = {i.name for i in graph.initializer}
    (x,) = [i for i in graph.input if i.name not in inits]
    return [d.dim_value if d.HasField("dim_value") else None for d in x.type.tensor_type.shape.dim]


# -- data sets -----------------------------------------------------------------------------------


def test_mnist_decompressed_md5(shared_data: Path) -> None:
    for relative, md5 in MNIST_MD5.items():
        assert hashlib.md5(gzip.open(shared_data / relative).read()).hexdigest() == md5


def test_mnist_test_set(shared_data: Path) -> None:
    images, labels = mnist_test()
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and labels.dtype == np.uint8
    assert np.bincount(labels).tolist() == MNIST_CLASS_COUNTS
    first, first_labels = mnist_test(3)
    assert np.array_equal(first, images[:3]) and np.array_equal(first_labels, labels[:3])


def test_mnist_bad_count(shared_data: Path) -> None:
    with pytest.raises(ChewcError, match="10000"):
        mnist_test(10001)


def test_cifar10_subset_is_class_balanced(shared_data: Path) -> None:
    images, labels = cifar10_subset()
    assert images.shape == (1000, 32, 32, 3) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [100] * 10
    _, first = cifar10_subset(20)
    assert first.tolist() == list(range(10)) * 2


def test_cifar10_image0(shared_data: Path) -> None:
    image = cifar10_image0()
    assert image.shape == (1, 3, 32, 32) and image.dtype == np.uint8


def test_missing_data_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CHEWC_DATA", str(tmp_path / "absent"))
    assert data_dir() is None
    with pytest.raises(ChewcError, match="CHEWC_DATA"):
        mnist_test()
    monkeypatch.setenv("CHEWC_DATA", str(tmp_path))
    with pytest.raises(ChewcError, match="missing.*cifar10_test_image0"):
        cifar10_image0()


def test_unknown_real_model() -> None:
    with pytest.raises(ChewcError, match="cnv, cnv_qonnx, lfc"):
        get_real_model("resnet")


# -- preprocessing -------------------------------------------------------------------------------


def test_quantize_q17() -> None:
    codes = quantize_q17(np.array([0, 127, 128, 255], dtype=np.uint8)) * 128
    assert codes.tolist() == [-128, -1, 1, 127]
    every = quantize_q17(np.arange(256)) * 128
    assert np.array_equal(every, np.round(every)) and np.all(np.diff(every) >= 0)


def test_preprocess_layouts() -> None:
    rng = np.random.default_rng(0)
    chw = rng.integers(0, 256, size=(3, 32, 32), dtype=np.uint8)
    for preprocess in (preprocess_cnv_plain, preprocess_cnv_qonnx):
        x = preprocess(chw)
        assert x.shape == (1, 3, 32, 32) and x.dtype == np.float32
        assert np.array_equal(preprocess(chw[np.newaxis]), x)
        assert np.array_equal(preprocess(chw.transpose(1, 2, 0)), x)  # HWC, as cifar10_subset gives
    assert np.array_equal(preprocess_cnv_qonnx(chw)[0], chw / np.float32(255))
    digit = rng.integers(0, 256, size=(28, 28), dtype=np.uint8)
    x = preprocess_lfc(digit)
    assert x.shape == (1, 1, 28, 28) and x.dtype == np.float32 and x.max() <= 1.0


def test_preprocess_rejects_bad_images() -> None:
    with pytest.raises(ChewcError, match="uint8"):
        preprocess_cnv_plain(np.zeros((3, 32, 32), dtype=np.float32))
    with pytest.raises(ChewcError, match="CIFAR-10"):
        preprocess_cnv_plain(np.zeros((3, 28, 28), dtype=np.uint8))
    with pytest.raises(ChewcError, match="MNIST"):
        preprocess_lfc(np.zeros((32, 32), dtype=np.uint8))


@pytest.mark.parametrize("name", sorted(REAL_MODELS))
def test_preprocess_matches_model_input(name: str, real_model: Callable[[str], RealModel]) -> None:
    entry = real_model(name)
    x, _ = next(entry.samples(1))
    want = _input_shape(entry.path())
    assert all(w is None or w == got for got, w in zip(x.shape, want, strict=True))


# -- real models ---------------------------------------------------------------------------------


def test_cnv_plain_scores_on_cat(real_model: Callable[[str], RealModel]) -> None:
    entry = real_model("cnv")
    (scores,) = _session(entry.path()).run(None, {"x": entry.preprocess(cifar10_image0())})
    assert scores[0].tolist() == CAT_SCORES


def test_cnv_qonnx_scores_on_cat(real_model: Callable[[str], RealModel]) -> None:
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx

    entry = real_model("cnv_qonnx")
    model = ModelWrapper(str(entry.path()))
    feed = {model.graph.input[0].name: entry.preprocess(cifar10_image0())}
    scores = execute_onnx(model, feed)[model.graph.output[0].name]
    assert scores[0].tolist() == CAT_SCORES


def test_lfc_accuracy_on_first_1000(real_model: Callable[[str], RealModel]) -> None:
    entry = real_model("lfc")
    session = _session(entry.path())
    name = session.get_inputs()[0].name
    correct = sum(int(np.argmax(session.run(None, {name: x})[0])) == label for x, label in entry.samples(1000))
    assert correct / 1000 > 0.95
