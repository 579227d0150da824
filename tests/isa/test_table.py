"""The ISA table, the encoder/decoder driven by it, and the generated reference document."""

from __future__ import annotations

import pytest
from hypothesis import given

from runtime import docgen
from isa.errors import ChewcError
from isa.instruction import Instruction, decode, encode
from isa.machine import load_machine
from isa.table import BY_MNEMONIC, OPCODE_BITS, OPS, REGISTERS, WORD_BITS, address_limit
from tests.isa.strategies import instructions


@given(instructions())
def test_encode_decode_round_trip(ins: Instruction) -> None:
    word = encode(ins)
    assert 0 <= word < 1 << WORD_BITS
    assert word & ((1 << OPCODE_BITS) - 1) == ins.op.opcode
    assert decode(word) == ins


def test_fields_are_disjoint_and_fit() -> None:
    for op in OPS:
        used = (1 << OPCODE_BITS) - 1
        for f in op.fields:
            bits = f.mask << f.offset
            assert not used & bits, f"{op.mnemonic}.{f.name} overlaps"
            used |= bits
        assert used < 1 << WORD_BITS


def test_known_encoding() -> None:
    # CFG.K: kh [8:6], kw [11:9], stride [14:12], dilation [17:15], pad_top [24:18], pad_left [31:25], mode [33:32]
    ins = Instruction.make("CFG.K", kh=3, kw=5, stride=2, dilation=1, pad_top=1, pad_left=2, pad_mode="gate")
    want = 0x0A | 3 << 6 | 5 << 9 | 2 << 12 | 1 << 15 | 1 << 18 | 2 << 25 | 2 << 32
    assert encode(ins) == want
    assert ins.text() == "CFG.K kh=3 kw=5 stride=2 dilation=1 pad_top=1 pad_left=2 pad_mode=gate"
    # Pads are signed (a negative pad starts the window inside the image): -1 is 7 one bits.
    neg = Instruction.make("CFG.K", kh=4, kw=4, stride=1, dilation=1, pad_top=-1, pad_left=-64, pad_mode="neg")
    assert encode(neg) >> 18 & 0x3FFF == 0x7F | 0x40 << 7 and decode(encode(neg)) == neg
    with pytest.raises(ChewcError, match=r"field 'pad_top' = 64 out of range -64\.\.63"):
        Instruction.make("CFG.K", kh=1, kw=1, stride=1, dilation=1, pad_top=64, pad_left=0, pad_mode="neg")
    # HOST: step [17:6].
    host = Instruction.make("HOST", step=4095)
    assert encode(host) == 0x03 | 4095 << 6 and host.op.cls == "control" and host.text() == "HOST step=4095"
    # Signed fields are two's complement.
    dma = Instruction.make("CFG.DMA", count=1, dram_stride=-1, chip_stride=-2)
    assert decode(encode(dma))["dram_stride"] == -1 and decode(encode(dma))["chip_stride"] == -2


@pytest.mark.parametrize(
    ("word", "message"),
    [
        (0x3F, "unknown opcode 0x3f"),
        (0x00, "unknown opcode 0x00"),
        (0x0A, "field 'kh' = 0 out of range 1..7"),
        (0x0A | 1 << 6 | 1 << 9 | 1 << 12 | 1 << 15 | 3 << 32, "field 'pad_mode' = 3 out of range 0..2"),
        (0x03 | 1 << 18, "HOST: unused bits set"),
        (0x01 | 1 << 40, "END: unused bits set"),
        (1 << 64, "does not fit in 64 bits"),
    ],
)
def test_decode_rejects(word: int, message: str) -> None:
    with pytest.raises(ChewcError, match=message):
        decode(word)


def test_make_checks_fields() -> None:
    with pytest.raises(ChewcError, match="unknown mnemonic 'CNV'"):
        Instruction.make("CNV")
    with pytest.raises(ChewcError, match="CONV needs field 'acc'"):
        Instruction.make("CONV", fmem=0, wmem=0, accumulate=0)
    with pytest.raises(ChewcError, match=r"field 'kh' = 9 out of range 1\.\.7"):
        Instruction.make("CFG.K", kh=9, kw=1, stride=1, dilation=1, pad_top=0, pad_left=0, pad_mode="neg")


def test_registers_and_uses() -> None:
    assert set(REGISTERS) >= {"in_h", "in_w", "in_c", "buf_row0", "buf_rows", "kh", "kw", "stride", "dilation"}
    assert {"pad_top", "pad_left", "pad_mode", "out_h", "out_w", "row0", "nrows", "oc_count"} <= set(REGISTERS)
    assert all(r in REGISTERS for op in OPS for r in op.uses)
    assert {"SYNC", "END", "HOST", "DMA.LD", "DMA.ST", "CONV", "THRESH", "POOL.B", "POOL.I", "ADD"} <= set(BY_MNEMONIC)


@pytest.mark.parametrize("machine_name", ["chewbaccann", "quarter"])
def test_address_fields_reach_every_word(machine_name: str) -> None:
    m = load_machine(machine_name)
    for mem in ("fmem", "wmem", "tmem", "acc", "dram"):
        assert m.memory.words(mem) <= address_limit(mem)


def test_committed_isa_doc_is_current() -> None:
    assert docgen.DOC.read_text() == docgen.generate(), "docs/isa.md is stale: run python -m runtime.docgen"


def test_docgen_check_mode() -> None:
    assert docgen.main(["--check"]) == 0
