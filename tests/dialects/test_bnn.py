"""The bnn dialect: attributes, verifiers and the numpy reference kernels against naive loops."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from xdsl.utils.exceptions import VerifyException
from xdsl.utils.test_value import create_ssa_value

from dialects import bnn
from dialects.bnn_kernels import PAD_FILL, conv2d, dense, maxpool, sign, threshold
from isa.errors import ChewcError
from tests.helpers import pm1


def naive_conv(x, w, stride, dil, pads, pad_value):
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    t, l, b, r = pads
    oh = (h + t + b - dil[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd + l + r - dil[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((n, o, oh, ow), np.int64)
    for oc, y, xx, ci, i, j in itertools.product(range(o), range(oh), range(ow), range(c), range(kh), range(kw)):
        iy, ix = y * stride[0] - t + i * dil[0], xx * stride[1] - l + j * dil[1]
        v = x[0, ci, iy, ix] if 0 <= iy < h and 0 <= ix < wd else PAD_FILL[pad_value]
        out[0, oc, y, xx] += int(v) * int(w[oc, ci, i, j])
    return out


@pytest.mark.parametrize("pad_value", ["+1", "-1", "zero"])
@pytest.mark.parametrize("stride,dil,pads", [((1, 1), (1, 1), (1, 1, 1, 1)), ((2, 1), (1, 2), (2, 0, 1, 3))])
def test_conv2d_matches_naive(pad_value, stride, dil, pads):
    rng = np.random.default_rng(1)
    x, w = pm1(rng, (1, 3, 7, 6)).astype(np.int8), pm1(rng, (2, 3, 3, 3)).astype(np.int8)
    assert np.array_equal(conv2d(x, w, stride, dil, pads, pad_value), naive_conv(x, w, stride, dil, pads, pad_value))


def test_dense_threshold_sign_maxpool():
    rng = np.random.default_rng(2)
    x, w = pm1(rng, (1, 9)).astype(np.int8), pm1(rng, (4, 9)).astype(np.int8)
    acc = dense(x, w)
    assert acc.tolist() == [[int(np.dot(x[0].astype(int), w[k].astype(int))) for k in range(4)]]
    t = threshold(np.array([[3, 3, 3, 3]]), [3, 4, 0, 0], "gl+-")
    assert t.tolist() == [[1, 1, 1, -1]]
    assert sign(np.array([0.0, -0.5, 2.0], np.float32), "plus").tolist() == [1, -1, 1]
    with pytest.raises(ChewcError, match=r"input is exactly 0 at index \(1,\)"):
        sign(np.array([1.0, 0.0], np.float32), "reject")
    bits = pm1(rng, (1, 2, 4, 4)).astype(np.int8)
    pooled = maxpool(bits, (2, 2), (2, 2), (0, 0, 0, 0))
    ored = (bits.reshape(1, 2, 2, 2, 2, 2) > 0).any(axis=(3, 5))  # max over ±1 is an OR of the bits
    assert np.array_equal(pooled > 0, ored)
    assert maxpool(np.array([[[[-5, -7], [-9, -1]]]], np.int32), (2, 2), (1, 1), (1, 1, 0, 0)).tolist() == [[[[-5, -5], [-5, -1]]]]


def test_dense_bits_attr_roundtrip():
    rng = np.random.default_rng(3)
    w = pm1(rng, (5, 3, 3)).astype(np.int8)
    attr = bnn.DenseBitsAttr.from_array(w)
    assert np.array_equal(attr.to_array(), w)
    with pytest.raises(VerifyException, match="needs 6 bytes, got 1"):
        bnn.DenseBitsAttr(attr.shape, bnn.StringAttr("ff"))


def test_verifiers_name_op_and_constraint():
    x = create_ssa_value(bnn.BitsType((1, 4, 5, 5)))
    op = bnn.Conv2dOp(x, np.ones((2, 4, 3, 3), np.int8), pads=(0, 0, 0, 0), pad_value="-1")
    op.verify()
    op.pad_value = bnn.StringAttr("0")
    with pytest.raises(VerifyException, match=r"bnn.conv2d: pad_value must be one of"):
        op.verify()
    acc = create_ssa_value(bnn.TensorType(bnn.i32, (1, 3)))
    with pytest.raises(VerifyException, match="bnn.threshold: 2 thresholds for 3 channels"):
        bnn.ThresholdOp(acc, [1, 2], "gg").verify()
    with pytest.raises(VerifyException, match="bits<1x0>|positive sizes"):
        bnn.BitsType((1, 0))
