"""Run a `.chew` program on several inputs and check it against its ONNX model, bit for bit.

Shared by `chewc-run PROG.chew --check MODEL.onnx` and the compiler's tests; the ONNX side is
`runtime.reference`. The model's one
non-initializer input takes each input (reshaped to its declared shape, batch 1); every program output
is compared with the model output of the same name (a single output with the single model output),
exactly, as float64 values.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from isa import build
from isa.container import ChewProgram, TensorDesc, to_chw
from isa.errors import ChewcError, first_line
from isa.files import MiB, read_bytes
from isa.machine import Machine
from runtime.emulator import DEFAULT_MAX_WORK, EmulationResult, emulate, load_program, program_machine
from runtime.host import same_shape

if TYPE_CHECKING:
    from runtime.reference import OnnxReference

MAX_ARRAY_BYTES = 1024 * MiB  # inputs and references: a data set of 10,000 CIFAR images is 30 MiB


@dataclass(frozen=True)
class Mismatch:
    """The first difference found: which input (0-based), which output, where, and a one-line message."""

    input: int
    output: str
    index: tuple[int, ...] | None  # in the reference's shape; None when the sizes differ
    detail: str  # what differs, e.g. "output 'y' differs at index (0, 3): got 1.0, reference -1.0 (...)"

    @property
    def message(self) -> str:
        return f"input #{self.input}: {self.detail}"

    def describe(self) -> str:
        return self.detail


def random_image(rng: np.random.Generator, shape: Sequence[int]) -> np.ndarray:
    """The seeded input chewc-run uses when none is given: float32 in [0, 1), an image's value range."""
    return rng.random(tuple(shape), dtype=np.float32)


def load_arrays(path: Path) -> np.ndarray | dict[str, np.ndarray]:
    """A .npy array, or a .npz file's arrays by name (read whole, at most MAX_ARRAY_BYTES unpacked)."""
    data = read_bytes(path, "array file", MAX_ARRAY_BYTES)
    try:
        if data[:4] == b"PK\x03\x04":  # a .npz: a zip whose members must not unpack past the limit
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                unpacked = sum(i.file_size for i in z.infolist())
            if unpacked > MAX_ARRAY_BYTES:
                raise ChewcError(f"cannot read {path}: its arrays unpack to {unpacked} bytes (at most {MAX_ARRAY_BYTES})")
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                return {k: npz[k] for k in npz.files}
        return np.load(io.BytesIO(data), allow_pickle=False)
    except ChewcError:
        raise
    except Exception as e:  # numpy and zipfile raise many types for a malformed file
        raise ChewcError(f"cannot read {path}: not a .npy/.npz file ({first_line(e)})") from e


def fit(desc: TensorDesc, value: np.ndarray) -> np.ndarray:
    """`value` in the shape of program input `desc`, if it has that shape up to dimensions of size 1."""
    arr = np.asarray(value)
    if not same_shape(arr.shape, desc.shape):
        raise ChewcError(f"input '{desc.name}' has shape {list(arr.shape)}, the program expects {list(desc.shape)}")
    return arr.reshape(desc.shape)


def model_shaped(prog: ChewProgram, runs: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The outputs of `runs` as onnxruntime returns them for the graph (`isa.build.model_outputs`): in its
    element type and shape, the runs along a dynamic batch dimension, or stacked on a new leading axis
    when the graph's batch is fixed. Outputs the program does not record keep its [C, H, W] (stacked)."""
    recorded = build.model_outputs(prog)
    out = {}
    for name in runs[0]:
        values = [r[name] for r in runs]
        if name not in recorded:
            out[name] = values[0] if len(values) == 1 else np.stack(values)
            continue
        dtype, shape = recorded[name]
        one = tuple(1 if d is None else d for d in shape)
        if not same_shape(values[0].shape, one):
            raise ChewcError(f"output '{name}': the program's {list(values[0].shape)} is not the model's {list(shape)}")
        cast = [v.reshape(one).astype(dtype) for v in values]
        if len(cast) == 1:
            out[name] = cast[0]
        elif shape and shape[0] is None:
            out[name] = np.concatenate(cast)
        else:
            out[name] = np.stack(cast)
    return out


def compare(i: int, got: Mapping[str, np.ndarray], want: Mapping[str, np.ndarray]) -> Mismatch | None:
    """The first program output of input #i that differs from the reference outputs, if any."""
    if len(got) == 1 and len(want) == 1:
        pairs = [(next(iter(got)), next(iter(got.values())), next(iter(want.values())))]
    else:
        missing = [name for name in got if name not in want]
        if missing:
            raise ChewcError(f"program output '{missing[0]}' is not an output of the model ({', '.join(want)})")
        pairs = [(name, value, want[name]) for name, value in got.items()]
    for name, g, w in pairs:
        g64, w64 = np.asarray(g, np.float64), np.asarray(w, np.float64)
        if g64.size != w64.size:
            message = f"output '{name}' has {g64.size} values, the reference {w64.size}"
            return Mismatch(i, name, None, message)
        g64 = g64.reshape(w64.shape)
        diff = np.argwhere((g64 != w64) & ~(np.isnan(g64) & np.isnan(w64)))
        if diff.size:
            at = tuple(int(k) for k in diff[0])
            message = (
                f"output '{name}' differs at index {at}: got {g64[at]:g}, reference {w64[at]:g} "
                f"({len(diff)} of {w64.size} elements differ)"
            )
            return Mismatch(i, name, at, message)
    return None


def run_program(
    program: ChewProgram | bytes | str | Path,
    runs: Sequence[Mapping[str, np.ndarray]],
    machine: Machine | None = None,
    vdd: float | None = None,
    reference: OnnxReference | None = None,
    max_work: int = DEFAULT_MAX_WORK,
) -> tuple[list[EmulationResult], Mismatch | None]:
    """Emulate `program` once per input set; with a reference, stop at the first output that differs."""
    prog = load_program(program)
    machine = machine or program_machine(prog)
    if reference is not None and len(prog.inputs) != 1:
        raise ChewcError(f"checking against an ONNX model needs a one-input program; this one has {len(prog.inputs)}")
    results = []
    for i, feeds in enumerate(runs):
        missing = [d.name for d in prog.inputs if d.name not in feeds]
        if missing:
            raise ChewcError(f"input '{missing[0]}' not given")
        fitted = {d.name: fit(d, feeds[d.name]) for d in prog.inputs}
        results.append(emulate(prog, fitted, machine, vdd, max_work=max_work))
        if reference is not None:
            mismatch = compare(i, results[-1].outputs, reference.run(fitted[prog.inputs[0].name], i))
            if mismatch is not None:
                return results, mismatch
    return results, None


@dataclass(frozen=True)
class Probe:
    """Where a layer's result (an ONNX tensor) lies complete in DRAM: after instruction `after`."""

    after: int
    name: str
    desc: TensorDesc  # its dram_addr is the address in `mem`
    mem: str = "dram"


def probes_of(prog: ChewProgram) -> list[Probe]:
    section = next((s for s in prog.sections if s.kind == "debug" and s.name == "probes"), None)
    if section is None:
        raise ChewcError("the program has no layer probes to compare (a .chew compiled by chewc has them)")
    out = []
    for p in json.loads(section.payload):
        out.append(Probe(p["after"], p["name"], TensorDesc("probe", p["dtype"], to_chw(p["shape"]), p["addr"]), p["mem"]))
    return out


