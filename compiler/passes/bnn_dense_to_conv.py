"""`bnn-dense-to-conv`: express every binary dense layer as a convolution, the array's only mode.

A dense layer y[m] = sum_k W[m, k] x[k] equals a convolution whose kernel covers the whole input map:
with x viewed as a [C, H, W] map in row-major order (k = c*H*W + h*W + w), y = conv(x, W.reshape(M, C,
H, W)) on a 1x1 output.  Which view is used decides how much of the 7x7x16 window one cycle fills:
- a dense fed by a flatten of a [C, H, W] map keeps that map (the flatten disappears; a kernel above
  the window is split afterwards by bnn-decompose-kernels);
- a dense fed by the host (e.g. after the first Sign) gets the view that fills the window best, since
  the host writes any layout for free (784 inputs -> 16 x 7 x 7: the whole window);
- otherwise a 1x1 map of K channels (the layout the previous layer already wrote).
Exact by construction: only the weights are reshaped.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)

from dialects import bnn
from dialects.chewbacca import machine_of


def best_view(k: int, window: int, lanes: int) -> tuple[int, int, int]:
    """The [C, H, W] view of k inputs (H, W <= window) that needs the fewest array cycles.

    One output takes ceil(C / lanes) cycles (one channel group per cycle) whatever H, W <= window are.
    >>> best_view(784, 7, 16)
    (16, 7, 7)
    """
    best = (k, 1, 1)
    for h in range(1, window + 1):
        for w in range(1, window + 1):
            if k % (h * w) == 0:
                c = k // (h * w)
                if (-(-c // lanes), -h * w) < (-(-best[0] // lanes), -best[1] * best[2]):
                    best = (c, h, w)
    return best


class DenseOfFlatten(RewritePattern):
    """dense(reshape(x: [1, C, H, W] -> [1, K])) -> reshape(conv(x, W as [M, C, H, W]))"""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: bnn.DenseOp, rewriter: PatternRewriter, /):
        src = op.input.owner
        if not isinstance(src, bnn.ReshapeOp):
            return
        shape = bnn.shape_of(src.input.type)
        if len(shape) != 4 or shape[0] != 1 or shape[2:] == (1, 1):
            return  # a [C, 1, 1] map is a vector: DenseAsConv finds it a better view
        w = op.weights.to_array().reshape(-1, *shape[1:])
        conv = bnn.Conv2dOp(src.input, w)
        out = bnn.ReshapeOp(conv.output, bnn.shape_of(op.output.type))
        bnn.carry_onnx_name(op, conv.output)  # the same values, with trailing 1s
        rewriter.replace(op, [conv, out], [out.output])


@dataclass
class DenseAsConv(RewritePattern):
    """dense(x: [1, K]) -> reshape(conv(view(x), W viewed alike))

    The view of x: any row-major reshape when the host writes x; else `bnn.regroup` of its 16-channel
    words into a map (the words the previous layer wrote, read as a map); else a 1x1 map of K channels.
    """

    window: int
    lanes: int

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: bnn.DenseOp, rewriter: PatternRewriter, /):
        src = op.input.owner
        if isinstance(src, bnn.ReshapeOp) and len(s := bnn.shape_of(src.input.type)) == 4 and s[2:] != (1, 1):
            return  # DenseOfFlatten's case
        n, k = bnn.shape_of(op.input.type)
        weights = op.weights.to_array()
        if isinstance(op.input.owner, bnn.SignOp):
            c, h, w = best_view(k, self.window, self.lanes)
            views: list[Operation] = [bnn.ReshapeOp(op.input, (n, c, h, w))]
            weights = weights.reshape(-1, c, h, w)
        elif k % self.lanes == 0:
            g, h, w = best_view(k // self.lanes, self.window, 1)
            flat = bnn.ReshapeOp(op.input, (n, k, 1, 1))
            views = [flat, bnn.RegroupOp(flat.output, (n, g * self.lanes, h, w))]
            weights = bnn.regroup(weights.reshape(-1, k, 1, 1), (n, g * self.lanes, h, w))
        else:
            views = [bnn.ReshapeOp(op.input, (n, k, 1, 1))]
            weights = weights.reshape(-1, k, 1, 1)
        conv = bnn.Conv2dOp(views[-1].results[0], weights)
        out = bnn.ReshapeOp(conv.output, bnn.shape_of(op.output.type))
        bnn.carry_onnx_name(op, conv.output)
        rewriter.replace(op, [*views, conv, out], [out.output])


def squeeze_trailing(shape: tuple[int, ...]) -> tuple[int, ...]:
    while len(shape) > 2 and shape[-1] == 1:
        shape = shape[:-1]
    return shape


class ThresholdBeforeReshape(RewritePattern):
    """threshold(reshape(acc)) -> reshape(threshold(acc)) when the reshape only drops trailing 1s.

    The threshold then reads the convolution's sums directly, so the two fuse into one layer.
    """

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: bnn.ThresholdOp, rewriter: PatternRewriter, /):
        src = op.input.owner
        if not isinstance(src, bnn.ReshapeOp):
            return
        inner, outer = bnn.shape_of(src.input.type), bnn.shape_of(src.output.type)
        if squeeze_trailing(inner) != squeeze_trailing(outer):
            return
        th = bnn.ThresholdOp(src.input, bnn.ints(op.thresholds), op.modes.data)
        out = bnn.ReshapeOp(th.output, outer)
        bnn.carry_onnx_name(op, th.output)
        rewriter.replace(op, [th, out], [out.output])


class FoldReshapes(RewritePattern):
    """reshape(reshape(x)) -> reshape(x); a reshape to the same type -> x."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: bnn.ReshapeOp, rewriter: PatternRewriter, /):
        if op.input.type == op.output.type:
            rewriter.replace(op, [], [op.input])
        elif isinstance(op.input.owner, bnn.ReshapeOp):
            new = bnn.ReshapeOp(op.input.owner.input, bnn.shape_of(op.output.type))
            bnn.carry_onnx_name(op, new.output)
            rewriter.replace(op, [new], [new.output])


@dataclass(frozen=True)
class BnnDenseToConvPass(ModulePass):
    """Rewrite every `bnn.dense` as a `bnn.conv2d` whose kernel covers its input map."""

    name = "bnn-dense-to-conv"
    window: int | None = None  # default: the module machine's window (the smaller side)
    lanes: int | None = None  # default: the module machine's lanes

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        array = machine_of(op).array
        window = self.window if self.window is not None else min(array.window_h, array.window_w)
        lanes = self.lanes if self.lanes is not None else array.lanes
        PatternRewriteWalker(
            GreedyRewritePatternApplier(
                [DenseOfFlatten(), DenseAsConv(window, lanes), ThresholdBeforeReshape(), FoldReshapes()]
            )
        ).rewrite_module(op)
