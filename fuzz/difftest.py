"""Differential testing of chewc on random valid binary networks, against onnxruntime, bit for bit.

    python -m fuzz.difftest --count 3000 --jobs 2 --seed 0 [--out DIR] [--json FILE]
    python -m fuzz.difftest --replay SEED [--limits SPEC]     # one network, reported in full

Each network (`fuzz.netgen.generate(seed)`) is compiled with the library API on the default machine and
on a random smaller one (a .toml that `extends` the default with smaller memories, half the time with
the tap-packing extension). Every IR level is executed with its reference semantics (bnn after import
and after each bnn pass, tile, chewbacca; on the small machine only the machine-dependent levels from
tile-loops on, the bnn passes being the same), and the emitted program runs on the emulator; all are
compared with onnxruntime exactly.

Every network gets one class, the worst over both machines:
  ok         everything equals the reference
  refused    compile_model raised a ChewcError (an unsupported feature, a memory too small)
  run-fails  it compiled, but the emulator or an IR-level interpreter raised a ChewcError
  mismatch   some level or the emulator differs from the reference (the first such stage is named)
  crash      a non-ChewcError exception anywhere (compiler, interpreter or emulator)
  timeout    over the per-network time limit
The report counts classes, refusal reasons and failures (messages normalised so that they group) and
features; each failure signature is shrunk (regenerated with features switched off and smaller sizes
while it fails the same way) and saved as a reproducer folder with the command that shows it.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing as mp
import multiprocessing.connection
import random
import re
import sys
import tempfile
import time
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass

from compiler.driver import LEVEL_END, compile_model
from compiler.first_layer import parse_grid
from compiler.pipeline_debug import PassHook, PassRunner, Step, format_ir
from fuzz.netgen import FEATURES, Limits, Network, generate, save_reproducer
from isa.container import ChewProgram
from isa.errors import ChewcError, first_line
from isa.machine import DEFAULT_MACHINE, Machine, load_machine
from runtime.emulator import emulate, emulate_batch
from runtime.reference import OnnxReference, check_program
from runtime.mlir_run import compare, execute, output_names, parse_module

CLASSES = ("ok", "refused", "run-fails", "mismatch", "crash", "timeout")
SEVERITY = {c: i for i, c in enumerate(CLASSES)}
FAILURES = ("run-fails", "mismatch", "crash", "timeout")  # what the test suite must never see
DEFAULT_TIMEOUT = 60.0
BASE_FEATURES = ("sign_input",)  # what a network falls back to: switching it off changes nothing
TEXT_STAGES = ("bnn", *(p for p in LEVEL_END.values() if p))  # the stage that ends each IR level
SMALL_MEMORIES = {  # bytes; the default is 64 / 16 / 2 / 32 KiB
    "fmem": (4096, 8192, 16384, 32768),
    "wmem": (2048, 4096, 8192),
    "tmem": (512, 1024),
    "acc": (4096, 8192, 16384),
}


@dataclass(frozen=True)
class Verdict:
    """How one network fared on one machine."""

    cls: str
    stage: str = ""  # where: compile, an IR level ("bnn", a pass name), emulator
    detail: str = ""  # a ChewcError's whole message (to check it is one line), else the first line

    @property
    def line(self) -> str:
        return self.detail.splitlines()[0] if self.detail else ""

    @property
    def key(self) -> str:
        """What groups failures: the class, stage and normalised message ("the same way"); a mismatch by
        whether sizes or values differ and the op whose output differs (netgen names tensors by op)."""
        if self.cls == "mismatch":
            what = "sizes differ" if " values, the reference " in self.detail else "values differ"
            op = re.search(r"output '([A-Za-z]+)", self.detail)
            return f"mismatch at {self.stage}: {what}{f' ({op.group(1)} output)' if op else ''}"
        if self.cls == "refused":
            return f"refused: {normalise(self.line)}"
        return f"{self.cls} at {self.stage}: {normalise(self.line)}"


@dataclass(frozen=True)
class Outcome:
    """One network's result: its worst verdict, and what it was."""

    seed: int
    limits: str  # Limits.spec()
    verdict: Verdict
    machine: str  # the machine of the verdict: "default" or "small"
    by_machine: dict[str, str] = field(default_factory=dict)  # machine -> class
    features: tuple[str, ...] = ()
    description: str = ""
    size: tuple[int, int] = (0, 0)
    depth: int = 0  # body layers drawn (Network.depth)
    seconds: float = 0.0

    @property
    def cls(self) -> str:
        return self.verdict.cls


def normalise(message: str) -> str:
    """A message with its numbers, names, paths and lists blanked, so that one cause groups as one reason."""
    text = re.sub(r"(/[\w.+-]+)+/?", "<path>", message)
    text = re.sub(r"'[^']*'", "'_'", text)
    text = re.sub(r"-?\b\d[\d.]*(e[+-]?\d+)?\b", "#", text)
    text = re.sub(r"\b\w*\d\w*\b", "#", text)  # names with digits: conv12, int16, 3x3
    text = re.sub(r"[\[(][#,\s_']*[\])]", "[#]", text)
    return re.sub(r"#(\s*[x#])+", "#", text)


# ------------------------------------------------------------------------------------------------
# Machines
# ------------------------------------------------------------------------------------------------


def small_machine_toml(seed: int) -> str:
    """A machine that extends the default one with 1-3 smaller memories, and half the time the tap-packing
    extension, chosen by `seed` alone (so that shrinking the network keeps the machine)."""
    rng = random.Random(f"machine/{seed}")
    lines = [f'extends = "{DEFAULT_MACHINE}"', 'name = "fuzz-small"',
             'description = "ChewBaccaNN with smaller on-chip memories (fuzz/difftest.py)"']
    for mem in sorted(rng.sample(sorted(SMALL_MEMORIES), rng.randint(1, 3))):
        size = rng.choice(SMALL_MEMORIES[mem])
        lines += ["", f"[memory.{mem}]", f'size_bytes = {{ value = {size}, tag = "A", note = "difftest: smaller than the default" }}']
    if rng.random() < 0.5:  # the tap-packing extension: the same sums in fewer window cycles
        lines += ["", "[array]", f'max_pack = {{ value = {rng.randint(2, 7)}, tag = "A", note = "difftest: tap packing" }}']
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------
# Checking one network
# ------------------------------------------------------------------------------------------------


class LevelCheck(PassHook):
    """Executes the IR after import and after every pass and keeps the first problem. It never raises,
    so that compilation goes on. With `through_text` the stage ending each level (what `--emit=bnn`,
    `--emit=tile` and `--emit=chewbacca` give) is printed and re-parsed first, as a user hands it to
    chewc-run: the printer and parser are under test too (at about half the cost of a stage)."""

    def __init__(self, inputs: Sequence[np.ndarray], want: Sequence[dict[str, np.ndarray]], machine: Machine,
                 from_pass: str | None, through_text: bool) -> None:
        self.inputs, self.want, self.machine = inputs, want, machine
        self.from_pass = from_pass  # levels before this pass's result are not executed (None: all)
        self.through_text = through_text
        self.active = from_pass is None
        self.problem: Verdict | None = None

    def start(self, module: ModuleOp, passes: Sequence[ModulePass]) -> None:
        self.check(module, "bnn")

    def after_pass(self, step: Step) -> None:
        self.active = self.active or step.name == self.from_pass
        self.check(step.module, step.name)

    def check(self, module: ModuleOp, stage: str) -> None:
        if not self.active or self.problem is not None:
            return
        try:
            text = self.through_text and stage in TEXT_STAGES
            parsed = parse_module(format_ir(module), stage) if text else module  # as a dump is printed
            for i, (x, want) in enumerate(zip(self.inputs, self.want, strict=True)):
                mismatch = compare(output_names(parsed), execute(parsed, [x], self.machine), want)
                if mismatch is not None:
                    self.problem = Verdict("mismatch", stage, f"input #{i}: {mismatch.detail}")
                    return
        except ChewcError as e:
            self.problem = Verdict("run-fails", stage, str(e))
        except Exception as e:  # noqa: BLE001 -- any other exception of an interpreter is a crash
            self.problem = Verdict("crash", stage, f"{type(e).__name__}: {first_line(e)}")


def check_on_machine(net: Network, model: Path, want: Sequence[dict[str, np.ndarray]], machine_path: Path | None,
                     full: bool) -> Verdict:
    """Compile `model` for one machine, executing the levels on the way, then emulate and compare.
    `full`: every level, through text; else the machine-dependent ones (from tile-loops), directly."""
    machine = load_machine(machine_path)
    levels = LevelCheck(net.inputs, want, machine, None if full else "tile-loops", through_text=full)
    try:
        compiled = compile_model(model, machine_path=str(machine_path) if machine_path else None,
                                 runner=PassRunner(hooks=[levels]), first_layer=net.first_layer,
                                 input_grid=parse_grid(net.input_grid) if net.input_grid else None)
    except ChewcError as e:
        return levels.problem or Verdict("refused", "compile", str(e))
    except Exception as e:  # noqa: BLE001 -- a compiler crash
        return worst(levels.problem, Verdict("crash", "compile", f"{type(e).__name__}: {first_line(e)}"))
    if levels.problem is not None:
        return levels.problem
    assert compiled.program is not None
    try:
        _, mismatch = check_program(compiled.program, model, net.inputs, machine)
    except ChewcError as e:
        return Verdict("run-fails", "emulator", str(e))
    except Exception as e:  # noqa: BLE001 -- an emulator crash
        return Verdict("crash", "emulator", f"{type(e).__name__}: {first_line(e)}")
    if mismatch is not None:
        return Verdict("mismatch", "emulator", mismatch.message)
    return fast_paths(compiled.program, net.inputs, machine)


def fast_paths(prog: ChewProgram, inputs: Sequence[np.ndarray], machine: Machine) -> Verdict:
    """The replays (fused: `runtime.fusion`) and the inputs emulated stacked (`emulate_batch`, two at a
    time) must give each checked run's outputs, the reference path's."""
    try:
        checked = [emulate(prog, x, machine, checked=True).outputs for x in inputs]
        paths = {"replay": [emulate(prog, x, machine).outputs for x in inputs],
                 "batched run": [r.outputs for r in emulate_batch(prog, list(inputs) * 2, machine, batch=2)]}
    except ChewcError as e:
        return Verdict("run-fails", "emulator", f"fast paths: {e}")
    except Exception as e:  # noqa: BLE001 -- an emulator crash
        return Verdict("crash", "emulator", f"fast paths: {type(e).__name__}: {first_line(e)}")
    for path, runs in paths.items():
        for i, (a, b) in enumerate(zip(checked * 2, runs, strict=False)):
            differ = [k for k in a if not np.array_equal(a[k], b[k])]
            if differ:
                return Verdict("mismatch", "emulator", f"input #{i % len(inputs)}: output '{differ[0]}' of the {path} "
                               "differs from the checked run's")
    return Verdict("ok")


def worst(a: Verdict | None, b: Verdict) -> Verdict:
    return b if a is None or SEVERITY[b.cls] > SEVERITY[a.cls] else a


def check_network(seed: int, limits_spec: str, small_machine: bool = True) -> Outcome:
    """Generate the network of (seed, limits) and check it on the default and the small machine."""
    start = time.perf_counter()
    net = generate(seed, Limits.parse(limits_spec))
    with tempfile.TemporaryDirectory(prefix="difftest-") as tmp:
        model = Path(tmp) / "model.onnx"
        model.write_bytes(net.model.SerializeToString())
        reference = OnnxReference(model)
        want = [reference.run(x) for x in net.inputs]
        machines: list[tuple[str, Path | None]] = [("default", None)]
        if small_machine:
            (Path(tmp) / "small.toml").write_text(small_machine_toml(seed))
            machines.append(("small", Path(tmp) / "small.toml"))
        verdicts = {name: check_on_machine(net, model, want, path, name == "default") for name, path in machines}
    machine = max(verdicts, key=lambda m: SEVERITY[verdicts[m].cls])
    return Outcome(seed, limits_spec, verdicts[machine], machine, {m: v.cls for m, v in verdicts.items()},
                   tuple(sorted(net.features)), net.description, net.size, net.depth, time.perf_counter() - start)


# ------------------------------------------------------------------------------------------------
# Worker processes with a time limit per network
# ------------------------------------------------------------------------------------------------

Task = tuple[int, str]  # (seed, limits spec)


def _serve(conn: mp.connection.Connection, small_machine: bool) -> None:
    """A worker: check networks until told to stop (None). Any exception is reported, not raised."""
    logging.disable(logging.WARNING)
    warnings.simplefilter("ignore")
    while (task := conn.recv()) is not None:
        seed, spec = task
        try:
            outcome = check_network(seed, spec, small_machine)
        except Exception as e:  # noqa: BLE001 -- the generator itself failed: report it as a crash
            outcome = Outcome(seed, spec, Verdict("crash", "generator", f"{type(e).__name__}: {first_line(e)}"), "")
        conn.send(outcome)


@dataclass
class _Worker:
    process: mp.process.BaseProcess
    conn: mp.connection.Connection
    task: Task | None = None
    deadline: float = 0.0


class Pool:
    """`jobs` worker processes fed one network at a time; a network over `timeout` seconds kills its
    worker (which is replaced) and counts as a timeout."""

    def __init__(self, jobs: int, timeout: float = DEFAULT_TIMEOUT, small_machine: bool = True) -> None:
        self.ctx = mp.get_context("spawn")  # a clean interpreter: no onnxruntime threads forked mid-state
        self.timeout, self.small_machine = timeout, small_machine
        self.workers = [self._spawn() for _ in range(max(1, jobs))]

    def _spawn(self) -> _Worker:
        parent, child = self.ctx.Pipe()
        process = self.ctx.Process(target=_serve, args=(child, self.small_machine), daemon=True)
        process.start()
        child.close()
        return _Worker(process, parent)

    def _replace(self, w: _Worker) -> None:
        w.process.kill()
        w.process.join()
        self.workers[self.workers.index(w)] = self._spawn()

    def run(self, tasks: Iterable[Task]) -> Iterator[Outcome]:
        """Outcomes of `tasks`, in completion order."""
        pending = iter(tasks)
        while True:
            for w in self.workers:
                if w.task is None and (task := next(pending, None)) is not None:
                    w.conn.send(task)
                    w.task, w.deadline = task, time.monotonic() + self.timeout
            busy = [w for w in self.workers if w.task is not None]
            if not busy:
                return
            wait = max(0.0, min(w.deadline for w in busy) - time.monotonic())
            ready = set(mp.connection.wait([w.conn for w in busy], timeout=wait))
            for w in busy:
                seed, spec = w.task  # type: ignore[misc]
                if w.conn in ready:
                    try:
                        outcome = w.conn.recv()
                    except (EOFError, OSError):  # the worker died (a segfault in a native library)
                        outcome = Outcome(seed, spec, Verdict("crash", "worker", f"worker exited with code {w.process.exitcode}"), "")
                        self._replace(w)
                    w.task = None
                    yield outcome
                elif time.monotonic() >= w.deadline:
                    self._replace(w)
                    yield Outcome(seed, spec, Verdict("timeout", "network", f"over {self.timeout:g} s"), "")

    def close(self) -> None:
        for w in self.workers:
            if w.task is None and w.process.is_alive():
                w.conn.send(None)
            else:
                w.process.kill()
            w.process.join(timeout=10)

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ------------------------------------------------------------------------------------------------
# Shrinking
# ------------------------------------------------------------------------------------------------


def smaller_limits(outcome: Outcome) -> list[Limits]:
    """Neighbours of a failing network's limits: each body layer left out, each feature it uses switched
    off, each size lowered."""
    limits = Limits.parse(outcome.limits)
    out = [replace(limits, skip=limits.skip | {i}) for i in range(outcome.depth) if i not in limits.skip]
    out += [limits.without(f) for f in outcome.features if f not in BASE_FEATURES]
    for name, floor in (("max_layers", 1), ("max_map", 4), ("max_channels", 1), ("max_units", 1)):
        value = getattr(limits, name)
        if value > floor:
            out.append(replace(limits, **{name: max(floor, value // 2 if name != "max_layers" else value - 1)}))
    return out


def shrink(pool: Pool, start: Outcome, budget: int, rng: random.Random) -> tuple[Outcome, int]:
    """The smallest network failing like `start` (same class, stage and normalised message) that regeneration
    with fewer layers and features and smaller sizes reaches within `budget` checks; and the checks spent.

    Each round checks the best network's seed under each smaller limit; when none fails alike, a few
    fresh seeds under those limits; it stops when neither gives a smaller network failing alike.
    """
    best, key, spent = start, start.verdict.key, 0
    while spent < budget:
        neighbours = smaller_limits(best) or [Limits.parse(best.limits)]
        for tasks in ([(best.seed, lim.spec()) for lim in neighbours],
                      [(rng.randrange(10**9), lim.spec()) for lim in neighbours][:6]):
            tasks = tasks[: budget - spent]
            spent += len(tasks)
            same = [o for o in pool.run(tasks) if o.verdict.key == key and rank(o) < rank(best)]
            if same:
                best = min(same, key=rank)
                break
        else:
            break
    return best, spent


def reproducers(pool: Pool, group: Sequence[Outcome], budget: int, rng: random.Random,
                most: int = 3) -> Iterator[tuple[Outcome, int]]:
    """Shrunk reproducers of one failure signature: one from its smallest member, then more from the
    members that lack a feature of the last one found (one symptom may have several causes), up to `most`."""
    remaining, seen = list(group), set()
    while remaining and len(seen) < most:
        start = min(remaining, key=rank)
        if start.cls == "timeout" or start.verdict.stage in ("generator", "worker"):
            yield start, 0  # nothing to regenerate, or a minute per try
            return
        best, spent = shrink(pool, start, budget, rng)
        if (best.seed, best.limits) not in seen:
            seen.add((best.seed, best.limits))
            yield best, spent
        essential = set(best.features) - set(BASE_FEATURES)
        remaining = [o for o in remaining if o is not start and not essential <= set(o.features)]


def rank(o: Outcome) -> tuple[int, int, int]:
    return o.size[0], o.size[1], len(o.features)


def save(outcome: Outcome, folder: Path) -> str:
    """The reproducer folder of an outcome; returns its command line."""
    if outcome.verdict.stage == "generator":  # no network to save: the generator itself failed
        command = f"python -m fuzz.difftest --replay {outcome.seed} --limits '{outcome.limits}'"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "cmd.sh").write_text(f"#!/bin/sh\n# {outcome.verdict.line}\n{command}\n")
        return command
    net = generate(outcome.seed, Limits.parse(outcome.limits))
    toml = small_machine_toml(outcome.seed) if outcome.machine == "small" else None
    command = save_reproducer(net, folder, toml, f"{outcome.verdict.key} -- {outcome.verdict.line}")
    if outcome.verdict.stage == "emulator" and outcome.cls == "mismatch":
        with (folder / "cmd.sh").open("a") as f:
            f.write(f"# the first pass whose IR differs: chewc model.onnx --bisect --input input.npy"
                    f"{' --machine machine.toml' if toml else ''}\n")
    if outcome.verdict.stage not in ("compile", "emulator", "network", "worker"):
        m = " --machine machine.toml" if toml else ""
        stage = "--emit=bnn" if outcome.verdict.stage == "bnn" else f"--stop-after={outcome.verdict.stage}"
        level = (f"chewc model.onnx {stage}{m} -o stage.mlir && "
                 f"chewc-run stage.mlir --input input.npy --check model.onnx{m}")
        with (folder / "cmd.sh").open("a") as f:
            f.write(f"# the IR level that differs or fails:\n# {level}\n")
    return command


# ------------------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------------------


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0
    reproducers: list[dict[str, object]] = field(default_factory=list)

    def classes(self) -> Counter[str]:
        return Counter(o.cls for o in self.outcomes)

    def by_key(self, classes: Sequence[str]) -> dict[str, list[Outcome]]:
        groups: dict[str, list[Outcome]] = defaultdict(list)
        for o in self.outcomes:
            if o.cls in classes:
                groups[o.verdict.key].append(o)
        return dict(sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])))

    def features(self) -> dict[str, Counter[str]]:
        table: dict[str, Counter[str]] = {f: Counter() for f in FEATURES}
        for o in self.outcomes:
            for f in o.features:
                table[f][o.cls] += 1
        return table

    def to_json(self) -> dict[str, object]:
        return {
            "networks": len(self.outcomes),
            "seconds": round(self.seconds, 1),
            "seconds_per_network": round(self.seconds / max(1, len(self.outcomes)), 3),
            "classes": {c: self.classes()[c] for c in CLASSES},
            "by_machine": {m: dict(Counter(o.by_machine.get(m, "") for o in self.outcomes if m in o.by_machine))
                           for m in ("default", "small")},
            "refusals": {k: len(v) for k, v in self.by_key(["refused"]).items()},
            "failures": {k: {"count": len(v), "seeds": [o.seed for o in v[:20]], "example": v[0].verdict.line}
                         for k, v in self.by_key(FAILURES).items()},
            "features": {f: dict(c) for f, c in self.features().items()},
            "reproducers": self.reproducers,
        }

    def text(self) -> str:
        n = max(1, len(self.outcomes))
        lines = [f"{len(self.outcomes)} networks in {self.seconds:.0f} s "
                 f"({self.seconds / n:.2f} s per network of wall time)", "", "class        networks  default  small"]
        per = {m: Counter(o.by_machine.get(m) for o in self.outcomes) for m in ("default", "small")}
        for c in CLASSES:
            lines.append(f"{c:<12} {self.classes()[c]:>8}  {per['default'][c]:>7}  {per['small'][c]:>5}")
        lines += ["", "refusal reasons (normalised):"]
        for key, group in self.by_key(["refused"]).items():
            lines.append(f"  {len(group):>5}  {key.removeprefix('refused: ')}")
            lines.append(f"         e.g. seed {group[0].seed}: {group[0].verdict.line[:160]}")
        lines += ["", "failures (class at stage: normalised message):"]
        for key, group in self.by_key(FAILURES).items():
            lines.append(f"  {len(group):>5}  {key}")
            lines.append(f"         e.g. seed {group[0].seed} ({group[0].machine}): {group[0].verdict.line[:160]}")
        lines += ["", "features            " + "".join(f"{c:>10}" for c in ("networks", *CLASSES[:5]))]
        for f, counts in self.features().items():
            lines.append(f"  {f:<18}{sum(counts.values()):>10}" + "".join(f"{counts[c]:>10}" for c in CLASSES[:5]))
        if self.reproducers:
            lines += ["", "shrunk reproducers:"]
            for r in self.reproducers:
                lines += [f"  {r['key']}", f"    {r['path']}  (seed {r['seed']}, {r['nodes']} nodes, "
                          f"{r['values']} values, {r['machine']} machine)", f"    network: {r['description']}",
                          f"    detail:  {r['detail']}", f"    cd {r['path']} && {r['command']}"]
        return "\n".join(lines)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60]


def run(count: int, seed: int, jobs: int, limits: Limits, out: Path | None, timeout: float,
        shrink_budget: int, max_reproducers: int, progress: bool = True) -> Report:
    """Check `count` networks from `seed` on, then shrink and save one reproducer per failure signature."""
    report = Report()
    start = time.perf_counter()
    with Pool(jobs, timeout) as pool:
        for i, outcome in enumerate(pool.run((s, limits.spec()) for s in range(seed, seed + count)), 1):
            report.outcomes.append(outcome)
            if progress and (i % 50 == 0 or i == count):
                bad = sum(o.cls in FAILURES for o in report.outcomes)
                print(f"[{i}/{count}] {time.perf_counter() - start:.0f} s, {bad} failing", file=sys.stderr, flush=True)
        report.seconds = time.perf_counter() - start
        if out is None:
            return report
        rng = random.Random(seed)
        groups = list(report.by_key(FAILURES).items())[:max_reproducers]
        for n, (key, group) in enumerate(groups, 1):
            for best, spent in reproducers(pool, group, shrink_budget, rng):
                folder = out / f"{n:02d}{chr(ord('a') + sum(r['key'] == key for r in report.reproducers))}-{slug(key)}"
                command = save(best, folder)
                report.reproducers.append({
                    "key": key, "path": str(folder), "seed": best.seed, "limits": best.limits, "machine": best.machine,
                    "nodes": best.size[0], "values": best.size[1], "description": best.description,
                    "features": list(best.features), "detail": best.verdict.line, "command": command,
                    "shrink_checks": spent,
                })
                if progress:
                    print(f"shrunk {n}/{len(groups)}: {key} -> {folder} ({spent} checks)", file=sys.stderr, flush=True)
    return report


def replay(seed: int, limits: Limits) -> int:
    """Check one network in this process and print everything about it."""
    outcome = check_network(seed, limits.spec())
    print(json.dumps({k: v for k, v in asdict(outcome).items()}, indent=2, default=str))
    return 1 if outcome.cls in FAILURES else 0


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m fuzz.difftest", description=__doc__.splitlines()[0])
    p.add_argument("--count", type=int, default=500, help="networks to check (default 500)")
    p.add_argument("--seed", type=int, default=0, help="first seed; network i is generate(seed + i)")
    p.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    p.add_argument("--limits", default=Limits().spec(), help="generator limits, e.g. 'map=12,channels=16,off=residual'")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per network (default 60)")
    p.add_argument("--out", type=Path, help="write one shrunk reproducer per failure signature here")
    p.add_argument("--shrink-budget", type=int, default=80, help="checks spent shrinking each signature (default 80)")
    p.add_argument("--max-reproducers", type=int, default=20, help="failure signatures to shrink (default 20)")
    p.add_argument("--json", type=Path, help="write the counts as JSON here")
    p.add_argument("--replay", type=int, metavar="SEED", help="check one network in-process and print its outcome")
    args = p.parse_args(argv)
    limits = Limits.parse(args.limits)
    if args.replay is not None:
        return replay(args.replay, limits)
    report = run(args.count, args.seed, args.jobs, limits, args.out, args.timeout, args.shrink_budget,
                 args.max_reproducers)
    print(report.text())
    if args.json:
        args.json.write_text(json.dumps(report.to_json(), indent=2) + "\n")
    return 1 if any(report.classes()[c] for c in FAILURES) else 0


if __name__ == "__main__":
    sys.exit(main())
