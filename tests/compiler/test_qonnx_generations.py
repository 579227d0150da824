"""Every QONNX generation compiles and matches on real images: the real QONNX CNV (CIFAR-10) and LFC
(MNIST) written the way old Brevitas wrote them, and those exports after `qonnx.util.cleanup`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from compiler.driver import compile_model
from runtime.reference import check_program
from runtime.datasets import RealModel

pytestmark = pytest.mark.slow  # seconds to minutes: out of the fast loop (pytest -m "not slow")

# attributes opset 9 does not have (all at their defaults in the real models)
NEWER_ATTRIBUTES = {("BatchNormalization", "training_mode"), ("Reshape", "allowzero"), ("MaxPool", "ceil_mode"),
                    ("MaxPool", "dilations")}


def old_brevitas(model: onnx.ModelProto, sign_to_bipolar: bool = False) -> onnx.ModelProto:
    """`model` as old Brevitas exported: QONNX ops in domain `onnx.brevitas` with no opset import for it,
    opset 9 / IR 4, initializers listed as graph inputs, every Reshape a Shape/Gather/Unsqueeze/Concat
    flatten, dense layers' BatchNormalization unfused as Sub/Add/Pow/Div/Mul/Add (`sign_to_bipolar`:
    Sign nodes as BipolarQuant, for a plain ONNX model)."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    producer = {o: n.op_type for n in g.node for o in n.output}
    nodes: list[onnx.NodeProto] = []
    extra = []

    def const(name: str, value: np.ndarray) -> str:
        extra.append(numpy_helper.from_array(value, name))
        return name

    for node in g.node:
        kept = [a for a in node.attribute if (node.op_type, a.name) not in NEWER_ATTRIBUTES]
        del node.attribute[:]
        node.attribute.extend(kept)
        if node.domain or (sign_to_bipolar and node.op_type == "Sign"):
            if node.op_type == "Sign":
                node.op_type = "BipolarQuant"
                node.input.append(const(f"{node.output[0]}_scale", np.array(1.0, np.float32)))
            node.domain = "onnx.brevitas"
        p = node.output[0]
        if node.op_type == "Reshape" and producer.get(node.input[1]) != "Concat":
            x = node.input[0]
            nodes += [
                helper.make_node("Shape", [x], [f"{p}_shape"]),
                helper.make_node("Gather", [f"{p}_shape", const(f"{p}_zero", np.array(0, np.int64))], [f"{p}_n"], axis=0),
                helper.make_node("Unsqueeze", [f"{p}_n"], [f"{p}_n1"], axes=[0]),
                helper.make_node("Concat", [f"{p}_n1", const(f"{p}_rest", np.array([-1], np.int64))], [f"{p}_to"], axis=0),
                helper.make_node("Reshape", [x, f"{p}_to"], [p]),
            ]
        elif node.op_type == "BatchNormalization" and producer.get(node.input[0]) == "MatMul":
            x, gamma, beta, mean, var = node.input
            eps = next((a.f for a in node.attribute if a.name == "epsilon"), 1e-5)
            nodes += [
                helper.make_node("Sub", [x, mean], [f"{p}_c"]),
                helper.make_node("Add", [var, const(f"{p}_eps", np.array(eps, np.float32))], [f"{p}_ve"]),
                helper.make_node("Pow", [f"{p}_ve", const(f"{p}_half", np.array(0.5, np.float32))], [f"{p}_sd"]),
                helper.make_node("Div", [f"{p}_c", f"{p}_sd"], [f"{p}_n"]),
                helper.make_node("Mul", [f"{p}_n", gamma], [f"{p}_g"]),
                helper.make_node("Add", [f"{p}_g", beta], [p]),
            ]
        else:
            nodes.append(node)
    del g.node[:]
    g.node.extend(nodes)
    g.initializer.extend(extra)
    del g.value_info[:]
    listed = {i.name for i in g.input}
    g.input.extend(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims))
                   for t in g.initializer if t.name not in listed)
    del m.opset_import[:]
    m.opset_import.append(helper.make_opsetid("", 9))
    m.ir_version = 4
    return m


def cleaned(model: onnx.ModelProto) -> onnx.ModelProto:
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.cleanup import cleanup_model

    return cleanup_model(ModelWrapper(model)).model


@pytest.mark.parametrize(("name", "clean"), [("cnv_qonnx", False), ("cnv_qonnx", True), ("lfc", False), ("lfc", True)])
def test_old_brevitas_exports_and_their_cleanups_match_on_real_images(
    tmp_path: Path, real_model: Callable[[str], RealModel], name: str, clean: bool,
) -> None:
    entry = real_model(name)
    model = old_brevitas(onnx.load(entry.path()), sign_to_bipolar=name == "lfc")
    ops = {(n.domain, n.op_type) for n in model.graph.node}
    assert ("onnx.brevitas", "BipolarQuant") in ops and ("", "Gather") in ops
    assert (("", "Pow") in ops) == (name == "cnv_qonnx")  # LFC's BNs act on [1, C, 1] (Unsqueeze first)
    assert all(o.domain == "" for o in model.opset_import)
    if clean:
        model = cleaned(model)
    path = tmp_path / "model.onnx"
    onnx.save(model, path)
    compiled = compile_model(path)
    assert compiled.placement is not None and compiled.placement.layers >= 4
    inputs = [x for x, _ in entry.samples(5)]
    assert check_program(compiled.program, path, inputs) == (5, None)


def test_channels_last_qonnx_is_refused_by_name(tmp_path: Path) -> None:
    from compiler.cli import main
    from tests.helpers import pm1, run_cli, save_model

    nodes = [helper.make_node("Sign", ["x"], ["b"]),
             helper.make_node("Conv", ["b", "w"], ["y"], name="conv0", domain="qonnx.custom_op.channels_last")]
    path = save_model(tmp_path / "cl.onnx", nodes, [("x", [1, 4, 4, 16])], [("y", [1, 2, 2, 8])],
                      {"w": pm1(np.random.default_rng(0), (8, 16, 3, 3))},
                      extra_opsets=[("qonnx.custom_op.channels_last", 1)])
    code, _, err = run_cli(main, str(path), "-o", str(tmp_path / "cl.chew"))
    assert code == 2 and err.count("\n") == 1
    assert "node conv0 (Conv) is channels-last QONNX (qonnx.custom_op.channels_last)" in err
