"""`chewc --emit=bnn` on every example and real model: IR that round-trips and equals the ONNX reference."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import onnx
import pytest

from compiler.cli import main as chewc
from dialects import bnn
from runtime.bnn_interp import input_shape, run_module
from runtime.datasets import cifar10_image0, preprocess_cnv_plain
from runtime.mlir_run import compare, output_names, parse_module
from runtime.onnx_ref import OnnxExecutor, first_input_name
from tests.helpers import EXAMPLES, run_cli

EXAMPLE_MODELS = sorted(p.name for p in EXAMPLES.glob("*.onnx"))
N_INPUTS = 20


def emit_bnn(path, tmp_path) -> tuple[str, object]:
    out = tmp_path / "m.mlir"
    code, _, err = run_cli(chewc, str(path), "--emit=bnn", "-o", str(out))
    assert code == 0, err
    text = out.read_text()
    module = parse_module(text, str(out))
    assert str(module) + "\n" == text  # print -> parse -> print is identical
    return text, module


def assert_matches(module, model_path, inputs: Iterator[np.ndarray]) -> int:
    model = onnx.load(model_path)
    ref = OnnxExecutor(model)
    name = first_input_name(model)
    n = 0
    for x in inputs:
        got = run_module(module, [x])
        want = ref.run({name: x})
        mismatch = compare(output_names(module), got, want)
        assert mismatch is None, mismatch.describe()
        n += 1
    return n


def test_examples_exist():
    assert EXAMPLE_MODELS == ["cnn_5x5_7x7.onnx", "cnn_9x9_11x11.onnx", "groupnet4_32.onnx", "mlp.onnx", "resnet18_32.onnx",
                              "vgg_cifar.onnx"]


@pytest.mark.parametrize("name", EXAMPLE_MODELS)
@pytest.mark.slow
def test_example_imports_and_matches(name, tmp_path):
    text, module = emit_bnn(EXAMPLES / name, tmp_path)
    kinds = {op.name for op in module.walk()}
    assert {"bnn.threshold", "bnn.sign"} <= kinds and kinds & {"bnn.conv2d", "bnn.dense"}
    rng = np.random.default_rng(42)
    shape = input_shape(module)
    # inputs like real images: pixel/255 in [0, 1]
    inputs = (rng.integers(0, 256, shape).astype(np.float32) / np.float32(255) for _ in range(N_INPUTS))
    assert assert_matches(module, EXAMPLES / name, inputs) == N_INPUTS


@pytest.mark.parametrize("name", ["cnv", "cnv_qonnx", "lfc"])
@pytest.mark.slow
def test_real_model_imports_and_matches(name, real_model, tmp_path):
    entry = real_model(name)
    _, module = emit_bnn(entry.path(), tmp_path)
    n = assert_matches(module, entry.path(), (x for x, _ in entry.samples(N_INPUTS)))
    assert n == N_INPUTS


def test_cnv_scores_on_cifar10_image0(real_model, tmp_path):
    entry = real_model("cnv")
    _, module = emit_bnn(entry.path(), tmp_path)
    scores = run_module(module, [preprocess_cnv_plain(cifar10_image0()[0])])[0]
    assert scores.tolist() == [[-68, -14, -2, 316, -28, 18, -28, -12, -44, -46]]


def test_cnv_structure(real_model, tmp_path):
    """The 8-bit first layer of the plain model (no declared input grid) stays on the host, with its reason;
    everything after it is binary."""
    _, module = emit_bnn(real_model("cnv").path(), tmp_path)
    ops = [op for op in module.walk() if isinstance(op, bnn.HostOp | bnn.Conv2dOp | bnn.DenseOp)]
    assert isinstance(ops[0], bnn.HostOp)
    assert "Conv node producing 'conv0': multi-bit input activations (not by bit planes: the model input is float" \
        in ops[0].reason.data
    assert [type(o).__name__ for o in ops[1:]] == ["Conv2dOp"] * 5 + ["DenseOp"] * 3
