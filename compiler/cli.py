"""`chewc`: compile a binarized ONNX/QONNX model for ChewBaccaNN."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from compiler.driver import EMIT_LEVELS, compile_to, print_module
from isa.errors import cli_main


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="chewc",
        description="Compile a binarized CNN (ONNX Sign/Conv/BatchNormalization, or QONNX BipolarQuant/"
        "MultiThreshold as Brevitas exports it) for the ChewBaccaNN accelerator.",
        epilog="exit codes: 0 ok, 2 bad input or usage, 3 internal error",
    )
    p.add_argument("model", help="the .onnx model")
    p.add_argument("-o", "--output", help="write the result here instead of standard output")
    p.add_argument("--emit", choices=EMIT_LEVELS, default="bnn", help="the level to stop at and print (default: %(default)s)")
    p.add_argument("--generic", action="store_true", help="print IR in MLIR's generic op form")
    return p


@cli_main("chewc")
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    module = compile_to(args.model, args.emit)
    text = print_module(module, args.generic)
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return 0
