"""Tile programs are upstream MLIR where they can be: their loops are `scf.for` and their index
arithmetic `arith`, so xDSL's own canonicalisation runs on them and changes nothing that matters."""

from __future__ import annotations

import pytest
from xdsl.dialects import scf
from xdsl.transforms.canonicalize import CanonicalizePass

from compiler.driver import compile_model
from compiler.passes.convert_tile_to_chewbacca import ConvertTileToChewbaccaPass
from dialects import make_context, tile
from dialects.chewbacca_emit import emit_program
from tests.helpers import EXAMPLES


@pytest.mark.parametrize("name", ["vgg_cifar", "resnet18_32", "groupnet4_32", "cnn_5x5_7x7"])
@pytest.mark.slow
def test_canonicalised_tile_programs_lower_to_the_same_instructions(name: str) -> None:
    path = EXAMPLES / f"{name}.onnx"
    module = compile_model(path, "tile").module
    loops = [op for op in module.walk() if isinstance(op, scf.ForOp)]
    assert loops and all(op.attributes[tile.LOOP_UNIT].data in tile.LOOP_UNITS for op in loops)  # type: ignore[attr-defined]
    CanonicalizePass().apply(make_context(), module)
    module.verify()
    ConvertTileToChewbaccaPass().apply(make_context(), module)
    got, want = emit_program(module), compile_model(path).program
    assert want is not None
    # the same instructions, data and tensors (the driver adds the build record and each layer's ONNX nodes)
    assert (got.code, got.data, got.inputs, got.outputs) == (want.code, want.data, want.inputs, want.outputs)
