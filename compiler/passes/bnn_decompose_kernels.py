"""`bnn-decompose-kernels`: split convolutions whose kernel is larger than the array's window."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import product

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import PatternRewriter, PatternRewriteWalker, RewritePattern, op_type_rewrite_pattern
from xdsl.utils.exceptions import PassFailedException

from dialects import bnn
from dialects.chewbacca import machine_of

Block = tuple[int, int]  # (first kernel tap, number of taps) along one axis


def split_taps(size: int, max_size: int) -> list[Block]:
    """The fewest blocks of at most `max_size` taps covering `size` taps, as even as possible.

    Longer blocks come first and lengths differ by at most one:
        split_taps(9, 7)  == [(0, 5), (5, 4)]
        split_taps(11, 7) == [(0, 6), (6, 5)]
        split_taps(8, 3)  == [(0, 3), (3, 3), (6, 2)]
        split_taps(5, 7)  == [(0, 5)]
    """
    count = -(-size // max_size)
    base, longer = divmod(size, count)
    blocks: list[Block] = []
    start = 0
    for b in range(count):
        length = base + (b < longer)
        blocks.append((start, length))
        start += length
    return blocks


def block_pads(
    pads: Sequence[int], kernel: Sequence[int], dilations: Sequence[int], rows: Block, cols: Block
) -> tuple[int, int, int, int]:
    """Pads [top, left, bottom, right] under which a kernel block reads the taps it had in the full kernel.

    Rows [i0, i0 + bh) of a K-row kernel start i0 * d input rows into every window and stop
    (K - i0 - bh) * d rows before its end, so the block's window range moves in by that much at the
    top and bottom; the output size is unchanged.  A negative result crops the input.
    Example: K = 9, d = 1, top = bottom = 4, rows (5, 4): top 4 - 5 = -1 (crop one row), bottom 4 - 0 = 4.
    """
    (i0, bh), (j0, bw) = rows, cols
    kh, kw = kernel
    dh, dw = dilations
    top, left, bottom, right = pads
    return (top - i0 * dh, left - j0 * dw, bottom - (kh - i0 - bh) * dh, right - (kw - j0 - bw) * dw)


@dataclass
class DecomposeLargeConv2d(RewritePattern):
    """bnn.conv2d with a kernel over `max_kernel` -> one sub-conv per kernel block, summed by bnn.add."""

    max_kernel: int

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: bnn.Conv2dOp, rewriter: PatternRewriter, /) -> None:
        weights = op.weights.to_array()
        kernel = weights.shape[2:]
        if max(kernel) <= self.max_kernel:
            return
        strides, dilations, pads = bnn.ints(op.strides), bnn.ints(op.dilations), bnn.ints(op.pads)
        parts = [
            bnn.Conv2dOp(
                op.input,
                weights[:, :, i0 : i0 + bh, j0 : j0 + bw],
                strides,
                dilations,
                block_pads(pads, kernel, dilations, (i0, bh), (j0, bw)),
                op.pad_value.data,
            )
            for (i0, bh), (j0, bw) in product(split_taps(kernel[0], self.max_kernel), split_taps(kernel[1], self.max_kernel))
        ]
        new_ops, total = bnn.sum_of(parts)
        bnn.carry_onnx_name(op, total)
        rewriter.replace(op, new_ops, [total])


@dataclass(frozen=True)
class BnnDecomposeKernelsPass(ModulePass):
    """Rewrite every `bnn.conv2d` whose kernel is taller or wider than `max_kernel` into convolutions
    with kernels of at most `max_kernel` x `max_kernel`, whose integer sums are added with `bnn.add`.

    Preserved: the integer sums, bit for bit, borders included, for any channels, stride, dilation,
    pads and pad value, so the thresholding that consumes them is untouched.  How: a conv sum is a sum
    over kernel taps, so it splits exactly over a partition of the taps into rectangular blocks.  Each
    block keeps the stride, dilation and pad value and gets the weight slice and pads shifted by
    `block_pads`, so its output pixel (y, x) reads the same extended-input positions as those taps did
    in the full conv, and every block has the original output size.  Shifted pads may be negative
    (the block's windows start inside the image), which `bnn.conv2d` defines as a crop.

    Block rule: ceil(K / max_kernel) blocks per axis (the fewest: the array spends one window step per
    sub-conv and output pixel whatever the block size), split evenly (9 -> 5+4, 11 -> 6+5 rather than
    7+2, 7+4).  At the same cost, even blocks minimise the largest dilated block extent, i.e. the input
    rows a sub-conv needs resident, and often give a single block shape (8 -> 4+4, 12 -> 6+6) where
    greedy leaves thin 7x1 or 7x5 remainders.

    `max_kernel` defaults to the window of the module's machine (its smaller side).
    """

    name = "bnn-decompose-kernels"

    max_kernel: int | None = None

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        array = machine_of(op).array
        k = self.max_kernel if self.max_kernel is not None else min(array.window_h, array.window_w)
        if k < 1:
            raise PassFailedException(f"{self.name}: max-kernel must be >= 1, got {k}")
        PatternRewriteWalker(DecomposeLargeConv2d(k)).rewrite_module(op)
