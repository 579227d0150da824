"""`bnn-legalize-padding`: zero padding on a datapath that only has +1 and -1.

ONNX `Conv` pads with 0, which a ±1 datapath cannot feed.  Our machine model switches off the lanes
outside the image (the `gate` pad mode, an assumption [A]); for an array without that gating this pass
keeps the border semantics exactly with ±1 pads only:

    conv_zero(x) = (conv_{+1}(x) + conv_{-1}(x)) / 2

at every output position, borders included (each padded tap contributes +w and -w).  The halving is
folded into the threshold that follows (acc >= T  <=>  2*acc >= 2*T), so no division is needed; the
cost is a second pass of the array over the layer.  Sums that are not thresholded (e.g. final scores)
cannot be halved on the array and are left for the gate mode: the pass reports them with `strict`.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import PatternRewriter, PatternRewriteWalker, RewritePattern, op_type_rewrite_pattern
from xdsl.utils.exceptions import PassFailedException

from dialects import bnn


def zero_padded(conv: bnn.Conv2dOp) -> bool:
    return conv.pad_value.data == "zero" and any(p > 0 for p in bnn.ints(conv.pads))


def with_pad(conv: bnn.Conv2dOp, value: str) -> bnn.Conv2dOp:
    return bnn.Conv2dOp(conv.input, conv.weights.to_array(), bnn.ints(conv.strides), bnn.ints(conv.dilations),
                        bnn.ints(conv.pads), value)


class ThresholdOfZeroPaddedConvs(RewritePattern):
    """threshold_T(sum of zero-padded convs) -> threshold_2T(sum of their +1- and -1-padded copies)"""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: bnn.ThresholdOp, rewriter: PatternRewriter, /):
        convs = bnn.summed_convs(op.input) if op.input.has_one_use() else None
        if convs is None or not any(zero_padded(c) for c in convs):
            return
        new_ops, total = bnn.sum_of([with_pad(conv, value) for conv in convs for value in ("+1", "-1")])
        doubled = [2 * t if m in "gl" else t for t, m in zip(bnn.ints(op.thresholds), op.modes.data, strict=True)]
        th = bnn.ThresholdOp(total, doubled, op.modes.data)
        th.attributes.update(op.attributes)
        old = op.input.owner
        rewriter.replace(op, [*new_ops, th], [th.output])
        erase_tree(old, rewriter)


def erase_tree(op: object, rewriter: PatternRewriter) -> None:
    """Erase the now unused add tree and convolutions the old threshold read, root first."""
    if isinstance(op, bnn.AddOp | bnn.Conv2dOp) and not op.output.uses:
        operands = [o.owner for o in op.operands]
        rewriter.erase(op)
        for child in operands:
            erase_tree(child, rewriter)


@dataclass(frozen=True)
class BnnLegalizePaddingPass(ModulePass):
    """Express zero padding with ±1 pads only: thresholded zero-padded convs become the sum of their +1-
    and -1-padded copies against doubled thresholds (exact)."""

    name = "bnn-legalize-padding"
    strict: bool = False  # also fail on zero-padded convs whose sums are not thresholded

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        # no dead-code elimination: the walker alone, so only the rewritten ops change
        PatternRewriteWalker(ThresholdOfZeroPaddedConvs()).rewrite_module(op)
        left = [c for c in op.walk() if isinstance(c, bnn.Conv2dOp) and zero_padded(c) and c.output.uses]
        if self.strict and left:
            raise PassFailedException(
                f"bnn-legalize-padding: {len(left)} zero-padded convolution(s) feed integer results that cannot "
                "be halved on a ±1 datapath (they need the gate pad mode)"
            )
