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

import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from math import ceil
from pathlib import Path

import numpy as np

from isa.container import ChewProgram, HostStep
from isa.errors import ChewcError
from isa.instruction import Instruction, decode
from isa.machine import Machine, load_machine
from isa.table import CHANNELS_PER_WORD, REGISTERS
from runtime.cost import ON_CHIP, Counters, KernelStats, Timeline, conv_cost, dma_cycles, new_rows, unit_cycles
from runtime.host import bits_word, pack, unpack, word_bits
from runtime.host_steps import run_host_step
from runtime.report import HostStepRow, Report, build_report

MEMORIES = (*ON_CHIP, "dram")
INT16_MIN, INT16_MAX = -(1 << 15), (1 << 15) - 1
# Elements of the unpacked CONV window tensor per chunk of output rows: bounds host memory (~64 MiB).
CHUNK_ELEMENTS = 1 << 24


@dataclass
class EmulationResult:
    outputs: dict[str, np.ndarray]
    report: Report


def load_program(program: ChewProgram | bytes | str | Path) -> ChewProgram:
    if isinstance(program, ChewProgram):
        return program
    if isinstance(program, bytes):
        return ChewProgram.from_bytes(program)
    path = Path(program)
    try:
        blob = path.read_bytes()
    except OSError as e:
        raise ChewcError(f"cannot read {path}: {e.strerror}") from e
    return ChewProgram.from_bytes(blob, str(path))


def decode_program(program: ChewProgram) -> list[Instruction]:
    code = []
    for i, word in enumerate(program.code):
        try:
            code.append(decode(word))
        except ChewcError as e:
            raise ChewcError(f"instruction {i} ({word:#018x}): {e}") from e
    return code


def emulate(
    program: ChewProgram | bytes | str | Path,
    inputs: Mapping[str, np.ndarray] | np.ndarray,
    machine: Machine | None = None,
    vdd: float | None = None,
) -> EmulationResult:
    """Run `program` on `inputs` (by name, or one array for a one-input program) at supply `vdd`."""
    prog = load_program(program)
    machine = machine or load_machine()
    if prog.machine_hash != machine.hash():
        raise ChewcError(
            f"program was built for machine {prog.machine_hash.hex()[:12]}..., not for '{machine.name}' "
            f"({machine.hash().hex()[:12]}...): pass the machine description it was built for"
        )
    prog.check_fits(machine)
    point = machine.operating_point(vdd)
    named = _name_inputs(prog, inputs)
    emu = _Emulator(machine, decode_program(prog), prog.host_steps)
    for block in prog.data:
        emu.host_write(block.dram_addr, block.words)
    for desc in prog.inputs:
        emu.host_write(desc.dram_addr, pack(desc, named[desc.name]))
    emu.run()
    outputs = {}
    for desc in prog.outputs:
        addrs = np.arange(desc.dram_addr, desc.dram_addr + desc.words)
        missing = np.flatnonzero(~emu.written["dram"][addrs])
        if missing.size:
            raise ChewcError(f"output '{desc.name}': DRAM word {addrs[missing[0]]:#x} was never written by the program")
        outputs[desc.name] = unpack(desc, emu.mem["dram"][addrs])
    return EmulationResult(outputs, build_report(machine, point, emu.counters, emu.timeline, emu.host_rows))


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


class _Emulator:
    def __init__(self, machine: Machine, code: list[Instruction], host_steps: dict[int, HostStep]) -> None:
        self.m, self.code, self.host_steps = machine, code, host_steps
        self.host_rows: dict[int, HostStepRow] = {}
        self.size = {name: machine.memory.words(name) for name in MEMORIES}
        self.mem = {name: np.zeros(n, np.uint16) for name, n in self.size.items()}
        self.written = {name: np.zeros(n, bool) for name, n in self.size.items()}
        self.dma_writes = {name: _Marks(self.size[name]) for name in ON_CHIP}
        self.dma_reads = {name: _Marks(self.size[name]) for name in ON_CHIP}
        self.interval = 0
        self.regs: dict[str, int] = {}
        self.counters, self.timeline = Counters(), Timeline()
        self.index, self.ins = 0, code[0] if code else None
        self.handlers: dict[str, Callable[[Instruction], int]] = {
            "SYNC": self.sync,
            "HOST": self.host,
            "DMA.LD": self.dma,
            "DMA.ST": self.dma,
            "CONV": self.conv,
            "THRESH": self.thresh,
            "POOL.B": self.pool_bits,
            "POOL.I": self.pool_int,
            "ADD": self.add,
        }

    # --- plumbing -------------------------------------------------------------------------------
    def fail(self, message: str, field: str | None = None) -> ChewcError:
        assert self.ins is not None
        where = f"instruction {self.index} ({self.ins.op.mnemonic})"
        return ChewcError(f"{where}: field '{field}': {message}" if field else f"{where}: {message}")

    def host_write(self, addr: int, words: np.ndarray) -> None:
        self.mem["dram"][addr : addr + words.size] = words
        self.written["dram"][addr : addr + words.size] = True

    def run(self) -> None:
        for index, ins in enumerate(self.code):
            self.index, self.ins = index, ins
            cls = ins.op.cls
            self.counters.instructions[cls] += 1
            self.timeline.now += self.m.control.issue_cycles
            if ins.op.mnemonic == "END":
                self.timeline.sync()
                self.counters.class_cycles[cls] += self.m.control.issue_cycles
                return
            busy = self.handlers.get(ins.op.mnemonic, self.configure)(ins)
            self.timeline.now += busy
            self.counters.class_cycles[cls] += self.m.control.issue_cycles + busy
        raise ChewcError(f"the program has no END: execution ran past its last instruction ({len(self.code) - 1})")

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

    def read(self, mem: str, addrs: np.ndarray, field: str) -> np.ndarray:
        """A compute instruction reads on-chip words."""
        self.check_written(mem, addrs, field)
        clash = self.dma_writes[mem].first(addrs, self.interval)
        if clash:
            raise self.fail(
                f"reads {mem.upper()} word {clash[0]:#x} while DMA instruction {clash[1]} may still write it "
                "(SYNC first)",
                field,
            )
        return self.mem[mem][addrs]

    def write(self, mem: str, addrs: np.ndarray, values: np.ndarray, field: str) -> None:
        """A compute instruction writes on-chip words."""
        for marks, verb in ((self.dma_writes[mem], "write"), (self.dma_reads[mem], "read")):
            clash = marks.first(addrs, self.interval)
            if clash:
                raise self.fail(
                    f"writes {mem.upper()} word {clash[0]:#x} while DMA instruction {clash[1]} may still {verb} it "
                    "(SYNC first)",
                    field,
                )
        self.mem[mem][addrs] = values
        self.written[mem][addrs] = True

    # --- control, configuration and DMA ----------------------------------------------------------
    def configure(self, ins: Instruction) -> int:
        self.regs.update(ins.as_dict())
        return 0

    def sync(self, ins: Instruction) -> int:
        self.timeline.sync()
        self.interval += 1
        return 0

    def host(self, ins: Instruction) -> int:
        """Wait for the DMAs like SYNC, then run the host step; its wall time is kept apart from cycles."""
        self.sync(ins)
        k = ins["step"]
        step = self.host_steps.get(k)
        if step is None:
            have = ", ".join(f"host{i}" for i in self.host_steps) or "none"
            raise self.fail(f"the program has no host section 'host{k}' (host sections: {have})", "step")
        start = time.perf_counter()
        try:
            ops = run_host_step(k, step, self.mem["dram"], self.written["dram"])
        except ChewcError as e:
            raise self.fail(str(e)) from e
        row = self.host_rows.setdefault(k, HostStepRow(step.reason))
        row.runs += 1
        row.wall_seconds += time.perf_counter() - start
        row.ops = dict(Counter(row.ops) + ops)
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
        self.mem[dst_mem][dst] = self.mem[src_mem][src]
        self.written[dst_mem][dst] = True
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
        iy = (row0 + np.arange(nrows))[:, None] * stride - pad_top + np.arange(kh)[None, :] * dil
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
        in_h, in_w, in_c, pad_mode = self.reg("in_h", "in_w", "in_c", "pad_mode")
        kh, kw, out_w, nrows, oc = self.reg("kh", "kw", "out_w", "nrows", "oc_count")
        if in_w > self.m.array.row_buffer_words:
            raise self.fail(f"in_w = {in_w} exceeds the {self.m.array.row_buffer_words}-word row buffers")
        lanes = CHANNELS_PER_WORD
        groups = ceil(in_c / lanes)
        win = self.window(groups, "fmem", "fmem", ins["fmem"])
        n_out = oc * nrows * out_w
        zero = np.zeros(1, np.int64)
        w_addrs = self.block("wmem", "wmem", ins["wmem"], 1, 0, zero, oc * groups * kh * kw)
        acc_addrs = self.block("acc", "acc", ins["acc"], 1, 0, zero, n_out)
        fm = self.read("fmem", win.addrs, "fmem").reshape(groups, win.rows, in_w)
        wm = self.read("wmem", w_addrs, "wmem").reshape(oc, groups, kh, kw)
        old = self.read("acc", acc_addrs, "acc").view(np.int16).astype(np.int64) if ins["accumulate"] else 0

        active = (np.arange(groups * lanes) < in_c).astype(np.float32)
        pad = {"neg": -active, "pos": active, "gate": 0 * active}[self.pad_mode_name(pad_mode)]
        src = np.empty((win.rows + 1, in_w + 1, groups * lanes), np.float32)
        src[:-1, :-1] = _pm1(word_bits(fm).transpose(1, 2, 0, 3).reshape(win.rows, in_w, groups * lanes)) * active
        src[-1, :], src[:, -1] = pad, pad
        weights = _pm1(word_bits(wm).transpose(0, 2, 3, 1, 4).reshape(oc, -1))  # [o][ky][kx][lane]
        result = np.empty((nrows, out_w, oc), np.float32)
        step = max(1, CHUNK_ELEMENTS // (out_w * kh * kw * groups * lanes))
        for r in range(0, nrows, step):
            patches = src[win.yi[r : r + step, None, :, None], win.xi[None, :, None, :]]
            result[r : r + step] = (patches.reshape(-1, weights.shape[1]) @ weights.T).reshape(-1, out_w, oc)
        total = result.transpose(2, 0, 1).ravel().astype(np.int64) + old
        self.write("acc", acc_addrs, self.int16(total, acc_addrs, "acc"), "acc")

        gated = self.pad_mode_name(pad_mode) == "gate"
        macs = oc * in_c * (int(win.vy.sum()) * int(win.vx.sum()) if gated else nrows * kh * out_w * kw)
        first, later = new_rows(win.iy, in_h)
        cost = conv_cost(
            self.m, groups=groups, oc=oc, nrows=nrows, out_w=out_w, in_w=in_w, kh=kh, kw=kw, first=first, later=later
        )
        c, word = self.counters, self.m.memory.fmem.word_bits
        c.array_cycles += cost.array_cycles
        c.array_stall_cycles += cost.stall_cycles
        c.macs += macs
        c.read_bits["fmem"] += cost.fmem_rows * in_w * word
        c.read_bits["wmem"] += cost.weight_loads * kh * kw * word
        c.write_bits["acc"] += groups * n_out * word
        c.read_bits["acc"] += (groups - 1 + ins["accumulate"]) * n_out * word
        stats = c.kernels.setdefault((kh, kw), KernelStats())
        stats.count += 1
        stats.array_cycles += cost.array_cycles
        stats.macs += macs
        return cost.cycles

    def pool_bits(self, ins: Instruction) -> int:
        in_c, pad_mode, kh, kw = self.reg("in_c", "pad_mode", "kh", "kw")
        out_w, obuf_rows, nrows = self.reg("out_w", "obuf_rows", "nrows")
        if nrows > obuf_rows:
            raise self.fail(f"nrows = {nrows} exceeds obuf_rows = {obuf_rows}: channel groups would overlap")
        lanes = CHANNELS_PER_WORD
        groups = ceil(in_c / lanes)
        win = self.window(groups, "fmem", "src", ins["src"])
        dst = self.block("fmem", "dst", ins["dst"], groups, obuf_rows * out_w, np.zeros(1, np.int64), nrows * out_w)
        words = self.read("fmem", win.addrs, "src").reshape(groups, win.rows, win.in_w)
        # Channel mask per group: OR must not set the unused channel bits of the last group.
        mask = bits_word((np.arange(groups * lanes) < in_c).reshape(groups, lanes))
        src = np.empty((groups, win.rows + 1, win.in_w + 1), np.uint16)
        src[:, :-1, :-1] = words
        pad = mask if self.pad_mode_name(pad_mode) == "pos" else np.zeros_like(mask)
        src[:, -1, :], src[:, :, -1] = pad[:, None], pad[:, None]
        patches = src[:, win.yi[:, :, None, None], win.xi[None, None, :, :]]
        out = np.bitwise_or.reduce(patches, axis=(2, 4)) & mask[:, None, None]
        self.write("fmem", dst, out.ravel(), "dst")
        n_out, word = out.size, self.m.memory.fmem.word_bits
        self.counters.pool_ops += n_out * kh * kw
        self.counters.read_bits["fmem"] += win.addrs.size * word
        self.counters.write_bits["fmem"] += n_out * word
        return unit_cycles(self.m, "pool", n_out * kh * kw, ("fmem", win.addrs.size * word), ("fmem", n_out * word))

    def pool_int(self, ins: Instruction) -> int:
        in_c, pad_mode, kh, kw, out_w, nrows = self.reg("in_c", "pad_mode", "kh", "kw", "out_w", "nrows")
        win = self.window(in_c, "acc", "src", ins["src"])
        n_out = in_c * nrows * out_w
        dst = self.block("acc", "dst", ins["dst"], 1, 0, np.zeros(1, np.int64), n_out)
        values = self.read("acc", win.addrs, "src").view(np.int16).reshape(in_c, win.rows, win.in_w)
        gated = np.iinfo(np.int32).min
        src = np.empty((in_c, win.rows + 1, win.in_w + 1), np.int32)
        src[:, :-1, :-1] = values
        src[:, -1, :] = src[:, :, -1] = {"neg": -1, "pos": 1, "gate": gated}[self.pad_mode_name(pad_mode)]
        out = src[:, win.yi[:, :, None, None], win.xi[None, None, :, :]].max(axis=(2, 4))
        empty = np.argwhere(out[0] == gated)  # gating does not depend on the channel
        if empty.size:
            raise self.fail(
                f"the window of tile row {empty[0][0]}, column {empty[0][1]} lies entirely in gated padding"
            )
        self.write("acc", dst, out.astype(np.int16).view(np.uint16).ravel(), "dst")
        word = self.m.memory.acc.word_bits
        self.counters.pool_ops += n_out * kh * kw
        self.counters.read_bits["acc"] += win.addrs.size * word
        self.counters.write_bits["acc"] += n_out * word
        return unit_cycles(self.m, "pool", n_out * kh * kw, ("acc", win.addrs.size * word), ("acc", n_out * word))

    # --- element-wise compute ---------------------------------------------------------------------
    def thresh(self, ins: Instruction) -> int:
        out_w, obuf_rows, nrows, n = self.reg("out_w", "obuf_rows", "nrows", "oc_count")
        if nrows > obuf_rows:
            raise self.fail(f"nrows = {nrows} exceeds obuf_rows = {obuf_rows}: channel groups would overlap")
        lanes, zero = CHANNELS_PER_WORD, np.zeros(1, np.int64)
        c0 = ins["c0"]
        g0, g1 = c0 // lanes, (c0 + n - 1) // lanes
        pixels = nrows * out_w
        acc = self.block("acc", "acc", ins["acc"], 1, 0, zero, n * pixels)
        tmem = self.block("tmem", "tmem", ins["tmem"], 1, 0, zero, 2 * n)
        plane = obuf_rows * out_w
        fmem = self.block("fmem", "fmem", ins["fmem"] + g0 * plane, g1 - g0 + 1, plane, zero, pixels)
        values = self.read("acc", acc, "acc").view(np.int16).reshape(n, nrows, out_w)
        table = self.read("tmem", tmem, "tmem").reshape(n, 2)
        bad = np.flatnonzero(table[:, 1] > 3)
        if bad.size:
            raise self.fail(
                f"TMEM word {tmem[2 * bad[0] + 1]:#x} holds mode {table[bad[0], 1]} (0 ge, 1 le, 2 +1, 3 -1)", "tmem"
            )
        level, mode = table[:, 0].view(np.int16)[:, None, None], table[:, 1][:, None, None]
        bits = np.where(mode == 0, values >= level, np.where(mode == 1, values <= level, mode == 2))
        first = c0 - g0 * lanes
        lane_bits = np.zeros(((g1 - g0 + 1) * lanes, nrows, out_w), bool)
        lane_bits[first : first + n] = bits
        lane_mask = np.zeros((g1 - g0 + 1) * lanes, bool)
        lane_mask[first : first + n] = True
        words = bits_word(lane_bits.reshape(g1 - g0 + 1, lanes, nrows, out_w).transpose(0, 2, 3, 1)).ravel()
        mask = np.repeat(bits_word(lane_mask.reshape(-1, lanes)), pixels)
        # Bit-masked write: the channels of other blocks in the same words are kept.
        self.write("fmem", fmem, (self.mem["fmem"][fmem] & ~mask) | words, "fmem")
        word = self.m.memory.acc.word_bits
        self.counters.threshold_ops += n * pixels
        self.counters.read_bits["acc"] += n * pixels * word
        self.counters.read_bits["tmem"] += 2 * n * self.m.memory.tmem.word_bits
        self.counters.write_bits["fmem"] += n * pixels
        return unit_cycles(
            self.m,
            "threshold",
            n * pixels,
            ("acc", n * pixels * word),
            ("tmem", 2 * n * self.m.memory.tmem.word_bits),
            ("fmem", fmem.size * self.m.memory.fmem.word_bits),
        )

    def add(self, ins: Instruction) -> int:
        out_w, nrows, oc = self.reg("out_w", "nrows", "oc_count")
        n, zero = oc * nrows * out_w, np.zeros(1, np.int64)
        a = self.block("acc", "a", ins["a"], 1, 0, zero, n)
        b = self.block("acc", "b", ins["b"], 1, 0, zero, n)
        dst = self.block("acc", "dst", ins["dst"], 1, 0, zero, n)
        total = self.read("acc", a, "a").view(np.int16).astype(np.int64) + self.read("acc", b, "b").view(np.int16)
        self.write("acc", dst, self.int16(total, dst, "dst"), "dst")
        word = self.m.memory.acc.word_bits
        self.counters.add_ops += n
        self.counters.read_bits["acc"] += 2 * n * word
        self.counters.write_bits["acc"] += n * word
        return unit_cycles(self.m, "add", n, ("acc", 2 * n * word), ("acc", n * word))

    # --- helpers ----------------------------------------------------------------------------------
    def int16(self, values: np.ndarray, addrs: np.ndarray, field: str) -> np.ndarray:
        """int16 words of `values`; a value outside int16 is an error, never a silent wrap."""
        over = np.flatnonzero((values < INT16_MIN) | (values > INT16_MAX))
        if over.size:
            k = over[0]
            raise self.fail(f"int16 overflow: {values[k]} for ACC word {addrs[k]:#x}", field)
        return values.astype(np.int16).view(np.uint16)

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


def _pm1(bits: np.ndarray) -> np.ndarray:
    return bits.astype(np.float32) * 2 - 1
