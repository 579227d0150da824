"""Compile and emulation speed of chewc against onnxruntime, on one thread, in-process and as processes.

    python benchmarks/bench.py [--rounds 7] [--inputs 10] [--compiles 5] [--batch 100] [--only cnv] [--no-imagenet]

Per model (every example, the real CNV-W1A1 plain and QONNX and LFC-W1A1 when the shared data folder
exists, and binary ResNet-18 at 224 px from examples/resnets.py): compile time, the first emulation (a
checked run, which leaves the replay plan later runs use), then emulation and onnxruntime per inference
and their ratio, and per image in a batch of --batch images stacked (`emulate_batch`). Each round runs
the emulator, then onnxruntime, on the same --inputs inputs; a ratio is taken per round, so load from
other processes that changes between rounds biases neither side.
Times are this thread's CPU time (onnxruntime on one thread runs in the calling thread).

Then processes, alternated round by round: a `chewc-run` process on one CNV-W1A1 image against a
minimal onnxruntime script on the same image, `chewc-run --help`, and a `chewc` process compiling
CNV-W1A1; their CPU time (user + system, of the child). Every figure is the median over the rounds,
with the least and the most beside it; the machine's load average is printed before and after. It
ends with the targets, each against the median, PASS or FAIL, and exits with 1 on a FAIL.
"""

from __future__ import annotations

import os

# One thread for numpy's BLAS too: must precede the first numpy import.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "examples"))

import resnets  # noqa: E402

from compiler.driver import compile_model  # noqa: E402
from isa.machine import load_machine  # noqa: E402
from runtime.datasets import REAL_MODELS, data_dir, quantize_q17  # noqa: E402
from runtime.emulator import emulate, emulate_batch  # noqa: E402
from runtime.onnx_ref import first_input_name, is_qonnx  # noqa: E402

BIN = Path(sys.executable).parent
# issue 15's targets, against medians: emulation / onnxruntime per image, processes, compile time
TARGETS_EMU = {"cnv": 1.0, "resnet18_224": 1.0, "lfc": 1.5}
MAX_PROCESS_OVER_ORT = 2.5  # a chewc-run process on one CNV image against a minimal onnxruntime script
MAX_COMPILE_S = 0.15  # CNV-W1A1 in-process
MAX_COMPILE_PROCESS_S = 0.8  # CNV-W1A1 as a chewc process (CPU time)

Inputs = Callable[[int], list[np.ndarray]]


@dataclass(frozen=True)
class Spread:
    """Median, least and most of a sample."""

    median: float
    low: float
    high: float

    @staticmethod
    def of(values: Sequence[float]) -> Spread:
        return Spread(statistics.median(values), min(values), max(values))

    def show(self, unit: str = "", scale: float = 1.0, digits: int = 3) -> str:
        f = f"{{:.{digits}f}}"
        return f"{f.format(self.median * scale)}{unit} ({f.format(self.low * scale)}-{f.format(self.high * scale)})"


@dataclass
class Row:
    model: str
    compile_s: Spread
    first_ms: float
    emu_s: Spread  # CPU time per inference
    ort_s: Spread | None  # None: onnxruntime cannot run the model (QONNX custom ops)
    ratio: Spread | None  # of CPU times, per round
    batch_ratio: Spread | None  # emulate_batch of BATCH images, per image, against onnxruntime per image


def example_inputs(path: Path, n: int) -> list[np.ndarray]:
    """Seeded random pixels in the encoding the model declares (metadata `chewc.input`)."""
    model = onnx.load(str(path))
    shape = [d.dim_value or 1 for d in model.graph.input[0].type.tensor_type.shape.dim]
    q17 = {p.key: p.value for p in model.metadata_props}.get("chewc.input") == "q17"
    rng = np.random.default_rng(0)
    pixels = [rng.integers(0, 256, shape) for _ in range(n)]
    return [quantize_q17(p) if q17 else (p / 255).astype(np.float32) for p in pixels]


def models(only: str | None, imagenet: bool, tmp: Path) -> list[tuple[str, Path, Inputs]]:
    found: list[tuple[str, Path, Inputs]] = [
        (p.stem, p, lambda n, p=p: example_inputs(p, n)) for p in sorted((REPO / "examples" / "models").glob("*.onnx"))
    ]
    root = data_dir()
    if root is not None:
        for name, entry in REAL_MODELS.items():
            if (root / entry.model).is_file():
                found.append((name, root / entry.model, lambda n, e=entry: [x for x, _ in e.samples(n)]))
    if imagenet and only in (None, "resnet18_224"):
        path = tmp / "resnet18_224.onnx"
        path.write_bytes(resnets.builder("resnet18", 224).onnx().SerializeToString())
        found.append(("resnet18_224", path, lambda n, p=path: example_inputs(p, n)))
    return [m for m in found if only is None or m[0] == only]


def cpu(fn: Callable[[], object]) -> float:
    """This thread's CPU time of fn()."""
    start = time.thread_time()
    fn()
    return time.thread_time() - start


def ort_session(path: Path) -> ort.InferenceSession | None:
    if is_qonnx(onnx.load(str(path))):
        return None
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    opts.log_severity_level = 3  # LFC lists its initializers as inputs, which only warns
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def measure(name: str, path: Path, inputs: Sequence[np.ndarray], rounds: int, compiles: int, batch: int) -> Row:
    compile_s = Spread.of([cpu(lambda: compile_model(path, "chew")) for _ in range(compiles)])
    program = compile_model(path, "chew").program
    assert program is not None
    machine = load_machine()
    fitted = [x.reshape(program.inputs[0].shape) for x in inputs]
    first = cpu(lambda: emulate(program, fitted[0], machine))
    session = ort_session(path)
    feed = first_input_name(onnx.load(str(path)))
    stacked = [fitted[i % len(fitted)] for i in range(batch)]
    emu, ref, ratios, batch_ratios = [], [], [], []
    for _ in range(rounds):
        e = cpu(lambda: [emulate(program, x, machine) for x in fitted]) / len(fitted)
        emu.append(e)
        if session is not None:
            r = cpu(lambda: [session.run(None, {feed: x}) for x in inputs]) / len(inputs)
            ref.append(r)
            ratios.append(e / r)
            if batch:
                batch_ratios.append(cpu(lambda: emulate_batch(program, stacked, machine, batch=batch)) / batch / r)
    return Row(name, compile_s, first * 1e3, Spread.of(emu), Spread.of(ref) if ref else None,
               Spread.of(ratios) if ratios else None, Spread.of(batch_ratios) if batch_ratios else None)


def child_cpu(argv: Sequence[str]) -> float:
    """User + system CPU time of one child process running `argv` to completion."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env={**os.environ, "OMP_NUM_THREADS": "1"})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


ORT_SCRIPT = """
import sys
import numpy as np
import onnxruntime as ort
opts = ort.SessionOptions()
opts.intra_op_num_threads = opts.inter_op_num_threads = 1
s = ort.InferenceSession(sys.argv[1], opts, providers=["CPUExecutionProvider"])
x = np.load(sys.argv[2])
print(s.run(None, {s.get_inputs()[0].name: x})[0].argmax())
"""


def processes(cnv: Path, rounds: int, tmp: Path) -> dict[str, Spread]:
    """CPU time of processes, alternated round by round (one warm-up round first: the page cache)."""
    program, image = tmp / "cnv.chew", tmp / "image.npy"
    subprocess.run([BIN / "chewc", cnv, "-o", program, "-q"], check=True)
    np.save(image, next(iter(REAL_MODELS["cnv"].samples(1)))[0])
    commands = {
        "onnxruntime script, one image": [sys.executable, "-c", ORT_SCRIPT, str(cnv), str(image)],
        "chewc-run, one image": [str(BIN / "chewc-run"), str(program), "--input", str(image)],
        "chewc-run --help": [str(BIN / "chewc-run"), "--help"],
        "chewc, compile CNV-W1A1": [str(BIN / "chewc"), str(cnv), "-o", str(tmp / "again.chew"), "-q"],
    }
    times: dict[str, list[float]] = {k: [] for k in commands}
    for r in range(rounds + 1):
        for name, argv in commands.items():
            t = child_cpu(argv)
            if r:
                times[name].append(t)
    spreads = {k: Spread.of(v) for k, v in times.items()}
    ratios = [a / b for a, b in zip(times["chewc-run, one image"], times["onnxruntime script, one image"], strict=True)]
    spreads["chewc-run / onnxruntime script"] = Spread.of(ratios)
    return spreads


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} ({os.cpu_count()} CPUs)"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="rounds of emulator + onnxruntime runs, and of processes")
    parser.add_argument("--inputs", type=int, default=10, help="inputs per round")
    parser.add_argument("--compiles", type=int, default=5, help="compilations per model")
    parser.add_argument("--only", help="one model: an example's file stem, cnv / cnv_qonnx / lfc, or resnet18_224")
    parser.add_argument("--no-imagenet", action="store_true", help="leave binary ResNet-18 at 224 px out")
    parser.add_argument("--batch", type=int, default=100, help="images emulate_batch stacks (0: not measured)")
    args = parser.parse_args(argv)

    console = Console(width=160)
    console.print(f"before: {load()}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        table = Table(title="one thread, CPU time: compile; emulation and onnxruntime per inference "
                            "(median over rounds, least-most)")
        for col in ("model", "compile", "first emulation", "emulation", "onnxruntime", "emu / ort",
                    f"batch of {args.batch} / ort"):
            table.add_column(col, justify="left" if col == "model" else "right")
        for name, path, inputs in models(args.only, not args.no_imagenet, Path(tmp)):
            n = 2 if name == "resnet18_224" else args.inputs  # 1.8 G MACs an image
            row = measure(name, path, inputs(n), args.rounds, 1 if name == "resnet18_224" else args.compiles,
                          0 if name == "resnet18_224" else args.batch)
            rows.append(row)
            table.add_row(row.model, row.compile_s.show(" s"), f"{row.first_ms:.1f} ms", row.emu_s.show(" ms", 1e3),
                          "n/a (QONNX)" if row.ort_s is None else row.ort_s.show(" ms", 1e3),
                          "" if row.ratio is None else row.ratio.show("x", digits=2),
                          "" if row.batch_ratio is None else row.batch_ratio.show("x", digits=2))
        console.print(table)
        root = data_dir()
        cnv = root / REAL_MODELS["cnv"].model if root is not None else None
        procs = processes(cnv, args.rounds, Path(tmp)) if cnv is not None and cnv.is_file() and args.only in (None, "cnv") \
            else {}
    if procs:
        table = Table(title="processes, CPU time of the child (median over rounds, least-most)")
        table.add_column("process")
        table.add_column("CPU time", justify="right")
        for name, spread in procs.items():
            table.add_row(name, spread.show("x", digits=2) if "/" in name else spread.show(" s"))
        console.print(table)
    console.print(f"after: {load()}")

    by_name = {r.model: r for r in rows}
    checks: list[tuple[str, str, bool]] = []
    for name, limit in TARGETS_EMU.items():
        row = by_name.get(name)
        if row is not None and row.ratio is not None:
            checks.append((f"emulating {name} costs <= {limit:g}x onnxruntime per image", row.ratio.show("x", digits=2),
                           row.ratio.median <= limit))
    if "cnv" in by_name:
        c = by_name["cnv"].compile_s
        checks.append((f"compiling CNV-W1A1 in-process takes <= {MAX_COMPILE_S:g} s", c.show(" s"), c.median <= MAX_COMPILE_S))
    if procs:
        r, c = procs["chewc-run / onnxruntime script"], procs["chewc, compile CNV-W1A1"]
        checks += [(f"a chewc-run process on one CNV image costs <= {MAX_PROCESS_OVER_ORT:g}x an onnxruntime script",
                    r.show("x", digits=2), r.median <= MAX_PROCESS_OVER_ORT),
                   (f"a chewc process compiles CNV-W1A1 in <= {MAX_COMPILE_PROCESS_S:g} s", c.show(" s"),
                    c.median <= MAX_COMPILE_PROCESS_S)]
    cnv = by_name.get("cnv")
    if cnv is not None and cnv.batch_ratio is not None:
        checks.append((f"emulating CNV-W1A1 in a batch of {args.batch} costs <= 0.5x onnxruntime per image",
                       cnv.batch_ratio.show("x", digits=2), cnv.batch_ratio.median <= 0.5))
    if not checks:
        console.print("targets: not measured (no shared data, or --only chose another model)")
        return 0
    for what, value, ok in checks:
        console.print(f"{'PASS' if ok else 'FAIL'}  {what}: {value}")
    return 0 if all(ok for _, _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
