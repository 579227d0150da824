"""The multi-bit first layer on the array by bit planes (`--first-layer`, `--input-grid`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from compiler.cli import main
from compiler.driver import compile_model
from dialects.bnn_kernels import bitplane_conv2d
from isa.asm import assemble, disassemble
from isa.container import ChewProgram, Planes
from isa.errors import ChewcError
from isa.instruction import decode
from runtime.reference import check_program
from runtime.emulator import emulate
from runtime.host import bit_planes
from tests.helpers import run_cli

Q17 = Planes(8, -7, True)


def quant_model(path: Path, *, bits: int = 8, scale: float = 2.0**-7, kernel: int = 3, pads: int = 1,
                channels: int = 3, seed: int = 0) -> Path:
    """x -> QONNX Quant(bits, scale) -> Conv(±1, bias, pads) -> BN -> BipolarQuant -> Conv(±1) -> output."""
    rng = np.random.default_rng(seed)
    w0 = rng.choice([-1.0, 1.0], (16, channels, kernel, kernel)).astype(np.float32)
    w1 = rng.choice([-1.0, 1.0], (8, 16, 3, 3)).astype(np.float32)
    inits = {
        "s": np.float32(scale), "z": np.float32(0), "b": np.float32(bits), "one": np.float32(1),
        "w0": w0, "bias": rng.normal(0, 0.3, 16).astype(np.float32), "w1": w1,
        "gamma": rng.choice([-1.0, 1.0], 16).astype(np.float32) * rng.uniform(0.5, 2, 16).astype(np.float32),
        "beta": rng.normal(0, 1, 16).astype(np.float32), "mean": rng.normal(0, 2, 16).astype(np.float32),
        "var": rng.uniform(0.5, 2, 16).astype(np.float32),
    }
    nodes = [
        helper.make_node("Quant", ["x", "s", "z", "b"], ["q"], domain="qonnx.custom_op.general", signed=1, narrow=0,
                         rounding_mode="ROUND"),
        helper.make_node("Conv", ["q", "w0", "bias"], ["c0"], pads=[pads] * 4, kernel_shape=[kernel, kernel]),
        helper.make_node("BatchNormalization", ["c0", "gamma", "beta", "mean", "var"], ["n0"]),
        helper.make_node("BipolarQuant", ["n0", "one"], ["a0"], domain="qonnx.custom_op.general"),
        helper.make_node("Conv", ["a0", "w1"], ["y"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
    ]
    graph = helper.make_graph(
        nodes, "bitplane", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, channels, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 8, 8])],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13),
                                                    helper.make_opsetid("qonnx.custom_op.general", 1)])
    onnx.save(model, path)
    return path


def plain_model(path: Path) -> Path:
    """A float input straight into Conv(±1) -> Sign -> Conv: its grid is only known from --input-grid."""
    rng = np.random.default_rng(3)
    w0 = rng.choice([-1.0, 1.0], (16, 1, 3, 3)).astype(np.float32)
    w1 = rng.choice([-1.0, 1.0], (4, 16, 3, 3)).astype(np.float32)
    bias = (rng.integers(-20, 20, 16) + 0.5).astype(np.float32) / 16  # sums are multiples of 1/16: never 0
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w0", "bias"], ["c0"], kernel_shape=[3, 3]),
         helper.make_node("Sign", ["c0"], ["a0"]),
         helper.make_node("Conv", ["a0", "w1"], ["y"], kernel_shape=[3, 3])],
        "plain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 10, 10])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 6, 6])],
        [numpy_helper.from_array(w0, "w0"), numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(bias, "bias")],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    return path


@pytest.mark.parametrize("planes", [Q17, Planes(4, 0, False), Planes(3, -1, True)])
def test_plane_sum_is_twice_the_integer_conv_less_the_weight_sum(planes: Planes) -> None:
    rng = np.random.default_rng(planes.bits)
    lo, hi = planes.range
    q = rng.integers(lo, hi + 1, (1, 5, 6, 7))
    w = rng.choice([-1, 1], (4, 5, 3, 3)).astype(np.int8)
    x = np.ldexp(q, planes.exponent).astype(np.float32)
    got = bitplane_conv2d(bit_planes(x, planes, "test"), w, planes, (1, 1), (1, 1), (1, 1, 1, 1))
    padded = np.pad(q, ((0, 0), (0, 0), (1, 1), (1, 1)))
    want = np.einsum("nchwij,ocij->nohw", np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(2, 3)), w)
    s = w.reshape(4, -1).sum(axis=1)[None, :, None, None]
    assert np.array_equal(got, 2 * want - s * sum(planes.weights()))


def test_bit_planes_refuse_a_value_off_the_grid() -> None:
    x = np.full((1, 1, 2, 2), 0.5, np.float32)
    x[0, 0, 1, 0] = 0.50390625  # 64.5 / 128
    with pytest.raises(ChewcError, match=r"input value 0.50390625 at \(0, 0, 1, 0\) is not a 8-bit signed integer"):
        bit_planes(x, Q17, "input")
    with pytest.raises(ChewcError, match="at \\(0, 0, 0, 0\\)"):
        bit_planes(np.ones((1, 1, 1, 1), np.float32), Q17, "input")  # 128 / 128 is beyond 127


@pytest.mark.parametrize("kernel,pads,channels,bits", [(3, 1, 3, 8), (5, 2, 1, 8), (7, 3, 20, 4)])
def test_quantised_first_layer_runs_on_the_array_and_matches(tmp_path: Path, kernel: int, pads: int,
                                                             channels: int, bits: int) -> None:
    """Zero padding, a plane of two channel words (20 channels), a 4-bit grid; the host mapping agrees."""
    path = quant_model(tmp_path / "q.onnx", kernel=kernel, pads=pads, channels=channels, bits=bits,
                       scale=2.0 ** (1 - bits))
    c = compile_model(path, first_layer="bitplane", strict=True)
    assert c.program is not None and c.placement is not None
    assert c.placement.layers == 2 and [h.where for h in c.placement.host] == ["input", "input"]
    images = np.random.default_rng(1).uniform(-1, 1, (4, channels, 8, 8)).astype(np.float32)
    assert check_program(c.program, path, list(images)) == (4, None)
    host = compile_model(path, first_layer="host")
    assert host.placement is not None and host.placement.layers == 1
    assert emulate(host.program, images[0]).outputs["y"].tobytes() == emulate(c.program, images[0]).outputs["y"].tobytes()


def test_planes_step_assembles_back_to_the_same_bytes(tmp_path: Path) -> None:
    c = compile_model(quant_model(tmp_path / "q.onnx"), first_layer="bitplane")
    assert c.program is not None
    text = disassemble(c.program)
    assert ".planes 8 -7 signed" in text and "CONV.S" in text
    assert assemble(text, c.machine).to_bytes() == c.program.to_bytes()
    assert ChewProgram.from_bytes(c.program.to_bytes()) == c.program


def test_plain_float_input_needs_a_declared_grid(tmp_path: Path) -> None:
    path = plain_model(tmp_path / "p.onnx")
    code, _, err = run_cli(main, str(path), "-o", str(tmp_path / "p.chew"), "--first-layer=bitplane")
    assert code == 2
    assert err.splitlines() == ["chewc: error: --first-layer=bitplane: no layer maps by bit planes: the model input is "
                                "float (declare its grid with --input-grid BITS,EXPONENT)"]
    code, _, err = run_cli(main, str(path), "-o", str(tmp_path / "p.chew"), "--input-grid", "4,-4",
                           "--first-layer=bitplane")
    assert code == 0 and "2 layers on the array, 1 host step (input: split the 4-bit input" in err
    images = np.ldexp(np.random.default_rng(2).integers(-8, 8, (3, 1, 10, 10)), -4).astype(np.float32)
    assert check_program(tmp_path / "p.chew", path, list(images)) == (3, None)
    with pytest.raises(ChewcError, match="not a 4-bit signed integer times 2\\*\\*-4, the input grid"):
        emulate(tmp_path / "p.chew", np.full((1, 10, 10), 0.3, np.float32))


@pytest.mark.parametrize("grid,message", [
    ("8", "--input-grid '8': expected BITS,EXPONENT[,unsigned], e.g. 8,-7 (Q1.7)"),
    ("17,0", "planes: bits must be 1..16, got 17"),
])
def test_bad_input_grid_is_one_line(tmp_path: Path, grid: str, message: str) -> None:
    code, _, err = run_cli(main, str(plain_model(tmp_path / "p.onnx")), "-o", str(tmp_path / "p.chew"),
                           f"--input-grid={grid}")
    assert code == 2 and len(err.splitlines()) == 1 and message in err


def test_refusals_name_the_constraint(tmp_path: Path) -> None:
    """A 16-bit grid over 27 inputs overflows the 16-bit accumulator; a non-power-of-two scale rounds."""
    for kwargs, why in [
        (dict(bits=16, scale=2.0**-15), "the sums of 16 planes over 27 inputs reach 1769445, beyond the 16-bit "
                                        "accumulator"),
        (dict(scale=0.01), "scale 0.01 is not a power of two"),
    ]:
        path = quant_model(tmp_path / "r.onnx", **kwargs)
        with pytest.raises(ChewcError, match="no layer maps by bit planes: .*" + why.split(" (")[0][:40]):
            compile_model(path, first_layer="bitplane")
        auto = compile_model(path)  # auto: the host takes it, saying why
        assert auto.placement is not None and why in auto.placement.host[0].reason


@pytest.mark.slow
def test_auto_picks_bit_planes_for_cnv(real_model, tmp_path: Path) -> None:  # noqa: ANN001
    """CNV-W1A1's 8-bit first layer: bit planes cost less energy than the host by the machine's estimate; both
    mappings give the same scores on real images."""
    entry = real_model("cnv_qonnx")
    auto = compile_model(entry.path())
    host = compile_model(entry.path(), first_layer="host")
    assert auto.placement is not None and host.placement is not None
    assert auto.placement.layers == host.placement.layers + 1
    assert [h.where for h in auto.placement.host] == ["input", "input", "head"]
    shifted = sum(decode(word).op.mnemonic == "CONV.S" for word in auto.program.code)
    assert shifted > 0 and shifted % 7 == 0  # planes 1..7 of every tile
    images = [x for x, _ in entry.samples(4)]
    assert check_program(auto.program, entry.path(), images) == (4, None)
    for x in images:
        assert np.array_equal(emulate(auto.program, x[0]).outputs["scores"], emulate(host.program, x[0]).outputs["scores"])
    plain = real_model("cnv")
    grid = compile_model(plain.path(), first_layer="bitplane", input_grid=Q17)
    assert check_program(grid.program, plain.path(), [x for x, _ in plain.samples(2)]) == (2, None)
