"""The chewc dialects, registered by name as xDSL does (lazy factories)."""

from __future__ import annotations

from collections.abc import Callable

from xdsl.context import Context
from xdsl.ir import Dialect


def _bnn() -> Dialect:
    from dialects.bnn import Bnn

    return Bnn


def _tile() -> Dialect:
    from dialects.tile import Tile

    return Tile


def _chewbacca() -> Dialect:
    from dialects.chewbacca import Chewbacca

    return Chewbacca


def get_all_dialects() -> dict[str, Callable[[], Dialect]]:
    """Our dialects by name."""
    return {"bnn": _bnn, "tile": _tile, "chewbacca": _chewbacca}


def make_context() -> Context:
    """A context with builtin, func, arith, scf and every chewc dialect loaded."""
    from xdsl.dialects.arith import Arith
    from xdsl.dialects.builtin import Builtin
    from xdsl.dialects.func import Func
    from xdsl.dialects.scf import Scf

    ctx = Context()
    ctx.load_dialect(Builtin)
    ctx.load_dialect(Func)
    ctx.load_dialect(Arith)
    ctx.load_dialect(Scf)
    for factory in get_all_dialects().values():
        ctx.load_dialect(factory())
    return ctx
