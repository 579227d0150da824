"""Folding batch norm (and friends) into integer thresholds is exact on every reachable accumulator value."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper

from compiler.importer import import_model
from dialects import bnn
from dialects.bnn_interp import run_module
from runtime.onnx_ref import OnnxExecutor
from tests.helpers import pm1, save_model


def bn_params(rng: np.random.Generator, c: int, k: int) -> dict[str, np.ndarray]:
    gamma = rng.normal(0, 1, c)
    gamma[0], gamma[1] = 0.0, -abs(gamma[1])  # a constant channel and a <= channel, always
    var = rng.uniform(0.01, 40, c)
    var[2] = 1e-9  # tiny variance: the epsilon dominates
    return {
        "gamma": gamma, "beta": rng.normal(0, 1, c), "mean": rng.normal(0, np.sqrt(k), c), "var": var,
    }


def realising_inputs(w_row: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """For one weight row, inputs whose ±1 dot product takes every reachable value -k, -k+2, ..., k."""
    values = np.arange(-k, k + 1, 2)
    xs = np.stack([np.where(np.arange(k) < (k + v) // 2, w_row, -w_row) for v in values])
    return values, xs.astype(np.float32)


@pytest.mark.parametrize("seed,k,binariser", [(0, 64, "Sign"), (1, 63, "Sign"), (2, 40, "BipolarQuant"), (3, 128, "Sign")])
def test_dense_bn_sign_exact_on_full_range(tmp_path, seed: int, k: int, binariser: str):
    rng = np.random.default_rng(seed)
    c = 16
    w = pm1(rng, (k, c))
    p = bn_params(rng, c, k)
    eps = float(rng.choice([1e-5, 1e-3]))
    extra = [("qonnx.custom_op.general", 2)] if binariser == "BipolarQuant" else []
    bin_node = (
        helper.make_node("BipolarQuant", ["bn", "one"], ["y"], domain="qonnx.custom_op.general")
        if binariser == "BipolarQuant" else helper.make_node("Sign", ["bn"], ["y"])
    )
    inits = {"w": w, **p}
    if binariser == "BipolarQuant":
        inits["one"] = np.ones(1)
    nodes = [
        helper.make_node("Sign", ["x"], ["xb"]),
        helper.make_node("MatMul", ["xb", "w"], ["acc"]),
        helper.make_node("BatchNormalization", ["acc", "gamma", "beta", "mean", "var"], ["bn"], epsilon=eps),
        bin_node,
    ]
    path = save_model(tmp_path / "m.onnx", nodes, [("x", [1, k])], [("y", [1, c])], inits, extra_opsets=extra)
    module = import_model(path)
    th = next(op for op in module.walk() if isinstance(op, bnn.ThresholdOp))
    assert th.modes.data[0] in "+-" and th.modes.data[1] in "l+-"

    # the float32 source subgraph, evaluated by the reference executor on inputs realising each value
    reference = OnnxExecutor(onnx.load(path))
    for ch in range(c):
        values, xs = realising_inputs(w[:, ch], k)
        for v, x in zip(values, xs, strict=True):
            got = run_module(module, [x[None]])[0]
            want = reference.run({"x": x[None]})["y"]
            assert got[0, ch] == want[0, ch], f"channel {ch}, accumulator {v}"


def test_conv_bias_and_scale_fold(tmp_path):
    """Conv bias, a per-channel Mul and a scalar Sub between the accumulator and Sign."""
    rng = np.random.default_rng(7)
    w = pm1(rng, (8, 4, 3, 3))
    nodes = [
        helper.make_node("Sign", ["x"], ["xb"]),
        helper.make_node("Conv", ["xb", "w", "b"], ["acc"], pads=[1, 1, 1, 1]),
        helper.make_node("Mul", ["acc", "s"], ["m"]),
        helper.make_node("Sub", ["m", "o"], ["z"]),
        helper.make_node("Sign", ["z"], ["y"]),
    ]
    inits = {"w": w, "b": rng.normal(0, 3, 8).astype(np.float32) + 0.25,
             "s": np.where(np.arange(8) % 2, 0.5, -1.5).reshape(1, 8, 1, 1), "o": np.float32(0.125)}
    path = save_model(tmp_path / "c.onnx", nodes, [("x", [1, 4, 6, 6])], [("y", [1, 8, 6, 6])], inits)
    module = import_model(path)
    th = next(op for op in module.walk() if isinstance(op, bnn.ThresholdOp))
    assert set(th.modes.data) <= {"g", "l", "+", "-"} and "l" in th.modes.data
    reference = OnnxExecutor(onnx.load(path))
    for _ in range(25):
        x = rng.uniform(-1, 1, (1, 4, 6, 6)).astype(np.float32)
        assert np.array_equal(run_module(module, [x])[0], reference.run({"x": x})["y"])


def test_sign_zero_reachable_is_rejected(tmp_path):
    """Sign(acc + 0) is 0 at acc = 0: no ±1 tensor can hold that, so import must refuse."""
    rng = np.random.default_rng(3)
    nodes = [helper.make_node("Sign", ["x"], ["xb"]), helper.make_node("MatMul", ["xb", "w"], ["acc"]),
             helper.make_node("Sign", ["acc"], ["y"])]
    path = save_model(tmp_path / "z.onnx", nodes, [("x", [1, 8])], [("y", [1, 4])], {"w": pm1(rng, (8, 4))})
    with pytest.raises(Exception, match=r"Sign node producing 'y': channel 0 gives 0 for accumulator value 0"):
        import_model(path)
