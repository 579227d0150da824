"""The machine description lives in the IR: import attaches it, every pass and interpreter reads it from
there, and a program built for one machine is refused on another, naming both."""

from __future__ import annotations

from pathlib import Path

import pytest

from compiler import cli, opt
from compiler.driver import DEFAULT_PIPELINE, compile_model
from dialects.chewbacca import MACHINE_ATTR, MachineAttr, machine_of
from isa.errors import ChewcError
from isa.machine import load_machine
from runtime import cli as run_cli
from runtime.mlir_run import parse_module
from tests.helpers import EXAMPLES, REPO, run_cli as call

MLP = EXAMPLES / "mlp.onnx"
TINY = REPO / "tests" / "machines" / "tiny_fmem.toml"


def test_pipeline_with_machine_quarter_builds_for_quarter(tmp_path: Path) -> None:
    """`--pipeline SPEC --machine quarter` used to build for the default machine (the run then failed)."""
    out = tmp_path / "q.chew"
    code, _, err = call(cli.main, str(MLP), "--pipeline", DEFAULT_PIPELINE, "--machine", "quarter", "-o", str(out), "-q")
    assert (code, err) == (0, "")
    code, stdout, err = call(run_cli.main, str(out), "--check", str(MLP), "--samples", "2", "--report", "none")
    assert (code, err) == (0, "") and "bit-exact: 2 input(s)" in stdout  # the emulator picks quarter by name
    code, _, err = call(run_cli.main, str(out), "--machine", "chewbaccann")
    assert code == 2
    assert err.startswith("chewc-run: error: the program was built for machine 'quarter' (")
    assert "not for machine 'chewbaccann' (" in err and err.count("\n") == 1


def test_a_dumped_module_keeps_its_machine(tmp_path: Path) -> None:
    """chewc-opt on a tile-level dump made for a custom machine lowers it for that machine."""
    dump = tmp_path / "tile.mlir"
    code, _, err = call(cli.main, str(MLP), "--machine", str(TINY), "--stop-after=tile-loops", "-o", str(dump))
    assert (code, err) == (0, "")
    tiny = load_machine(TINY)
    assert machine_of(parse_module(dump.read_text(), "tile.mlir")).hash() == tiny.hash()
    lowered = tmp_path / "low.mlir"
    code, _, err = call(opt.main, str(dump), "-p", "tile-buffer-alloc,convert-tile-to-chewbacca", "-o", str(lowered))
    assert (code, err) == (0, "")
    module = parse_module(lowered.read_text(), "low.mlir")
    assert machine_of(module).name == "tiny-fmem"
    code, stdout, err = call(run_cli.main, str(lowered), "--check", str(MLP))
    assert (code, err) == (0, "") and "bit-exact" in stdout


def test_a_pass_option_replaces_the_module_machine() -> None:
    c = compile_model(MLP, "chewbacca", pipeline=DEFAULT_PIPELINE.replace("tile-loops", "tile-loops{machine=quarter}"))
    assert c.machine.name == "quarter" and machine_of(c.module).name == "quarter"
    assert compile_model(MLP, "chewbacca").machine.name == "chewbaccann"


def test_machine_attribute_round_trips_and_detects_edits() -> None:
    tiny = load_machine(TINY)
    attr = MachineAttr.of(tiny)
    assert attr.values.data  # not bundled: every value travels in the IR
    assert attr.machine().hash() == tiny.hash() and attr.machine().values() == tiny.values()
    bundled = MachineAttr.of(load_machine("quarter"))
    assert not bundled.values.data and bundled.machine().name == "quarter"
    text = str(compile_model(MLP, "bnn", str(TINY)).module)
    assert MACHINE_ATTR in text and '"tiny-fmem"' in text
    edited = text.replace("memory.fmem.size_bytes = 4096", "memory.fmem.size_bytes = 8192")
    assert edited != text
    with pytest.raises(ChewcError, match="parameters of machine 'tiny-fmem' hash to .*changed since the module was made"):
        parse_module(edited, "edited.mlir")


def test_non_ascii_names_survive_a_dump(tmp_path: Path) -> None:
    """xDSL prints non-ASCII string literals as byte escapes, which parse back as BytesAttr: a dump of a
    model with a tensor named 'couche±é' (or a '±1' in a reason) did not load in chewc-opt."""
    import onnx

    model = onnx.load(MLP)
    for node in model.graph.node:  # a layer in the middle: its name becomes a probe and an onnx.name
        node.input[:] = ["couche±é" if o == "sign2" else o for o in node.input]
        node.output[:] = ["couche±é" if o == "sign2" else o for o in node.output]
    path = tmp_path / "u.onnx"
    onnx.save(model, path)
    dump = tmp_path / "u.mlir"
    assert call(cli.main, str(path), "--emit=tile", "-o", str(dump))[0] == 0
    assert '"couche±é"' in dump.read_text()
    code, out, err = call(run_cli.main, str(dump), "--check", str(path))
    assert (code, err) == (0, "") and "bit-exact" in out
    lowered = tmp_path / "low.mlir"
    assert call(opt.main, str(dump), "-p", "convert-tile-to-chewbacca", "-o", str(lowered)) == (0, "", "")
    assert '"couche±é"' in lowered.read_text()
