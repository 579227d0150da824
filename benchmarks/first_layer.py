"""CNV-W1A1's 8-bit first layer on the host or on the array by bit planes, over the CIFAR-10 subset.

    python benchmarks/first_layer.py [--images 1000] [--only cnv_qonnx,cnv]

Compiles each real CNV-W1A1 model twice (`--first-layer=host` and `--first-layer=bitplane`; the plain
ONNX model with `--input-grid 8,-7`, its Q1.7 input), runs both programs on the first --images images of
the 1000-image CIFAR-10 subset, and prints per mapping: how many outputs are bit-identical to
onnxruntime's, the top-1 against the labels, whether both mappings predict the same classes, and the
cost of one inference from the emulator's report (cycles, core and system energy, the modeled host
time and energy; the sum is what the frame costs with the host's share). The costs do not depend on
the image: the program has no data-dependent control flow.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from compiler.driver import compile_model  # noqa: E402
from isa.container import Planes  # noqa: E402
from runtime.reference import OnnxReference  # noqa: E402
from runtime.datasets import get_real_model  # noqa: E402
from runtime.emulator import emulate  # noqa: E402
from runtime.report import Report  # noqa: E402

GRIDS = {"cnv_qonnx": None, "cnv": Planes(8, -7, True)}  # the plain model's input is Q1.7 (shared/data README)


@dataclass
class Row:
    model: str
    mapping: str
    exact: int
    correct: int
    predictions: np.ndarray
    report: Report


def run(name: str, mapping: str, images: int) -> Row:
    entry = get_real_model(name)
    c = compile_model(entry.path(), first_layer=mapping, input_grid=GRIDS[name])
    assert c.program is not None
    reference = OnnxReference(entry.path())
    exact = correct = 0
    predictions = []
    report = None
    for i, (x, label) in enumerate(entry.samples(images)):
        result = emulate(c.program, x[0])
        want = reference.run(x[0], i)
        exact += all(np.array_equal(result.outputs[k].reshape(-1), np.asarray(v).reshape(-1)) for k, v in want.items())
        scores = next(iter(result.outputs.values())).reshape(-1)
        predictions.append(int(np.argmax(scores)))
        correct += predictions[-1] == label
        report = result.report
    assert report is not None
    return Row(name, mapping, exact, correct, np.asarray(predictions), report)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=1000, help="images of the CIFAR-10 subset (at most 1000)")
    p.add_argument("--only", default="cnv_qonnx,cnv", help=f"comma-separated, of {', '.join(GRIDS)}")
    args = p.parse_args(argv)
    names = args.only.split(",")
    if any(n not in GRIDS for n in names):
        p.error(f"unknown model in {args.only!r} (known: {', '.join(GRIDS)})")
    rows = [run(n, m, args.images) for n in names for m in ("host", "bitplane")]
    table = Table(title=f"CNV-W1A1 first layer, {args.images} CIFAR-10 images, default machine at its reference voltage")
    for col in ("model", "first layer", "bit-exact", "top-1", "cycles", "accel. time", "core", "system (I/O)",
                "host (modeled)", "frame energy"):
        table.add_column(col, justify="left" if col in ("model", "first layer") else "right")
    for r in rows:
        rep, host = r.report, r.report.host
        table.add_row(r.model, r.mapping, f"{r.exact}/{args.images}", f"{100 * r.correct / args.images:.1f}%",
                      f"{rep.cycles:,}", f"{rep.seconds * 1e3:.3f} ms", f"{rep.core_energy_j * 1e6:.2f} uJ",
                      f"{rep.system_energy_j * 1e6:.2f} uJ",
                      f"{host.model_seconds * 1e3:.2f} ms, {host.model_energy_j * 1e6:.2f} uJ",
                      f"{(rep.system_energy_j + host.model_energy_j) * 1e6:.2f} uJ")
    console = Console(width=170)
    console.print(table)
    failed = False
    for name in names:
        host, planes = (r for r in rows if r.model == name)
        same = int(np.sum(host.predictions == planes.predictions))
        console.print(f"{name}: both mappings predict the same class on {same}/{args.images} images")
        failed |= same != args.images or planes.exact != args.images or host.exact != args.images
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
