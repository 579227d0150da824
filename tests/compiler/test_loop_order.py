"""The mapping search's loop orders and buffers: where row tiles would reload streamed weights, channel
blocks go outermost (each block's weights load once; its row tiles read the whole map, which stays on
chip); where a tile's residual comes in or its int16 sums go out, two accumulators overlap them with
the next tile's compute."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from onnx import helper

from compiler import mapping, schedule
from compiler.driver import compile_model
from compiler.tiling import ConvShape, conv_tilings
from isa.machine import load_machine
from runtime.reference import check_program
from runtime.emulator import emulate
from tests.compiler.test_channel_blocks import bn
from tests.helpers import pm1, save_model


def wide_conv(path: Path, seed: int = 0) -> Path:
    """Sign; 3x3 conv 64 -> 96 on a 32 x 32 map; BN; Sign: a ±1 output the host reads (not kept on chip)."""
    rng = np.random.default_rng(seed)
    inits = {"w": pm1(rng, (96, 64, 3, 3))}
    nodes = [
        helper.make_node("Sign", ["x"], ["xb"]),
        helper.make_node("Conv", ["xb", "w"], ["a"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        bn("bn", "a", "n", 96, 0.0, rng, inits),
        helper.make_node("Sign", ["n"], ["y"]),
    ]
    return save_model(path, nodes, [("x", [1, 64, 32, 32])], [("y", [1, 96, 32, 32])], inits)


def test_blocks_go_outermost_where_weights_would_stream_per_row_tile(tmp_path: Path) -> None:
    model = wide_conv(tmp_path / "wide.onnx")
    # the quarter machine's WMEM (2048 words) holds no more than a block of the 3456 weight words, and its
    # ACC (4096 words) 8 rows of 16 channels: 4 row tiles
    c = compile_model(model, machine_path="quarter")
    assert c.program is not None
    x = np.random.default_rng(1).standard_normal((1, 64, 32, 32)).astype(np.float32)
    _, mismatch = check_program(c.program, model, [x], c.machine)
    assert mismatch is None
    row = next(r for r in emulate(c.program, x[0]).report.layers if r.kind == "conv+threshold")
    assert row.mapping.endswith("blocks outer")
    # the map, the weights and the thresholds in once, the output out once: the layer-wise bound
    assert row.dram_bits == row.predicted_dram_bits == row.bound_dram_bits
    assert abs(row.predicted_cycles - row.cycles) <= 0.02 * row.cycles


def test_two_accumulators_hide_the_residual_and_the_int16_sums() -> None:
    """ResNet-18's first residual add at 224: a 3x3 conv 64 -> 64 on 56 x 56 accumulating onto the int16
    stream, whose int16 sum is the next stream. With one accumulator each tile waits for its residual tile
    and for its sums to leave (2 x 7,168 cycles of DMA a tile of 4 rows); with two, both overlap the next
    tile's compute."""
    m = load_machine()
    layer = schedule.ConvLayer(
        ConvShape("", 64, 56, 56, 64, 56, 56, 1, 1, ((3, 3),), (-1, 1), False, True),
        (schedule.SubGeom(3, 3, 1, 1, "gate", 4),), True)
    found = mapping.search(layer, m)
    assert found.tiling.acc_buffers == 2 and found.describe().endswith("accumulators 2")
    one = min((mapping.Mapping(t, mapping.layer_cost(m, layer, t)) for t in conv_tilings(layer.shape, m)
               if t.acc_buffers == 1), key=lambda p: p.cost.cycles)
    assert found.cost.dram_bits == one.cost.dram_bits
    array = 4 * 56 * 64 * 56  # groups x rows x output channels x columns
    assert found.cost.cycles < 1.05 * array < one.cost.cycles
