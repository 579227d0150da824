"""The per-layer report: each layer's instructions counted apart (the program's `layers` section), its
costs adding up to the run's, its traffic and cycles against the layer-wise bounds of compiler.bounds."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from compiler.bounds import layer_bounds
from compiler.driver import compile_model
from isa.container import ChewProgram, Section
from isa.errors import ChewcError
from runtime.emulator import emulate
from tests.helpers import REPO

MODEL = REPO / "examples" / "models" / "resnet18_32.onnx"


@pytest.fixture(scope="module")
def program() -> ChewProgram:
    compiled = compile_model(MODEL)
    assert compiled.program is not None
    return compiled.program


def run(prog: ChewProgram, seed: int = 0):  # noqa: ANN201
    desc = prog.inputs[0]
    return emulate(prog, np.random.default_rng(seed).random(desc.shape, dtype=np.float32)).report


def test_layers_add_up_to_the_run_and_carry_the_bounds(program: ChewProgram) -> None:
    report = run(program)
    rows = report.layers
    assert sum(r.cycles for r in rows) == report.cycles
    assert sum(r.macs for r in rows) == report.macs
    assert sum(r.dram_bits for r in rows) == report.traffic_bits["dram"]["read"] + report.traffic_bits["dram"]["write"]
    assert sum(r.system_energy_j for r in rows) == pytest.approx(report.system_energy_j, rel=1e-12)
    assert sum(r.core_energy_j for r in rows) == pytest.approx(report.core_energy_j, rel=1e-12)
    # every accelerator layer of the bnn module, in order, with its bound; a threshold run in its producer's
    # ACC (its int16 map kept for a residual add too) shares the producer's row, with both bounds
    bound = layer_bounds(compile_model(MODEL, "bnn", stop_after="bnn-decompose-kernels").module)
    accelerated = [r for r in rows if r.kind != "host"]
    assert [n for r in accelerated for n in r.layer.split(", ")] == [b.name for b in bound.layers]
    it = iter(bound.layers)
    for r in accelerated:
        mine = [next(it) for _ in r.layer.split(", ")]
        assert r.kind == "+".join(b.kind for b in mine)
        assert r.bound_dram_bits == sum(b.traffic_bits for b in mine)
    assert all(r.cycles >= r.bound_cycles > 0 for r in accelerated if r.macs)
    # the same figures from a replay of the checked run's plan
    assert run(program, seed=1).layers == rows
    assert "layers (achieved against" in report.to_text(160)


def test_a_threshold_run_in_its_producers_acc_never_reads_the_int16_map_back(program: ChewProgram) -> None:
    """Where a residual stream's int16 map is both added later and thresholded, the threshold runs on the
    sums still in ACC: the fused layer moves less than both bounds by at least the map's read."""
    bounds = {b.name: b for b in layer_bounds(compile_model(MODEL, "bnn", stop_after="bnn-decompose-kernels").module).layers}
    fused = [r for r in run(program).layers if ", " in r.layer]
    assert [r.kind for r in fused] == ["conv+maxpool+threshold"] + ["conv+residual+threshold"] * 4
    for r in fused:
        producer, threshold = (bounds[n] for n in r.layer.split(", "))
        assert threshold.kind == "threshold"
        assert r.bound_dram_bits == producer.traffic_bits + threshold.traffic_bits
        assert r.dram_bits <= r.bound_dram_bits - threshold.input_bits


def with_layers(prog: ChewProgram, payload: bytes) -> ChewProgram:
    sections = tuple(s for s in prog.sections if s.name != "layers") + (Section("report", "layers", payload),)
    return dataclasses.replace(prog, sections=sections)


@pytest.mark.parametrize(("payload", "message"), [
    (b"{", "not JSON"),
    (b"{}", "must be a list"),
    (b'[{"start": 0}]', "entry 0 must be an object"),
    (json.dumps([{"start": 10**9, "layer": "a", "kind": "conv", "bound_dram_bits": 1, "bound_cycles": 1}]).encode(),
     "past the code"),
    (json.dumps([{"start": 0, "layer": "a", "kind": "conv", "bound_dram_bits": -5, "bound_cycles": 1}]).encode(),
     "negative bound"),
])
def test_a_bad_layers_section_is_one_error(program: ChewProgram, payload: bytes, message: str) -> None:
    with pytest.raises(ChewcError, match=message):
        run(with_layers(program, payload))
