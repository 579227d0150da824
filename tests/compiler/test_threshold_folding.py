"""Folding batch norm (and friends) into integer thresholds is exact on every reachable accumulator value."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from compiler import threshold_folding
from compiler.importer import import_model
from compiler.onnx_loader import load_graph
from compiler.threshold_folding import Reach, Uncertain, _batched, fold_thresholds
from dialects import bnn
from isa.errors import ChewcError
from runtime.bnn_interp import run_module
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
@pytest.mark.slow
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


# -- the evaluation itself: one onnxruntime run over every reachable value ----------------------------

C = 8


def chain_model(tmp_path: Path, name: str, seed: int) -> tuple[Path, tuple[int, ...]]:
    """A chain from the accumulator 'acc' to Sign 'y' with float32 constants whose thresholds lie in ±5000."""
    rng = np.random.default_rng(seed)
    gamma = rng.normal(0, 1, C)
    gamma[0] = 0.0  # a constant channel
    inits: dict[str, np.ndarray] = {
        "gamma": gamma, "beta": rng.normal(0, 1, C), "mean": rng.uniform(-1500, 1500, C),
        "var": rng.uniform(0.5, 100, C), "bias": rng.normal(0, 50, C), "scale": rng.normal(0, 2, C),
        "div": np.float32(3.0), "half": np.float32(rng.uniform(0.3, 0.7)),
    }
    bn = helper.make_node("BatchNormalization", ["x0", "gamma", "beta", "mean", "var"], ["x1"], epsilon=1e-3)
    if name == "map":  # [1, C, 2, 2]: conv bias, batch norm, per-channel scale, scalar Div, Flatten
        shape: tuple[int, ...] = (1, C, 2, 2)
        out = [1, 4 * C]
        inits["bias"], inits["scale"] = inits["bias"].reshape(C, 1, 1), inits["scale"].reshape(1, C, 1, 1)
        nodes = [helper.make_node("Add", ["acc", "bias"], ["x0"]), bn, helper.make_node("Mul", ["x1", "scale"], ["x2"]),
                 helper.make_node("Div", ["x2", "div"], ["x3"]), helper.make_node("Flatten", ["x3"], ["x4"], axis=1)]
    elif name == "reshape":  # [1, C, 1, 1] -> Reshape [1, -1] -> [1, C], then c - x
        shape, out = (1, C, 1, 1), [1, C]
        inits["flat"], inits["scale"] = np.array([1, -1], np.int64), inits["scale"].reshape(1, C)
        nodes = [helper.make_node("Identity", ["acc"], ["x0"]), bn, helper.make_node("Reshape", ["x1", "flat"], ["x2"]),
                 helper.make_node("Mul", ["x2", "scale"], ["x3"]), helper.make_node("Sub", ["bias", "x3"], ["x4"])]
    elif name == "dense":  # [1, C] -> [1, C, 1, 1] (hard-coded batch 1) -> batch norm -> Flatten -> Unsqueeze
        shape, out = (1, C), [1, C, 1]
        inits["to4"], inits["axes"] = np.array([1, C, 1, 1], np.int64), np.array([2], np.int64)
        nodes = [helper.make_node("Reshape", ["acc", "to4"], ["x0"]), bn, helper.make_node("Flatten", ["x1"], ["x2"]),
                 helper.make_node("Add", ["x2", "bias"], ["x3"]), helper.make_node("Unsqueeze", ["x3", "axes"], ["x4"])]
    else:  # "squeeze": [1, C] -> [C]; no batch axis left
        shape, out = (1, C), [C]
        inits["axes"] = np.array([0], np.int64)
        nodes = [helper.make_node("Mul", ["acc", "half"], ["x0"]), bn, helper.make_node("Add", ["x1", "bias"], ["x3"]),
                 helper.make_node("Squeeze", ["x3", "axes"], ["x4"])]
    nodes.append(helper.make_node("Sign", ["x4"], ["y"]))
    model = helper.make_model(
        helper.make_graph(
            nodes, name, [helper.make_tensor_value_info("acc", onnx.TensorProto.FLOAT, shape)],
            [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, out)],
            [numpy_helper.from_array(v if v.dtype == np.int64 else v.astype(np.float32), k) for k, v in inits.items()],
        ),
        opset_imports=[helper.make_opsetid("", 13)],
    )
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, path)
    return path, shape


def fold(path: Path, reach: Reach) -> tuple[list[int], str] | None:
    graph = load_graph(path)
    return fold_thresholds(graph, "acc", graph.nodes[:-1], graph.nodes[-1], reach)


def brute_force(path: Path, shape: tuple[int, ...], values: np.ndarray) -> np.ndarray:
    """Sign(chain(v)) per channel, [C, V]: onnxruntime runs the model once per value v (filling the tensor)."""
    reference = OnnxExecutor(onnx.load(path))
    columns = []
    for v in values:
        y = reference.run({"acc": np.full(shape, v, np.float32)})["y"].reshape(C, -1)
        assert (y == y[:, :1]).all()
        columns.append(y[:, 0])
    return np.stack(columns, axis=1)


def realise(folded: tuple[list[int], str], values: np.ndarray) -> np.ndarray:
    """What the folded thresholds give for each value, [C, V]."""
    rows = []
    for t, mode in zip(*folded, strict=True):
        plus = {"g": values >= t, "l": values <= t, "+": np.full(len(values), True), "-": np.full(len(values), False)}[mode]
        rows.append(np.where(plus, 1.0, -1.0))
    return np.stack(rows)


class CountRuns:
    """Counts onnxruntime runs of the reference executor."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.count = 0
        run = OnnxExecutor.run

        def counted(executor: OnnxExecutor, *args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            self.count += 1
            return run(executor, *args, **kwargs)

        monkeypatch.setattr(OnnxExecutor, "run", counted)


@pytest.mark.parametrize("name,seed", [("map", 0), ("map", 1), ("reshape", 2), ("dense", 3), ("squeeze", 4)])
@pytest.mark.slow
def test_thresholds_match_a_run_per_value(tmp_path, monkeypatch, name: str, seed: int):
    """On a small map with a large reach, the folded thresholds give exactly what onnxruntime computes for
    each value on its own; a chain that keeps the batch axis takes one run, Squeeze of it one per row."""
    path, shape = chain_model(tmp_path, name, seed)
    reach = Reach(-5000, 5000)
    values = reach.values()
    want = brute_force(path, shape, values)
    runs = CountRuns(monkeypatch)
    folded = fold(path, reach)
    assert folded is not None
    positions = int(np.prod(shape)) // C
    assert runs.count == (-(-len(values) // positions) if name == "squeeze" else 1)
    assert np.array_equal(realise(folded, values), want)
    modes = folded[1]
    assert modes[0] in "+-" and sum(m in "gl" for m in modes) >= C // 2  # a constant channel; steps in range


@pytest.mark.parametrize("name", ["map", "reshape", "dense"])
@pytest.mark.parametrize("seed", range(5))
def test_batched_run_is_bit_identical_per_row(tmp_path, name: str, seed: int):
    """The batched submodel computes, element for element, the float32 values the model as written
    computes for each row on its own (batch norm included): the per-run evaluation, in one run."""
    path, shape = chain_model(tmp_path, name, 10 * seed)
    graph = load_graph(path)
    chain, out = graph.nodes[:-1], graph.nodes[-2].output[0]
    batched = _batched(graph, chain, "acc", out)
    assert batched is not None
    rows = np.random.default_rng(seed).integers(-5000, 5001, (300, *shape[1:])).astype(np.float32)
    together = OnnxExecutor(batched).run({"acc": rows})[out]
    single = OnnxExecutor(graph.submodel(chain, ["acc"], [out]))
    alone = np.concatenate([single.run({"acc": row[None]})[out] for row in rows])
    assert together.shape == alone.shape and np.array_equal(together.view(np.uint32), alone.view(np.uint32))


def test_large_reach_on_a_small_map_is_one_run(tmp_path, monkeypatch):
    """[1, 8, 2, 2] reaching ±100,000: one onnxruntime run (not 50,001), and the same thresholds as runs
    of at most a thousand rows each when memory bounds a run."""
    path, _ = chain_model(tmp_path, "map", 5)
    reach = Reach(-100_000, 100_000)
    runs = CountRuns(monkeypatch)
    whole = fold(path, reach)
    assert runs.count == 1
    monkeypatch.setattr(threshold_folding, "MAX_RUN_ELEMENTS", 1000 * C * 4)
    assert fold(path, reach) == whole
    assert runs.count == 1 + 51  # 50,001 rows, 1,000 a run


def test_uncertain_gemm_bounds_take_one_run_each(tmp_path, monkeypatch):
    """A fused Gemm's chain is evaluated once on the values and once on each error bound: three runs."""
    rng = np.random.default_rng(6)
    nodes = [helper.make_node("Mul", ["acc", "alpha"], ["x0"]), helper.make_node("Add", ["x0", "bias"], ["x1"]),
             helper.make_node("Sign", ["x1"], ["y"])]
    inits = {"alpha": np.float32(0.375), "bias": rng.uniform(-1000, 1000, (1, C)).astype(np.float32)}
    path = save_model(tmp_path / "gemm.onnx", nodes, [("acc", [1, C])], [("y", [1, C])], inits)
    graph = load_graph(path)
    uncertain = Uncertain(1, lambda acc: 0.375 * acc[:, None] + np.zeros(C), np.full(C, 1e-6))
    reach = Reach(-5000, 5000)
    runs = CountRuns(monkeypatch)
    folded = fold_thresholds(graph, "acc", graph.nodes[:-1], graph.nodes[-1], reach, uncertain)
    assert folded is not None and runs.count == 3
    assert np.array_equal(realise(folded, reach.values()), brute_force(path, (1, C), reach.values()))


def test_training_mode_batch_norm_is_refused(tmp_path):
    """In training mode onnxruntime normalises by the input's own statistics: no per-channel constants to fold."""
    rng = np.random.default_rng(8)
    nodes = [helper.make_node("Sign", ["x"], ["xb"]), helper.make_node("MatMul", ["xb", "w"], ["acc"]),
             helper.make_node("BatchNormalization", ["acc", "g", "b", "m", "v"], ["bn", "rm", "rv"], name="bn",
                              training_mode=1),
             helper.make_node("Sign", ["bn"], ["y"])]
    inits = {"w": pm1(rng, (16, 4)), "g": np.ones(4), "b": np.full(4, 0.3), "m": np.zeros(4), "v": np.ones(4)}
    path = save_model(tmp_path / "t.onnx", nodes, [("x", [1, 16])], [("y", [1, 4])], inits, opset=15)
    with pytest.raises(ChewcError, match=r"^node bn \(BatchNormalization\): a batch norm in training mode"):
        import_model(path)


def test_multithreshold_without_channel_axis_is_refused(tmp_path):
    """MultiThreshold of a rank-1 accumulator (Squeeze of the batch axis) names the node, no IndexError."""
    rng = np.random.default_rng(9)
    nodes = [helper.make_node("Sign", ["x"], ["xb"]), helper.make_node("MatMul", ["xb", "w"], ["acc"]),
             helper.make_node("Squeeze", ["acc", "axes"], ["sq"]),
             helper.make_node("MultiThreshold", ["sq", "t"], ["y"], name="mt", domain="qonnx.custom_op.general",
                              out_scale=2.0, out_bias=-1.0)]
    path = save_model(tmp_path / "mt.onnx", nodes, [("x", [1, 16])], [("y", [4])],
                      {"w": pm1(rng, (16, 4)), "t": np.full((4, 1), 0.5)}, extra_opsets=[("qonnx.custom_op.general", 1)])
    model = onnx.load(path)
    model.graph.initializer.append(numpy_helper.from_array(np.array([0], np.int64), "axes"))
    onnx.save(model, path)
    with pytest.raises(ChewcError, match=r"^node mt \(MultiThreshold\): its input of shape \[4\] has no channel axis"):
        import_model(path)
