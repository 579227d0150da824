"""Float arithmetic exactly as onnxruntime does it: what cannot be proven exact from the integer sums is
rerun on the host as written, and weights whose float reference is not exact are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx import helper

from compiler import cli
from compiler.driver import compile_model
from runtime.reference import check_program
from tests.helpers import pm1, run_cli, save_model


def gemm_net(tmp_path: Path, k: int, hidden: int, c1_scale: float, seed: int = 3) -> Path:
    """Sign -> Gemm(alpha 0.5, bias) -> BN -> Sign -> Gemm(alpha 0.3, beta 0.7, bias): a float Gemm head."""
    rng = np.random.default_rng(seed)
    nodes = [helper.make_node("Sign", ["x"], ["b"]),
             helper.make_node("Gemm", ["b", "w1", "c1"], ["g1"], transB=1, alpha=0.5, name="gemm1"),
             helper.make_node("BatchNormalization", ["g1", "gam", "bet", "mu", "var"], ["n1"], name="bn1"),
             helper.make_node("Sign", ["n1"], ["s1"]),
             helper.make_node("Gemm", ["s1", "w2", "c2"], ["y"], transB=1, alpha=0.3, beta=0.7, name="head")]
    inits = {"w1": pm1(rng, (hidden, k)), "c1": rng.normal(size=hidden) * c1_scale, "gam": rng.uniform(0.5, 2, hidden),
             "bet": rng.normal(size=hidden), "mu": rng.integers(-20, 20, hidden) + 0.37, "var": rng.uniform(0.5, 3, hidden),
             "w2": pm1(rng, (10, hidden)), "c2": rng.normal(size=10)}
    return save_model(tmp_path / "gemm.onnx", nodes, [("x", [1, k])], [("y", [1, 10])], inits)


def ops(path: Path) -> list[str]:
    return [op.name for op in compile_model(path, "bnn").module.walk() if op.name.startswith("bnn.")]


def test_a_fused_gemm_head_is_rerun_on_the_host(tmp_path: Path) -> None:
    """A float Gemm head with alpha/beta/bias over 700 inputs differed from onnxruntime in the last ulp
    (7 of 10 scores) when the host applied alpha and the bias to the integer sums."""
    path = gemm_net(tmp_path, 24, 700, 0.0)
    kinds = ops(path)
    assert kinds.count("bnn.dense") == 1 and kinds.count("bnn.threshold") == 1  # the hidden layer is binary
    inputs = [np.random.default_rng(i).uniform(-1, 1, (1, 24)).astype(np.float32) for i in range(10)]
    assert check_program(compile_model(path).program, path, inputs) == (10, None)


def test_a_fused_gemm_is_thresholded_only_when_rounding_cannot_matter(tmp_path: Path) -> None:
    """Thresholds of a Gemm with a bias hold for any order of onnxruntime's summation, or the host
    runs it: with 600 inputs the rounding bound reaches a threshold of some of the 700 channels."""
    path = gemm_net(tmp_path, 600, 700, 2.0)
    kinds = ops(path)
    assert "bnn.dense" not in kinds and kinds.count("bnn.host") == 2
    module = compile_model(path, "bnn").module
    assert any("onnxruntime rounds this Gemm as it sums" in op.reason.data for op in module.walk() if op.name == "bnn.host")
    inputs = [np.random.default_rng(i).uniform(-1, 1, (1, 600)).astype(np.float32) for i in range(5)]
    assert check_program(compile_model(path).program, path, inputs) == (5, None)


@pytest.mark.parametrize(("scale", "why"), [(2.0**127, "leave float32's exact range"), (2.0**-130, "leave float32's exact range")])
def test_weights_whose_reference_is_not_exact_are_refused(tmp_path: Path, scale: float, why: str) -> None:
    """Weights of ±2^127 compiled and gave -8 where onnxruntime (overflowing to inf) gives -4."""
    rng = np.random.default_rng(0)
    nodes = [helper.make_node("Sign", ["x"], ["b"]), helper.make_node("MatMul", ["b", "w"], ["y"], name="mm")]
    path = save_model(tmp_path / "w.onnx", nodes, [("x", [1, 8])], [("y", [1, 4])], {"w": pm1(rng, (8, 4)) * scale})
    code, _, err = run_cli(cli.main, str(path), "--emit=bnn")
    assert code == 2 and f"node mm (MatMul): weights are ±{scale:g}: sums of 8 of them {why}" in err
