"""Analytical estimate of a compiled program's cost: cycles, traffic and energy per layer, without
emulating (`chewc model.onnx --estimate`).

An analysis of the module at the tile level, buffers placed (what `convert-tile-to-chewbacca`
receives): the schedule is walked as the conversion walks it, loops unrolled with their index
arithmetic evaluated, and each tile op becomes its instructions (`dialects.tile_to_isa`), configuration
that repeats the registers' values dropped as the conversion drops it. No value is moved or computed:
each compute instruction is charged from the registers it reads by the emulator's own
`runtime.cost.Work` (`conv_work`, `pool_work`, `threshold_work`, `add_work`: cycles, MACs with gated
padding, bits per memory, unit ops, kernels), DMAs on the second engine that SYNC, HOST and END wait for
(`runtime.cost.Timeline`), and the events are counted per layer between the `tile.layer` markers. What
is the estimate's own, and what its test holds against the emulator, is the walk: loops, index
arithmetic, dropped configuration, the engines' overlap, the layers. The counters then make a `runtime.report.Report` through `build_report`, the code chewc-run's
report uses, so the tables, the JSON and the energy are the same.

The walk is cheap: what an instruction costs depends on its registers and a few fields, never on its
addresses, so the instructions of an op are made once per distinct geometry and value of the operands
its registers take (a conv's first row and buffer row, a threshold's channel; ops of other layers with
the same geometry share them), and each distinct compute instruction is priced once. The loops
themselves are walked in full, nothing extrapolated: the issue order decides which configuration is
dropped and how the DMA engine overlaps the controller, and the whole walk costs about a fifteenth of a
checked emulation (ResNet-18 at 224 px, 3,617 instructions: 0.04 s). Host steps are modeled, not run:
their MACs and values (`runtime.host_steps.host_work`) and the ops of their graphs, with no wall time.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import onnx
from xdsl.dialects import arith, func, scf
from xdsl.dialects.builtin import IntegerAttr, ModuleOp
from xdsl.ir import Operation, SSAValue

from compiler.driver import Compilation, compile_model
from compiler.passes.common import INDEX_ARITH, functions
from compiler.pipeline_debug import PassHook, PassRunner, Step
from dialects import tile
from dialects.chewbacca import machine_of
from dialects.tile_to_isa import host_step, instructions
from isa.container import HostStep
from isa.errors import ChewcError, InternalError
from isa.instruction import Instruction
from isa.machine import Machine, load_machine
from isa.table import REGISTERS
from runtime.cost import (
    WINDOW_REGISTERS,
    Counters,
    Timeline,
    Work,
    add_work,
    conv_work,
    dma_cycles,
    pool_work,
    threshold_work,
)
from runtime.emulator import BEFORE_FIRST, calibration
from runtime.host_steps import host_work
from runtime.report import HostStepRow, LayerCost, LayerMark, Report, build_report, layer_marks

CONVERSION = "convert-tile-to-chewbacca"  # the pass whose input the estimate prices
PAD_MODES = REGISTERS["pad_mode"].field("pad_mode").enum
LABEL = ("estimate: analytical, from the compiled schedule (no emulation, no data); host steps modeled, "
         "their wall time not estimated")


@dataclass(frozen=True)
class Estimate:
    """What the walk counted: the program's counters and timeline, per layer, and its host steps."""

    machine: Machine
    counters: Counters
    timeline: Timeline
    layers: tuple[LayerCost, ...]
    host_rows: dict[int, HostStepRow]
    instructions: int  # in the program the schedule becomes, END included

    def report(self, vdd: float | None = None) -> Report:
        """The report chewc-run would print at supply `vdd` (default: the machine's reference voltage), with
        the spread of its energy over the machine's documented ranges when it has some."""
        return build_report(self.machine, self.machine.operating_point(vdd), self.counters, self.timeline,
                            self.host_rows, self.layers, calibration() if self.machine.ranges else None)

    def named(self, marks: Sequence[LayerMark]) -> Estimate:
        """The estimate with each layer's ONNX nodes from the program's layers section (`marks`), which
        `compiler.driver.record_build` adds after lowering; every mark must start where the walk found it."""
        before = self.layers[:1] if self.layers and self.layers[0].mark.layer == BEFORE_FIRST else ()
        own = self.layers[len(before):]
        if len(own) != len(marks):
            raise InternalError(f"the estimate found {len(own)} layers, the program has {len(marks)}")
        for cost, mark in zip(own, marks, strict=True):
            if (cost.mark.start, cost.mark.layer) != (mark.start, mark.layer):
                raise InternalError(f"layer '{mark.layer}' starts at instruction {mark.start} of the program, the "
                                    f"estimate's '{cost.mark.layer}' at {cost.mark.start}")
        named = tuple(replace(cost, mark=replace(cost.mark, onnx_nodes=mark.onnx_nodes))
                      for cost, mark in zip(own, marks, strict=True))
        return replace(self, layers=(*before, *named))


def estimate(module: ModuleOp, machine: Machine | None = None) -> Estimate:
    """Estimate the program `module` (tile level, buffers placed: one function) becomes, on `machine`
    (default: the one the module carries)."""
    fns = functions(module)
    if len(fns) != 1:
        raise ChewcError(f"a program is one function, the module has {len(fns)}")
    walk = _Walk(machine or machine_of(module))
    walk.function(fns[0])
    return walk.result()


class TileEstimate(PassHook):
    """A pass hook that estimates the module as the conversion pass receives it (before it is lowered in
    place), for `compile_model(runner=...)`: `.estimate` after the run, None if the pipeline has no
    conversion pass."""

    def __init__(self) -> None:
        self.estimate: Estimate | None = None

    def before_pass(self, step: Step) -> None:
        if step.name == CONVERSION:
            override = getattr(step.pass_, "machine", None)  # the pass's machine option replaces the module's
            self.estimate = estimate(step.module, load_machine(override) if override else None)


def compile_and_estimate(path: str | Path, runner: PassRunner | None = None,
                         **options: Any) -> tuple[Compilation, Estimate]:
    """Compile `path` to a program (`compile_model` and its options) and estimate it, its layers named
    as the program names them."""
    hook = TileEstimate()
    base = runner or PassRunner()
    runner = replace(base, hooks=(*base.hooks, hook))
    c = compile_model(path, runner=runner, **options)
    if c.program is None:
        raise ChewcError("the estimate prices a compiled program: compile to chew or asm")
    if hook.estimate is None:
        raise ChewcError(f"the pipeline has no {CONVERSION} pass: there is no schedule to estimate")
    est = hook.estimate.named(layer_marks(c.program))
    # the description as loaded, when the IR carries its values: it documents the energies' ranges too
    given = load_machine(options.get("machine_path") or None)
    if given.parameters == est.machine.parameters:
        est = replace(est, machine=given)
    return c, est


# --- the walk ---------------------------------------------------------------------------------------


# the registers each compute instruction's cost reads and its fields that matter (addresses never do)
_COST_READS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "CONV": (("in_h", "in_w", "in_c", "pad_mode", "kh", "kw", "stride", "dilation", "pad_top", "pad_left",
              "out_w", "row0", "nrows", "oc_count", "pack"), ("accumulate",)),
    "POOL.B": (("in_h", "in_w", "in_c", "kh", "kw", "stride", "dilation", "pad_top", "out_w", "row0", "nrows"), ()),
    "THRESH": (("out_w", "nrows", "oc_count"), ("c0",)),
    "ADD": (("out_w", "nrows", "oc_count"), ()),
}
_COST_READS["CONV.S"] = _COST_READS["CONV"]
_COST_READS["POOL.I"] = _COST_READS["POOL.B"]
# ... with the configuration instructions that set those registers (each register has one), whose values
# key the memo of compute work
_READS = {mn: (tuple(sorted({REGISTERS[r].mnemonic for r in regs})), regs, fields)
          for mn, (regs, fields) in _COST_READS.items()}


_Config = tuple[str, tuple[int, ...], dict[str, int]]  # a configuration instruction: mnemonic, values, registers


class _Kind(enum.Enum):
    INSTRUCTIONS = enum.auto()  # a tile op that becomes instructions (DMA, SYNC, compute)
    LOOP = enum.auto()
    INDEX = enum.auto()
    CONSTANT = enum.auto()
    LAYER = enum.auto()
    HOST = enum.auto()
    RETURN = enum.auto()
    NONE = enum.auto()


def _kind(op: Operation) -> _Kind:
    if isinstance(op, scf.ForOp):
        return _Kind.LOOP
    if type(op) in INDEX_ARITH:
        return _Kind.INDEX
    if isinstance(op, arith.ConstantOp):
        return _Kind.CONSTANT
    if isinstance(op, tile.LayerOp):
        return _Kind.LAYER
    if isinstance(op, tile.HostOp):
        return _Kind.HOST
    if isinstance(op, func.ReturnOp):
        return _Kind.RETURN
    if isinstance(op, scf.YieldOp | tile.AllocOp | tile.ConstOp | tile.WriteOp | tile.ReadOp | tile.ProbeOp) or (
            op.dialect_name() == "arith"):
        return _Kind.NONE
    return _Kind.INSTRUCTIONS


def _memo_key(op: Operation) -> tuple[tuple[object, ...], tuple[SSAValue, ...]]:
    """What the cost of `op`'s instructions depends on: its kind and geometry (the values its
    configuration and its instruction's cost-relevant fields take: a DMA's shape and memories, a compute
    op's geometry), and the index operands its registers or fields take besides (a conv's or pool's first
    row and buffer row, a threshold's channel). Its other operands are addresses, which no cost reads."""
    if isinstance(op, tile.DmaOp):
        props = tuple(getattr(op, k).value.data for k in ("count", "length", "src_stride", "dst_stride"))
        return (tile.DmaOp, *props, tile.space_of(op.src), tile.space_of(op.dst)), ()
    if isinstance(op, tile.ComputeOp):
        # by its values: a geometry attribute's own equality misses the parameters it inherits
        static: tuple[object, ...] = (type(op), *op.geometry.items())
        if isinstance(op, tile.ConvOp):
            return static, (op.row0, op.buf_row0)
        if isinstance(op, tile.PoolOp):
            return (*static, tile.space_of(op.input)), (op.row0, op.buf_row0)
        if isinstance(op, tile.ThresholdOp):
            return static, (op.c0,)
        return static, ()
    return (type(op),), ()  # SYNC


@dataclass
class _Walk:
    m: Machine
    counters: Counters = field(default_factory=Counters)
    timeline: Timeline = field(default_factory=Timeline)
    registers: dict[str, int] = field(default_factory=dict)
    count: int = 0  # instructions issued
    env: dict[SSAValue, int] = field(default_factory=dict)
    layers: list[LayerCost] = field(default_factory=list)
    layer_start: tuple[LayerMark, Counters, int] | None = None
    host_rows: dict[int, HostStepRow] = field(default_factory=dict)
    state: dict[str, tuple[int, ...]] = field(default_factory=dict)  # each configuration instruction's last values
    # memos: per op type its kind; per loop and index op its operands; per op what its cost depends on, and
    # the instructions of each distinct such key; the work of each distinct compute instruction
    kinds: dict[type, _Kind] = field(default_factory=dict)
    loops: dict[Operation, tuple[SSAValue, SSAValue, SSAValue, SSAValue, tuple[Operation, ...]]] = field(
        default_factory=dict)
    folds: dict[Operation, tuple[Callable[[int, int], int], SSAValue, SSAValue, SSAValue]] = field(default_factory=dict)
    keys: dict[Operation, tuple[tuple[object, ...], tuple[SSAValue, ...]]] = field(default_factory=dict)
    ops_made: dict[tuple[object, ...], tuple[tuple[Instruction, _Config | None], ...]] = field(default_factory=dict)
    work: dict[tuple[object, ...], Work] = field(default_factory=dict)

    def result(self) -> Estimate:
        return Estimate(self.m, self.counters, self.timeline, tuple(self.layers), self.host_rows, self.count)

    # --- the schedule, walked as convert-tile-to-chewbacca walks it -----------------------------------
    def value(self, v: SSAValue) -> int:
        if v not in self.env:
            raise ChewcError(f"estimate: cannot compute the index {v} (defined by "
                             f"{getattr(v.owner, 'name', 'a block argument')})")
        return self.env[v]

    def function(self, fn: func.FuncOp) -> None:
        self.walk(fn.body.block.ops)

    def walk(self, ops: Iterable[Operation]) -> None:
        env, kinds = self.env, self.kinds
        for op in ops:
            kind = kinds.get(type(op))
            if kind is None:
                kind = kinds[type(op)] = _kind(op)
            if kind is _Kind.INSTRUCTIONS:
                state, registers = self.state, self.registers
                for ins, config in self.made(op):
                    if config is not None:
                        mnemonic, values, fields = config
                        if state.get(mnemonic) == values:
                            continue  # the conversion drops configuration the registers already hold
                        state[mnemonic] = values
                        registers.update(fields)
                    self.issue(ins, config)
            elif kind is _Kind.INDEX:
                found = self.folds.get(op)
                if found is None:
                    found = self.folds[op] = (INDEX_ARITH[type(op)], op.operands[0], op.operands[1], op.results[0])
                fold, a, b, result = found
                env[result] = fold(env[a] if a in env else self.value(a), env[b] if b in env else self.value(b))
            elif kind is _Kind.LOOP:
                loop = self.loops.get(op)
                if loop is None:
                    assert isinstance(op, scf.ForOp)
                    if op.iter_args:
                        raise ChewcError("estimate: the loops of a tile program carry no values")
                    loop = self.loops[op] = (op.body.block.args[0], op.lb, op.ub, op.step, tuple(op.body.block.ops))
                iv, lb, ub, step_value, body = loop
                step = self.value(step_value)
                if step <= 0:
                    raise ChewcError(f"estimate: an scf.for steps by {step}; steps must be positive")
                for i in range(self.value(lb), self.value(ub), step):
                    env[iv] = i
                    self.walk(body)
            elif kind is _Kind.CONSTANT:
                assert isinstance(op, arith.ConstantOp) and isinstance(op.value, IntegerAttr)
                env[op.result] = op.value.value.data
            elif kind is _Kind.LAYER:
                assert isinstance(op, tile.LayerOp)
                self.start_layer(op)
            elif kind is _Kind.HOST:
                for ins in instructions(op, self.value, _address, self.host_step):
                    self.issue(ins, None)
            elif kind is _Kind.RETURN:
                self.end()
            # _Kind.NONE: no instructions (buffers are addresses, constants and I/O the loader's, other
            # arith not index arithmetic: an error only if an instruction reads it)

    def made(self, op: Operation) -> tuple[tuple[Instruction, _Config | None], ...]:
        """The op's instructions, made once per distinct geometry and value of the operands its registers
        take (`_memo_key`): those of another op or iteration differ in addresses only, which no cost reads."""
        found_key = self.keys.get(op)
        if found_key is None:
            found_key = self.keys[op] = _memo_key(op)
        static, operands = found_key
        key = (*static, *(self.value(v) for v in operands))
        found = self.ops_made.get(key)
        if found is None:
            found = self.ops_made[key] = tuple(
                (ins, (ins.op.mnemonic, ins.values, ins.as_dict()) if ins.op.cls == "config" else None)
                for ins in instructions(op, self.value, _address, _no_host_step))
        return found

    # --- layers -------------------------------------------------------------------------------------
    def start_layer(self, op: tile.LayerOp) -> None:
        if self.layer_start is None and not self.layers and self.count > 0:
            # instructions before the first marker are a layer too (as chewc-run counts them)
            self.layers.append(LayerCost(LayerMark(0, BEFORE_FIRST, "other", -1, -1), self.counters.copy(),
                                         self.timeline.now))
        self.end_layer()
        mark = LayerMark(self.count, op.layer.data, op.kind.data, op.bound_dram_bits.value.data,
                         op.bound_cycles.value.data, op.predicted_cycles.value.data,
                         op.predicted_dram_bits.value.data, op.mapping.data)
        self.layer_start = (mark, self.counters.copy(), self.timeline.now)

    def end_layer(self) -> None:
        if self.layer_start is not None:
            mark, counters, now = self.layer_start
            self.layers.append(LayerCost(mark, self.counters.since(counters), self.timeline.now - now))
            self.layer_start = None

    # --- instructions -------------------------------------------------------------------------------
    def issue(self, ins: Instruction, config: _Config | None) -> None:
        """Charge one instruction the controller issues: its issue cycles and what it does."""
        c, t, cls = self.counters, self.timeline, ins.op.cls
        self.count += 1
        c.instructions[cls] += 1
        t.now += self.m.control.issue_cycles
        busy = 0
        if config is None:
            mn = ins.op.mnemonic
            if mn in ("SYNC", "HOST"):
                t.sync()
            elif mn in ("DMA.LD", "DMA.ST"):
                self.dma(ins, mn == "DMA.LD")
            else:
                busy = self.compute(ins)
        t.now += busy
        c.class_cycles[cls] += self.m.control.issue_cycles + busy

    def end(self) -> None:
        """END: issued, then the controller waits for the DMA engine; the last layer ends with it."""
        c, end = self.counters, Instruction.make("END")
        self.count += 1
        c.instructions[end.op.cls] += 1
        self.timeline.now += self.m.control.issue_cycles
        self.timeline.sync()
        c.class_cycles[end.op.cls] += self.m.control.issue_cycles
        self.end_layer()

    def dma(self, ins: Instruction, load: bool) -> None:
        count = self.register("count", ins)
        words = count * ins["length"]
        mem = ins.op.field("mem").enum[ins["mem"]]
        bits = words * self.m.memory.dram.word_bits
        src, dst = ("dram", mem) if load else (mem, "dram")
        self.counters.read_bits[src] += bits
        self.counters.write_bits[dst] += bits
        self.timeline.dma(dma_cycles(self.m, words))

    def register(self, name: str, ins: Instruction) -> int:
        if name not in self.registers:
            raise ChewcError(f"estimate: {ins.op.mnemonic} reads register '{name}' before any configuration sets it")
        return self.registers[name]

    def compute(self, ins: Instruction) -> int:
        mn = ins.op.mnemonic
        configs, regs, fields = _READS[mn]
        state = self.state
        key = (mn, *(state.get(c) for c in configs), *(ins[f] for f in fields))
        work = self.work.get(key)
        if work is None:
            work = self.work[key] = self.price(mn, {r: self.register(r, ins) for r in regs},
                                               {f: ins[f] for f in fields})
        work.count(self.counters)
        return work.busy

    def price(self, mn: str, r: dict[str, int], f: dict[str, int]) -> Work:
        """What one compute instruction counts, from its registers: the emulator's own cost functions."""
        if mn in ("CONV", "CONV.S"):
            return conv_work(self.m, **_window(r), pad_left=r["pad_left"], oc=r["oc_count"], pack=r["pack"],
                             gated=PAD_MODES[r["pad_mode"]] == "gate", accumulate=f["accumulate"])
        if mn in ("POOL.B", "POOL.I"):
            return pool_work(self.m, "fmem" if mn == "POOL.B" else "acc", **_window(r))
        if mn == "THRESH":
            return threshold_work(self.m, r["oc_count"], r["nrows"] * r["out_w"], f["c0"])
        if mn == "ADD":
            return add_work(self.m, r["oc_count"] * r["nrows"] * r["out_w"])
        raise AssertionError(f"estimate: no cost for {mn}")

    # --- host steps ---------------------------------------------------------------------------------
    def host_step(self, op: tile.HostOp) -> int:
        """Number the step as the conversion does, and model it: its work, its ops, no wall time."""
        k = len(self.host_rows)
        step = host_step(op, _address)
        macs, values = host_work(step)
        self.host_rows[k] = HostStepRow(step.reason, runs=1, wall_seconds=0.0, ops=_host_ops(step), macs=macs,
                                        values=values)
        return k


def _window(r: dict[str, int]) -> dict[str, int]:
    """The registers a windowed op's cost reads."""
    return {k: r[k] for k in WINDOW_REGISTERS}


def _address(buf: SSAValue) -> int:
    op = buf.owner
    assert isinstance(op, tile.AllocOp | tile.ConstOp)
    if op.offset is None:
        raise ChewcError(f"buffer '{op.label.data}' has no address: the estimate needs the buffers placed "
                         "(run tile-buffer-alloc first)")
    return op.offset.value.data


def _no_host_step(op: tile.HostOp) -> int:
    raise AssertionError("host steps are not memoised")


def _host_ops(step: HostStep) -> dict[str, int]:
    """The ops a host step runs, by type, as chewc-run counts them (read off its graph, not run)."""
    if step.planes is not None:
        return {"bitplanes": 1}
    if not step.onnx:
        return {"copy": 1}
    return dict(Counter(node.op_type for node in onnx.load_from_string(step.onnx).graph.node))

