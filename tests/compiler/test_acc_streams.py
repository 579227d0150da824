"""Residual streams kept in ACC between layers (`tile-loops`, `compiler.layers.residual_user`): an int16
map whose only readers are its own threshold and the conv group that adds onto it stays in ACC, and the
group accumulates onto it in place; where a layer in between does not fit beside it, the function is
lowered again with that map in DRAM."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from xdsl.dialects import func

from compiler.bounds import layer_bounds, map_bits
from compiler.driver import compile_model
from dialects import bnn, tile
from runtime.reference import check_program
from runtime.emulator import emulate
from tests.compiler.test_residual_stream import stream_model
from tests.helpers import REPO

RESNET = REPO / "examples" / "models" / "resnet18_32.onnx"


def labels(path: Path, machine: str | None = None) -> list[str]:
    module = compile_model(path, "tile", machine).module
    return [op.label.data for op in module.walk() if isinstance(op, tile.AllocOp) and op.buffer.type.space.data == "acc"]


def exact(path: Path, shape: tuple[int, ...], machine: str | None = None) -> int:
    """DRAM bits of one run, after checking two inputs bit for bit against onnxruntime."""
    compiled = compile_model(path, "chew", machine)
    assert compiled.program is not None
    xs = [np.random.default_rng(i).normal(size=shape).astype(np.float32) for i in range(2)]
    done, mismatch = check_program(compiled.program, path, xs, compiled.machine)
    assert mismatch is None and done == 2
    dram = emulate(compiled.program, xs[0][0], compiled.machine).report.traffic_bits["dram"]
    return dram["read"] + dram["write"]


def test_a_stream_stays_in_acc_and_only_constants_and_the_ends_cross_dram(tmp_path: Path) -> None:
    # s = s + Conv(Sign(s - 0.5)) three times over 16 x 8 x 8 (1024 int16 words, far below ACC's 16384)
    path = stream_model(tmp_path / "s.onnx", 3, 16, 3, size=8)
    assert [name for name in labels(path) if name.endswith(".stream")] == ["conv1.stream"]  # one map, in place
    module = compile_model(path, "bnn", stop_after="bnn-decompose-kernels").module
    constants = sum(b.constant_bits for b in layer_bounds(module).layers)
    fn = next(op for op in module.walk() if isinstance(op, func.FuncOp))
    first = next(op for op in fn.body.block.ops if isinstance(op, bnn.Conv2dOp))
    ret = fn.body.block.last_op
    assert isinstance(ret, func.ReturnOp)
    # the ±1 input the host binarised is read once, the ±1 output written once: nothing else but constants
    assert exact(path, (1, 16, 8, 8)) == constants + map_bits(first.input) + map_bits(ret.arguments[0])


@pytest.mark.slow
def test_resnet18_keeps_its_streams_in_acc_at_32(tmp_path: Path) -> None:
    streams = [name for name in labels(RESNET) if name.endswith(".stream")]
    assert len(streams) == 4  # the stem's pooled sums and the three downsampling shortcuts, each kept in place
    machine = tmp_path / "m.toml"
    # an ACC of the stem's stream exactly (16 x 8 x 8 int16): the stream fits, but no conv between fits beside it
    machine.write_text(f'extends = "{REPO / "isa" / "machines" / "chewbaccann.toml"}"\nname = "acc2k"\n'
                       'description = "test: a 2 KiB ACC"\n[memory.acc]\n'
                       'size_bytes = { value = 2048, tag = "A", note = "test" }\n')
    # ... so it goes to DRAM, and the later, smaller streams stay
    assert [name for name in labels(RESNET, str(machine)) if name.endswith(".stream")] == streams[1:]
    assert exact(RESNET, (1, 3, 32, 32), str(machine)) > exact(RESNET, (1, 3, 32, 32))
