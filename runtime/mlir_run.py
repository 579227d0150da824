"""Execute a textual IR module with the reference semantics of its level, and check it against ONNX.

Shared by `chewc-run FILE.mlir` and the tests: parse -> verify -> run @main on each input -> compare
every output with the ONNX model run by the reference executor on the same input.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from xdsl.dialects.builtin import ModuleOp
from xdsl.parser import Parser
from xdsl.utils.exceptions import ParseError, VerifyException

from dialects import make_context
from runtime.bnn_interp import input_shape, run_module
from dialects.chewbacca import machine_of
from isa.errors import ChewcError, MismatchError, one_line
from isa.files import read_text
from isa.machine import Machine, load_machine
from runtime import check
from runtime.check import Mismatch
from runtime.reference import OnnxReference


def parse_module(text: str, origin: str) -> ModuleOp:
    try:
        module = Parser(make_context(), text, origin).parse_module()
        module.verify()
    except ParseError as e:
        raise ChewcError(one_line(str(e))) from e
    except VerifyException as e:
        raise ChewcError(f"{origin}: {one_line(str(e))}") from e
    return module


def load_inputs(paths: Sequence[str] | None, shape: tuple[int, ...], seed: int, count: int) -> list[np.ndarray]:
    """Inputs from .npy/.npz files (one input, or a stack along a leading axis); else seeded random ones."""
    if not paths:
        if count < 1:
            raise ChewcError(f"--samples {count}: run at least one sample")
        rng = np.random.default_rng(seed)
        return [check.random_image(rng, shape) for _ in range(count)]  # as chewc-run draws them for .chew
    out: list[np.ndarray] = []
    for p in paths:
        path = Path(p)
        loaded = check.load_arrays(path)
        for a in loaded.values() if isinstance(loaded, dict) else [loaded]:
            if a.shape == shape:
                out.append(a.astype(np.float32))
            elif a.shape[1:] == shape:
                out.extend(x.astype(np.float32) for x in a)
            else:
                raise ChewcError(f"{path}: input of shape {a.shape} does not fit the model input {shape}")
    return out


def compare(names: Sequence[str], got: Sequence[np.ndarray], want: Mapping[str, np.ndarray]) -> Mismatch | None:
    """The first output (named `names`) that differs from the reference outputs (exactly), or None."""
    return check.compare(0, dict(zip(names, got, strict=True)), want)


def level_of(module: ModuleOp) -> str:
    """The lowest dialect level present: chewbacca, tile or bnn."""
    names = {op.dialect_name() for op in module.walk()}
    return "chewbacca" if "chewbacca" in names else "tile" if "tile" in names else "bnn"


def execute(module: ModuleOp, inputs: Sequence[np.ndarray], machine: Machine | None = None) -> tuple[np.ndarray, ...]:
    """Run @main of a module at any level with that level's reference semantics, on the machine the
    module carries (`machine`, when given, must be that one)."""
    level = level_of(module)
    m = machine_of(module)
    if machine is not None and machine.hash() != m.hash():
        raise ChewcError(f"the module is compiled for machine '{m.name}', not for '{machine.name}' (--machine)")
    if level == "bnn":
        return run_module(module, inputs)
    if level == "tile":
        from runtime.tile_interp import run_tile

        return run_tile(module, inputs, m)
    from runtime.chewbacca_interp import run_chewbacca

    return run_chewbacca(module, inputs, m)


def output_names(module: ModuleOp) -> list[str]:
    from runtime.bnn_interp import find_function

    fn = find_function(module)
    attr = fn.attributes.get("bnn.outputs")
    n = len(fn.function_type.outputs.data)
    return [s.data for s in attr.data] if attr is not None else [f"result{i}" for i in range(n)]


def check_module(module: ModuleOp, model_path: str, inputs: Sequence[np.ndarray], machine: Machine | None = None,
                 outputs: list[tuple[np.ndarray, ...]] | None = None) -> tuple[int, Mismatch | None]:
    """Run module and reference on each input: (inputs that matched, first mismatch).

    The module's results are appended to `outputs` when given, so a caller needing them runs it once.
    """
    reference = OnnxReference(model_path)
    names = output_names(module)
    for i, x in enumerate(inputs):
        got = execute(module, [x], machine)
        if outputs is not None:
            outputs.append(got)
        mismatch = check.compare(i, dict(zip(names, got, strict=True)), reference.run(x))
        if mismatch is not None:
            return i, mismatch
    return len(inputs), None


def run_mlir(args: argparse.Namespace) -> int:
    """`chewc-run FILE.mlir [--input X.npy] [--check MODEL.onnx] [--output Y.npy]`."""
    path = Path(args.program)
    module = parse_module(read_text(path, "IR file"), str(path))
    inputs = load_inputs(args.input, input_shape(module), args.seed, args.samples)
    machine = load_machine(args.machine) if args.machine else None
    results: list[tuple[np.ndarray, ...]] = []
    if args.check:
        done, mismatch = check_module(module, args.check, inputs, machine, results)
        if mismatch is not None:
            raise MismatchError(mismatch.message)
        print(f"bit-exact: {done} input(s), every output equals the ONNX reference ({args.check})")
    else:
        results = [execute(module, [x], machine) for x in inputs]
        for name, value in zip(output_names(module), results[-1], strict=True):
            print(f"{name} = {np.array2string(np.asarray(value), threshold=64)}")
    if args.output:
        np.save(args.output, np.stack([np.asarray(r[0]) for r in results]) if len(results) > 1 else np.asarray(results[0][0]))
    return 0
