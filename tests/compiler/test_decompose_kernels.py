"""bnn-decompose-kernels: decomposed convolutions give bit-identical sums, checked by execution."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
import pytest
from xdsl.builder import ImplicitBuilder
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp, TensorType, i32
from xdsl.utils.exceptions import PassFailedException, VerifyException
from xdsl.utils.test_value import create_ssa_value

from compiler.importer import import_model
from compiler.passes.bnn_decompose_kernels import BnnDecomposeKernelsPass, split_taps
from dialects import bnn, make_context
from runtime.bnn_interp import input_shape, run_module
from dialects.bnn_kernels import conv2d, pad_nchw
from runtime.mlir_run import check_module
from tests.helpers import EXAMPLES, pm1

KERNELS = [(8, 8), (9, 9), (10, 10), (11, 11), (12, 12), (13, 13), (9, 3), (3, 9), (13, 8), (8, 1)]
WINDOWS = [  # strides, dilations, pads [top, left, bottom, right]
    ((1, 1), (1, 1), (0, 0, 0, 0)),
    ((1, 1), (1, 1), (4, 4, 4, 4)),
    ((2, 3), (1, 2), (5, 0, 2, 7)),
    ((3, 2), (2, 1), (0, 6, 9, 1)),
    ((1, 2), (2, 2), (9, 9, 8, 8)),  # pads larger than the image: blocks read pad only
]
CASES = list(itertools.product(KERNELS, WINDOWS, ("+1", "-1", "zero"), (7, 3)))


def conv_module(
    x_shape: Sequence[int], w: np.ndarray, strides: Sequence[int], dilations: Sequence[int],
    pads: Sequence[int], pad_value: str, rng: np.random.Generator,
) -> ModuleOp:
    """@main(x) -> (sums, thresholded bits) of one bnn.conv2d, so the rewired consumer is run too."""
    out_hw = bnn.conv_output_hw(x_shape[2:], w.shape[2:], strides, dilations, pads)
    out = (1, w.shape[0], *out_hw)
    module = ModuleOp([])
    with ImplicitBuilder(module.body):
        fn = func.FuncOp("main", ((bnn.BitsType(x_shape),), (TensorType(i32, out), bnn.BitsType(out))))
        with ImplicitBuilder(fn.body) as (x,):
            conv = bnn.Conv2dOp(x, w, strides, dilations, pads, pad_value)
            taps = int(np.prod(w.shape[1:]))
            modes = "".join(rng.choice(list("gl"), w.shape[0]))
            th = bnn.ThresholdOp(conv.output, rng.integers(-taps // 4, taps // 4 + 1, w.shape[0]), modes)
            func.ReturnOp(conv.output, th.output)
    module.verify()
    return module


def decomposed(module: ModuleOp, max_kernel: int) -> ModuleOp:
    out = module.clone()
    BnnDecomposeKernelsPass(max_kernel=max_kernel).apply(make_context(), out)
    out.verify()
    return out


def ops_of(module: ModuleOp, kind: type) -> list:
    return [op for op in module.walk() if isinstance(op, kind)]


@pytest.mark.parametrize("kernel,window,pad_value,max_kernel", CASES)
@pytest.mark.slow
def test_decomposition_is_exact(kernel, window, pad_value, max_kernel):
    strides, dilations, pads = window
    rng = np.random.default_rng(CASES.index((kernel, window, pad_value, max_kernel)))
    # inputs from barely fitting the window to a few rows more; with large pads the image is tiny
    hw = [max(1, dilations[a] * (kernel[a] - 1) + 1 - pads[a] - pads[a + 2] + int(rng.integers(0, 4))) for a in (0, 1)]
    x = pm1(rng, (1, 3, *hw)).astype(np.int8)
    w = pm1(rng, (4, 3, *kernel)).astype(np.int8)
    before = conv_module(x.shape, w, strides, dilations, pads, pad_value, rng)
    after = decomposed(before, max_kernel)

    blocks = math.ceil(kernel[0] / max_kernel) * math.ceil(kernel[1] / max_kernel)
    convs = ops_of(after, bnn.Conv2dOp)
    assert len(convs) == blocks and len(ops_of(after, bnn.AddOp)) == blocks - 1
    assert all(max(c.weights.get_shape()[2:]) <= max_kernel for c in convs)
    for got, want in zip(run_module(after, [x]), run_module(before, [x]), strict=True):
        assert np.array_equal(got, want)


def test_every_tap_its_own_block():
    rng = np.random.default_rng(7)
    x, w = pm1(rng, (1, 2, 9, 7)).astype(np.int8), pm1(rng, (3, 2, 8, 5)).astype(np.int8)
    before = conv_module(x.shape, w, (2, 1), (1, 2), (3, 1, 4, 6), "-1", rng)
    after = decomposed(before, 1)
    assert len(ops_of(after, bnn.Conv2dOp)) == 40
    for got, want in zip(run_module(after, [x]), run_module(before, [x]), strict=True):
        assert np.array_equal(got, want)


def test_small_kernels_untouched():
    rng = np.random.default_rng(8)
    before = conv_module((1, 2, 9, 9), pm1(rng, (2, 2, 7, 7)).astype(np.int8), (1, 1), (1, 1), (3, 3, 3, 3), "zero", rng)
    after = decomposed(before, 7)
    assert str(after) == str(before)


def test_invalid_max_kernel_is_a_diagnostic():
    module = conv_module((1, 1, 9, 9), np.ones((1, 1, 8, 8), np.int8), (1, 1), (1, 1), (0, 0, 0, 0), "zero",
                         np.random.default_rng(0))
    with pytest.raises(PassFailedException, match="max-kernel must be >= 1, got 0"):
        BnnDecomposeKernelsPass(max_kernel=0).apply(make_context(), module)


def test_split_taps_fewest_and_even():
    assert split_taps(9, 7) == [(0, 5), (5, 4)]
    assert split_taps(11, 7) == [(0, 6), (6, 5)]
    assert split_taps(7, 3) == [(0, 3), (3, 2), (5, 2)]
    assert split_taps(5, 7) == [(0, 5)]
    for size, max_size in itertools.product(range(1, 40), range(1, 9)):
        blocks = split_taps(size, max_size)
        lengths = [n for _, n in blocks]
        assert len(blocks) == math.ceil(size / max_size)
        assert [s for s, _ in blocks] == list(itertools.accumulate([0, *lengths[:-1]]))
        assert sum(lengths) == size and max(lengths) <= max_size and max(lengths) - min(lengths) <= 1


def test_example_model_decomposes_and_matches_onnx():
    path = EXAMPLES / "cnn_9x9_11x11.onnx"
    module = import_model(path)
    BnnDecomposeKernelsPass().apply(make_context(), module)
    module.verify()
    kernels = [c.weights.get_shape()[2:] for c in ops_of(module, bnn.Conv2dOp)]
    assert len(kernels) == 3 * 4 and max(max(k) for k in kernels) <= 7  # 11x11, 9x9, 9x9 -> 2x2 blocks each
    assert all(isinstance(t.input.owner, bnn.AddOp) for t in ops_of(module, bnn.ThresholdOp)[:3])
    rng = np.random.default_rng(42)
    shape = input_shape(module)
    # inputs like real images: pixel/255 in [0, 1]
    inputs = [rng.integers(0, 256, shape).astype(np.float32) / np.float32(255) for _ in range(20)]
    matched, mismatch = check_module(module, str(path), inputs)
    assert mismatch is None, mismatch.describe()
    assert matched == 20


def extended_window(x: np.ndarray, pads: Sequence[int], value: float) -> np.ndarray:
    """The definition: rows -top .. H+bottom-1 (and columns) of x extended by `value` on every side."""
    t, l, b, r = pads
    m = max(0, *pads)
    big = np.pad(x, ((0, 0), (0, 0), (m, m), (m, m)), constant_values=value)
    h, w = x.shape[2:]
    return big[:, :, m - t : m + h + b, m - l : m + w + r]


@pytest.mark.parametrize("pads", [(-1, 0, 0, -2), (-2, 3, 1, -1), (-5, 0, 7, 0), (4, -6, -3, 5), (0, 2, -1, 0)])
@pytest.mark.parametrize("pad_value", ["+1", "-1", "zero"])
def test_negative_pads_crop(pads, pad_value):
    rng = np.random.default_rng(9)
    x = pm1(rng, (1, 2, 3, 5))  # pads like (-5, 0, 7, 0) crop past the image into the far padding
    fill = {"+1": 1.0, "-1": -1.0, "zero": 0.0}[pad_value]
    window = extended_window(x, pads, fill)
    assert np.array_equal(pad_nchw(x, pads, fill), window)
    w = pm1(rng, (3, 2, 2, 2)).astype(np.int8)
    got = conv2d(x.astype(np.int8), w, (1, 1), (1, 1), pads, pad_value)
    assert np.array_equal(got, conv2d(window, w, (1, 1), (1, 1), (0, 0, 0, 0), pad_value))


def test_verifier_accepts_crops_that_fit():
    x = create_ssa_value(bnn.BitsType((1, 2, 6, 6)))
    op = bnn.Conv2dOp(x, np.ones((1, 2, 3, 3), np.int8), pads=(-1, 2, -2, 0))
    op.verify()
    assert bnn.shape_of(op.output.type) == (1, 1, 1, 6)
    op.pads = bnn.i64_array((-2, 2, -2, 0))  # 6 - 4 rows left for a 3-row kernel
    with pytest.raises(VerifyException, match="does not fit the input"):
        op.verify()
    pool = bnn.MaxPoolOp(x, (2, 2), (2, 2), (0, 0, 0, 0))
    pool.pads = bnn.i64_array((-1, 0, 0, 0))  # only convolutions read negative pads as crops
    with pytest.raises(VerifyException, match="pads must be four values >= 0"):
        pool.verify()
