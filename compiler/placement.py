"""Where a compiled network runs: how many of its ONNX nodes the array computes, and each host step with
its reason and its place in the program (the line `chewc` prints, and what `--strict` refuses).

A host step is part of the *input* when it runs before the first array instruction, after input steps
only, and only binarises or quantises (element-wise and shape ops: `Sign(x*2-1)`, a `Flatten`, a QONNX
`Quant`, the split into bit planes), part of the *head* when it runs after the last
array instruction (a float score scale, a float classifier), and *middle* otherwise: a float layer the
accelerator could not take, a multi-bit first layer, a relayout between layers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import onnx
from xdsl.dialects.builtin import ModuleOp

from dialects import bnn
from isa.container import ChewProgram
from isa.errors import ChewcError
from isa.instruction import decode

# ONNX nodes the importer places on the array, as bnn ops (before any pass splits them)
ARRAY_LAYERS = (bnn.Conv2dOp, bnn.BitplaneConv2dOp, bnn.DenseOp, bnn.MaxPoolOp, bnn.AddOp)
# what input binarisation (or quantisation, for bit planes) is made of: no op here multiplies weights in or
# mixes positions
BINARISING_OPS = frozenset({
    "Sign", "BipolarQuant", "MultiThreshold", "Mul", "Div", "Add", "Sub", "Neg", "Identity", "Reshape", "Flatten",
    "Squeeze", "Unsqueeze", "Transpose", "Cast", "Clip", "Quant",
})

Where = Literal["input", "middle", "head"]


@dataclass(frozen=True)
class HostUse:
    where: Where
    reason: str


@dataclass(frozen=True)
class Placement:
    layers: int  # ONNX nodes computed on the array
    host: tuple[HostUse, ...]  # in program order

    def line(self) -> str:
        """One line: the counts, each host step's place and reason, and a warning when nothing is on the array."""
        steps = "; ".join(f"{h.where}: {_brief(h.reason)}" for h in self.host)
        text = f"{self.layers} layer{'s' * (self.layers != 1)} on the array, {len(self.host)} host step" \
               f"{'s' * (len(self.host) != 1)}" + (f" ({steps})" if steps else "")
        if self.layers == 0:
            text += "; warning: no layer runs on the accelerator, the whole model runs on the host"
        return text

    def check_strict(self) -> None:
        """--strict: only input binarisation and a float head may run on the host, and something must not."""
        if self.layers == 0:
            raise ChewcError("--strict: no layer of the model runs on the array (it has no binary layer)")
        middle = [h for h in self.host if h.where == "middle"]
        if middle:
            raise ChewcError(f"--strict: {len(middle)} host step{'s' * (len(middle) != 1)} besides input "
                             f"binarisation and a float head, the first: {middle[0].reason}")


def array_layers(imported: ModuleOp) -> int:
    """ONNX nodes on the array, counted in the `bnn` module as the importer leaves it."""
    return sum(isinstance(op, ARRAY_LAYERS) for op in imported.walk())


def placement(layers: int, program: ChewProgram) -> Placement:
    """Where `program` runs what (`layers` from `array_layers` of the module it was compiled from)."""
    code = [decode(word) for word in program.code]
    compute = [i for i, ins in enumerate(code) if ins.op.cls == "compute"]
    steps = program.host_steps
    uses = []
    for i, ins in enumerate(code):
        if ins.op.mnemonic != "HOST":
            continue
        step = steps[ins.values[0]]
        if compute and i > compute[-1]:
            where: Where = "head"
        elif (not compute or i < compute[0]) and all(u.where == "input" for u in uses) and _binarises(step.onnx):
            where = "input"
        else:
            where = "middle"
        uses.append(HostUse(where, step.reason))
    return Placement(layers, tuple(uses))


def _brief(reason: str, keep: int = 3) -> str:
    """A host step's reason, its first `keep` clauses (one per ONNX node), so the line stays short."""
    clauses = reason.split("; ")
    return reason if len(clauses) <= keep else "; ".join(clauses[:keep]) + f" (and {len(clauses) - keep} more nodes)"


def _binarises(graph: bytes) -> bool:
    """Whether a host step's ONNX graph (empty: a copy with a zero rule) only binarises."""
    if not graph:
        return True
    model = onnx.load_from_string(graph)
    return all(node.op_type in BINARISING_OPS for node in model.graph.node)
