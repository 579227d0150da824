"""The compiler's library API: ONNX file -> IR at a chosen level (and, later stages, a `.chew`)."""

from __future__ import annotations

import io
from pathlib import Path

from xdsl.dialects.builtin import ModuleOp
from xdsl.printer import Printer

from compiler.importer import import_model

EMIT_LEVELS = ("bnn",)


def print_module(module: ModuleOp, generic: bool = False) -> str:
    out = io.StringIO()
    Printer(stream=out, print_generic_format=generic).print_op(module)
    out.write("\n")
    return out.getvalue()


def compile_to(path: str | Path, emit: str = "bnn") -> ModuleOp:
    """Import the model and lower it to `emit`."""
    module = import_model(path)
    return module
