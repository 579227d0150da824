"""Fuzzing: mutated and random programs either run or fail with a ChewcError, never anything else."""

from __future__ import annotations

import struct
import zlib
from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from isa.asm import assemble
from isa.container import ChewProgram
from isa.errors import ChewcError
from isa.instruction import Instruction, encode
from isa.machine import DEFAULT_MACHINE, Machine, load_machine
from isa.table import OPS
from runtime.emulator import emulate
from tests.runtime.reference import ASM
from tests.runtime.test_host_steps import CENTRE, HEAD, NETWORK, b64, conv_weight_words

PROGRAMS = ["conv3x3.s", "conv7x7.s", "dense.s", "thresh_pool.s", "residual_add.s"]


@pytest.fixture(scope="module")
def machine(tmp_path_factory: pytest.TempPathFactory) -> Machine:
    """The default chip with a small DRAM, so that each of thousands of runs starts fast."""
    path = tmp_path_factory.mktemp("machine") / "small_dram.toml"
    path.write_text(
        f'extends = "{DEFAULT_MACHINE}"\nname = "small_dram"\n'
        '[memory.dram]\nsize_bytes = { value = 65536, tag = "A", note = "fuzzing" }\n'
    )
    return load_machine(path)


def inputs_for(prog: ChewProgram, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        d.name: np.where(rng.random(d.shape) < 0.5, -1, 1) if d.dtype == "bits" else rng.integers(-99, 99, d.shape)
        for d in prog.inputs
    }


def outcome(prog: ChewProgram | bytes, inputs: dict[str, np.ndarray], machine: Machine) -> str:
    """'ok' or the kind of ChewcError; any other exception propagates and fails the test."""
    try:
        emulate(prog, inputs, machine)
    except ChewcError as e:
        return str(e).split()[0]
    return "ok"


def test_mutated_code_words(machine: Machine) -> None:
    rng = np.random.default_rng(2024)
    seen: Counter[str] = Counter()
    for name in PROGRAMS:
        prog = assemble((ASM / name).read_text(), machine, name)
        inputs = inputs_for(prog, rng)
        for _ in range(300):
            code = list(prog.code)
            for _ in range(rng.integers(1, 4)):
                i = int(rng.integers(len(code)))
                code[i] ^= 1 << int(rng.integers(64))
            mutant = ChewProgram(prog.machine_hash, prog.machine_name, tuple(code), prog.data, prog.inputs, prog.outputs)
            seen[outcome(mutant, inputs, machine)] += 1
    assert sum(seen.values()) == 1500
    # Mutants get past decoding often enough to reach the run-time checks, and some still run.
    assert seen["ok"] > 20 and seen["instruction"] > 500 and seen["output"] > 0


def test_mutated_container_bytes(machine: Machine) -> None:
    rng = np.random.default_rng(7)
    prog = assemble((ASM / "thresh_pool.s").read_text(), machine, "thresh_pool.s")
    blob, inputs = prog.to_bytes(), inputs_for(prog, rng)
    kinds: Counter[str] = Counter()
    for trial in range(1000):
        body = bytearray(blob[:-4])
        for _ in range(rng.integers(1, 4)):
            body[int(rng.integers(len(body)))] = int(rng.integers(256))
        if rng.random() < 0.3:
            body = body[: int(rng.integers(len(body)))]
        # Mostly with a valid checksum, so that the parser behind it gets exercised.
        crc = zlib.crc32(bytes(body)) if trial % 4 else 0xDEADBEEF
        kinds[outcome(bytes(body) + struct.pack("<I", crc), inputs, machine)] += 1
    assert kinds["program:"] > 100 and kinds["ok"] > 0  # "program: ..." = container errors


def test_mutated_host_program_bytes(machine: Machine) -> None:
    """Host sections (JSON, base64 ONNX graphs) survive corruption as ChewcErrors too."""
    rng = np.random.default_rng(11)
    text = NETWORK.format(centre=b64(CENTRE), head=b64(HEAD), weights=conv_weight_words())
    blob = assemble(text, machine, "network.s").to_bytes()
    start = blob.index(b'{"inputs"')  # mutate the host sections and what follows them
    image = rng.random((3, 4, 4), dtype=np.float32)
    kinds: Counter[str] = Counter()
    for _ in range(400):
        body = bytearray(blob[:-4])
        for _ in range(rng.integers(1, 3)):
            body[int(rng.integers(start, len(body)))] = int(rng.integers(256))
        kinds[outcome(bytes(body) + struct.pack("<I", zlib.crc32(bytes(body))), {"img": image}, machine)] += 1
    assert kinds["program:"] > 100 and kinds["ok"] + kinds["instruction"] > 0


def small_values(f_lo: int, f_hi: int) -> st.SearchStrategy[int]:
    """Mostly small field values (plausible geometry), sometimes anything in range."""
    return st.one_of(st.integers(f_lo, min(f_hi, f_lo + 20)), st.integers(f_lo, f_hi))


@st.composite
def random_instruction(draw: st.DrawFn) -> int:
    op = draw(st.sampled_from(OPS))
    return encode(Instruction(op, tuple(draw(small_values(f.lo, f.hi)) for f in op.fields)))


@pytest.fixture(scope="module")
def prelude(machine: Machine) -> ChewProgram:
    """Fills part of every memory with written data, so that random compute instructions get far."""
    return assemble(
        """
        CFG.DMA count=1 dram_stride=0 chip_stride=0
        DMA.LD mem=fmem dram=0x0 chip=0x0 length=4096
        DMA.LD mem=wmem dram=0x0 chip=0x0 length=4096
        DMA.LD mem=tmem dram=0x0 chip=0x0 length=1024
        DMA.LD mem=acc dram=0x0 chip=0x0 length=4096
        SYNC
        .data fill @0x0
        """
        + "\n".join(".word " + " ".join(["0x00f0"] * 64) for _ in range(64)),
        machine,
    )


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(words=st.lists(random_instruction(), min_size=1, max_size=25), end=st.booleans())
@pytest.mark.slow
def test_random_instruction_streams(machine: Machine, prelude: ChewProgram, words: list[int], end: bool) -> None:
    code = prelude.code + tuple(words) + ((0x01,) if end else ())
    prog = ChewProgram(prelude.machine_hash, prelude.machine_name, code, prelude.data)
    outcome(prog, {}, machine)


def test_fuzz_machine_differs_only_in_dram(machine: Machine) -> None:
    default = load_machine()
    assert machine.memory.dram.words == 32768
    assert (machine.array, machine.memory.fmem, machine.units) == (default.array, default.memory.fmem, default.units)
