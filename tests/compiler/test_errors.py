"""Bad input gets one line on stderr and exit 2: never a traceback, never silent wrong output."""

from __future__ import annotations

import numpy as np
import pytest
import onnx
from onnx import helper

from compiler.cli import main as chewc
from tests.helpers import EXAMPLES, pm1, run_cli, save_model


def fails(*args: str) -> str:
    code, out, err = run_cli(chewc, *args, "--emit=bnn")
    assert code == 2, (code, err)
    assert out == ""
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert err.startswith("chewc: error: ")
    return err.strip()


def test_missing_file(tmp_path):
    assert "no such file" in fails(str(tmp_path / "absent.onnx"))


def test_not_onnx(tmp_path):
    p = tmp_path / "notes.onnx"
    p.write_text("this is not a protobuf, just some text\n" * 20)
    assert "not an ONNX model" in fails(str(p))


def test_truncated(tmp_path):
    data = (EXAMPLES / "mlp.onnx").read_bytes()
    p = tmp_path / "cut.onnx"
    p.write_bytes(data[: len(data) // 3])
    assert "truncated" in fails(str(p))


def test_empty(tmp_path):
    p = tmp_path / "empty.onnx"
    p.write_bytes(b"")
    assert "empty file" in fails(str(p))


def test_unsupported_op_is_named(tmp_path):
    nodes = [helper.make_node("Sign", ["x"], ["b"]), helper.make_node("Hardmax", ["b"], ["y"], name="hm7")]
    p = save_model(tmp_path / "u.onnx", nodes, [("x", [1, 8])], [("y", [1, 8])], {})
    assert fails(str(p)).endswith("node hm7 (Hardmax): op Hardmax is not supported (neither binary nor a known host op)")


def test_unknown_domain(tmp_path):
    nodes = [helper.make_node("Frobnicate", ["x"], ["y"], name="f1", domain="acme.ops")]
    p = save_model(tmp_path / "d.onnx", nodes, [("x", [1, 8])], [("y", [1, 8])], {}, extra_opsets=[("acme.ops", 1)])
    err = fails(str(p))
    assert "f1" in err and "Frobnicate" in err


def test_weights_not_pm1_after_binarisation(tmp_path):
    rng = np.random.default_rng(0)
    w = pm1(rng, (4, 3, 3, 3))
    w[1, 0, 0, 0] = 0.5
    nodes = [helper.make_node("Sign", ["x"], ["b"]), helper.make_node("Conv", ["b", "w"], ["y"], name="conv2")]
    p = save_model(tmp_path / "w.onnx", nodes, [("x", [1, 3, 5, 5])], [("y", [1, 4, 3, 3])], {"w": w})
    assert fails(str(p)).endswith("node conv2 (Conv): weights are not ±1 (found 0.5)")


def test_shape_inference_cannot_resolve(tmp_path):
    nodes = [helper.make_node("Sign", ["x"], ["b"]), helper.make_node("NonZero", ["b"], ["i"], name="nz"),
             helper.make_node("Cast", ["i"], ["y"], to=onnx.TensorProto.FLOAT)]
    p = save_model(tmp_path / "s.onnx", nodes, [("x", [1, 8])], [("y", [2, "n"])], {})
    assert "node nz (NonZero): shape inference cannot resolve the shape of 'i'" in fails(str(p))


def test_dynamic_spatial_dimension(tmp_path):
    nodes = [helper.make_node("Sign", ["x"], ["y"])]
    p = save_model(tmp_path / "dyn.onnx", nodes, [("x", [1, 3, "H", 8])], [("y", [1, 3, "H", 8])], {})
    assert "dynamic dimension 2 ('H')" in fails(str(p))


def test_usage_error_exits_2():
    code, _, err = run_cli(chewc, "--emit=nonsense", "x.onnx")
    assert code == 2 and "invalid choice" in err


@pytest.mark.parametrize("flag", ["--help"])
def test_help(flag):
    code, out, _ = run_cli(chewc, flag)
    assert code == 0 and "--emit" in out and "exit codes" in out
