"""Fusion of a replay plan: the CONVs of a layer as few matrix products, with the same results.

A checked run leaves a plan of one kernel per instruction (`runtime.emulator._Plan`), each a `Step` with
the words it reads and writes. A CONV whose weights are the program's constants (words a DMA brought
from its data blocks, so equal in every run) is also a `Product`: its windows times fixed weights.
This pass rewrites such CONVs before the plan is kept:

- a *chain* (a CONV, then CONVs accumulating into the same ACC words, with no other step reading or
  writing those words in between) is one product over its members' windows side by side. Its sums have
  at most 32767 terms of -1, 0 or +1, so no partial sum can overflow int16: skipping them is exact;
- a *group* (consecutive chains over equal windows of FMEM words no step writes in between, as a
  layer's blocks of output channels are) is one product over their weights side by side, computed at
  its first CONV.

Each chain writes its sums where its last CONV wrote them; its other CONVs do nothing. Every other
step keeps its kernel, so DMA, thresholds and the data checks run as before, but for DMAs into a
memory no step reads any more (`prune`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from runtime.products import Selector, Weights, Windows, product

INT16_MAX = (1 << 15) - 1
# sums a group keeps per image between its product and its chains' writes (4 times ACC's 16384 words)
GROUP_VALUES = 1 << 16
# groups of a plan whose weights get a session of their own (`runtime.products.Weights`): each holds its
# weights prepacked, so a program of thousands of layers keeps a bounded number
SESSIONS = 256


class Memories(Protocol):
    """What a kernel runs on (`runtime.emulator._State`): memories by name, each [word] or [image][word],
    and the products of groups not yet written."""

    mem: dict[str, np.ndarray]
    stash: dict[int, np.ndarray]


Kernel = Callable[[Memories], None]


@dataclass(frozen=True)
class Span:
    """Words lo..hi-1 of a memory: an interval around the words a step touches."""

    mem: str
    lo: int
    hi: int

    @staticmethod
    def of(mem: str, words: Selector | np.ndarray) -> tuple[Span, ...]:
        """The span of words given as a selector or addresses (none if there are no words)."""
        if isinstance(words, slice):
            return (Span(mem, words.start, words.stop),) if words.stop > words.start else ()
        return (Span(mem, int(words.min()), int(words.max()) + 1),) if words.size else ()

    def meets(self, other: Span) -> bool:
        return self.mem == other.mem and self.lo < other.hi and other.lo < self.hi


@dataclass(frozen=True, eq=False)
class Product:
    """A CONV on constant weights, without shift: its windows times `weights`, written to ACC words `acc`
    (`accumulate`: added to what they hold)."""

    windows: Windows
    source: tuple[Span, ...]  # the FMEM words the windows read
    weights: Weights
    acc: Selector
    acc_span: Span
    accumulate: bool

    @property
    def outputs(self) -> int:
        return int(self.weights.int8.shape[1])


@dataclass(frozen=True, eq=False)
class Step:
    """A kernel of a plan, the words it reads and writes, and the product it computes if it is one."""

    kernel: Kernel
    reads: tuple[Span, ...] = ()
    writes: tuple[Span, ...] = ()
    product: Product | None = None


@dataclass(eq=False)
class _Chain:
    members: list[int]  # step indices
    products: list[Product]

    @property
    def first(self) -> int:
        return self.members[0]

    @property
    def last(self) -> int:
        return self.members[-1]

    @property
    def key(self) -> tuple[object, ...]:
        return tuple(p.windows.key for p in self.products)

    @property
    def taps(self) -> int:
        return sum(p.windows.taps for p in self.products)

    def takes(self, p: Product) -> bool:
        head = self.products[0]
        return (p.accumulate and p.acc_span == head.acc_span and p.outputs == head.outputs
                and p.windows.nrows == head.windows.nrows and p.windows.out_w == head.windows.out_w
                and self.taps + p.windows.taps <= INT16_MAX)

    @property
    def values(self) -> int:
        return self.products[0].windows.pixels * self.products[0].outputs

    @functools.cached_property
    def joined(self) -> tuple[list[Windows], np.ndarray]:
        """The chain's windows, those over adjacent channel groups of one input joined (`Windows.join`),
        and its weights [tap][o] in their order."""
        windows: list[Windows] = []
        parts: list[list[np.ndarray]] = []  # per window: its CONVs' weights as [ky * kx][lane][o]
        for p in self.products:
            w = p.windows
            joined = windows[-1].join(w) if windows else None
            if joined is None:
                windows.append(w)
                parts.append([])
            else:
                windows[-1] = joined
            parts[-1].append(p.weights.int8.reshape(w.kernel, -1, p.outputs))
        weights = [np.concatenate(ws, axis=1).reshape(-1, self.products[0].outputs) for ws in parts]
        return windows, np.concatenate(weights, axis=0)


@dataclass(eq=False)
class _Group:
    chains: list[_Chain]
    checked: int  # the steps up to here are known not to write the group's windows
    values: int  # sums per image

    @property
    def head(self) -> _Chain:
        return self.chains[0]


def chains(steps: Sequence[Step]) -> list[_Chain]:
    """The chains of `steps`, in order (a CONV on constant weights alone is a chain of one)."""
    found: list[_Chain] = []
    open_: _Chain | None = None
    for i, step in enumerate(steps):
        p = step.product
        if open_ is not None and p is not None and open_.takes(p):
            open_.members.append(i)
            open_.products.append(p)
            continue
        if open_ is not None and (p is not None and not p.accumulate or any(
                s.meets(open_.products[0].acc_span) for s in (*step.reads, *step.writes))):
            found.append(open_)
            open_ = None
        if p is not None and not p.accumulate:
            open_ = _Chain([i], [p])
    if open_ is not None:
        found.append(open_)
    return found


def _untouched(steps: Sequence[Step], spans: tuple[Span, ...], a: int, b: int) -> bool:
    """No step after a up to b writes these words."""
    return not any(w.meets(s) for step in steps[a + 1 : b + 1] for w in step.writes for s in spans)


def groups(steps: Sequence[Step]) -> list[_Group]:
    """The groups of `steps`' chains, in order; a chain whose windows change within it is in none."""
    found: list[_Group] = []
    for chain in chains(steps):
        spans = tuple(s for p in chain.products for s in p.source)
        group = found[-1] if found else None
        if group is not None and group.head.key == chain.key and group.values + chain.values <= GROUP_VALUES \
                and _untouched(steps, spans, group.checked, chain.last):
            group.chains.append(chain)
            group.checked, group.values = chain.last, group.values + chain.values
        elif _untouched(steps, spans, chain.first, chain.last):
            found.append(_Group([chain], chain.last, chain.values))
        # else the windows change within the chain: its CONVs run one by one
    return found


def fuse(steps: Sequence[Step]) -> list[Step]:
    """`steps` with each group's CONVs replaced by its product and its chains' writes."""
    at: list[list[Step]] = [[step] for step in steps]
    for number, group in enumerate(groups(steps)):
        for chain in group.chains:
            for m in chain.members:
                at[m] = []
        windows, _ = group.head.joined
        weights = Weights(np.ascontiguousarray(np.concatenate([c.joined[1] for c in group.chains], axis=1)),
                          fixed=number < SESSIONS)
        sources = tuple(s for p in group.head.products for s in p.source)
        at[group.head.first].append(Step(_compute(number, windows, weights), reads=sources))
        col = 0
        for k, chain in enumerate(group.chains):
            outputs = chain.products[0].outputs
            write = _write(number, slice(col, col + outputs), chain.products[0].acc, k == len(group.chains) - 1)
            at[chain.last].append(Step(write, writes=(chain.products[0].acc_span,)))
            col += outputs
    return [step for here in at for step in here]


def prune(steps: Sequence[Step]) -> list[Step]:
    """`steps` without those that only write on-chip memories no step reads: once a program's weights
    and thresholds are fixed in its kernels, nothing reads WMEM and TMEM, and the DMAs filling them
    have no effect on any result."""
    read = {s.mem for step in steps for s in step.reads}
    return [step for step in steps if not step.writes or any(w.mem in read or w.mem == "dram" for w in step.writes)]


def _compute(number: int, windows: Sequence[Windows], weights: Weights) -> Kernel:
    def kernel(s: Memories) -> None:
        fms = [s.mem["fmem"][..., w.sel] for w in windows]
        s.stash[number] = product(windows, [fm[None] if fm.ndim == 1 else fm for fm in fms], weights)

    return kernel


def _write(number: int, cols: slice, acc: Selector, last: bool) -> Kernel:
    """A chain's sums [image][pixel][o] into its ACC words [o][pixel]."""

    def kernel(s: Memories) -> None:
        sums = s.stash[number][:, :, cols]
        if last:
            del s.stash[number]
        words = s.mem["acc"]
        words[..., acc] = sums.transpose(0, 2, 1).astype(np.int16).view(np.uint16).reshape(words.shape[:-1] + (-1,))

    return kernel
