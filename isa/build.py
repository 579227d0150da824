"""What a compiled program records about its build, as sections of the `.chew` (data, never code):

- `build manifest`: the chewc version, the sha256 of the ONNX model, the pass pipeline with its options,
  the machine description (name and parameter digest), the compile options and the input encoding the
  model declares (its metadata `chewc.input`: unit or q17, "" when none), so a program can be traced
  back to exactly what produced it and a data set preprocessed for it;
- `build outputs`: each program output's element type and shape in the ONNX graph (a dynamic batch
  dimension as null), so that the runtime returns what onnxruntime returns for the graph.
"""

from __future__ import annotations

import json
from typing import Any

from isa.container import ChewProgram, Section
from isa.errors import ChewcError

KIND = "build"
MANIFEST, OUTPUTS = "manifest", "outputs"
MANIFEST_FIELDS = ("chewc", "model_sha256", "pipeline", "machine", "machine_sha256", "options", "input_encoding")
ENCODINGS = ("unit", "q17")  # pixel/255 in [0, 1]; CNV's Q1.7 codes of 2*pixel/255 - 1
DTYPES = ("float32", "float64", "float16", "int8", "int16", "int32", "int64", "uint8", "bool")


def section(name: str, value: dict[str, Any]) -> Section:
    return Section(KIND, name, json.dumps(value, sort_keys=True, separators=(",", ":")).encode())


def _read(prog: ChewProgram, name: str) -> dict[str, Any] | None:
    found = next((s for s in prog.sections if s.kind == KIND and s.name == name), None)
    if found is None:
        return None
    try:
        value = json.loads(found.payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ChewcError(f"section '{KIND} {name}': not JSON ({e})") from e
    if not isinstance(value, dict):
        raise ChewcError(f"section '{KIND} {name}': must be a JSON object")
    return value


def manifest(prog: ChewProgram) -> dict[str, Any] | None:
    """The program's build manifest, checked; None for a program without one (e.g. assembled by hand)."""
    value = _read(prog, MANIFEST)
    if value is None:
        return None
    for key in MANIFEST_FIELDS:
        if key not in value:
            raise ChewcError(f"section '{KIND} {MANIFEST}': missing '{key}'")
    if not all(isinstance(value[k], str) for k in MANIFEST_FIELDS if k != "options") or not isinstance(
            value["options"], dict):
        raise ChewcError(f"section '{KIND} {MANIFEST}': its fields are strings, and 'options' an object")
    if value["input_encoding"] not in ("", *ENCODINGS):
        raise ChewcError(f"section '{KIND} {MANIFEST}': input_encoding must be one of {', '.join(ENCODINGS)} or empty")
    return value


def model_outputs(prog: ChewProgram) -> dict[str, tuple[str, tuple[int | None, ...]]]:
    """Each output's ONNX element type and shape (None: a dynamic dimension), for the outputs recorded."""
    value = _read(prog, OUTPUTS) or {}
    names = {d.name for d in prog.outputs}
    out = {}
    for name, entry in value.items():
        what = f"section '{KIND} {OUTPUTS}': output '{name}'"
        if name not in names:
            raise ChewcError(f"{what} is not an output of the program")
        if not isinstance(entry, dict) or entry.get("dtype") not in DTYPES or not isinstance(entry.get("shape"), list):
            raise ChewcError(f"{what}: needs a dtype of {', '.join(DTYPES)} and a shape list")
        shape = entry["shape"]
        if not all(d is None or isinstance(d, int) and not isinstance(d, bool) and 0 < d < 1 << 32 for d in shape):
            raise ChewcError(f"{what}: shape entries are positive sizes or null")
        out[name] = (entry["dtype"], tuple(shape))
    return out


def describe(value: dict[str, Any]) -> list[str]:
    """A manifest as comment lines (chewc-objdump)."""
    opts = ", ".join(f"{k}={v}" for k, v in sorted(value["options"].items()))
    return [f"built by chewc {value['chewc']} from a model of sha256 {value['model_sha256']}",
            f"pipeline {value['pipeline']}",
            f"machine {value['machine']} ({value['machine_sha256']})" + (f"; options {opts}" if opts else ""),
            f"input encoding {value['input_encoding'] or 'not declared'}"]
