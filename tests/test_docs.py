"""The user guide's generated parts are current: docs/networks.md's op table is the importer's own."""

from __future__ import annotations

from compiler import opdoc
from compiler.importer import BINARISERS
from compiler.threshold_folding import AFFINE_OPS, SHAPE_OPS
from runtime.onnx_ref import HOST_OPS


def test_the_op_table_of_the_guide_is_current() -> None:
    text = opdoc.DOC.read_text(encoding="utf-8")
    assert opdoc.render(text) == text, "docs/networks.md is stale: run python -m compiler.opdoc"
    assert opdoc.main(["--check"]) == 0


def test_the_op_table_lists_every_op_the_importer_knows() -> None:
    table = opdoc.table()
    for op in HOST_OPS | BINARISERS | AFFINE_OPS | SHAPE_OPS:
        assert f"| `{op}`" in table
    assert "| `Conv` | a binary conv" in table and "| `Softmax` | - | yes |" in table
