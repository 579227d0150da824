"""The ONNX reference a program is checked against: the model's exact reading, beside onnxruntime's.

`OnnxReference` runs the model on one program input at a time (scaled binary layers read exactly,
`runtime.exact`; where onnxruntime's float32 rounding differs, that is recorded, not failed);
`check_program` and `check_layers` compare a program's outputs, or every layer boundary, with it. Apart
from `runtime.check` so that a run that checks against no model does not load onnx.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from math import prod
from pathlib import Path

import numpy as np
import onnx

from isa.container import ChewProgram
from isa.errors import ChewcError
from isa.machine import Machine
from runtime.check import Mismatch, Probe, compare, fit, probes_of, run_program
from runtime.emulator import DEFAULT_MAX_WORK, emulate, load_program
from runtime.exact import exact_model
from runtime.host import unpack
from runtime.onnx_file import read_model
from runtime.onnx_ref import OnnxExecutor, first_input_name, is_qonnx

BINARISERS = ("Sign", "BipolarQuant", "MultiThreshold")


@dataclass(frozen=True)
class Rounding:
    """An input on which onnxruntime's float32 model differs from its exact reading (`runtime.exact`) by
    its own rounding of scaled binary sums: where the first binarised value flips, how many flip, and
    the margin (the binariser's input, exact and as onnxruntime computed it)."""

    input: int
    where: str  # the ONNX tensor, or the output when no binarised tensor differs
    flipped: int  # elements of `where` that differ
    exact: float
    rounded: float

    def describe(self) -> str:
        return (f"input #{self.input}: '{self.where}' differs in {self.flipped} element(s), first where the exact "
                f"value is {self.exact:.9g} and onnxruntime's float32 sums give {self.rounded:.9g}")


class OnnxReference:
    """An ONNX model run on one program input at a time: its exact reading (scaled binary layers as
    exact sums times the scale, `runtime.exact`), which a program must equal, and beside it the float
    model, whose differences from the exact reading are recorded in `rounding`, not failures."""

    def __init__(self, model_path: str | Path) -> None:
        path = Path(model_path)
        self.model = read_model(path)
        self.path = path
        self.input_name = first_input_name(self.model)
        declared = next(i for i in self.model.graph.input if i.name == self.input_name).type.tensor_type
        batch = declared.shape.dim[0] if declared.shape.dim else None
        if batch is not None and not batch.HasField("dim_value"):
            batch.dim_value = 1  # one sample per run; qonnx's executor refuses a feed the declared shape does not fit
        # No declared shape: the sample's, batch 1.
        dims = [d.dim_value if d.HasField("dim_value") else 1 for d in declared.shape.dim]
        self.input_shape = dims if declared.HasField("shape") else None
        self.exact, self.scaled = exact_model(self.model)
        self.outputs = [o.name for o in self.model.graph.output]
        # with scaled layers, both readings also give each binarised tensor and its input, for `locate`
        self.watched = [(n.output[0], n.input[0]) for n in self.model.graph.node
                        if n.op_type in BINARISERS and self.scaled]
        self.names = list(dict.fromkeys([*self.outputs, *(name for pair in self.watched for name in pair)]))
        self.executor = OnnxExecutor(with_outputs(self.exact, self.names), str(path))
        self.float_executor = OnnxExecutor(with_outputs(self.model, self.names), str(path)) if self.scaled else None
        self.rounding: list[Rounding] = []

    def feed(self, x: np.ndarray) -> dict[str, np.ndarray]:
        shape = self.input_shape or [1, *x.shape]
        if prod(shape) != x.size:
            raise ChewcError(f"{self.path}: input of {x.size} values does not fit the model input {shape}")
        return {self.input_name: np.asarray(x, np.float32).reshape(shape)}

    def run(self, x: np.ndarray, index: int = 0) -> dict[str, np.ndarray]:
        """The exact reference outputs; with scaled layers, notes where the float model rounds differently."""
        exact = self.executor.run(self.feed(x), self.names)
        if self.float_executor is not None:
            rounded = self.float_executor.run(self.feed(x), self.names)
            if any(not np.array_equal(exact[k], rounded[k]) for k in self.outputs):
                self.rounding.append(self.locate(index, exact, rounded))
        return {k: exact[k] for k in self.outputs}

    def locate(self, index: int, exact: Mapping[str, np.ndarray], rounded: Mapping[str, np.ndarray]) -> Rounding:
        """The first binarised tensor (in graph order) where the exact and float readings differ, else
        the first output that differs (`exact`, `rounded`: the two readings' outputs and watched tensors)."""
        for name, pre in self.watched:
            flips = np.argwhere(exact[name] != rounded[name])
            if flips.size:
                at = tuple(flips[0])
                return Rounding(index, name, len(flips), float(exact[pre][at]), float(rounded[pre][at]))
        out = next(k for k in self.outputs if not np.array_equal(exact[k], rounded[k]))
        diff = np.argwhere(exact[out] != rounded[out])
        at = tuple(diff[0])
        return Rounding(index, out, len(diff), float(exact[out][at]), float(rounded[out][at]))


def check_program(
    program: ChewProgram | bytes | str | Path,
    model_path: str | Path,
    inputs: Sequence[np.ndarray],
    machine: Machine | None = None,
    vdd: float | None = None,
) -> tuple[int, Mismatch | None]:
    """Check a one-input program against an ONNX model on each input: (inputs that matched, first mismatch)."""
    prog = load_program(program)
    runs = [{d.name: x for d in prog.inputs} for x in inputs]
    results, mismatch = run_program(prog, runs, machine, vdd, OnnxReference(model_path))
    return len(results) - (mismatch is not None), mismatch


def with_outputs(model: onnx.ModelProto, names: Sequence[str]) -> onnx.ModelProto:
    """The model with intermediate tensors `names` exposed as graph outputs (onnxruntime only returns those;
    qonnx's executor returns every tensor already)."""
    have = {o.name for o in model.graph.output}
    missing = [n for n in names if n not in have]
    if is_qonnx(model) or not missing:
        return model
    extended = onnx.ModelProto()
    extended.CopyFrom(model)
    extended.graph.output.extend(onnx.ValueInfoProto(name=n) for n in missing)
    return extended


def check_layers(
    program: ChewProgram | bytes | str | Path,
    model_path: str | Path,
    x: np.ndarray,
    machine: Machine | None = None,
    max_work: int = DEFAULT_MAX_WORK,
) -> tuple[list[tuple[Probe, np.ndarray]], Mismatch | None]:
    """Compare every layer boundary of one run with the ONNX model's tensor of the same name.

    Returns the probes compared (with their values) up to the first that differs, and that mismatch.
    """
    prog = load_program(program)
    probes = probes_of(prog)
    reference = OnnxReference(model_path)
    by_step: dict[int, list[Probe]] = {}
    for p in probes:
        by_step.setdefault(p.after, []).append(p)
    seen: dict[str, np.ndarray] = {}

    def snapshot(index: int, mems: dict[str, np.ndarray]) -> None:
        for p in by_step.get(index, []):
            seen[p.name] = unpack(p.desc, mems[p.mem][p.desc.dram_addr : p.desc.dram_addr + p.desc.words].copy())

    feeds = {d.name: fit(d, x) for d in prog.inputs}
    emulate(prog, feeds, machine, observe=(set(by_step), snapshot), max_work=max_work)
    names = [p.name for p in probes]
    executor = OnnxExecutor(with_outputs(reference.model, names))
    shape = reference.input_shape or [1, *np.shape(x)]
    want = executor.run({reference.input_name: np.asarray(x, np.float32).reshape(shape)}, names)
    compared = []
    for p in probes:
        got, ref = seen[p.name], want[p.name]
        mismatch = compare(0, {p.name: got}, {p.name: ref})
        if mismatch is not None:
            detail = mismatch.detail.replace("output", f"layer tensor (after instruction {p.after})", 1)
            return compared, Mismatch(0, p.name, mismatch.index, detail)
        compared.append((p, got))
    return compared, None
