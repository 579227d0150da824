"""Emission: a `chewbacca` module -> the `.chew` container (through the ISA encoder).

The compiler's last step, and how the chewbacca interpreter (`runtime.chewbacca_interp`) runs a module."""

from __future__ import annotations

import json

from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp, StringAttr

from dialects import chewbacca
from dialects.bnn import ONNX_NODE
from dialects.chewbacca import machine_of
from isa.container import ChewProgram, DataBlock, Section
from isa.errors import ChewcError
from isa.instruction import encode

PROBE_KIND = "debug"
LAYERS_KIND = "report"


def emit_program(module: ModuleOp) -> ChewProgram:
    """The program of a fully lowered module, for the machine the module carries."""
    machine = machine_of(module)
    fns = [f for f in module.ops if isinstance(f, func.FuncOp)]
    if len(fns) != 1:
        raise ChewcError(f"a program is one function, the module has {len(fns)}")
    code, data, inputs, outputs, sections, probes, layers = [], [], [], [], [], [], []
    nodes: list[list[int | str]] = []  # [first instruction, ONNX node] of each run of instructions of one node
    for op in fns[0].body.block.ops:
        if isinstance(op, chewbacca.InstructionOp):
            node = op.attributes.get(ONNX_NODE)
            name = node.data if isinstance(node, StringAttr) else ""
            if not nodes or nodes[-1][1] != name:
                nodes.append([len(code), name])
            code.append(encode(op.instruction()))
        elif isinstance(op, chewbacca.DataOp):
            data.append(DataBlock.of(op.label.data, op.dram.value.data, op.words()))
        elif isinstance(op, chewbacca.HostStepOp):
            sections.append(Section.host(op.step.value.data, op.host_step()))
        elif isinstance(op, chewbacca.InputOp | chewbacca.OutputOp):
            (inputs if isinstance(op, chewbacca.InputOp) else outputs).append(op.desc())
        elif isinstance(op, chewbacca.ProbeOp):
            probes.append({"after": len(code) - 1, "name": op.tensor.data, "mem": op.mem.data, "addr": op.addr.value.data,
                           "shape": [a.value.data for a in op.shape.data], "dtype": op.dtype.data})
        elif isinstance(op, chewbacca.LayerOp):
            layers.append(op.mark(len(code)))
        elif not isinstance(op, func.ReturnOp):
            raise ChewcError(f"emit: {op.name} is not a chewbacca instruction (lower the module fully first)")
    if probes:  # where each layer's result lies, for chewc-run --check-layers
        sections.append(Section(PROBE_KIND, "probes", json.dumps(probes, sort_keys=True, separators=(",", ":")).encode()))
    if any(name for _, name in nodes):  # the ONNX node of each instruction, for the listing
        sections.append(Section(PROBE_KIND, "nodes", json.dumps(nodes, separators=(",", ":")).encode()))
    if layers:  # where each layer's instructions start, for the per-layer report
        sections.append(Section(LAYERS_KIND, "layers", json.dumps(layers, sort_keys=True, separators=(",", ":")).encode()))
    program = ChewProgram(machine.hash(), machine.name, tuple(code), tuple(data), tuple(inputs), tuple(outputs), tuple(sections))
    program.check_fits(machine)
    return program
