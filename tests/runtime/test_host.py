"""Host packing of logical tensors into DRAM words, checked bit by bit against the data conventions."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from isa.container import TensorDesc
from runtime.host import bits_word, pack, unpack, word_bits


def test_bit_layout() -> None:
    # Channel 16g + i is bit i of word (g, y, x); +1 -> 1, -1 -> 0, unused channel bits 0.
    x = -np.ones((18, 1, 2), np.int8)
    x[0, 0, 0] = x[3, 0, 0] = x[17, 0, 1] = 1
    words = pack(TensorDesc("x", "bits", (18, 1, 2), 0), x)
    assert words.tolist() == [0b1001, 0, 0, 0b10]


def test_int16_layout() -> None:
    x = np.array([[[1, -2]], [[32767, -32768]]])
    words = pack(TensorDesc("s", "int16", (2, 1, 2), 0), x)
    assert words.tolist() == [1, 0xFFFE, 0x7FFF, 0x8000]


@given(st.integers(1, 40), st.integers(1, 5), st.integers(1, 5), st.integers(0, 2**32 - 1))
def test_round_trip(c: int, h: int, w: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    desc = TensorDesc("x", "bits", (c, h, w), 0)
    x = np.where(rng.random((c, h, w)) < 0.5, -1, 1)
    words = pack(desc, x)
    assert words.size == desc.words and words.dtype == np.uint16
    back = unpack(desc, words)
    assert back.dtype == np.int8
    np.testing.assert_array_equal(back, x)
    ints = TensorDesc("s", "int16", (c, h, w), 0)
    s = rng.integers(-32768, 32768, (c, h, w))
    np.testing.assert_array_equal(unpack(ints, pack(ints, s)), s)
    floats = TensorDesc("f", "f32", (c, h, w), 0)
    f = rng.integers(0, 1 << 32, (c, h, w), dtype=np.uint32).view(np.float32)  # any bit pattern, NaNs too
    words = pack(floats, f)
    assert words.size == floats.words == 2 * c * h * w
    assert unpack(floats, words).tobytes() == f.tobytes()


def test_f32_layout() -> None:
    # IEEE-754 float32, two words per value, the low 16 bits first.
    words = pack(TensorDesc("f", "f32", (1, 1, 2), 0), np.array([[[1.0, -2.5]]]))
    assert words.tolist() == [0x0000, 0x3F80, 0x0000, 0xC020]


def test_word_bits_inverse() -> None:
    words = np.array([[0, 1], [0x8000, 0xFFFF]], np.uint16)
    bits = word_bits(words)
    assert bits.shape == (2, 2, 16) and bits[1, 0, 15] == 1 and bits[0, 1, 0] == 1 and bits[1, 1].all()
    np.testing.assert_array_equal(bits_word(bits), words)
