"""--workers and --ray: a set sharded over processes, or over a local Ray instance with 2 CPUs, gives
the results of one worker, image for image and in order."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from compiler.driver import compile_model
from isa.errors import ChewcError
from runtime.evaluate import Evaluation, evaluate, preprocess
from tests.helpers import EXAMPLES

pytestmark = pytest.mark.slow  # seconds to minutes: out of the fast loop (pytest -m "not slow")

VGG = EXAMPLES / "vgg_cifar.onnx"


@pytest.fixture(scope="module")
def case() -> tuple:
    prog = compile_model(VGG).program
    assert prog is not None
    rng = np.random.default_rng(5)
    x = preprocess(rng.integers(0, 256, (10, 32, 32, 3), dtype=np.uint8), "q17", prog.inputs[0].shape)
    return prog, x, rng.integers(0, 10, 10)


def same(a: Evaluation, b: Evaluation) -> None:
    assert dataclasses.replace(a, images_per_second=0.0) == dataclasses.replace(b, images_per_second=0.0)


def test_processes_give_the_results_of_one_worker(case: tuple) -> None:
    prog, x, y = case
    seen: list[int] = []
    one = evaluate(prog, x, y, VGG, progress=seen.append)
    assert seen[:10] == list(range(1, 11))  # one worker reports each image as it is done
    assert one.images == 10 and one.agreement == 1.0 and [r.index for r in one.per_image] == list(range(10))
    same(one, evaluate(prog, x, y, VGG, workers=2))
    same(one, evaluate(prog, x, y, VGG, workers=3))


def test_a_local_ray_instance_gives_the_results_of_one_worker(case: tuple) -> None:
    ray = pytest.importorskip("ray", reason="the [ray] extra is not installed")
    prog, x, y = case
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        same(evaluate(prog, x, y, VGG), evaluate(prog, x, y, VGG, ray="local"))
    finally:
        ray.shutdown()


def test_an_unreachable_ray_address_is_one_error_not_a_wait(case: tuple) -> None:
    pytest.importorskip("ray", reason="the [ray] extra is not installed")
    prog, x, y = case
    with pytest.raises(ChewcError, match=r"--ray 127\.0\.0\.1:1: no Ray cluster answers there"):
        evaluate(prog, x, y, ray="127.0.0.1:1")
