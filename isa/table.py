"""The ChewBaccaNN instruction set, described once.

Every instruction is one 64-bit little-endian word: a 6-bit opcode in bits [5:0], then the fields of
that opcode packed upwards from bit 6 in the order listed here; unused high bits must be zero. The
encoder, decoder, assembler, disassembler, emulator and `docs/isa.md` all read this table; nothing
else knows a field's position or width.

Configuration instructions (class `config`) load *registers* named after their fields; compute and DMA
instructions read the registers listed in their `uses`. Registers keep their value until set again.
"""

from __future__ import annotations

import functools

from dataclasses import dataclass, replace

from isa.errors import ChewcError

WORD_BITS = 64
OPCODE_BITS = 6
# Data convention: every memory word is 16 bits, and a binary map packs 16 channels into one word.
CHANNELS_PER_WORD = 16

# Names of the memories an address field can refer to (the machine description sizes them).
MEMORIES = ("fmem", "wmem", "tmem", "acc", "dram")
# A field whose memory is MEM_SELECT addresses the memory chosen by the instruction's `mem` field.
MEM_SELECT = "mem"
# CFG.K pad_mode: the value outside the image (neg = -1, pos = +1, gate = lane switched off).
PAD_MODES = ("neg", "pos", "gate")
# THRESH: each channel has two TMEM words, its int16 threshold T and its mode (an index into this):
# bit = sum >= T, sum <= T, always +1, always -1.
THRESHOLD_MODES = ("ge", "le", "plus", "minus")


@dataclass(frozen=True)
class Field:
    """One bit field of an instruction; `lo..hi` is the range of legal values (enum: indices)."""

    name: str
    width: int
    doc: str
    lo: int
    hi: int
    signed: bool = False
    memory: str | None = None
    enum: tuple[str, ...] = ()
    default: int | None = None  # an optional field (an extension's): assembly may omit it, text omits it at this value
    offset: int = 0

    @property
    def mask(self) -> int:
        return (1 << self.width) - 1

    def check(self, value: int) -> None:
        if not self.lo <= value <= self.hi:
            raise ChewcError(f"field '{self.name}' = {value} out of range {self.lo}..{self.hi}")

    def show(self, value: int) -> str:
        """The value as the assembler reads it back."""
        if self.enum:
            return self.enum[value]
        if self.memory is not None:
            return f"{value:#x}"
        return str(value)


@dataclass(frozen=True)
class Op:
    """One opcode: mnemonic, class, meaning, fields (offsets assigned in order) and registers read."""

    mnemonic: str
    opcode: int
    cls: str
    doc: str
    fields: tuple[Field, ...]
    uses: tuple[str, ...] = ()

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise ChewcError(f"{self.mnemonic} has no field '{name}' (fields: {', '.join(self.field_names)})")

    @functools.cached_property  # read for every instruction built: computed once per opcode
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @functools.cached_property
    def defaults(self) -> dict[str, int]:
        """The values of the optional fields an instruction may leave out."""
        return {f.name: f.default for f in self.fields if f.default is not None}


def _f(
    name: str,
    width: int,
    doc: str,
    *,
    lo: int | None = None,
    hi: int | None = None,
    signed: bool = False,
    memory: str | None = None,
    enum: tuple[str, ...] = (),
    default: int | None = None,
) -> Field:
    if enum:
        lo, hi = 0, len(enum) - 1
    elif signed:
        lo = -(1 << (width - 1)) if lo is None else lo
        hi = (1 << (width - 1)) - 1 if hi is None else hi
    else:
        lo = 0 if lo is None else lo
        hi = (1 << width) - 1 if hi is None else hi
    return Field(name, width, doc, lo, hi, signed, memory, enum, default)


def _op(mnemonic: str, opcode: int, cls: str, doc: str, *fields: Field, uses: tuple[str, ...] = ()) -> Op:
    placed, offset = [], OPCODE_BITS
    for f in fields:
        placed.append(replace(f, offset=offset))
        offset += f.width
    assert offset <= WORD_BITS, f"{mnemonic} needs {offset} bits"
    return Op(mnemonic, opcode, cls, doc, tuple(placed), uses)


_IN = ("in_h", "in_w", "in_c", "buf_row0", "buf_rows")
_WINDOW = ("kh", "kw", "stride", "dilation", "pad_top", "pad_left", "pad_mode")
_DMA_SHAPE = ("count", "dram_stride", "chip_stride")


_CONV_USES = (*_IN, *_WINDOW, "pack", "out_h", "out_w", "row0", "nrows", "oc_count")


def _conv_fields() -> tuple[Field, ...]:
    return (
        _f("fmem", 16, "input buffer (group 0, buffer row 0)", memory="fmem"),
        _f("wmem", 14, "weights of the block", memory="wmem"),
        _f("acc", 15, "accumulator block", memory="acc"),
        _f("accumulate", 1, "1: add into ACC; 0: overwrite"),
    )


def _dma_fields() -> tuple[Field, ...]:
    return (
        _f("mem", 2, "on-chip memory of the transfer", enum=("fmem", "wmem", "tmem", "acc")),
        _f("dram", 24, "DRAM word address of row 0", memory="dram"),
        _f("chip", 16, "on-chip word address of row 0", memory=MEM_SELECT),
        _f("length", 16, "words per row", lo=1),
    )


OPS: tuple[Op, ...] = (
    _op("END", 0x01, "control", "Wait for every outstanding DMA, then halt. A program must reach END."),
    _op(
        "SYNC",
        0x02,
        "control",
        "Wait until every DMA issued so far has completed. Closes an overlap interval: a compute "
        "instruction may not touch on-chip words that a DMA of the same interval moves.",
    ),
    _op(
        "HOST",
        0x03,
        "control",
        "Wait until every DMA issued so far has completed (as SYNC), then the host runs host step `step`: "
        "the program's section `host<step>` reads DRAM tensors, computes what the accelerator cannot "
        "(float layers, binarisation, relayouts) and writes DRAM tensors. The accelerator idles meanwhile; "
        "host time is reported apart from accelerator cycles and energy.",
        _f("step", 12, "index of the host section"),
    ),
    _op(
        "CFG.IN",
        0x08,
        "config",
        "Geometry of the input map of the next CONV / POOL (the whole image, not the buffered part).",
        _f("in_h", 12, "input height in rows", lo=1),
        _f("in_w", 12, "input width in pixels (also the buffer's row pitch in words)", lo=1),
        _f("in_c", 12, "input channels (lanes of the last group beyond in_c are gated)", lo=1),
    ),
    _op(
        "CFG.BUF",
        0x09,
        "config",
        "Which input rows the source buffer holds: buffer row i is image row buf_row0 + i; each channel "
        "group (binary) or channel (int16) is a plane of buf_rows * in_w words.",
        _f("buf_row0", 12, "absolute image row held in buffer row 0"),
        _f("buf_rows", 12, "rows in the buffer", lo=1),
    ),
    _op(
        "CFG.K",
        0x0A,
        "config",
        "Window of the next CONV / POOL. Output pixel (r, x) reads image rows r*stride - pad_top + "
        "ky*dilation and columns x*stride - pad_left + kx*dilation; positions outside the image read "
        "the pad value. A negative pad starts the window inside the image (a sub-kernel of a "
        "decomposed larger kernel).",
        _f("kh", 3, "window height", lo=1, hi=7),
        _f("kw", 3, "window width", lo=1, hi=7),
        _f("stride", 3, "stride in both directions", lo=1, hi=7),
        _f("dilation", 3, "dilation in both directions", lo=1, hi=7),
        _f("pad_top", 7, "rows of padding above the image (negative: rows skipped)", signed=True),
        _f("pad_left", 7, "columns of padding left of the image (negative: columns skipped)", signed=True),
        _f(
            "pad_mode",
            2,
            "value outside the image: neg = -1, pos = +1, gate = lane switched off (zero padding)",
            enum=PAD_MODES,
        ),
        _f("pack", 3, "[A] tap-packing extension (machine array.max_pack > 1): channel groups each window cycle "
           "reads beyond the first, their kernels stacked in the window's rows; 0 = one group per cycle, the "
           "chip as published", hi=6, default=0),
    ),
    _op(
        "CFG.OUT",
        0x0B,
        "config",
        "Output geometry; FMEM destinations are planes of obuf_rows * out_w words per channel group.",
        _f("out_h", 12, "output height in rows", lo=1),
        _f("out_w", 12, "output width in pixels (also the destination row pitch)", lo=1),
        _f("obuf_rows", 12, "rows of the FMEM destination buffer", lo=1),
    ),
    _op(
        "CFG.TILE",
        0x0C,
        "config",
        "The tile the next compute instruction covers: output rows [row0, row0 + nrows) and a block of "
        "oc_count channels (output channels of CONV, channels of THRESH and ADD).",
        _f("row0", 12, "first output row of the tile"),
        _f("nrows", 12, "output rows in the tile", lo=1),
        _f("oc_count", 12, "channels in the block", lo=1),
    ),
    _op(
        "CFG.DMA",
        0x0D,
        "config",
        "Shape of the next DMAs: count rows of `length` words; row i starts at dram + i*dram_stride "
        "and chip + i*chip_stride (negative strides walk backwards).",
        _f("count", 16, "rows per transfer", lo=1),
        _f("dram_stride", 24, "DRAM words between row starts", signed=True),
        _f("chip_stride", 16, "on-chip words between row starts", signed=True),
    ),
    _op(
        "DMA.LD",
        0x10,
        "dma",
        "Queue a 2-D copy DRAM -> on-chip memory `mem`; runs in the background until SYNC.",
        *_dma_fields(),
        uses=_DMA_SHAPE,
    ),
    _op(
        "DMA.ST",
        0x11,
        "dma",
        "Queue a 2-D copy on-chip memory `mem` -> DRAM; runs in the background until SYNC.",
        *_dma_fields(),
        uses=_DMA_SHAPE,
    ),
    _op(
        "CONV",
        0x20,
        "compute",
        "Binary convolution of a tile: for each output channel o < oc_count, row r in the tile and "
        "x < out_w, the signed +-1 dot product of the window with the weights, over in_c channels. "
        "Input word (g, r, x) at fmem + g*buf_rows*in_w + (r - buf_row0)*in_w + x; weights "
        "[oc_count][G][kh][kw] from wmem; result ACC[acc + (o*nrows + r - row0)*out_w + x], added to "
        "the old value when accumulate = 1.",
        *_conv_fields(),
        uses=_CONV_USES,
    ),
    _op(
        "CONV.S",
        0x25,
        "compute",
        "CONV with the dot products times 2**shift before they are written or added: the bit-plane "
        "sums of a multi-bit input (plane b of an n-bit input weighs 2**b) accumulate in ACC.",
        *_conv_fields(),
        _f("shift", 4, "the products are multiplied by 2**shift", lo=1, hi=15),
        uses=_CONV_USES,
    ),
    _op(
        "THRESH",
        0x21,
        "compute",
        "Binarise ACC[acc + (i*nrows + j)*out_w + x] (i < oc_count) with TMEM[tmem + 2i] (int16 "
        "threshold) and TMEM[tmem + 2i + 1] (mode: "
        f"{', '.join(f'{i} {m}' for i, m in enumerate(THRESHOLD_MODES))}: sum >= T, sum <= T, always +1, always -1) into channel "
        "c = c0 + i of FMEM word fmem + (c/16)*obuf_rows*out_w + j*out_w + x, bit c%16; the other bits "
        "of the word are kept.",
        _f("acc", 15, "accumulator block", memory="acc"),
        _f("fmem", 16, "destination map (group 0, tile row 0)", memory="fmem"),
        _f("tmem", 11, "thresholds of channel c0", memory="tmem"),
        _f("c0", 12, "destination channel of ACC channel 0"),
        uses=("out_w", "obuf_rows", "nrows", "oc_count"),
    ),
    _op(
        "POOL.B",
        0x22,
        "compute",
        "Max-pool a binary map (OR of the window's bits) over ceil(in_c/16) groups: source as for CONV, "
        "result word (g, j, x) at dst + g*obuf_rows*out_w + j*out_w + x for tile row j < nrows.",
        _f("src", 16, "source buffer (group 0, buffer row 0)", memory="fmem"),
        _f("dst", 16, "destination (group 0, tile row 0)", memory="fmem"),
        uses=(*_IN, *_WINDOW, "out_h", "out_w", "obuf_rows", "row0", "nrows"),
    ),
    _op(
        "POOL.I",
        0x23,
        "compute",
        "Max-pool int16 maps over in_c channels: source word (c, r, x) at src + c*buf_rows*in_w + "
        "(r - buf_row0)*in_w + x; result (c, j, x) at dst + (c*nrows + j)*out_w + x. Gated positions "
        "are left out of the maximum.",
        _f("src", 15, "source buffer (channel 0, buffer row 0)", memory="acc"),
        _f("dst", 15, "destination block", memory="acc"),
        uses=(*_IN, *_WINDOW, "out_h", "out_w", "row0", "nrows"),
    ),
    _op(
        "ADD",
        0x24,
        "compute",
        "int16 sum of two ACC blocks of oc_count*nrows*out_w words (residual shortcut); overflow is an error.",
        _f("a", 15, "first addend", memory="acc"),
        _f("b", 15, "second addend", memory="acc"),
        _f("dst", 15, "sum (may equal a or b)", memory="acc"),
        uses=("out_w", "nrows", "oc_count"),
    ),
)

BY_MNEMONIC: dict[str, Op] = {op.mnemonic: op for op in OPS}
BY_OPCODE: dict[int, Op] = {op.opcode: op for op in OPS}
CLASSES = ("control", "config", "dma", "compute")

# Register name -> the configuration op that sets it.
REGISTERS: dict[str, Op] = {f.name: op for op in OPS if op.cls == "config" for f in op.fields}


def register_field(name: str) -> Field:
    return REGISTERS[name].field(name)


def address_limit(memory: str) -> int:
    """Words of `memory` that every address field naming it can reach (bounds the machine's sizes)."""
    widths = [
        f.width
        for op in OPS
        for f in op.fields
        if f.memory == memory or (f.memory == MEM_SELECT and memory in op.field("mem").enum)
    ]
    return 1 << min(widths)


def _check_table() -> None:
    assert len(BY_MNEMONIC) == len(OPS) and len(BY_OPCODE) == len(OPS)
    assert all(0 < op.opcode < (1 << OPCODE_BITS) and op.cls in CLASSES for op in OPS)
    assert len(REGISTERS) == sum(len(op.fields) for op in OPS if op.cls == "config")
    assert all(r in REGISTERS for op in OPS for r in op.uses)
    assert all(f.memory in (*MEMORIES, MEM_SELECT, None) for op in OPS for f in op.fields)


_check_table()
