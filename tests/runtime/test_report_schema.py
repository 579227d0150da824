"""`chewc-run --report json` against its documented, versioned schema (runtime/report.schema.json), the
per-layer rows by ONNX node adding up to the run, and --plot."""

from __future__ import annotations

import io
import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from compiler.cli import main as chewc
from runtime.cli import main as chewc_run
from tests.helpers import EXAMPLES, REPO, run_cli

SCHEMA = json.loads((REPO / "runtime" / "report.schema.json").read_text())
RESNET = EXAMPLES / "resnet18_32.onnx"


@pytest.fixture(scope="module")
def program(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("schema") / "r.chew"
    assert run_cli(chewc, str(RESNET), "-o", str(out), "-q")[0] == 0
    return out


def test_a_run_report_follows_the_schema_and_its_layers_add_up(program: Path) -> None:
    code, out, err = run_cli(chewc_run, str(program), "--report", "json", "--check", str(RESNET))
    assert code == 0, err
    doc = json.loads(out)
    jsonschema.validate(doc, SCHEMA)
    report, layers = doc["report"], doc["report"]["layers"]
    assert sum(r["cycles"] for r in layers) == report["cycles"]
    assert sum(r["dram_bits"] for r in layers) == sum(report["traffic_bits"]["dram"].values())
    for part, joules in report["energy_j"].items():
        assert sum(r["energy_j"][part] for r in layers) == pytest.approx(joules, rel=1e-12)
    # every ONNX node of the model is named by exactly one layer, in graph order
    import onnx

    nodes = [n.name for n in onnx.load(str(RESNET)).graph.node]
    named = [n for r in layers for n in r["onnx_nodes"]]
    assert sorted(named) == sorted(nodes) and len(named) == len(set(named))
    stem = next(r for r in layers if r["layer"] == "pool1, sign2")
    assert stem["onnx_nodes"] == ["conv1", "pool1", "bn1", "sign2"] and stem["window_use"] == 1.0  # a 7x7 kernel


def test_a_dataset_report_follows_the_schema(program: Path, tmp_path: Path) -> None:
    np.savez(tmp_path / "set.npz", x=np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8),
             y=np.array([1, 2]))
    code, out, err = run_cli(chewc_run, str(program), "--dataset", str(tmp_path / "set.npz"), "--report", "json",
                             "--check", str(RESNET))
    assert code == 0, err
    jsonschema.validate(json.loads(out), SCHEMA)


def test_a_report_missing_a_layer_field_does_not_validate(program: Path) -> None:
    doc = json.loads(run_cli(chewc_run, str(program), "--report", "json")[1])
    del doc["report"]["layers"][0]["onnx_nodes"]
    with pytest.raises(jsonschema.ValidationError, match="onnx_nodes"):
        jsonschema.validate(doc, SCHEMA)


@pytest.mark.slow
def test_plot_draws_a_png_of_the_layers(program: Path, tmp_path: Path) -> None:
    code, _, err = run_cli(chewc_run, str(program), "--plot", str(tmp_path / "layers.png"), "--report", "none")
    assert code == 0, err
    data = (tmp_path / "layers.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    code, _, err = run_cli(chewc_run, str(program), "--plot", str(tmp_path / "sweep.png"), "--sweep-vdd", "--report", "none")
    assert code == 0, err
    swept = (tmp_path / "sweep.png").read_bytes()
    from PIL import Image  # matplotlib's own dependency

    heights = [Image.open(io.BytesIO(png)).size[1] for png in (data, swept)]
    assert heights[1] == heights[0] * 3 // 2  # a third panel: energy and latency over the operating points


def test_onnx_nodes_reach_every_tile_op_and_instruction(program: Path) -> None:
    from compiler.driver import compile_model
    from dialects import bnn, tile
    from isa.cli import objdump_main

    module = compile_model(RESNET, "tile").module
    ops = [op for op in module.walk() if isinstance(op, tile.ConvOp | tile.ThresholdOp | tile.DmaOp | tile.PoolOp)]
    assert ops and all(bnn.ONNX_NODE in op.attributes for op in ops)
    listing = run_cli(objdump_main, str(program))[1].splitlines()
    code = [line for line in listing if "; 0" in line and "  0x" in line]  # instruction lines: "; index  encoding  node"
    # each names its node, but END, which the function's return makes
    assert code and all(len(line.split(";")[1].split()) == 3 for line in code if not line.startswith("END"))
    start = listing.index("; layer add1, sign4 (conv+residual+threshold): ONNX nodes conv3, add1, bn3, sign4")
    assert listing[start + 1].split()[-1] in ("conv3", "add1")
