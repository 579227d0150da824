"""`chewc-as` and `chewc-objdump`: thin command lines over `isa.asm`."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from isa.asm import assemble, disassemble
from isa.container import ChewProgram
from isa.errors import cli_main
from isa.files import MAX_PROGRAM_BYTES, MAX_TEXT_BYTES, read_bytes, read_text, write_output
from isa.machine import load_machine
from isa.version import add_version

_MACHINE_HELP = "machine description (.toml file or bundled name: chewbaccann, quarter); default chewbaccann"


@cli_main("chewc-as")
def assemble_main(argv: Sequence[str] | None) -> int:
    parser = argparse.ArgumentParser(
        prog="chewc-as",
        description="Assemble ChewBaccaNN assembly into a .chew program. The syntax and every "
        "instruction are described in docs/isa.md; `chewc-objdump` prints a program back as assembly.",
        epilog="example: chewc-as conv.s -o conv.chew --machine quarter",
    )
    parser.add_argument("source", type=Path, help="assembly file (.s)")
    parser.add_argument("-o", "--output", type=Path, help="output .chew file (default: SOURCE with .chew)")
    parser.add_argument("--machine", help=_MACHINE_HELP)
    add_version(parser)
    args = parser.parse_args(argv)
    machine = load_machine(args.machine)
    program = assemble(read_text(args.source, "assembly file", MAX_TEXT_BYTES), machine, str(args.source))
    write_output(args.output or args.source.with_suffix(".chew"), program.to_bytes())
    return 0


@cli_main("chewc-objdump")
def objdump_main(argv: Sequence[str] | None) -> int:
    parser = argparse.ArgumentParser(
        prog="chewc-objdump",
        description="Print a .chew program as assembly: tensor descriptors, each instruction with its "
        "index, 64-bit encoding and decoded fields, data blocks and other sections. The output "
        "assembles back (chewc-as) into the identical .chew file.",
        epilog="example: chewc-objdump conv.chew > conv.s && chewc-as conv.s -o again.chew",
    )
    parser.add_argument("program", type=Path, help=".chew file")
    parser.add_argument("-o", "--output", type=Path, help="write the listing here instead of stdout")
    add_version(parser)
    args = parser.parse_args(argv)
    listing = disassemble(ChewProgram.from_bytes(read_bytes(args.program, ".chew program", MAX_PROGRAM_BYTES), str(args.program)))
    if args.output:
        write_output(args.output, listing)
    else:
        print(listing, end="")
    return 0
