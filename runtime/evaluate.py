"""Data-set evaluation: a labelled set through a compiled program, with accuracy beside its cost.

Each image is preprocessed into the model's input (the encoding the program's manifest records from
the model, `isa.build`, or the one asked for), emulated bit-exactly, and, given the ONNX model, run
through its reference: top-1 accuracy against the labels, agreement (images whose outputs are
bit-identical to the reference's), and the mean core and system energy and latency per inference.
"""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from isa.container import ChewProgram
from isa.errors import ChewcError, first_line
from isa.machine import Machine
from runtime.check import compare, load_arrays, model_shaped
from runtime.datasets import cifar10_subset, mnist_test, quantize_q17
from runtime.emulator import emulate_batch, program_machine

DATASETS: dict[str, Callable[[int | None], tuple[np.ndarray, np.ndarray]]] = {
    "cifar10": cifar10_subset, "mnist": mnist_test}
PREPROCESS = ("unit", "q17", "none")
EVAL_BATCH = 32  # images a shard emulates stacked (emulate_batch) before it scores them and reports progress
# the input range each encoding gives (a first layer expecting it sees nothing else)
RANGES = {"unit": (0.0, 1.0), "q17": (-1.0, 127 / 128)}


@dataclass(frozen=True)
class ImageResult:
    index: int
    label: int
    prediction: int
    reference_prediction: int | None  # None without a reference
    match: bool | None  # outputs bit-identical to the reference's
    core_energy_j: float
    system_energy_j: float
    latency_s: float


@dataclass
class Evaluation:
    images: int
    top1: float
    agreement: float | None
    core_energy_j: float  # mean per inference
    system_energy_j: float
    latency_s: float  # the accelerator's, per inference
    images_per_second: float  # of the evaluation (emulation and reference), wall time
    per_image: list[ImageResult] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"images": self.images, "top1": self.top1, "agreement": self.agreement,
                "core_energy_j": self.core_energy_j, "system_energy_j": self.system_energy_j,
                "latency_s": self.latency_s, "images_per_second": self.images_per_second}

    def lines(self) -> list[str]:
        agree = "no reference" if self.agreement is None else f"{self.agreement:.2%} bit-identical to the reference"
        return [f"{self.images} images: top-1 {self.top1:.2%}, {agree}",
                f"per inference: core {self.core_energy_j * 1e6:,.3f} uJ, system {self.system_energy_j * 1e6:,.3f} uJ, "
                f"latency {self.latency_s * 1e6:,.2f} us; evaluated at {self.images_per_second:,.1f} images/s "
                "(emulation and reference)"]

    def per_image_csv(self) -> str:
        out = io.StringIO()
        w = csv.writer(out, lineterminator="\n")
        w.writerow(["index", "label", "prediction", "reference_prediction", "match", "core_energy_j",
                    "system_energy_j", "latency_s"])
        for r in self.per_image:
            w.writerow([r.index, r.label, r.prediction, "" if r.reference_prediction is None else r.reference_prediction,
                        "" if r.match is None else int(r.match), repr(r.core_energy_j), repr(r.system_energy_j),
                        repr(r.latency_s)])
        return out.getvalue()


def load_dataset(spec: str, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of a bundled set (cifar10, mnist; from the shared data folder) or an .npz with
    `x` (uint8 NHWC / NHW images, or float NCHW tensors) and `y` (integer labels)."""
    if limit is not None and limit < 1:
        raise ChewcError(f"--limit {limit}: evaluate at least one image")
    if spec in DATASETS:
        return DATASETS[spec](None if limit is None else limit)
    path = Path(spec)
    if path.suffix != ".npz":
        raise ChewcError(f"--dataset {spec}: a set name ({', '.join(DATASETS)}) or an .npz file with x and y")
    arrays = load_arrays(path)  # bounded, like every array file
    if not isinstance(arrays, dict) or "x" not in arrays or "y" not in arrays:
        have = ", ".join(arrays) if isinstance(arrays, dict) else "one array"
        raise ChewcError(f"{path}: needs arrays 'x' (images) and 'y' (labels), has {have}")
    x, y = arrays["x"], arrays["y"]
    if y.ndim != 1 or y.dtype.kind not in "iu" or len(y) != len(x):
        raise ChewcError(f"{path}: y must be {len(x)} integer labels, one per image, got {y.dtype} {list(y.shape)}")
    if x.dtype != np.uint8 and x.dtype.kind != "f":
        raise ChewcError(f"{path}: x must be uint8 images or float tensors, got {x.dtype}")
    n = len(x) if limit is None else min(limit, len(x))
    return x[:n], y[:n]


def encoding_of(declared: str, asked: str | None) -> str:
    """The preprocessing: the one asked for, else the model's declared input encoding (its manifest's)."""
    if asked is not None:
        if asked not in PREPROCESS:
            raise ChewcError(f"--preprocess {asked}: one of {', '.join(PREPROCESS)}")
        return asked
    if not declared:
        raise ChewcError("the model declares no input encoding (metadata chewc.input, or chewc --input-encoding): "
                         "pass --preprocess unit|q17|none")
    return declared


def preprocess(x: np.ndarray, how: str, shape: tuple[int, ...]) -> np.ndarray:
    """Model inputs [N, *shape] (shape: the program input's [C, H, W]) from images or tensors."""
    if x.dtype == np.uint8:
        if how == "none":
            raise ChewcError("--preprocess none takes float tensors; these are uint8 images: pass unit or q17")
        if x.ndim == 4 and x.shape[-1] == shape[0] and x.shape[1] != shape[0]:
            x = x.transpose(0, 3, 1, 2)  # NHWC -> NCHW
        values = quantize_q17(x) if how == "q17" else x.astype(np.float32) / np.float32(255.0)
    else:
        values = x.astype(np.float32)
    n = len(values)
    if values.size != n * int(np.prod(shape)):
        raise ChewcError(f"the data set's items have shape {list(x.shape[1:])}, the program expects {list(shape)}")
    return values.reshape(n, *shape)


def range_warning(x: np.ndarray, how: str) -> str | None:
    """One warning line when inputs lie outside the range the model's encoding gives, e.g. raw 0..255
    pixels fed to a unit or Q1.7 model (the reference would get the same wrong input)."""
    if how not in RANGES or x.size == 0:
        return None
    lo, hi = RANGES[how]
    got = float(np.min(x)), float(np.max(x))
    if got[0] < lo or got[1] > hi:
        return (f"warning: inputs range {got[0]:g}..{got[1]:g}, outside the {lo:g}..{hi:g} of the model's {how} "
                "input encoding: is the preprocessing right?")
    return None


def predict(outputs: dict[str, np.ndarray]) -> int:
    """Top-1 class of a run: the arg max of its first output."""
    return int(np.argmax(next(iter(outputs.values())).reshape(-1)))


def evaluate_shard(prog: ChewProgram, inputs: np.ndarray, labels: np.ndarray, first: int,
                   model: str | Path | None, machine: Machine | None, vdd: float | None,
                   progress: Callable[[int], None] | None = None) -> list[ImageResult]:
    """Emulate inputs[k] (image `first + k` of the set) and score each, calling `progress` with the
    images done; what every worker runs."""
    if len(inputs) != len(labels):
        raise ChewcError(f"{len(inputs)} images but {len(labels)} labels")
    machine = machine or program_machine(prog)
    reference = None
    if model is not None:
        from runtime.reference import OnnxReference  # loads onnx: only with a model to agree with

        reference = OnnxReference(model)
    results = []
    for a in range(0, len(inputs), EVAL_BATCH):
        runs = emulate_batch(prog, list(inputs[a : a + EVAL_BATCH]), machine, vdd)  # images stacked
        for k, run in enumerate(runs, a):
            i, x = first + k, inputs[k]
            ref_pred = match = None
            if reference is not None:
                want = reference.run(x, i)
                match = compare(i, run.outputs, want) is None
                ref_pred = predict(want)
            results.append(ImageResult(i, int(labels[k]), predict(model_shaped(prog, [run.outputs])), ref_pred, match,
                                       run.report.core_energy_j, run.report.system_energy_j, run.report.seconds))
            if progress is not None:
                progress(i + 1)
    return results


def evaluate(prog: ChewProgram, inputs: np.ndarray, labels: np.ndarray, model: str | Path | None = None,
             machine: Machine | None = None, vdd: float | None = None,
             progress: Callable[[int], None] | None = None, workers: int = 1, ray: str | None = None) -> Evaluation:
    """Emulate every input ([N, C, H, W]) and score it against `labels` (and the ONNX `model`, when given).

    `workers` > 1 shards the set over that many processes on this machine; `ray` (an address, or "local")
    over a Ray cluster. The shards are contiguous slices, merged in order: the results are those of one
    worker, image for image."""
    if len(prog.inputs) != 1:
        raise ChewcError(f"a data set feeds one-input programs; this one has {len(prog.inputs)}")
    if len(inputs) == 0:
        raise ChewcError("the data set is empty")
    if workers < 1:
        raise ChewcError(f"--workers {workers}: at least one")
    n = len(inputs)
    args = (model, machine, vdd)
    if ray is not None:
        shards = _on_ray(ray, prog, inputs, labels, args)
    elif workers > 1:
        shards = _on_processes(workers, prog, inputs, labels, args)
    else:  # one shard, in this process: progress image by image (lazy, so the wall time below counts it)
        shards = (evaluate_shard(prog, inputs, labels, 0, *args, progress=progress) for _ in range(1))
    start = time.perf_counter()
    results: list[ImageResult] = []
    for shard in shards:
        results += shard
        if progress is not None:
            progress(len(results))
    wall = time.perf_counter() - start
    # sums in image order, whatever the sharding: the same figures from any number of workers
    return Evaluation(n, sum(r.prediction == r.label for r in results) / n,
                      None if model is None else sum(bool(r.match) for r in results) / n,
                      sum(r.core_energy_j for r in results) / n, sum(r.system_energy_j for r in results) / n,
                      sum(r.latency_s for r in results) / n, n / wall if wall else 0.0, results)


def _slices(n: int, workers: int) -> list[tuple[int, int]]:
    """Contiguous slices of n items, a few per worker: progress moves, and a slow worker holds up little
    (each slice opens its own ONNX reference, so not many more)."""
    pieces = min(n, 4 * workers)
    return [(n * k // pieces, n * (k + 1) // pieces) for k in range(pieces)]


def _on_processes(workers: int, prog: ChewProgram, inputs: np.ndarray, labels: np.ndarray,
                  args: tuple[Any, ...]) -> Iterator[list[ImageResult]]:
    import multiprocessing  # here, and socket and logging below: a one-image run does not need them
    from concurrent.futures import ProcessPoolExecutor

    # spawn, not fork: the parent may run threads (the progress bar), which a forked child must not inherit
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(evaluate_shard, prog, inputs[a:b], labels[a:b], a, *args)
                   for a, b in _slices(len(inputs), workers)]
        for f in futures:
            yield f.result()


def _check_reachable(address: str) -> None:
    """A HOST:PORT (or ray://HOST:PORT) address must accept a connection within seconds: Ray itself
    retries an unreachable one for minutes."""
    import socket

    found = re.fullmatch(r"(?:ray://)?([^:/\s]+):(\d+)", address)
    if found is None:
        return  # "auto" and the like: Ray finds the cluster itself
    try:
        socket.create_connection((found[1], int(found[2])), timeout=5).close()
    except OSError as e:
        raise ChewcError(f"--ray {address}: no Ray cluster answers there ({e.strerror or type(e).__name__})") from e


def _on_ray(address: str, prog: ChewProgram, inputs: np.ndarray, labels: np.ndarray,
            args: tuple[Any, ...]) -> Iterator[list[ImageResult]]:
    import logging

    try:
        import ray
    except ImportError as e:
        raise ChewcError("--ray needs Ray: pip install 'chewc[ray]'") from e
    if not ray.is_initialized():  # "local" starts a cluster on this machine
        if address != "local":
            _check_reachable(address)
        where = {} if address == "local" else {"address": address}
        try:
            ray.init(**where, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise ChewcError(f"--ray {address}: cannot start or reach a Ray cluster ({first_line(e)})") from e
    task = ray.remote(evaluate_shard)
    program = ray.put(prog)
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    refs = [task.remote(program, inputs[a:b], labels[a:b], a, *args) for a, b in _slices(len(inputs), cpus)]
    for ref in refs:
        yield ray.get(ref)
