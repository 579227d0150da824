"""Lower bounds of a schedule (`compiler.bounds`), against values worked out by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper
import onnx

from compiler.bounds import layer_bounds
from compiler.driver import compile_model
from runtime.emulator import emulate


def test_bounds_of_a_conv_pool_net(tmp_path: Path) -> None:
    """Sign -> Conv 3x3 (20 -> 32, pad 1) -> Sign -> MaxPool 2 -> Conv 3x3 (32 -> 8) on a 20 x 8 x 8 input."""
    rng = np.random.default_rng(0)
    w0 = rng.choice([-1.0, 1.0], (32, 20, 3, 3)).astype(np.float32)
    w1 = rng.choice([-1.0, 1.0], (8, 32, 3, 3)).astype(np.float32)
    t0 = np.full((1, 32, 1, 1), 0.5, np.float32)  # sums of 20*9 = 180 +-1 terms are even: never 0.5
    graph = helper.make_graph(
        [helper.make_node("Sign", ["x"], ["s"]),
         helper.make_node("Conv", ["s", "w0"], ["c0"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
         helper.make_node("Sub", ["c0", "t0"], ["d0"]),
         helper.make_node("Sign", ["d0"], ["a0"]),
         helper.make_node("MaxPool", ["a0"], ["p0"], kernel_shape=[2, 2], strides=[2, 2]),
         helper.make_node("Conv", ["p0", "w1"], ["y"], kernel_shape=[3, 3])],
        "b", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 20, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 2, 2])],
        [numpy_helper.from_array(w0, "w0"), numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(t0, "t0")])
    path = tmp_path / "b.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    bound = layer_bounds(compile_model(path, "bnn", stop_after="bnn-decompose-kernels").module)
    conv0, conv1 = bound.layers
    assert (conv0.kind, conv1.kind) == ("conv+threshold+maxpool", "conv")  # the pool of its ±1 map is its chain
    # weights: 32 x 2 words x 9 taps; thresholds 2 words per channel; input 2 words x 64 pixels; output the
    # pooled map, 2 words x 16 pixels (the 8 x 8 map before the pool need never leave the chip)
    assert (conv0.constant_bits, conv0.input_bits, conv0.output_bits) == (
        (32 * 2 * 9 + 2 * 32) * 16, 2 * 64 * 16, 2 * 16 * 16)
    assert (conv0.macs, conv0.cycle_bound) == (32 * 64 * 20 * 9, 32 * 64 * 20 / 16)
    # the last conv's int16 sums: 8 channels x 4 pixels, one word each
    assert (conv1.constant_bits, conv1.input_bits, conv1.output_bits) == (8 * 2 * 9 * 16, 2 * 16 * 16, 8 * 4 * 16)
    assert bound.traffic_bits == sum(layer.traffic_bits for layer in bound.layers)
    # what the schedule achieves is never below the bound of a layer whose maps all cross DRAM
    c = compile_model(path)
    report = emulate(c.program, rng.random((20, 8, 8), dtype=np.float32) - 0.5).report
    assert report.cycles >= bound.cycles(c.machine) and report.array_cycles >= bound.cycle_bound
