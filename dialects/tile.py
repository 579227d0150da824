"""The `tile` dialect: buffers in memory spaces, DMA, and the hardware's units of work, in `scf.for` loops.

A `tile` program works on memories, not tensors: every buffer lives in one memory space of the
machine description (`dram`, `fmem`, `wmem`, `tmem`, `acc`), words are 16 bits, and the data layouts are
those of the ISA (`docs/isa.md`): a ±1 map of C channels is [ceil(C/16)][H][W] words with channel 16g+i
in bit i; an integer map is [C][H][W] int16 words.

Compute ops mirror the accelerator's units of work (a CONV over a tile of output rows for a block of
output channels, a THRESH, a POOL, an ADD) and carry the geometry the controller is configured with
(the ISA's register names); offsets into buffers are `index` values (`arith` on them) so loops can move
them. Loops are upstream `scf.for` over index constants, tagged with the unit of work they step
(`tile.unit`: rows, ochannels or cgroups), so xDSL's own folding and canonicalisation apply.  Host
steps (`tile.host`, `tile.write`, `tile.read`) run on the host and talk to the accelerator through DRAM.
`tile-buffer-alloc` gives every buffer an `offset` in its memory; `convert-tile-to-chewbacca` unrolls
the loops and emits one instruction per op.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Self

from xdsl.dialects.builtin import (
    ArrayAttr,
    IndexType,
    IntAttr,
    IntegerAttr,
    StringAttr,
    TensorType,
)
from xdsl.ir import Attribute, Dialect, ParametrizedAttribute, SSAValue, TypeAttribute
from xdsl.irdl import (
    AttrSizedOperandSegments,
    IRDLOperation,
    ParsePropInAttrDict,
    irdl_attr_definition,
    irdl_op_definition,
    operand_def,
    opt_prop_def,
    prop_def,
    result_def,
    var_operand_def,
)
from xdsl.parser import AttrParser
from xdsl.printer import Printer
from xdsl.utils.exceptions import VerifyException

from isa.container import DTYPES, RANK, ZERO_RULES, Planes, tensor_words, to_chw
from isa.errors import ChewcError
from isa.table import BY_MNEMONIC, MEMORIES, REGISTERS, Field, register_field

# the unit of work an `scf.for` of a tile program steps over (its discardable attribute `tile.unit`)
LOOP_UNITS = ("rows", "ochannels", "cgroups")
LOOP_UNIT = "tile.unit"


@irdl_attr_definition
class BufferType(ParametrizedAttribute, TypeAttribute):
    """`!tile.buffer<fmem, 4096>`: `words` 16-bit words of one memory space."""

    name = "tile.buffer"
    space: StringAttr
    words: IntAttr

    def __init__(self, space: str, words: int):
        super().__init__(StringAttr(space), IntAttr(words))

    def verify(self) -> None:
        if self.space.data not in MEMORIES:
            raise VerifyException(f"!tile.buffer: unknown memory space '{self.space.data}' (one of {MEMORIES})")
        if self.words.data <= 0:
            raise VerifyException(f"!tile.buffer: needs a positive size, got {self.words.data} words")

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        with parser.in_angle_brackets():
            space = parser.parse_identifier()
            parser.parse_punctuation(",")
            words = parser.parse_integer()
        return (StringAttr(space), IntAttr(words))

    def print_parameters(self, printer: Printer) -> None:
        printer.print_string(f"<{self.space.data}, {self.words.data}>")


def space_of(v: SSAValue) -> str:
    assert isinstance(v.type, BufferType)
    return v.type.space.data


def words_of(v: SSAValue) -> int:
    assert isinstance(v.type, BufferType)
    return v.type.words.data


def _fail(op: IRDLOperation, msg: str) -> None:
    raise VerifyException(f"{op.name}: {msg}")


def _check_space(op: IRDLOperation, v: SSAValue, *spaces: str, what: str) -> None:
    if not isinstance(v.type, BufferType):
        _fail(op, f"{what} must be a !tile.buffer, got {v.type}")
    if space_of(v) not in spaces:
        _fail(op, f"{what} must be in {' or '.join(spaces)}, got {space_of(v)}")


# ----------------------------------------------------------------------------------------------
# Typed attributes: the geometry a compute op configures, tensor descriptors, bit-plane splits
# ----------------------------------------------------------------------------------------------

Value = int | str
GeometryValues = dict[str, Value]  # a compute op's geometry as the ISA's register values


class Geometry(ParametrizedAttribute):
    """Named parameters, each an integer or (for an ISA enum) a name, printed `<key = value, ...>`.

    Subclasses list their parameters as annotated fields (`IntAttr`, or `StringAttr` for an enum), in the
    order the ISA's registers take them. A parameter named after an ISA register (or listed in `FIELDS`)
    must hold a value its field encodes."""

    FIELDS: ClassVar[dict[str, Field]] = {}  # parameters that are instruction fields rather than registers

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        return tuple(name for name, _ in cls.get_irdl_definition().parameters)

    @classmethod
    def field(cls, key: str) -> Field | None:
        """The ISA field whose values `key` takes, if any."""
        return cls.FIELDS.get(key) or (register_field(key) if key in REGISTERS else None)

    @classmethod
    def of(cls, values: Mapping[str, Value]) -> Self:
        """The attribute of `values`, which must name every parameter (and nothing else)."""
        keys = cls.keys()
        if missing := [k for k in keys if k not in values]:
            raise VerifyException(f"#{cls.name}: lacks {', '.join(missing)}")
        if extra := [k for k in values if k not in keys]:
            raise VerifyException(f"#{cls.name}: has unknown keys {', '.join(extra)}")
        return cls(*(StringAttr(v) if isinstance(v := values[k], str) else IntAttr(int(v)) for k in keys))

    def as_dict(self) -> GeometryValues:
        return {k: p.data for k, p in zip(self.keys(), self.parameters, strict=True)}  # type: ignore[attr-defined]

    def verify(self) -> None:
        for key, value in self.as_dict().items():
            if (f := self.field(key)) is None:
                continue
            if f.enum and value not in f.enum:
                raise VerifyException(f"#{self.name}: {key} must be one of {', '.join(f.enum)}, got '{value}'")
            if not f.enum and not (isinstance(value, int) and f.lo <= value <= f.hi):
                raise VerifyException(f"#{self.name}: {key} = {value} is outside the ISA's range {f.lo}..{f.hi}")

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        values: dict[str, Value] = {}

        def entry() -> None:
            key = parser.parse_identifier()
            parser.parse_punctuation("=")
            f = cls.field(key)
            values[key] = parser.parse_identifier() if f is not None and f.enum else parser.parse_integer()

        parser.parse_comma_separated_list(parser.Delimiter.ANGLE, entry)
        try:
            return cls.of(values).parameters
        except VerifyException as e:
            parser.raise_error(str(e))

    def print_parameters(self, printer: Printer) -> None:
        printer.print_string("<" + ", ".join(f"{k} = {v}" for k, v in self.as_dict().items()) + ">")


@dataclass(frozen=True, init=False)  # so that its parameters are fields too: equality and hashing see them
class WindowGeometry(Geometry):
    """The input map, its buffer and the window: what CONV and POOL both configure (CFG.IN, CFG.BUF, CFG.K)."""

    in_h: IntAttr
    in_w: IntAttr
    in_c: IntAttr
    buf_rows: IntAttr
    kh: IntAttr
    kw: IntAttr
    stride: IntAttr
    dilation: IntAttr
    pad_top: IntAttr
    pad_left: IntAttr


@irdl_attr_definition
class ConvGeometry(WindowGeometry):
    """What a `tile.conv` configures: input map and buffer, window, output tile, and CONV's own fields."""

    name = "tile.conv_geometry"
    FIELDS = {"accumulate": BY_MNEMONIC["CONV"].field("accumulate")}
    pad_mode: StringAttr
    pack: IntAttr  # channel groups each window cycle reads beyond the first (the tap-packing extension)
    out_h: IntAttr
    out_w: IntAttr
    nrows: IntAttr
    oc_count: IntAttr
    accumulate: IntAttr
    shift: IntAttr  # the products times 2**shift (CONV.S, a bit plane); 0: plain CONV

    def verify(self) -> None:
        super().verify()
        shift = BY_MNEMONIC["CONV.S"].field("shift")
        if self.shift.data and not shift.lo <= self.shift.data <= shift.hi:
            raise VerifyException(f"#{self.name}: shift = {self.shift.data} is outside CONV.S's range "
                                  f"{shift.lo}..{shift.hi} (0: CONV)")


@irdl_attr_definition
class PoolGeometry(WindowGeometry):
    """What a `tile.pool` configures: input map and buffer, window, output tile."""

    name = "tile.pool_geometry"
    out_h: IntAttr
    out_w: IntAttr
    obuf_rows: IntAttr
    nrows: IntAttr


@irdl_attr_definition
class ThresholdGeometry(Geometry):
    """What a `tile.threshold` configures: the [oc_count][nrows][out_w] block, the output buffer's rows."""

    name = "tile.threshold_geometry"
    out_w: IntAttr
    obuf_rows: IntAttr
    nrows: IntAttr
    oc_count: IntAttr


@irdl_attr_definition
class AddGeometry(Geometry):
    """What a `tile.add` configures: the [oc_count][nrows][out_w] blocks."""

    name = "tile.add_geometry"
    out_w: IntAttr
    nrows: IntAttr
    oc_count: IntAttr


@irdl_attr_definition
class PlanesAttr(Geometry):
    """A `tile.host` splitting its f32 input into bit planes (the container's `planes`)."""

    name = "tile.planes"
    bits: IntAttr
    exponent: IntAttr
    signed: IntAttr

    @staticmethod
    def from_planes(p: Planes) -> PlanesAttr:
        return PlanesAttr(IntAttr(p.bits), IntAttr(p.exponent), IntAttr(int(p.signed)))

    def verify(self) -> None:
        try:
            self.planes()
        except ChewcError as e:
            raise VerifyException(f"#{self.name}: not a valid bit-plane grid ({e})") from e

    def planes(self) -> Planes:
        return Planes(self.bits.data, self.exponent.data, bool(self.signed.data))


@irdl_attr_definition
class TensorAttr(ParametrizedAttribute):
    """`#tile.tensor<[3, 32, 32], f32>`: how a tensor lies in a buffer, its logical [C, H, W] (or [K])
    shape and element type (`isa.container` layouts), and for a `bits` tensor made on the host from
    floats, the `zero` rule that binarises it (`#tile.tensor<[3, 32, 32], bits, plus>`)."""

    name = "tile.tensor"
    dims: ArrayAttr[IntAttr]
    dtype: StringAttr
    zero: StringAttr

    def __init__(self, shape: Sequence[int], dtype: str, zero: str = ""):
        super().__init__(ArrayAttr(IntAttr(int(d)) for d in shape), StringAttr(dtype), StringAttr(zero))

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(d.data for d in self.dims.data)

    @property
    def words(self) -> int:
        return tensor_words(self.dtype.data, to_chw(self.shape))

    def verify(self) -> None:
        if self.dtype.data not in DTYPES:
            raise VerifyException(f"#{self.name}: dtype must be one of {', '.join(DTYPES)}, got '{self.dtype.data}'")
        if self.zero.data not in ZERO_RULES or (self.zero.data and self.dtype.data != "bits"):
            raise VerifyException(f"#{self.name}: zero rules ({', '.join(filter(None, ZERO_RULES))}) are for bits tensors")
        if len(self.dims) not in (1, RANK) or any(d.data < 1 for d in self.dims.data):
            raise VerifyException(f"#{self.name}: the shape must be [K] or [C, H, W] of positive sizes, got {list(self.shape)}")

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        with parser.in_angle_brackets():
            dims = parser.parse_comma_separated_list(parser.Delimiter.SQUARE, parser.parse_integer)
            parser.parse_punctuation(",")
            dtype = parser.parse_identifier()
            zero = parser.parse_identifier() if parser.parse_optional_punctuation(",") else ""
        try:
            return TensorAttr(dims, dtype, zero).parameters
        except VerifyException as e:
            parser.raise_error(str(e))

    def print_parameters(self, printer: Printer) -> None:
        zero = f", {self.zero.data}" if self.zero.data else ""
        printer.print_string(f"<[{', '.join(map(str, self.shape))}], {self.dtype.data}{zero}>")

# ----------------------------------------------------------------------------------------------
# Buffers
# ----------------------------------------------------------------------------------------------


@irdl_op_definition
class AllocOp(IRDLOperation):
    """A buffer in a memory space; `offset` (its first word) is set by `tile-buffer-alloc`."""

    name = "tile.alloc"
    buffer = result_def(BufferType)
    label = prop_def(StringAttr)
    offset = opt_prop_def(IntegerAttr)
    assembly_format = "attr-dict `:` type($buffer)"
    irdl_options = (ParsePropInAttrDict(),)

    def __init__(self, space: str, words: int, label: str):
        super().__init__(result_types=[BufferType(space, words)], properties={"label": StringAttr(label)})

    def verify_(self) -> None:
        if self.offset is not None and self.offset.value.data < 0:
            _fail(self, f"negative offset {self.offset.value.data}")


@irdl_op_definition
class ConstOp(IRDLOperation):
    """A constant DRAM buffer (packed weights, thresholds): `data` is its words, little-endian hex."""

    name = "tile.const"
    buffer = result_def(BufferType)
    label = prop_def(StringAttr)
    data = prop_def(StringAttr)
    offset = opt_prop_def(IntegerAttr)
    assembly_format = "attr-dict `:` type($buffer)"
    irdl_options = (ParsePropInAttrDict(),)

    def __init__(self, label: str, data: bytes):
        super().__init__(
            result_types=[BufferType("dram", len(data) // 2)],
            properties={"label": StringAttr(label), "data": StringAttr(data.hex())},
        )

    def verify_(self) -> None:
        if space_of(self.buffer) != "dram":
            _fail(self, "constants live in dram")
        if len(self.data.data) != 4 * words_of(self.buffer):
            _fail(self, f"{len(self.data.data) // 4} words of data for a buffer of {words_of(self.buffer)}")


# ----------------------------------------------------------------------------------------------
# DMA and synchronisation
# ----------------------------------------------------------------------------------------------


@irdl_op_definition
class DmaOp(IRDLOperation):
    """2-D copy between DRAM and one on-chip memory: `count` rows of `length` words, row i at
    src_off + i*src_stride and dst_off + i*dst_stride.  Asynchronous until the next `tile.sync`."""

    name = "tile.dma"
    src = operand_def(BufferType)
    src_off = operand_def(IndexType)
    dst = operand_def(BufferType)
    dst_off = operand_def(IndexType)
    count = prop_def(IntegerAttr)
    length = prop_def(IntegerAttr)
    src_stride = prop_def(IntegerAttr)
    dst_stride = prop_def(IntegerAttr)
    assembly_format = "$src `[` $src_off `]` `->` $dst `[` $dst_off `]` attr-dict `:` type($src) `->` type($dst)"
    irdl_options = (ParsePropInAttrDict(),)

    def __init__(self, src: SSAValue, src_off: SSAValue, dst: SSAValue, dst_off: SSAValue,
                 count: int, length: int, src_stride: int, dst_stride: int):
        super().__init__(
            operands=[src, src_off, dst, dst_off],
            properties={k: IntegerAttr(v, 64) for k, v in
                        dict(count=count, length=length, src_stride=src_stride, dst_stride=dst_stride).items()},
        )

    def verify_(self) -> None:
        spaces = {space_of(self.src), space_of(self.dst)}
        if "dram" not in spaces or len(spaces) != 2:
            _fail(self, f"moves between dram and one on-chip memory, not {space_of(self.src)} -> {space_of(self.dst)}")
        if self.count.value.data < 1 or self.length.value.data < 1:
            _fail(self, "count and length must be >= 1")


@irdl_op_definition
class SyncOp(IRDLOperation):
    """Wait for every outstanding DMA."""

    name = "tile.sync"
    assembly_format = "attr-dict"


# ----------------------------------------------------------------------------------------------
# Compute
# ----------------------------------------------------------------------------------------------


class ComputeOp(IRDLOperation):
    """Base of the ops that are one array instruction: a typed `geom` (the registers the instruction
    reads, `GEOMETRY`) and buffer operands in the memories `SPACES` allows."""

    GEOMETRY: ClassVar[type[Geometry]]
    SPACES: ClassVar[dict[str, tuple[str, ...]]]
    irdl_options = (ParsePropInAttrDict(),)

    def __init__(self, *operands: SSAValue, geom: Mapping[str, Value]):
        super().__init__(operands=list(operands), properties={"geom": self.GEOMETRY.of(geom)})

    @property
    def geometry(self) -> GeometryValues:
        geom = self.properties["geom"]
        assert isinstance(geom, Geometry)
        return geom.as_dict()

    def verify_(self) -> None:
        for field, spaces in self.SPACES.items():
            _check_space(self, getattr(self, field), *spaces, what=field)


@irdl_op_definition
class ConvOp(ComputeOp):
    """Binary convolution of output rows [row0, row0+nrows) for oc_count output channels (ISA CONV).

    Reads the ±1 map from `input` (buffer row i = image row buf_row0 + i), weights [oc][G][kh][kw] from
    `weights`, writes (or with accumulate = 1 adds) the ±1 dot products to `acc` as [oc][row][x] int16;
    with shift > 0, the products times 2**shift (ISA CONV.S: bit planes).
    """

    name = "tile.conv"
    GEOMETRY: ClassVar = ConvGeometry
    SPACES: ClassVar = {"input": ("fmem",), "weights": ("wmem",), "acc": ("acc",)}
    input = operand_def(BufferType)
    in_off = operand_def(IndexType)
    weights = operand_def(BufferType)
    w_off = operand_def(IndexType)
    acc = operand_def(BufferType)
    acc_off = operand_def(IndexType)
    row0 = operand_def(IndexType)
    buf_row0 = operand_def(IndexType)
    geom = prop_def(ConvGeometry)
    assembly_format = (
        "$input `[` $in_off `]` `,` $weights `[` $w_off `]` `->` $acc `[` $acc_off `]` `rows` $row0 `from` $buf_row0 "
        "attr-dict `:` type($input) `,` type($weights) `->` type($acc)"
    )


@irdl_op_definition
class ThresholdOp(ComputeOp):
    """Binarise an [oc][row][x] block of `acc` with `thresholds` (2 words per channel: T, mode) into
    channels c0.. of the ±1 map in `output` (ISA THRESH)."""

    name = "tile.threshold"
    GEOMETRY: ClassVar = ThresholdGeometry
    SPACES: ClassVar = {"acc": ("acc",), "thresholds": ("tmem",), "output": ("fmem",)}
    acc = operand_def(BufferType)
    acc_off = operand_def(IndexType)
    thresholds = operand_def(BufferType)
    t_off = operand_def(IndexType)
    output = operand_def(BufferType)
    out_off = operand_def(IndexType)
    c0 = operand_def(IndexType)
    geom = prop_def(ThresholdGeometry)
    assembly_format = (
        "$acc `[` $acc_off `]` `,` $thresholds `[` $t_off `]` `->` $output `[` $out_off `]` `channel` $c0 "
        "attr-dict `:` type($acc) `,` type($thresholds) `->` type($output)"
    )


@irdl_op_definition
class PoolOp(ComputeOp):
    """Max-pool a tile: ±1 maps in fmem (OR of the bits, ISA POOL.B) or int16 maps in acc (POOL.I)."""

    name = "tile.pool"
    GEOMETRY: ClassVar = PoolGeometry
    SPACES: ClassVar = {"input": ("fmem", "acc")}
    input = operand_def(BufferType)
    in_off = operand_def(IndexType)
    output = operand_def(BufferType)
    out_off = operand_def(IndexType)
    row0 = operand_def(IndexType)
    buf_row0 = operand_def(IndexType)
    geom = prop_def(PoolGeometry)
    assembly_format = (
        "$input `[` $in_off `]` `->` $output `[` $out_off `]` `rows` $row0 `from` $buf_row0 "
        "attr-dict `:` type($input) `->` type($output)"
    )

    def verify_(self) -> None:
        super().verify_()
        if space_of(self.output) != space_of(self.input):
            _fail(self, "pools stay in one memory (fmem for ±1 maps, acc for int16 maps)")


@irdl_op_definition
class AddOp(ComputeOp):
    """int16 sum of two [oc][row][x] blocks in acc (ISA ADD); overflow is an error."""

    name = "tile.add"
    GEOMETRY: ClassVar = AddGeometry
    SPACES: ClassVar = {"lhs": ("acc",), "rhs": ("acc",), "output": ("acc",)}
    lhs = operand_def(BufferType)
    lhs_off = operand_def(IndexType)
    rhs = operand_def(BufferType)
    rhs_off = operand_def(IndexType)
    output = operand_def(BufferType)
    out_off = operand_def(IndexType)
    geom = prop_def(AddGeometry)
    assembly_format = (
        "$lhs `[` $lhs_off `]` `,` $rhs `[` $rhs_off `]` `->` $output `[` $out_off `]` "
        "attr-dict `:` type($lhs) `,` type($rhs) `->` type($output)"
    )


# ----------------------------------------------------------------------------------------------
# Host side
# ----------------------------------------------------------------------------------------------


def _check_desc(op: IRDLOperation, d: TensorAttr, buf: SSAValue, spaces: tuple[str, ...] = ("dram",)) -> None:
    _check_space(op, buf, *spaces, what="host tensors" if spaces == ("dram",) else "probed tensors")
    if d.words > words_of(buf):
        _fail(op, f"a {d.dtype.data} tensor of shape {list(d.shape)} needs {d.words} words, the buffer has {words_of(buf)}")


@irdl_op_definition
class WriteOp(IRDLOperation):
    """Host: store the program input tensor into a DRAM buffer (as f32)."""

    name = "tile.write"
    value = operand_def(TensorType)
    buffer = operand_def(BufferType)
    desc = prop_def(TensorAttr)
    assembly_format = "$value `->` $buffer attr-dict `:` type($value) `->` type($buffer)"
    irdl_options = (ParsePropInAttrDict(),)

    def __init__(self, value: SSAValue, buffer: SSAValue, desc: TensorAttr):
        super().__init__(operands=[value, buffer], properties={"desc": desc})

    def verify_(self) -> None:
        _check_desc(self, self.desc, self.buffer)


@irdl_op_definition
class ReadOp(IRDLOperation):
    """Host: load a program output tensor from a DRAM buffer."""

    name = "tile.read"
    buffer = operand_def(BufferType)
    value = result_def(TensorType)
    desc = prop_def(TensorAttr)
    assembly_format = "$buffer attr-dict `:` type($buffer) `->` type($value)"
    irdl_options = (ParsePropInAttrDict(),)

    def __init__(self, buffer: SSAValue, desc: TensorAttr, result_type: Attribute):
        super().__init__(operands=[buffer], result_types=[result_type], properties={"desc": desc})

    def verify_(self) -> None:
        _check_desc(self, self.desc, self.buffer)


@irdl_op_definition
class HostOp(IRDLOperation):
    """A host step between accelerator phases: read DRAM tensors, run the embedded ONNX subgraph (or
    nothing: a relayout or a binarisation), write DRAM tensors.  Outputs of dtype `bits` binarise
    their float values with the `zero` rule of `bnn.sign` ("plus" or "reject")."""

    name = "tile.host"
    ins = var_operand_def(BufferType)
    outs = var_operand_def(BufferType)
    reason = prop_def(StringAttr)
    onnx = prop_def(StringAttr)  # base64 ModelProto, or "" for a pure relayout/binarisation
    in_names = prop_def(ArrayAttr[StringAttr])
    out_names = prop_def(ArrayAttr[StringAttr])
    in_descs = prop_def(ArrayAttr[TensorAttr])
    out_descs = prop_def(ArrayAttr[TensorAttr])
    planes = opt_prop_def(PlanesAttr)  # split the input into bit planes
    irdl_options = (AttrSizedOperandSegments(as_property=True), ParsePropInAttrDict())
    assembly_format = "$reason `(` $ins `)` `->` `(` $outs `)` attr-dict `:` type($ins) `->` type($outs)"

    def bit_planes(self) -> Planes | None:
        """The step's bit-plane split (the container's `planes`), if it is one."""
        return None if self.planes is None else self.planes.planes()

    def verify_(self) -> None:
        if not self.reason.data.strip():
            _fail(self, "a host step must say why it runs on the host")
        for descs, bufs, names in ((self.in_descs, self.ins, self.in_names), (self.out_descs, self.outs, self.out_names)):
            if not (len(descs.data) == len(bufs) == len(names.data)):
                _fail(self, "one name and one descriptor per buffer")
            for d, b in zip(descs.data, bufs, strict=True):
                _check_desc(self, d, b)
        if not self.onnx.data and (len(self.ins) != 1 or len(self.outs) != 1):
            _fail(self, "without an ONNX subgraph a host step moves exactly one tensor")
        if self.planes is not None and self.onnx.data:
            _fail(self, "a bit-plane split has no ONNX subgraph")


@irdl_op_definition
class ProbeOp(IRDLOperation):
    """Debug marker: the ONNX tensor `tensor` is complete in `buffer` (DRAM, or an FMEM map kept on chip)
    at this point (no effect on the computation; `chewc-run --check-layers` compares it with the reference)."""

    name = "tile.probe"
    buffer = operand_def(BufferType)
    tensor = prop_def(StringAttr)
    desc = prop_def(TensorAttr)
    assembly_format = "$buffer attr-dict `:` type($buffer)"
    irdl_options = (ParsePropInAttrDict(),)

    def __init__(self, buffer: SSAValue, tensor: str, desc: TensorAttr):
        super().__init__(operands=[buffer], properties={"tensor": StringAttr(tensor), "desc": desc})

    def verify_(self) -> None:
        _check_desc(self, self.desc, self.buffer, spaces=("dram", "fmem", "acc"))


@irdl_op_definition
class LayerOp(IRDLOperation):
    """Report marker: the ops up to the next marker compute layer `layer` (named by the ONNX tensor it
    computes), of kind `kind`, whose layer-wise lower bounds (`compiler.bounds`) are `bound_dram_bits` of
    off-chip traffic and `bound_cycles` array cycles (-1: no bound, e.g. a host step), and whose cost the
    mapping search (`compiler.mapping`) predicts as `predicted_cycles` and `predicted_dram_bits` with the
    conv tiling `mapping` ("" when the layer has none). No effect on the computation; `chewc-run`
    reports each layer's costs against them."""

    name = "tile.layer"
    layer = prop_def(StringAttr)
    kind = prop_def(StringAttr)
    bound_dram_bits = prop_def(IntegerAttr)
    bound_cycles = prop_def(IntegerAttr)
    predicted_cycles = prop_def(IntegerAttr)
    predicted_dram_bits = prop_def(IntegerAttr)
    mapping = prop_def(StringAttr)
    assembly_format = "attr-dict"
    irdl_options = (ParsePropInAttrDict(),)

    def __init__(self, layer: str, kind: str, bound_dram_bits: int, bound_cycles: int, predicted_cycles: int = 0,
                 predicted_dram_bits: int = 0, mapping: str = ""):
        super().__init__(properties={
            "layer": StringAttr(layer), "kind": StringAttr(kind),
            "bound_dram_bits": IntegerAttr(bound_dram_bits, 64), "bound_cycles": IntegerAttr(bound_cycles, 64),
            "predicted_cycles": IntegerAttr(predicted_cycles, 64),
            "predicted_dram_bits": IntegerAttr(predicted_dram_bits, 64), "mapping": StringAttr(mapping)})

    def verify_(self) -> None:
        for field in ("bound_dram_bits", "bound_cycles"):
            value = getattr(self, field).value.data
            if value < -1:
                _fail(self, f"{field} must be a count or -1 (no bound), got {value}")
        for field in ("predicted_cycles", "predicted_dram_bits"):
            if (value := getattr(self, field).value.data) < 0:
                _fail(self, f"{field} must be a count, got {value}")


Tile = Dialect(
    "tile",
    [AllocOp, ConstOp, DmaOp, SyncOp, ConvOp, ThresholdOp, PoolOp, AddOp, WriteOp, ReadOp, HostOp,
     ProbeOp, LayerOp],
    [BufferType, ConvGeometry, PoolGeometry, ThresholdGeometry, AddGeometry, PlanesAttr, TensorAttr],
)
