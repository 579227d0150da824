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


def test_the_python_in_the_docs_imports() -> None:
    """Every import of chewc's own modules in a ```python block of the README and the docs names what the
    code has (third-party ones, torch and brevitas, are the extras' business)."""
    import re

    from tests.helpers import REPO

    lines = []
    for doc in (REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))):
        for block in re.findall(r"```python\n(.*?)```", doc.read_text(encoding="utf-8"), re.S):
            lines += [(doc.name, line) for line in block.splitlines()
                      if re.match(r"(from|import) (compiler|dialects|isa|runtime|fuzz)\b", line)]
    assert lines
    for name, line in lines:
        try:
            exec(line, {})  # noqa: S102 -- our own docs' import lines
        except ImportError as e:
            raise AssertionError(f"{name}: {line!r}: {e}") from e
