"""Signed pads: a kernel larger than the 7x7 window, decomposed by hand into sub-kernels whose windows
start inside the image (negative pads), accumulated in ACC, equals the whole convolution."""

from __future__ import annotations

import numpy as np
import pytest

from isa.asm import assemble
from isa.errors import ChewcError
from isa.machine import load_machine
from runtime.emulator import emulate
from tests.runtime.reference import conv, max_pool, random_pm1

MACHINE = load_machine()
C, H, W, OC, K, PAD = 16, 12, 12, 4, 9, 4
# A 9-tap axis splits into taps [0, 5) and [5, 9): a 5-tap window with pad 4 and a 4-tap one with pad -1.
SPLITS = ((0, 5), (5, 4))


def weight_words(w: np.ndarray) -> list[int]:
    """+-1 weights [oc][16][kh][kw] -> words [oc][1 group][kh][kw], channel i in bit i."""
    bits = (w > 0).astype(np.int64)
    return (bits * (1 << np.arange(C))[None, :, None, None]).sum(axis=1).ravel().tolist()


def decomposed_9x9(w: np.ndarray, stride: int, pad_mode: str) -> str:
    out = (H + 2 * PAD - K) // stride + 1
    lines = [
        f".input x bits[{C},{H},{W}] ghw @0x0",
        f".output y int16[{OC},{out},{out}] chw @0x1000",
        "CFG.DMA count=1 dram_stride=0 chip_stride=0",
        f"DMA.LD mem=fmem dram=0x0 chip=0x0 length={H * W}",
        f"DMA.LD mem=wmem dram=0x2000 chip=0x0 length={OC * K * K}",
        "SYNC",
        f"CFG.IN in_h={H} in_w={W} in_c={C}",
        f"CFG.BUF buf_row0=0 buf_rows={H}",
        f"CFG.OUT out_h={out} out_w={out} obuf_rows={out}",
        f"CFG.TILE row0=0 nrows={out} oc_count={OC}",
    ]
    words: list[int] = []
    for oy, kh in SPLITS:
        for ox, kw in SPLITS:
            # Sub-kernel tap (ky, kx) is tap (oy + ky, ox + kx) of the whole: its window starts oy rows later.
            lines.append(
                f"CFG.K kh={kh} kw={kw} stride={stride} dilation=1 pad_top={PAD - oy} pad_left={PAD - ox} "
                f"pad_mode={pad_mode}"
            )
            lines.append(f"CONV fmem=0x0 wmem={len(words):#x} acc=0x0 accumulate={int(bool(words))}")
            words += weight_words(w[:, :, oy : oy + kh, ox : ox + kw])
    lines += [
        f"DMA.ST mem=acc dram=0x1000 chip=0x0 length={OC * out * out}",
        "END",
        ".data w @0x2000",
        *(".word " + " ".join(map(str, words[i : i + 8])) for i in range(0, len(words), 8)),
    ]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(("stride", "pad_mode"), [(1, "gate"), (2, "pos"), (1, "neg")])
def test_9x9_conv_from_sub_kernels_with_negative_pads(stride: int, pad_mode: str) -> None:
    rng = np.random.default_rng(stride)
    x = random_pm1(rng, (C, H, W))
    w = random_pm1(rng, (OC, C, K, K)).astype(np.int64)
    text = decomposed_9x9(w, stride, pad_mode)
    assert "pad_top=-1" in text and "pad_left=-1" in text
    result = emulate(assemble(text, MACHINE, "9x9.s"), x, MACHINE)
    out = (H + 2 * PAD - K) // stride + 1
    want = conv(
        x, w, stride=stride, pad=(PAD, PAD), pad_value={"gate": 0, "pos": 1, "neg": -1}[pad_mode], out_hw=(out, out)
    )
    np.testing.assert_array_equal(result.outputs["y"], want)
    assert set(result.report.kernels) == {"5x5", "5x4", "4x5", "4x4"}


POOL_HEAD = """
.input x bits[16,9,9] ghw @0x0
.output y bits[16,4,4] ghw @0x100
CFG.DMA count=1 dram_stride=0 chip_stride=0
DMA.LD mem=fmem dram=0x0 chip=0x0 length=81
SYNC
CFG.IN in_h=9 in_w=9 in_c=16
CFG.OUT out_h=4 out_w=4 obuf_rows=4
CFG.TILE row0=0 nrows=4 oc_count=16
"""


def test_pool_with_negative_pads_skips_the_first_row_and_column() -> None:
    text = POOL_HEAD + (
        "CFG.BUF buf_row0=0 buf_rows=9\n"
        "CFG.K kh=2 kw=2 stride=2 dilation=1 pad_top=-1 pad_left=-1 pad_mode=neg\n"
        "POOL.B src=0x0 dst=0x200\n"
        "DMA.ST mem=fmem dram=0x100 chip=0x200 length=16\nEND\n"
    )
    x = random_pm1(np.random.default_rng(9), (16, 9, 9))
    got = emulate(assemble(text, MACHINE), x, MACHINE).outputs["y"]
    np.testing.assert_array_equal(got, max_pool(x[:, 1:, 1:], 2, 2))


def test_negative_pad_rows_must_be_in_the_buffer() -> None:
    # The window starts 2 rows inside the image: output row 0 reads image rows 2..3, not in rows 0..1.
    text = POOL_HEAD + (
        "CFG.BUF buf_row0=0 buf_rows=2\n"
        "CFG.K kh=2 kw=2 stride=2 dilation=1 pad_top=-2 pad_left=0 pad_mode=neg\n"
        "CFG.TILE row0=0 nrows=1 oc_count=16\n"
        "POOL.B src=0x0 dst=0x200\nEND\n"
    )
    with pytest.raises(
        ChewcError, match=r"instruction 9 \(POOL.B\): field 'src': reads image row 2, but the buffer holds rows 0..1"
    ):
        emulate(assemble(text, MACHINE), np.ones((16, 9, 9)), MACHINE)
