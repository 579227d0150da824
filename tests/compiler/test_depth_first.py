"""A max-pool of a conv layer's ±1 output runs depth first, on each tile's thresholded rows in FMEM
(`Lowering.pool_of_bits`), where that moves less than writing the whole map, or keeping it, for the pool:
on the quarter machine, VGG's first binary layer then fits blocks outermost and reads its weights once."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.driver import compile_model
from dialects import tile
from runtime.reference import check_program
from runtime.emulator import emulate
from tests.helpers import EXAMPLES, REPO, example_inputs

VGG = EXAMPLES / "vgg_cifar.onnx"


def test_vgg_pools_its_first_layer_tile_by_tile_on_the_quarter_machine() -> None:
    module = compile_model(VGG, "tile", "quarter").module
    words = {op.label.data: tile.words_of(op.buffer) for op in module.walk() if isinstance(op, tile.AllocOp)}
    # the unpooled map (6144 words, kept whole on the default machine) never exists: a tile's rows do, and
    # the pooled map, kept for the next layer
    assert words["conv1.bits"] == 256 and words["conv1.map"] == 6144 // 4
    first = next(op for op in module.walk() if isinstance(op, tile.LayerOp) and op.layer.data == "pool1")
    assert "blocks outer" in first.mapping.data
    prog = compile_model(VGG, machine_path="quarter").program
    assert prog is not None
    assert check_program(prog, VGG, example_inputs(VGG, 2)) == (2, None)
    row = next(r for r in emulate(prog, np.zeros(prog.inputs[0].shape, np.float32)).report.layers if r.layer == "pool1")
    # the layer-wise bound counts its weights once, its input and its pooled output: with the pooled map kept
    # for the next layer it moves less (315,392 bits before, the whole map kept and weights per row tile)
    assert row.dram_bits == row.predicted_dram_bits == 123_904 < row.bound_dram_bits == 148_480


def test_where_the_map_stays_on_chip_anyway_nothing_changes() -> None:
    module = compile_model(VGG, "tile").module  # the default machine keeps the whole map for the pool
    words = {op.label.data: tile.words_of(op.buffer) for op in module.walk() if isinstance(op, tile.AllocOp)}
    assert words["conv1.map"] == 6144 and "conv1.bits" not in words


@pytest.mark.parametrize("name", ["cnn_5x5_7x7", "vgg_cifar"])
def test_depth_first_pools_on_a_4k_fmem_are_exact(name: str) -> None:
    model, machine = EXAMPLES / f"{name}.onnx", str(REPO / "tests" / "machines" / "tiny_fmem.toml")
    compiled = compile_model(model, machine_path=machine)
    assert compiled.program is not None
    bits = [op for op in compile_model(model, "tile", machine).module.walk()
            if isinstance(op, tile.AllocOp) and op.label.data.endswith(".bits")]
    assert bits  # the path under test is taken
    assert check_program(compiled.program, model, example_inputs(model, 2), compiled.machine) == (2, None)
