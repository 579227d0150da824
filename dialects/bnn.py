"""The `bnn` dialect: network semantics on ±1 tensors.

Values are either ±1 tensors (`!bnn.bits<...>`), integer tensors (`tensor<...xi32>`, accumulator sums)
or float tensors (`tensor<...xf32>`, only around host ops). Shapes are NCHW (batch 1) as in ONNX.

Encoding of `!bnn.bits`: bit 1 means +1, bit 0 means -1. There is no 0: a binary datapath cannot
represent it, which is why `bnn.sign` states what happens to 0 and `bnn.conv2d` states its pad value.

Every op has a numpy reference semantics in `dialects/bnn_kernels.py` (run by `runtime/bnn_interp.py`).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import ClassVar

import numpy as np
from xdsl.dialects.builtin import (
    ArrayAttr,
    DenseArrayBase,
    Float32Type,
    IntAttr,
    IntegerAttr,
    IntegerType,
    StringAttr,
    TensorType,
    UnitAttr,
    i32,
)
from xdsl.ir import Attribute, Dialect, ParametrizedAttribute, SSAValue, TypeAttribute
from xdsl.irdl import (
    AnyOf,
    IRDLOperation,
    attr_def,
    base,
    irdl_attr_definition,
    irdl_op_definition,
    opt_prop_def,
    ParsePropInAttrDict,
    operand_def,
    prop_def,
    result_def,
    traits_def,
    var_operand_def,
    var_result_def,
)
from xdsl.parser import AttrParser
from xdsl.printer import Printer
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException

from isa.container import Planes
from isa.errors import ChewcError
from isa.table import CHANNELS_PER_WORD

# ----------------------------------------------------------------------------------------------
# Types and attributes
# ----------------------------------------------------------------------------------------------


@irdl_attr_definition
class BitsType(ParametrizedAttribute, TypeAttribute):
    """A tensor of ±1 values, one bit each: bit 1 = +1, bit 0 = -1.  `!bnn.bits<1x64x30x30>`"""

    name = "bnn.bits"
    shape: ArrayAttr[IntAttr]

    def __init__(self, shape: Sequence[int] | ArrayAttr[IntAttr]):
        if not isinstance(shape, ArrayAttr):
            shape = ArrayAttr(IntAttr(int(d)) for d in shape)
        super().__init__(shape)

    def get_shape(self) -> tuple[int, ...]:
        return tuple(d.data for d in self.shape.data)

    def verify(self) -> None:
        if not self.shape.data or any(d.data <= 0 for d in self.shape.data):
            raise VerifyException(f"!bnn.bits needs a non-empty shape of positive sizes, got {self.get_shape()}")

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        with parser.in_angle_brackets():
            dims = parser.parse_dimension_list()
        return (ArrayAttr(IntAttr(d) for d in dims),)

    def print_parameters(self, printer: Printer) -> None:
        with printer.in_angle_brackets():
            printer.print_dimension_list(self.get_shape())


@irdl_attr_definition
class DenseBitsAttr(ParametrizedAttribute):
    """A constant ±1 tensor, packed 8 per byte (numpy `packbits`, big-endian bit order) and hex-encoded.

    `#bnn.dense_bits<64x3x3x3, "ff00...">`; bit 1 = +1, bit 0 = -1.
    """

    name = "bnn.dense_bits"
    shape: ArrayAttr[IntAttr]
    hex: StringAttr

    @staticmethod
    def from_array(values: np.ndarray) -> DenseBitsAttr:
        if values.size and not np.all(np.abs(values) == 1):
            raise ValueError("DenseBitsAttr holds only ±1 values")
        packed = np.packbits((values.reshape(-1) > 0).astype(np.uint8))
        return DenseBitsAttr(ArrayAttr(IntAttr(int(d)) for d in values.shape), StringAttr(packed.tobytes().hex()))

    def get_shape(self) -> tuple[int, ...]:
        return tuple(d.data for d in self.shape.data)

    def to_array(self) -> np.ndarray:
        """The ±1 values as int8."""
        n = int(np.prod(self.get_shape()))
        bits = np.unpackbits(np.frombuffer(bytes.fromhex(self.hex.data), np.uint8), count=n)
        return (bits.astype(np.int8) * 2 - 1).reshape(self.get_shape())

    def verify(self) -> None:
        n = int(np.prod(self.get_shape()))
        if len(self.hex.data) != 2 * ((n + 7) // 8):
            raise VerifyException(
                f"#bnn.dense_bits of shape {self.get_shape()} needs {(n + 7) // 8} bytes, "
                f"got {len(self.hex.data) // 2}"
            )

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        with parser.in_angle_brackets():
            dims = parser.parse_dimension_list()
            parser.parse_punctuation(",")
            text = parser.parse_str_literal()
        return (ArrayAttr(IntAttr(d) for d in dims), StringAttr(text))

    def print_parameters(self, printer: Printer) -> None:
        with printer.in_angle_brackets():
            printer.print_dimension_list(self.get_shape())
            printer.print_string(", ")
            printer.print_string_literal(self.hex.data)


# ----------------------------------------------------------------------------------------------
# Helpers shared by the verifiers
# ----------------------------------------------------------------------------------------------

I32Tensor = TensorType[IntegerType]
IntOrBits = AnyOf((base(BitsType), base(TensorType)))

PAD_VALUES = ("+1", "-1", "zero")
# Attribute naming the ONNX tensor an op's result equals (kept by rewrites; used to compare layers).
ONNX_NAME = "onnx.name"
# Attribute naming the ONNX node an op implements (the node whose import made it); tile and chewbacca ops
# carry it on to the listing of the instructions.
ONNX_NODE = "onnx.node"
THRESHOLD_MODES = "gl+-"  # ge, le, constant +1, constant -1
SIGN_ZERO_RULES = ("plus", "reject")


def shape_of(t: Attribute) -> tuple[int, ...]:
    if isinstance(t, BitsType):
        return t.get_shape()
    assert isinstance(t, TensorType)
    return tuple(t.get_shape())


def ints(arr: DenseArrayBase) -> tuple[int, ...]:
    return tuple(int(v) for v in arr.get_values())


def i64_array(values: Sequence[int]) -> DenseArrayBase:
    return DenseArrayBase.from_list(IntegerType(64), [int(v) for v in values])


def conv_output_hw(
    hw: Sequence[int], kernel: Sequence[int], strides: Sequence[int], dilations: Sequence[int], pads: Sequence[int]
) -> tuple[int, int]:
    """ONNX Conv/MaxPool output size (floor mode); pads are [top, left, bottom, right]."""
    out = []
    for ax in range(2):
        extent = dilations[ax] * (kernel[ax] - 1) + 1
        out.append((hw[ax] + pads[ax] + pads[ax + 2] - extent) // strides[ax] + 1)
    return out[0], out[1]


def carry_onnx_name(old: IRDLOperation, value: SSAValue) -> None:
    """A rewrite replacing `old` by `value` keeps the ONNX tensor and node names on the op defining `value`."""
    owner = value.owner
    for key in (ONNX_NAME, ONNX_NODE):
        name = old.attributes.get(key)
        if name is not None and isinstance(owner, IRDLOperation) and key not in owner.attributes:
            owner.attributes[key] = name


def summed_convs(v: SSAValue) -> list[Conv2dOp] | None:
    """The convolutions a tree of single-use `bnn.add`s sums into v (a lone conv included), else None."""
    op = v.owner
    if isinstance(op, Conv2dOp):
        return [op]
    if isinstance(op, AddOp) and op.lhs.has_one_use() and op.rhs.has_one_use():
        lhs, rhs = summed_convs(op.lhs), summed_convs(op.rhs)
        return None if lhs is None or rhs is None else lhs + rhs
    return None


def sum_of(parts: Sequence[IRDLOperation]) -> tuple[list[IRDLOperation], SSAValue]:
    """`parts` (ops with one integer result) and the `bnn.add`s summing them, each part added as soon as it
    is made (one running sum live at a time); returns the ops in order and the total."""
    ops: list[IRDLOperation] = [parts[0]]
    total = parts[0].results[0]
    for part in parts[1:]:
        add = AddOp(total, part.results[0])
        ops += [part, add]
        total = add.output
    return ops, total


def _check(op: IRDLOperation, cond: bool, msg: str) -> None:
    if not cond:
        raise VerifyException(f"{op.name}: {msg}")


def _check_window(op: IRDLOperation, kernel: tuple[int, ...], strides, dilations, pads, crop: bool = False) -> None:
    """`crop`: the op reads negative pads as crops, so any sign is valid (the output size check bounds them)."""
    _check(op, len(kernel) == 2 and all(k >= 1 for k in kernel), f"kernel must be two sizes >= 1, got {kernel}")
    _check(op, len(strides) == 2 and all(s >= 1 for s in strides), f"strides must be two values >= 1, got {strides}")
    _check(op, len(dilations) == 2 and all(d >= 1 for d in dilations), f"dilations must be >= 1, got {dilations}")
    if crop:
        _check(op, len(pads) == 4, f"pads must be four values, got {pads}")
    else:
        _check(op, len(pads) == 4 and all(p >= 0 for p in pads), f"pads must be four values >= 0, got {pads}")


# ----------------------------------------------------------------------------------------------
# Ops
# ----------------------------------------------------------------------------------------------


@irdl_op_definition
class Conv2dOp(IRDLOperation):
    """Binary 2-D convolution: ±1 input × ±1 weights -> integer sums (the ±1 dot product per window).

    `pad_value` says what lies outside the input: "+1", "-1", or "zero" (the source model padded
    with 0, e.g. an ONNX Conv; a ±1 datapath needs a border correction for it).
    `pads` are [top, left, bottom, right]; a negative pad crops that many rows/columns instead, so the
    op reads rows -top .. H+bottom-1 (and likewise columns) of the input extended by `pad_value` on
    every side (`bnn-decompose-kernels` makes such windows for the blocks of a large kernel).
    """

    name = "bnn.conv2d"
    input = operand_def(BitsType)
    output = result_def(I32Tensor)
    weights = prop_def(DenseBitsAttr)
    strides = prop_def(DenseArrayBase)
    dilations = prop_def(DenseArrayBase)
    pads = prop_def(DenseArrayBase)
    pad_value = prop_def(StringAttr)
    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` type($input) `->` type($output)"
    irdl_options = (ParsePropInAttrDict(),)

    def __init__(
        self,
        input: SSAValue,
        weights: np.ndarray,
        strides: Sequence[int] = (1, 1),
        dilations: Sequence[int] = (1, 1),
        pads: Sequence[int] = (0, 0, 0, 0),
        pad_value: str = "zero",
    ):
        n, _, h, w = shape_of(input.type)
        oh, ow = conv_output_hw((h, w), weights.shape[2:], strides, dilations, pads)
        super().__init__(
            operands=[input],
            result_types=[TensorType(i32, (n, weights.shape[0], oh, ow))],
            properties={
                "weights": DenseBitsAttr.from_array(weights),
                "strides": i64_array(strides),
                "dilations": i64_array(dilations),
                "pads": i64_array(pads),
                "pad_value": StringAttr(pad_value),
            },
        )

    def verify_(self) -> None:
        ishape, wshape, oshape = shape_of(self.input.type), self.weights.get_shape(), shape_of(self.output.type)
        _check(self, len(ishape) == 4, f"input must be NCHW, got shape {ishape}")
        _check(self, len(wshape) == 4, f"weights must be OIHW, got shape {wshape}")
        _check(self, wshape[1] == ishape[1], f"weights expect {wshape[1]} input channels, input has {ishape[1]}")
        strides, dil, pads = ints(self.strides), ints(self.dilations), ints(self.pads)
        _check_window(self, wshape[2:], strides, dil, pads, crop=True)
        _check(self, self.pad_value.data in PAD_VALUES, f"pad_value must be one of {PAD_VALUES}, got {self.pad_value.data!r}")
        oh, ow = conv_output_hw(ishape[2:], wshape[2:], strides, dil, pads)
        want = (ishape[0], wshape[0], oh, ow)
        _check(self, oh >= 1 and ow >= 1, f"the kernel does not fit the input (output {oh}x{ow})")
        _check(self, oshape == want, f"result shape {oshape} does not match the computed {want}")


@irdl_op_definition
class DenseOp(IRDLOperation):
    """Binary dense layer: ±1 input [N, K] × ±1 weights [M, K] -> integer sums [N, M]."""

    name = "bnn.dense"
    input = operand_def(BitsType)
    output = result_def(I32Tensor)
    weights = prop_def(DenseBitsAttr)
    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` type($input) `->` type($output)"
    irdl_options = (ParsePropInAttrDict(),)

    def __init__(self, input: SSAValue, weights: np.ndarray):
        n = shape_of(input.type)[0]
        super().__init__(
            operands=[input],
            result_types=[TensorType(i32, (n, weights.shape[0]))],
            properties={"weights": DenseBitsAttr.from_array(weights)},
        )

    def verify_(self) -> None:
        ishape, wshape, oshape = shape_of(self.input.type), self.weights.get_shape(), shape_of(self.output.type)
        _check(self, len(ishape) == 2, f"input must be [N, K], got shape {ishape}")
        _check(self, len(wshape) == 2, f"weights must be [M, K], got shape {wshape}")
        _check(self, wshape[1] == ishape[1], f"weights expect {wshape[1]} inputs, input has {ishape[1]}")
        _check(self, oshape == (ishape[0], wshape[0]), f"result shape {oshape} must be {(ishape[0], wshape[0])}")


@irdl_op_definition
class ThresholdOp(IRDLOperation):
    """Per-channel binarisation of integer sums (channel axis 1).

    `modes[c]` is 'g' (+1 iff x >= thresholds[c]), 'l' (+1 iff x <= thresholds[c]), '+' or '-'
    (constant channel, e.g. batch-norm gamma = 0).  Batch norm with a negative scale gives 'l'.
    """

    name = "bnn.threshold"
    input = operand_def(I32Tensor)
    output = result_def(BitsType)
    thresholds = prop_def(DenseArrayBase)
    modes = prop_def(StringAttr)
    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` type($input) `->` type($output)"
    irdl_options = (ParsePropInAttrDict(),)

    def __init__(self, input: SSAValue, thresholds: Sequence[int], modes: str):
        super().__init__(
            operands=[input],
            result_types=[BitsType(shape_of(input.type))],
            properties={
                "thresholds": DenseArrayBase.from_list(i32, [int(t) for t in thresholds]),
                "modes": StringAttr(modes),
            },
        )

    def verify_(self) -> None:
        ishape = shape_of(self.input.type)
        _check(self, len(ishape) >= 2, f"input needs a channel axis, got shape {ishape}")
        _check(self, shape_of(self.output.type) == ishape, "result shape must equal the input shape")
        c = ishape[1]
        n_t = len(self.thresholds.get_values())
        _check(self, n_t == c, f"{n_t} thresholds for {c} channels")
        _check(self, len(self.modes.data) == c, f"{len(self.modes.data)} modes for {c} channels")
        bad = set(self.modes.data) - set(THRESHOLD_MODES)
        _check(self, not bad, f"modes must be among {THRESHOLD_MODES!r}, found {''.join(sorted(bad))!r}")


@irdl_op_definition
class SignOp(IRDLOperation):
    """Binarise a float tensor: x > 0 -> +1, x < 0 -> -1, and 0 by the explicit rule `zero`:

    "plus": 0 -> +1 (QONNX BipolarQuant, FINN, Larq);
    "reject": ONNX `Sign` maps 0 to 0, which ±1 cannot represent; meeting a 0 is a run-time error.
    """

    name = "bnn.sign"
    input = operand_def(TensorType[Float32Type])
    output = result_def(BitsType)
    zero = prop_def(StringAttr)
    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` type($input) `->` type($output)"
    irdl_options = (ParsePropInAttrDict(),)

    def __init__(self, input: SSAValue, zero: str):
        super().__init__(
            operands=[input], result_types=[BitsType(shape_of(input.type))], properties={"zero": StringAttr(zero)}
        )

    def verify_(self) -> None:
        _check(self, shape_of(self.output.type) == shape_of(self.input.type), "result shape must equal the input shape")
        _check(self, self.zero.data in SIGN_ZERO_RULES, f"zero must be one of {SIGN_ZERO_RULES}, got {self.zero.data!r}")


def plane_channels(c: int) -> int:
    """Channels one bit plane of a c-channel map takes: whole 16-channel words."""
    return CHANNELS_PER_WORD * -(-c // CHANNELS_PER_WORD)


def _grid_properties(planes: Planes) -> dict[str, Attribute]:
    props: dict[str, Attribute] = {"bits": IntegerAttr(planes.bits, 64), "exponent": IntegerAttr(planes.exponent, 64)}
    if planes.signed:
        props["signed"] = UnitAttr()
    return props


def _grid(op: BitplanesOp | BitplaneConv2dOp) -> Planes:
    try:
        return Planes(op.bits.value.data, op.exponent.value.data, op.signed is not None)
    except ChewcError as e:
        raise VerifyException(f"{op.name}: {e}") from e


@irdl_op_definition
class BitplanesOp(IRDLOperation):
    """Split a float tensor on an integer grid into its bit planes: q = x / 2**exponent must be an integer
    of `bits` bits (two's complement with `signed`; anything else is a run-time error). Each plane takes
    P = 16 * ceil(C / 16) channels, so that it starts a word: channel b*P + c of the result is bit b of q at
    channel c as ±1 (1 -> +1, 0 -> -1), channels C..P-1 of a plane are -1."""

    name = "bnn.bitplanes"
    input = operand_def(TensorType[Float32Type])
    output = result_def(BitsType)
    bits = prop_def(IntegerAttr)
    exponent = prop_def(IntegerAttr)
    signed = opt_prop_def(UnitAttr)
    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` type($input) `->` type($output)"
    irdl_options = (ParsePropInAttrDict(),)

    def __init__(self, input: SSAValue, planes: Planes):
        n, c, h, w = shape_of(input.type)
        super().__init__(operands=[input], result_types=[BitsType((n, planes.bits * plane_channels(c), h, w))],
                         properties=_grid_properties(planes))

    @property
    def planes(self) -> Planes:
        return _grid(self)

    def verify_(self) -> None:
        ishape, oshape = shape_of(self.input.type), shape_of(self.output.type)
        _check(self, len(ishape) == 4, f"input must be NCHW, got shape {ishape}")
        bits = self.planes.bits
        want = (ishape[0], bits * plane_channels(ishape[1]), *ishape[2:])
        _check(self, oshape == want, f"result shape {oshape} must be {want} ({bits} planes of {ishape[1]} channels, "
                                     "each in whole words)")


@irdl_op_definition
class BitplaneConv2dOp(IRDLOperation):
    """Convolution of an integer map given as bit planes (`bnn.bitplanes`, plane b = channels b*P .. b*P+C-1)
    with ±1 weights [O, C, KH, KW]:
    sum over planes b of weight(b) * (binary conv of plane b), weight(b) = 2**b and -2**(bits-1) for the
    sign plane of a signed grid. Outside the image every plane is -1 (q = 0, the model's zero padding).

    With q the grid integers and S[o] the sum of the weights of output channel o (every tap), the result
    is 2 * sum(w * q) - S[o] * sum_b weight(b) (+ S[o] on a signed grid): each {0, 1} bit is (plane + 1) / 2.
    """

    name = "bnn.bitplane_conv2d"
    input = operand_def(BitsType)
    output = result_def(I32Tensor)
    weights = prop_def(DenseBitsAttr)
    strides = prop_def(DenseArrayBase)
    dilations = prop_def(DenseArrayBase)
    pads = prop_def(DenseArrayBase)
    bits = prop_def(IntegerAttr)
    exponent = prop_def(IntegerAttr)
    signed = opt_prop_def(UnitAttr)
    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` type($input) `->` type($output)"
    irdl_options = (ParsePropInAttrDict(),)

    def __init__(self, input: SSAValue, weights: np.ndarray, planes: Planes, strides: Sequence[int] = (1, 1),
                 dilations: Sequence[int] = (1, 1), pads: Sequence[int] = (0, 0, 0, 0)):
        n, _, h, w = shape_of(input.type)
        oh, ow = conv_output_hw((h, w), weights.shape[2:], strides, dilations, pads)
        super().__init__(
            operands=[input],
            result_types=[TensorType(i32, (n, weights.shape[0], oh, ow))],
            properties={
                "weights": DenseBitsAttr.from_array(weights),
                "strides": i64_array(strides),
                "dilations": i64_array(dilations),
                "pads": i64_array(pads),
                **_grid_properties(planes),
            },
        )

    @property
    def planes(self) -> Planes:
        return _grid(self)

    def verify_(self) -> None:
        ishape, wshape, oshape = shape_of(self.input.type), self.weights.get_shape(), shape_of(self.output.type)
        _check(self, len(ishape) == 4 and len(wshape) == 4, f"input must be NCHW and weights OIHW, got {ishape} / {wshape}")
        bits = self.planes.bits
        need = bits * plane_channels(wshape[1])
        _check(self, ishape[1] == need,
               f"{bits} planes of {wshape[1]} channels (in whole words) need {need} input channels, the input has {ishape[1]}")
        strides, dil, pads = ints(self.strides), ints(self.dilations), ints(self.pads)
        _check_window(self, wshape[2:], strides, dil, pads)
        oh, ow = conv_output_hw(ishape[2:], wshape[2:], strides, dil, pads)
        _check(self, oh >= 1 and ow >= 1, f"the kernel does not fit the input (output {oh}x{ow})")
        want = (ishape[0], wshape[0], oh, ow)
        _check(self, oshape == want, f"result shape {oshape} does not match the computed {want}")


@irdl_op_definition
class MaxPoolOp(IRDLOperation):
    """2-D max-pool over ±1 maps (an OR of the bits) or integer maps; padding never wins the max.

    The output size is the floor formula of `conv_output_hw` (ONNX's ceil mode is expressed by larger
    end pads); every window must hold at least one element of the input. `dilations` default to 1.
    """

    name = "bnn.maxpool"
    T: ClassVar = IntOrBits
    input = operand_def(T)
    output = result_def(T)
    kernel = prop_def(DenseArrayBase)
    strides = prop_def(DenseArrayBase)
    pads = prop_def(DenseArrayBase)
    dilations = opt_prop_def(DenseArrayBase)
    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` type($input) `->` type($output)"
    irdl_options = (ParsePropInAttrDict(),)

    def __init__(self, input: SSAValue, kernel: Sequence[int], strides: Sequence[int], pads: Sequence[int],
                 dilations: Sequence[int] = (1, 1)):
        n, c, h, w = shape_of(input.type)
        oh, ow = conv_output_hw((h, w), kernel, strides, dilations, pads)
        rtype = map_type(input.type, (n, c, oh, ow))
        props = {"kernel": i64_array(kernel), "strides": i64_array(strides), "pads": i64_array(pads)}
        if tuple(dilations) != (1, 1):
            props["dilations"] = i64_array(dilations)
        super().__init__(operands=[input], result_types=[rtype], properties=props)

    def dilation_values(self) -> tuple[int, ...]:
        return ints(self.dilations) if self.dilations is not None else (1, 1)

    def verify_(self) -> None:
        ishape, oshape = shape_of(self.input.type), shape_of(self.output.type)
        _check_map(self, ishape)
        kernel, strides, pads, dil = ints(self.kernel), ints(self.strides), ints(self.pads), self.dilation_values()
        _check_window(self, kernel, strides, dil, pads)
        oh, ow = conv_output_hw(ishape[2:], kernel, strides, dil, pads)
        _check(self, oh >= 1 and ow >= 1, f"the window does not fit the padded input (output {oh}x{ow})")
        for ax, out in enumerate((oh, ow)):
            size = ishape[2 + ax]
            _check(self, all(_reaches(o * strides[ax] - pads[ax], dil[ax], kernel[ax], size) for o in range(out)),
                   "a window lies entirely in the padding")
        _check(self, oshape == (*ishape[:2], oh, ow), f"result shape {oshape} must be {(*ishape[:2], oh, ow)}")


def map_type(like: Attribute, shape: Sequence[int]) -> Attribute:
    """The type of a map of `shape` with the element kind of `like`: ±1 bits or integer sums."""
    return BitsType(shape) if isinstance(like, BitsType) else TensorType(i32, shape)


def _check_map(op: IRDLOperation, ishape: tuple[int, ...]) -> None:
    """A map-to-map op (pool, subsample): NCHW in, the same element kind out."""
    _check(op, type(op.input.type) is type(op.output.type), "input and result must both be bits or both integers")
    _check(op, len(ishape) == 4, f"input must be NCHW, got shape {ishape}")


def _reaches(start: int, dilation: int, kernel: int, size: int) -> bool:
    """Whether a window of `kernel` taps `dilation` apart from `start` holds an index in [0, size)."""
    return any(0 <= start + j * dilation < size for j in range(kernel))


@irdl_op_definition
class SubsampleOp(IRDLOperation):
    """Keep every `strides[0]`-th row and `strides[1]`-th column (from 0) of a ±1 or integer map.

    How an unequal stride runs on an array that steps rows and columns alike: compute at a common
    stride, then subsample (see `bnn-legalize-windows`).
    """

    name = "bnn.subsample"
    T: ClassVar = IntOrBits
    input = operand_def(T)
    output = result_def(T)
    strides = prop_def(DenseArrayBase)
    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` type($input) `->` type($output)"
    irdl_options = (ParsePropInAttrDict(),)

    def __init__(self, input: SSAValue, strides: Sequence[int]):
        n, c, h, w = shape_of(input.type)
        shape = (n, c, (h - 1) // strides[0] + 1, (w - 1) // strides[1] + 1)
        super().__init__(operands=[input], result_types=[map_type(input.type, shape)], properties={"strides": i64_array(strides)})

    def verify_(self) -> None:
        ishape, oshape = shape_of(self.input.type), shape_of(self.output.type)
        _check_map(self, ishape)
        s = ints(self.strides)
        _check(self, len(s) == 2 and min(s) >= 1, f"strides must be two values >= 1, got {s}")
        want = (*ishape[:2], (ishape[2] - 1) // s[0] + 1, (ishape[3] - 1) // s[1] + 1)
        _check(self, oshape == want, f"result shape {oshape} must be {want}")


@irdl_op_definition
class AddOp(IRDLOperation):
    """Integer addition of two sums of the same shape (residual connections)."""

    name = "bnn.add"
    lhs = operand_def(I32Tensor)
    rhs = operand_def(I32Tensor)
    output = result_def(I32Tensor)
    traits = traits_def(Pure())
    assembly_format = "$lhs `,` $rhs attr-dict `:` type($lhs) `,` type($rhs) `->` type($output)"

    def __init__(self, lhs: SSAValue, rhs: SSAValue):
        super().__init__(operands=[lhs, rhs], result_types=[lhs.type])

    def verify_(self) -> None:
        shapes = {shape_of(self.lhs.type), shape_of(self.rhs.type), shape_of(self.output.type)}
        _check(self, len(shapes) == 1, f"operands and result must have one shape, got {sorted(shapes)}")


@irdl_op_definition
class ReshapeOp(IRDLOperation):
    """Flatten/reshape in row-major order; the element kind (bits, integer, float) is kept."""

    name = "bnn.reshape"
    input = operand_def()
    output = result_def()
    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` type($input) `->` type($output)"
    irdl_options = (ParsePropInAttrDict(),)

    def __init__(self, input: SSAValue, shape: Sequence[int]):
        t = input.type
        rtype = BitsType(shape) if isinstance(t, BitsType) else TensorType(t.get_element_type(), shape)
        super().__init__(operands=[input], result_types=[rtype])

    def verify_(self) -> None:
        it, ot = self.input.type, self.output.type
        for t in (it, ot):
            _check(self, isinstance(t, BitsType | TensorType), f"operates on bits or tensors, got {t}")
        if isinstance(it, BitsType) or isinstance(ot, BitsType):
            _check(self, type(it) is type(ot), "cannot reshape between bits and tensors")
        else:
            _check(self, it.get_element_type() == ot.get_element_type(), "reshape keeps the element type")
        n_in, n_out = int(np.prod(shape_of(it))), int(np.prod(shape_of(ot)))
        _check(self, n_in == n_out, f"{n_in} elements cannot become {n_out}")


@irdl_op_definition
class RegroupOp(IRDLOperation):
    """View a ±1 vector [1, K, 1, 1] as a [1, C, H, W] map in the order of its 16-channel words.

    Word j of the vector (channels 16j..16j+15) becomes position (j // (H*W), (j // W) % H, j % W) of the
    map's channel group j // (H*W), lane for lane: channel 16j + b -> channel 16*(j // (H*W)) + b at
    row (j // W) % H, column j % W.  With 16-channel words this is the same memory read another way,
    so a dense layer can use a whole window instead of one position of it.
    """

    name = "bnn.regroup"
    input = operand_def(BitsType)
    output = result_def(BitsType)
    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` type($input) `->` type($output)"

    def __init__(self, input: SSAValue, shape: Sequence[int]):
        super().__init__(operands=[input], result_types=[BitsType(shape)])

    def verify_(self) -> None:
        ishape, oshape = shape_of(self.input.type), shape_of(self.output.type)
        _check(self, len(ishape) == 4 and ishape[0] == 1 and ishape[2:] == (1, 1), f"input must be [1, K, 1, 1], got {ishape}")
        _check(self, len(oshape) == 4 and oshape[0] == 1, f"result must be [1, C, H, W], got {oshape}")
        _check(self, ishape[1] % CHANNELS_PER_WORD == 0 and oshape[1] % CHANNELS_PER_WORD == 0, "regrouping moves whole 16-channel words")
        n_in, n_out = ishape[1], int(np.prod(oshape))
        _check(self, n_in == n_out, f"{n_in} elements cannot become {n_out}")


def regroup(x: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """`bnn.regroup` of an array whose axis 1 holds the K channels (also used to permute weight rows)."""
    _, c, h, w = shape
    lead = x.shape[0]
    return x.reshape(lead, c // CHANNELS_PER_WORD, h, w, CHANNELS_PER_WORD).transpose(0, 1, 4, 2, 3).reshape(lead, c, h, w)


@irdl_op_definition
class HostOp(IRDLOperation):
    """Computation the accelerator cannot do (8-bit first-layer conv, float gemm, softmax, ...).

    It carries the reason it is not accelerated and the exact ONNX subgraph it stands for
    (`onnx`: a base64 ModelProto whose inputs/outputs are named by `inputs`/`outputs`), which the
    host side runs with the same executor as the reference (onnxruntime, or qonnx for QONNX ops).
    Bits operands enter the subgraph as ±1 float32, integer operands as float32.
    """

    name = "bnn.host"
    args = var_operand_def()
    res = var_result_def()
    reason = attr_def(StringAttr)
    onnx = attr_def(StringAttr)
    inputs = attr_def(ArrayAttr[StringAttr])
    outputs = attr_def(ArrayAttr[StringAttr])
    assembly_format = "$reason `(` $args `)` attr-dict `:` functional-type($args, $res)"

    def __init__(
        self,
        args: Sequence[SSAValue],
        result_types: Sequence[Attribute],
        reason: str,
        model_bytes: bytes,
        inputs: Sequence[str],
        outputs: Sequence[str],
    ):
        super().__init__(
            operands=[args],
            result_types=[result_types],
            attributes={
                "reason": StringAttr(reason),
                "onnx": StringAttr(base64.b64encode(model_bytes).decode("ascii")),
                "inputs": ArrayAttr(StringAttr(s) for s in inputs),
                "outputs": ArrayAttr(StringAttr(s) for s in outputs),
            },
        )

    def model_bytes(self) -> bytes:
        return base64.b64decode(self.onnx.data)

    def verify_(self) -> None:
        _check(self, bool(self.reason.data.strip()), "a host op must say why it is not accelerated")
        _check(self, len(self.inputs.data) == len(self.args), f"{len(self.inputs.data)} input names for {len(self.args)} operands")
        _check(self, len(self.outputs.data) == len(self.res), f"{len(self.outputs.data)} output names for {len(self.res)} results")
        for r in self.res:
            _check(self, isinstance(r.type, TensorType) and isinstance(r.type.get_element_type(), Float32Type),
                   f"host results are f32 tensors, got {r.type}")
        try:
            base64.b64decode(self.onnx.data, validate=True)
        except ValueError as e:
            raise VerifyException(f"{self.name}: the embedded ONNX subgraph is not valid base64 ({e})") from e


Bnn = Dialect(
    "bnn",
    [Conv2dOp, DenseOp, ThresholdOp, SignOp, BitplanesOp, BitplaneConv2dOp, MaxPoolOp, SubsampleOp, AddOp, ReshapeOp, RegroupOp, HostOp],
    [BitsType, DenseBitsAttr],
)
