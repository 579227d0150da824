"""`chewc` says where a network runs (one stderr line), and `--strict` refuses host steps between layers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from onnx import helper

from compiler.cli import main
from compiler.driver import compile_model
from isa.errors import ChewcError
from tests.helpers import EXAMPLES, pm1, run_cli, save_model


def test_an_mlp_with_a_binarised_input_runs_all_its_layers_on_the_array(tmp_path: Path) -> None:
    c = compile_model(EXAMPLES / "mlp.onnx", strict=True)
    assert c.placement is not None
    assert c.placement.layers == 3
    assert [h.where for h in c.placement.host] == ["input", "input"]
    code, out, err = run_cli(main, str(EXAMPLES / "mlp.onnx"), "-o", str(tmp_path / "m.chew"))
    assert code == 0 and out == ""
    assert err.splitlines() == [
        "chewc: 3 layers on the array, 2 host steps (input: node flatten1 (Flatten): float computation; node mul1 "
        "(Mul): float computation; node sub1 (Sub): float computation; input: binarise float activations "
        "(bnn.sign, zero -> reject))"
    ]
    assert run_cli(main, str(EXAMPLES / "mlp.onnx"), "-o", str(tmp_path / "m.chew"), "-q")[2] == ""


def test_strict_refuses_an_8_bit_first_layer_on_the_host(tmp_path: Path) -> None:
    """vgg_cifar's first layer takes 8-bit pixels: a host step before the array, not input binarisation;
    the binarisation after it is not input either, the final float scale is the head."""
    c = compile_model(EXAMPLES / "vgg_cifar.onnx")
    assert c.placement is not None
    assert [h.where for h in c.placement.host] == ["middle", "middle", "head"]
    assert "node conv1 (Conv): multi-bit input activations (not by bit planes: the model input is float (declare " \
        "its grid with --input-grid BITS,EXPONENT))" in c.placement.host[0].reason
    code, _, err = run_cli(main, str(EXAMPLES / "vgg_cifar.onnx"), "-o", str(tmp_path / "v.chew"), "--strict")
    assert code == 2
    assert err.splitlines() == [
        "chewc: error: --strict: 2 host steps besides input binarisation and a float head, the first: node conv1 "
        "(Conv): multi-bit input activations (not by bit planes: the model input is float (declare its grid with "
        "--input-grid BITS,EXPONENT)); node bn1 (BatchNormalization): float computation"
    ]
    assert not (tmp_path / "v.chew").exists()


def test_a_float_only_model_warns_and_fails_under_strict(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = save_model(tmp_path / "f.onnx", [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")],
                      [("x", [1, 8])], [("y", [1, 4])], {"w": rng.normal(size=(8, 4))})
    code, _, err = run_cli(main, str(path), "-o", str(tmp_path / "f.chew"))
    assert code == 0
    assert err.splitlines() == ["chewc: 0 layers on the array, 1 host step (middle: node mm (MatMul): input "
                                "activations are not binary); warning: no layer runs on the accelerator, the "
                                "whole model runs on the host"]
    try:
        compile_model(path, strict=True)
    except ChewcError as e:
        assert str(e) == "--strict: no layer of the model runs on the array (it has no binary layer)"
    else:
        raise AssertionError("--strict compiled a float-only model")


def test_a_binary_net_with_a_float_head_is_strict_clean(tmp_path: Path) -> None:
    """A binarised input, binary convs, a float Gemm classifier after the last binary layer."""
    rng = np.random.default_rng(1)
    nodes = [
        helper.make_node("Sign", ["x"], ["b"]),
        helper.make_node("Conv", ["b", "w"], ["a"], kernel_shape=[3, 3]),
        helper.make_node("Flatten", ["a"], ["f"]),
        helper.make_node("Gemm", ["f", "g"], ["y"], name="head"),
    ]
    path = save_model(tmp_path / "h.onnx", nodes, [("x", [1, 16, 5, 5])],
                      [("y", [1, 3])], {"w": pm1(rng, (4, 16, 3, 3)), "g": rng.normal(size=(36, 3))})
    c = compile_model(path, strict=True)
    assert c.placement is not None and c.placement.layers == 1
    assert [h.where for h in c.placement.host] == ["input", "head"]
