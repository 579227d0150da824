"""The compiler's library API: ONNX file -> IR at a chosen level -> `.chew`.

The default pipeline, after import to `bnn`:
  bnn-decompose-kernels, bnn-dense-to-conv   (bnn -> bnn, for the array's window)
  tile-loops, tile-buffer-alloc              (bnn -> tile, buffers placed)
  convert-tile-to-chewbacca                  (tile -> chewbacca, one op per instruction)
and emission through the ISA encoder.  Every pass reads sizes from the machine description.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass, PassPipeline
from xdsl.printer import Printer
from xdsl.utils.arg_spec import ArgSpecParseError

from compiler.emit import emit_program
from compiler.importer import import_model
from compiler.passes import get_all_passes
from dialects import make_context
from isa.asm import disassemble
from isa.container import ChewProgram
from isa.errors import ChewcError
from isa.machine import Machine, load_machine

EMIT_LEVELS = ("bnn", "tile", "chewbacca", "asm", "chew")
# the last pass of each IR level
LEVEL_END = {"bnn": None, "tile": "tile-buffer-alloc", "chewbacca": "convert-tile-to-chewbacca"}


def default_pipeline(machine: Machine, machine_path: str = "") -> str:
    window = min(machine.array.window_h, machine.array.window_w)
    on = f'{{machine="{machine_path}"}}' if machine_path else ""
    return ",".join([
        f"bnn-decompose-kernels{{max-kernel={window}}}",
        f"bnn-dense-to-conv{{window={window} lanes={machine.array.lanes}}}",
        f"tile-loops{on}",
        f"tile-buffer-alloc{on}",
        f"convert-tile-to-chewbacca{on}",
    ])


def parse_pipeline(spec: str, callback: Callable[..., None] | None = None) -> tuple[ModulePass, ...]:
    try:
        return PassPipeline.parse_spec(get_all_passes(), spec, callback).passes
    except (ValueError, ArgSpecParseError) as e:  # ArgSpecParseError is a BaseException
        raise ChewcError(f"bad pass pipeline '{spec}': {e}") from e


def print_module(module: ModuleOp, generic: bool = False) -> str:
    out = io.StringIO()
    Printer(stream=out, print_generic_format=generic).print_op(module)
    out.write("\n")
    return out.getvalue()


@dataclass
class Compilation:
    module: ModuleOp
    machine: Machine
    program: ChewProgram | None = None


def compile_model(path: str | Path, emit: str = "chew", machine_path: str | None = None,
                  pipeline: str | None = None) -> Compilation:
    """Import `path` and lower it as far as `emit` needs."""
    machine = load_machine(machine_path or None)
    module = import_model(path)
    if emit == "bnn":
        return Compilation(module, machine)
    spec = pipeline if pipeline is not None else default_pipeline(machine, machine_path or "")
    passes = parse_pipeline(spec)
    stop = LEVEL_END.get(emit)
    ctx = make_context()
    for p in passes:
        p.apply(ctx, module)
        module.verify()
        if stop is not None and p.name == stop:
            return Compilation(module, machine)
    if emit in LEVEL_END:
        return Compilation(module, machine)
    return Compilation(module, machine, emit_program(module, machine))


def render(c: Compilation, emit: str, generic: bool = False) -> str | bytes:
    if emit == "chew":
        assert c.program is not None
        return c.program.to_bytes()
    if emit == "asm":
        assert c.program is not None
        return disassemble(c.program)
    return print_module(c.module, generic)
