"""Analysis of a multi-bit first layer: may it run on the array by bit planes, and is that cheaper?

An n-bit input conv with ±1 weights equals the sum over the input's bit planes b of weight(b) times a
binary conv of plane b (weight 2**b, the sign plane -2**(n-1)); `bnn.bitplane_conv2d` states it. The
input must lie on a known grid, q = x / 2**exponent an n-bit integer: a QONNX `Quant` with a
power-of-two scale and zero point 0 says so, or `--input-grid` does for a float model input. The
choice of `--first-layer=auto` compares the two mappings by their time at the machine's reference
operating point: the array's cycles at its clock, the host's MACs and elements at its rates (row-buffer
stalls are left out; `chewc-run` reports the exact figures of the program built). Not by energy: a
program depends on no energy parameter (`Machine.hash()`), so a sweep of energies reuses one program.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import onnx

from compiler.onnx_loader import Graph, attributes, describe
from isa.container import Planes
from isa.errors import ChewcError
from isa.machine import Machine

MODES = ("host", "bitplane", "auto")
_GRID = re.compile(r"(\d+),(-?\d+)(,unsigned)?")


def parse_grid(text: str) -> Planes:
    """`--input-grid BITS,EXPONENT[,unsigned]`: the input holds BITS-bit integers times 2**EXPONENT."""
    m = _GRID.fullmatch(text.replace(" ", ""))
    if m is None:
        raise ChewcError(f"--input-grid {text!r}: expected BITS,EXPONENT[,unsigned], e.g. 8,-7 (Q1.7)")
    return Planes(int(m[1]), int(m[2]), m[3] is None)


def quant_grid(graph: Graph, node: onnx.NodeProto) -> Planes | str:
    """The grid of a QONNX Quant's output, or why it has none the array can use."""
    def const(i: int) -> np.ndarray | None:
        name = node.input[i] if len(node.input) > i else ""
        return np.asarray(graph.constants[name], np.float64) if name in graph.constants else None

    scale, zero, bits = const(1), const(2), const(3)
    if scale is None or zero is None or bits is None or max(scale.size, zero.size, bits.size) != 1:
        return f"{describe(node)}: its scale, zero point and bit width are not scalar constants"
    s, z, n = float(scale.reshape(-1)[0]), float(zero.reshape(-1)[0]), float(bits.reshape(-1)[0])
    exponent = np.log2(s) if s > 0 else 0.5
    if exponent != np.round(exponent):
        return f"{describe(node)}: scale {s:g} is not a power of two (the reference's float sums would round)"
    if z != 0:
        return f"{describe(node)}: zero point {z:g} is not 0"
    if n != np.round(n) or not 2 <= n <= 16:
        return f"{describe(node)}: bit width {n:g} is not an integer of 2..16"
    return Planes(int(n), int(exponent), bool(attributes(node).get("signed", 1)))


def plane_sum_bound(planes: Planes, fanin: int) -> int:
    """The largest |partial sum| the accumulator holds while the planes add up."""
    return sum(abs(w) for w in planes.weights()) * fanin


@dataclass(frozen=True)
class ConvWork:
    """The geometry of one first-layer conv: channels in/out, output size, kernel, input size."""

    c: int
    o: int
    oh: int
    ow: int
    kh: int
    kw: int
    h: int
    w: int

    @property
    def macs(self) -> int:
        return self.o * self.oh * self.ow * self.c * self.kh * self.kw


def host_seconds(m: Machine, work: ConvWork) -> float:
    """The host computes the conv and binarises its outputs.

    Both mappings read the image on the host and leave the ±1 output map in DRAM for the next layer,
    so neither pays for those transfers here."""
    return work.macs / m.host.mac_rate + work.o * work.oh * work.ow / m.host.element_rate


def bitplane_seconds(m: Machine, planes: Planes, work: ConvWork) -> float:
    """The host splits the input into planes, which go through DRAM; the array runs a conv per plane
    while the DMA brings the planes in."""
    groups = -(-work.c // m.array.lanes)
    cycles = planes.bits * groups * work.oh * work.o * work.ow
    plane_bits = planes.bits * groups * m.array.lanes * work.h * work.w
    elements = planes.bits * work.c * work.h * work.w
    return max(cycles, plane_bits / m.dma.bits_per_cycle) / m.operating_point(None).freq + elements / m.host.element_rate
