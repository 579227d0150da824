"""`chewc`: compile a binarized ONNX/QONNX model for ChewBaccaNN (a thin layer over compiler.driver)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence

from compiler import first_layer as fl
from compiler.driver import EMIT_LEVELS, compile_model, render
from compiler.estimate import LABEL, compile_and_estimate
from compiler.passes import get_all_passes
from compiler.pipeline_debug import (
    ELIDE_LARGER_THAN,
    PassFactory,
    PassRunner,
    add_debug_arguments,
    describe_passes,
    load_pass_plugins,
    runner_from_args,
)
from isa import build
from isa.errors import ChewcError, cli_main
from isa.files import writable, write_output
from isa.machine import load_machine
from isa.version import add_version
from runtime.report import REPORT_SCHEMA_VERSION


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="chewc",
        description="Compile a binarized CNN (ONNX Sign/Conv/BatchNormalization, or QONNX BipolarQuant/"
        "MultiThreshold as Brevitas exports it) into a ChewBaccaNN program (.chew).",
        epilog="examples:\n"
        "  chewc model.onnx -o model.chew\n"
        "  chewc model.onnx --emit=bnn            # the imported network, printed\n"
        "  chewc model.onnx --emit=asm --machine isa/machines/quarter.toml\n"
        "  chewc model.onnx --stop-after=tile-loops --print-ir-after-all 2>passes.log\n"
        "  chewc model.onnx --bisect              # name the first pass that changes the result\n"
        "  chewc model.onnx -o model.chew --strict   # refuse float layers between binary ones\n"
        "  chewc cnv.onnx -o cnv.chew --input-grid 8,-7 --first-layer=bitplane   # 8-bit image on the array\n"
        "  chewc model.onnx --estimate --report json   # per-layer cycles, traffic, energy; no emulation\n"
        "on success chewc prints one line to stderr: N layers on the array, M host steps and why (-q: none)\n"
        "exit codes: 0 ok, 1 --bisect found a wrong pass, 2 bad input or usage, 3 internal error",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", nargs="?", help="the .onnx model")
    p.add_argument("-o", "--output", help="write the result here (required for --emit=chew)")
    p.add_argument("--emit", choices=EMIT_LEVELS,
                   help="stop at this level: bnn (imported), tile (loops and buffers placed), chewbacca "
                   "(instructions), asm (disassembly) or chew (the binary, default)")
    p.add_argument("--machine", metavar="FILE", help="machine description (.toml); default: isa/machines/chewbaccann.toml")
    p.add_argument("--generic", action="store_true", help="print IR in MLIR's generic op form")
    p.add_argument("--list-passes", action="store_true", help="list every pass with its options and exit")
    p.add_argument("--strict", action="store_true",
                   help="refuse a program that runs anything on the host but input binarisation and a float "
                   "head (a float layer, a multi-bit first layer, a relayout between layers), or nothing on "
                   "the array")
    p.add_argument("--first-layer", choices=fl.MODES, default="auto",
                   help="where a conv of a multi-bit input (an 8-bit image) runs: on the host, on the array by "
                   "bit planes (an error if no layer can), or auto (default): by bit planes where they are exact "
                   "and faster by the machine description's rates")
    p.add_argument("--input-grid", metavar="BITS,EXP[,unsigned]", type=fl.parse_grid,
                   help="declare that the float model input holds BITS-bit integers times 2**EXP (e.g. 8,-7 for "
                   "Q1.7), so its first layer may run by bit planes; the program refuses other inputs")
    p.add_argument("--input-encoding", choices=build.ENCODINGS,
                   help="declare how the model's input is made from uint8 pixels (unit: pixel/255; q17: CNV's Q1.7 "
                   "codes), for chewc-run --dataset, when the model does not (ONNX metadata chewc.input)")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="do not print the placement line (layers on the array, host steps and their reasons) "
                   "to stderr")
    e = p.add_argument_group("analytical estimate (no emulation)")
    e.add_argument("--estimate", action="store_true",
                   help="compile, then predict each layer's cycles, off-chip and on-chip traffic and energy from the "
                   "compiled schedule without emulating it, and print the report chewc-run --report would (marked "
                   "as an estimate) to stdout instead of writing a program; with -o the program (or --emit=asm "
                   "listing) is written too")
    e.add_argument("--report", choices=("text", "json"),
                   help="with --estimate: the report's format, text (default) or json (chewc-run's schema, "
                   "runtime/report.schema.json, with an 'estimate' field)")
    e.add_argument("--vdd", type=float, metavar="V",
                   help="with --estimate: the supply voltage to price energy and time at (default: the machine's "
                   "reference voltage; between its operating points interpolated, as chewc-run --vdd)")
    g = add_debug_arguments(p, ["--dump-dir", "--ir-dump-dir"])
    g.add_argument("--pipeline", metavar="SPEC",
                   help="replace the default pipeline, e.g. 'bnn-decompose-kernels{max-kernel=5},tile-loops,...'")
    g.add_argument("--stop-after", metavar="PASS", help="run the pipeline through PASS and print the IR")
    g.add_argument("--bisect", action="store_true",
                   help="execute the IR after every pass on one input (--seed/--input), compare with the ONNX "
                   "reference, name the first pass that differs and write its reproducer (exit 1)")
    add_version(p)
    return p


@cli_main("chewc")
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.elide_constants_larger_than is not None and args.elide_constants_larger_than < 0:
        raise ChewcError(f"--elide-constants-larger-than {args.elide_constants_larger_than}: a size of 0 or more")
    ELIDE_LARGER_THAN.set(args.elide_constants_larger_than)
    passes = get_all_passes()
    passes |= load_pass_plugins(args.load_pass_plugin, passes)
    if args.list_passes:
        sys.stdout.write(describe_passes(passes))
        return 0
    if not args.model:
        raise ChewcError("no model given (usage: chewc model.onnx -o model.chew)")
    if args.stop_after and args.emit in ("asm", "chew"):
        raise ChewcError(f"--stop-after prints IR; it cannot be combined with --emit={args.emit}")
    # with --stop-after the output is the IR that pass leaves, whatever its level ("tile" only says "IR")
    emit = args.emit or ("tile" if args.stop_after else "chew")
    if args.estimate:
        _check_estimate(args, emit)
    elif args.report is not None or args.vdd is not None:
        raise ChewcError(f"{'--report' if args.report is not None else '--vdd'} goes with --estimate "
                         "(chewc-run prices a program by emulating it)")
    if emit == "chew" and not args.output and not args.bisect and not args.estimate:
        raise ChewcError("--emit=chew writes a binary program: give -o FILE (or --emit=asm to print it)")
    if args.output:
        writable(args.output)  # before compiling, not after
    runner = runner_from_args(args, passes, generic=args.generic, check_model=args.model if args.bisect else None)
    if args.estimate:
        return _estimate(args, runner, passes, emit)
    c = compile_model(args.model, emit, args.machine, args.pipeline, stop_after=args.stop_after,
                      runner=runner, available=passes, strict=args.strict, first_layer=args.first_layer,
                      input_grid=args.input_grid, input_encoding=args.input_encoding)
    result = render(c, emit, args.generic)
    if args.output:
        write_output(args.output, result)
    elif isinstance(result, str):
        sys.stdout.write(result)
    if c.placement is not None and not (args.quiet or args.bisect):
        print(f"chewc: {c.placement.line()}", file=sys.stderr)
    return 0


def _check_estimate(args: argparse.Namespace, emit: str) -> None:
    """--estimate prices the compiled program and prints to stdout: refuse what would not give one."""
    if args.stop_after or emit in ("bnn", "tile", "chewbacca"):
        what = f"--stop-after={args.stop_after}" if args.stop_after else f"--emit={emit}"
        raise ChewcError(f"--estimate prices the compiled program; {what} stops at IR (drop one of them)")
    if args.bisect:
        raise ChewcError("--estimate cannot be combined with --bisect (which executes the IR after every pass)")
    if emit == "asm" and not args.output:
        raise ChewcError("--estimate prints its report to stdout: write the --emit=asm listing with -o FILE")
    load_machine(args.machine or None).operating_point(args.vdd)  # a bad --vdd fails before compiling


def _estimate(args: argparse.Namespace, runner: PassRunner, passes: Mapping[str, PassFactory], emit: str) -> int:
    c, est = compile_and_estimate(args.model, runner, emit=emit, machine_path=args.machine, pipeline=args.pipeline,
                                  available=passes, strict=args.strict, first_layer=args.first_layer,
                                  input_grid=args.input_grid, input_encoding=args.input_encoding)
    assert c.program is not None and c.placement is not None
    report = est.report(args.vdd)
    if args.output:
        write_output(args.output, render(c, emit, args.generic))
    if args.report == "json":
        # chewc-run's --report json document: no outputs computed, nothing checked, one inference priced
        print(json.dumps({"schema_version": REPORT_SCHEMA_VERSION,
                          "estimate": {"method": "analytical", "source": "the compiled schedule (tile level)",
                                       "emulated": False, "instructions": est.instructions,
                                       "note": LABEL},
                          "manifest": build.manifest(c.program), "outputs": {}, "runs": 1, "check": None,
                          "rounding": [], "report": report.to_dict()}, indent=2))
    else:
        print(LABEL)
        sys.stdout.write(report.to_text())
    if not args.quiet:
        print(f"chewc: {c.placement.line()}", file=sys.stderr)
    return 0
