"""The compiler's library API: ONNX file -> IR at a chosen level -> `.chew`.

The default pipeline, after import to `bnn`:
  bnn-dense-to-conv, bnn-legalize-windows, bnn-decompose-kernels   (bnn -> bnn, for the array's window)
  tile-loops, tile-buffer-alloc              (bnn -> tile, buffers placed)
  convert-tile-to-chewbacca                  (tile -> chewbacca, one op per instruction)
and emission through the ISA encoder.  Import attaches the machine description to the module
(`#chewbacca.machine`); every pass and the emitter read sizes from there.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from xdsl.dialects.builtin import ModuleOp

from compiler.importer import import_with_source
from compiler.pipeline_debug import PassFactory, PassRunner, format_ir, parse_pipeline
from compiler.placement import Placement, array_layers, placement
from compiler.provenance import ModelSource
from dialects import make_context
from dialects.chewbacca import machine_of
from dialects.chewbacca_emit import emit_program
from isa import build
from isa.asm import disassemble
from isa.container import ChewProgram, Planes, Section
from isa.errors import ChewcError, InternalError
from isa.machine import Machine, load_machine
from isa.version import version
from runtime.emulator import verify_program

EMIT_LEVELS = ("bnn", "tile", "chewbacca", "asm", "chew")
# the last pass of each IR level
LEVEL_END = {"bnn": None, "tile": "tile-buffer-alloc", "chewbacca": "convert-tile-to-chewbacca"}


DEFAULT_PIPELINE = ("bnn-dense-to-conv,bnn-legalize-windows,bnn-decompose-kernels,tile-loops,tile-buffer-alloc,"
                    "convert-tile-to-chewbacca")


@dataclass
class Compilation:
    module: ModuleOp
    machine: Machine
    program: ChewProgram | None = None  # None when compilation stopped at an IR level
    placement: Placement | None = None  # with the program: what runs on the array, what on the host


def compile_model(path: str | Path, emit: str = "chew", machine_path: str | None = None,
                  pipeline: str | None = None, *, stop_after: str | None = None,
                  runner: PassRunner | None = None,
                  available: Mapping[str, PassFactory] | None = None, strict: bool = False,
                  first_layer: str = "auto", input_grid: Planes | None = None,
                  input_encoding: str | None = None) -> Compilation:
    """Import `path` and lower it as far as `emit` needs (or through `stop_after`, giving IR).

    `runner` instruments the pipeline (printing, dumps, timing, bisection); `available` is the pass
    registry `pipeline` is parsed against (the chewc passes plus any plugins).  `strict` refuses a
    program that runs more on the host than input binarisation and a float head (`Placement.check_strict`).
    `first_layer` and `input_grid` say how a multi-bit first layer maps (`compiler.importer.import_model`).
    `input_encoding` (unit, q17) declares the input's preprocessing where the model's metadata does not.
    """
    if stop_after is not None and emit not in LEVEL_END:
        raise ChewcError(f"--stop-after gives IR, not --emit={emit}")
    module, source = import_with_source(path, load_machine(machine_path or None), first_layer, input_grid)
    layers = array_layers(module)
    spec = pipeline if pipeline is not None else DEFAULT_PIPELINE
    passes = parse_pipeline(spec, available)
    stop = stop_after if stop_after is not None else LEVEL_END.get(emit)
    names = [p.name for p in passes]
    if stop_after is not None and stop_after not in names:
        raise ChewcError(f"--stop-after={stop_after}: the pipeline has no such pass ({', '.join(names) or 'empty'})")
    if emit == "bnn" and stop_after is None:
        passes = ()
    elif stop in names:
        passes = passes[: names.index(stop) + 1]
    (runner or PassRunner()).run(make_context(), module, passes)
    machine = machine_of(module)  # a pass option may have replaced the machine given
    if emit in LEVEL_END or stop_after is not None:
        return Compilation(module, machine)
    program = emit_program(module)
    program = record_build(program, source, ",".join(str(p.pipeline_pass_spec()) for p in passes), machine,
                           {"first_layer": first_layer, "input_grid": _grid(input_grid)}, input_encoding)
    try:
        verify_program(program, machine)
    except ChewcError as e:  # the compiler's fault, never the model's: no such program may leave it
        raise InternalError(f"the compiled program would not run correctly on '{machine.name}': {e}") from e
    where = placement(layers, program)
    if strict:
        where.check_strict()
    return Compilation(module, machine, program, where)


def record_build(program: ChewProgram, source: ModelSource, pipeline: str, machine: Machine,
                 options: dict[str, str], input_encoding: str | None = None) -> ChewProgram:
    """`program` with its build manifest, the ONNX graph's output types and shapes (`isa.build`) and, in
    its layers section, the ONNX nodes of each layer (`compiler.provenance`)."""
    names = {d.name for d in program.outputs}
    outputs = {name: {"dtype": dtype, "shape": list(shape)} for name, (dtype, shape) in source.outputs.items()
               if name in names}
    declared = source.input_encoding if source.input_encoding in build.ENCODINGS else ""
    manifest = {"chewc": version(), "model_sha256": source.sha256, "pipeline": pipeline, "machine": machine.name,
                "machine_sha256": machine.hash().hex(), "options": options,
                "input_encoding": input_encoding or declared}
    sections = []
    for s in program.sections:
        if (s.kind, s.name) == ("report", "layers"):
            marks = json.loads(s.payload)
            for mark, nodes in zip(marks, source.layer_nodes([m["layer"].split(", ") for m in marks]), strict=True):
                mark["onnx_nodes"] = nodes
            s = Section(s.kind, s.name, json.dumps(marks, sort_keys=True, separators=(",", ":")).encode())
        sections.append(s)
    sections += [build.section(build.MANIFEST, manifest), build.section(build.OUTPUTS, outputs)]
    return dataclasses.replace(program, sections=tuple(sections))


def _grid(grid: Planes | None) -> str:
    return "" if grid is None else f"{grid.bits},{grid.exponent}" + ("" if grid.signed else ",unsigned")


def render(c: Compilation, emit: str, generic: bool = False) -> str | bytes:
    if c.program is None:
        return format_ir(c.module, generic)
    return c.program.to_bytes() if emit == "chew" else disassemble(c.program)
