"""Buffer placement of a `tile` function: every buffer at an offset of its memory, reusing dead buffers' space.

Liveness is measured on the top-level op sequence of each function: a buffer is live from its
`tile.alloc`/`tile.const` to its last use (a use inside a loop keeps it live for the whole loop).  Each
memory is packed first-fit in order of definition; constants are live for the whole program (they are
loaded into DRAM with the program).  Failing to fit names the buffer, its layer and the sizes.
Used by the `tile-buffer-alloc` pass and by the tile interpreter (which places unplaced IR itself).
"""

from __future__ import annotations

from xdsl.dialects import func
from xdsl.dialects.builtin import IntegerAttr
from xdsl.ir import Operation

from dialects import tile
from isa.errors import ChewcError
from isa.machine import Machine

Buffer = tile.AllocOp | tile.ConstOp


def top_level(op: Operation, block_ops: dict[Operation, int]) -> int:
    while op not in block_ops:
        parent = op.parent_op()
        assert parent is not None
        op = parent
    return block_ops[op]


def live_ranges(fn: func.FuncOp) -> list[tuple[Buffer, int, int]]:
    ops = list(fn.body.block.ops)
    index = {op: i for i, op in enumerate(ops)}
    ranges = []
    for op in ops:
        if isinstance(op, Buffer):
            uses = [top_level(u.operation, index) for u in op.buffer.uses]
            end = len(ops) if isinstance(op, tile.ConstOp) else max(uses, default=index[op])
            ranges.append((op, index[op], end))
    return ranges


def first_fit(intervals: list[tuple[int, int, int]], start: int, words: int) -> int:
    """Lowest offset where `words` fit beside the (offset, size, end) blocks still live at `start`."""
    live = sorted((o, o + s) for o, s, e in intervals if e >= start)
    offset = 0
    for lo, hi in live:
        if offset + words <= lo:
            break
        offset = max(offset, hi)
    return offset


def last_fit(intervals: list[tuple[int, int, int]], start: int, words: int, capacity: int) -> int:
    """Highest offset below `capacity` where `words` fit beside the blocks live at `start` (-1: none)."""
    live = sorted(((o, o + s) for o, s, e in intervals if e >= start), reverse=True)
    top = capacity
    for lo, hi in live:
        if hi + words <= top:
            break
        top = min(top, lo)
    return top - words


def allocate(fn: func.FuncOp, m: Machine) -> None:
    """Set the `offset` of every buffer of `fn`: first fit by liveness, constants first, the ±1 maps kept
    on chip between layers (`*.map`) alternately at the top and the bottom of FMEM, and int16 maps kept in
    ACC (`*.stream`) at its top."""
    placed: dict[str, list[tuple[int, int, int]]] = {}
    top = False  # maps kept on chip between layers alternate between the two ends of FMEM
    ranges = sorted(live_ranges(fn), key=lambda r: (not isinstance(r[0], tile.ConstOp), r[1]))
    for buf, start, end in ranges:
        space = tile.space_of(buf.buffer)
        words = tile.words_of(buf.buffer)
        pool = placed.setdefault(space, [])
        capacity = m.memory.words(space)
        low, high = first_fit(pool, start, words), last_fit(pool, start, words, capacity)
        if buf.label.data.endswith(".map"):
            top = not top  # ping-pong: the next layer's map goes to the other end, leaving no hole between
        # an int16 map kept in ACC across layers (one at a time) at the top, the layers' tiles below it
        high_first = buf.label.data.endswith(".stream") or top and buf.label.data.endswith(".map")
        fits = [o for o in ((high, low) if high_first else (low, high)) if 0 <= o <= capacity - words]
        if not fits:
            live = sum(s for o, s, e in pool if e >= start)
            raise ChewcError(
                f"buffer '{buf.label.data}' ({words * 2 / 1024:.1f} KiB) does not fit {space}: "
                f"{live * 2 / 1024:.1f} KiB already live, the machine has {capacity * 2 / 1024:.1f} KiB"
            )
        pool.append((fits[0], words, end))
        buf.offset = IntegerAttr(fits[0], 64)
