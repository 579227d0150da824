"""`chewc-run --check-layers`: every layer boundary equals the ONNX tensor of the same name, and a
wrong layer is named as the first that differs."""

from __future__ import annotations

import dataclasses

import numpy as np

from compiler.driver import compile_model
from isa.container import DataBlock
from runtime.reference import check_layers
from runtime.cli import main as chewc_run
from tests.helpers import EXAMPLES, run_cli

MODEL = EXAMPLES / "vgg_cifar.onnx"


def test_every_layer_equals_the_reference():
    program = compile_model(MODEL).program
    x = np.random.default_rng(3).random((3, 32, 32), dtype=np.float32)
    compared, mismatch = check_layers(program, MODEL, x)
    assert mismatch is None
    assert [p.name for p, _ in compared] == [
        "bn1", "sign1", "sign2", "pool1", "sign3", "sign4", "pool2", "sign5", "sign6", "pool3", "pool4", "sign7", "gemm2"]


def test_a_corrupted_layer_is_named(tmp_path):
    program = compile_model(MODEL).program
    # flip every weight bit of the third binary conv (conv1 makes sign2, conv2 sign3, conv3 sign4)
    data = tuple(
        DataBlock(d.name, d.dram_addr, (~d.words).astype("<u2").tobytes()) if d.name == "conv3.weights" else d
        for d in program.data
    )
    bad = dataclasses.replace(program, data=data)
    x = np.random.default_rng(3).random((3, 32, 32), dtype=np.float32)
    compared, mismatch = check_layers(bad, MODEL, x)
    assert mismatch is not None and mismatch.output == "sign4"
    assert [p.name for p, _ in compared][-1] == "sign3"
    path = tmp_path / "bad.chew"
    path.write_bytes(bad.to_bytes())
    code, _, err = run_cli(chewc_run, str(path), "--check", str(MODEL), "--check-layers", "--report", "none")
    assert code == 1 and "layer tensor (after instruction" in err and "'sign4'" in err
