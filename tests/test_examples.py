"""The committed example models: reproducible, valid, binary, not degenerate."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from types import ModuleType

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from runtime.datasets import quantize_q17
from tests.helpers import EXAMPLES as MODELS_DIR, example_script

MADE = ["mlp", "vgg_cifar", "cnn_5x5_7x7", "cnn_9x9_11x11"]  # by make_models.py
RESNETS = ["resnet18_32", "groupnet4_32"]  # by resnets.py
NAMES = MADE + RESNETS
PAPER_CIFAR10_MACS = 145e6


@pytest.fixture(scope="module")
def make_models() -> ModuleType:
    return example_script("make_models")


@pytest.fixture(scope="module")
def resnets() -> ModuleType:
    return example_script("resnets")


@pytest.fixture(scope="module")
def regenerated(make_models: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("models")
    assert make_models.main(["--out", str(out)]) == 0
    return out


def _load(name: str) -> onnx.ModelProto:
    return onnx.load(str(MODELS_DIR / f"{name}.onnx"))


def _count_macs(model: onnx.ModelProto) -> int:
    """MACs of every Conv/MatMul/Gemm, from ONNX shape inference (independent of the builder)."""
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    shapes = {
        v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in [*inferred.graph.value_info, *inferred.graph.output]
    }
    weights = {i.name: list(i.dims) for i in model.graph.initializer}
    macs = 0
    for node in model.graph.node:
        if node.op_type == "Conv":
            macs += int(np.prod(shapes[node.output[0]])) * int(np.prod(weights[node.input[1]][1:]))
        elif node.op_type in ("MatMul", "Gemm"):  # batch 1: one MAC per weight
            macs += int(np.prod(weights[node.input[1]]))
    return macs


def test_every_model_is_committed(make_models: ModuleType, resnets: ModuleType) -> None:
    assert list(make_models.MODELS) == MADE
    assert list(resnets.COMMITTED) == RESNETS
    assert sorted(p.stem for p in MODELS_DIR.glob("*.onnx")) == sorted(NAMES)


@pytest.mark.parametrize("name", MADE)
def test_regenerated_is_byte_identical(name: str, regenerated: Path) -> None:
    assert (regenerated / f"{name}.onnx").read_bytes() == (MODELS_DIR / f"{name}.onnx").read_bytes()


@pytest.mark.parametrize("name", RESNETS)
def test_regenerated_resnet_is_byte_identical(name: str, resnets: ModuleType) -> None:
    model = resnets.build(**asdict(resnets.COMMITTED[name]))
    assert model.SerializeToString() == (MODELS_DIR / f"{name}.onnx").read_bytes()


@pytest.mark.parametrize("name", NAMES)
def test_model_is_valid_and_binary(name: str) -> None:
    model = _load(name)
    onnx.checker.check_model(model, full_check=True)
    assert [(o.domain, o.version) for o in model.opset_import] == [("", 13)]
    assert [i.name for i in model.graph.input] == ["x"] and [o.name for o in model.graph.output] == ["scores"]
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 1
    weights = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type in ("Conv", "MatMul", "Gemm"):
            assert set(np.unique(weights[node.input[1]]).tolist()) == {-1.0, 1.0}, node.name


@pytest.mark.parametrize("name", NAMES)
def test_runs_in_onnxruntime_with_integer_scores(name: str, make_models: ModuleType) -> None:
    model = _load(name)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    last = model.graph.node[-1]
    scale = 1.0
    if last.op_type == "Mul":  # optional float scale after the integer dot products
        consts = {i.name: i for i in model.graph.initializer}
        scale = float(onnx.numpy_helper.to_array(consts[last.input[1]]))
    kind, shape = make_models.input_spec(model)
    for x in make_models.random_inputs(kind, shape, 3, np.random.default_rng(0)):
        (scores,) = session.run(None, {"x": x[np.newaxis]})
        assert scores.shape == (1, 10)
        assert np.array_equal(scores / scale, np.round(scores / scale))


@pytest.mark.parametrize("name", NAMES)
def test_binary_layers_not_degenerate(name: str, make_models: ModuleType) -> None:
    model = _load(name)
    kind, shape = make_models.input_spec(model)
    inputs = make_models.random_inputs(kind, shape, 32, np.random.default_rng(7))
    stats, scores = make_models.activation_stats(model, inputs)
    assert make_models.degeneracy_problems(stats, scores) == []


@pytest.mark.parametrize("name", NAMES)
def test_no_pixel_value_makes_sign_see_zero(name: str, make_models: ModuleType) -> None:
    model = _load(name)
    kind, shape = make_models.input_spec(model)
    pixels = (np.arange(int(np.prod(shape))) % 256).astype(np.uint8).reshape(1, *shape)
    x = quantize_q17(pixels) if kind == "q17" else pixels / np.float32(255)
    stats, _ = make_models.activation_stats(model, x)
    assert [s.zeros for s in stats] == [0] * len(stats)


def test_cnn_5x5_7x7_has_paper_size() -> None:
    macs = _count_macs(_load("cnn_5x5_7x7"))
    assert abs(macs - PAPER_CIFAR10_MACS) <= 0.05 * PAPER_CIFAR10_MACS, macs
