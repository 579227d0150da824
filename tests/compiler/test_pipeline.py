"""The whole compiler, end to end: every example and real model compiles to a `.chew` that the emulator
runs bit for bit like the ONNX reference; compiling is deterministic; and the tools chain on the
command line (compile, run and check, disassemble and re-assemble)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from compiler.driver import compile_model
from isa.container import ChewProgram
from isa.instruction import decode
from isa.machine import load_machine
from runtime.reference import check_program
from runtime.datasets import RealModel
from runtime.emulator import emulate
from runtime.report import Report
from tests.helpers import EXAMPLES, REPO, example_inputs

SAMPLES = 20
QUARTER = REPO / "isa" / "machines" / "quarter.toml"
BIN = Path(sys.executable).parent  # the console scripts of this environment


def program(path: Path, machine: Path | None = None) -> ChewProgram:
    compiled = compile_model(path, "chew", str(machine) if machine else None)
    assert compiled.program is not None
    return compiled.program


def assert_bit_exact(prog: ChewProgram, model: Path, inputs: list[np.ndarray], machine: Path | None = None) -> None:
    done, mismatch = check_program(prog, model, inputs, load_machine(machine))
    assert mismatch is None, mismatch.message
    assert done == len(inputs)


def chewc_tool(name: str, *args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / name), *map(str, args)], capture_output=True, text=True, timeout=120, env=env)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.onnx")), ids=lambda p: p.stem)
@pytest.mark.slow
def test_example_is_bit_exact(path: Path) -> None:
    assert_bit_exact(program(path), path, example_inputs(path, SAMPLES))


@pytest.mark.parametrize("name", ["cnv", "cnv_qonnx", "lfc"])
@pytest.mark.slow
def test_real_model_is_bit_exact_on_real_images(real_model: Callable[[str], RealModel], name: str) -> None:
    entry = real_model(name)
    assert_bit_exact(program(entry.path()), entry.path(), [x for x, _ in entry.samples(SAMPLES)])


@pytest.mark.parametrize(
    ("model", "machine"),
    [("cnn_9x9_11x11.onnx", None), ("vgg_cifar.onnx", QUARTER)],
    ids=["decomposed-kernels", "vgg-quarter-machine"],
)
@pytest.mark.slow
def test_compiling_is_deterministic(tmp_path: Path, model: str, machine: Path | None) -> None:
    path = EXAMPLES / model
    first, second = program(path, machine).to_bytes(), program(path, machine).to_bytes()
    assert first == second
    out = tmp_path / "m.chew"
    proc = chewc_tool("chewc", path, "-o", out, *(["--machine", machine] if machine else []))
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == first


@pytest.mark.slow
def test_programs_are_byte_identical_across_processes_and_hash_seeds(tmp_path: Path, real_model) -> None:
    """Nothing in the output may depend on set or dict iteration order (PYTHONHASHSEED) or the process."""
    import os

    for path in (EXAMPLES / "cnn_9x9_11x11.onnx", real_model("cnv_qonnx").path()):
        blobs = []
        for seed in ("0", "4242"):
            out = tmp_path / f"{path.stem}-{seed}.chew"
            proc = chewc_tool("chewc", path, "-o", out, env={**os.environ, "PYTHONHASHSEED": seed})
            assert proc.returncode == 0, proc.stderr
            blobs.append(out.read_bytes())
        assert blobs[0] == blobs[1] == program(path).to_bytes()


def test_vgg_on_the_quarter_machine_is_exact_and_transfers_no_less() -> None:
    path = EXAMPLES / "vgg_cifar.onnx"
    small = program(path, QUARTER)
    inputs = example_inputs(path, SAMPLES, seed=1)
    assert_bit_exact(small, path, inputs, QUARTER)

    def report(prog: ChewProgram, machine: Path | None) -> Report:
        return emulate(prog, inputs[0].reshape(prog.inputs[0].shape), load_machine(machine)).report

    def dram_bits(r: Report) -> int:
        return r.traffic_bits["dram"]["read"] + r.traffic_bits["dram"]["write"]

    quarter, default = report(small, QUARTER), report(program(path), None)
    # A quarter of the on-chip memory: the first block's 32x32 maps no longer fit beside each other, so
    # the first layer pools depth first and runs channel blocks outermost, in more, smaller transfers; its
    # traffic comes down to the default machine's (1,564,320 bits), never below it.
    assert dram_bits(quarter) == dram_bits(default) == 1_564_320
    assert quarter.instructions["dma"]["count"] > default.instructions["dma"]["count"]
    assert quarter.dma_cycles > default.dma_cycles


def test_maps_spill_to_dram_when_fmem_is_too_small() -> None:
    """On the default machine every ±1 map between layers stays in FMEM; with a 4 KiB FMEM they spill."""
    path = EXAMPLES / "vgg_cifar.onnx"
    tiny = REPO / "tests" / "machines" / "tiny_fmem.toml"
    spilled, kept = program(path, tiny), program(path)
    assert_bit_exact(spilled, path, example_inputs(path, 3, seed=2), tiny)

    def stores(prog: ChewProgram) -> int:
        return sum(1 for word in prog.code if decode(word).op.mnemonic == "DMA.ST")

    assert stores(kept) == 1  # only the scores
    assert stores(spilled) > 10


@pytest.mark.slow
def test_command_line_compile_run_check_and_reassemble(tmp_path: Path) -> None:
    model, chew, asm = EXAMPLES / "mlp.onnx", tmp_path / "m.chew", tmp_path / "m.s"
    compiled = chewc_tool("chewc", model, "-o", chew)
    assert compiled.returncode == 0, compiled.stderr

    run = chewc_tool("chewc-run", chew, "--check", model, "--samples", "3")
    assert run.returncode == 0, run.stderr
    assert "bit-exact" in run.stdout

    listing = chewc_tool("chewc", model, "--emit=asm", "-o", asm)
    assert listing.returncode == 0, listing.stderr
    rebuilt = chewc_tool("chewc-as", asm, "-o", tmp_path / "again.chew")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert (tmp_path / "again.chew").read_bytes() == chew.read_bytes()


def test_double_buffered_rows_are_synced_before_use(tmp_path):
    """A 1x1/2 conv whose output stays on chip read its prefetched input rows before any SYNC (a data race
    on silicon; the emulator rejected the program). Every program is now checked for hazards before it
    leaves the compiler."""
    from onnx import helper

    from runtime.emulator import verify_program
    from tests.helpers import pm1, save_model

    rng = np.random.default_rng(389)
    nodes = [helper.make_node("Sub", ["x", "t"], ["d"]), helper.make_node("Sign", ["d"], ["b"]),
             helper.make_node("Conv", ["b", "w", "bias"], ["c"], strides=[2, 2], name="conv"),
             helper.make_node("Sign", ["c"], ["s"]), helper.make_node("Flatten", ["s"], ["f"]),
             helper.make_node("MatMul", ["f", "w2"], ["y"], name="dense")]
    path = save_model(tmp_path / "race.onnx", nodes, [("x", [1, 2, 20, 6])], [("y", [1, 14])],
                      {"t": np.float32(0.5), "w": pm1(rng, (1, 2, 1, 1)), "bias": np.full(1, 0.5), "w2": pm1(rng, (30, 14))})
    compiled = compile_model(path)
    verify_program(compiled.program, compiled.machine)
    inputs = [rng.random((1, 2, 20, 6)).astype(np.float32) for _ in range(3)]
    assert check_program(compiled.program, path, inputs) == (3, None)
