"""QONNX ops as exporters write them: MultiThreshold with bipolar output, BipolarQuant in both domains."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper

from compiler.importer import import_model
from dialects import bnn
from runtime.bnn_interp import run_module
from runtime.onnx_ref import OnnxExecutor
from tests.helpers import pm1, save_model


def test_multithreshold_bipolar(tmp_path):
    rng = np.random.default_rng(5)
    k, c = 48, 24
    nodes = [
        helper.make_node("Sign", ["x"], ["xb"]),
        helper.make_node("MatMul", ["xb", "w"], ["acc"]),
        helper.make_node("MultiThreshold", ["acc", "thr"], ["y"], domain="qonnx.custom_op.general",
                         out_dtype="BIPOLAR", out_scale=2.0, out_bias=-1.0),
    ]
    thr = rng.integers(-20, 20, (c, 1)).astype(np.float32) + 0.5
    path = save_model(tmp_path / "mt.onnx", nodes, [("x", [1, k])], [("y", [1, c])],
                      {"w": pm1(rng, (k, c)), "thr": thr}, extra_opsets=[("qonnx.custom_op.general", 1)])
    module = import_model(path)
    th = next(op for op in module.walk() if isinstance(op, bnn.ThresholdOp))
    assert set(th.modes.data) <= {"g", "+", "-"}
    ref = OnnxExecutor(onnx.load(path))
    for _ in range(20):
        x = rng.uniform(-1, 1, (1, k)).astype(np.float32)
        assert np.array_equal(run_module(module, [x])[0], ref.run({"x": x})["y"])


@pytest.mark.parametrize("domain", ["qonnx.custom_op.general", "onnx.brevitas"])
def test_bipolar_quant_weights_and_activations(tmp_path, domain):
    rng = np.random.default_rng(6)
    nodes = [
        helper.make_node("BipolarQuant", ["x", "one"], ["xb"], domain=domain),
        helper.make_node("BipolarQuant", ["wf", "one"], ["w"], domain=domain),  # real-valued weights, quantised in the graph
        helper.make_node("Conv", ["xb", "w"], ["acc"], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["acc", "g", "b", "m", "v"], ["bn"]),
        helper.make_node("BipolarQuant", ["bn", "one"], ["y"], domain=domain),
    ]
    inits = {"one": np.ones(1), "wf": rng.normal(0, 1, (8, 4, 3, 3)), "g": rng.normal(0, 1, 8), "b": rng.normal(0, 1, 8),
             "m": rng.normal(0, 2, 8), "v": rng.uniform(0.5, 4, 8)}
    path = save_model(tmp_path / "bq.onnx", nodes, [("x", [1, 4, 6, 6])], [("y", [1, 8, 6, 6])], inits,
                      extra_opsets=[(domain, 1)])
    module = import_model(path)
    conv = next(op for op in module.walk() if isinstance(op, bnn.Conv2dOp))
    assert conv.pad_value.data == "zero" and isinstance(module.body.block.first_op, object)
    ref = OnnxExecutor(onnx.load(path))
    for _ in range(20):
        x = rng.uniform(-1, 1, (1, 4, 6, 6)).astype(np.float32)
        assert np.array_equal(run_module(module, [x])[0], ref.run({"x": x})["y"])


def test_constant_nodes_of_every_form_fold(tmp_path):
    """Constant nodes (value_float, value_ints) feeding a reshape and a bias fold like initializers."""
    rng = np.random.default_rng(8)
    nodes = [
        helper.make_node("Constant", [], ["half"], value_float=0.5),
        helper.make_node("Constant", [], ["shape"], value_ints=[1, -1]),
        helper.make_node("Sign", ["x"], ["b"]),
        helper.make_node("Reshape", ["b", "shape"], ["f"]),
        helper.make_node("MatMul", ["f", "w"], ["m"]),
        helper.make_node("Add", ["m", "half"], ["a"]),
        helper.make_node("Sign", ["a"], ["y"]),
    ]
    path = save_model(tmp_path / "c.onnx", nodes, [("x", [1, 2, 4, 4])], [("y", [1, 8])], {"w": pm1(rng, (32, 8))})
    module = import_model(path)
    assert any(isinstance(op, bnn.ThresholdOp) for op in module.walk())
    ref = OnnxExecutor(onnx.load(path))
    for _ in range(10):
        x = rng.uniform(-1, 1, (1, 2, 4, 4)).astype(np.float32)
        assert np.array_equal(run_module(module, [x])[0], ref.run({"x": x})["y"])


def test_old_style_brevitas_exports(tmp_path, real_model):
    """Old Brevitas wrote `onnx.brevitas` nodes without importing the domain and listed initializers as
    graph inputs: shape inference failed ("No opset import for domain onnx.brevitas")."""
    from compiler.driver import compile_model
    from runtime.reference import check_program

    entry = real_model("cnv_qonnx")
    model = onnx.load(entry.path())
    for node in model.graph.node:
        if node.domain:
            node.domain = "onnx.brevitas"
    kept = [o for o in model.opset_import if o.domain in ("", "ai.onnx")]
    del model.opset_import[:]
    model.opset_import.extend(kept)
    inits = {t.name for t in model.graph.initializer}
    model.graph.input.extend(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in model.graph.initializer)
    kept_vi = [v for v in model.graph.value_info if v.name not in inits]
    del model.graph.value_info[:]
    model.graph.value_info.extend(kept_vi)
    path = tmp_path / "old.onnx"
    onnx.save(model, path)
    inputs = [x for x, _ in entry.samples(3)]
    assert check_program(compile_model(path).program, path, inputs) == (3, None)
