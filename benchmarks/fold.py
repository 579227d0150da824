"""Threshold-folding time of one layer with a large reach on a small map, and its onnxruntime runs.

    python benchmarks/fold.py [--rounds 5] [--per-row]

Folding evaluates a layer's epilogue (bias, batch norm, ... before the binariser) with onnxruntime on
every reachable accumulator value. Two layers where the map is small and the reach large: a
[1, 512, 2, 2] conv map whose accumulator reaches ±100,000 (summed residual branches), and a dense
[1, 256] layer reaching ±50,000. The table shows `fold_thresholds` wall time (median, min and max
over --rounds, onnxruntime sessions built anew each round as in a compile) and its onnxruntime runs.
--per-row adds one round with one onnxruntime run per row of values, as folding evaluated every chain
before it batched the rows (and still evaluates a chain that drops the batch axis); the rest of the
folding is today's.
"""

from __future__ import annotations

import os

# One thread for numpy's BLAS too: must precede the first numpy import.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402
from onnx import helper, numpy_helper  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from compiler import threshold_folding  # noqa: E402
from compiler.onnx_loader import Graph, load_graph  # noqa: E402
from compiler.threshold_folding import Reach, fold_thresholds  # noqa: E402
from runtime import onnx_ref  # noqa: E402


def layer(folder: Path, name: str, shape: tuple[int, ...], fanin: int) -> Graph:
    """acc -> bias Add -> BatchNormalization -> BipolarQuant (never 0, unlike Sign), thresholds spread over the reach."""
    rng = np.random.default_rng(0)
    c = shape[1]
    per_channel = (c,) + (1,) * (len(shape) - 2)
    inits = {
        "bias": rng.normal(0, 3, per_channel), "gamma": rng.normal(0, 1, c), "beta": rng.normal(0, 1, c),
        "mean": rng.uniform(-fanin / 2, fanin / 2, c), "var": rng.uniform(1, fanin, c),
        "one": np.ones(1),
    }
    nodes = [
        helper.make_node("Add", ["acc", "bias"], ["b"]),
        helper.make_node("BatchNormalization", ["b", "gamma", "beta", "mean", "var"], ["bn"]),
        helper.make_node("BipolarQuant", ["bn", "one"], ["y"], domain="qonnx.custom_op.general"),
    ]
    graph = helper.make_graph(
        nodes, name, [helper.make_tensor_value_info("acc", onnx.TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, shape)],
        [numpy_helper.from_array(v.astype(np.float32), k) for k, v in inits.items()],
    )
    path = folder / f"{name}.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("qonnx.custom_op.general", 1)]), path)
    return load_graph(path)


class Runs:
    """Counts onnxruntime runs of the reference executor."""

    def __init__(self) -> None:
        self.count = 0
        run = onnx_ref.OnnxExecutor.run

        def counted(executor, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
            self.count += 1
            return run(executor, *args, **kwargs)

        onnx_ref.OnnxExecutor.run = counted  # type: ignore[method-assign]


def fold_once(graph: Graph, reach: Reach, runs: Runs) -> tuple[float, int]:
    """(seconds, onnxruntime runs) of one fold_thresholds, sessions built anew."""
    onnx_ref.ort_session.cache_clear()
    before = runs.count
    start = time.perf_counter()
    fold_thresholds(graph, "acc", graph.nodes[:-1], graph.nodes[-1], reach)
    return time.perf_counter() - start, runs.count - before


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--per-row", action="store_true", help="also one round of one run per row of values")
    args = parser.parse_args()
    runs = Runs()
    table = Table(title="threshold folding: fold_thresholds wall time per layer (median, min-max)")
    for column in ("layer", "reach", "values x channels", "method", "runs", "time", "min-max"):
        table.add_column(column, justify="left" if column in ("layer", "method") else "right")
    with tempfile.TemporaryDirectory() as tmp:
        cases = [("conv [1,512,2,2]", layer(Path(tmp), "conv", (1, 512, 2, 2), 100_000), 100_000),
                 ("dense [1,256]", layer(Path(tmp), "dense", (1, 256), 50_000), 50_000)]
        for label, graph, r in cases:
            reach = Reach(-r, r)
            size = f"{2 * r + 1:,} x {graph.shape('acc')[1]}"
            samples = [fold_once(graph, reach, runs) for _ in range(args.rounds)]
            times = [t for t, _ in samples]
            table.add_row(label, f"±{r:,}", size, "batched", f"{samples[0][1]:,}", f"{statistics.median(times):.3f} s",
                          f"{min(times):.3f}-{max(times):.3f} s")
            if args.per_row:
                batched = threshold_folding._batched
                threshold_folding._batched = lambda *_: None  # type: ignore[assignment]
                t, n = fold_once(graph, reach, runs)
                threshold_folding._batched = batched
                table.add_row(label, f"±{r:,}", size, "per row (1 round)", f"{n:,}", f"{t:.3f} s", "")
    Console(width=120).print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
