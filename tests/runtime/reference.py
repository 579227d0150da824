"""Plain numpy references for the hand-written programs, written apart from the emulator's code."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from isa.asm import assemble
from isa.container import ChewProgram
from isa.machine import Machine

ASM = Path(__file__).resolve().parent.parent / "asm"


def program(name: str, machine: Machine) -> ChewProgram:
    path = ASM / name
    return assemble(path.read_text(), machine, str(path))


def data(prog: ChewProgram, name: str) -> np.ndarray:
    return next(d for d in prog.data if d.name == name).words.astype(np.int64)


def pm1_weights(words: np.ndarray, out_c: int, in_c: int, kh: int, kw: int) -> np.ndarray:
    """[O][G][kh][kw] words -> +-1 weights [O][in_c][kh][kw] (bit i of group g is channel 16g + i)."""
    groups = -(-in_c // 16)
    w = words.reshape(out_c, groups, kh, kw)
    bits = (w[..., None] >> np.arange(16)) & 1  # [O][G][kh][kw][16]
    chans = bits.transpose(0, 1, 4, 2, 3).reshape(out_c, groups * 16, kh, kw)[:, :in_c]
    return chans * 2 - 1


def conv(
    x: np.ndarray,
    w: np.ndarray,
    *,
    stride: int = 1,
    dilation: int = 1,
    pad: tuple[int, int] = (0, 0),
    pad_value: int = 0,
    out_hw: tuple[int, int],
) -> np.ndarray:
    """Cross-correlation of +-1 maps; positions outside the image take `pad_value` (0 = gated)."""
    c, h, wd = x.shape
    out = np.zeros((w.shape[0], *out_hw), np.int64)
    for ky in range(w.shape[2]):
        for kx in range(w.shape[3]):
            ys = np.arange(out_hw[0]) * stride - pad[0] + ky * dilation
            xs = np.arange(out_hw[1]) * stride - pad[1] + kx * dilation
            patch = np.full((c, *out_hw), pad_value, np.int64)
            inside = ((ys >= 0) & (ys < h))[:, None] & ((xs >= 0) & (xs < wd))[None, :]
            yy, xx = np.meshgrid(np.clip(ys, 0, h - 1), np.clip(xs, 0, wd - 1), indexing="ij")
            patch[:, inside] = x[:, yy[inside], xx[inside]]
            out += np.einsum("oc,cyx->oyx", w[:, :, ky, kx], patch)
    return out


def max_pool(x: np.ndarray, k: int, s: int) -> np.ndarray:
    c, h, w = x.shape
    oh, ow = (h - k) // s + 1, (w - k) // s + 1
    out = np.full((c, oh, ow), np.iinfo(np.int64).min, np.int64)
    for dy in range(k):
        for dx in range(k):
            out = np.maximum(out, x[:, dy : dy + s * oh : s, dx : dx + s * ow : s])
    return out


def random_pm1(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return np.where(rng.random(shape) < 0.5, -1, 1).astype(np.int8)
