"""Fuzzer findings (fuzz/fuzzers.py), each a reproducer: one stderr line and exit 2, never exit 3."""

from __future__ import annotations

import struct
import time
import zlib
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper

from compiler import cli, opt
from isa import cli as isa_cli
from isa.asm import assemble
from isa.machine import DEFAULT_MACHINE, load_machine
from runtime import cli as run_cli
from tests.helpers import EXAMPLES, REPO, pm1, run_cli as call, save_model

MACHINE = load_machine()
PROGRAM = ".input x int16[1,1,4] chw @0x0\n.output y int16[1,1,4] chw @0x0\nEND\n"


def refused(main, *args: str) -> str:  # noqa: ANN001
    code, _, err = call(main, *args)
    assert code == 2 and err.count("\n") == 1, (code, err)
    return err


def test_number_literals_the_assembler_cannot_read(tmp_path: Path) -> None:
    for literal, shown in (("08", "'08'"), ("9" * 5000, "'99999999999999999999...'")):
        source = tmp_path / "p.s"
        source.write_text(f".data w @0x10\n.word {literal}\nEND\n")
        assert f"p.s:2:7: {shown} is not a number" in refused(isa_cli.assemble_main, str(source))


def test_a_long_extends_chain_is_refused(tmp_path: Path) -> None:
    (tmp_path / "m0.toml").write_text(f'extends = "{DEFAULT_MACHINE}"\nname = "m0"\n')
    for i in range(1, 1200):
        (tmp_path / f"m{i}.toml").write_text(f'extends = "m{i - 1}.toml"\nname = "m{i}"\n')
    assert "more than 16 descriptions stacked by 'extends'" in refused(cli.main, str(EXAMPLES / "mlp.onnx"), "--machine",
                                                                        str(tmp_path / "m1199.toml"), "--emit=bnn")


def test_descriptors_larger_than_dram_are_refused_before_inputs_are_made(tmp_path: Path) -> None:
    prog = assemble(PROGRAM, MACHINE).to_bytes()
    body = bytearray(prog[:-4])
    at = body.index(b"inputx") + 6  # the input descriptor's payload: dtype, layout, rank, zero, addr, dims
    struct.pack_into("<3I", body, at + 8, 1 << 20, (1 << 32) - 1, 1)
    path = tmp_path / "huge.chew"
    path.write_bytes(bytes(body) + struct.pack("<I", zlib.crc32(body)))
    assert "input 'x' at DRAM 0x0.." in refused(run_cli.main, str(path))


def test_control_characters_in_names_stay_on_one_line(tmp_path: Path) -> None:
    prog = assemble(PROGRAM, MACHINE).to_bytes()
    body = bytearray(prog[:-4])
    struct.pack_into("<I", body, 12, struct.unpack_from("<I", body, 12)[0] + 1)  # one more section...
    body += struct.pack("<BBHI", 3, 1, 0, 1000) + b"a\nbn"  # ...of kind "a<newline>b", running past the end
    path = tmp_path / "nl.chew"
    path.write_bytes(bytes(body) + struct.pack("<I", zlib.crc32(body)))
    assert "section 'a\\nb' at offset" in refused(run_cli.main, str(path))


def test_outputs_go_exactly_where_asked_and_device_errors_are_refusals(tmp_path: Path) -> None:
    prog = tmp_path / "p.chew"
    prog.write_bytes(assemble(PROGRAM, MACHINE).to_bytes())
    out = tmp_path / "result"  # numpy's save would have written result.npy
    code, _, err = call(run_cli.main, str(prog), "--output", str(out), "--report", "none")
    assert (code, err) == (0, "") and np.load(out).shape == (1, 1, 4) and not (tmp_path / "result.npy").exists()
    if Path("/dev/full").exists():
        ir = REPO / "tests" / "filecheck" / "dialects" / "bnn_ops.mlir"
        assert "cannot write /dev/full: No space left on device" in refused(opt.main, str(ir), "-o", "/dev/full")


@pytest.mark.slow
def test_long_node_chains_import_in_linear_time(tmp_path: Path) -> None:
    """50,000 Identity nodes before the first Sign took over 30 s (a quadratic scan per host output)."""
    rng = np.random.default_rng(0)
    ids = [helper.make_node("Identity", [f"i{k}" if k else "x"], [f"i{k + 1}"]) for k in range(20000)]
    nodes = [*ids, helper.make_node("Sign", ["i20000"], ["b"]), helper.make_node("MatMul", ["b", "w"], ["y"])]
    path = save_model(tmp_path / "ids.onnx", nodes, [("x", [1, 16])], [("y", [1, 4])], {"w": pm1(rng, (16, 4))})
    start = time.perf_counter()
    assert call(cli.main, str(path), "-o", str(tmp_path / "ids.chew"), "-q") == (0, "", "")
    assert time.perf_counter() - start < 15


def test_duplicate_declarations_and_dangling_biases(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    nodes = [helper.make_node("Sign", ["x"], ["b"]), helper.make_node("MatMul", ["b", "w"], ["y"])]
    path = save_model(tmp_path / "d.onnx", nodes, [("x", [1, 16])], [("y", [1, 4])], {"w": pm1(rng, (16, 4))})
    model = onnx.load(path)
    model.graph.value_info.extend([helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2, 3])])
    onnx.save(model, path)
    assert "value 'x' is declared as an input and again with another type or shape" in refused(cli.main, str(path), "--emit=bnn")
    # a conv whose bias is a ±1 activation, not a constant: the host runs it (it used to be a KeyError)
    nodes = [helper.make_node("Sign", ["x"], ["b"]), helper.make_node("Conv", ["b", "w", "b"], ["y"], name="conv")]
    path = save_model(tmp_path / "bias.onnx", nodes, [("x", [1, 1, 1, 1])], [("y", [1, 1, 1, 1])], {"w": pm1(rng, (1, 1, 1, 1))})
    assert call(cli.main, str(path), "-o", str(tmp_path / "b.chew"), "-q") == (0, "", "")


def test_malformed_qonnx_and_gemm_constants_are_refusals(tmp_path: Path) -> None:
    """Found by the 10,000-case ONNX campaign: each used to end in exit 3 inside threshold folding."""
    rng = np.random.default_rng(0)
    qonnx = [("qonnx.custom_op.general", 1)]
    sign_mm = [helper.make_node("Sign", ["x"], ["b"]), helper.make_node("MatMul", ["b", "w"], ["acc"])]
    cases = [
        (helper.make_node("BipolarQuant", ["acc", "s"], ["y"], name="q", domain="qonnx.custom_op.general"),
         {"s": np.full((4, 1), 2.0)}, "node q (BipolarQuant): activation scale"),
        (helper.make_node("MultiThreshold", ["acc", "t"], ["y"], name="mt", domain="qonnx.custom_op.general",
                          out_scale=[2.0, 1.0], out_bias=-1.0), {"t": np.zeros((4, 1))}, "out_scale and out_bias must be numbers"),
        (helper.make_node("MultiThreshold", ["acc", "t"], ["y"], name="mt", domain="qonnx.custom_op.general",
                          out_scale=2.0, out_bias=-1.0), {"t": np.zeros((3, 2))}, "thresholds of shape [3, 2] are not [1 or C, T]"),
    ]
    for node, consts, message in cases:
        path = save_model(tmp_path / "q.onnx", [*sign_mm, node], [("x", [1, 8])], [("y", [1, 4])],
                          {"w": pm1(rng, (8, 4)), **consts}, extra_opsets=qonnx)
        assert message in refused(cli.main, str(path), "--emit=bnn")
    gemm = [helper.make_node("Sign", ["x"], ["b"]), helper.make_node("Gemm", ["b", "w", "c"], ["y"], name="g", alpha=0.5)]
    path = save_model(tmp_path / "g.onnx", gemm, [("x", [1, 8])], [("y", [1, 4])], {"w": pm1(rng, (8, 4)), "c": np.zeros(64)})
    assert "node g (Gemm): C of shape [64] does not broadcast to [1, 4]" in refused(cli.main, str(path), "--emit=bnn")


def test_python_warnings_never_reach_stderr() -> None:
    """numpy's RuntimeWarnings (an overflow in a statistic of odd outputs) made a successful run print lines."""
    import warnings

    from isa.errors import cli_main

    @cli_main("tool")
    def noisy(argv: list[str] | None) -> int:
        warnings.warn("overflow encountered in reduce", RuntimeWarning, stacklevel=1)
        np.float16(65504) * np.float16(2)  # numpy's own overflow warning
        return 0

    assert call(noisy) == (0, "", "")


def test_a_reader_that_leaves_is_not_an_error() -> None:
    """`chewc-objdump x.chew | head`: the pipe closes, which is no error (BrokenPipeError is an OSError,
    which the tools otherwise report as a file they cannot access)."""
    from isa.errors import cli_main

    @cli_main("tool")
    def piped(argv: list[str] | None) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    assert call(piped) == (0, "", "")
