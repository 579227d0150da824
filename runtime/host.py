"""Host side of a run: logical tensors <-> DRAM words, per the data conventions of docs/isa.md.

A binary tensor [C, H, W] of +-1 is stored as [G][H][W] 16-bit words, G = ceil(C / 16); bit i of word
(g, y, x) is channel 16g + i, 1 for +1 and 0 for -1, unused channel bits 0. An int16 tensor is stored
as [C][H][W] words (two's complement). An f32 tensor is stored as [C][H][W] IEEE-754 float32 values of
two words each, little-endian: the low 16 bits first. A tensor of shape [K] is stored as [K, 1, 1].
"""

from __future__ import annotations

from collections.abc import Sequence
from math import ceil

import numpy as np

from isa.container import Planes, TensorDesc
from isa.errors import ChewcError
from isa.table import CHANNELS_PER_WORD as LANES

_LANE_VALUES = (1 << np.arange(LANES)).astype(np.float32)  # the value of bit i of a word


def word_bits(words: np.ndarray) -> np.ndarray:
    """uint16 words (...) -> their bits (..., 16) as uint8, bit 0 first."""
    as_bytes = np.ascontiguousarray(words, dtype="<u2").view(np.uint8).reshape(*words.shape, 2)
    return np.unpackbits(as_bytes, axis=-1, bitorder="little")


def bits_word(bits: np.ndarray) -> np.ndarray:
    """Bits (..., 16), bit 0 first -> uint16 words (...)."""
    packed = np.packbits(bits.astype(bool), axis=-1, bitorder="little")
    return np.ascontiguousarray(packed).view("<u2")[..., 0].astype(np.uint16)


def bits_words(positive: np.ndarray) -> np.ndarray:
    """The words of a binary [C, H, W] tensor from its mask of +1 elements: [G][H][W] flattened.

    Bit i of a word is a product with the lane values 2**i: exact in float32, and several times faster
    than packing bits along the channel axis.
    """
    c, h, w = positive.shape
    groups = ceil(c / LANES)
    bits = np.zeros((groups * LANES, h * w), np.float32)
    bits[:c] = positive.reshape(c, h * w)
    return (_LANE_VALUES @ bits.reshape(groups, LANES, h * w)).astype(np.uint16).ravel()


def first_index(mask: np.ndarray) -> tuple[int, ...] | None:
    """The index of the first True element of `mask`, or None (one pass when there is none)."""
    if not mask.any():
        return None
    return tuple(int(i) for i in np.argwhere(mask)[0])


def bit_planes(x: np.ndarray, planes: Planes, where: str) -> np.ndarray:
    """x [N, C, H, W] -> int8 -1/+1 [N, bits * P, H, W], P = 16 * ceil(C / 16): channel b * P + c holds bit
    b of q = x / 2**exponent (two's complement) at channel c, the rest -1 (each plane starts a word).

    An x whose q is not an integer of the planes' range is an error naming the position: the program
    was compiled for that input grid, and any other value would be silently misread."""
    q = np.ldexp(np.asarray(x, np.float64), -planes.exponent)
    lo, hi = planes.range
    bad = first_index(~((q == np.round(q)) & (q >= lo) & (q <= hi)))
    if bad is not None:
        raise ChewcError(
            f"{where}: input value {float(np.asarray(x)[bad])!r} at {bad} is not a {planes.bits}-bit "
            f"{'signed' if planes.signed else 'unsigned'} integer times 2**{planes.exponent}, the input grid the "
            "program was compiled for"
        )
    u = q.astype(np.int64) & ((1 << planes.bits) - 1)
    n, c, h, w = u.shape
    per = LANES * ceil(c / LANES)
    out = np.full((n, planes.bits, per, h, w), -1, np.int8)
    for b in range(planes.bits):
        out[:, b, :c] = ((u >> b) & 1).astype(np.int8) * 2 - 1
    return out.reshape(n, planes.bits * per, h, w)


def same_shape(a: Sequence[int], b: Sequence[int]) -> bool:
    """Equal up to dimensions of size 1: a model's [1, C, H, W] is [C, H, W], its [1, K] is [K, 1, 1]."""
    return [d for d in a if d != 1] == [d for d in b if d != 1]


def pack(desc: TensorDesc, value: np.ndarray) -> np.ndarray:
    """The DRAM words of tensor `desc` holding `value` (in its shape, or the model's: [1, C, H, W] for
    [C, H, W]); checks shape and element values."""
    arr = np.asarray(value)
    if not same_shape(arr.shape, desc.shape):
        raise ChewcError(f"input '{desc.name}' has shape {list(arr.shape)}, the program expects {list(desc.shape)}")
    return to_words(desc.dtype, arr.reshape(desc.shape), f"input '{desc.name}'")


def unpack(desc: TensorDesc, words: np.ndarray) -> np.ndarray:
    """The logical tensor of `desc` from its DRAM words: int8 -1/+1 for bits, int16 or float32 otherwise."""
    return from_words(desc.dtype, desc.shape, words)


def to_words(dtype: str, arr: np.ndarray, what: str) -> np.ndarray:
    """The words of a [C, H, W] tensor `arr` of `dtype`; `what` names it in errors."""
    if arr.dtype.kind not in "biuf":
        raise ChewcError(f"{what} has dtype {arr.dtype}, not a number")
    if dtype == "f32":
        # float64 inputs (e.g. from numpy) round to float32, the precision the model computes in.
        return np.ascontiguousarray(arr, "<f4").view("<u2").astype(np.uint16, copy=False).ravel()
    if dtype == "bits":
        at = first_index((arr != 1) & (arr != -1))
        if at is not None:
            raise ChewcError(f"{what} is binary: every element must be -1 or +1 ({arr[at]} at {at})")
        return bits_words(arr > 0)
    at = first_index((arr != np.round(arr)) | (arr < -(1 << 15)) | (arr >= 1 << 15))
    if at is not None:
        raise ChewcError(f"{what} is int16: {arr[at]} at {at} is not an int16")
    return arr.astype(np.int64).astype(np.int16).view(np.uint16).ravel()


def from_words(dtype: str, shape: tuple[int, int, int], words: np.ndarray) -> np.ndarray:
    """The [C, H, W] tensor of `dtype` in `words`: int8 -1/+1 for bits, int16, or float32."""
    c, h, w = shape
    if dtype == "int16":
        return words.view(np.int16).reshape(c, h, w).copy()
    if dtype == "f32":
        return np.ascontiguousarray(words, "<u2").view("<f4").reshape(c, h, w).astype(np.float32)
    groups = ceil(c / LANES)
    bits = word_bits(words.reshape(groups, h, w)).transpose(0, 3, 1, 2).reshape(groups * LANES, h, w)[:c]
    return (bits.astype(np.int8) * 2 - 1).astype(np.int8)
