"""Compile and emulation speed of chewc against onnxruntime, per model, on one thread.

    python benchmarks/bench.py [--rounds 7] [--inputs 10] [--compiles 5] [--only cnv]

For every example model (and the real CNV-W1A1, plain and QONNX, and LFC-W1A1 when the shared data
folder exists) it prints: compile time (median of --compiles runs of `compile_model`), the first
emulation (a checked run, which also leaves the replay plan later runs use), then emulation and
onnxruntime time per inference and their ratio. Each round runs the emulator, then onnxruntime, on the
same --inputs inputs; times and ratios are medians over the rounds, so load from other processes that
changes between rounds does not bias the ratio. Times are this thread's CPU time (onnxruntime on one
thread runs in the calling thread); the wall-time ratio is shown beside it. It ends with the targets,
PASS or FAIL, and exits with 1 on a FAIL.
"""

from __future__ import annotations

import os

# One thread for numpy's BLAS too: must precede the first numpy import.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
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

from compiler.driver import compile_model  # noqa: E402
from isa.machine import load_machine  # noqa: E402
from runtime.datasets import REAL_MODELS, data_dir, quantize_q17  # noqa: E402
from runtime.emulator import emulate  # noqa: E402
from runtime.onnx_ref import first_input_name, is_qonnx  # noqa: E402

MAX_EMU_OVER_ORT = 2.0  # CNV-W1A1: emulation per image at most this many times onnxruntime's
MAX_COMPILE_S = 2.0  # CNV-W1A1 compile time

Inputs = Callable[[int], list[np.ndarray]]


@dataclass
class Row:
    model: str
    compile_s: float
    first_ms: float
    emu_ms: float  # CPU time per inference
    ort_ms: float | None  # None: onnxruntime cannot run the model (QONNX custom ops)
    ratio: float | None  # of CPU times
    wall_ratio: float | None


def example_inputs(path: Path, n: int) -> list[np.ndarray]:
    """Seeded random pixels in the encoding the example declares (metadata `chewc.input`)."""
    model = onnx.load(str(path))
    shape = [d.dim_value or 1 for d in model.graph.input[0].type.tensor_type.shape.dim]
    q17 = {p.key: p.value for p in model.metadata_props}.get("chewc.input") == "q17"
    rng = np.random.default_rng(0)
    pixels = [rng.integers(0, 256, shape) for _ in range(n)]
    return [quantize_q17(p) if q17 else (p / 255).astype(np.float32) for p in pixels]


def models(only: str | None) -> list[tuple[str, Path, Inputs]]:
    found: list[tuple[str, Path, Inputs]] = [
        (p.stem, p, lambda n, p=p: example_inputs(p, n)) for p in sorted((REPO / "examples" / "models").glob("*.onnx"))
    ]
    root = data_dir()
    if root is not None:
        for name, entry in REAL_MODELS.items():
            if (root / entry.model).is_file():
                found.append((name, root / entry.model, lambda n, e=entry: [x for x, _ in e.samples(n)]))
    return [m for m in found if only is None or m[0] == only]


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """This thread's CPU time and the wall time of fn()."""
    cpu, wall = time.thread_time(), time.perf_counter()
    fn()
    return time.thread_time() - cpu, time.perf_counter() - wall


def ort_session(path: Path) -> ort.InferenceSession | None:
    if is_qonnx(onnx.load(str(path))):
        return None
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    opts.log_severity_level = 3  # LFC lists its initializers as inputs, which only warns
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def measure(name: str, path: Path, inputs: Sequence[np.ndarray], rounds: int, compiles: int) -> Row:
    compile_s = statistics.median(timed(lambda: compile_model(path, "chew"))[1] for _ in range(compiles))
    program = compile_model(path, "chew").program
    assert program is not None
    machine = load_machine()
    fitted = [x.reshape(program.inputs[0].shape) for x in inputs]
    first = timed(lambda: emulate(program, fitted[0], machine))[1]
    session = ort_session(path)
    feed = first_input_name(onnx.load(str(path)))
    emu, ref, ratios, wall_ratios = [], [], [], []
    for _ in range(rounds):
        e, e_wall = timed(lambda: [emulate(program, x, machine) for x in fitted])
        emu.append(e / len(fitted))
        if session is not None:
            r, r_wall = timed(lambda: [session.run(None, {feed: x}) for x in inputs])
            ref.append(r / len(inputs))
            ratios.append(e / r)
            wall_ratios.append(e_wall / r_wall)
    median = statistics.median
    return Row(
        name, compile_s, first * 1e3, median(emu) * 1e3, median(ref) * 1e3 if ref else None,
        median(ratios) if ratios else None, median(wall_ratios) if wall_ratios else None,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="rounds of emulator + onnxruntime runs (median)")
    parser.add_argument("--inputs", type=int, default=10, help="inputs per round")
    parser.add_argument("--compiles", type=int, default=5, help="compilations per model (median)")
    parser.add_argument("--only", help="one model: an example's file stem, or cnv / cnv_qonnx / lfc")
    args = parser.parse_args(argv)

    console = Console(width=120)
    table = Table(title="chewc on one thread: compile time; emulation and onnxruntime per inference (medians)")
    for col in ("model", "compile", "first emulation", "emulation", "onnxruntime", "emu / ort (CPU)", "(wall)"):
        table.add_column(col, justify="left" if col == "model" else "right")
    rows = []
    for name, path, load in models(args.only):
        row = measure(name, path, load(args.inputs), args.rounds, args.compiles)
        rows.append(row)
        table.add_row(
            row.model, f"{row.compile_s:.3f} s", f"{row.first_ms:.1f} ms", f"{row.emu_ms:.3f} ms",
            "n/a (QONNX)" if row.ort_ms is None else f"{row.ort_ms:.3f} ms",
            "" if row.ratio is None else f"{row.ratio:.2f}x",
            "" if row.wall_ratio is None else f"{row.wall_ratio:.2f}x",
        )
    console.print(table)

    cnv = next((r for r in rows if r.model == "cnv"), None)
    if cnv is None or cnv.ratio is None or cnv.wall_ratio is None:
        console.print("targets: CNV-W1A1 not measured (no shared data, or --only chose another model)")
        return 0
    checks = [
        (f"emulating CNV-W1A1 costs <= {MAX_EMU_OVER_ORT:g}x onnxruntime per image",
         f"{cnv.ratio:.2f}x CPU time ({cnv.wall_ratio:.2f}x wall time)", cnv.ratio <= MAX_EMU_OVER_ORT),
        (f"compiling CNV-W1A1 takes <= {MAX_COMPILE_S:g} s", f"{cnv.compile_s:.3f} s", cnv.compile_s <= MAX_COMPILE_S),
    ]
    for what, value, ok in checks:
        console.print(f"{'PASS' if ok else 'FAIL'}  {what}: {value}")
    return 0 if all(ok for _, _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
