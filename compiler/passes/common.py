"""Helpers the lowering passes share: which functions a module has, swapping a function's body, and the
index arithmetic of the tile level."""

from __future__ import annotations

from collections.abc import Callable

from xdsl.dialects import arith, func
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block

from dialects.chewbacca import machine_of, set_machine
from isa.machine import Machine, load_machine


def module_machine(module: ModuleOp, override: str | None) -> Machine:
    """The machine a pass compiles for: the module's (attached at import), or, when the pass's `machine`
    option is given, that description, which then replaces the module's so that later passes agree."""
    if override:
        machine = load_machine(override)
        set_machine(module, machine)
        return machine
    return machine_of(module)


def functions(module: ModuleOp) -> list[func.FuncOp]:
    return [f for f in module.ops if isinstance(f, func.FuncOp)]


def replace_body(fn: func.FuncOp, new: Block) -> None:
    """Make `new` (ending in func.return) the body of `fn`, with the signature it implies; drop the old one."""
    old = fn.body.block
    fn.body.detach_block(old)
    fn.body.add_block(new)
    ret = new.last_op
    assert isinstance(ret, func.ReturnOp)
    fn.function_type = func.FunctionType.from_lists([a.type for a in new.args], [r.type for r in ret.arguments])
    for op in old.ops:
        op.drop_all_references()
    old.erase(safe_erase=False)


def trunc_div(a: int, b: int) -> int:
    """Integer division rounding toward zero, as arith.divsi (exact for any size, unlike a / b)."""
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


# the index arithmetic the tile level uses, on values: tile-loops folds with it, the conversion evaluates it
INDEX_ARITH: dict[type, Callable[[int, int], int]] = {
    arith.AddiOp: lambda a, b: a + b,
    arith.SubiOp: lambda a, b: a - b,
    arith.MuliOp: lambda a, b: a * b,
    arith.DivSIOp: trunc_div,
    arith.RemSIOp: lambda a, b: a - b * trunc_div(a, b),
    arith.MinSIOp: min,
    arith.MaxSIOp: max,
}
