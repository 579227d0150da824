"""The `.chew` program container.

Layout (all integers little-endian):

    offset 0   magic  b"CHEWBNN\\0"
    offset 8   u32    format version (3; 2 had no machine name, 1 no f32 tensors and no host sections)
    offset 12  u32    number of sections
    offset 16  32 B   sha256 of the machine description the program was built for (`Machine.hash()`)
    offset 48  32 B   that machine's name (ASCII, NUL-padded), so a wrong machine is named in errors
    offset 80  sections, each: u8 kind length, u8 name length, u16 zero, u32 payload length,
               kind (ASCII), name (ASCII), payload
    last 4 B   u32    CRC32 of every byte before it

Sections come in a fixed order, which makes the bytes of a program unique: one `code` section (named
`code`: u64 instruction words), then `data` sections (u32 DRAM word address, then u16 words placed
there at load), `input` and `output` tensor descriptors (u8 dtype 0 bits / 1 int16 / 2 f32, u8 layout
0 ghw / 1 chw, u8 rank = 3, u8 zero, u32 DRAM word address, rank x u32 dimensions [C, H, W]), then
`host` sections in increasing step order, then any other kinds (opaque bytes).

A host section named `host<k>` describes host step k, which `HOST step=k` runs. Its payload is JSON
with sorted keys, no spaces and only ASCII (so the bytes are unique), e.g.

    {"inputs":[{"dram":0,"dtype":"f32","name":"x","shape":[3,32,32]}],"onnx":"<base64>",
     "outputs":[{"dram":6144,"dtype":"bits","name":"y","shape":[3,32,32],"zero":"plus"}],
     "reason":"binarise the image"}

`onnx` is a base64 ONNX ModelProto whose graph inputs and outputs the tensors name, or "" for a step
that copies its one input to its one output of as many elements (a relayout or a binarisation).
A step with the key `planes`, e.g. `"planes":{"bits":8,"exponent":-7,"signed":true}`, splits its one
f32 input x [C, H, W] into bit planes instead (and has "onnx":""): q = x / 2**exponent must be an
integer of `bits` bits (two's complement when signed; anything else is an error naming the position).
Its one output is bits [bits * P, H, W], P = 16 * ceil(C / 16), zero "": channel b * P + c holds bit b
of q at channel c as +-1 (1 -> +1, 0 -> -1), the other channels -1 (each plane starts a word).
Shapes are [C, H, W] or [K] (stored as [K, 1, 1]); dtypes and DRAM layouts are those of program
tensors. `zero` says what an exact 0 becomes in a bits output: "plus" +1; "reject" (or "", for
values expected to be +-1 already) an error. Other outputs have zero "".
"""

from __future__ import annotations

import base64
import json
import re
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from math import ceil, prod
from typing import Any

import numpy as np

from isa.errors import ChewcError
from isa.machine import NAME_BYTES, Machine
from isa.machine import NAME_RE as MACHINE_NAME_RE
from isa.table import CHANNELS_PER_WORD

MAGIC = b"CHEWBNN\0"
FORMAT_VERSION = 3
HASH_BYTES = 32
_HEADER = struct.Struct(f"<8sII32s{NAME_BYTES}s")
_SECTION = struct.Struct("<BBHI")
_TENSOR = struct.Struct("<BBBBI")
_CRC = struct.Struct("<I")
RANK = 3
NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
RESERVED_KINDS = ("code", "data", "input", "output")
HOST_KIND = "host"
HOST_NAME_RE = re.compile(r"host(0|[1-9][0-9]*)")
DTYPES = ("bits", "int16", "f32")
# The only layout of each dtype (see the data conventions in docs/isa.md).
LAYOUT_OF = {"bits": "ghw", "int16": "chw", "f32": "chw"}
LAYOUTS = ("ghw", "chw")
WORD_BYTES = 2
ZERO_RULES = ("plus", "reject", "")


def to_chw(shape: Sequence[int]) -> tuple[int, int, int]:
    """A shape as the [C, H, W] of the data layouts: [C, H, W] itself, anything else a vector [K, 1, 1]."""
    s = tuple(int(d) for d in shape)
    return (s[0], s[1], s[2]) if len(s) == RANK else (prod(s), 1, 1)


def tensor_words(dtype: str, shape: tuple[int, int, int]) -> int:
    """DRAM words of a tensor [C, H, W]: 16 channels per word for bits, 1 word per int16, 2 per f32."""
    c, h, w = shape
    return {"bits": ceil(c / CHANNELS_PER_WORD), "int16": c, "f32": 2 * c}[dtype] * h * w


def _check_name(what: str, name: str) -> None:
    if not NAME_RE.fullmatch(name) or len(name) > 255:
        raise ChewcError(f"{what} '{name}' is not a valid name (letters, digits, '_', '.'; at most 255)")


@dataclass(frozen=True)
class DataBlock:
    """Constant words (weights, thresholds) the loader places in DRAM at `dram_addr`."""

    name: str
    dram_addr: int
    payload: bytes  # little-endian u16 words

    @staticmethod
    def of(name: str, dram_addr: int, words: np.ndarray | list[int]) -> DataBlock:
        arr = np.asarray(words)
        if arr.size and (arr.min() < -(1 << 15) or arr.max() >= (1 << 16)):
            raise ChewcError(f"data '{name}': words must lie in -32768..65535")
        return DataBlock(name, dram_addr, arr.astype(np.int64).astype("<u2").tobytes())

    @property
    def words(self) -> np.ndarray:
        return np.frombuffer(self.payload, "<u2")

    def __post_init__(self) -> None:
        _check_name("data block", self.name)
        if len(self.payload) % WORD_BYTES or not self.payload:
            raise ChewcError(f"data '{self.name}' must hold at least one whole 16-bit word")
        if not 0 <= self.dram_addr < 1 << 32:
            raise ChewcError(f"data '{self.name}': DRAM address {self.dram_addr} out of range")


@dataclass(frozen=True)
class TensorDesc:
    """A program input or output: logical shape [C, H, W], element type, and where it lives in DRAM."""

    name: str
    dtype: str
    shape: tuple[int, int, int]
    dram_addr: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))
        _check_name("tensor", self.name)
        if self.dtype not in DTYPES:
            raise ChewcError(f"tensor '{self.name}': dtype must be one of {', '.join(DTYPES)}")
        if len(self.shape) != RANK or any(not 0 < d < 1 << 32 for d in self.shape):
            raise ChewcError(f"tensor '{self.name}': shape must be [C, H, W] of positive sizes")
        if not 0 <= self.dram_addr < 1 << 32:
            raise ChewcError(f"tensor '{self.name}': DRAM address {self.dram_addr} out of range")

    @property
    def layout(self) -> str:
        return LAYOUT_OF[self.dtype]

    @property
    def words(self) -> int:
        return tensor_words(self.dtype, self.shape)


@dataclass(frozen=True)
class HostTensor:
    """A tensor a host step reads or writes: a graph input/output name, shape [C, H, W] or [K], DRAM place."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    dram_addr: int
    zero: str = ""  # outputs of dtype bits: the rule for an exact 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(self.shape))
        if not self.name:
            raise ChewcError("host tensor names must not be empty")
        if self.dtype not in DTYPES:
            raise ChewcError(f"host tensor '{self.name}': dtype must be one of {', '.join(DTYPES)}")
        if len(self.shape) not in (1, RANK) or any(not 0 < d < 1 << 32 for d in self.shape):
            raise ChewcError(f"host tensor '{self.name}': shape must be [C, H, W] or [K] of positive sizes")
        if not 0 <= self.dram_addr < 1 << 32:
            raise ChewcError(f"host tensor '{self.name}': DRAM address {self.dram_addr} out of range")
        if self.zero not in ZERO_RULES:
            raise ChewcError(f"host tensor '{self.name}': zero rule '{self.zero}' is not plus, reject or empty")
        if self.zero and self.dtype != "bits":
            raise ChewcError(f"host tensor '{self.name}': a zero rule applies to bits outputs only")

    @property
    def chw(self) -> tuple[int, int, int]:
        return to_chw(self.shape)

    @property
    def elements(self) -> int:
        return prod(self.shape)

    @property
    def words(self) -> int:
        return tensor_words(self.dtype, self.chw)


_HOST_KEYS = {"inputs", "onnx", "outputs", "reason"}
_IN_KEYS = {"dram", "dtype", "name", "shape"}
_OUT_KEYS = _IN_KEYS | {"zero"}


@dataclass(frozen=True)
class Planes:
    """A host step's bit-plane split: q = x / 2**exponent, an integer of `bits` bits, plane b = bit b."""

    bits: int
    exponent: int
    signed: bool

    def __post_init__(self) -> None:
        if not 1 <= self.bits <= 16:
            raise ChewcError(f"planes: bits must be 1..16, got {self.bits}")
        if not -126 <= self.exponent <= 127:
            raise ChewcError(f"planes: exponent must be -126..127 (a float32 power of two), got {self.exponent}")

    @property
    def range(self) -> tuple[int, int]:
        """The integers q may hold."""
        return (-(1 << (self.bits - 1)), (1 << (self.bits - 1)) - 1) if self.signed else (0, (1 << self.bits) - 1)

    def weights(self) -> list[int]:
        """What plane b weighs in q: 2**b, and -2**(bits-1) for the sign plane."""
        return [-(1 << b) if self.signed and b == self.bits - 1 else 1 << b for b in range(self.bits)]


@dataclass(frozen=True)
class HostStep:
    """What the host does at one HOST instruction (see the module doc for the JSON payload)."""

    reason: str
    onnx: bytes  # serialized ModelProto; empty: copy the one input to the one output (or split planes)
    inputs: tuple[HostTensor, ...]
    outputs: tuple[HostTensor, ...]
    planes: Planes | None = None

    def __post_init__(self) -> None:
        if not self.reason.strip():
            raise ChewcError("a host step must say why it runs on the host (empty reason)")
        for what, tensors in (("input", self.inputs), ("output", self.outputs)):
            names = [t.name for t in tensors]
            dup = next((n for i, n in enumerate(names) if n in names[:i]), None)
            if dup is not None:
                raise ChewcError(f"host {what} '{dup}' given twice")
        if any(t.zero for t in self.inputs):
            raise ChewcError("a zero rule applies to outputs only")
        if not self.outputs:
            raise ChewcError("a host step must write at least one output")
        if self.planes is not None:
            self._check_planes(self.planes)
        elif not self.onnx:
            if len(self.inputs) != 1 or len(self.outputs) != 1:
                raise ChewcError("a host step without an ONNX graph copies exactly one input to one output")
            if self.inputs[0].elements != self.outputs[0].elements:
                raise ChewcError(
                    f"a host copy needs as many elements in as out ({self.inputs[0].elements} vs "
                    f"{self.outputs[0].elements})"
                )

    def _check_planes(self, planes: Planes) -> None:
        if self.onnx:
            raise ChewcError("a bit-plane step has no ONNX graph")
        if len(self.inputs) != 1 or self.inputs[0].dtype != "f32":
            raise ChewcError("a bit-plane step reads exactly one f32 input")
        c, h, w = self.inputs[0].chw
        want = (planes.bits * CHANNELS_PER_WORD * -(-c // CHANNELS_PER_WORD), h, w)
        if len(self.outputs) != 1 or self.outputs[0].dtype != "bits" or self.outputs[0].chw != want or self.outputs[0].zero:
            raise ChewcError(f"a bit-plane step writes one bits output of shape {list(want)} with no zero rule")

    def payload(self) -> bytes:
        def tensor(t: HostTensor, output: bool) -> dict[str, Any]:
            fields = {"name": t.name, "dram": t.dram_addr, "shape": list(t.shape), "dtype": t.dtype}
            return {**fields, "zero": t.zero} if output else fields

        body = {
            "reason": self.reason,
            "onnx": base64.b64encode(self.onnx).decode("ascii"),
            "inputs": [tensor(t, False) for t in self.inputs],
            "outputs": [tensor(t, True) for t in self.outputs],
        }
        if self.planes is not None:
            p = self.planes
            body["planes"] = {"bits": p.bits, "exponent": p.exponent, "signed": p.signed}
        return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")

    @staticmethod
    def parse(payload: bytes) -> HostStep:
        """The step of a host section payload; anything but the canonical JSON of a valid step is an error."""
        try:
            body = json.loads(payload.decode("ascii"))
        except (UnicodeDecodeError, ValueError) as e:
            raise ChewcError(f"payload is not ASCII JSON ({e})") from e
        _keys(body, _HOST_KEYS | ({"planes"} if isinstance(body, dict) and "planes" in body else set()), "payload")
        if not isinstance(body["reason"], str) or not isinstance(body["onnx"], str):
            raise ChewcError("payload: 'reason' and 'onnx' must be strings")
        try:
            onnx = base64.b64decode(body["onnx"], validate=True)
        except ValueError as e:
            raise ChewcError("payload: 'onnx' is not base64") from e
        planes = _planes(body["planes"]) if "planes" in body else None
        step = HostStep(body["reason"], onnx, _host_tensors(body, "inputs"), _host_tensors(body, "outputs"), planes)
        if step.payload() != payload:
            raise ChewcError("payload is not canonical JSON (sorted keys, no spaces, ASCII, canonical base64)")
        return step


def _keys(obj: object, keys: set[str], what: str) -> None:
    if not isinstance(obj, dict) or set(obj) != keys:
        got = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
        raise ChewcError(f"{what} needs exactly the keys {', '.join(sorted(keys))} (got {got})")


def _planes(value: object) -> Planes:
    _keys(value, {"bits", "exponent", "signed"}, "payload: planes")
    assert isinstance(value, dict)
    if type(value["bits"]) is not int or type(value["exponent"]) is not int or type(value["signed"]) is not bool:
        raise ChewcError("payload: planes needs integers 'bits' and 'exponent' and a boolean 'signed'")
    return Planes(value["bits"], value["exponent"], value["signed"])


def _host_tensors(body: dict[str, Any], key: str) -> tuple[HostTensor, ...]:
    items = body[key]
    if not isinstance(items, list):
        raise ChewcError(f"payload: '{key}' must be a list")
    tensors = []
    for i, t in enumerate(items):
        where = f"payload: {key}[{i}]"
        _keys(t, _OUT_KEYS if key == "outputs" else _IN_KEYS, where)
        ints = [t["dram"], *t["shape"]] if isinstance(t["shape"], list) else None
        if ints is None or any(type(v) is not int for v in ints):
            raise ChewcError(f"{where}: 'dram' and 'shape' must be integers")
        if not all(isinstance(t[k], str) for k in ("name", "dtype", *(["zero"] if key == "outputs" else []))):
            raise ChewcError(f"{where}: 'name', 'dtype' and 'zero' must be strings")
        tensors.append(HostTensor(t["name"], t["dtype"], tuple(t["shape"]), t["dram"], t.get("zero", "")))
    return tuple(tensors)


@dataclass(frozen=True)
class Section:
    """A named section of another kind: a host step (checked) or opaque bytes."""

    kind: str
    name: str
    payload: bytes

    def __post_init__(self) -> None:
        _check_name("section kind", self.kind)
        _check_name("section", self.name)
        if self.kind in RESERVED_KINDS:
            raise ChewcError(f"section kind '{self.kind}' is reserved")
        if self.kind == HOST_KIND:
            if not HOST_NAME_RE.fullmatch(self.name):
                raise ChewcError(f"host section '{self.name}' must be named host<step>, e.g. host0")
            try:
                HostStep.parse(self.payload)
            except ChewcError as e:
                raise ChewcError(f"host section '{self.name}': {e}") from e

    @property
    def step(self) -> int:
        """The host step index of a host section."""
        return int(self.name[len(HOST_KIND) :])

    @staticmethod
    def host(step: int, host_step: HostStep) -> Section:
        return Section(HOST_KIND, f"{HOST_KIND}{step}", host_step.payload())


@dataclass(frozen=True)
class ChewProgram:
    machine_hash: bytes
    machine_name: str
    code: tuple[int, ...]
    data: tuple[DataBlock, ...] = ()
    inputs: tuple[TensorDesc, ...] = ()
    outputs: tuple[TensorDesc, ...] = ()
    sections: tuple[Section, ...] = ()

    def __post_init__(self) -> None:
        if len(self.machine_hash) != HASH_BYTES:
            raise ChewcError(f"machine hash must be {HASH_BYTES} bytes")
        if not MACHINE_NAME_RE.fullmatch(self.machine_name):
            raise ChewcError(f"machine name {self.machine_name!r} is not 1 to {NAME_BYTES} letters, digits, '_', '.' or '-'")
        if any(not 0 <= w < 1 << 64 for w in self.code):
            raise ChewcError("instruction words must be unsigned 64-bit")
        for what, names in (
            ("data block", [d.name for d in self.data]),
            ("tensor", [t.name for t in (*self.inputs, *self.outputs)]),
            ("section", [f"{s.kind} {s.name}" for s in self.sections]),
        ):
            dup = next((n for i, n in enumerate(names) if n in names[:i]), None)
            if dup is not None:
                raise ChewcError(f"{what} '{dup}' defined twice")
        hosts = [s.kind == HOST_KIND for s in self.sections]
        if hosts != sorted(hosts, reverse=True):
            raise ChewcError("host sections go before sections of other kinds")
        steps = [s.step for s in self.sections if s.kind == HOST_KIND]
        if steps != sorted(steps):
            raise ChewcError(f"host sections go in step order (got steps {', '.join(map(str, steps))})")

    @property
    def host_steps(self) -> dict[int, HostStep]:
        return {s.step: HostStep.parse(s.payload) for s in self.sections if s.kind == HOST_KIND}

    def check_fits(self, machine: Machine) -> None:
        """Every data block and tensor lies in DRAM; data blocks overlap nothing, inputs not each other.

        Host tensors are scratch the host shares with the accelerator; they may only not overwrite data.
        """
        size = machine.memory.dram.words
        spans = [("data", d.name, d.dram_addr, d.words.size) for d in self.data]
        spans += [("input", t.name, t.dram_addr, t.words) for t in self.inputs]
        spans += [("output", t.name, t.dram_addr, t.words) for t in self.outputs]
        scratch = [
            (f"host{k} {what}", t.name, t.dram_addr, t.words)
            for k, step in self.host_steps.items()
            for what, tensors in (("input", step.inputs), ("output", step.outputs))
            for t in tensors
        ]
        for kind, name, addr, n in spans + scratch:
            if addr + n > size:
                raise ChewcError(
                    f"{kind} '{name}' at DRAM {addr:#x}..{addr + n - 1:#x} lies outside DRAM ({size} words)"
                )
        for i, (k1, n1, a1, s1) in enumerate(spans):
            for k2, n2, a2, s2 in spans[:i]:
                # An output may reuse an input's words (in-place); nothing else may overlap.
                if {k1, k2} != {"input", "output"} and a1 < a2 + s2 and a2 < a1 + s1:
                    raise ChewcError(f"{k1} '{n1}' overlaps {k2} '{n2}' in DRAM")
        for k1, n1, a1, s1 in scratch:
            for _, n2, a2, s2 in spans[: len(self.data)]:
                if k1.endswith("output") and a1 < a2 + s2 and a2 < a1 + s1:
                    raise ChewcError(f"{k1} '{n1}' overwrites data '{n2}' in DRAM")

    def to_bytes(self) -> bytes:
        name = self.machine_name.encode("ascii")
        parts = [_HEADER.pack(MAGIC, FORMAT_VERSION, self._section_count(), self.machine_hash, name)]
        parts.append(_section("code", "code", struct.pack(f"<{len(self.code)}Q", *self.code)))
        for d in self.data:
            parts.append(_section("data", d.name, struct.pack("<I", d.dram_addr) + d.payload))
        for kind, tensors in (("input", self.inputs), ("output", self.outputs)):
            for t in tensors:
                head = _TENSOR.pack(DTYPES.index(t.dtype), LAYOUTS.index(t.layout), RANK, 0, t.dram_addr)
                parts.append(_section(kind, t.name, head + struct.pack(f"<{RANK}I", *t.shape)))
        for s in self.sections:
            parts.append(_section(s.kind, s.name, s.payload))
        body = b"".join(parts)
        return body + _CRC.pack(zlib.crc32(body))

    def _section_count(self) -> int:
        return 1 + len(self.data) + len(self.inputs) + len(self.outputs) + len(self.sections)

    @staticmethod
    def from_bytes(blob: bytes, origin: str = "program") -> ChewProgram:
        return _Reader(blob, origin).program()


def _section(kind: str, name: str, payload: bytes) -> bytes:
    k, n = kind.encode(), name.encode()
    return _SECTION.pack(len(k), len(n), 0, len(payload)) + k + n + payload


class _Reader:
    def __init__(self, blob: bytes, origin: str) -> None:
        self.blob, self.origin = blob, origin

    def fail(self, message: str) -> ChewcError:
        return ChewcError(f"{self.origin}: {message}")

    def program(self) -> ChewProgram:
        blob = self.blob
        if len(blob) < 8 or blob[:8] != MAGIC:
            raise self.fail("bad magic at offset 0 (not a .chew file)")
        if len(blob) < _HEADER.size + _CRC.size:
            raise self.fail(f"file ends at offset {len(blob):#x}, inside the header")
        _, version, count, machine_hash, raw_name = _HEADER.unpack_from(blob)
        if version != FORMAT_VERSION:
            hint = "; rebuild the program" if version < FORMAT_VERSION else ""
            raise self.fail(f"format version {version} at offset 0x8 (this chewc reads version {FORMAT_VERSION}{hint})")
        (stored,) = _CRC.unpack_from(blob, len(blob) - _CRC.size)
        body = blob[: -_CRC.size]
        if zlib.crc32(body) != stored:
            raise self.fail(f"checksum mismatch (stored {stored:#010x}, computed {zlib.crc32(body):#010x})")
        parsed = [self.section(body, off) for off in self.offsets(body, count)]
        order = ["code", "data", "input", "output", HOST_KIND]
        rank = [order.index(k) if k in order else len(order) for _, k, _, _ in parsed]
        for i in range(1, len(rank)):
            if rank[i] < rank[i - 1]:
                raise self.fail(f"section '{parsed[i][1]}' at offset {parsed[i][0]:#x} is out of order")
        if not parsed or parsed[0][1] != "code" or rank.count(0) != 1 or parsed[0][2] != "code":
            raise self.fail("a program needs exactly one section 'code' named 'code', first")
        try:
            name = raw_name.rstrip(b"\0").decode("ascii")
        except UnicodeDecodeError:
            raise self.fail("the machine name at offset 0x30 is not ASCII") from None
        try:
            return self.build(parsed, machine_hash, name)
        except ChewcError as e:
            raise self.fail(str(e)) from e

    def offsets(self, body: bytes, count: int) -> list[int]:
        offsets, off = [], _HEADER.size
        for _ in range(count):
            if off + _SECTION.size > len(body):
                raise self.fail(f"section header at offset {off:#x} runs past end of file")
            klen, nlen, zero, plen = _SECTION.unpack_from(body, off)
            if zero:
                raise self.fail(f"section header at offset {off:#x}: reserved bytes are not zero")
            offsets.append(off)
            off += _SECTION.size + klen + nlen + plen
            if off > len(body):
                kind = body[offsets[-1] + _SECTION.size : offsets[-1] + _SECTION.size + klen]
                raise self.fail(
                    f"section '{kind.decode(errors='replace')}' at offset {offsets[-1]:#x} runs past end of file"
                )
        if off != len(body):
            raise self.fail(f"{len(body) - off} stray bytes at offset {off:#x} after the last section")
        return offsets

    def section(self, body: bytes, off: int) -> tuple[int, str, str, bytes]:
        klen, nlen, _, plen = _SECTION.unpack_from(body, off)
        start = off + _SECTION.size
        try:
            kind = body[start : start + klen].decode("ascii")
            name = body[start + klen : start + klen + nlen].decode("ascii")
        except UnicodeDecodeError as e:
            raise self.fail(f"section at offset {off:#x}: kind or name is not ASCII") from e
        payload = body[start + klen + nlen : start + klen + nlen + plen]
        return off, kind, name, payload

    def build(self, parsed: list[tuple[int, str, str, bytes]], machine_hash: bytes, machine_name: str) -> ChewProgram:
        code: tuple[int, ...] = ()
        data: list[DataBlock] = []
        inputs: list[TensorDesc] = []
        outputs: list[TensorDesc] = []
        others: list[Section] = []
        for off, kind, name, payload in parsed:
            where = f"section '{kind}' at offset {off:#x}"
            if kind == "code":
                if len(payload) % 8:
                    raise ChewcError(f"{where}: {len(payload)} bytes is not a whole number of instructions")
                code = struct.unpack(f"<{len(payload) // 8}Q", payload)
            elif kind == "data":
                if len(payload) < 4 + WORD_BYTES or len(payload) % WORD_BYTES:
                    raise ChewcError(f"{where}: payload of {len(payload)} bytes is not an address + words")
                data.append(DataBlock(name, struct.unpack_from("<I", payload)[0], payload[4:]))
            elif kind in ("input", "output"):
                (inputs if kind == "input" else outputs).append(self.tensor(where, name, payload))
            else:
                try:
                    others.append(Section(kind, name, payload))
                except ChewcError as e:
                    raise ChewcError(f"{where}: {e}") from e
        return ChewProgram(machine_hash, machine_name, code, tuple(data), tuple(inputs), tuple(outputs), tuple(others))

    def tensor(self, where: str, name: str, payload: bytes) -> TensorDesc:
        if len(payload) != _TENSOR.size + 4 * RANK:
            raise ChewcError(f"{where}: tensor descriptor of {len(payload)} bytes (expected {_TENSOR.size + 4 * RANK})")
        dtype, layout, rank, zero, addr = _TENSOR.unpack_from(payload)
        if dtype >= len(DTYPES) or rank != RANK or zero:
            raise ChewcError(f"{where}: bad dtype {dtype} or rank {rank}")
        desc = TensorDesc(name, DTYPES[dtype], struct.unpack_from(f"<{RANK}I", payload, _TENSOR.size), addr)
        if layout >= len(LAYOUTS) or LAYOUTS[layout] != desc.layout:
            raise ChewcError(f"{where}: layout {layout} does not fit dtype {desc.dtype}")
        return desc
