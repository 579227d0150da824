"""`chewc`: compile a binarized ONNX/QONNX model for ChewBaccaNN (a thin layer over compiler.driver)."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path

from compiler.driver import EMIT_LEVELS, compile_model, render
from compiler.passes import get_all_passes
from isa.errors import ChewcError, cli_main


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="chewc",
        description="Compile a binarized CNN (ONNX Sign/Conv/BatchNormalization, or QONNX BipolarQuant/"
        "MultiThreshold as Brevitas exports it) into a ChewBaccaNN program (.chew).",
        epilog="examples:\n"
        "  chewc model.onnx -o model.chew\n"
        "  chewc model.onnx --emit=bnn            # the imported network, printed\n"
        "  chewc model.onnx --emit=asm --machine isa/machines/quarter.toml\n"
        "exit codes: 0 ok, 2 bad input or usage, 3 internal error",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", nargs="?", help="the .onnx model")
    p.add_argument("-o", "--output", help="write the result here (required for --emit=chew)")
    p.add_argument("--emit", choices=EMIT_LEVELS, default="chew",
                   help="stop at this level: bnn (imported), tile (loops and buffers placed), chewbacca "
                   "(instructions), asm (disassembly) or chew (the binary, default)")
    p.add_argument("--machine", metavar="FILE", help="machine description (.toml); default: isa/machines/chewbaccann.toml")
    p.add_argument("--generic", action="store_true", help="print IR in MLIR's generic op form")
    p.add_argument("--list-passes", action="store_true", help="list every pass with its options and exit")
    return p


def list_passes() -> str:
    lines = []
    for name, factory in sorted(get_all_passes().items()):
        cls = factory()
        doc = " ".join((cls.__doc__ or "").strip().split("\n\n")[0].split())
        opts = ", ".join(f"{f.name.replace('_', '-')}={f.default!r}" for f in dataclasses.fields(cls))
        lines.append(f"{name:28} {doc}" + (f"\n{'':28}   options: {opts}" if opts else ""))
    return "\n".join(lines) + "\n"


@cli_main("chewc")
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.list_passes:
        sys.stdout.write(list_passes())
        return 0
    if not args.model:
        raise ChewcError("no model given (usage: chewc model.onnx -o model.chew)")
    if args.emit == "chew" and not args.output:
        raise ChewcError("--emit=chew writes a binary program: give -o FILE (or --emit=asm to print it)")
    result = render(compile_model(args.model, args.emit, args.machine), args.emit, args.generic)
    if args.output:
        out = Path(args.output)
        out.write_bytes(result) if isinstance(result, bytes) else out.write_text(result)
    else:
        sys.stdout.write(result if isinstance(result, str) else "")
    return 0
