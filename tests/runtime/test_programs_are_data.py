"""A program file is data: nothing it names is ever imported or run beyond the host ops chewc emits."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from isa.asm import assemble
from isa.errors import ChewcError
from isa.machine import load_machine
from runtime.onnx_ref import OnnxExecutor, check_runnable

QONNX = "qonnx.custom_op.general"


def host_program(nodes: list[onnx.NodeProto], opsets: list[tuple[str, int]]) -> bytes:
    """A one-step program: HOST runs `nodes` on int16 input 'in' [2] and writes int16 output 'out'."""
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("in", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 2])], [numpy_helper.from_array(np.float32(1), "s")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in [("", 13), *opsets]])
    text = (
        ".input x int16[2,1,1] chw @0x0\n.output y int16[2,1,1] chw @0x10\nHOST step=0\nEND\n"
        '.host 0 "test"\n.host_in "in" int16[2] @0x0\n.host_out "out" int16[2] @0x10\n'
        f'.onnx "{base64.b64encode(model.SerializeToString()).decode()}"\n'
    )
    return assemble(text, load_machine()).to_bytes()


def test_a_host_step_in_domain_this_imports_nothing(tmp_path: Path) -> None:
    """qonnx looks a custom op up by importing its domain: `this` used to print the Zen of Python."""
    nodes = [helper.make_node("Zen", ["in"], ["mid"], domain="this"),
             helper.make_node("BipolarQuant", ["mid", "s"], ["out"], domain=QONNX)]
    prog = tmp_path / "this.chew"
    prog.write_bytes(host_program(nodes, [("this", 1), (QONNX, 1)]))
    run = subprocess.run([sys.executable, "-c", "from runtime.cli import main; main()", str(prog)], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert run.returncode == 2
    assert "Zen" not in run.stdout and "Beautiful" not in run.stdout + run.stderr
    assert run.stderr == (
        "chewc-run: error: instruction 0 (HOST): host step 0: the embedded ONNX graph: Zen node producing 'mid' is "
        "in domain 'this', which chewc does not run (known: the standard ONNX domain and qonnx.custom_op.general, "
        "onnx.brevitas, finn.custom_op.general)\n"
    )


@pytest.mark.parametrize(("node", "message"), [
    (helper.make_node("Identity", ["in"], ["out"], domain="os"), "in domain 'os'"),
    (helper.make_node("Einsum", ["in", "in"], ["out"], equation="ij,ij->ij"), "Einsum node producing 'out' is not an op chewc runs on the host"),
    (helper.make_node("XnorPopcountMatMul", ["in", "in"], ["out"], domain=QONNX), "is not a QONNX op chewc knows"),
])
def test_host_steps_run_only_the_ops_chewc_emits(node: onnx.NodeProto, message: str) -> None:
    from runtime.emulator import emulate

    prog = host_program([node], [(node.domain, 1)] if node.domain else [])
    with pytest.raises(ChewcError, match=message):
        emulate(prog, np.zeros((2, 1, 1), np.int16))


def test_reference_models_are_checked_too() -> None:
    """A model given to --check (or compiled) is held to the domain rule before qonnx or onnxruntime see it."""
    graph = helper.make_graph(
        [helper.make_node("Zen", ["x"], ["y"], domain="this")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("this", 1)])
    with pytest.raises(ChewcError, match="in domain 'this'"):
        OnnxExecutor(model)
    external = helper.make_model(helper.make_graph(
        [helper.make_node("Identity", ["w"], ["y"])], "g", [], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
        [numpy_helper.from_array(np.zeros(1, np.float32), "w")]))
    tensor = external.graph.initializer[0]
    tensor.data_location = TensorProto.EXTERNAL
    tensor.external_data.add(key="location", value="/etc/passwd")
    with pytest.raises(ChewcError, match="tensor 'w' keeps its data in an external file"):
        check_runnable(external, "m.onnx")
