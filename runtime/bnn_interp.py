"""The `bnn` interpreter: xDSL interpreter functions running each op's numpy kernel (`dialects.bnn_kernels`).

Run-time values: `!bnn.bits` -> int8 arrays of -1/+1, `tensor<..xi32>` -> int32 arrays,
`tensor<..xf32>` -> float32 arrays.  Lower levels (tile, chewbacca) are checked against this.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
from xdsl.dialects.builtin import ModuleOp, TensorType
from xdsl.interpreter import Interpreter, InterpreterFunctions, PythonValues, impl, register_impls
from xdsl.interpreters.func import FuncFunctions

from dialects import bnn
from dialects.bnn_kernels import bitplane_conv2d, conv2d, dense, maxpool, sign, threshold
from isa.errors import ChewcError
from runtime.host import bit_planes
from runtime.onnx_ref import executor_for


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
