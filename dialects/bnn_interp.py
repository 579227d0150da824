"""Reference semantics of the `bnn` dialect, as numpy kernels and xDSL interpreter functions.

Run-time values: `!bnn.bits` -> int8 arrays of -1/+1, `tensor<..xi32>` -> int32 arrays,
`tensor<..xf32>` -> float32 arrays.  The kernels are the single definition of what each op computes;
lower levels (tile, chewbacca) are checked against them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
from numpy.lib.stride_tricks import sliding_window_view
from xdsl.dialects.builtin import ModuleOp, TensorType
from xdsl.interpreter import Interpreter, InterpreterFunctions, PythonValues, impl, register_impls
from xdsl.interpreters.func import FuncFunctions

from dialects import bnn
from isa.container import Planes
from isa.errors import ChewcError
from runtime.host import bit_planes
from runtime.onnx_ref import executor_for

PAD_FILL = {"+1": 1, "-1": -1, "zero": 0}


def windows(x: np.ndarray, kernel: Sequence[int], strides: Sequence[int], dilations: Sequence[int]) -> np.ndarray:
    """[N, C, H, W] -> [N, C, OH, OW, KH, KW] view of every (dilated, strided) window."""
    kh, kw = kernel
    dh, dw = dilations
    v = sliding_window_view(x, ((kh - 1) * dh + 1, (kw - 1) * dw + 1), axis=(2, 3))
    return v[:, :, :: strides[0], :: strides[1], ::dh, ::dw]


def pad_nchw(x: np.ndarray, pads: Sequence[int], value: float) -> np.ndarray:
    """Pad [top, left, bottom, right] with `value`; a negative pad crops that many rows/columns.

    Padding first and cropping second keeps a crop that reaches past the image on the padded side
    well defined: the result is always rows -top .. H+bottom-1 of the input extended by `value`.
    """
    t, l, b, r = pads
    xp = np.pad(x, ((0, 0), (0, 0), (max(t, 0), max(b, 0)), (max(l, 0), max(r, 0))), constant_values=value)
    h, w = xp.shape[2:]
    return xp[:, :, max(-t, 0) : h - max(-b, 0), max(-l, 0) : w - max(-r, 0)]


def conv2d(
    x: np.ndarray, w: np.ndarray, strides: Sequence[int], dilations: Sequence[int], pads: Sequence[int], pad_value: str
) -> np.ndarray:
    """Binary conv: x ±1 [N,C,H,W], w ±1 [O,C,KH,KW] -> int32 sums [N,O,OH,OW]."""
    xp = pad_nchw(x.astype(np.float32), pads, PAD_FILL[pad_value])
    win = windows(xp, w.shape[2:], strides, dilations)  # N C OH OW KH KW
    # float32 sums of ±1 are exact far beyond any layer size (< 2**24)
    out = np.einsum("nchwij,ocij->nohw", win, w.astype(np.float32), optimize=True)
    return out.astype(np.int32)


def bitplane_conv2d(x: np.ndarray, w: np.ndarray, planes: Planes, strides: Sequence[int], dilations: Sequence[int],
                    pads: Sequence[int]) -> np.ndarray:
    """`bnn.bitplane_conv2d`: the plane-weighted sum of binary convs of the planes of x, padded with -1."""
    c, per = w.shape[1], bnn.plane_channels(w.shape[1])
    return sum(
        (weight * conv2d(x[:, b * per : b * per + c], w, strides, dilations, pads, "-1")
         for b, weight in enumerate(planes.weights())),
        np.zeros((), np.int32),
    )


def dense(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    return (x.astype(np.float32) @ w.astype(np.float32).T).astype(np.int32)


def threshold(acc: np.ndarray, thresholds: Sequence[int], modes: str) -> np.ndarray:
    shape = (1, len(modes)) + (1,) * (acc.ndim - 2)
    t = np.asarray(thresholds, np.int64).reshape(shape)
    m = np.frombuffer(modes.encode(), np.uint8).reshape(shape)
    plus = np.where(m == ord("g"), acc >= t, np.where(m == ord("l"), acc <= t, m == ord("+")))
    return np.where(plus, 1, -1).astype(np.int8)


def sign(x: np.ndarray, zero: str, where: str = "bnn.sign") -> np.ndarray:
    if zero == "reject" and np.any(x == 0):
        idx = tuple(int(i) for i in np.argwhere(x == 0)[0])
        raise ChewcError(
            f"{where}: input is exactly 0 at index {idx}; ONNX Sign gives 0 there, which a ±1 tensor cannot hold"
        )
    return np.where(x >= 0, 1, -1).astype(np.int8)


def maxpool(x: np.ndarray, kernel: Sequence[int], strides: Sequence[int], pads: Sequence[int],
            dilations: Sequence[int] = (1, 1)) -> np.ndarray:
    """Max over each window; padding never wins (the op's verifier ensures each window meets the input)."""
    lowest = -128 if x.dtype == np.int8 else np.iinfo(np.int32).min if x.dtype.kind in "iu" else -np.inf
    xp = pad_nchw(x, pads, lowest)
    return windows(xp, kernel, strides, dilations).max(axis=(4, 5)).astype(x.dtype)


def run_host(op: bnn.HostOp, args: Sequence[np.ndarray]) -> tuple[np.ndarray, ...]:
    executor = executor_for(op.model_bytes())
    dtypes = {i.name: i.type.tensor_type.elem_type for i in executor.model.graph.input}
    feeds = {}
    for name, value in zip((s.data for s in op.inputs), args, strict=True):
        target = onnx.helper.tensor_dtype_to_np_dtype(dtypes.get(name, onnx.TensorProto.FLOAT))
        feeds[name] = np.asarray(value).astype(target)
    outs = executor.run(feeds, [s.data for s in op.outputs])
    return tuple(np.asarray(outs[s.data], np.float32) for s in op.outputs)


@register_impls
class BnnFunctions(InterpreterFunctions):
    @impl(bnn.Conv2dOp)
    def run_conv2d(self, interp: Interpreter, op: bnn.Conv2dOp, args: PythonValues) -> PythonValues:
        return (
            conv2d(args[0], op.weights.to_array(), bnn.ints(op.strides), bnn.ints(op.dilations), bnn.ints(op.pads), op.pad_value.data),
        )

    @impl(bnn.BitplanesOp)
    def run_bitplanes(self, interp: Interpreter, op: bnn.BitplanesOp, args: PythonValues) -> PythonValues:
        return (bit_planes(args[0], op.planes, op.name),)

    @impl(bnn.BitplaneConv2dOp)
    def run_bitplane_conv2d(self, interp: Interpreter, op: bnn.BitplaneConv2dOp, args: PythonValues) -> PythonValues:
        return (bitplane_conv2d(args[0], op.weights.to_array(), op.planes, bnn.ints(op.strides),
                                bnn.ints(op.dilations), bnn.ints(op.pads)),)

    @impl(bnn.DenseOp)
    def run_dense(self, interp: Interpreter, op: bnn.DenseOp, args: PythonValues) -> PythonValues:
        return (dense(args[0], op.weights.to_array()),)

    @impl(bnn.ThresholdOp)
    def run_threshold(self, interp: Interpreter, op: bnn.ThresholdOp, args: PythonValues) -> PythonValues:
        return (threshold(args[0], bnn.ints(op.thresholds), op.modes.data),)

    @impl(bnn.SignOp)
    def run_sign(self, interp: Interpreter, op: bnn.SignOp, args: PythonValues) -> PythonValues:
        return (sign(args[0], op.zero.data),)

    @impl(bnn.MaxPoolOp)
    def run_maxpool(self, interp: Interpreter, op: bnn.MaxPoolOp, args: PythonValues) -> PythonValues:
        return (maxpool(args[0], bnn.ints(op.kernel), bnn.ints(op.strides), bnn.ints(op.pads), op.dilation_values()),)

    @impl(bnn.SubsampleOp)
    def run_subsample(self, interp: Interpreter, op: bnn.SubsampleOp, args: PythonValues) -> PythonValues:
        rh, rw = bnn.ints(op.strides)
        return (np.ascontiguousarray(args[0][:, :, ::rh, ::rw]),)

    @impl(bnn.AddOp)
    def run_add(self, interp: Interpreter, op: bnn.AddOp, args: PythonValues) -> PythonValues:
        return ((args[0].astype(np.int64) + args[1]).astype(np.int32),)

    @impl(bnn.ReshapeOp)
    def run_reshape(self, interp: Interpreter, op: bnn.ReshapeOp, args: PythonValues) -> PythonValues:
        return (np.reshape(args[0], bnn.shape_of(op.output.type)),)

    @impl(bnn.RegroupOp)
    def run_regroup(self, interp: Interpreter, op: bnn.RegroupOp, args: PythonValues) -> PythonValues:
        return (bnn.regroup(args[0], bnn.shape_of(op.output.type)),)

    @impl(bnn.HostOp)
    def run_host(self, interp: Interpreter, op: bnn.HostOp, args: PythonValues) -> PythonValues:
        return run_host(op, args)


def input_shape(module: ModuleOp, symbol: str = "main") -> tuple[int, ...]:
    fn = find_function(module, symbol)
    t = fn.function_type.inputs.data[0]
    assert isinstance(t, TensorType)
    return tuple(t.get_shape())


def find_function(module: ModuleOp, symbol: str = "main"):  # noqa: ANN201 -- func.FuncOp
    from xdsl.dialects import func

    for op in module.ops:
        if isinstance(op, func.FuncOp) and op.sym_name.data == symbol:
            return op
    raise ChewcError(f"the module has no function @{symbol}")


def run_module(
    module: ModuleOp, inputs: Sequence[np.ndarray], symbol: str = "main", extra: Sequence[InterpreterFunctions] = ()
) -> tuple[np.ndarray, ...]:
    """Execute @symbol of a module with the reference semantics of every level registered."""
    find_function(module, symbol)
    interp = Interpreter(module)
    for f in (FuncFunctions(), BnnFunctions(), *extra):
        interp.register_implementations(f)
    return tuple(interp.call_op(symbol, tuple(inputs)))
