"""`chewc-opt`: the pass-pipeline debugger, xDSL's opt driver with the chewc dialects and passes.

Every upstream xdsl-opt flag keeps its meaning; `compiler.pipeline_debug` adds MLIR's IR printing,
per-pass dumps and timing, verify-each, crash reproducers and numeric bisection (--check-against).
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from xdsl.dialects import get_all_dialects as upstream_dialects
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import PassPipeline
from xdsl.targets.mlir import MLIRTarget
from xdsl.transforms import get_all_passes as upstream_passes
from xdsl.utils.exceptions import DiagnosticException, ParseError
from xdsl.xdsl_opt_main import xDSLOptMain

from compiler.passes import get_all_passes
from compiler.pipeline_debug import (
    ELIDE_LARGER_THAN,
    PassHook,
    TextPrinter,
    Step,
    add_debug_arguments,
    describe_passes,
    load_pass_plugins,
    one_line,
    parse_pipeline,
    runner_from_args,
)
from dialects import get_all_dialects
from dialects.chewbacca import set_machine
from isa.errors import ChewcError, cli_main
from isa.files import read_text, writable
from isa.machine import load_machine
from isa.version import version

DESCRIPTION = """chewc-opt: run a pass pipeline on .mlir (bnn, tile or chewbacca IR; a file, or - for stdin)
and debug it.
Examples:
  chewc-opt in.mlir -p 'tile-loops,tile-buffer-alloc' --print-ir-after=tile-loops --timing
  chewc-opt in.mlir -p 'tile-loops,tile-buffer-alloc' --check-against model.onnx   # numeric bisection
Exit codes: 0 ok, 1 --check-against found a wrong pass, 2 bad input or a pass failed, 3 a pass crashed
(a reproducer is written).  xdsl-opt's flags all work as upstream."""


@dataclass
class XdslPassFlags(PassHook):
    """xdsl-opt's --print-between-passes and --time-passes, printed as upstream prints them (stdout)."""

    print_between: bool
    time_passes: bool

    def after_pass(self, step: Step) -> None:
        if self.time_passes:
            print(f"Pass {step.name} took {step.seconds} seconds")
        if self.print_between and step.index < step.total:
            print(f"IR after {step.name}:")
            TextPrinter(stream=sys.stdout).print_op(step.module)
            print("\n\n\n")


class ChewcOptMain(xDSLOptMain):
    version_format = f"chewc-opt {version()} (xdsl {{xdsl_version}})"

    def __init__(self, args: Sequence[str] | None = None):
        # plugins must be known before xDSL builds its argument parser (the -p help lists every pass)
        pre = argparse.ArgumentParser(add_help=False)
        pre.add_argument("--load-pass-plugin", action="append", default=[])
        plugins = pre.parse_known_args(args)[0].load_pass_plugin
        self.plugin_passes = load_pass_plugins(plugins, {*upstream_passes(), *get_all_passes()})
        self.chunks = 0
        super().__init__(description=DESCRIPTION, args=args)

    def register_all_dialects(self) -> None:
        # registered explicitly (not via the entry-point multiverse) so nothing registers twice
        for name, factory in {**upstream_dialects(), **get_all_dialects()}.items():
            self.ctx.register_dialect(name, factory)

    def register_all_targets(self) -> None:
        super().register_all_targets()
        self.available_targets["mlir"] = lambda: TextTarget

    def register_all_passes(self) -> None:
        for name, factory in {**upstream_passes(), **get_all_passes(), **self.plugin_passes}.items():
            self.register_pass(name, factory)

    def register_all_arguments(self, arg_parser: argparse.ArgumentParser) -> None:
        arg_parser.formatter_class = argparse.RawDescriptionHelpFormatter  # keep DESCRIPTION's lines
        super().register_all_arguments(arg_parser)
        # upstream's -p help lists all ~150 passes alphabetically: ours first, the rest by --list-passes
        ours = ", ".join(sorted({**get_all_passes(), **self.plugin_passes}))
        arg_parser._option_string_actions["-p"].help = (
            f"comma-separated pass pipeline, with options as pass{{opt=value}}; chewc's passes: {ours}; "
            f"xDSL's {len(upstream_passes())} upstream passes also work (--list-passes lists every pass)")
        g = add_debug_arguments(arg_parser, ["--ir-dump-dir", "--dump-dir"])
        g.add_argument("--list-passes", action="store_true",
                       help="list every pass with its options and a one-line description, and exit")
        g.add_argument("--check-against", metavar="MODEL.onnx",
                       help="execute the input IR and the IR after every pass on one input (--seed/--input), "
                       "compare with this model's ONNX reference, and name the first pass that differs (exit 1, "
                       "with a reproducer)")
        g.add_argument("--machine", metavar="FILE",
                       help="compile for this machine description (a .toml file or a bundled name) instead of "
                       "the one the module carries (chewc attaches it at import; hand-written IR without one "
                       "means the default ChewBaccaNN model)")

    def setup_pipeline(self) -> None:
        self.pipeline = PassPipeline(parse_pipeline(self.args.passes, self.available_passes))

    def get_input_stream(self) -> tuple[IO[bytes], str]:
        if self.args.input_file in (None, "-"):
            return sys.stdin.buffer, "mlir"
        path = Path(self.args.input_file)
        if path.suffix == ".onnx":
            raise ChewcError(f"{path}: an ONNX model, not IR (chewc-opt reads .mlir; compile ONNX with chewc)")
        text = read_text(path, "IR file")  # bounded, and UTF-8 checked before xDSL decodes it
        return io.BytesIO(text.encode()), path.suffix.lstrip(".")

    def prepare_output(self) -> IO[str]:
        if self.args.output_file is not None:
            writable(self.args.output_file)  # a missing folder: before any pass runs
        return super().prepare_output()

    def get_input_name(self) -> str:
        return "stdin" if self.args.input_file in (None, "-") else self.args.input_file

    def prepare_input(self) -> tuple[list[tuple[IO[bytes], int]], str]:
        try:
            return super().prepare_input()
        except ValueError as e:  # an unknown file extension
            raise ChewcError(f"{self.get_input_name()}: {e} (chewc-opt reads .mlir; compile ONNX with chewc)") from e

    def apply_passes(self, prog: ModuleOp) -> None:
        self.chunks += 1
        args = self.args
        passes = self.pipeline.passes
        if args.machine:
            set_machine(prog, load_machine(args.machine))
        dump = Path(args.dump_dir) / f"chunk{self.chunks}" if args.dump_dir and args.split_input_file else None
        runner = runner_from_args(
            args, self.available_passes, generic=args.print_op_generic, debuginfo=args.print_debuginfo,
            check_model=args.check_against, dump_dir=dump,
            extra_hooks=[XdslPassFlags(args.print_between_passes, args.time_passes)],
            verify=not args.disable_verify,
            raw_diagnostics=args.verify_diagnostics,  # xDSL prints them and exits 0
        )
        runner.run(self.ctx, prog, passes)

    def run(self) -> None:
        if (limit := self.args.elide_constants_larger_than) is not None and limit < 0:
            raise ChewcError(f"--elide-constants-larger-than {limit}: a size of 0 or more")
        ELIDE_LARGER_THAN.set(limit)
        if self.args.list_passes:
            ours = {**get_all_passes(), **self.plugin_passes}
            sys.stdout.write(describe_passes(ours, set(self.available_passes) - set(ours)))
            return
        try:
            super().run()
        except OSError as e:  # writing the result (a full disk, a device that refuses)
            where = e.filename or self.args.output_file or "the output"
            raise ChewcError(f"cannot write {where}: {e.strerror or type(e).__name__}") from e
        except ParseError as e:
            raise ChewcError(one_line(str(e))) from e
        except DiagnosticException as e:
            raise ChewcError(f"{self.get_input_name()}: {one_line(str(e))}") from e


@dataclass(frozen=True)
class TextTarget(MLIRTarget):
    """xDSL's MLIR output through `TextPrinter`, so that non-ASCII names parse back as strings."""

    def emit(self, ctx: Context, module: ModuleOp, output: IO[str]) -> None:
        if self.syntax_highlight:
            return super().emit(ctx, module, output)
        printer = TextPrinter(stream=output, print_generic_format=self.print_generic_format,
                              print_properties_as_attributes=self.print_properties_as_attributes,
                              print_debuginfo=self.print_debuginfo)
        printer.print_op(module)
        printer.print_metadata(ctx.loaded_dialects)
        print("\n", file=output)


@cli_main("chewc-opt")
def main(argv: Sequence[str] | None = None) -> int:
    ChewcOptMain(args=argv).run()
    return 0
