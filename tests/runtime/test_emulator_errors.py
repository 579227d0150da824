"""Malformed programs and inputs fail with one clear line naming the instruction index and field."""

from __future__ import annotations

import numpy as np
import pytest

from isa.asm import assemble
from isa.container import ChewProgram
from isa.errors import ChewcError
from isa.machine import load_machine
from runtime.emulator import emulate

MACHINE = load_machine()

# A 1x1 convolution setup on a 16-channel 4x4 input; instruction indices in the cases count from 6.
HEAD = """
.input x bits[16,4,4] ghw @0x0
.output y int16[1,4,4] chw @0x100
CFG.DMA count=1 dram_stride=0 chip_stride=0
CFG.IN in_h=4 in_w=4 in_c=16
CFG.BUF buf_row0=0 buf_rows=4
CFG.K kh=1 kw=1 stride=1 dilation=1 pad_top=0 pad_left=0 pad_mode=gate
CFG.OUT out_h=4 out_w=4 obuf_rows=4
CFG.TILE row0=0 nrows=4 oc_count=1
"""
TAIL = "\n.data w @0x200\n.word 0x1234\n"
LOAD = "DMA.LD mem=fmem dram=0x0 chip=0x0 length=16\nDMA.LD mem=wmem dram=0x200 chip=0x0 length=1\n"
CONV = "CONV fmem=0x0 wmem=0x0 acc=0x0 accumulate=0\n"
STORE = "DMA.ST mem=acc dram=0x100 chip=0x0 length=16\n"


def run(body: str) -> None:
    emulate(assemble(HEAD + body + TAIL, MACHINE, "t.s"), np.ones((16, 4, 4)), MACHINE)


def test_valid_base_program_runs() -> None:
    run(LOAD + "SYNC\n" + CONV + STORE + "END\n")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (LOAD, r"the program has no END: execution ran past its last instruction \(7\)"),
        (".inst 0x3f\nEND\n", r"instruction 6 \(0x000000000000003f\): unknown opcode 0x3f"),
        (".inst 0x0a\nEND\n", r"instruction 6 \(0x000000000000000a\): field 'kh' = 0 out of range 1..7"),
        (".inst 0x10000000001\nEND\n", r"instruction 6 .*: END: unused bits set"),
        (
            "DMA.LD mem=fmem dram=0x0 chip=0x7ff8 length=16\nEND\n",
            r"instruction 6 \(DMA.LD\): field 'chip' = 0x7ff8: words 0x7ff8..0x8007 lie outside FMEM \(32768 words\)",
        ),
        (
            "CFG.DMA count=3 dram_stride=-16 chip_stride=16\nDMA.LD mem=fmem dram=0x10 chip=0x0 length=16\nEND\n",
            r"instruction 7 \(DMA.LD\): field 'dram' = 0x10: words -0x10..0x1f lie outside DRAM",
        ),
        (
            "CFG.DMA count=2 dram_stride=16 chip_stride=8\nDMA.LD mem=fmem dram=0x0 chip=0x0 length=16\nEND\n",
            r"instruction 7 \(DMA.LD\): field 'chip': destination rows overlap \(\|stride\| 8 < length 16\)",
        ),
        (
            "DMA.LD mem=fmem dram=0x10 chip=0x0 length=16\nEND\n",
            r"instruction 6 \(DMA.LD\): field 'dram': reads DRAM word 0x10, which was never written",
        ),
        (
            "DMA.LD mem=fmem dram=0x0 chip=0x0 length=16\nSYNC\n" + CONV + "END\n",
            r"instruction 8 \(CONV\): field 'wmem': reads WMEM word 0x0, which was never written",
        ),
        (
            LOAD + "SYNC\nCONV fmem=0x0 wmem=0x0 acc=0x0 accumulate=1\nEND\n",
            r"instruction 9 \(CONV\): field 'acc': reads ACC word 0x0, which was never written",
        ),
        (
            LOAD + CONV + "END\n",
            r"instruction 8 \(CONV\): field 'fmem': reads FMEM word 0x0 while DMA instruction 6 may still write it",
        ),
        (
            LOAD + "SYNC\n" + CONV + "SYNC\n" + STORE + "CONV fmem=0x0 wmem=0x0 acc=0x0 accumulate=1\nEND\n",
            r"instruction 12 \(CONV\): field 'acc': writes ACC word 0x0 while DMA instruction 11 may still read it",
        ),
        (
            "CFG.TILE row0=2 nrows=4 oc_count=1\n" + LOAD + "SYNC\n" + CONV + "END\n",
            r"instruction 10 \(CONV\): tile rows 2..5 exceed out_h = 4",
        ),
        (
            "CFG.BUF buf_row0=1 buf_rows=2\n" + LOAD + "SYNC\n" + CONV + "END\n",
            r"instruction 10 \(CONV\): field 'fmem': reads image row 0, but the buffer holds rows 1..2",
        ),
        (
            "CFG.IN in_h=4 in_w=300 in_c=16\n" + CONV + "END\n",
            r"instruction 7 \(CONV\): in_w = 300 exceeds the 256-word row buffers",
        ),
        (
            "CFG.K kh=1 kw=1 stride=1 dilation=1 pad_top=3 pad_left=0 pad_mode=gate\nCFG.IN in_h=4 in_w=4 in_c=1\n"
            "DMA.LD mem=acc dram=0x0 chip=0x0 length=16\nSYNC\nPOOL.I src=0 dst=0x100\nEND\n",
            r"instruction 10 \(POOL.I\): the window of tile row 0, column 0 lies entirely in gated padding",
        ),
        (
            LOAD + "DMA.LD mem=tmem dram=0x200 chip=0x0 length=1\nDMA.LD mem=tmem dram=0x200 chip=0x1 length=1\n"
            "SYNC\n" + CONV + "THRESH acc=0x0 fmem=0x100 tmem=0x0 c0=0\nEND\n",
            r"instruction 12 \(THRESH\): field 'tmem': TMEM word 0x1 holds mode 4660",
        ),
        (
            "CFG.TILE row0=0 nrows=8 oc_count=1\nTHRESH acc=0x0 fmem=0x100 tmem=0x0 c0=0\nEND\n",
            r"instruction 7 \(THRESH\): nrows = 8 exceeds obuf_rows = 4",
        ),
        (
            "CFG.K kh=1 kw=1 stride=1 dilation=1 pad_top=0 pad_left=0 pad_mode=gate pack=1\n" + LOAD + "SYNC\n" + CONV
            + "END\n",
            r"instruction 10 \(CONV\): CFG.K pack = 1 reads 2 channel groups per cycle; machine 'chewbaccann' reads "
            r"at most 1 \(array.max_pack\)",
        ),
        ("END\n", r"output 'y': DRAM word 0x100 was never written by the program"),
    ],
)
def test_malformed_programs(body: str, message: str) -> None:
    with pytest.raises(ChewcError, match=message):
        run(body)


def test_unset_register() -> None:
    prog = assemble("CONV fmem=0 wmem=0 acc=0 accumulate=0\nEND\n", MACHINE)
    with pytest.raises(ChewcError, match=r"instruction 0 \(CONV\): register 'in_h' is not set \(set it with CFG.IN\)"):
        emulate(prog, {}, MACHINE)


def test_conv_accumulation_overflow() -> None:
    # 4095 channels x 9 positions reach 36855 > 32767 when input and weights agree everywhere.
    text = """
    .input x bits[4095,3,3] ghw @0x0
    .output y int16[1,1,1] chw @0x1000
    CFG.DMA count=1 dram_stride=0 chip_stride=0
    DMA.LD mem=fmem dram=0x0 chip=0x0 length=2304
    DMA.LD mem=wmem dram=0x2000 chip=0x0 length=2304
    SYNC
    CFG.IN in_h=3 in_w=3 in_c=4095
    CFG.BUF buf_row0=0 buf_rows=3
    CFG.K kh=3 kw=3 stride=1 dilation=1 pad_top=0 pad_left=0 pad_mode=gate
    CFG.OUT out_h=1 out_w=1 obuf_rows=1
    CFG.TILE row0=0 nrows=1 oc_count=1
    CONV fmem=0x0 wmem=0x0 acc=0x0 accumulate=0
    END
    .data w @0x2000
    """ + "\n".join([".word " + " ".join(["0xffff"] * 8)] * 288)
    with pytest.raises(
        ChewcError, match=r"instruction 9 \(CONV\): field 'acc': int16 overflow: 36855 for ACC word 0x0"
    ):
        emulate(assemble(text, MACHINE), np.ones((4095, 3, 3)), MACHINE)


def test_container_errors_reach_the_caller() -> None:
    blob = bytearray(assemble(HEAD + "END\n" + TAIL, MACHINE).to_bytes())
    with pytest.raises(ChewcError, match="bad magic at offset 0"):
        emulate(b"\x00" + bytes(blob[1:]), {}, MACHINE)
    blob[-1] ^= 1
    with pytest.raises(ChewcError, match="checksum mismatch"):
        emulate(bytes(blob), {}, MACHINE)


def test_machine_mismatch() -> None:
    prog = assemble("END\n", MACHINE)
    with pytest.raises(ChewcError, match=r"program was built for machine 'chewbaccann' \(.*\), not for machine 'quarter'"):
        emulate(prog, {}, load_machine("quarter"))


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({}, "input 'x' not given"),
        ({"x": np.ones((16, 4, 4)), "z": np.ones(1)}, "'z' is not an input of the program"),
        ({"x": np.ones((16, 4, 5))}, r"input 'x' has shape \[16, 4, 5\], the program expects \[16, 4, 4\]"),
        ({"x": np.zeros((16, 4, 4))}, r"input 'x' is binary: every element must be -1 or \+1 \(0.0 at \(0, 0, 0\)\)"),
        ({"x": np.array(["a"] * 256).reshape(16, 4, 4)}, "has dtype <U1, not a number"),
    ],
)
def test_bad_inputs(inputs: dict[str, np.ndarray], message: str) -> None:
    with pytest.raises(ChewcError, match=message):
        emulate(assemble(HEAD + "END\n" + TAIL, MACHINE), inputs, MACHINE)


def test_int16_inputs_must_be_int16() -> None:
    prog = ChewProgram.from_bytes(assemble(".input s int16[1,1,2] chw @0\nEND\n", MACHINE).to_bytes())
    with pytest.raises(ChewcError, match=r"input 's' is int16: 40000 at \(0, 0, 1\) is not an int16"):
        emulate(prog, np.array([[[1, 40000]]]), MACHINE)
    with pytest.raises(ChewcError, match=r"input 's' is int16: 1.5 at \(0, 0, 0\)"):
        emulate(prog, np.array([[[1.5, 2]]]), MACHINE)


def test_work_budget_refuses_before_running() -> None:
    """2000 DMAs of 8M words each (7.5 GB and no end before) are refused up front, in well under a second."""
    import time

    dmas = "CFG.DMA count=2048 dram_stride=4096 chip_stride=0\n" + "DMA.ST mem=fmem dram=0x0 chip=0x0 length=4096\n" * 2000
    prog = assemble(".output y int16[1,1,1] chw @0x0\n" + dmas + "END\n", MACHINE, "t.s")
    start = time.perf_counter()
    with pytest.raises(ChewcError, match=r"the program needs 16777216000 word operations \(instruction 1, DMA.ST, "
                       r"the largest\), more than the emulator's budget of 4294967296: raise it with --max-work"):
        emulate(prog, {}, MACHINE)
    assert time.perf_counter() - start < 1
