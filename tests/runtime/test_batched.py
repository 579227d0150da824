"""Batched emulation (`emulate_batch`: the images stacked, every CONV one product for all) gives what
`emulate` gives image by image, outputs and reports, on every example, real model and random network."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from compiler.driver import compile_model
from compiler.first_layer import parse_grid
from fuzz.netgen import generate
from isa.container import ChewProgram
from isa.errors import ChewcError
from runtime import emulator
from runtime.emulator import emulate, emulate_batch
from tests.helpers import EXAMPLES

EXAMPLES_ = sorted(p.stem for p in EXAMPLES.glob("*.onnx"))


def same_runs(prog: ChewProgram, inputs: list[np.ndarray], batch: int = 3) -> None:
    one = [emulate(prog, x) for x in inputs]
    emulator._PLANS.clear()  # the batch makes its own checked run, then replays the rest stacked
    many = emulate_batch(prog, inputs, batch=batch)
    assert len(many) == len(one)
    for a, b in zip(one, many, strict=True):
        assert a.outputs.keys() == b.outputs.keys()
        for k in a.outputs:
            assert a.outputs[k].dtype == b.outputs[k].dtype and np.array_equal(a.outputs[k], b.outputs[k])
        assert dataclasses.replace(a.report, host=b.report.host) == b.report  # all but the host's wall time
        assert a.report.host.steps == b.report.host.steps and a.report.host.ops == b.report.host.ops


@pytest.mark.parametrize("name", EXAMPLES_)
def test_batches_equal_single_runs_on_the_examples(name: str) -> None:
    prog = compile_model(EXAMPLES / f"{name}.onnx").program
    assert prog is not None
    rng = np.random.default_rng(1)
    same_runs(prog, [rng.random(prog.inputs[0].shape, dtype=np.float32) for _ in range(7)])  # batches 1+3+3


@pytest.mark.parametrize("name", ["cnv", "cnv_qonnx", "lfc"])
def test_batches_equal_single_runs_on_real_models_and_images(name: str, real_model) -> None:  # noqa: ANN001
    entry = real_model(name)
    prog = compile_model(entry.path()).program
    assert prog is not None
    same_runs(prog, [x.reshape(prog.inputs[0].shape) for x, _ in entry.samples(5)], batch=4)


@pytest.mark.slow
def test_batches_equal_single_runs_on_random_networks(tmp_path) -> None:  # noqa: ANN001
    """The differential harness checks every network it draws batched too (`fuzz.difftest.batched`)."""
    ran = 0
    for seed in range(60000, 60030):
        net = generate(seed)
        path = tmp_path / f"{seed}.onnx"
        path.write_bytes(net.model.SerializeToString())
        try:
            prog = compile_model(path, first_layer=net.first_layer,
                                 input_grid=parse_grid(net.input_grid) if net.input_grid else None).program
        except ChewcError:
            continue  # refused: nothing to run
        assert prog is not None
        same_runs(prog, [x.reshape(prog.inputs[0].shape) for x in net.inputs] * 2, batch=2)
        ran += 1
    assert ran >= 25


def test_an_error_in_a_batch_is_the_single_runs_error() -> None:
    """A data error (here an input off the program's grid) names what a single run names."""
    prog = compile_model(EXAMPLES / "mlp.onnx").program
    assert prog is not None
    good = np.zeros(prog.inputs[0].shape, np.float32)
    bad = np.full(prog.inputs[0].shape, np.nan, np.float32)
    with pytest.raises(ChewcError) as single:
        emulate(prog, bad)
    with pytest.raises(ChewcError) as batched:
        emulate_batch(prog, [good, good, bad, good], batch=4)
    assert str(batched.value) == str(single.value)


def test_weights_that_differ_between_images_run_image_by_image() -> None:
    """A program is data: this one loads its weights from its input, so each image of a batch has its
    own; the CONV then runs image by image (weights and thresholds are shared only where equal)."""
    from isa.asm import assemble
    from isa.machine import load_machine
    from tests.runtime.reference import ASM, random_pm1

    text = (ASM / "conv3x3.s").read_text().replace(
        "DMA.LD mem=wmem dram=0x1000 chip=0x0 length=144",
        "DMA.LD mem=wmem dram=0x0 chip=0x0 length=128\nDMA.LD mem=wmem dram=0x1000 chip=0x80 length=16")
    prog = assemble(text, load_machine(), "weights_from_input.s")
    rng = np.random.default_rng(3)
    same_runs(prog, [random_pm1(rng, (20, 8, 8)) for _ in range(5)], batch=4)
