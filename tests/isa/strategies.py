"""Hypothesis strategies for random valid instructions and programs."""

from __future__ import annotations

from hypothesis import strategies as st

from isa.container import DTYPES, ChewProgram, DataBlock, HostStep, HostTensor, Section, TensorDesc
from isa.errors import ChewcError
from isa.instruction import Instruction, decode, encode
from isa.machine import Machine
from isa.table import MEM_SELECT, OPS

NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.]{0,11}", fullmatch=True)


@st.composite
def instructions(draw: st.DrawFn, machine: Machine | None = None) -> Instruction:
    """Any legal instruction; with a machine, addresses also lie inside its memories."""
    op = draw(st.sampled_from(OPS))
    values: list[int] = []
    for f in op.fields:
        hi = f.hi
        if machine is not None and f.memory is not None:
            mem = op.field("mem").enum[values[0]] if f.memory == MEM_SELECT else f.memory
            hi = min(hi, machine.memory.words(mem) - 1)
        values.append(draw(st.integers(f.lo, hi)))
    return Instruction(op, tuple(values))


def _undecodable(word: int) -> bool:
    try:
        decode(word)
    except ChewcError:
        return True
    return False


@st.composite
def host_tensors(draw: st.DrawFn, output: bool, base: int) -> HostTensor:
    dtype = draw(st.sampled_from(DTYPES))
    shape = tuple(draw(st.lists(st.integers(1, 40), min_size=1, max_size=3).filter(lambda s: len(s) != 2)))
    zero = draw(st.sampled_from(["plus", "reject", ""])) if output and dtype == "bits" else ""
    return HostTensor(draw(st.text(min_size=1, max_size=12)), dtype, shape, draw(st.integers(base, base + 4096)), zero)


@st.composite
def host_steps(draw: st.DrawFn, base: int = 0) -> HostStep:
    """Any valid host step with tensors from DRAM word `base` on; the graph is random bytes (the
    container does not parse it)."""
    reason = draw(st.text(min_size=1, max_size=30).filter(str.strip))
    onnx = draw(st.binary(max_size=200))
    if not onnx:
        src = draw(host_tensors(False, base))
        dst = draw(host_tensors(True, base))
        return HostStep(reason, onnx, (src,), (HostTensor(dst.name, dst.dtype, src.shape, dst.dram_addr, dst.zero),))
    unique = lambda t: t.name  # noqa: E731
    ins = draw(st.lists(host_tensors(False, base), max_size=3, unique_by=unique))
    outs = draw(st.lists(host_tensors(True, base), min_size=1, max_size=3, unique_by=unique))
    return HostStep(reason, onnx, tuple(ins), tuple(outs))


@st.composite
def programs(draw: st.DrawFn, machine: Machine) -> ChewProgram:
    """A program the assembler can produce: instructions valid for `machine` or raw undecodable words
    (`.inst`), data blocks, tensors, host steps and other sections."""
    raw = st.integers(0, (1 << 64) - 1).filter(_undecodable)
    code = draw(st.lists(st.one_of(instructions(machine).map(encode), raw), max_size=30))
    names = draw(st.lists(NAMES, min_size=0, max_size=8, unique=True))
    addr, data, tensors = 0, [], []
    for i, name in enumerate(names):
        addr += draw(st.integers(0, 64))
        if i % 2:
            words = draw(st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=20))
            data.append(DataBlock.of(name, addr, words))
            addr += len(words)
        else:
            dtype = draw(st.sampled_from(DTYPES))
            shape = tuple(draw(st.integers(1, 40)) for _ in range(3))
            tensors.append(TensorDesc(name, dtype, shape, addr))  # type: ignore[arg-type]
            addr += tensors[-1].words
    split = draw(st.integers(0, len(tensors)))
    kinds = st.sampled_from(["debug", "meta.v1"])
    sections = draw(st.lists(st.tuples(kinds, NAMES, st.binary(max_size=80)), max_size=4, unique_by=lambda s: s[:2]))
    steps = draw(st.lists(st.integers(0, 4095), max_size=3, unique=True))
    hosts = [Section.host(k, draw(host_steps(addr))) for k in sorted(steps)]  # after the data: no overlap
    return ChewProgram(
        machine.hash(),
        machine.name,
        tuple(code),
        tuple(data),
        tuple(tensors[:split]),
        tuple(tensors[split:]),
        (*hosts, *(Section(k, n, p) for k, n, p in sections)),
    )
