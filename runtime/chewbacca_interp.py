"""Reference semantics of the `chewbacca` dialect: the instruction stream, run by the emulator.

One op is one instruction, so the level means what the machine does: the module is encoded exactly as
`.chew` emission would encode it and executed by `runtime.emulator`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp, TensorType

from dialects import chewbacca
from dialects.chewbacca_emit import emit_program
from isa.machine import Machine
from runtime.emulator import emulate


def run_chewbacca(module: ModuleOp, inputs: Sequence[np.ndarray], machine: Machine) -> tuple[np.ndarray, ...]:
    program = emit_program(module)
    fn = next(f for f in module.ops if isinstance(f, func.FuncOp))
    ins = [op for op in fn.body.block.ops if isinstance(op, chewbacca.InputOp)]
    feeds = {d.name: np.asarray(x).reshape(d.shape) for d, x in zip(program.inputs, inputs, strict=True)}
    assert [d.name for d in program.inputs] == [op.tensor.data for op in ins]
    result = emulate(program, feeds, machine)
    outs = [op for op in fn.body.block.ops if isinstance(op, chewbacca.OutputOp)]
    shapes = [o.value.type.get_shape() if isinstance(o.value.type, TensorType) else () for o in outs]
    return tuple(result.outputs[o.tensor.data].reshape(s) for o, s in zip(outs, shapes, strict=True))
