"""What each `bnn` op computes, as numpy kernels: the single definition of the dialect's semantics.

The interpreter (`runtime.bnn_interp`) runs them op by op; the importer uses them to check that a
`bnn` form computes what onnxruntime does.  Values: ±1 maps are int8 arrays of -1/+1, integer maps int32,
float maps float32.  No xDSL interpreter here, so the compiler can use the kernels without loading one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from dialects import bnn
from isa.container import Planes
from isa.errors import ChewcError

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
