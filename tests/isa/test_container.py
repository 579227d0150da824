"""The .chew container: deterministic bytes, round trip, and errors that name the offset."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from isa.container import ChewProgram, DataBlock, Section, TensorDesc
from isa.errors import ChewcError
from isa.machine import load_machine

HASH = bytes(range(32))


def sample() -> ChewProgram:
    return ChewProgram(
        HASH,
        (0x01, 0x1234_5678_9ABC_DEF0),
        (DataBlock.of("w", 0x100, [1, 2, 0xFFFF, -1]),),
        (TensorDesc("x", "bits", (20, 4, 4), 0x0),),
        (TensorDesc("y", "int16", (3, 2, 2), 0x200),),
        (Section("host", "main", b"\x00\x01\x02"),),
    )


def with_crc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


def test_round_trip_and_layout() -> None:
    prog = sample()
    blob = prog.to_bytes()
    assert blob == sample().to_bytes()  # deterministic
    assert blob[:8] == b"CHEWBNN\0" and struct.unpack_from("<II", blob, 8) == (1, 5)
    assert blob[16:48] == HASH
    assert struct.unpack_from("<I", blob, len(blob) - 4)[0] == zlib.crc32(blob[:-4])
    back = ChewProgram.from_bytes(blob)
    assert back == prog
    assert back.data[0].words.tolist() == [1, 2, 0xFFFF, 0xFFFF]
    assert back.inputs[0].words == 2 * 4 * 4 and back.outputs[0].words == 12
    assert back.inputs[0].layout == "ghw" and back.outputs[0].layout == "chw"


def test_bad_magic() -> None:
    with pytest.raises(ChewcError, match=r"prog\.chew: bad magic at offset 0"):
        ChewProgram.from_bytes(b"ELF\x7f" + bytes(100), "prog.chew")


def test_bad_version() -> None:
    blob = bytearray(sample().to_bytes()[:-4])
    blob[8] = 7
    with pytest.raises(ChewcError, match="format version 7 at offset 0x8"):
        ChewProgram.from_bytes(with_crc(bytes(blob)))


def test_checksum_mismatch() -> None:
    blob = bytearray(sample().to_bytes())
    blob[60] ^= 0x40
    with pytest.raises(ChewcError, match="checksum mismatch"):
        ChewProgram.from_bytes(bytes(blob))


def test_section_runs_past_end() -> None:
    body = sample().to_bytes()[:-4]
    truncated = body[:-2]  # inside the last payload
    with pytest.raises(ChewcError, match=r"section 'host' at offset 0x[0-9a-f]+ runs past end of file"):
        ChewProgram.from_bytes(with_crc(truncated))
    header_only = body[:48] + b"\x04\x04"
    with pytest.raises(ChewcError, match="section header at offset 0x30 runs past end of file"):
        ChewProgram.from_bytes(with_crc(header_only))


def test_stray_bytes_and_order() -> None:
    body = sample().to_bytes()[:-4]
    with pytest.raises(ChewcError, match="3 stray bytes"):
        ChewProgram.from_bytes(with_crc(body + b"abc"))
    out_of_order = ChewProgram(HASH, (1,)).to_bytes()[:-4]
    # Append an input descriptor after a (fake) other section: inputs must come before other kinds.
    host = struct.pack("<BBHI", 4, 1, 0, 0) + b"hostm"
    tensor = struct.pack("<BBBBI3I", 1, 1, 3, 0, 0, 1, 1, 1)
    inp = struct.pack("<BBHI", 5, 1, 0, len(tensor)) + b"inputx" + tensor
    blob = bytearray(out_of_order + host + inp)
    blob[12] = 3
    with pytest.raises(ChewcError, match=r"section 'input' at offset 0x[0-9a-f]+ is out of order"):
        ChewProgram.from_bytes(with_crc(bytes(blob)))


def test_validation() -> None:
    with pytest.raises(ChewcError, match="tensor 'x' defined twice"):
        ChewProgram(
            HASH, (), inputs=(TensorDesc("x", "bits", (1, 1, 1), 0),), outputs=(TensorDesc("x", "int16", (1, 1, 1), 9),)
        )
    with pytest.raises(ChewcError, match="section kind 'code' is reserved"):
        Section("code", "x", b"")
    with pytest.raises(ChewcError, match="'a b' is not a valid name"):
        DataBlock.of("a b", 0, [1])
    with pytest.raises(ChewcError, match="dtype must be one of bits, int16"):
        TensorDesc("x", "float", (1, 1, 1), 0)
    with pytest.raises(ChewcError, match=r"shape must be \[C, H, W\]"):
        TensorDesc("x", "bits", (4, 4), 0)


def test_check_fits() -> None:
    m = load_machine()
    top = m.memory.dram.words
    ok = ChewProgram(
        HASH, (), inputs=(TensorDesc("x", "int16", (1, 1, 4), 0),), outputs=(TensorDesc("y", "int16", (1, 1, 4), 2),)
    )
    ok.check_fits(m)  # an output may reuse its input's words
    with pytest.raises(ChewcError, match="input 'x' overlaps data 'w' in DRAM"):
        ChewProgram(
            HASH, (), (DataBlock.of("w", 3, np.zeros(4)),), (TensorDesc("x", "int16", (1, 1, 4), 0),)
        ).check_fits(m)
    with pytest.raises(ChewcError, match=r"output 'y' at DRAM .* lies outside DRAM"):
        ChewProgram(HASH, (), outputs=(TensorDesc("y", "int16", (1, 1, 4), top - 2),)).check_fits(m)
