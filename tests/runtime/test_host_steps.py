"""HOST steps: a network whose float first and last layers run on the host, between accelerator phases,
checked bit for bit against the whole ONNX model; f32 tensors; the zero rules; host time kept apart."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import runtime.emulator
from isa.asm import assemble, disassemble
from isa.container import LAYOUT_OF, ChewProgram
from isa.errors import ChewcError
from isa.machine import load_machine
from runtime.reference import check_program
from runtime.cli import main
from runtime.emulator import emulate
from runtime.host import pack
from tests.helpers import run_cli

MACHINE = load_machine()
RNG = np.random.default_rng(42)
CONV_W = np.where(RNG.random((8, 3, 3, 3)) < 0.5, -1.0, 1.0).astype(np.float32)
GEMM_W = RNG.normal(size=(10, 128)).astype(np.float32)
GEMM_B = RNG.normal(size=10).astype(np.float32)


def model(
    nodes: list[onnx.NodeProto], inputs: dict[str, list[int]], outputs: dict[str, list[int]], **inits: np.ndarray
) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs.items()],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outputs.items()],
        [numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in inits.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


# Host step 0: centre the image (its sign is binarised on the way to DRAM, zero -> +1).
CENTRE = model([helper.make_node("Sub", ["img", "half"], ["x"])], {"img": [1, 3, 4, 4]}, {"x": [1, 3, 4, 4]}, half=0.5)
# Host step 1: the float classifier over the accelerator's int16 accumulators.
HEAD = model(
    [
        helper.make_node("Mul", ["acc", "quarter"], ["scaled"]),
        helper.make_node("Flatten", ["scaled"], ["flat"]),
        helper.make_node("Gemm", ["flat", "gw", "gb"], ["y"], transB=1),
    ],
    {"acc": ["N", 8, 4, 4]},  # a symbolic batch: the host runs batch 1
    {"y": [1, 10]},
    quarter=0.25,
    gw=GEMM_W,
    gb=GEMM_B,
)


def whole(gemm_b: np.ndarray = GEMM_B) -> onnx.ModelProto:
    """The network as a whole: what the program must equal."""
    return model(
        [
            helper.make_node("Sub", ["img", "half"], ["c"]),
            helper.make_node("Sign", ["c"], ["s"]),
            helper.make_node("Conv", ["s", "cw"], ["acc"], pads=[1, 1, 1, 1]),
            helper.make_node("Mul", ["acc", "quarter"], ["scaled"]),
            helper.make_node("Flatten", ["scaled"], ["flat"]),
            helper.make_node("Gemm", ["flat", "gw", "gb"], ["y"], transB=1),
        ],
        {"img": [1, 3, 4, 4]},
        {"y": [1, 10]},
        half=0.5,
        cw=CONV_W,
        quarter=0.25,
        gw=GEMM_W,
        gb=gemm_b,
    )


def b64(m: onnx.ModelProto) -> str:
    return base64.b64encode(m.SerializeToString()).decode()


def conv_weight_words() -> str:
    words = ((CONV_W > 0) * (1 << np.arange(3))[None, :, None, None]).sum(axis=1).ravel()
    return "\n".join(".word " + " ".join(map(str, words[i : i + 8])) for i in range(0, words.size, 8))


# Host (f32 image -> bits), accelerator (3x3 binary conv -> int16 in DRAM), host (float classifier).
NETWORK = """
.input img f32[3,4,4] chw @0x0
.output y f32[10,1,1] chw @0x400
HOST step=0
CFG.DMA count=1 dram_stride=0 chip_stride=0
DMA.LD mem=fmem dram=0x100 chip=0x0 length=16
DMA.LD mem=wmem dram=0x800 chip=0x0 length=72
SYNC
CFG.IN in_h=4 in_w=4 in_c=3
CFG.BUF buf_row0=0 buf_rows=4
CFG.K kh=3 kw=3 stride=1 dilation=1 pad_top=1 pad_left=1 pad_mode=gate
CFG.OUT out_h=4 out_w=4 obuf_rows=4
CFG.TILE row0=0 nrows=4 oc_count=8
CONV fmem=0x0 wmem=0x0 acc=0x0 accumulate=0
DMA.ST mem=acc dram=0x200 chip=0x0 length=128
HOST step=1
END

.host 0 "centre and binarise the 8-bit image (float: not on the accelerator)"
.host_in "img" f32[3,4,4] @0x0
.host_out "x" bits[3,4,4] @0x100 zero=plus
.onnx "{centre}"

.host 1 "float classifier (Mul, Gemm)"
.host_in "acc" int16[8,4,4] @0x200
.host_out "y" f32[10] @0x400
.onnx "{head}"

.data w @0x800
{weights}
"""


@pytest.fixture(scope="module")
def network() -> ChewProgram:
    text = NETWORK.format(centre=b64(CENTRE), head=b64(HEAD), weights=conv_weight_words())
    return assemble(text, MACHINE, "network.s")


@pytest.fixture
def files(tmp_path: Path, network: ChewProgram) -> Path:
    (tmp_path / "net.chew").write_bytes(network.to_bytes())
    onnx.save(whole(), tmp_path / "net.onnx")
    bad_bias = GEMM_B.copy()
    bad_bias[3] += 1
    onnx.save(whole(bad_bias), tmp_path / "bad.onnx")
    return tmp_path


def test_network_equals_the_whole_model(network: ChewProgram, files: Path) -> None:
    images = np.random.default_rng(0).random((5, 3, 4, 4), dtype=np.float32)
    assert check_program(network, files / "net.onnx", list(images)) == (5, None)
    result = emulate(network, images[0], MACHINE)
    assert result.outputs["y"].dtype == np.float32 and result.outputs["y"].shape == (10, 1, 1)
    host = result.report.host
    assert host.steps == 2 and host.wall_seconds > 0
    assert host.ops == {"Sub": 1, "Mul": 1, "Flatten": 1, "Gemm": 1}
    # the machine's host model prices the Gemm's 10 x 128 MACs and every value the two steps produce
    assert (host.macs, host.values) == (10 * 128, 3 * 4 * 4 + 2 * 8 * 4 * 4 + 10)
    assert host.model_energy_j == pytest.approx(host.macs * MACHINE.host.mac_energy + host.values * MACHINE.host.element_energy)
    assert [row.reason for row in host.by_step.values()][1] == "float classifier (Mul, Gemm)"
    assert set(host.by_step) == {"host0", "host1"} and all(r.runs == 1 for r in host.by_step.values())


def test_check_program_reports_the_first_mismatch(network: ChewProgram, files: Path) -> None:
    images = np.random.default_rng(1).random((2, 3, 4, 4), dtype=np.float32)
    done, mismatch = check_program(network, files / "bad.onnx", list(images))
    assert done == 0 and mismatch is not None
    assert (mismatch.input, mismatch.output, mismatch.index) == (0, "y", (0, 3))
    assert mismatch.message.startswith("input #0: output 'y' differs at index (0, 3): got ")


def test_host_time_is_not_accelerator_time(network: ChewProgram, monkeypatch: pytest.MonkeyPatch) -> None:
    image = np.random.default_rng(2).random((3, 4, 4), dtype=np.float32)
    fast = emulate(network, image, MACHINE).report
    real = runtime.emulator.run_host_step

    def slow(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        time.sleep(0.05)
        return real(*args, **kwargs)

    monkeypatch.setattr(runtime.emulator, "run_host_step", slow)
    slowed = emulate(network, image, MACHINE).report
    assert slowed.host.wall_seconds >= 0.1 > fast.host.wall_seconds
    same = ("cycles", "seconds", "gops", "core_energy_j", "system_energy_j", "core_tops_per_watt", "energy_j")
    assert all(getattr(slowed, k) == getattr(fast, k) for k in same)
    text = slowed.to_text(width=160)
    assert "2 steps" in text and "ms wall time; modeled host" in text and "1,280 MACs" in text
    assert "host steps (wall time; not in the accelerator's time" in text and "Gemm 1" in text
    assert json.loads(json.dumps(slowed.to_dict()))["host"]["steps"] == 2


def test_objdump_round_trip_keeps_host_steps(network: ChewProgram) -> None:
    listing = disassemble(network)
    assert (
        '.host 1 "float classifier (Mul, Gemm)"' in listing
        and '.host_out "x" bits[3,4,4] @0x000100 zero=plus' in listing
    )
    assert "HOST step=1" in listing
    assert assemble(listing, MACHINE).to_bytes() == network.to_bytes()


# --- the copy steps: relayouts, binarisation with the zero rules, int16 and f32 conversions -----------


def copy_program(src: str, dst: str, zero: str = "") -> ChewProgram:
    """A program whose one host step copies its [4, 1, 1] input of dtype `src` to a [4] output of `dst`."""
    rule = f" zero={zero}" if zero else ""
    text = f"""
    .input a {src}[4,1,1] {LAYOUT_OF[src]} @0x0
    .output b {dst}[4,1,1] {LAYOUT_OF[dst]} @0x100
    HOST step=0
    END
    .host 0 "convert"
    .host_in "a" {src}[4,1,1] @0x0
    .host_out "b" {dst}[4] @0x100{rule}
    """
    return assemble(text, MACHINE, "copy.s")


def test_bits_zero_rules() -> None:
    values = np.array([2.5, -0.5, 0.0, -0.0], np.float32).reshape(4, 1, 1)
    plus = emulate(copy_program("f32", "bits", "plus"), values, MACHINE).outputs["b"]
    assert plus.ravel().tolist() == [1, -1, 1, 1]
    for rule in ("reject", ""):
        with pytest.raises(
            ChewcError,
            match=r"instruction 0 \(HOST\): host step 0: output 'b' is exactly 0 at \(2,\), which its zero rule "
            r"'(reject|none)' rejects \(ONNX Sign\(0\) = 0",
        ):
            emulate(copy_program("f32", "bits", rule), values, MACHINE)
    nan = np.array([1, np.nan, 1, 1], np.float32).reshape(4, 1, 1)
    with pytest.raises(ChewcError, match=r"output 'b' is NaN at \(1,\)"):
        emulate(copy_program("f32", "bits", "plus"), nan, MACHINE)


def test_relayout_of_a_pm1_map_and_int16_conversions() -> None:
    # A [4, 1, 1] column of +-1 moves to a 4-element vector: a relayout (values kept, layout per dtype).
    bits = np.array([1, -1, -1, 1]).reshape(4, 1, 1)
    assert emulate(copy_program("bits", "f32"), bits, MACHINE).outputs["b"].ravel().tolist() == [1, -1, -1, 1]
    ints = np.array([7, -3, 32767, -32768]).reshape(4, 1, 1)
    assert emulate(copy_program("int16", "int16"), ints, MACHINE).outputs["b"].ravel().tolist() == ints.ravel().tolist()
    with pytest.raises(ChewcError, match=r"host step 0: output 'b' is int16: 2.5 at \(0, 0, 0\) is not an int16"):
        emulate(copy_program("f32", "int16"), np.array([2.5, 1, 1, 1]).reshape(4, 1, 1), MACHINE)
    with pytest.raises(ChewcError, match="is int16: 40000.0 at"):
        emulate(copy_program("f32", "int16"), np.array([1, 40000, 1, 1]).reshape(4, 1, 1), MACHINE)


def test_f32_round_trip_is_bit_exact() -> None:
    prog = assemble(".input a f32[2,2,3] chw @0x10\n.output b f32[2,2,3] chw @0x10\nEND\n", MACHINE)
    special = [0.0, -0.0, 1.0, -1.5, np.inf, -np.inf, 1e-45, 3.4028235e38, np.pi, 1 / 3, -(2.0**-126), 7.0]
    x = np.array(special, np.float32).reshape(2, 2, 3)
    got = emulate(prog, x, MACHINE).outputs["b"]
    assert got.dtype == np.float32 and got.tobytes() == x.tobytes()
    # Two words per element, little-endian: the low 16 bits first.
    words = pack(prog.inputs[0], np.array([1.0, -2.0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).reshape(2, 2, 3))
    assert words[:4].tolist() == [0x0000, 0x3F80, 0x0000, 0xC000] and words.size == 24


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "HOST step=5\nEND\n",
            r"instruction 0 \(HOST\): field 'step': the program has no host section 'host5' \(host sections: host0\)",
        ),
        (
            "HOST step=0\nEND\n",
            r"instruction 0 \(HOST\): host step 0: input 'in' reads DRAM word 0x200, which was never written",
        ),
    ],
)
def test_host_step_errors(body: str, message: str) -> None:
    text = body + '.host 0 "copy"\n.host_in "in" int16[2] @0x200\n.host_out "out" int16[2] @0x300\n'
    with pytest.raises(ChewcError, match=message):
        emulate(assemble(text, MACHINE), {}, MACHINE)


def test_graph_errors_name_the_step() -> None:
    head = '.host 0 "g"\n.host_in "{name}" f32[3,4,4] @0x0\n.host_out "x" f32[3,4,4] @0x100\n.onnx "{onnx}"\n'
    cases = [
        ("img", base64.b64encode(b"not a model").decode(), "host step 0: the embedded ONNX model does not load"),
        ("image", b64(CENTRE), "host step 0: input 'image' is not an input of the step's ONNX graph"),
    ]
    for name, blob, message in cases:
        prog = assemble(
            ".input img f32[3,4,4] chw @0x0\nHOST step=0\nEND\n" + head.format(name=name, onnx=blob), MACHINE
        )
        with pytest.raises(ChewcError, match=message):
            emulate(prog, np.zeros((3, 4, 4)), MACHINE)


# --- chewc-run on a .chew program with --check MODEL.onnx ---------------------------------------------


def test_cli_check_against_onnx(files: Path) -> None:
    images = np.random.default_rng(3).random((3, 3, 4, 4), dtype=np.float32)
    np.save(files / "one.npy", images[0])
    np.save(files / "three.npy", images)
    prog, ref = str(files / "net.chew"), str(files / "net.onnx")
    code, out, err = run_cli(main, prog, "--input", str(files / "one.npy"), "--check", ref)
    assert code == 0, err
    assert f"bit-exact: 1 input(s), every output equals the ONNX reference ({ref})" in out
    assert "host steps (wall time" in out and out.startswith("y float32[10,1,1] = ")
    code, out, err = run_cli(
        main, prog, "--input", str(files / "three.npy"), "--check", ref, "--output", str(files / "y.npy")
    )
    assert code == 0, err
    assert "bit-exact: 3 input(s)" in out and "3 runs; the outputs and report below are those of the last" in out
    stacked = np.load(files / "y.npy")
    assert stacked.shape == (3, 10, 1, 1)
    np.testing.assert_array_equal(stacked[2], emulate(files / "net.chew", images[2], MACHINE).outputs["y"])
    # The stacked outputs are a reference of their own (.npy).
    code, out, _ = run_cli(
        main, prog, "--input", str(files / "three.npy"), "--check", str(files / "y.npy"), "--report", "none"
    )
    assert code == 0 and "check: every output equals" in out


def test_cli_samples_without_inputs(files: Path) -> None:
    code, out, err = run_cli(
        main, str(files / "net.chew"), "--samples", "4", "--check", str(files / "net.onnx"), "--report", "json"
    )
    assert code == 0, err
    result = json.loads(out)
    assert result["runs"] == 4 and result["check"].startswith("bit-exact: 4 input(s)")
    assert result["report"]["host"]["steps"] == 2 and result["outputs"]["y"]["dtype"] == "float32"
    code, _, err = run_cli(main, str(files / "net.chew"), "--samples", "0")
    assert code == 2 and "--samples 0: run at least one sample" in err


def test_cli_mismatch_exits_1(files: Path) -> None:
    code, out, err = run_cli(main, str(files / "net.chew"), "--samples", "2", "--check", str(files / "bad.onnx"))
    assert code == 1 and out == ""
    assert err.startswith("chewc-run: error: input #0: output 'y' differs at index (0, 3): got ")
    assert "(1 of 10 elements differ)" in err


def test_cli_input_shapes(files: Path) -> None:
    np.save(files / "model_shaped.npy", np.zeros((1, 3, 4, 4), np.float32))  # the model's [1, C, H, W] fits
    np.save(files / "wrong.npy", np.zeros((4, 4, 3), np.float32))  # as many values, but HWC: no silent reshape
    prog = str(files / "net.chew")
    assert run_cli(main, prog, "--input", str(files / "model_shaped.npy"), "--check", str(files / "net.onnx"))[0] == 0
    code, _, err = run_cli(main, prog, "--input", str(files / "wrong.npy"))
    assert code == 2 and "input 'img' has shape [4, 4, 3]: the program expects [3, 4, 4] or a stack" in err
    code, _, err = run_cli(main, prog, "--check", str(files / "missing.onnx"))
    assert code == 2 and "cannot read" in err
    (files / "junk.onnx").write_bytes(b"\xff\xfe not protobuf")
    code, _, err = run_cli(main, prog, "--check", str(files / "junk.onnx"))
    assert code == 2 and "junk.onnx: not an ONNX model" in err
