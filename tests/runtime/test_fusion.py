"""Fused replays (`runtime.fusion`: a layer's CONVs as few products, DMAs of fixed weights dropped) give
what checked runs, the reference path, give: outputs and reports, on every example, real model and
random network; and fusion happens where it may, and only there."""

from __future__ import annotations

import dataclasses
import numpy as np
import pytest

from compiler.driver import compile_model
from compiler.first_layer import parse_grid
from fuzz.netgen import generate
from isa.asm import assemble
from isa.container import ChewProgram
from isa.errors import ChewcError
from isa.machine import load_machine
from runtime import emulator, fusion
from runtime.emulator import emulate
from runtime.products import Weights, Windows
from tests.helpers import EXAMPLES
from tests.runtime.reference import random_pm1

EXAMPLES_ = sorted(p.stem for p in EXAMPLES.glob("*.onnx"))


def same_as_checked(prog: ChewProgram, inputs: list[np.ndarray]) -> None:
    emulator._PLANS.clear()
    emulate(prog, inputs[0])  # the checked run that leaves the plan
    for x in inputs:
        replay, checked = emulate(prog, x), emulate(prog, x, checked=True)
        assert replay.outputs.keys() == checked.outputs.keys()
        for k in checked.outputs:
            assert replay.outputs[k].dtype == checked.outputs[k].dtype
            assert np.array_equal(replay.outputs[k], checked.outputs[k])
        assert dataclasses.replace(replay.report, host=checked.report.host) == checked.report
        assert replay.report.host.steps == checked.report.host.steps


@pytest.mark.parametrize("name", EXAMPLES_)
def test_replays_equal_checked_runs_on_the_examples(name: str) -> None:
    prog = compile_model(EXAMPLES / f"{name}.onnx").program
    assert prog is not None
    rng = np.random.default_rng(2)
    same_as_checked(prog, [rng.random(prog.inputs[0].shape, dtype=np.float32) for _ in range(3)])


@pytest.mark.parametrize("name", ["cnv", "cnv_qonnx", "lfc"])
def test_replays_equal_checked_runs_on_real_models(name: str, real_model) -> None:  # noqa: ANN001
    entry = real_model(name)
    prog = compile_model(entry.path()).program
    assert prog is not None
    same_as_checked(prog, [x.reshape(prog.inputs[0].shape) for x, _ in entry.samples(3)])


@pytest.mark.slow
def test_replays_equal_checked_runs_on_random_networks(tmp_path) -> None:  # noqa: ANN001
    """The differential harness compares every network's replays with checked runs too."""
    ran = 0
    for seed in range(61000, 61030):
        net = generate(seed)
        path = tmp_path / f"{seed}.onnx"
        path.write_bytes(net.model.SerializeToString())
        try:
            prog = compile_model(path, first_layer=net.first_layer,
                                 input_grid=parse_grid(net.input_grid) if net.input_grid else None).program
        except ChewcError:
            continue  # refused: nothing to run
        assert prog is not None
        same_as_checked(prog, [x.reshape(prog.inputs[0].shape) for x in net.inputs])
        ran += 1
    assert ran >= 25


def steps_of(prog: ChewProgram) -> list[fusion.Step]:
    """The steps the checked run of `prog` left in its plan."""
    plan = emulator._plan((prog, load_machine().hash()))
    assert plan is not None
    return list(plan.steps)


def shape(steps: list[fusion.Step]) -> list[tuple[int, int]]:
    """(chains, CONVs per chain) of each group."""
    return [(len(g.chains), len(g.head.members)) for g in fusion.groups(steps)]


def test_cnv_runs_its_51_convs_as_8_products(real_model) -> None:  # noqa: ANN001
    entry = real_model("cnv")
    prog = compile_model(entry.path()).program
    assert prog is not None
    x = next(entry.samples(1))[0]
    emulate(prog, x)
    steps = steps_of(prog)
    assert sum(s.product is not None for s in steps) == 51
    # conv1's 4 blocks of 16 channels; conv2's 2 of 64; conv3 split 4 ways by input channel, conv4 8 ways
    # in 2 blocks, conv5 16 ways; fc1 4 blocks, fc2 2 blocks split 2 ways; fc3
    assert shape(steps) == [(4, 1), (2, 1), (1, 4), (2, 8), (1, 16), (4, 1), (2, 2), (1, 1)]
    kept = fusion.prune(fusion.fuse(steps))
    # the weights and thresholds live in the kernels: of 69 DMAs, the input's load and the scores' store remain
    assert sum(any(w.mem == "wmem" for w in s.writes) for s in kept) == 0
    assert len(kept) == 47
    plan = emulator._plan((prog, load_machine().hash()))
    assert plan is not None and len(plan.fused) == 47
    assert len(prog.data) == 15 and plan.data == ()  # no replay writes the weights and thresholds to DRAM


# Two CONVs over 16 channels of a 4x4 input, 8 output channels each, as a layer's blocks of output channels are.
LAYER = """
.input x bits[32,4,4] ghw @0x0
.output y int16[{channels},2,2] chw @0x2000
{more}CFG.IN in_h=4 in_w=4 in_c=16
CFG.BUF buf_row0=0 buf_rows=4
CFG.K kh=3 kw=3 stride=1 dilation=1 pad_top=0 pad_left=0 pad_mode=gate
CFG.OUT out_h=2 out_w=2 obuf_rows=2
CFG.TILE row0=0 nrows=2 oc_count=8
CFG.DMA count=1 dram_stride=0 chip_stride=0
DMA.LD mem=fmem dram=0x0 chip=0x0 length=32
DMA.LD mem=wmem dram=0x1000 chip=0x0 length=72
SYNC
CONV fmem=0x0 wmem=0x0 acc=0x0 accumulate=0
DMA.LD mem=wmem dram=0x1048 chip=0x0 length=72
{between}SYNC
CONV fmem={second} wmem=0x0 acc={acc} accumulate={accumulate}
DMA.ST mem=acc dram=0x2000 chip=0x0 length={words}
END
.data w @0x1000
"""


def layer(between: str = "", second: str = "0x0", acc: str = "0x20", accumulate: int = 0, more: str = "") -> ChewProgram:
    """LAYER, the second CONV's FMEM words and ACC words as given, `between` the two; the sums of both
    stored to y (of one, if the second accumulates into the first's), and `more` outputs declared."""
    words = np.random.default_rng(5).integers(0, 1 << 16, 144)
    channels = 8 if accumulate else 16
    text = LAYER.format(between=between, second=second, acc=acc, accumulate=accumulate, more=more,
                        channels=channels, words=channels * 4)
    text += "\n".join(".word " + " ".join(f"{w:#06x}" for w in words[i : i + 8]) for i in range(0, 144, 8)) + "\n"
    return assemble(text, load_machine(), "layer.s")


@pytest.mark.parametrize(("case", "program", "groups"), [
    ("blocks of one layer", layer(), [(2, 1)]),
    # the second reads other words: a group of each
    ("other windows", layer(second="0x10"), [(1, 1), (1, 1)]),
    # a DMA rewrites the windows' words between the two: they may not be computed together
    ("windows rewritten", layer(between="DMA.LD mem=fmem dram=0x10 chip=0x0 length=16\n"), [(1, 1), (1, 1)]),
    # accumulating the next channel group into the same sums: a chain of two, windows joined
    ("input channels split", layer(second="0x10", acc="0x0", accumulate=1), [(1, 2)]),
    # the partial sums are stored between the two: the chain breaks, the second runs alone
    ("sums read between", layer(second="0x10", acc="0x0", accumulate=1, more=".output z int16[8,2,2] chw @0x2020\n",
                                between="SYNC\nDMA.ST mem=acc dram=0x2020 chip=0x0 length=32\n"), [(1, 1)]),
])
def test_fusion_happens_where_it_may_and_only_there(case: str, program: ChewProgram, groups: list[tuple[int, int]]) -> None:
    rng = np.random.default_rng(6)
    inputs = [random_pm1(rng, (32, 4, 4)) for _ in range(3)]
    same_as_checked(program, inputs)
    assert shape(steps_of(program)) == groups, case


def product(taps_per_lane: int, accumulate: bool, acc: fusion.Span = fusion.Span("acc", 0, 8)) -> fusion.Product:
    """A product over one 1x1 window of `taps_per_lane` channel groups (16 taps each) and one pixel."""
    yi, xi = np.zeros((1, 1), np.int64), np.zeros((1, 1), np.int64)
    windows = Windows.of(slice(0, taps_per_lane), taps_per_lane * 16, np.ones(taps_per_lane * 16, np.uint8), yi, xi, 1, 1)
    weights = Weights(np.ones((windows.taps, 8), np.int8), fixed=True)
    return fusion.Product(windows, fusion.Span.of("fmem", np.arange(taps_per_lane)), weights, slice(acc.lo, acc.hi),
                          acc, accumulate)


def test_a_chain_stops_before_its_sums_could_pass_int16() -> None:
    """2047 groups of 16 taps: 32752 terms, below 32767. One more CONV of 16 taps could pass it."""
    first = fusion.Step(lambda s: None, product=product(2047, False))
    more = [fusion.Step(lambda s: None, product=product(1, True)) for _ in range(2)]
    assert [len(c.members) for c in fusion.chains([first, *more])] == [1]
    assert [len(c.members) for c in fusion.chains([fusion.Step(lambda s: None, product=product(2046, False)), *more])] \
        == [2]


def test_a_chain_is_one_set_of_sums() -> None:
    """Accumulating into other ACC words, or a new CONV over the same words, starts anew."""
    other = fusion.Span("acc", 8, 16)
    steps = [fusion.Step(lambda s: None, product=product(1, False)),
             fusion.Step(lambda s: None, product=product(1, True, other)),
             fusion.Step(lambda s: None, product=product(1, False)),
             fusion.Step(lambda s: None, product=product(1, True))]
    assert [c.members for c in fusion.chains(steps)] == [[0], [2, 3]]
