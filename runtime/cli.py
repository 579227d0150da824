"""`chewc-run`: run a .chew program on the emulator (or a .mlir file on the reference semantics)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from isa.container import ChewProgram, TensorDesc
from isa.errors import ChewcError, MismatchError, cli_main
from isa.machine import load_machine
from runtime.emulator import emulate, load_program


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chewc-run",
        description="Run a .chew program on the ChewBaccaNN emulator and print its outputs and a cycle /\n"
        "energy report; or run a .mlir file at its level's reference semantics (and compare it with an\n"
        "ONNX model).",
        epilog="examples:\n"
        "  chewc-run conv.chew --input x.npy --output y.npy --vdd 0.6\n"
        "  chewc-run res.chew --input x=x.npy --input s=s.npy --report json\n"
        "  chewc-run model.bnn.mlir --input x.npy --check model.onnx\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("program", help=".chew program, or .mlir module")
    parser.add_argument(
        "--input",
        action="append",
        metavar="[NAME=]FILE",
        help="input tensor from a .npy (NAME= picks the program input; optional for a single input) or "
        "all inputs by name from a .npz; repeat for several inputs. Default: seeded random inputs",
    )
    parser.add_argument("--output", metavar="FILE", help="save the outputs: .npy (one output) or .npz (by name)")
    parser.add_argument(
        "--check",
        metavar="REF",
        help="compare exactly: for .chew a reference .npy (one output) or .npz (by name); for .mlir an ONNX model",
    )
    parser.add_argument(
        "--vdd", type=float, help="supply voltage of an operating point of the machine (default: its reference voltage)"
    )
    parser.add_argument("--machine", help="machine description (.toml file or bundled name); default chewbaccann")
    parser.add_argument(
        "--report", choices=("text", "json", "none"), default="text", help="report format (default text)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the random inputs used without --input")
    parser.add_argument("--samples", type=int, default=1, help=".mlir only: random inputs to check without --input")
    return parser


def _load(path: Path) -> np.ndarray | dict[str, np.ndarray]:
    if not path.is_file():
        raise ChewcError(f"cannot read {path}: no such file")
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise ChewcError(f"cannot read {path}: not a .npy/.npz file ({e})") from e
    if isinstance(loaded, np.lib.npyio.NpzFile):
        return {k: loaded[k] for k in loaded.files}
    return loaded


def _inputs(program: ChewProgram, specs: Sequence[str] | None, seed: int) -> dict[str, np.ndarray]:
    names = [d.name for d in program.inputs]
    if not specs:
        rng = np.random.default_rng(seed)
        return {d.name: _random(rng, d) for d in program.inputs}
    given: dict[str, np.ndarray] = {}
    for spec in specs:
        name, sep, file = spec.rpartition("=")
        loaded = _load(Path(file))
        if isinstance(loaded, dict):
            given.update(loaded)
        elif sep:
            given[name] = loaded
        elif len(names) == 1:
            given[names[0]] = loaded
        else:
            raise ChewcError(f"--input {spec}: the program has inputs {', '.join(names)}: write NAME={file}")
    return given


def _random(rng: np.random.Generator, desc: TensorDesc) -> np.ndarray:
    if desc.dtype == "bits":
        return np.where(rng.random(desc.shape) < 0.5, -1, 1).astype(np.int8)
    return rng.integers(-128, 128, desc.shape).astype(np.int16)


def _check(outputs: dict[str, np.ndarray], ref_path: Path) -> str:
    loaded = _load(ref_path)
    refs = loaded if isinstance(loaded, dict) else dict(zip(list(outputs)[:1], [loaded], strict=True))
    if not isinstance(loaded, dict) and len(outputs) != 1:
        raise ChewcError(f"{ref_path}: the program has {len(outputs)} outputs: give the reference as a .npz by name")
    for name, want in refs.items():
        if name not in outputs:
            raise ChewcError(f"{ref_path}: '{name}' is not an output of the program ({', '.join(outputs)})")
        got = outputs[name]
        if got.shape != want.shape:
            raise MismatchError(f"output '{name}' has shape {list(got.shape)}, the reference {list(want.shape)}")
        diff = np.argwhere(got != want)
        if diff.size:
            at = tuple(int(i) for i in diff[0])
            raise MismatchError(
                f"output '{name}' differs at index {at}: got {got[at]}, reference {want[at]} "
                f"({len(diff)} of {got.size} elements differ)"
            )
    return f"check: every output equals {ref_path} ({', '.join(refs)})"


def _describe(name: str, value: np.ndarray) -> str:
    """One line per output: every value when few, else statistics and the first values."""
    flat = value.ravel()
    head = f"{name} {value.dtype}[{','.join(map(str, value.shape))}]"
    if flat.size <= 32:
        return f"{head} = {' '.join(map(str, flat))}"
    first = " ".join(map(str, flat[:8]))
    return f"{head}: min {flat.min()}, max {flat.max()}, mean {flat.mean():.3f}; first values {first} ..."


@cli_main("chewc-run")
def main(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    if args.program.endswith(".mlir"):
        from runtime.mlir_run import run_mlir

        return run_mlir(args)
    machine = load_machine(args.machine)
    program = load_program(args.program)
    inputs = _inputs(program, args.input, args.seed)
    result = emulate(program, inputs, machine, args.vdd)
    if args.output:
        out = Path(args.output)
        if out.suffix == ".npz":
            np.savez(out, **result.outputs)  # type: ignore[arg-type]  # numpy's stub types **kwds as bool
        elif len(result.outputs) == 1:
            np.save(out, next(iter(result.outputs.values())))
        else:
            raise ChewcError(f"--output {out}: the program has {len(result.outputs)} outputs: use a .npz file")
    checked = _check(result.outputs, Path(args.check)) if args.check else None
    if args.report == "json":
        outputs = {
            k: {"dtype": str(v.dtype), "shape": list(v.shape), "min": int(v.min()), "max": int(v.max())}
            for k, v in result.outputs.items()
        }
        print(json.dumps({"outputs": outputs, "check": checked, "report": result.report.to_dict()}, indent=2))
        return 0
    if program.inputs and not args.input:
        print(f"inputs: random (seed {args.seed})")
    for name, value in result.outputs.items():
        print(_describe(name, value))
    if checked:
        print(checked)
    if args.report == "text":
        print(result.report.to_text(), end="")
    return 0
