"""`bnn-legalize-windows`: give every conv and max-pool a window the array can step.

The array steps rows and columns with one stride and one dilation, and pools windows of at most its
own size. ONNX allows each axis its own. This pass rewrites, exactly:

- an unequal stride (sh, sw): the op at stride g = gcd(sh, sw), then `bnn.subsample` by (sh/g, sw/g);
  a threshold of the subsampled sums moves before the subsample (it is per element);
- a conv with unequal dilation (dh, dw): one sub-conv per kernel row (or column), each a single row
  that only needs the other axis' dilation, summed with `bnn.add` (as `bnn-decompose-kernels` sums
  kernel blocks);
- a max-pool with unequal dilation or a window larger than the array: max is separable, so a pool of
  its columns, then of its rows, each axis a chain of 1-D pools of at most the window's taps.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import gcd

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)

from compiler.passes.bnn_decompose_kernels import block_pads
from dialects import bnn
from dialects.chewbacca import machine_of
from isa.table import register_field

Taps = tuple[int, int]  # (taps, dilation) of one 1-D pool


def pool_chain(taps: int, dilation: int, limit: int) -> list[Taps]:
    """1-D pools of at most `limit` taps, all at stride 1, whose composition is the max over `taps` taps
    `dilation` apart.

    A first pool of k1 = limit taps (dilation d) is followed by k2 taps `step` * d apart, with step <= k1
    so that the windows overlap or touch, and (k2 - 1) * step = taps - k1 so that they end at the last tap
    (the largest such step, so the fewest taps k2; k2 is split again if it is over the limit):
        pool_chain(13, 1, 7) == [(7, 1), (2, 6)]      taps 0..6 and 6..12
        pool_chain(15, 1, 7) == [(7, 1), (3, 4)]      taps 0..6, 4..10, 8..14
        pool_chain(5, 2, 7)  == [(5, 2)]
    """
    if taps <= limit:
        return [(taps, dilation)]
    rest = taps - limit
    # the fewest k2 whose step divides what the first pool leaves (step 1 always does)
    step = max(st for st in range(1, limit + 1) if rest % st == 0)
    return [(limit, dilation), *pool_chain(rest // step + 1, dilation * step, limit)]


@dataclass
class SubsampleUnequalStrides(RewritePattern):
    """conv2d / maxpool with strides (sh, sw), sh != sw or over the ISA's largest stride -> the op at the
    largest common divisor g the ISA encodes, then bnn.subsample by (sh/g, sw/g).

    Output (y, x) at stride s reads the window at (y * s, x * s): row y * sh = (y * sh/g) * g is row
    y * sh/g of the stride-g output, and the floor formula nests, so the subsample has the original size.
    """

    max_stride: int

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: bnn.Conv2dOp | bnn.MaxPoolOp, rewriter: PatternRewriter, /) -> None:
        sh, sw = bnn.ints(op.strides)
        if sh == sw <= self.max_stride:
            return
        common_divisor = gcd(sh, sw)
        g = max(k for k in range(1, self.max_stride + 1) if common_divisor % k == 0)
        if isinstance(op, bnn.Conv2dOp):
            common: Operation = bnn.Conv2dOp(op.input, op.weights.to_array(), (g, g), bnn.ints(op.dilations),
                                             bnn.ints(op.pads), op.pad_value.data)
        else:
            common = bnn.MaxPoolOp(op.input, bnn.ints(op.kernel), (g, g), bnn.ints(op.pads), op.dilation_values())
        sub = bnn.SubsampleOp(common.results[0], (sh // g, sw // g))
        bnn.carry_onnx_name(op, sub.output)
        rewriter.replace(op, [common, sub], [sub.output])


class ThresholdBeforeSubsample(RewritePattern):
    """threshold(subsample(x)) -> subsample(threshold(x)): the threshold fuses with the conv that made x."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: bnn.ThresholdOp, rewriter: PatternRewriter, /) -> None:
        sub = op.input.owner
        if not isinstance(sub, bnn.SubsampleOp) or not op.input.has_one_use():
            return
        th = bnn.ThresholdOp(sub.input, bnn.ints(op.thresholds), op.modes.data)
        new = bnn.SubsampleOp(th.output, bnn.ints(sub.strides))
        bnn.carry_onnx_name(op, new.output)
        rewriter.replace(op, [th, new], [new.output])
        rewriter.erase_op(sub)


class SplitUnequalConvDilation(RewritePattern):
    """conv2d with dilations (dh, dw), dh != dw -> one conv per kernel row (column if fewer), summed."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: bnn.Conv2dOp, rewriter: PatternRewriter, /) -> None:
        dh, dw = bnn.ints(op.dilations)
        if dh == dw:
            return
        w = op.weights.to_array()
        kh, kw = w.shape[2:]
        strides, pads = bnn.ints(op.strides), bnn.ints(op.pads)
        if kh == 1 or kw == 1:  # one axis has one tap: its dilation does not matter
            d = dw if kh == 1 else dh
            new = bnn.Conv2dOp(op.input, w, strides, (d, d), pads, op.pad_value.data)
            bnn.carry_onnx_name(op, new.output)
            rewriter.replace(op, [new], [new.output])
            return
        by_rows = kh <= kw
        parts = [
            bnn.Conv2dOp(
                op.input,
                w[:, :, i : i + 1, :] if by_rows else w[:, :, :, i : i + 1],
                strides,
                (dw, dw) if by_rows else (dh, dh),
                block_pads(pads, (kh, kw), (dh, dw), (i, 1), (0, kw)) if by_rows
                else block_pads(pads, (kh, kw), (dh, dw), (0, kh), (i, 1)),
                op.pad_value.data,
            )
            for i in range(kh if by_rows else kw)
        ]
        new_ops, total = bnn.sum_of(parts)
        bnn.carry_onnx_name(op, total)
        rewriter.replace(op, new_ops, [total])


@dataclass
class SeparatePools(RewritePattern):
    """maxpool with unequal dilations or a window over the array's -> column pools, then row pools.

    Column pools run at stride 1 and the last row pool at the original stride s (which subsamples
    rows and columns alike). Pads go to the first pool of each axis as far as its windows still meet
    the input, the rest to the next pool (a window of padding only is -inf there, and so it is here).
    """

    window: tuple[int, int]

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: bnn.MaxPoolOp, rewriter: PatternRewriter, /) -> None:
        (kh, kw), (s, s2), d, (pt, pl, pb, pr) = bnn.ints(op.kernel), bnn.ints(op.strides), op.dilation_values(), bnn.ints(op.pads)
        if s != s2 or (d[0] == d[1] and kh <= self.window[0] and kw <= self.window[1]):
            return
        value: SSAValue = op.input
        new_ops: list[Operation] = []
        steps = [(1, t, dl) for t, dl in pool_chain(kw, d[1], self.window[1])]
        steps += [(0, t, dl) for t, dl in pool_chain(kh, d[0], self.window[0])]
        left = {0: [pt, pb], 1: [pl, pr]}  # pads still to place, per axis
        for i, (axis, taps, dil) in enumerate(steps):
            extent = dil * (taps - 1) + 1
            lo, hi = (min(p, extent - 1) for p in left[axis])
            left[axis] = [left[axis][0] - lo, left[axis][1] - hi]
            kernel = (taps, 1) if axis == 0 else (1, taps)
            pads = (lo, 0, hi, 0) if axis == 0 else (0, lo, 0, hi)
            stride = (s, s) if i == len(steps) - 1 else (1, 1)
            pool = bnn.MaxPoolOp(value, kernel, stride, pads, (dil, dil))
            new_ops.append(pool)
            value = pool.output
        bnn.carry_onnx_name(op, value)
        rewriter.replace(op, new_ops, [value])


@dataclass(frozen=True)
class BnnLegalizeWindowsPass(ModulePass):
    """Rewrite convs and max-pools whose strides, dilations or pool windows the array cannot step
    (unequal per axis, pools over the array's window) into ones it can, computing the same values.

    Preserved: every integer sum and every ±1 value, bit for bit. Run before bnn-decompose-kernels,
    which then splits conv kernels over the window. `window` defaults to the module machine's window.
    """

    name = "bnn-legalize-windows"
    window: int | None = None

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        array = machine_of(op).array
        window = (self.window, self.window) if self.window is not None else (array.window_h, array.window_w)
        PatternRewriteWalker(
            GreedyRewritePatternApplier(
                [SubsampleUnequalStrides(register_field("stride").hi), SplitUnequalConvDilation(), SeparatePools(window), ThresholdBeforeSubsample()]
            )
        ).rewrite_module(op)
