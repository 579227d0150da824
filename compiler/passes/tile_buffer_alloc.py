"""`tile-buffer-alloc`: place every buffer at an offset of its memory (`dialects.tile_alloc`)."""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass

from compiler.passes.common import functions, module_machine
from dialects.tile_alloc import allocate


@dataclass(frozen=True)
class TileBufferAllocPass(ModulePass):
    """Give every `tile.alloc` and `tile.const` an `offset` in its memory."""

    name = "tile-buffer-alloc"
    machine: str | None = None  # a machine description replacing the module's

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        m = module_machine(op, self.machine)
        for fn in functions(op):
            allocate(fn, m)
