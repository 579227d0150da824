"""Which `bnn` ops one accelerator layer accumulates: the analysis `tile-loops` lowers by and
`compiler.bounds` prices.

A *conv group* is a sum computed in ACC without leaving the chip: the convolutions a tree of single-use
`bnn.add`s sums (one input map and one output geometry; each conv keeps its own kernel, pads and pad
value), plus at most one integer map the tree adds to them, the *residual* (a residual stream). The
residual is loaded into ACC before the first conv, which then accumulates onto it, so neither the convs'
sum nor the addition crosses DRAM.

ACC holds int16 and overflow is an error, so a fused residual must not change which inputs overflow:
either every partial sum provably fits int16 (`int_bound`), or the group is one conv, issued as one CONV
per tile (all channel groups at once), whose single addition onto the residual is the `bnn.add` itself.

A group's int16 sums that another layer reads as well (a residual stream) may still end in a threshold
run on them in ACC (`epilogue_threshold`): the layer then writes the int16 map and the ±1 map, and the
threshold, a layer of its own in `compiler.bounds`, never reads the int16 map back. When a group's
residual is such a map and nothing else reads it (`residual_user`), the map may stay in ACC between the
two layers, and the group accumulates onto it in place.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.ir import Operation, SSAValue

from dialects import bnn

INT16_MAX = 2**15 - 1
Conv = bnn.Conv2dOp | bnn.BitplaneConv2dOp


@dataclass(frozen=True)
class ConvGroup:
    convs: tuple[Conv, ...]
    residual: SSAValue | None  # an integer map of the output's shape added before the convs
    adds: tuple[bnn.AddOp, ...]  # the additions the group performs in ACC, its root last

    @property
    def input(self) -> SSAValue:
        return self.convs[0].input

    @property
    def interior(self) -> tuple[Operation, ...]:
        return (*self.convs, *self.adds)

    @property
    def partial_sums_fit(self) -> bool:
        """Whether every partial sum of the group fits int16 whatever the inputs."""
        bounds = [int_bound(cv.output) for cv in self.convs]
        if self.residual is not None:
            bounds.append(int_bound(self.residual))
        return all(b is not None for b in bounds) and sum(b for b in bounds if b is not None) <= INT16_MAX


def conv_group(v: SSAValue) -> ConvGroup | None:
    """The group whose sum is v, or None when v is not a conv sum."""
    op = v.owner
    if isinstance(op, Conv):
        return ConvGroup((op,), None, ())
    if not isinstance(op, bnn.AddOp):
        return None
    lhs, rhs = (conv_group(x) if x.has_one_use() else None for x in (op.lhs, op.rhs))
    if lhs is not None and rhs is not None and (merged := _merge(lhs, rhs, op)) is not None:
        return merged
    # one side's sum accumulates onto the other side's map
    for group, other in ((rhs, op.lhs), (lhs, op.rhs)):
        if group is not None and group.residual is None and _takes_residual(group, other):
            return ConvGroup(group.convs, other, (*group.adds, op))
    return None


def in_group(op: Operation) -> bool:
    """A conv or add whose result its user's group sums further (the group is lowered at its root)."""
    if not isinstance(op, bnn.Conv2dOp | bnn.AddOp) or not op.results[0].has_one_use():
        return False
    user = op.results[0].get_user_of_unique_use()
    if not isinstance(user, bnn.AddOp):
        return False
    group = conv_group(user.output)
    return group is not None and op in group.interior


def lowered_later(op: Operation) -> bool:
    """A conv or add lowered with a later op: its user's group sums it further, or its sum's only user is
    the threshold the layer ends with."""
    if in_group(op):
        return True
    return (isinstance(op, Conv | bnn.AddOp) and conv_group(op.results[0]) is not None
            and isinstance(op.results[0].get_user_of_unique_use(), bnn.ThresholdOp))


def epilogue_threshold(v: SSAValue) -> bnn.ThresholdOp | None:
    """The threshold a layer runs on its int16 map `v` while the map is still in ACC, when `v` has other
    users too (a later residual add): the layer then writes both maps, and the threshold never reads the
    int16 map back from DRAM. None when `v` has one use (that threshold ends the layer already)."""
    if v.has_one_use():
        return None
    found = [u.operation for u in v.uses if isinstance(u.operation, bnn.ThresholdOp)]
    if len(found) > 1:  # the first in program order, whatever order the uses are listed in
        block = found[0].parent_block()
        assert block is not None
        found.sort(key=block.get_operation_index)
    return found[0] if found else None


def residual_user(v: SSAValue) -> bnn.AddOp | None:
    """The add that accumulates a conv group onto the int16 map `v` (`v` its residual), when that is the
    only user of `v` besides the threshold its producer runs (`epilogue_threshold`): `v` may then stay in
    ACC from its producer to that group, which adds onto it in place. None otherwise."""
    th = epilogue_threshold(v)
    users = [u.operation for u in v.uses if u.operation is not th]
    if len(users) != 1 or not isinstance(add := users[0], bnn.AddOp):
        return None
    group = conv_group(add.output)
    return add if group is not None and group.residual is v else None


def int_bound(v: SSAValue) -> int | None:
    """A bound on |value| of an integer map over all inputs, from its ops' fan-ins; None if unknown."""
    op = v.owner
    if isinstance(op, bnn.Conv2dOp):
        _, c, kh, kw = op.weights.get_shape()
        return c * kh * kw
    if isinstance(op, bnn.AddOp):
        a, b = int_bound(op.lhs), int_bound(op.rhs)
        return None if a is None or b is None else a + b
    if isinstance(op, bnn.MaxPoolOp):
        return int_bound(op.input)
    return None


def _same_geometry(convs: tuple[Conv, ...]) -> bool:
    first = convs[0]
    return all(
        isinstance(cv, bnn.Conv2dOp) and cv.input == first.input and cv.output.type == first.output.type
        and cv.strides == first.strides and cv.dilations == first.dilations
        for cv in convs
    )


def _merge(a: ConvGroup, b: ConvGroup, op: bnn.AddOp) -> ConvGroup | None:
    convs = (*a.convs, *b.convs)
    if not _same_geometry(convs) or (a.residual is not None and b.residual is not None):
        return None
    return ConvGroup(convs, a.residual or b.residual, (*a.adds, *b.adds, op))


def _takes_residual(group: ConvGroup, residual: SSAValue) -> bool:
    if not isinstance(group.convs[0], bnn.Conv2dOp) or not isinstance(residual.owner, Conv | bnn.AddOp | bnn.MaxPoolOp):
        return False
    return len(group.convs) == 1 or ConvGroup(group.convs, residual, group.adds).partial_sums_fit
