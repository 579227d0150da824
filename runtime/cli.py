"""`chewc-run`: run a .chew program on the emulator (or a .mlir file on the reference semantics).

A thin command line over `runtime.check.run_program`: inputs from files (a stack along a leading axis
runs once per sample) or seeded random ones, outputs and the report of the last run, and an exact
check against a reference .npy/.npz or an ONNX model.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from isa import build
from isa.container import ChewProgram, TensorDesc
from isa.errors import ChewcError, MismatchError, cli_main
from isa.files import writable, write_output
from isa.machine import Machine, load_machine
from isa.version import add_version
from runtime.check import (
    compare,
    load_arrays,
    model_shaped,
    random_image,
    run_program,
    same_shape,
)
from runtime.emulator import DEFAULT_MAX_WORK, check_machine, emulate, load_program, program_machine
from runtime.plot import plot_layers
from runtime.report import REPORT_SCHEMA_VERSION, Report
from runtime.evaluate import PREPROCESS, encoding_of, evaluate, load_dataset, preprocess, range_warning




def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chewc-run",
        description="Run a .chew program on the ChewBaccaNN emulator and print its outputs and a cycle /\n"
        "energy report; or run a .mlir file at its level's reference semantics (and compare it with an\n"
        "ONNX model).",
        epilog="examples:\n"
        "  chewc-run conv.chew --input x.npy --output y.npy --vdd 0.6\n"
        "  chewc-run res.chew --input x=x.npy --input s=s.npy --report json\n"
        "  chewc-run net.chew --input images.npy --check net.onnx     # images: [N, 3, 32, 32]\n"
        "  chewc-run net.chew --samples 10 --check net.onnx --report none\n"
        "  chewc-run model.bnn.mlir --input x.npy --check model.onnx\n"
        "  chewc-run cnv.chew --dataset cifar10 --preprocess q17 --check cnv.onnx --per-image cnv.csv\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("program", help=".chew program, or .mlir module")
    parser.add_argument(
        "--input",
        action="append",
        metavar="[NAME=]FILE",
        help="input tensor from a .npy (NAME= picks the program input; optional for a single input) or "
        "all inputs by name from a .npz; repeat for several inputs. A stack along a leading axis runs "
        "once per sample. Default: seeded random inputs (f32 in [0, 1))",
    )
    parser.add_argument("--output", metavar="FILE", help="save the outputs: .npy (one output) or .npz (by name)")
    parser.add_argument(
        "--check",
        metavar="REF",
        help="compare exactly: a reference .npy (one output) or .npz (by name), or an ONNX model run on "
        "the same inputs (.mlir: an ONNX model)",
    )
    parser.add_argument(
        "--vdd", type=float, help="supply voltage of an operating point of the machine (default: its reference voltage)"
    )
    parser.add_argument(
        "--machine",
        help="machine description (.toml file or bundled name); default: the bundled machine the program names",
    )
    parser.add_argument(
        "--report", choices=("text", "json", "none"), default="text", help="report format (default text)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the random inputs used without --input")
    parser.add_argument("--samples", type=int, default=1, help="random inputs to run (and check) without --input")
    parser.add_argument(
        "--max-work",
        type=int,
        default=DEFAULT_MAX_WORK,
        metavar="N",
        help=f"refuse a program needing more than N word operations per run (default {DEFAULT_MAX_WORK}; the "
        "count is read off the instruction stream before it runs)",
    )
    parser.add_argument(
        "--check-layers",
        action="store_true",
        help="with --check MODEL.onnx: also compare every layer boundary of the first input with the model's "
        "tensor of the same name",
    )
    parser.add_argument("--sweep-vdd", action="store_true",
                        help="also print energy per inference and latency of the (last) input at each of the machine's "
                        "operating points and midway between them (frequency and leakage interpolated linearly: "
                        "marked as assumptions)")
    parser.add_argument("--plot", metavar="FILE.png",
                        help="draw the (last) run's per-layer energy by component and utilisation, and with "
                        "--sweep-vdd its energy and latency over the operating points (needs the [plot] extra: matplotlib)")
    data = parser.add_argument_group("data sets")
    data.add_argument("--dataset", metavar="NAME|FILE.npz",
                      help="evaluate a labelled set: cifar10 or mnist (from the shared data folder, or $CHEWC_DATA), "
                      "or an .npz with x (uint8 NHWC images, or float NCHW tensors) and y (labels): top-1 accuracy, "
                      "agreement with --check MODEL.onnx (bit-identical outputs), mean energy and latency")
    data.add_argument("--limit", type=int, metavar="N", help="the first N items of the set only")
    data.add_argument("--preprocess", choices=PREPROCESS,
                      help="uint8 pixels to the model's input: unit (pixel/255), q17 (CNV's Q1.7 codes) or none "
                      "(float tensors as given); default: the input encoding the model declares")
    data.add_argument("--per-image", metavar="FILE.csv",
                      help="write each item's label, prediction, reference prediction and match")
    data.add_argument("--workers", type=int, default=1, metavar="N",
                      help="shard the set over N processes on this machine (results identical to one, in order)")
    data.add_argument("--ray", metavar="ADDRESS|local",
                      help="shard the set over a Ray cluster (the [ray] extra); 'local' starts one on this machine")
    add_version(parser)
    return parser


def _evaluate(args: argparse.Namespace, program: ChewProgram, machine: Machine, manifest: dict[str, Any] | None) -> int:
    if args.input or args.samples != 1 or args.check_layers or args.output or args.plot:
        raise ChewcError("--dataset evaluates a set: it takes none of --input, --samples, --check-layers, --output, "
                         "--plot")
    if args.check and not args.check.endswith(".onnx"):
        raise ChewcError("--dataset --check takes the ONNX model (agreement is with its reference)")
    declared = (manifest or {}).get("input_encoding", "")
    how = encoding_of(declared, args.preprocess)
    images, labels = load_dataset(args.dataset, args.limit)
    inputs = preprocess(images, how, program.inputs[0].shape)
    if (warning := range_warning(inputs, declared or how)) is not None:
        print(warning, file=sys.stderr)
    from rich.progress import MofNCompleteColumn, Progress  # a data set's only: a tenth of a one-image start-up

    with Progress(*Progress.get_default_columns(), MofNCompleteColumn(), console=Console(stderr=True),
                  transient=True, disable=not sys.stderr.isatty()) as bar:
        task = bar.add_task(f"{args.dataset}", total=len(inputs))
        result = evaluate(program, inputs, labels, args.check, machine, args.vdd,
                          lambda done: bar.update(task, completed=done), args.workers, args.ray)
    if args.per_image:
        write_output(Path(args.per_image), result.per_image_csv().encode())
    if args.report == "json":
        print(json.dumps({"schema_version": REPORT_SCHEMA_VERSION, "dataset": result.to_dict(),
                          "manifest": manifest}, indent=2))
    else:
        print("\n".join(result.lines()))
    return 0


def _runs(program: ChewProgram, specs: Sequence[str] | None, seed: int, samples: int) -> list[dict[str, np.ndarray]]:
    """One input set per run: seeded random ones, or the given tensors split along a leading stack axis."""
    if samples < 1:
        raise ChewcError(f"--samples {samples}: run at least one sample")
    if not specs:
        rng = np.random.default_rng(seed)
        return [{d.name: _random(rng, d) for d in program.inputs} for _ in range(samples)]
    given = _inputs(program, specs)
    names = [d.name for d in program.inputs]
    extra = sorted(set(given) - set(names))
    if extra:
        raise ChewcError(f"'{extra[0]}' is not an input of the program (inputs: {', '.join(names) or 'none'})")
    stacks = {}
    for d in program.inputs:
        if d.name not in given:
            raise ChewcError(f"input '{d.name}' not given")
        arr = given[d.name]
        if same_shape(arr.shape, d.shape):
            stacks[d.name] = [arr]
        elif arr.ndim > 1 and same_shape(arr.shape[1:], d.shape):
            stacks[d.name] = list(arr)
        else:
            raise ChewcError(
                f"input '{d.name}' has shape {list(arr.shape)}: the program expects {list(d.shape)} "
                "or a stack of them along a leading axis"
            )
    counts = {name: len(stack) for name, stack in stacks.items()}
    if len(set(counts.values())) > 1:
        raise ChewcError(
            "the inputs stack different numbers of samples: " + ", ".join(f"{k} {v}" for k, v in counts.items())
        )
    total = next(iter(counts.values()), 1)
    return [{name: stack[i] for name, stack in stacks.items()} for i in range(total)]


def _inputs(program: ChewProgram, specs: Sequence[str]) -> dict[str, np.ndarray]:
    names = [d.name for d in program.inputs]
    given: dict[str, np.ndarray] = {}
    for spec in specs:
        name, sep, file = spec.rpartition("=")
        loaded = load_arrays(Path(file))
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
    if desc.dtype == "f32":
        return random_image(rng, desc.shape)
    if desc.dtype == "bits":
        return np.where(rng.random(desc.shape) < 0.5, -1, 1).astype(np.int8)
    return rng.integers(-128, 128, desc.shape).astype(np.int16)


def _check(outputs: dict[str, np.ndarray], ref_path: Path) -> str:
    loaded = load_arrays(ref_path)
    refs = loaded if isinstance(loaded, dict) else dict(zip(list(outputs)[:1], [loaded], strict=True))
    if not isinstance(loaded, dict) and len(outputs) != 1:
        raise ChewcError(f"{ref_path}: the program has {len(outputs)} outputs: give the reference as a .npz by name")
    for name, want in refs.items():
        if name not in outputs:
            raise ChewcError(f"{ref_path}: '{name}' is not an output of the program ({', '.join(outputs)})")
        got = outputs[name]
        if got.shape != want.shape:
            raise MismatchError(f"output '{name}' has shape {list(got.shape)}, the reference {list(want.shape)}")
        mismatch = compare(0, {name: got}, {name: want})
        if mismatch is not None:
            raise MismatchError(mismatch.detail)
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
    for path in (args.output, args.plot, args.per_image):
        if path:
            writable(path)  # before the runs, not after
    program = load_program(args.program)
    # without --machine, the program's own (bundled) machine; a wrong one is refused naming both
    machine = load_machine(args.machine) if args.machine else program_machine(program)
    check_machine(program, machine)
    program.check_fits(machine)  # tensors inside DRAM, before any input is made for them
    manifest = build.manifest(program)
    if args.dataset:
        return _evaluate(args, program, machine, manifest)
    if args.limit or args.preprocess or args.per_image or args.workers != 1 or args.ray:
        raise ChewcError("--limit, --preprocess, --per-image, --workers and --ray go with --dataset")
    runs = _runs(program, args.input, args.seed, args.samples)
    encoding = (manifest or {}).get("input_encoding")
    if args.input and encoding and program.inputs and program.inputs[0].dtype == "f32":
        given = np.concatenate([np.ravel(r[program.inputs[0].name]) for r in runs])
        if (warning := range_warning(given, encoding)) is not None:
            print(warning, file=sys.stderr)
    if args.check and args.check.endswith(".onnx"):
        from runtime.reference import OnnxReference, check_layers  # loads onnx: only to check against a model

        reference = OnnxReference(args.check)
    else:
        reference = None
    if args.check_layers:
        if reference is None:
            raise ChewcError("--check-layers needs --check MODEL.onnx")
        compared, layer_mismatch = check_layers(program, args.check, next(iter(runs[0].values())), machine,
                                                args.max_work)
        if layer_mismatch is not None:
            raise MismatchError(layer_mismatch.message)
        print(f"layers: all {len(compared)} layer tensors equal the ONNX reference "
              f"({', '.join(p.name for p, _ in compared)})")
    results, mismatch = run_program(program, runs, machine, args.vdd, reference, args.max_work)
    if mismatch is not None:
        raise MismatchError(mismatch.message)
    # as onnxruntime returns them: the model's type and shape, several runs along its batch axis
    outputs = model_shaped(program, [r.outputs for r in results])
    if args.output:
        out, buffer = Path(args.output), io.BytesIO()  # through a buffer: numpy would append .npy to the name
        if out.suffix == ".npz":
            np.savez(buffer, **outputs)  # type: ignore[arg-type]  # numpy's stub types **kwds as bool
        elif len(outputs) == 1:
            np.save(buffer, next(iter(outputs.values())))
        else:
            raise ChewcError(f"--output {out}: the program has {len(outputs)} outputs: use a .npz file")
        write_output(out, buffer.getvalue())
    checked: str | None
    if reference is not None and reference.scaled:
        checked = (f"bit-exact: {len(results)} input(s), every output equals the exact reading of the ONNX reference "
                   f"({args.check}: {len(reference.scaled)} scaled binary layer(s), exact sums times the scale); "
                   f"onnxruntime's float32 model differs on {len(reference.rounding)} of the {len(results)} inputs by its own rounding"
                   + (f" ({reference.rounding[0].describe()})" if reference.rounding else ""))
    elif reference is not None:
        checked = f"bit-exact: {len(results)} input(s), every output equals the ONNX reference ({args.check})"
    else:
        checked = _check(outputs, Path(args.check)) if args.check else None
    report = results[-1].report
    sweep = [(v, emulate(program, runs[-1], machine, v, max_work=args.max_work).report) for v in machine.sweep_points()] \
        if args.sweep_vdd else []
    if args.plot:
        write_output(Path(args.plot), plot_layers(report, [(v, r, machine.point_basis(v)) for v, r in sweep]))
    if args.report == "json":
        summary = {
            k: {"dtype": str(v.dtype), "shape": list(v.shape), "min": v.min().item(), "max": v.max().item()}
            for k, v in outputs.items()
        }
        print(
            json.dumps(
                {"schema_version": REPORT_SCHEMA_VERSION, "outputs": summary, "runs": len(results), "check": checked,
                 "manifest": manifest,
                 **({"sweep_vdd": [_sweep_row(machine, v, r) for v, r in sweep]} if sweep else {}),
                 "rounding": [vars(r) for r in reference.rounding] if reference is not None else [],
                 "report": report.to_dict()}, indent=2
            )
        )
        return 0
    if program.inputs and not args.input:
        print(f"inputs: random (seed {args.seed})" + (f", {len(results)} samples" if len(results) > 1 else ""))
    if len(results) > 1:
        print(f"{len(results)} runs; the outputs and report below are those of the last")
    for name, value in model_shaped(program, [results[-1].outputs]).items():
        print(_describe(name, value))
    if checked:
        print(checked)
    if args.report == "text":
        print(report.to_text(), end="")
    if sweep:
        _print_sweep(machine, sweep)
    return 0


def _sweep_row(machine: Machine, vdd: float, r: Report) -> dict[str, float | str]:
    return {"vdd": vdd, "freq_hz": r.freq_hz, "latency_s": r.seconds, "core_energy_j": r.core_energy_j,
            "system_energy_j": r.system_energy_j, "core_tops_per_watt": r.core_tops_per_watt,
            "basis": machine.point_basis(vdd)}


def _print_sweep(machine: Machine, sweep: list[tuple[float, Report]]) -> None:
    t = Table(title=f"operating points of {machine.name}: one inference (dynamic energy scales as "
                    f"(vdd / {machine.energy.reference_vdd:g} V) ** {machine.energy.voltage_exponent:g})")
    for col in ("vdd", "MHz", "latency", "core", "system", "core TOPS/W", "frequency and leakage"):
        t.add_column(col, justify="left" if col == "frequency and leakage" else "right")
    for vdd, r in sweep:
        t.add_row(f"{vdd:.3g} V", f"{r.freq_hz / 1e6:,.1f}", f"{r.seconds * 1e6:,.2f} us", f"{r.core_energy_j * 1e6:,.4f} uJ",
                  f"{r.system_energy_j * 1e6:,.3f} uJ", f"{r.core_tops_per_watt:,.1f}", machine.point_basis(vdd))
    Console(width=160).print(t)
