"""Assembler errors, directives, and the objdump -> assembler byte-identical round trip."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from isa.asm import assemble, disassemble
from isa.cli import assemble_main, objdump_main
from isa.container import ChewProgram
from isa.errors import ChewcError
from isa.machine import Machine, load_machine
from tests.helpers import run_cli
from tests.isa.strategies import programs

ASM = Path(__file__).resolve().parent.parent / "asm"
MACHINE = load_machine()
K = "kh=3 kw=3 stride=1 dilation=1 pad_top=0 pad_left=0"


def asm(text: str, machine: Machine = MACHINE) -> ChewProgram:
    return assemble(text, machine, "prog.s")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("SYNC\n\n  CNV fmem=0", "prog.s:3:3: unknown mnemonic 'CNV'"),
        (f"SYNC\nSYNC\nCFG.K {K.replace('kh=3', 'kh=9')} pad_mode=gate", "prog.s:3: field 'kh' = 9 out of range 1..7"),
        (f"CFG.K {K} pad_mode=zero", "prog.s:1: field 'pad_mode' = 'zero' is not one of neg, pos, gate"),
        ("CFG.IN in_h=1 in_w=1", "prog.s:1: CFG.IN needs field 'in_c'"),
        ("CFG.IN in_h=1 in_w=1 in_c=1 in_d=2", "prog.s:1:29: CFG.IN has no field 'in_d'"),
        ("CFG.IN in_h=1 in_h=1 in_c=1", "prog.s:1:15: field 'in_h' given twice"),
        ("CFG.IN in_h=1 = in_w", "prog.s:1:15: syntax error: unexpected '='"),
        ("CFG.IN in_h=1 in_w=1 in_c=1 $", "prog.s:1:29: syntax error: unexpected character '\\$'"),
        ("CONV fmem=0x8000 wmem=0 acc=0 accumulate=0", "prog.s:1: field 'fmem' = 0x8000 outside FMEM \\(32768 words"),
        ("DMA.LD mem=tmem dram=0 chip=0x400 length=1", "prog.s:1: field 'chip' = 0x400 outside TMEM \\(1024 words"),
        (".word 1", "prog.s:1: words outside a data block"),
        (".data w @0\n.word 70000", "prog.s:2:7: word 70000 out of range -32768..65535"),
        ('.data w @0\n.bits "0101"', "prog.s:2:7: .bits needs a multiple of 16"),
        (".data w @0", "prog.s: data 'w' has no words"),
        ('.hex "00"', "prog.s:1: .hex outside a section"),
        (".input x float[1,1,1] chw @0", "prog.s:1:10: dtype 'float' is not one of bits, int16"),
        (".input x bits[1,1,1] chw @0", "prog.s:1:22: layout of bits tensors is 'ghw', not 'chw'"),
        (".input x bits[1,1] ghw @0", "prog.s:1: tensor 'x' needs a shape \\[C,H,W\\]"),
        ('.machine "x" "00"', "prog.s:1:14: .machine needs the 64 hex digits"),
        (".data w @0\n.word 1\n.data w @4\n.word 2", "prog.s: data block 'w' defined twice"),
        (".input x int16[1,1,4] chw @0x7ffffe", "prog.s: input 'x' at DRAM 0x7ffffe..0x800001 lies outside DRAM"),
        (".section code x", "prog.s:1: section kind 'code' is reserved"),
        (".section host host0", "prog.s:1: host sections are written as .host STEP"),
        ('.host_in "x" bits[1] @0', "prog.s:1: .host_in outside a host step"),
        ('.host 4096 "x"', "prog.s:1:7: field 'step' = 4096 out of range 0..4095"),
        ('.host 0 "a\\q"', "prog.s:1:9: bad escape in string"),
        (
            '.host 0 "x"\n.host_out "y" bits[1] @0 mode=plus',
            "prog.s:2:26: .host_out takes only zero=plus or zero=reject",
        ),
        (
            '.host 0 "x"\n.host_in "a" bits[1] @0 zero=plus',
            "prog.s:1: host step 0: a zero rule applies to outputs only",
        ),
        ('.host 0 "x"\n.host_in "a" int16[2] @0\n.onnx "@@"', "prog.s:1: host step 0: .onnx is not base64"),
        (
            '.host 0 "x"\n.host_in "a" int16[2] @0\n.host_out "b" int16[3] @9',
            r"prog.s:1: host step 0: a host copy needs as many elements in as out \(2 vs 3\)",
        ),
        ('.host 0 "x"\n.host_in "a" f32[2,2] @0', r"prog.s:2: host tensor 'a': shape must be \[C, H, W\] or \[K\]"),
        (
            '.host 1 "x"\n.host_in "a" int16[2] @0\n.host_out "b" int16[2] @9\n'
            '.host 0 "y"\n.host_in "a" int16[2] @0\n.host_out "b" int16[2] @9',
            "prog.s: host sections go in step order",
        ),
        (
            '.host 0 "x"\n.host_in "a" int16[2] @0\n.host_out "b" f32[2] @0x7ffffe',
            "prog.s: host0 output 'b' at DRAM 0x7ffffe..0x800001 lies outside DRAM",
        ),
    ],
)
def test_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(ChewcError, match=message):
        asm(text)


def test_machine_directive_must_match() -> None:
    quarter = load_machine("quarter")
    text = f'.machine "chewbaccann" "{MACHINE.hash().hex()}"\nEND\n'
    prog = asm(text)
    assert (prog.machine_name, prog.machine_hash) == ("chewbaccann", MACHINE.hash())
    assert asm("END\n", quarter).machine_name == "quarter"
    with pytest.raises(ChewcError, match=r"prog.s:1: program is for machine 'chewbaccann' \(.*\), not for machine 'quarter'"):
        asm(text, quarter)


def test_directives() -> None:
    prog = asm(
        """
        .input x bits[20,2,3] ghw @0x10      ; two groups
        .input img f32[3,2,2] chw @0x200     ; two words per value
        .output y int16[4,1,1] chw @0x40
        .data w @0x100
        .word 1 -1 0x8000 0b101
        .bits "1000000000000001" ; bits 0 and 15
        .section debug main
        .hex "00ff"
        .hex "10"
        cfg.tile row0=0 nrows=1 oc_count=2  ; mnemonics are case-insensitive
        .inst 0x1
        """
    )
    assert prog.data[0].words.tolist() == [1, 0xFFFF, 0x8000, 5, 0x8001]
    assert prog.inputs[0].words == 12 and prog.inputs[1].words == 24 and prog.outputs[0].dram_addr == 0x40
    assert prog.sections[0].payload == b"\x00\xff\x10"
    assert len(prog.code) == 2 and prog.code[1] == 1


@pytest.mark.parametrize("path", sorted(ASM.glob("*.s")), ids=lambda p: p.name)
def test_objdump_of_hand_written_programs_reassembles_identically(path: Path) -> None:
    prog = assemble(path.read_text(), MACHINE, str(path))
    listing = disassemble(prog)
    assert assemble(listing, MACHINE, "listing.s").to_bytes() == prog.to_bytes()


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(programs(MACHINE))
@pytest.mark.slow
def test_objdump_reassembles_identically(prog: ChewProgram) -> None:
    blob = prog.to_bytes()
    listing = disassemble(ChewProgram.from_bytes(blob))
    assert assemble(listing, MACHINE, "listing.s").to_bytes() == blob


def test_objdump_listing_shows_index_encoding_and_fields() -> None:
    listing = disassemble(asm("CFG.TILE row0=1 nrows=2 oc_count=3\n.inst 0x3f\nEND"))
    lines = listing.splitlines()
    tile = next(line for line in lines if line.startswith("CFG.TILE"))
    assert "row0=1 nrows=2 oc_count=3" in tile and "; 0000  0x" in tile
    assert any(line.startswith(".inst 0x000000000000003f") and "unknown opcode" in line for line in lines)


def test_cli_round_trip(tmp_path: Path) -> None:
    src = ASM / "thresh_pool.s"
    first, second, listing = tmp_path / "a.chew", tmp_path / "b.chew", tmp_path / "a.s"
    assert run_cli(assemble_main, str(src), "-o", str(first))[0] == 0
    code, out, err = run_cli(objdump_main, str(first))
    assert code == 0 and err == "" and "THRESH acc=0x300 fmem=0x100 tmem=0x18 c0=12" in out
    listing.write_text(out)
    assert run_cli(assemble_main, str(listing), "-o", str(second))[0] == 0
    assert first.read_bytes() == second.read_bytes()
    # Default output name, and -o for the listing.
    assert run_cli(assemble_main, str(listing))[0] == 0 and (tmp_path / "a.chew").is_file()
    assert run_cli(objdump_main, str(first), "-o", str(tmp_path / "c.s"))[0] == 0
    assert (tmp_path / "c.s").read_text() == out


def test_cli_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.s"
    bad.write_text("SYNC\nCNV x=1\n")
    code, _, err = run_cli(assemble_main, str(bad), "-o", str(tmp_path / "bad.chew"))
    assert code == 2 and err == f"chewc-as: error: {bad}:2:1: unknown mnemonic 'CNV'\n"
    code, _, err = run_cli(objdump_main, str(bad))
    assert code == 2 and "bad magic at offset 0" in err
    code, _, err = run_cli(assemble_main, str(tmp_path / "missing.s"))
    assert code == 2 and "cannot read" in err
    code, _, err = run_cli(
        assemble_main, str(ASM / "conv3x3.s"), "-o", str(tmp_path / "q.chew"), "--machine", "quarter"
    )
    assert code == 0  # fits the quarter machine too


@pytest.mark.parametrize("main", [assemble_main, objdump_main])
def test_cli_help(main: object) -> None:
    code, out, _ = run_cli(main, "--help")  # type: ignore[arg-type]
    assert code == 0 and "usage:" in out and "example" in out
