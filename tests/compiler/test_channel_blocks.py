"""Layers tile by channel blocks as well as rows, so no layer is limited by the size of one output row:
the integer max-pool after an ImageNet stem, residual adds and thresholds of integer maps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import helper

from compiler.driver import compile_model
from isa.container import ChewProgram
from isa.instruction import decode
from isa.machine import load_machine
from runtime.reference import check_program
from tests.helpers import REPO, pm1, save_model

TINY_ACC = REPO / "tests" / "machines" / "tiny_acc.toml"


def bn(name: str, x: str, out: str, c: int, mean: float, rng: np.random.Generator, inits: dict) -> onnx.NodeProto:
    """A BN whose thresholds sit half a step off the (odd, here) attainable sums: Sign never sees 0."""
    inits[f"{name}.g"] = np.where(rng.random(c) < 0.2, -1.0, 1.0) * rng.uniform(0.5, 2, c)
    inits[f"{name}.b"] = np.zeros(c)
    inits[f"{name}.m"] = np.round(rng.normal(mean, 3, c)) + 0.5
    inits[f"{name}.v"] = np.ones(c)
    return helper.make_node("BatchNormalization", [x, f"{name}.g", f"{name}.b", f"{name}.m", f"{name}.v"], [out],
                            epsilon=0.0)


def stem_model(path: Path, size: int, seed: int = 0) -> Path:
    """ImageNet stem: Sign(x-0.5); binary 7x7/2 conv 3->64; integer 3x3/2 max-pool; BN; Sign; 1x1 conv."""
    rng = np.random.default_rng(seed)
    inits = {"half": np.array(0.5), "w1": pm1(rng, (64, 3, 7, 7)), "w2": pm1(rng, (16, 64, 1, 1))}
    nodes = [
        helper.make_node("Sub", ["x", "half"], ["xc"]),
        helper.make_node("Sign", ["xc"], ["xb"]),
        helper.make_node("Conv", ["xb", "w1"], ["a1"], kernel_shape=[7, 7], strides=[2, 2], pads=[3, 3, 3, 3]),
        helper.make_node("MaxPool", ["a1"], ["p1"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        bn("bn1", "p1", "n1", 64, 20.0, rng, inits),
        helper.make_node("Sign", ["n1"], ["s1"]),
        helper.make_node("Conv", ["s1", "w2"], ["y"], kernel_shape=[1, 1]),
    ]
    return save_model(path, nodes, [("x", [1, 3, size, size])], [("y", [1, 16, None, None])], inits)


def residual_model(path: Path, seed: int = 0, rhs: str = "b") -> Path:
    """A residual block: a = conv(x); s = a + conv(Sign(BN(a))) (an integer Add, which the conv computes by
    accumulating onto a); an integer 2x2 max-pool of s, its threshold, a 1x1 conv. With rhs="a", s = a + a and
    the conv's sums are not used: no conv takes the Add, which runs as ADD."""
    rng = np.random.default_rng(seed)
    inits = {"wa": pm1(rng, (32, 16, 3, 3)), "wb": pm1(rng, (32, 32, 3, 3)), "w2": pm1(rng, (16, 32, 1, 1))}
    nodes = [
        helper.make_node("Sign", ["x"], ["xb"]),
        helper.make_node("Conv", ["xb", "wa"], ["a"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        bn("bn0", "a", "na", 32, 0.0, rng, inits),
        helper.make_node("Sign", ["na"], ["h"]),
        helper.make_node("Conv", ["h", "wb"], ["b"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["a", rhs], ["s"]),
        helper.make_node("MaxPool", ["s"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        bn("bn1", "p", "n", 32, 0.0, rng, inits),
        helper.make_node("Sign", ["n"], ["sb"]),
        helper.make_node("Conv", ["sb", "w2"], ["y"], kernel_shape=[1, 1]),
    ]
    return save_model(path, nodes, [("x", [1, 16, 16, 16])], [("y", [1, 16, None, None])], inits)


def inputs(shape: tuple[int, ...], n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(0.5, 0.5, shape).astype(np.float32) for _ in range(n)]


def program(path: Path, machine: Path | None = None) -> ChewProgram:
    compiled = compile_model(path, "chew", str(machine) if machine else None)
    assert compiled.program is not None
    return compiled.program


def blocks(prog: ChewProgram, mnemonic: str, field: str) -> list[int]:
    """The value of a configured field (CFG.IN in_c, CFG.TILE oc_count) at each `mnemonic` instruction."""
    config: dict[str, int] = {}
    seen = []
    for word in prog.code:
        ins = decode(word)
        config.update({f.name: v for f, v in zip(ins.op.fields, ins.values, strict=True)})
        if ins.op.mnemonic == mnemonic:
            seen.append(config[field])
    return seen


def assert_bit_exact(prog: ChewProgram, model: Path, xs: list[np.ndarray], machine: Path | None = None) -> None:
    done, mismatch = check_program(prog, model, xs, load_machine(machine))
    assert mismatch is None, mismatch.message
    assert done == len(xs)


def test_integer_max_pool_after_an_imagenet_stem_runs_in_channel_blocks(tmp_path: Path) -> None:
    """One output row of the stem's 64 x 112 x 112 int16 map pooled 3x3/2 needs 49 KiB of the 32 KiB ACC:
    the pool runs in channel blocks, every channel pooled once, bit-exact at 224 x 224."""
    path = stem_model(tmp_path / "stem.onnx", 224)
    prog = program(path)
    pooled = blocks(prog, "POOL.I", "in_c")
    assert max(pooled) < 64
    assert sum(pooled) % 64 == 0 and len(set(pooled)) == 1
    assert_bit_exact(prog, path, inputs((1, 3, 224, 224), 1, seed=1))


def test_adds_thresholds_and_pools_block_channels_when_one_row_does_not_fit(tmp_path: Path) -> None:
    """On a 1 KiB ACC (512 sums) the Add's two rows of 32 x 16 sums do not fit, nor the 2x2 pool's two input
    rows and output row (32 x 40 sums): they run in the largest channel blocks that fit (16 and 8 channels),
    bit-exact; on the default machine all 32 channels go at once."""
    path = residual_model(tmp_path / "res.onnx", rhs="a")
    small, default = program(path, TINY_ACC), program(path)
    assert set(blocks(small, "ADD", "oc_count")) == {16}
    assert set(blocks(small, "POOL.I", "in_c")) == {8}
    for mnemonic, field in (("ADD", "oc_count"), ("POOL.I", "in_c"), ("THRESH", "oc_count")):
        assert set(blocks(default, mnemonic, field)) == {32}, mnemonic
    xs = inputs((1, 16, 16, 16), 3, seed=2)
    assert_bit_exact(small, path, xs, TINY_ACC)
    assert_bit_exact(default, path, xs)


def test_a_residual_add_accumulates_in_the_conv(tmp_path: Path) -> None:
    """s = a + conv(h): the conv's tiles start from a's (loaded into ACC), so no ADD runs and neither the
    conv's sums nor s's addends cross DRAM twice; bit-exact on the default and the 1 KiB-ACC machine."""
    path = residual_model(tmp_path / "res.onnx")
    xs = inputs((1, 16, 16, 16), 3, seed=2)
    for machine in (None, TINY_ACC):
        prog = program(path, machine)
        assert blocks(prog, "ADD", "oc_count") == []
        assert_bit_exact(prog, path, xs, machine)
