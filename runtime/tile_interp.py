"""Reference semantics of the `tile` dialect: an xDSL interpreter over the machine's memories.

Loops run as loops and index arithmetic is computed by the interpreter; each DMA, compute and host
op executes as the instructions it stands for (`dialects/tile_to_isa.py`) on the emulator's memories,
so a tile program means exactly what the machine would do with it.  Buffers already placed by
`tile-buffer-alloc` use their offsets on the real machine (overlapping live buffers then corrupt
results, as on the chip); see `placed_module` for unplaced ones.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from xdsl.dialects import arith, func
from xdsl.dialects.builtin import ModuleOp
from xdsl.interpreter import (
    Interpreter,
    InterpreterFunctions,
    PythonValues,
    impl,
    register_impls,
)
from xdsl.interpreters.arith import ArithFunctions
from xdsl.interpreters.func import FuncFunctions
from xdsl.interpreters.scf import ScfFunctions
from xdsl.ir import Operation, SSAValue

from dialects import tile
from dialects.tile_alloc import allocate
from dialects.tile_to_isa import host_step, instructions
from isa.container import TensorDesc, to_chw
from isa.instruction import Instruction
from isa.machine import Machine, load_machine
from isa.table import address_limit
from runtime.emulator import Emulator
from runtime.host import pack, unpack


def tensor(desc: tile.TensorAttr, addr: int, name: str = "t") -> TensorDesc:
    return TensorDesc(name, desc.dtype.data, to_chw(desc.shape), addr)


def placed_module(module: ModuleOp, machine: Machine) -> tuple[ModuleOp, Machine]:
    """The module with every buffer placed, and the machine to run it on.

    Buffers placed by `tile-buffer-alloc` keep their offsets and the real machine.  Otherwise the
    allocator places them on a copy of the machine whose memories are as large as the ISA can address,
    so a tile program that is correct before allocation runs whatever its on-chip footprint.
    """
    bufs = [op for op in module.walk() if isinstance(op, tile.AllocOp | tile.ConstOp)]
    if all(b.offset is not None for b in bufs):
        return module, machine
    mem = machine.memory
    for space in ("fmem", "wmem", "tmem", "acc"):
        cur = getattr(mem, space)
        mem = dataclasses.replace(mem, **{space: dataclasses.replace(cur, size_bytes=address_limit(space) * cur.word_bits // 8)})
    big = dataclasses.replace(machine, memory=mem)
    module = module.clone()
    for fn in module.ops:
        if isinstance(fn, func.FuncOp):
            allocate(fn, big)
    return module, big


@register_impls
class TileFunctions(InterpreterFunctions):
    def __init__(self, machine: Machine):
        super().__init__()
        self.emu = Emulator(machine, [], {})
        self.steps = 0

    # -- plumbing -----------------------------------------------------------------------------

    def execute(self, code: list[Instruction]) -> None:
        self.emu.code = [*code, Instruction.make("END")]
        self.emu.run()

    @staticmethod
    def place(op: tile.AllocOp | tile.ConstOp) -> int:
        assert op.offset is not None
        return op.offset.value.data

    def run_op(self, op: Operation, args: PythonValues) -> None:
        values = dict(zip(op.operands, args, strict=True))

        def value(v: SSAValue) -> int:
            return int(values[v])

        def register(h: tile.HostOp) -> int:
            k = self.steps
            self.steps += 1
            self.emu.host_steps[k] = host_step(h, value)
            return k

        self.execute(instructions(op, value, value, register))

    # -- ops ----------------------------------------------------------------------------------

    @impl(tile.AllocOp)
    def run_alloc(self, interp: Interpreter, op: tile.AllocOp, args: PythonValues) -> PythonValues:
        return (self.place(op),)

    def load_constants(self, module: ModuleOp) -> None:
        """Constants are in DRAM before the program starts, as the loader places a .chew's data."""
        for op in module.walk():
            if isinstance(op, tile.ConstOp):
                self.emu.host_write(self.place(op), np.frombuffer(bytes.fromhex(op.data.data), "<u2"))

    @impl(tile.ConstOp)
    def run_const(self, interp: Interpreter, op: tile.ConstOp, args: PythonValues) -> PythonValues:
        return (self.place(op),)

    @impl(tile.DmaOp)
    def run_dma(self, interp: Interpreter, op: tile.DmaOp, args: PythonValues) -> PythonValues:
        self.run_op(op, args)
        return ()

    @impl(tile.SyncOp)
    def run_sync(self, interp: Interpreter, op: tile.SyncOp, args: PythonValues) -> PythonValues:
        self.run_op(op, args)
        return ()

    @impl(tile.ConvOp)
    def run_conv(self, interp: Interpreter, op: tile.ConvOp, args: PythonValues) -> PythonValues:
        self.run_op(op, args)
        return ()

    @impl(tile.ThresholdOp)
    def run_threshold(self, interp: Interpreter, op: tile.ThresholdOp, args: PythonValues) -> PythonValues:
        self.run_op(op, args)
        return ()

    @impl(tile.PoolOp)
    def run_pool(self, interp: Interpreter, op: tile.PoolOp, args: PythonValues) -> PythonValues:
        self.run_op(op, args)
        return ()

    @impl(tile.AddOp)
    def run_add(self, interp: Interpreter, op: tile.AddOp, args: PythonValues) -> PythonValues:
        self.run_op(op, args)
        return ()

    @impl(tile.HostOp)
    def run_host(self, interp: Interpreter, op: tile.HostOp, args: PythonValues) -> PythonValues:
        self.run_op(op, args)
        return ()

    @impl(tile.WriteOp)
    def run_write(self, interp: Interpreter, op: tile.WriteOp, args: PythonValues) -> PythonValues:
        value, addr = args
        self.emu.host_write(addr, pack(tensor(op.desc, addr), np.asarray(value).reshape(to_chw(op.desc.shape))))
        return ()

    @impl(tile.ReadOp)
    def run_read(self, interp: Interpreter, op: tile.ReadOp, args: PythonValues) -> PythonValues:
        (addr,) = args
        desc = tensor(op.desc, addr)
        words = self.emu.mem["dram"][addr : addr + desc.words]
        return (unpack(desc, words).reshape(op.value.type.get_shape()),)  # type: ignore[union-attr]

    @impl(tile.ProbeOp)
    def run_probe(self, interp: Interpreter, op: tile.ProbeOp, args: PythonValues) -> PythonValues:
        return ()

    @impl(tile.LayerOp)
    def run_layer(self, interp: Interpreter, op: tile.LayerOp, args: PythonValues) -> PythonValues:
        return ()

    # index arithmetic the upstream interpreter lacks
    @impl(arith.MinSIOp)
    def run_minsi(self, interp: Interpreter, op: arith.MinSIOp, args: PythonValues) -> PythonValues:
        return (min(args),)

    @impl(arith.MaxSIOp)
    def run_maxsi(self, interp: Interpreter, op: arith.MaxSIOp, args: PythonValues) -> PythonValues:
        return (max(args),)


def run_tile(module: ModuleOp, inputs: Sequence[np.ndarray], machine: Machine | None = None,
             symbol: str = "main") -> tuple[np.ndarray, ...]:
    module, m = placed_module(module, machine or load_machine())
    interp = Interpreter(module)
    functions = TileFunctions(m)
    functions.load_constants(module)
    for f in (FuncFunctions(), ArithFunctions(), ScfFunctions(), functions):
        interp.register_implementations(f)
    return tuple(interp.call_op(symbol, tuple(inputs)))
