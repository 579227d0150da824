"""Deliberately wrong passes, for testing the pass debugger only (never in the production registry).

Loaded with `--load-pass-plugin tests/compiler/wrong_passes.py` by chewc/chewc-opt in the tests.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import IntegerAttr, ModuleOp, StringAttr
from xdsl.passes import ModulePass
from xdsl.utils.exceptions import PassFailedException

from dialects import bnn, tile


@dataclass(frozen=True)
class FlipThresholdPass(ModulePass):
    """Wrong on purpose: flip the mode of channel `channel` of the first bnn.threshold ('g' <-> 'l')."""

    name = "test-flip-threshold"
    channel: int = 0

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        t = next(o for o in op.walk() if isinstance(o, bnn.ThresholdOp))
        modes = list(t.modes.data)
        modes[self.channel] = {"g": "l", "l": "g"}.get(modes[self.channel], modes[self.channel])
        t.modes = StringAttr("".join(modes))


@dataclass(frozen=True)
class DmaOffByOnePass(ModulePass):
    """Wrong on purpose: the first tile.dma copies one word too few per row."""

    name = "test-dma-off-by-one"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        dma = next(o for o in op.walk() if isinstance(o, tile.DmaOp))
        dma.length = IntegerAttr(dma.length.value.data - 1, 64)


@dataclass(frozen=True)
class CrashPass(ModulePass):
    """Crashes on purpose (a bug in a pass)."""

    name = "test-crash"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        raise RuntimeError("deliberate crash")


@dataclass(frozen=True)
class FailPass(ModulePass):
    """Rejects its input on purpose, as a pass reports an error."""

    name = "test-fail"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        raise PassFailedException("this input is not supported (deliberately)")


@dataclass(frozen=True)
class BreakVerifierPass(ModulePass):
    """Leaves IR that does not verify on purpose: drops one mode of the first bnn.threshold."""

    name = "test-break-verifier"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        t = next(o for o in op.walk() if isinstance(o, bnn.ThresholdOp))
        t.modes = StringAttr(t.modes.data[1:])
