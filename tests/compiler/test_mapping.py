"""The mapping search (compiler.mapping): what it predicts per layer is what the emulator counts, it keeps
the least off-chip traffic, and two weight buffers hide the weight loads of streamed layers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from compiler import mapping, schedule
from compiler.driver import compile_model
from compiler.tiling import ConvShape, _best_conv_tiling, conv_tilings
from isa.container import ChewProgram
from isa.machine import load_machine
from runtime.datasets import RealModel
from runtime.emulator import emulate
from tests.helpers import EXAMPLES

REAL = ["cnv", "cnv_qonnx", "lfc"]


def model_path(name: str, real_model: Callable[[str], RealModel]) -> Path:
    return real_model(name).path() if name in REAL else EXAMPLES / f"{name}.onnx"


def run(prog: ChewProgram):  # noqa: ANN201
    desc = prog.inputs[0]
    return emulate(prog, np.random.default_rng(0).random(desc.shape, dtype=np.float32)).report


@pytest.mark.parametrize(("name", "machine"), [
    *((p.stem, "chewbaccann") for p in sorted(EXAMPLES.glob("*.onnx"))),
    *((n, "chewbaccann") for n in REAL),
    ("cnv", "quarter"), ("vgg_cifar", "quarter"), ("cnv", "packed"), ("resnet18_32", "packed"),
])
@pytest.mark.slow
def test_predictions_agree_with_the_emulator_per_layer(name: str, machine: str,
                                                       real_model: Callable[[str], RealModel]) -> None:
    compiled = compile_model(model_path(name, real_model), machine_path=machine)
    assert compiled.program is not None
    rows = run(compiled.program).layers
    assert rows and all(r.predicted_cycles >= 0 for r in rows)
    for r in rows:
        assert r.predicted_dram_bits == r.dram_bits, r.layer
        assert abs(r.predicted_cycles - r.cycles) <= 0.02 * r.cycles, (r.layer, r.predicted_cycles, r.cycles)
    assert any(r.mapping.startswith("rows ") for r in rows)


# conv4 of cnn_5x5_7x7: 7x7, 50 -> 64 channels on a 16 x 16 map kept in FMEM; its weights (4 groups x 49
# words per output channel) do not fit WMEM at once, so they stream block by block
SEVEN = schedule.ConvLayer(
    ConvShape("", 50, 16, 16, 64, 10, 10, 1, 1, ((7, 7),), (0, 6), True, True, True),
    (schedule.SubGeom(7, 7, 0, 0, "gate", 4),), False)


def test_search_keeps_the_least_traffic_and_hides_weight_loads() -> None:
    m = load_machine()
    chosen = mapping.search(SEVEN, m)
    assert chosen.tiling.traffic == min(t.traffic for t in conv_tilings(SEVEN.shape, m))
    assert chosen.tiling.weight_buffers == 2
    # the tiling chosen before the search (least traffic, then the largest tiles, one weight buffer)
    plain = _best_conv_tiling(SEVEN.shape, m)
    assert plain is not None and plain.weight_buffers == 1
    before = mapping.layer_cost(m, SEVEN, plain).cost
    assert chosen.cost.dram_bits == before.dram_bits
    assert chosen.cost.cycles < 0.9 * before.cycles
    # 64 channels x 4 groups x 100 pixels of array cycles: within 5% with its transfers included
    assert chosen.cost.cycles <= 25_600 / 0.95


def test_seven_by_seven_layers_hide_their_transfers() -> None:
    """Both 7x7 layers of cnn_5x5_7x7 spend at least 95% of their cycles computing, DMA included."""
    compiled = compile_model(EXAMPLES / "cnn_5x5_7x7.onnx")
    assert compiled.program is not None
    rows = {r.layer: r for r in run(compiled.program).layers}
    for layer in ("pool1", "sign4"):  # conv3 (+ max-pool) and conv4, named by the tensors they compute
        assert rows[layer].array_cycles >= 0.95 * rows[layer].cycles, layer


class Unrolled(mapping.Timed):
    """Prices every iteration (no extrapolation)."""

    def loop(self, n, step, unit, body):  # noqa: ANN001, ANN201
        for iv in range(0, n, step):
            body(iv)


@pytest.mark.parametrize("machine", ["chewbaccann", "quarter"])
@pytest.mark.slow
def test_extrapolated_loops_price_like_every_iteration(machine: str) -> None:
    """A row-tiled layer with padding rows at both edges: two iterations priced, the middle extrapolated."""
    m = load_machine(machine)
    layer = schedule.ConvLayer(
        ConvShape("", 64, 56, 56, 64, 56, 56, 1, 1, ((3, 3),), (-1, 1), True), (schedule.SubGeom(3, 3, 1, 1, "gate", 4),),
        True)
    for t in conv_tilings(layer.shape, m)[:12]:
        fast = mapping.layer_cost(m, layer, t).cost
        data = schedule.ConvData(mapping.DRAM, mapping.DRAM, mapping.no_data, mapping.no_data, mapping.DRAM)
        full = Unrolled(m, mapping._memo(m))
        schedule.conv_layer(full, "", layer, t, data)
        exact = full.priced().cost
        assert fast.dram_bits == exact.dram_bits
        assert abs(fast.cycles - exact.cycles) <= 0.005 * exact.cycles, t
