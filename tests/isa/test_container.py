"""The .chew container: deterministic bytes, round trip, and errors that name the offset."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from isa.container import ChewProgram, DataBlock, HostStep, HostTensor, Section, TensorDesc
from isa.errors import ChewcError
from isa.machine import load_machine

HASH = bytes(range(32))
BINARISE = HostStep(
    "binarise the image",
    b"",
    (HostTensor("img", "f32", (3, 2, 2), 0x300),),
    (HostTensor("x", "bits", (12,), 0x0, "plus"),),
)


def sample() -> ChewProgram:
    return ChewProgram(
        HASH,
        "test",
        (0x01, 0x1234_5678_9ABC_DEF0),
        (DataBlock.of("w", 0x100, [1, 2, 0xFFFF, -1]),),
        (TensorDesc("x", "bits", (20, 4, 4), 0x0), TensorDesc("img", "f32", (3, 2, 2), 0x300)),
        (TensorDesc("y", "int16", (3, 2, 2), 0x200),),
        (Section.host(0, BINARISE), Section("debug", "main", b"\x00\x01\x02")),
    )


def with_crc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


def test_round_trip_and_layout() -> None:
    prog = sample()
    blob = prog.to_bytes()
    assert blob == sample().to_bytes()  # deterministic
    assert blob[:8] == b"CHEWBNN\0" and struct.unpack_from("<II", blob, 8) == (3, 7)
    assert blob[16:48] == HASH and blob[48:80] == b"test".ljust(32, b"\0")
    assert struct.unpack_from("<I", blob, len(blob) - 4)[0] == zlib.crc32(blob[:-4])
    back = ChewProgram.from_bytes(blob)
    assert back == prog
    assert back.data[0].words.tolist() == [1, 2, 0xFFFF, 0xFFFF]
    assert back.inputs[0].words == 2 * 4 * 4 and back.outputs[0].words == 12 and back.inputs[1].words == 24
    assert back.inputs[0].layout == "ghw" and back.outputs[0].layout == "chw" and back.inputs[1].layout == "chw"
    assert back.host_steps == {0: BINARISE}


def test_host_section_payload_is_canonical_json() -> None:
    payload = Section.host(0, BINARISE).payload
    assert payload == (
        b'{"inputs":[{"dram":768,"dtype":"f32","name":"img","shape":[3,2,2]}],"onnx":"",'
        b'"outputs":[{"dram":0,"dtype":"bits","name":"x","shape":[12],"zero":"plus"}],"reason":"binarise the image"}'
    )
    assert HostStep.parse(payload) == BINARISE
    with pytest.raises(ChewcError, match="host section 'host0': payload is not canonical JSON"):
        Section("host", "host0", payload.replace(b",", b", "))
    with pytest.raises(ChewcError, match="must be named host<step>"):
        Section("host", "main", payload)
    for bad, message in [
        (b"[1]", "payload needs exactly the keys inputs, onnx, outputs, reason"),
        (payload.replace(b'"zero":"plus"', b'"zero":"minus"'), "zero rule 'minus' is not plus, reject or empty"),
        (payload.replace(b'"dram":0', b'"dram":true'), r"outputs\[0\]: 'dram' and 'shape' must be integers"),
        (payload.replace(b'"onnx":""', b'"onnx":"!!"'), "'onnx' is not base64"),
        (payload.replace(b'"shape":[12]', b'"shape":[12,1]'), r"shape must be \[C, H, W\] or \[K\]"),
        (payload.replace(b'"shape":[12]', b'"shape":[11]'), "as many elements in as out"),
        (payload.replace(b'"reason":"binarise the image"', b'"reason":" "'), "must say why"),
        (b"\xff", "not ASCII JSON"),
    ]:
        with pytest.raises(ChewcError, match=message):
            Section("host", "host0", bad)


def test_host_sections_in_step_order_before_other_kinds() -> None:
    one, two = Section.host(1, BINARISE), Section.host(2, BINARISE)
    assert [s.name for s in ChewProgram(HASH, "test", (), sections=(one, two)).sections] == ["host1", "host2"]
    with pytest.raises(ChewcError, match="host sections go in step order"):
        ChewProgram(HASH, "test", (), sections=(two, one))
    with pytest.raises(ChewcError, match="host sections go before sections of other kinds"):
        ChewProgram(HASH, "test", (), sections=(Section("debug", "d", b""), one))
    with pytest.raises(ChewcError, match="must write at least one output"):
        HostStep("nothing", b"graph", BINARISE.inputs, ())
    with pytest.raises(ChewcError, match="a zero rule applies to bits outputs only"):
        HostTensor("y", "int16", (2,), 0, "plus")


def test_bad_magic() -> None:
    with pytest.raises(ChewcError, match=r"prog\.chew: bad magic at offset 0"):
        ChewProgram.from_bytes(b"ELF\x7f" + bytes(100), "prog.chew")


def test_bad_version() -> None:
    blob = bytearray(sample().to_bytes()[:-4])
    blob[8] = 7
    with pytest.raises(ChewcError, match=r"format version 7 at offset 0x8 \(this chewc reads version 3\)"):
        ChewProgram.from_bytes(with_crc(bytes(blob)))
    blob[8] = 1  # version 1 files predate f32 tensors and host sections
    with pytest.raises(ChewcError, match=r"format version 1 at offset 0x8 \(this chewc reads version 3; rebuild"):
        ChewProgram.from_bytes(with_crc(bytes(blob)))


def test_checksum_mismatch() -> None:
    blob = bytearray(sample().to_bytes())
    blob[60] ^= 0x40
    with pytest.raises(ChewcError, match="checksum mismatch"):
        ChewProgram.from_bytes(bytes(blob))


def test_section_runs_past_end() -> None:
    body = sample().to_bytes()[:-4]
    truncated = body[:-2]  # inside the last payload
    with pytest.raises(ChewcError, match=r"section 'debug' at offset 0x[0-9a-f]+ runs past end of file"):
        ChewProgram.from_bytes(with_crc(truncated))
    header_only = body[:80] + b"\x04\x04"
    with pytest.raises(ChewcError, match="section header at offset 0x50 runs past end of file"):
        ChewProgram.from_bytes(with_crc(header_only))


def test_stray_bytes_and_order() -> None:
    body = sample().to_bytes()[:-4]
    with pytest.raises(ChewcError, match="3 stray bytes"):
        ChewProgram.from_bytes(with_crc(body + b"abc"))
    out_of_order = ChewProgram(HASH, "test", (1,)).to_bytes()[:-4]
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
            HASH, "test", (), inputs=(TensorDesc("x", "bits", (1, 1, 1), 0),), outputs=(TensorDesc("x", "int16", (1, 1, 1), 9),)
        )
    with pytest.raises(ChewcError, match="section kind 'code' is reserved"):
        Section("code", "x", b"")
    with pytest.raises(ChewcError, match="'a b' is not a valid name"):
        DataBlock.of("a b", 0, [1])
    with pytest.raises(ChewcError, match="dtype must be one of bits, int16, f32"):
        TensorDesc("x", "float", (1, 1, 1), 0)
    with pytest.raises(ChewcError, match=r"shape must be \[C, H, W\]"):
        TensorDesc("x", "bits", (4, 4), 0)


def test_check_fits() -> None:
    m = load_machine()
    top = m.memory.dram.words
    ok = ChewProgram(
        HASH, "test", (), inputs=(TensorDesc("x", "int16", (1, 1, 4), 0),), outputs=(TensorDesc("y", "int16", (1, 1, 4), 2),)
    )
    ok.check_fits(m)  # an output may reuse its input's words
    with pytest.raises(ChewcError, match="input 'x' overlaps data 'w' in DRAM"):
        ChewProgram(
            HASH, "test", (), (DataBlock.of("w", 3, np.zeros(4)),), (TensorDesc("x", "int16", (1, 1, 4), 0),)
        ).check_fits(m)
    with pytest.raises(ChewcError, match=r"output 'y' at DRAM .* lies outside DRAM"):
        ChewProgram(HASH, "test", (), outputs=(TensorDesc("y", "int16", (1, 1, 4), top - 2),)).check_fits(m)


def test_bad_host_payload_in_a_file_names_the_offset() -> None:
    blob = sample().to_bytes()[:-4]
    bad = blob.replace(b'"zero":"plus"', b'"zero":"none"')
    with pytest.raises(
        ChewcError, match=r"p.chew: section 'host' at offset 0x[0-9a-f]+: host section 'host0': .*'none'"
    ):
        ChewProgram.from_bytes(with_crc(bad), "p.chew")


def test_check_fits_host_tensors() -> None:
    m = load_machine()
    top = m.memory.dram.words
    data = (DataBlock.of("w", 0x100, np.zeros(4)),)

    def step(addr: int) -> Section:
        return Section.host(
            3, HostStep("copy", b"", (HostTensor("a", "int16", (4,), 0),), (HostTensor("b", "f32", (4,), addr),))
        )

    ChewProgram(HASH, "test", (), data, sections=(step(0),)).check_fits(m)  # host scratch may overlap anything but data
    with pytest.raises(ChewcError, match=r"host3 output 'b' at DRAM .* lies outside DRAM"):
        ChewProgram(HASH, "test", (), data, sections=(step(top - 7),)).check_fits(m)
    with pytest.raises(ChewcError, match="host3 output 'b' overwrites data 'w' in DRAM"):
        ChewProgram(HASH, "test", (), data, sections=(step(0xFA),)).check_fits(m)
