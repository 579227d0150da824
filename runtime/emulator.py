"""Emulator of ChewBaccaNN programs: exact results, plus cycles and energy from `runtime.cost`.

Every instruction is computed in one vectorised step over its whole tile (CONV as a matrix product of
the unpacked +-1 windows and weights). Anything the hardware would get silently wrong is an error
that names the instruction index and the field:

- undecodable words (unknown opcode, value out of range, unused bits set) and a missing END;
- a register read before any CFG instruction set it;
- addresses or 2-D regions outside a memory, DMA destination rows that overlap each other, a tile
  beyond out_h, an input row outside the FMEM buffer, a window larger than the array, an input row
  longer than a row buffer;
- a read of a word never written (the host writes inputs and data blocks, instructions and host
  steps the rest; outputs must be fully written by END), by an instruction or a host step;
- a HOST step with no host section, a host output that cannot take its value (an exact 0 a bits
  output's zero rule rejects, a non-integer or out-of-range int16), an ONNX graph that fails;
- int16 overflow in CONV accumulation and ADD (never a silent wrap), an invalid threshold mode, a
  POOL.I window entirely in gated padding;
- a hazard: a compute instruction touching on-chip words that a DMA issued earlier in the same SYNC
  interval may still move. (The controller waits for each compute instruction to finish before it
  issues the next instruction, so a DMA issued after a compute instruction cannot disturb it.)
"""

from __future__ import annotations

import functools
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping, Sequence
import dataclasses
from dataclasses import dataclass, field
from math import ceil
from pathlib import Path
from typing import Any

import numpy as np

from isa.container import ChewProgram, HostStep
from isa.errors import ChewcError
from isa.files import MAX_PROGRAM_BYTES, read_bytes
from isa.instruction import Instruction, decode
from isa.machine import Machine, OperatingPoint, bundled_machine, load_machine
from isa.table import CHANNELS_PER_WORD, REGISTERS, THRESHOLD_MODES
from runtime.cost import (
    ON_CHIP,
    WINDOW_REGISTERS,
    Counters,
    Timeline,
    Work,
    add_work,
    conv_work,
    dma_cycles,
    pool_work,
    threshold_planes,
    threshold_work,
    window_rows,
)
from runtime.fusion import Product, Span, Step, fuse, prune
from runtime.host import bits_word, pack, unpack, word_bits
from runtime.host_steps import host_work, run_host_step
from runtime.products import Selector, Weights, Windows, product
from runtime.report import HostStepRow, LayerCost, LayerMark, Report, build_report, host_report, layer_marks
from runtime.uncertainty import Events

MEMORIES = (*ON_CHIP, "dram")
INT16_MIN, INT16_MAX = -(1 << 15), (1 << 15) - 1
BEFORE_FIRST = "(before the first layer)"  # the layer of the instructions before the first layer mark
PLANS_KEPT = 4  # plans of the most recently run (program, machine) pairs
BATCH = 64  # images emulate_batch stacks
BATCH_BYTES = 256 << 20  # memories of a batch (DRAM as far as the program uses it)
REPORTS_KEPT = 16  # reports a plan keeps (one per machine variant and vdd: a sweep makes 7)
# Word operations one emulation may take (words moved, window words combined, values computed): the
# binary ResNet-18 at 224 x 224 needs about 2**27. `--max-work` raises it.
DEFAULT_MAX_WORK = 1 << 32
PLAN_BYTES = 256 << 20  # address arrays a kept plan may hold

Where = tuple[int, str]  # instruction index and mnemonic, for errors raised by kernels


# (instruction indices, callback(index, memories by name)): see `emulate`
Observer = tuple[set[int], Callable[[int, dict[str, np.ndarray]], None]]


@dataclass
class EmulationResult:
    outputs: dict[str, np.ndarray]
    report: Report


def load_program(program: ChewProgram | bytes | str | Path) -> ChewProgram:
    if isinstance(program, ChewProgram):
        return program
    if isinstance(program, bytes):
        return ChewProgram.from_bytes(program)
    return ChewProgram.from_bytes(read_bytes(program, ".chew program", MAX_PROGRAM_BYTES), str(program))


def check_machine(prog: ChewProgram, machine: Machine) -> None:
    """A program runs only on the machine it was built for (same parameter values)."""
    if prog.machine_hash != machine.hash():
        raise ChewcError(
            f"the program was built for machine '{prog.machine_name}' ({prog.machine_hash.hex()[:12]}...), "
            f"not for machine '{machine.name}' ({machine.hash().hex()[:12]}...): pass --machine with the "
            "description it was built for"
        )


def program_machine(prog: ChewProgram) -> Machine:
    """The bundled machine description a program names, if it is the one it was built for; else the
    default (which `check_machine` then refuses by name, unless it matches)."""
    named = bundled_machine(prog.machine_name)
    return named if named is not None and named.hash() == prog.machine_hash else load_machine()


def program_work(code: list[Instruction], host_steps: Mapping[int, HostStep]) -> tuple[int, int]:
    """The word operations a straight-line program performs in all, and the instruction reaching half of
    them, read off the instruction stream alone (registers as CFG instructions set them) before any runs.

    The ISA has no branches, so this is exact: it bounds an emulation's time and memory up front."""
    regs: dict[str, int] = {}
    total, heaviest, most = 0, 0, -1

    def r(name: str) -> int:
        return regs.get(name, 1)  # an unset register fails at run time, when the instruction is reached

    for i, ins in enumerate(code):
        mn = ins.op.mnemonic
        if ins.op.cls == "config":
            regs.update(ins.as_dict())
            continue
        groups = -(-r("in_c") // CHANNELS_PER_WORD)
        pixels = r("nrows") * r("out_w")
        if mn in ("DMA.LD", "DMA.ST"):
            work = r("count") * ins["length"]
        elif mn in ("CONV", "CONV.S"):
            work = r("oc_count") * pixels * r("kh") * r("kw") * groups
        elif mn == "POOL.B":
            work = groups * pixels * r("kh") * r("kw")
        elif mn == "POOL.I":
            work = r("in_c") * pixels * r("kh") * r("kw")
        elif mn in ("THRESH", "ADD"):
            work = r("oc_count") * pixels
        elif mn == "HOST" and (step := host_steps.get(ins["step"])) is not None:
            work = sum(t.words for t in (*step.inputs, *step.outputs))
        else:  # SYNC, END, a HOST without a section (an error when reached)
            work = 0
        total += work
        if work > most:
            heaviest, most = i, work
    return total, heaviest


def decode_program(program: ChewProgram) -> list[Instruction]:
    code = []
    for i, word in enumerate(program.code):
        try:
            code.append(decode(word))
        except ChewcError as e:
            raise ChewcError(f"instruction {i} ({word:#018x}): {e}") from e
    return code


@dataclass(frozen=True)
class _Plan:
    """What a checked run of a program established, so that later runs replay it.

    A checked run leaves, per instruction, a kernel that only moves and computes values, with its
    addresses resolved and its unpacked weights kept. Everything else a run establishes depends on the
    instruction stream alone, never on data: registers, addresses, which words are read before being
    written, hazards, counters and the timeline. So a later run of the same program on the same machine
    replays the kernels on fresh memories and reuses the counters; the data-dependent checks (int16
    overflow, threshold modes, gated POOL.I windows, host steps) live in the kernels and run every time.
    The first replay fuses the steps (`runtime.fusion`); a program run once never pays for it.
    """

    steps: tuple[Step, ...]
    program: ChewProgram
    counters: Counters
    timeline: Timeline
    layers: tuple[LayerCost, ...]
    dram_words: int  # DRAM words the program touches (all it reads was written first: the rest is never used)
    # the report of a replay but its host steps, by the machine's values and ranges and the vdd
    reports: dict[tuple[bytes, tuple[object, ...], float], Report] = field(default_factory=dict, compare=False)

    @functools.cached_property
    def kernels(self) -> tuple[Kernel, ...]:
        return tuple(step.kernel for step in self.fused)

    @functools.cached_property
    def fused(self) -> tuple[Step, ...]:
        return tuple(prune(fuse(self.steps)))

    @functools.cached_property
    def data(self) -> tuple[tuple[int, np.ndarray], ...]:
        """The DRAM address and words of each data block a fused step reads or an output holds: a replay
        writes only those (the rest, weights and thresholds fixed in kernels, no step reads)."""
        prog = self.program
        read = np.zeros(max((b.dram_addr + b.words.size for b in prog.data), default=0), bool)
        for span in (*(s for step in self.fused for s in step.reads if s.mem == "dram"),
                     *(Span("dram", d.dram_addr, d.dram_addr + d.words) for d in prog.outputs)):
            read[span.lo : span.hi] = True
        return tuple((b.dram_addr, b.words) for b in prog.data if read[b.dram_addr : b.dram_addr + b.words.size].any())


PlanKey = tuple[ChewProgram, bytes]  # a program and the hash of the machine it runs on
_PLANS: OrderedDict[PlanKey, _Plan] = OrderedDict()
_PLANS_LOCK = threading.Lock()


def _plan(key: PlanKey) -> _Plan | None:
    with _PLANS_LOCK:
        plan = _PLANS.get(key)
        if plan is not None:
            _PLANS.move_to_end(key)
        return plan


def _keep_plan(key: PlanKey, plan: _Plan) -> None:
    with _PLANS_LOCK:
        _PLANS[key] = plan
        while len(_PLANS) > PLANS_KEPT:
            _PLANS.popitem(last=False)


def emulate(
    program: ChewProgram | bytes | str | Path,
    inputs: Mapping[str, np.ndarray] | np.ndarray,
    machine: Machine | None = None,
    vdd: float | None = None,
    observe: Observer | None = None,
    max_work: int = DEFAULT_MAX_WORK,
    checked: bool = False,
) -> EmulationResult:
    """Run `program` on `inputs` (by name, or one array for a one-input program) at supply `vdd`.

    The first run of a program is a checked run, instruction by instruction, which leaves a plan; later
    runs replay the plan, its CONVs fused (`runtime.fusion`). `checked` makes this run a checked run
    anyway: the reference path, which the replays must equal. `observe = (indices, callback)` calls
    `callback(i, memories)` right after instruction i, for each i in `indices` (a checked run: it is for
    looking at intermediate results). A program needing more than `max_work` word operations
    (`program_work`) is refused before it runs.
    """
    prog = load_program(program)
    machine = machine or program_machine(prog)
    check_machine(prog, machine)
    key = (prog, machine.hash())
    plan = _plan(key)
    if plan is None:
        prog.check_fits(machine)
    point = machine.operating_point(vdd)
    named = _name_inputs(prog, inputs)
    if plan is not None and observe is None and not checked:
        return _replay(plan, prog, [named], machine, point)[0]
    code, steps = decode_program(prog), prog.host_steps
    work, heaviest = program_work(code, steps)
    if work > max_work:
        raise ChewcError(
            f"the program needs {work} word operations (instruction {heaviest}, {code[heaviest].op.mnemonic}, the "
            f"largest), more than the emulator's budget of {max_work}: raise it with --max-work if that is intended"
        )
    emu = Emulator(machine, code, steps, marks=layer_marks(prog))
    for block in prog.data:
        emu.host_write(block.dram_addr, block.words, constant=True)
    for desc in prog.inputs:
        emu.host_write(desc.dram_addr, pack(desc, named[desc.name]))
    emu.run(observe)
    emu.check_outputs(prog)
    if emu.kernels is not None:
        used = np.flatnonzero(emu.written["dram"])
        _keep_plan(key, _Plan(tuple(emu.kernels), prog, emu.counters, emu.timeline, tuple(emu.layer_costs),
                              int(used[-1]) + 1 if used.size else 0))
    report = build_report(machine, point, emu.counters, emu.timeline, emu.host_rows, emu.layer_costs,
                          _calibration(machine))
    return EmulationResult(_outputs(prog, emu.mem["dram"]), report)


def verify_program(prog: ChewProgram, machine: Machine) -> None:
    """Every check of a run that does not depend on data, without computing a value: registers,
    addresses and bounds, reads of words never written, hazards between DMA and compute, outputs
    written by END. The compiler runs it on each program before writing it."""
    _dry_run(prog, machine)


def _dry_run(prog: ChewProgram, machine: Machine) -> Emulator:
    check_machine(prog, machine)
    prog.check_fits(machine)
    emu = Emulator(machine, decode_program(prog), prog.host_steps, dry=True)
    for block in prog.data:
        emu.host_write(block.dram_addr, block.words)
    for desc in prog.inputs:
        emu.written["dram"][desc.dram_addr : desc.dram_addr + desc.words] = True
    emu.run()
    emu.check_outputs(prog)
    return emu


CALIBRATION = Path(__file__).with_name("calibration_7x7.s")
# the same, assembled (a test keeps it so): a run loads it without the assembler, whose parser takes 0.2 s
CALIBRATION_PROGRAM = CALIBRATION.with_suffix(".chew")


def program_events(prog: ChewProgram, machine: Machine) -> Events:
    """The events and cycles of a run of `prog`, from a dry run (they depend on no data)."""
    emu = _dry_run(prog, machine)
    return Events(emu.counters, emu.timeline.now)


@functools.lru_cache(maxsize=1)
def calibration() -> Events:
    """The calibration kernel's events on the default machine (`runtime.uncertainty`)."""
    return program_events(load_program(CALIBRATION_PROGRAM), load_machine())


def _calibration(machine: Machine) -> Events | None:
    """The calibration, if the machine documents ranges to re-solve it over."""
    return calibration() if machine.ranges else None


def _replay(
    plan: _Plan, prog: ChewProgram, named: Sequence[Mapping[str, np.ndarray]], machine: Machine, point: OperatingPoint,
    batch: bool = False,
) -> list[EmulationResult]:
    """Run `plan`'s kernels on fresh memories holding the program's data and these inputs: one set of
    memories per input set, or with `batch` one for all, each memory [image][word] (the kernels compute
    for every image at once: one matrix product per CONV)."""
    lead = (len(named),) if batch else ()
    mem = {name: np.zeros((*lead, machine.memory.words(name)), np.uint16) for name in ON_CHIP}
    # The checked run proved that no DRAM word is read before it is written, so DRAM needs no zeroing
    # (on-chip words may be: THRESH keeps the other channels' bits of the words it writes).
    mem["dram"] = dram = np.empty((*lead, plan.dram_words), np.uint16)
    state = _State(mem, None)
    for addr, words in plan.data:
        dram[..., addr : addr + words.size] = words
    for desc in prog.inputs:
        span = slice(desc.dram_addr, desc.dram_addr + desc.words)
        if batch:
            for b, feeds in enumerate(named):
                dram[b, span] = pack(desc, feeds[desc.name])
        else:
            dram[span] = pack(desc, named[0][desc.name])
    for kernel in plan.kernels:
        kernel(state)
    # Only the host steps' wall time differs between runs: the rest of the report is made once.
    key = (machine.values_digest, tuple(machine.ranges.items()), point.vdd)
    template = plan.reports.get(key)
    if template is None:
        template = build_report(machine, point, plan.counters, plan.timeline, {}, plan.layers, _calibration(machine))
        if len(plan.reports) < REPORTS_KEPT:
            plan.reports[key] = template
    if not batch:
        return [EmulationResult(_outputs(prog, dram), dataclasses.replace(template, host=host_report(machine, state.host_rows)))]
    return [EmulationResult(_outputs(prog, dram[b]), dataclasses.replace(template, host=host_report(machine, state.rows[b])))
            for b in range(len(named))]


def emulate_batch(
    program: ChewProgram | bytes | str | Path,
    inputs: Sequence[Mapping[str, np.ndarray] | np.ndarray],
    machine: Machine | None = None,
    vdd: float | None = None,
    max_work: int = DEFAULT_MAX_WORK,
    batch: int = BATCH,
) -> list[EmulationResult]:
    """`emulate` on each of `inputs`, the images stacked: after the checked run a program's first run
    makes, its plan replays on up to `batch` images at a time (fewer where their memories would pass
    BATCH_BYTES), every CONV one matrix product for all of them. Each result equals `emulate`'s on its
    own; a data error (an int16 overflow) in a batch is found again image by image, as `emulate` finds it."""
    prog = load_program(program)
    machine = machine or program_machine(prog)
    if not inputs:
        return []
    results = [] if _plan((prog, machine.hash())) else [emulate(prog, inputs[0], machine, vdd, max_work=max_work)]
    plan = _plan((prog, machine.hash()))
    rest = inputs[len(results):]
    if plan is None:  # too large to keep: checked runs, one by one
        return results + [emulate(prog, x, machine, vdd, max_work=max_work) for x in rest]
    check_machine(prog, machine)
    point = machine.operating_point(vdd)
    per_image = 2 * (sum(machine.memory.words(name) for name in ON_CHIP) + plan.dram_words)
    size = max(1, min(batch, BATCH_BYTES // per_image))
    for a in range(0, len(rest), size):
        named = [_name_inputs(prog, x) for x in rest[a : a + size]]
        try:
            results += _replay(plan, prog, named, machine, point, batch=True)
        except ChewcError:
            results += [r for feeds in named for r in _replay(plan, prog, [feeds], machine, point)]
    return results


def _outputs(prog: ChewProgram, dram: np.ndarray) -> dict[str, np.ndarray]:
    return {d.name: unpack(d, dram[d.dram_addr : d.dram_addr + d.words]) for d in prog.outputs}


def _name_inputs(prog: ChewProgram, inputs: Mapping[str, np.ndarray] | np.ndarray) -> dict[str, np.ndarray]:
    names = [d.name for d in prog.inputs]
    if not isinstance(inputs, Mapping):
        if len(names) != 1:
            raise ChewcError(f"the program has {len(names)} inputs ({', '.join(names) or 'none'}): pass them by name")
        return {names[0]: inputs}
    extra = sorted(set(inputs) - set(names))
    if extra:
        raise ChewcError(f"'{extra[0]}' is not an input of the program (inputs: {', '.join(names) or 'none'})")
    missing = [n for n in names if n not in inputs]
    if missing:
        raise ChewcError(f"input '{missing[0]}' not given")
    return dict(inputs)


def _error(where: Where, message: str, field: str | None = None) -> ChewcError:
    at = f"instruction {where[0]} ({where[1]})"
    return ChewcError(f"{at}: field '{field}': {message}" if field else f"{at}: {message}")


def _select(addrs: np.ndarray) -> Selector:
    """A contiguous, ascending run of addresses as a slice, so kernels read and write views."""
    if addrs.size and int(addrs[-1]) - int(addrs[0]) == addrs.size - 1 and bool(np.all(np.diff(addrs) == 1)):
        return slice(int(addrs[0]), int(addrs[-1]) + 1)
    return addrs


def _int16(values: np.ndarray, addrs: np.ndarray, where: Where, field: str) -> np.ndarray:
    """int16 words of `values`; a value outside int16 is an error, never a silent wrap."""
    if values.size and (values.min() < INT16_MIN or values.max() > INT16_MAX):
        k = np.flatnonzero((values < INT16_MIN) | (values > INT16_MAX))[0]  # the first image's first, in a batch
        raise _error(where, f"int16 overflow: {int(values.flat[k])} for ACC word {addrs[k % addrs.size]:#x}", field)
    return values.astype(np.int16).view(np.uint16)


class _Last:
    """A one-entry cache: the value built for the last key (data words as bytes, and what else it depends on).

    Kernels keep their unpacked weights in one, and the CONVs of a program share one for their unpacked
    windows: consecutive output-channel blocks read the same input tile. Key and value are replaced
    together, so a reader never pairs a key with another key's value.
    """

    def __init__(self) -> None:
        self.entry: tuple[object, Any] = (None, None)

    def get(self, key: object, build: Callable[[], Any]) -> Any:
        last, value = self.entry
        if key != last:
            value = build()
            self.entry = (key, value)
        return value


class _State:
    """The memories of one run, or of a batch of runs (each memory [image][word]: kernels index words with
    `[..., sel]`); `written` (which words hold data) is tracked by checked runs only."""

    def __init__(self, mem: dict[str, np.ndarray], written: dict[str, np.ndarray] | None) -> None:
        self.mem = mem
        self.written = written
        self.host_rows: dict[int, HostStepRow] = {}
        self.images = mem["dram"].shape[0] if mem["dram"].ndim == 2 else 0  # 0: one run, not a batch
        self.rows: list[dict[int, HostStepRow]] = [{} for _ in range(self.images)]  # a batch's, per image
        self.stash: dict[int, np.ndarray] = {}  # products of fused CONVs not yet written (`runtime.fusion`)

    def image(self, b: int) -> _State:
        """Image b of a batch, its memories views into the batch's."""
        one = _State({name: m[b] for name, m in self.mem.items()}, None)
        one.host_rows = self.rows[b]
        return one


class _PerImage(Exception):  # noqa: N818 -- a signal, not an error
    """A batched kernel found per-image data where a program's constants are (weights, thresholds not
    equal across the batch): it runs image by image instead."""


def _shared(words: np.ndarray) -> np.ndarray:
    """Words all images of a batch hold alike (WMEM's weights, TMEM's thresholds): one copy; else _PerImage."""
    if words.ndim == 1:
        return words
    if not (words == words[0]).all():
        raise _PerImage
    return words[0]


Kernel = Callable[[_State], None]
Values = Callable[[_State], np.ndarray]


def _store(mem: str, sel: Selector, values: Values) -> Kernel:
    def kernel(s: _State) -> None:
        try:
            s.mem[mem][..., sel] = values(s)
        except _PerImage:
            for b in range(s.images):
                one = s.image(b)
                one.mem[mem][sel] = values(one)

    return kernel


def _host_kernel(where: Where, k: int, step: HostStep) -> Kernel:
    """Run host step k; its wall time is kept apart from cycles."""

    def kernel(s: _State) -> None:
        if s.images:  # the host runs each image of a batch in turn
            for b in range(s.images):
                kernel(s.image(b))
            return
        start = time.perf_counter()
        try:
            ops = run_host_step(k, step, s.mem["dram"], None if s.written is None else s.written["dram"])
        except ChewcError as e:
            raise _error(where, str(e)) from e
        row = s.host_rows.setdefault(k, HostStepRow(step.reason))
        macs, values = host_work(step)
        row.runs += 1
        row.macs += macs
        row.values += values
        row.wall_seconds += time.perf_counter() - start
        row.ops = dict(Counter(row.ops) + ops)

    return kernel


class _Marks:
    """Which DMA instruction of which SYNC interval last touched each word (no reset at SYNC needed)."""

    def __init__(self, size: int) -> None:
        self.interval = np.full(size, -1, np.int64)
        self.by = np.zeros(size, np.int64)

    def mark(self, addrs: np.ndarray, interval: int, index: int) -> None:
        self.interval[addrs] = interval
        self.by[addrs] = index

    def first(self, addrs: np.ndarray, interval: int) -> tuple[int, int] | None:
        hit = np.flatnonzero(self.interval[addrs] == interval)
        return None if not hit.size else (int(addrs[hit[0]]), int(self.by[addrs[hit[0]]]))


class Emulator(_State):
    """A checked run: every instruction's checks, counters and time; its kernels compute the values."""

    written: dict[str, np.ndarray]  # always tracked here

    def __init__(self, machine: Machine, code: list[Instruction], host_steps: dict[int, HostStep],
                 dry: bool = False, marks: tuple[LayerMark, ...] = ()) -> None:
        # dry: addresses, registers, written words and hazards only; no value is computed or moved
        # marks: where layers start, each counted apart (instructions before the first are a layer too)
        if marks and marks[0].start > 0:
            marks = (LayerMark(0, BEFORE_FIRST, "other", -1, -1), *marks)
        self.marks, self.next_mark = marks, 0
        self.layer_costs: list[LayerCost] = []
        self.layer_start: tuple[LayerMark, Counters, int] | None = None
        self.m, self.code, self.host_steps, self.dry = machine, code, host_steps, dry
        self.size = {name: machine.memory.words(name) for name in MEMORIES}
        super().__init__(
            {name: np.zeros(n, np.uint16) for name, n in self.size.items()},
            {name: np.zeros(n, bool) for name, n in self.size.items()},
        )
        # which words hold the same value in every run: the data blocks, and what DMA copies of them
        self.const = {name: np.zeros(n, bool) for name, n in self.size.items()}
        self.dma_writes = {name: _Marks(self.size[name]) for name in ON_CHIP}
        self.dma_reads = {name: _Marks(self.size[name]) for name in ON_CHIP}
        self.interval = 0
        self.regs: dict[str, int] = {}
        self.counters, self.timeline = Counters(), Timeline()
        self.kernels: list[Step] | None = None if dry else []  # None: no plan (dry, or too large)
        self.kept_bytes = 0
        self.index, self.ins = 0, code[0] if code else None
        self.handlers: dict[str, Callable[[Instruction], int]] = {
            "SYNC": self.sync,
            "HOST": self.host,
            "DMA.LD": self.dma,
            "DMA.ST": self.dma,
            "CONV": self.conv,
            "CONV.S": self.conv,
            "THRESH": self.thresh,
            "POOL.B": self.pool_bits,
            "POOL.I": self.pool_int,
            "ADD": self.add,
        }

    # --- plumbing -------------------------------------------------------------------------------
    @property
    def where(self) -> Where:
        assert self.ins is not None
        return self.index, self.ins.op.mnemonic

    def fail(self, message: str, field: str | None = None) -> ChewcError:
        return _error(self.where, message, field)

    def keep(self, kernel: Kernel, *selectors: Selector, reads: tuple[Span, ...] = (), writes: tuple[Span, ...] = (),
             product: Product | None = None) -> None:
        """Add a kernel to the plan, with the words it reads and writes and the product it computes, unless
        the plan's address arrays and weights would pass PLAN_BYTES (then no plan: later runs of a
        program that large are checked runs too, and memory stays bounded)."""
        if self.kernels is None:
            return
        self.kept_bytes += sum(s.nbytes for s in selectors if isinstance(s, np.ndarray))
        if product is not None:
            self.kept_bytes += 5 * product.weights.int8.nbytes  # int8, and float32 for small products
        if self.kept_bytes > PLAN_BYTES:
            self.kernels = None
        else:
            self.kernels.append(Step(kernel, reads, writes, product))

    def host_write(self, addr: int, words: np.ndarray, constant: bool = False) -> None:
        """The host writes DRAM words: a data block (`constant`, the same in every run) or an input."""
        self.mem["dram"][addr : addr + words.size] = words
        self.written["dram"][addr : addr + words.size] = True
        self.const["dram"][addr : addr + words.size] = constant

    def run(self, observe: Observer | None = None) -> None:
        for index, ins in enumerate(self.code):
            if observe is not None and index - 1 in observe[0]:
                observe[1](index - 1, self.mem)
            while self.next_mark < len(self.marks) and self.marks[self.next_mark].start == index:
                self.end_layer()
                self.layer_start = (self.marks[self.next_mark], self.counters.copy(), self.timeline.now)
                self.next_mark += 1
            self.index, self.ins = index, ins
            cls = ins.op.cls
            self.counters.instructions[cls] += 1
            self.timeline.now += self.m.control.issue_cycles
            if ins.op.mnemonic == "END":
                self.timeline.sync()
                self.counters.class_cycles[cls] += self.m.control.issue_cycles
                self.end_layer()
                return
            busy = self.handlers.get(ins.op.mnemonic, self.configure)(ins)
            self.timeline.now += busy
            self.counters.class_cycles[cls] += self.m.control.issue_cycles + busy
        raise ChewcError(f"the program has no END: execution ran past its last instruction ({len(self.code) - 1})")

    def end_layer(self) -> None:
        if self.layer_start is not None:
            mark, counters, now = self.layer_start
            self.layer_costs.append(LayerCost(mark, self.counters.since(counters), self.timeline.now - now))
            self.layer_start = None

    def reg(self, *names: str) -> list[int]:
        missing = [n for n in names if n not in self.regs]
        if missing:
            raise self.fail(f"register '{missing[0]}' is not set (set it with {REGISTERS[missing[0]].mnemonic})")
        return [self.regs[n] for n in names]

    def block(
        self, mem: str, field: str, base: int, planes: int, plane_stride: int, rows: np.ndarray, length: int
    ) -> np.ndarray:
        """Addresses base + p*plane_stride + rows[j] + k (p < planes, k < length), bounds-checked first."""
        reach = (planes - 1) * plane_stride
        lo = base + min(0, reach) + int(rows.min())
        hi = base + max(0, reach) + int(rows.max()) + length - 1
        if lo < 0 or hi >= self.size[mem]:
            raise self.fail(
                f"field '{field}' = {base:#x}: words {lo:#x}..{hi:#x} lie outside {mem.upper()} "
                f"({self.size[mem]} words)"
            )
        starts = base + np.arange(planes, dtype=np.int64)[:, None] * plane_stride + rows[None, :]
        return (starts[:, :, None] + np.arange(length)).ravel()

    def check_written(self, mem: str, addrs: np.ndarray, field: str) -> None:
        unwritten = np.flatnonzero(~self.written[mem][addrs])
        if unwritten.size:
            raise self.fail(f"reads {mem.upper()} word {addrs[unwritten[0]]:#x}, which was never written", field)

    def check_read(self, mem: str, addrs: np.ndarray, field: str) -> None:
        """A compute instruction may read these on-chip words."""
        self.check_written(mem, addrs, field)
        clash = self.dma_writes[mem].first(addrs, self.interval)
        if clash:
            raise self.fail(
                f"reads {mem.upper()} word {clash[0]:#x} while DMA instruction {clash[1]} may still write it "
                "(SYNC first)",
                field,
            )

    def check_outputs(self, prog: ChewProgram) -> None:
        for desc in prog.outputs:
            addrs = np.arange(desc.dram_addr, desc.dram_addr + desc.words)
            missing = np.flatnonzero(~self.written["dram"][addrs])
            if missing.size:
                raise ChewcError(f"output '{desc.name}': DRAM word {addrs[missing[0]]:#x} was never written by the program")

    def write(self, mem: str, addrs: np.ndarray, values: Values, field: str, reads: tuple[Span, ...],
              product: Product | None = None) -> None:
        """A compute instruction writes on-chip words: compute them (data errors first), check, store.
        `reads`: the words it reads; `product`: what it computes, if a CONV on constant weights."""
        result = None if self.dry else values(self)
        for marks, verb in ((self.dma_writes[mem], "write"), (self.dma_reads[mem], "read")):
            clash = marks.first(addrs, self.interval)
            if clash:
                raise self.fail(
                    f"writes {mem.upper()} word {clash[0]:#x} while DMA instruction {clash[1]} may still {verb} it "
                    "(SYNC first)",
                    field,
                )
        self.written[mem][addrs] = True
        self.const[mem][addrs] = False
        if result is None:
            return
        self.mem[mem][addrs] = result
        sel = _select(addrs)
        self.keep(_store(mem, sel, values), sel, reads=reads, writes=Span.of(mem, sel), product=product)

    # --- control, configuration and DMA ----------------------------------------------------------
    def configure(self, ins: Instruction) -> int:
        self.regs.update(ins.as_dict())
        return 0

    def sync(self, ins: Instruction) -> int:
        self.timeline.sync()
        self.interval += 1
        return 0

    def host(self, ins: Instruction) -> int:
        """Wait for the DMAs like SYNC, then run the host step."""
        self.sync(ins)
        k = ins["step"]
        step = self.host_steps.get(k)
        if step is None:
            have = ", ".join(f"host{i}" for i in self.host_steps) or "none"
            raise self.fail(f"the program has no host section 'host{k}' (host sections: {have})", "step")
        if self.dry:
            dram = self.written["dram"]
            for t in step.inputs:
                unwritten = np.flatnonzero(~dram[t.dram_addr : t.dram_addr + t.words])
                if unwritten.size:
                    raise self.fail(f"host step {k}: input '{t.name}' reads DRAM word {t.dram_addr + int(unwritten[0]):#x}, "
                                    "which was never written")
            for t in step.outputs:
                dram[t.dram_addr : t.dram_addr + t.words] = True
            return 0
        kernel = _host_kernel(self.where, k, step)
        kernel(self)
        for t in step.outputs:
            self.const["dram"][t.dram_addr : t.dram_addr + t.words] = False
        spans = [tuple(Span("dram", t.dram_addr, t.dram_addr + t.words) for t in ts if t.words)
                 for ts in (step.inputs, step.outputs)]
        self.keep(kernel, reads=spans[0], writes=spans[1])
        return 0

    def dma(self, ins: Instruction) -> int:
        count, dram_stride, chip_stride = self.reg("count", "dram_stride", "chip_stride")
        mem, length = ins.op.field("mem").enum[ins["mem"]], ins["length"]
        load = ins.op.mnemonic == "DMA.LD"
        dst_field, dst_stride = ("chip", chip_stride) if load else ("dram", dram_stride)
        if count > 1 and abs(dst_stride) < length:
            raise self.fail(f"destination rows overlap (|stride| {abs(dst_stride)} < length {length})", dst_field)
        zero = np.zeros(1, np.int64)
        dram = self.block("dram", "dram", ins["dram"], count, dram_stride, zero, length)
        chip = self.block(mem, "chip", ins["chip"], count, chip_stride, zero, length)
        (src_mem, src, src_field), (dst_mem, dst) = (
            (("dram", dram, "dram"), (mem, chip)) if load else ((mem, chip, "chip"), ("dram", dram))
        )
        self.check_written(src_mem, src, src_field)
        if load:
            # The DMA writes these words until the next SYNC: compute may not touch them meanwhile.
            self.dma_writes[mem].mark(chip, self.interval, self.index)
        else:
            self.dma_reads[mem].mark(chip, self.interval, self.index)
        src_sel, dst_sel = _select(src), _select(dst)

        def copy(s: _State) -> None:
            s.mem[dst_mem][..., dst_sel] = s.mem[src_mem][..., src_sel]

        if not self.dry:
            copy(self)
        self.written[dst_mem][dst] = True
        self.const[dst_mem][dst] = self.const[src_mem][src]
        self.keep(copy, src_sel, dst_sel, reads=Span.of(src_mem, src_sel), writes=Span.of(dst_mem, dst_sel))
        bits = count * length * self.m.memory.dram.word_bits
        self.counters.read_bits[src_mem] += bits
        self.counters.write_bits[dst_mem] += bits
        self.timeline.dma(dma_cycles(self.m, count * length))
        return 0

    # --- windowed compute: CONV, POOL.B, POOL.I ---------------------------------------------------
    def window(self, planes: int, source: str, field: str, base: int) -> _Window:
        """Geometry of a windowed op over the configured input, and the source words it reads."""
        in_h, in_w, buf_row0, buf_rows = self.reg("in_h", "in_w", "buf_row0", "buf_rows")
        kh, kw, stride, dil, pad_top, pad_left = self.reg("kh", "kw", "stride", "dilation", "pad_top", "pad_left")
        out_h, out_w, row0, nrows = self.reg("out_h", "out_w", "row0", "nrows")
        if row0 + nrows > out_h:
            raise self.fail(f"tile rows {row0}..{row0 + nrows - 1} exceed out_h = {out_h} (CFG.TILE / CFG.OUT)")
        if kh > self.m.array.window_h or kw > self.m.array.window_w:
            raise self.fail(f"window {kh}x{kw} exceeds the {self.m.array.window_h}x{self.m.array.window_w} array")
        iy = window_rows(row0, nrows, stride, pad_top, kh, dil)
        ix = np.arange(out_w)[:, None] * stride - pad_left + np.arange(kw)[None, :] * dil
        vy, vx = (iy >= 0) & (iy < in_h), (ix >= 0) & (ix < in_w)
        used = np.unique(iy[vy])
        outside = used[(used < buf_row0) | (used >= buf_row0 + buf_rows)]
        if outside.size:
            raise self.fail(
                f"reads image row {outside[0]}, but the buffer holds rows {buf_row0}..{buf_row0 + buf_rows - 1} "
                "(CFG.BUF)",
                field,
            )
        # Only image rows inside the window are read; a window entirely in padding reads nothing.
        rows = (used - buf_row0) * in_w
        addrs = self.block(source, field, base, planes, buf_rows * in_w, rows, in_w) if used.size else rows
        # Index of each window position in the gathered source rows; padding -> the extra last row/column.
        yi = np.where(vy, np.searchsorted(used, iy), used.size)
        xi = np.where(vx, ix, in_w)
        return _Window(iy, vy, vx, yi, xi, used.size, in_w, addrs)

    def conv(self, ins: Instruction) -> int:
        _, in_w, in_c, pad_mode = self.reg("in_h", "in_w", "in_c", "pad_mode")  # an unset CFG.IN names in_h
        kh, kw, out_w, nrows, oc = self.reg("kh", "kw", "out_w", "nrows", "oc_count")
        if in_w > self.m.array.row_buffer_words:
            raise self.fail(f"in_w = {in_w} exceeds the {self.m.array.row_buffer_words}-word row buffers")
        lanes = CHANNELS_PER_WORD
        groups = ceil(in_c / lanes)
        shift = ins["shift"] if ins.op.mnemonic == "CONV.S" else 0
        pack = self.reg("pack")[0] + 1
        if pack > self.m.array.max_pack:
            raise self.fail(f"CFG.K pack = {pack - 1} reads {pack} channel groups per cycle; machine "
                            f"'{self.m.name}' reads at most {self.m.array.max_pack} (array.max_pack)")
        if pack * kh > self.m.array.window_h:
            raise self.fail(f"CFG.K pack = {pack - 1} stacks {pack} kernels of {kh} rows in the "
                            f"{self.m.array.window_h}-row window")
        win = self.window(groups, "fmem", "fmem", ins["fmem"])
        n_out = oc * nrows * out_w
        zero = np.zeros(1, np.int64)
        w_addrs = self.block("wmem", "wmem", ins["wmem"], 1, 0, zero, oc * groups * kh * kw)
        acc_addrs = self.block("acc", "acc", ins["acc"], 1, 0, zero, n_out)
        self.check_read("fmem", win.addrs, "fmem")
        self.check_read("wmem", w_addrs, "wmem")
        if ins["accumulate"]:
            self.check_read("acc", acc_addrs, "acc")

        # windows hold x + 1 (`runtime.products`): 0 for -1, 2 for +1, 1 for inactive lanes and gated padding
        active = np.arange(groups * lanes) < in_c
        pad = np.where(active, {"neg": 0, "pos": 2, "gate": 1}[self.pad_mode_name(pad_mode)], 1).astype(np.uint8)
        windows = Windows.of(_select(win.addrs), in_c, pad, win.yi, win.xi, win.rows, in_w)
        where, unpacked, w_sel, acc_sel = self.where, _Last(), _select(w_addrs), _select(acc_addrs)
        old_sel = acc_sel if ins["accumulate"] else None
        fits = windows.taps <= INT16_MAX  # a sum of that many +-1 products cannot overflow

        def unpack_weights(wm: np.ndarray) -> Weights:
            """[ky][kx][lane][o] as -1/+1 int8, contiguous."""
            bits = word_bits(wm.reshape(oc, groups, kh, kw)).transpose(2, 3, 1, 4, 0)
            return Weights(np.ascontiguousarray(bits.reshape(windows.taps, oc).astype(np.int8) * 2 - 1))

        # weights DMA brought from the data blocks are the same in every run: unpacked once, here
        constant = not self.dry and bool(self.const["wmem"][w_addrs].all())
        fixed = unpack_weights(self.mem["wmem"][w_sel]) if constant else None

        def values(s: _State) -> np.ndarray:
            fm = s.mem["fmem"][..., windows.sel]
            if fixed is not None:
                w = fixed
            else:
                wm = _shared(s.mem["wmem"][..., w_sel])
                w = unpacked.get(wm.tobytes(), lambda: unpack_weights(wm))
            result = product([windows], [fm[None] if fm.ndim == 1 else fm], w)
            total = result.transpose(0, 2, 1).reshape(fm.shape[:-1] + (-1,))  # [image][o][row][x]
            if shift:
                total <<= shift
            if old_sel is None and fits and not shift:
                return total.astype(np.int16).view(np.uint16)
            if old_sel is not None:
                total += s.mem["acc"][..., old_sel].view(np.int16)
            return _int16(total, acc_addrs, where, "acc")

        source, acc_span = Span.of("fmem", windows.sel), Span.of("acc", acc_sel)
        reads = (*source, *(() if fixed is not None else Span.of("wmem", w_sel)), *(acc_span if ins["accumulate"] else ()))
        fused = None if fixed is None or shift or not acc_span else Product(windows, source, fixed, acc_sel, acc_span[0],
                                                            bool(ins["accumulate"]))
        self.write("acc", acc_addrs, values, "acc", reads, fused)

        return self.charge(conv_work(
            self.m, **self.geometry(), pad_left=self.reg("pad_left")[0], oc=oc, pack=pack - 1,
            gated=self.pad_mode_name(pad_mode) == "gate", accumulate=ins["accumulate"]))

    def pool_bits(self, ins: Instruction) -> int:
        in_c, pad_mode, kh, kw = self.reg("in_c", "pad_mode", "kh", "kw")
        out_w, obuf_rows, nrows = self.reg("out_w", "obuf_rows", "nrows")
        if nrows > obuf_rows:
            raise self.fail(f"nrows = {nrows} exceeds obuf_rows = {obuf_rows}: channel groups would overlap")
        lanes = CHANNELS_PER_WORD
        groups = ceil(in_c / lanes)
        win = self.window(groups, "fmem", "src", ins["src"])
        dst = self.block("fmem", "dst", ins["dst"], groups, obuf_rows * out_w, np.zeros(1, np.int64), nrows * out_w)
        self.check_read("fmem", win.addrs, "src")
        # Channel mask per group: OR must not set the unused channel bits of the last group.
        mask = bits_word((np.arange(groups * lanes) < in_c).reshape(groups, lanes))
        pad = mask if self.pad_mode_name(pad_mode) == "pos" else np.zeros_like(mask)
        rows, in_w, src_sel = win.rows, win.in_w, _select(win.addrs)
        # window position (row, x, ky, kx) -> word of a source plane
        positions = (win.yi[:, None, :, None] * (in_w + 1) + win.xi[None, :, None, :]).reshape(-1)

        def values(s: _State) -> np.ndarray:
            words = s.mem["fmem"][..., src_sel]
            lead = words.shape[:-1]  # (images,) in a batch
            src = np.empty((*lead, groups, rows + 1, in_w + 1), np.uint16)
            src[..., :-1, :-1] = words.reshape(*lead, groups, rows, in_w)
            src[..., -1, :], src[..., :, -1] = pad[:, None], pad[:, None]
            windows = np.take(src.reshape(*lead, groups, -1), positions, axis=-1).reshape(*lead, groups, nrows * out_w,
                                                                                         kh * kw)
            return (np.bitwise_or.reduce(windows, axis=-1) & mask[:, None]).reshape(*lead, -1)

        self.write("fmem", dst, values, "dst", Span.of("fmem", win.addrs))
        return self.charge(pool_work(self.m, "fmem", **self.geometry()))

    def pool_int(self, ins: Instruction) -> int:
        in_c, pad_mode, out_w, nrows = self.reg("in_c", "pad_mode", "out_w", "nrows")
        win = self.window(in_c, "acc", "src", ins["src"])
        n_out = in_c * nrows * out_w
        dst = self.block("acc", "dst", ins["dst"], 1, 0, np.zeros(1, np.int64), n_out)
        self.check_read("acc", win.addrs, "src")
        gated = np.iinfo(np.int32).min
        fill = {"neg": -1, "pos": 1, "gate": gated}[self.pad_mode_name(pad_mode)]
        rows, in_w, src_sel, where = win.rows, win.in_w, _select(win.addrs), self.where
        y_index, x_index = win.yi[:, :, None, None], win.xi[None, None, :, :]

        def values(s: _State) -> np.ndarray:
            words = s.mem["acc"][..., src_sel].view(np.int16)
            lead = words.shape[:-1]  # (images,) in a batch
            src = np.empty((*lead, in_c, rows + 1, in_w + 1), np.int32)
            src[..., :-1, :-1] = words.reshape(*lead, in_c, rows, in_w)
            src[..., -1, :] = src[..., :, -1] = fill
            out = src[..., y_index, x_index].max(axis=(-3, -1))
            # gating depends on neither the channel nor the image
            empty = np.argwhere(out.reshape(-1, *out.shape[-3:])[0, 0] == gated)
            if empty.size:
                raise _error(
                    where, f"the window of tile row {empty[0][0]}, column {empty[0][1]} lies entirely in gated padding"
                )
            return out.astype(np.int16).view(np.uint16).reshape(*lead, -1)

        self.write("acc", dst, values, "dst", Span.of("acc", win.addrs))
        return self.charge(pool_work(self.m, "acc", **self.geometry()))

    # --- element-wise compute ---------------------------------------------------------------------
    def thresh(self, ins: Instruction) -> int:
        out_w, obuf_rows, nrows, n = self.reg("out_w", "obuf_rows", "nrows", "oc_count")
        if nrows > obuf_rows:
            raise self.fail(f"nrows = {nrows} exceeds obuf_rows = {obuf_rows}: channel groups would overlap")
        lanes, zero = CHANNELS_PER_WORD, np.zeros(1, np.int64)
        c0 = ins["c0"]
        g0, planes = c0 // lanes, threshold_planes(c0, n)
        pixels = nrows * out_w
        acc = self.block("acc", "acc", ins["acc"], 1, 0, zero, n * pixels)
        tmem = self.block("tmem", "tmem", ins["tmem"], 1, 0, zero, 2 * n)
        plane = obuf_rows * out_w
        fmem = self.block("fmem", "fmem", ins["fmem"] + g0 * plane, planes, plane, zero, pixels)
        self.check_read("acc", acc, "acc")
        self.check_read("tmem", tmem, "tmem")
        first = c0 - g0 * lanes
        lane = first + np.arange(n)
        # words [plane][pixel] = place @ bits [channel][pixel]: channel c is bit lane % 16 of plane lane // 16
        place = np.zeros((planes, n), np.float32)
        place[lane // lanes, np.arange(n)] = 1 << (lane % lanes)
        # Bit-masked write: the channels of other blocks in the same words are kept.
        keep = np.repeat(~place.sum(axis=1).astype(np.uint16), pixels)
        whole = not keep.any()
        acc_sel, tmem_sel, fmem_sel, where, bounds = _select(acc), _select(tmem), _select(fmem), self.where, _Last()
        # (a float32 product packs the bits faster than np.packbits does: 9 against 38 us for 16 x 784)

        def levels(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            """Per channel, bit = lo <= sum <= hi: ge (lo = T), le (hi = T), +1 (always), -1 (never: lo > hi)."""
            bad = np.flatnonzero(table[:, 1] >= len(THRESHOLD_MODES))
            if bad.size:
                word, held = tmem[2 * bad[0] + 1], table[bad[0], 1]
                raise _error(where, f"TMEM word {word:#x} holds mode {held} ({_MODE_NAMES})", "tmem")
            level, mode = table[:, 0].view(np.int16), table[:, 1]
            lo = np.where(mode == _GE, level, np.where(mode == _MINUS, INT16_MAX, INT16_MIN)).astype(np.int16)
            hi = np.where(mode == _LE, level, np.where(mode == _MINUS, INT16_MIN, INT16_MAX)).astype(np.int16)
            return lo[:, None], hi[:, None]

        # thresholds DMA brought from the data blocks are the same in every run: read once, here
        fixed = levels(self.mem["tmem"][tmem_sel].reshape(n, 2)) \
            if not self.dry and self.const["tmem"][tmem].all() else None

        def values(s: _State) -> np.ndarray:
            sums = s.mem["acc"][..., acc_sel].view(np.int16)
            lead = sums.shape[:-1]  # (images,) in a batch
            v = sums.reshape(*lead, n, pixels)
            if fixed is not None:
                lo, hi = fixed
            else:
                table = _shared(s.mem["tmem"][..., tmem_sel]).reshape(n, 2)
                lo, hi = bounds.get(table.tobytes(), lambda: levels(table))
            words = (place @ ((v >= lo) & (v <= hi)).astype(np.float32)).astype(np.uint16).reshape(*lead, -1)
            return words if whole else (s.mem["fmem"][..., fmem_sel] & keep) | words

        reads = (*Span.of("acc", acc), *(() if fixed is not None else Span.of("tmem", tmem)), *Span.of("fmem", fmem))
        self.write("fmem", fmem, values, "fmem", reads)
        return self.charge(threshold_work(self.m, n, pixels, c0))

    def add(self, ins: Instruction) -> int:
        out_w, nrows, oc = self.reg("out_w", "nrows", "oc_count")
        n, zero = oc * nrows * out_w, np.zeros(1, np.int64)
        a = self.block("acc", "a", ins["a"], 1, 0, zero, n)
        b = self.block("acc", "b", ins["b"], 1, 0, zero, n)
        dst = self.block("acc", "dst", ins["dst"], 1, 0, zero, n)
        self.check_read("acc", a, "a")
        self.check_read("acc", b, "b")
        a_sel, b_sel, where = _select(a), _select(b), self.where

        def values(s: _State) -> np.ndarray:
            acc = s.mem["acc"]
            total = acc[..., a_sel].view(np.int16).astype(np.int64) + acc[..., b_sel].view(np.int16)
            return _int16(total, dst, where, "dst")

        self.write("acc", dst, values, "dst", (*Span.of("acc", a), *Span.of("acc", b)))
        return self.charge(add_work(self.m, n))

    # --- helpers ----------------------------------------------------------------------------------
    def charge(self, work: Work) -> int:
        """Count a compute instruction's events; the cycles it keeps the controller."""
        work.count(self.counters)
        return work.busy

    def geometry(self) -> dict[str, int]:
        """The registers a windowed op's cost reads (`runtime.cost.conv_work`, `pool_work`)."""
        return dict(zip(WINDOW_REGISTERS, self.reg(*WINDOW_REGISTERS), strict=True))

    def pad_mode_name(self, value: int) -> str:
        return REGISTERS["pad_mode"].field("pad_mode").enum[value]


@dataclass(frozen=True)
class _Window:
    iy: np.ndarray  # [tile row, ky] image row read
    vy: np.ndarray  # ... inside the image
    vx: np.ndarray  # [x, kx] column inside the image
    yi: np.ndarray  # [tile row, ky] index into the gathered source rows (rows = padding)
    xi: np.ndarray  # [x, kx] column index (in_w = padding)
    rows: int  # source rows gathered
    in_w: int
    addrs: np.ndarray  # source words, [plane][row][column]


_GE, _LE, _MINUS = (THRESHOLD_MODES.index(m) for m in ("ge", "le", "minus"))  # "plus": neither bound
_MODE_NAMES = ", ".join(f"{i} {m}" for i, m in enumerate(THRESHOLD_MODES))
