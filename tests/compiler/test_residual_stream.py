"""A residual stream s = s + Conv(Sign(s - 0.5)) accumulates each conv onto s in ACC (`compiler.layers`):
no ADD where partial sums provably fit int16; where they may not, one CONV per tile adds the whole conv at
once (the Add's own overflow behaviour); and an ADD after all where no such tiling fits the machine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from compiler.driver import compile_model
from compiler.layers import conv_group
from dialects import bnn
from isa.instruction import decode
from runtime.reference import check_program

REPO = Path(__file__).resolve().parents[2]


def stream_model(path: Path, blocks: int, channels: int, k: int, size: int = 2) -> Path:
    """s0 = Conv k x k (pad 'same') of Sign(x); `blocks` times s = s + Conv(Sign(s - 0.5)); y = Sign(s - 0.5).
    Every sum is even (an even number of in-image ±1 taps), so no Sign sees 0."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(np.array(0.5, np.float32), "half")]
    nodes = [helper.make_node("Sign", ["x"], ["a0"])]
    s = ""
    for i in range(blocks + 1):
        inits.append(numpy_helper.from_array(rng.choice([-1.0, 1.0], (channels, channels, k, k)).astype(np.float32), f"w{i}"))
        nodes.append(helper.make_node("Conv", [f"a{i}", f"w{i}"], [f"c{i}"], kernel_shape=[k, k], pads=[k // 2] * 4))
        if i:
            nodes.append(helper.make_node("Add", [s, f"c{i}"], [f"s{i}"]))
        s = f"s{i}" if i else "c0"
        nodes += [helper.make_node("Sub", [s, "half"], [f"d{i}"]), helper.make_node("Sign", [f"d{i}"], [f"a{i + 1}"])]
    shape = [1, channels, size, size]
    graph = helper.make_graph(nodes, "stream", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info(f"a{blocks + 1}", TensorProto.FLOAT, shape)], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    return path


def mnemonics(path: Path, machine: str | None = None) -> list[str]:
    compiled = compile_model(path, "chew", machine)
    assert compiled.program is not None
    xs = [np.random.default_rng(i).normal(size=(1, 16 * 6, 2, 2)).astype(np.float32) for i in range(2)]
    done, mismatch = check_program(compiled.program, path, xs, compiled.machine)
    assert mismatch is None and done == 2
    return [decode(w).op.mnemonic for w in compiled.program.code]


@pytest.mark.slow
def test_the_stream_accumulates_in_acc_and_only_provably_safe_partial_sums_split(tmp_path: Path) -> None:
    # 96 channels of 7x7: each conv is within +-4704, so s5 + c6 (7 convs) may pass int16 and s4 + c5 may not
    path = stream_model(tmp_path / "s.onnx", 6, 96, 7)
    module = compile_model(path, "bnn", stop_after="bnn-decompose-kernels").module
    adds = [op for op in module.walk() if isinstance(op, bnn.AddOp)]
    groups = [conv_group(op.output) for op in adds]
    assert all(g is not None and g.residual is not None and len(g.convs) == 1 for g in groups)
    assert [g.partial_sums_fit for g in groups if g] == [True] * 5 + [False]
    assert "ADD" not in mnemonics(path)


@pytest.mark.slow
def test_an_add_remains_where_one_conv_per_tile_does_not_fit(tmp_path: Path) -> None:
    """On a 256-word WMEM one output channel's 6 groups x 49 taps (294 words) do not fit: the convs run in
    chunks of channel groups, and the one Add whose partial sums may overflow stays an ADD."""
    path = stream_model(tmp_path / "s.onnx", 6, 96, 7)
    ops = mnemonics(path, str(REPO / "tests" / "machines" / "tiny_wmem.toml"))
    assert ops.count("ADD") == 1  # the whole 96 x 2 x 2 sum at once
