"""Binary layers with float scales, as Brevitas's stock binary quantisers export them (weights ±s per
tensor or per output channel, activations ±a): exact integer sums times the scale, then the model's
epilogue; the check tells onnxruntime's own float32 rounding from a real mismatch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import helper

from compiler.driver import compile_model
from runtime.check import run_program
from runtime.reference import OnnxReference, check_program
from runtime.exact import exact_model
from tests.helpers import EXAMPLES, pm1, save_model

QONNX = "qonnx.custom_op.general"


def bq(x: str, scale: str, out: str) -> onnx.NodeProto:
    return helper.make_node("BipolarQuant", [x, scale], [out], domain=QONNX)


def brevitas_cnn(path: Path, seed: int = 0) -> Path:
    """BipolarQuant weights ±0.1 (per tensor) and per-channel scales, activations ±1 then ±0.3, BN, and a
    Gemm head with alpha and a bias: a float model whose sums onnxruntime rounds."""
    rng = np.random.default_rng(seed)
    nodes = [
        bq("x", "one", "xb"), bq("w1f", "s1", "w1"),
        helper.make_node("Conv", ["xb", "w1", "b1"], ["a1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["a1", "g", "b", "m", "v"], ["n1"]),
        bq("n1", "act", "h1"), bq("w2f", "s2", "w2"),
        helper.make_node("Conv", ["h1", "w2"], ["a2"], kernel_shape=[3, 3], strides=[2, 2]),
        bq("a2", "one", "h2"),
        helper.make_node("Flatten", ["h2"], ["f"]),
        bq("w3f", "s3", "w3"),
        helper.make_node("Gemm", ["f", "w3", "c3"], ["y"], transB=1, alpha=0.7),
    ]
    inits = {"one": np.ones(1), "w1f": rng.normal(size=(32, 16, 3, 3)), "s1": np.array(0.1), "b1": rng.normal(0, 1, 32),
             "g": rng.normal(1, 0.5, 32), "b": rng.normal(0, 0.3, 32), "m": rng.normal(0, 2, 32),
             "v": rng.uniform(0.5, 2, 32), "act": np.array(0.3), "w2f": rng.normal(size=(16, 32, 3, 3)),
             "s2": rng.uniform(0.01, 0.2, (16, 1, 1, 1)), "w3f": rng.normal(size=(10, 144)), "s3": np.array(0.05),
             "c3": rng.normal(0, 1, 10)}
    return save_model(path, nodes, [("x", [1, 16, 8, 8])], [("y", [1, 10])], inits, extra_opsets=[(QONNX, 1)])


def inputs(n: int, shape: tuple[int, ...] = (1, 16, 8, 8), seed: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(0, 1, shape).astype(np.float32) for _ in range(n)]


def test_scaled_layers_compile_and_equal_the_exact_reading(tmp_path: Path) -> None:
    path = brevitas_cnn(tmp_path / "b.onnx")
    exact, layers = exact_model(onnx.load(path))
    assert [float(layer.scale.reshape(-1)[0]) for layer in layers[:1]] == [np.float32(0.1)]
    assert len(layers) == 3 and layers[1].scale.size == 16  # per output channel: 0.3 * s2[o]
    compiled = compile_model(path, strict=True)
    assert compiled.placement is not None and compiled.placement.layers == 3
    xs = inputs(10)
    assert check_program(compiled.program, path, xs) == (10, None)
    # the float model differs from the exact reading: noted, not failed. Where a second-layer sum is exactly
    # 0 (a tie: BipolarQuant gives +1), onnxruntime's rounded sum is a hair either side and flips h2;
    # elsewhere only the last bits of the float scores differ.
    reference = OnnxReference(path)
    results, mismatch = run_program(compiled.program, [{"x": x} for x in xs], reference=reference)
    assert mismatch is None and len(results) == 10
    assert len(reference.rounding) == 10 and {r.where for r in reference.rounding} <= {"h2", "y"}
    ties = [r for r in reference.rounding if r.where == "h2"]
    assert ties and all(r.exact == 0.0 and 0 < -r.rounded < 1e-6 for r in ties)
    assert all(abs(r.exact - r.rounded) < 1e-5 * max(1.0, abs(r.exact)) for r in reference.rounding)


def test_a_threshold_one_ulp_off_an_attainable_sum_flips_only_in_the_float_reference(tmp_path: Path) -> None:
    """Sign(0.1 * acc - t) with t one float32 step below fl32(0.2): exactly, acc = 2 gives +1; onnxruntime's
    rounded sum of 144 terms ±0.1 lands on either side. The program follows the exact reading; the check
    names the binarised tensor where the float model flips, with the margin."""
    rng = np.random.default_rng(3)
    t = np.nextafter(np.float32(2) * np.float32(0.1), np.float32(-np.inf))
    nodes = [
        helper.make_node("Sign", ["x"], ["xb"]),
        helper.make_node("Conv", ["xb", "w"], ["a"], kernel_shape=[3, 3]),
        helper.make_node("Sub", ["a", "t"], ["d"]),
        helper.make_node("Sign", ["d"], ["h"], name="binarise"),
        helper.make_node("Conv", ["h", "w2"], ["y"], kernel_shape=[1, 1]),
    ]
    inits = {"w": pm1(rng, (8, 16, 3, 3)) * np.float32(0.1), "t": np.full((1, 8, 1, 1), t), "w2": pm1(rng, (4, 8, 1, 1))}
    path = save_model(tmp_path / "tie.onnx", nodes, [("x", [1, 16, 8, 8])], [("y", [1, 4, 6, 6])], inits)
    compiled = compile_model(path)
    reference = OnnxReference(path)
    xs = inputs(20, seed=4)
    results, mismatch = run_program(compiled.program, [{"x": x} for x in xs], reference=reference)
    assert mismatch is None and len(results) == 20
    flips = [r for r in reference.rounding if r.where == "h"]
    assert flips, "no input put a sum of 2 on the other side of the threshold in onnxruntime"
    assert all(r.exact == np.float32(0.2) - t and r.rounded <= 0 for r in flips)


def test_a_real_mismatch_is_still_a_failure(tmp_path: Path) -> None:
    """A program checked against another model's exact reading fails: rounding explains nothing there."""
    compiled = compile_model(brevitas_cnn(tmp_path / "a.onnx", seed=0))
    other = brevitas_cnn(tmp_path / "b.onnx", seed=5)
    matched, mismatch = check_program(compiled.program, other, inputs(2))
    assert matched == 0 and mismatch is not None and "differs" in mismatch.detail


def test_unit_and_power_of_two_scales_are_left_alone() -> None:
    model = onnx.load(EXAMPLES / "vgg_cifar.onnx")
    assert exact_model(model) == (model, [])


def test_scaled_weights_after_a_max_pool_of_pm1_activations(tmp_path: Path) -> None:
    """Brevitas VGG order: conv, BN, BipolarQuant, MaxPool, then the next conv with weights ±0.1."""
    rng = np.random.default_rng(6)
    nodes = [
        bq("x", "one", "xb"),
        helper.make_node("Conv", ["xb", "w1"], ["a1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["a1", "g", "b", "m", "v"], ["n1"]),
        bq("n1", "one", "h1"),
        helper.make_node("MaxPool", ["h1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "w2"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
    ]
    inits = {"one": np.ones(1), "w1": pm1(rng, (16, 16, 3, 3)) * np.float32(0.1), "g": rng.normal(1, 0.5, 16),
             "b": rng.normal(0, 0.3, 16), "m": rng.normal(0, 2, 16), "v": rng.uniform(0.5, 2, 16),
             "w2": pm1(rng, (8, 16, 3, 3)) * np.float32(0.1)}
    path = save_model(tmp_path / "p.onnx", nodes, [("x", [1, 16, 8, 8])], [("y", [1, 8, 4, 4])], inits,
                      extra_opsets=[(QONNX, 1)])
    assert len(exact_model(onnx.load(path))[1]) == 2
    compiled = compile_model(path)
    assert compiled.placement is not None and compiled.placement.layers == 3
    assert check_program(compiled.program, path, inputs(5, seed=7)) == (5, None)


def test_linear_weights_behind_a_transpose(tmp_path: Path) -> None:
    """Brevitas's TorchScript export of a linear layer: MatMul(x, Transpose(BipolarQuant(W, 0.1)))."""
    rng = np.random.default_rng(8)
    nodes = [
        bq("x", "one", "xb"), helper.make_node("Flatten", ["xb"], ["f"]),
        bq("wf", "s", "wq"), helper.make_node("Transpose", ["wq"], ["wt"], perm=[1, 0]),
        helper.make_node("MatMul", ["f", "wt"], ["y"]),
    ]
    inits = {"one": np.ones(1), "wf": rng.normal(size=(10, 256)), "s": np.array(0.1)}
    path = save_model(tmp_path / "t.onnx", nodes, [("x", [1, 16, 4, 4])], [("y", [1, 10])], inits,
                      extra_opsets=[(QONNX, 1)])
    assert len(exact_model(onnx.load(path))[1]) == 1
    compiled = compile_model(path, strict=True)
    assert compiled.placement is not None and compiled.placement.layers == 1
    assert check_program(compiled.program, path, inputs(5, (1, 16, 4, 4), seed=9)) == (5, None)


def bn_inits(rng: np.random.Generator, prefix: str, n: int, spread: float) -> dict[str, np.ndarray]:
    """BatchNormalization parameters around sums of standard deviation `spread`, some gammas negative."""
    gamma = rng.normal(1, 0.5, n) * np.where(rng.random(n) < 0.3, -1, 1)
    return {f"{prefix}g": gamma, f"{prefix}b": rng.normal(0, 0.2 * spread, n), f"{prefix}m": rng.normal(0, 0.5 * spread, n),
            f"{prefix}v": spread**2 * rng.uniform(0.25, 1.25, n)}


def bn(x: str, prefix: str, out: str) -> onnx.NodeProto:
    return helper.make_node("BatchNormalization", [x, *(f"{prefix}{k}" for k in "gbmv")], [out])


def test_a_max_pool_of_scaled_sums_runs_on_the_array(tmp_path: Path) -> None:
    """Conv (weights ±0.1), MaxPool, BN with negative gammas, BipolarQuant (BinaryNet's order): the pool
    takes the integer sums, the scale comes after it."""
    rng = np.random.default_rng(10)
    nodes = [
        bq("x", "one", "xb"), bq("w1f", "s", "w1"),
        helper.make_node("Conv", ["xb", "w1"], ["a1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("MaxPool", ["a1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        bn("p1", "n", "n1"), bq("n1", "one", "h1"), bq("w2f", "s", "w2"),
        helper.make_node("Conv", ["h1", "w2"], ["y"], kernel_shape=[3, 3]),
    ]
    inits = {"one": np.ones(1), "s": np.array(0.1), "w1f": rng.normal(size=(16, 16, 3, 3)),
             "w2f": rng.normal(size=(8, 16, 3, 3)), **bn_inits(rng, "n", 16, 1.2)}
    path = save_model(tmp_path / "p.onnx", nodes, [("x", [1, 16, 8, 8])], [("y", [1, 8, 2, 2])], inits,
                      extra_opsets=[(QONNX, 1)])
    exact, _ = exact_model(onnx.load(path))
    pool = next(n for n in exact.graph.node if n.op_type == "MaxPool")
    assert pool.input[0] == "a1__exact_acc" and pool.output[0] == "p1__exact_acc"
    compiled = compile_model(path, strict=True)
    assert compiled.placement is not None and compiled.placement.layers == 3
    assert check_program(compiled.program, path, inputs(10, seed=11)) == (10, None)


def residual(path: Path, shortcut_scale: float) -> Path:
    """s = Conv(x); s + Conv(Sign(BN(s))), binarised by BN and BipolarQuant, then a last conv; the shortcut's
    weights are ±0.1, the branch's ±`shortcut_scale`."""
    rng = np.random.default_rng(12)
    nodes = [
        bq("x", "one", "xb"), bq("w1f", "s", "w1"), bq("w2f", "s2", "w2"), bq("w3f", "s", "w3"),
        helper.make_node("Conv", ["xb", "w1"], ["s0"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        bn("s0", "n", "n1"), bq("n1", "one", "h1"),
        helper.make_node("Conv", ["h1", "w2"], ["t"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["s0", "t"], ["r"]),
        bn("r", "k", "n2"), bq("n2", "one", "h2"),
        helper.make_node("Conv", ["h2", "w3"], ["y"], kernel_shape=[3, 3]),
    ]
    inits = {"one": np.ones(1), "s": np.array(0.1), "s2": np.array(shortcut_scale),
             "w1f": rng.normal(size=(16, 16, 3, 3)), "w2f": rng.normal(size=(16, 16, 3, 3)),
             "w3f": rng.normal(size=(8, 16, 3, 3)), **bn_inits(rng, "n", 16, 1.2), **bn_inits(rng, "k", 16, 1.7)}
    return save_model(path, nodes, [("x", [1, 16, 8, 8])], [("y", [1, 8, 6, 6])], inits, extra_opsets=[(QONNX, 1)])


def test_a_residual_add_of_equal_scales_runs_on_the_array(tmp_path: Path) -> None:
    """Add(0.1 * i, 0.1 * j) reads as 0.1 * (i + j): the integer add runs on the array."""
    path = residual(tmp_path / "r.onnx", 0.1)
    compiled = compile_model(path, strict=True)
    assert compiled.placement is not None and compiled.placement.layers == 4
    assert check_program(compiled.program, path, inputs(10, seed=13)) == (10, None)


def test_a_residual_add_of_unequal_scales_stays_on_the_host(tmp_path: Path) -> None:
    """0.1 * i + 0.3 * j is no integer times one scale: the add and its binarisation run on the host, and
    still match."""
    path = residual(tmp_path / "r.onnx", 0.3)
    compiled = compile_model(path)
    assert compiled.placement is not None and compiled.placement.layers == 3
    middle = [h.reason for h in compiled.placement.host if h.where == "middle"]
    assert middle and "Add node producing 'r'" in middle[0]
    assert check_program(compiled.program, path, inputs(5, seed=13)) == (5, None)


def test_scaled_activations_through_a_max_pool_feeding_two_layers(tmp_path: Path) -> None:
    """Activations ±0.3 (BipolarQuant of scale 0.3), max-pooled (CNV order), read by two convs with
    weights ±0.1: the exact reading binarises with scale 1 and pools once for both; before, chewc refused
    ("activation scale [0.3] is not 1")."""
    rng = np.random.default_rng(14)
    nodes = [
        bq("x", "one", "xb"), bq("w1f", "s", "w1"), bq("w2f", "s", "w2"), bq("w3f", "s", "w3"),
        helper.make_node("Conv", ["xb", "w1"], ["a1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        bn("a1", "n", "n1"), bq("n1", "act", "h1"),
        helper.make_node("MaxPool", ["h1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "w2"], ["y2"], kernel_shape=[3, 3]),
        helper.make_node("Conv", ["p1", "w3"], ["y3"], kernel_shape=[1, 1]),
    ]
    inits = {"one": np.ones(1), "s": np.array(0.1), "act": np.array(0.3), "w1f": rng.normal(size=(16, 16, 3, 3)),
             "w2f": rng.normal(size=(8, 16, 3, 3)), "w3f": rng.normal(size=(4, 16, 1, 1)), **bn_inits(rng, "n", 16, 1.2)}
    path = save_model(tmp_path / "a.onnx", nodes, [("x", [1, 16, 8, 8])], [("y2", [1, 8, 2, 2]), ("y3", [1, 4, 4, 4])],
                      inits, extra_opsets=[(QONNX, 1)])
    exact, layers = exact_model(onnx.load(path))
    a_s = np.float32(np.float64(np.float32(0.3)) * np.float64(np.float32(0.1)))  # fl32(a * s)
    assert [float(layer.scale.reshape(-1)[0]) for layer in layers] == [np.float32(0.1), a_s, a_s]
    assert sum(n.op_type == "MaxPool" for n in exact.graph.node) == 2  # the ±0.3 pool (now dead) and its ±1 copy
    compiled = compile_model(path, strict=True)
    assert compiled.placement is not None and compiled.placement.layers == 4
    assert check_program(compiled.program, path, inputs(10, seed=15)) == (10, None)
