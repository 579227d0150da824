"""Lower bounds of a schedule, per layer and per network: what any mapping of the `bnn` module must pay.

Read off the module `tile-loops` lowers (after the bnn passes). A *layer* is a conv (or a sum of
sub-convs) with the chain of element-wise and pooling work that only it feeds: its threshold, a
residual add of its sums, the threshold after that add, a max-pool of its output. A map inside such a
chain need never leave the chip, so it is not counted; maps between layers are. Per layer:

- **compulsory off-chip traffic**: the layer's constants once (weight words, two threshold words per
  channel) plus its input maps and its output map once each, in the words of the ISA's data layout
  (a ±1 map of C channels takes ceil(C/16) words per pixel, an int16 map C). This is the layer-wise
  bound: a schedule that keeps maps on chip between layers, or fuses layers, can go below it (tile-loops
  runs the threshold of a residual stream in its producer's ACC, so that layer's input read is saved).
- **array cycles**: each conv's MACs over the window's lanes at its kernel size, MACs / (16 kh kw p),
  i.e. every lane of every used tap busy, with p the channel groups one cycle reads (1 on the chip as
  published, where a 3x3 kernel uses at most 9 of the 49 taps; more with the tap-packing extension,
  `array.max_pack`).
- **transfer cycles**: the compulsory traffic at the DMA's bits per cycle. A layer takes at least the
  longer of its array and transfer cycles (the two engines overlap at best).

Host steps are left out: their tensors cross DRAM on the host's side, which the accelerator's traffic
does not count.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp, StringAttr
from xdsl.ir import Operation, SSAValue

from compiler.layers import ConvGroup, conv_group, lowered_later  # the layers as tile-loops groups them
from compiler.tiling import groups
from dialects import bnn
from dialects.chewbacca import machine_of
from isa.machine import Machine
from isa.table import CHANNELS_PER_WORD


@dataclass(frozen=True)
class LayerBound:
    name: str  # the ONNX tensor the layer computes, else its op
    kind: str  # its ops, e.g. conv+threshold+maxpool
    constant_bits: int
    input_bits: int
    output_bits: int
    macs: int
    cycle_bound: float

    @property
    def traffic_bits(self) -> int:
        return self.constant_bits + self.input_bits + self.output_bits

    def cycles(self, m: Machine) -> float:
        """The layer's cycle bound: the longer of its array and its compulsory transfer cycles."""
        return max(self.cycle_bound, self.traffic_bits / m.dma.bits_per_cycle)


@dataclass(frozen=True)
class NetworkBound:
    layers: tuple[LayerBound, ...]

    def cycles(self, m: Machine) -> float:
        return sum(layer.cycles(m) for layer in self.layers)

    @property
    def traffic_bits(self) -> int:
        return sum(layer.traffic_bits for layer in self.layers)

    @property
    def cycle_bound(self) -> float:
        return sum(layer.cycle_bound for layer in self.layers)

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)


def map_bits(v: SSAValue) -> int:
    """Bits of a map in DRAM: whole 16-channel words per pixel for ±1, one int16 per value otherwise."""
    shape = bnn.shape_of(v.type)[1:]
    pixels = 1
    for d in shape[1:]:
        pixels *= d
    channels = shape[0] if shape else 1
    words = groups(channels) * pixels if isinstance(v.type, bnn.BitsType) else channels * pixels
    return words * CHANNELS_PER_WORD


def _conv_terms(group: ConvGroup, m: Machine) -> tuple[int, int, float]:
    """(weight bits, MACs, cycle bound) of the convs one layer accumulates."""
    bits = macs = 0
    cycles = 0.0
    for cv in group.convs:
        o, c, kh, kw = cv.weights.get_shape()
        _, _, oh, ow = bnn.shape_of(cv.output.type)
        planes = cv.planes.bits if isinstance(cv, bnn.BitplaneConv2dOp) else 1
        bits += planes * o * groups(c) * kh * kw * CHANNELS_PER_WORD
        n = planes * o * oh * ow * c * kh * kw
        macs += n
        cycles += n / (CHANNELS_PER_WORD * kh * kw * min(m.array.pack(kh), groups(c)))
    return bits, macs, cycles


def _kind(group: ConvGroup) -> str:
    return "conv+residual" if group.residual is not None else "conv"


def _reads(group: ConvGroup) -> list[SSAValue]:
    return [group.input] if group.residual is None else [group.input, group.residual]


def _name(op: Operation, kind: str) -> str:
    tensor = op.attributes.get(bnn.ONNX_NAME)
    return tensor.data if isinstance(tensor, StringAttr) else kind


@dataclass
class _Step:
    """One op group as tile-loops lowers it: what it reads and writes, before chains are merged."""

    name: str
    kind: str
    constant_bits: int
    reads: list[SSAValue]
    writes: SSAValue
    macs: int = 0
    cycle_bound: float = 0.0
    root: Operation | None = None  # the op tile-loops lowers the step at
    roots: list[Operation] = field(default_factory=list)  # of the steps merged into this one


def _steps(fn: func.FuncOp, m: Machine) -> list[_Step]:
    steps: list[_Step] = []
    for op in fn.body.block.ops:
        if lowered_later(op):
            continue
        if isinstance(op, bnn.Conv2dOp | bnn.BitplaneConv2dOp | bnn.AddOp) and (group := conv_group(op.results[0])):
            w, macs, cycles = _conv_terms(group, m)
            steps.append(_Step(_name(op, "conv"), _kind(group), w, _reads(group), op.results[0], macs, cycles, op))
        elif isinstance(op, bnn.ThresholdOp):
            group = conv_group(op.input) if op.input.has_one_use() else None
            t = 2 * bnn.shape_of(op.output.type)[1] * CHANNELS_PER_WORD
            if group:
                w, macs, cycles = _conv_terms(group, m)
                steps.append(_Step(_name(op, "conv"), f"{_kind(group)}+threshold", w + t, _reads(group), op.output, macs,
                                   cycles, op))
            else:
                steps.append(_Step(_name(op, "threshold"), "threshold", t, [op.input], op.output, root=op))
        elif isinstance(op, bnn.MaxPoolOp):
            steps.append(_Step(_name(op, "maxpool"), "maxpool", 0, [op.input], op.output, root=op))
        elif isinstance(op, bnn.AddOp):
            steps.append(_Step(_name(op, "add"), "add", 0, [op.lhs, op.rhs], op.output, root=op))
    return steps


def layer_bounds(module: ModuleOp) -> NetworkBound:
    """The bound of every layer of @main, in program order."""
    fn = next(op for op in module.walk() if isinstance(op, func.FuncOp))
    return function_bounds(fn, machine_of(module))[0]


def function_bounds(fn: func.FuncOp, m: Machine) -> tuple[NetworkBound, dict[Operation, int]]:
    """The bound of every layer of `fn`, and which layer each op tile-loops lowers a step at belongs to."""
    layers: list[_Step] = []
    for step in _steps(fn, m):
        step.roots = [step.root] if step.root is not None else []
        last = layers[-1] if layers else None
        # a step that reads the previous layer's output, its only use, extends that layer's chain
        if last is not None and step.macs == 0 and last.writes in step.reads and last.writes.has_one_use():
            last.reads += [r for r in step.reads if r is not last.writes and r not in last.reads]
            last.writes, last.kind = step.writes, f"{last.kind}+{step.kind}"
            last.constant_bits += step.constant_bits
            last.name = step.name
            last.roots += step.roots
            continue
        layers.append(step)
    bound = NetworkBound(tuple(
        LayerBound(s.name, s.kind, s.constant_bits, sum(map_bits(r) for r in s.reads), map_bits(s.writes), s.macs,
                   s.cycle_bound)
        for s in layers
    ))
    return bound, {op: i for i, s in enumerate(layers) for op in s.roots}
