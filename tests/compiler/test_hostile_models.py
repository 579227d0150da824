"""Hostile and broken models: every one is refused in one stderr line with exit 2, within seconds and
bounded memory, never a traceback, a hang or exit 3. Each case is a reproducer from issue 10."""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from compiler import cli
from isa.cli import objdump_main
from runtime import cli as run_cli
from tests.helpers import EXAMPLES, REPO, pm1, run_cli as call, save_model

MLP = EXAMPLES / "mlp.onnx"


def refusal(*args: str) -> str:
    """chewc's one-line refusal (asserting exit 2 and a single stderr line)."""
    code, _, err = call(cli.main, *args, "--emit=bnn")
    assert code == 2 and err.count("\n") == 1 and err.startswith("chewc: error: "), err
    return err


def binary_net(tmp_path: Path, extra: list[onnx.NodeProto] = (), extra_out: list[str] = (),
               inits: dict[str, np.ndarray] | None = None, input_shape: list[int | str] = (1, 3, 8, 8)) -> Path:
    """Sign -> Conv(±1) -> Sign: a valid network, plus `extra` nodes."""
    rng = np.random.default_rng(0)
    nodes = [helper.make_node("Sign", ["x"], ["b"], name="sign0"),
             helper.make_node("Conv", ["b", "w", "bias"], ["c"], name="conv1", pads=[1, 1, 1, 1]),
             helper.make_node("Sign", ["c"], ["y"], name="sign1"), *extra]
    weights = {"w": pm1(rng, (4, 3, 3, 3)), "bias": np.full(4, 0.5), **(inits or {})}
    outs = [("y", [1, 4, 8, 8]), *((o, [1, 4, 8, 8]) for o in extra_out)]
    return save_model(tmp_path / "m.onnx", nodes, [("x", list(input_shape))], outs, weights)


def test_huge_declared_input_is_refused_before_allocation(tmp_path: Path) -> None:
    path = binary_net(tmp_path, input_shape=[16, 4095, 4095])
    start = time.perf_counter()
    err = refusal(str(path))
    assert "value 'x' declares 268304400 elements [16, 4095, 4095] (at most 16777216)" in err
    assert time.perf_counter() - start < 5


def test_fixed_batch_is_refused(tmp_path: Path) -> None:
    err = refusal(str(binary_net(tmp_path, input_shape=[100000, 3, 2, 2])))
    assert "input 'x' has a fixed batch of 100000; chewc compiles one image at a time" in err


def test_dead_subgraphs_are_not_folded(tmp_path: Path) -> None:
    """A dead chain of Tile nodes (5.4 GB when folded) and a dead Loop of 10^9 steps are pruned."""
    tiles = [helper.make_node("Tile", [f"t{i}", "reps"], [f"t{i + 1}"], name=f"tile{i}") for i in range(12)]
    body = helper.make_graph([helper.make_node("Identity", ["cond"], ["cond_out"]), helper.make_node("Identity", ["v"], ["v_out"])],
                             "body", [helper.make_tensor_value_info("i", TensorProto.INT64, []),
                                      helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
                                      helper.make_tensor_value_info("v", TensorProto.FLOAT, [1])],
                             [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
                              helper.make_tensor_value_info("v_out", TensorProto.FLOAT, [1])])
    loop = helper.make_node("Loop", ["trips", "", "v0"], ["v_end"], name="spin", body=body)
    inits = {"t0": np.ones((4, 4), np.float32), "reps": np.array([4, 4], np.int64), "trips": np.array(10**9, np.int64),
             "v0": np.zeros(1, np.float32)}
    path = binary_net(tmp_path, tiles + [loop], inits=inits)
    model = onnx.load(path)
    for name in ("reps", "trips"):  # save_model stores float32: these must be int64
        next(t for t in model.graph.initializer if t.name == name).CopyFrom(numpy_helper.from_array(inits[name], name))
    onnx.save(model, path)
    start = time.perf_counter()
    code, _, err = call(cli.main, str(path), "-o", str(tmp_path / "m.chew"), "-q")
    assert (code, err) == (0, ""), err
    assert time.perf_counter() - start < 20


def test_live_control_flow_and_blow_ups_are_refused(tmp_path: Path) -> None:
    tile = [helper.make_node("Tile", ["t0", "reps"], ["big"], name="tile0"),
            helper.make_node("ReduceSum", ["big"], ["s"], name="sum0", keepdims=0),
            helper.make_node("Add", ["y", "s"], ["z"], name="add0")]
    inits = {"t0": np.ones((64, 64), np.float32), "reps": np.array([4096, 4096], np.int64)}
    path = binary_net(tmp_path, tile, ["z"], inits)
    model = onnx.load(path)
    next(t for t in model.graph.initializer if t.name == "reps").CopyFrom(numpy_helper.from_array(inits["reps"], "reps"))
    del model.graph.output[0]
    onnx.save(model, path)
    err = refusal(str(path))
    assert "node tile0 (Tile): its result 'big' would have 68719476736 elements" in err


def test_names_must_be_utf8_and_unique(tmp_path: Path) -> None:
    path = binary_net(tmp_path)
    blob = path.read_bytes()
    at = blob.index(b"conv1")
    (tmp_path / "utf8.onnx").write_bytes(blob[:at] + b"\xff" + blob[at + 1 :])
    assert "is not valid UTF-8" in refusal(str(tmp_path / "utf8.onnx"))
    model = onnx.load(path)
    model.graph.node[2].name = "conv1"
    onnx.save(model, tmp_path / "dup.onnx")
    assert "two nodes are named 'conv1'; node names must be unique" in refusal(str(tmp_path / "dup.onnx"))


@pytest.mark.parametrize("dtype", [np.int8, np.float64])
def test_weights_of_the_wrong_type_are_refused_at_compile_time(tmp_path: Path, dtype: type) -> None:
    path = binary_net(tmp_path)
    model = onnx.load(path)
    w = model.graph.initializer[0]
    w.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(w).astype(dtype), "w"))
    onnx.save(model, path)
    err = refusal(str(path))
    assert "onnxruntime rejects the model:" in err and "Type Error" in err and "(conv1)" in err


def test_special_files_and_missing_folders(tmp_path: Path) -> None:
    """/dev/zero used to be read whole by chewc-run and chewc-objdump (over 20 GB); an output in a missing
    folder was exit 3 in chewc, chewc-run and chewc-opt."""
    from compiler import opt

    for main, tool in ((run_cli.main, "chewc-run"), (objdump_main, "chewc-objdump"), (cli.main, "chewc")):
        code, _, err = call(main, "/dev/zero", *(["-o", str(tmp_path / "z.chew")] if tool == "chewc" else []))
        assert code == 2 and err == f"{tool}: error: cannot read {'ONNX model' if tool == 'chewc' else '.chew program'} " \
            "/dev/zero: not a regular file\n"
    missing = tmp_path / "no" / "such" / "dir"
    prog = tmp_path / "m.chew"
    assert call(cli.main, str(MLP), "-o", str(prog))[0] == 0
    for main, args in ((cli.main, [str(MLP), "-o", str(missing / "m.chew")]),
                       (run_cli.main, [str(prog), "--output", str(missing / "y.npy")]),
                       (opt.main, [str(REPO / "tests" / "filecheck" / "dialects" / "bnn_ops.mlir"), "-o", str(missing / "o.mlir")])):
        code, _, err = call(main, *args)
        assert code == 2 and f"folder {missing} does not exist" in err and err.count("\n") == 1


def run_tool(*args: str) -> subprocess.CompletedProcess[str]:
    """A tool in its own process: stderr captured at the file descriptor (onnxruntime logs from C++)."""
    script = "import sys; from compiler.cli import main; sys.argv[0] = 'chewc'; main()"
    return subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, cwd=REPO, timeout=120)


@pytest.mark.slow
def test_refusals_and_successes_print_nothing_else(tmp_path: Path, real_model) -> None:
    """onnxruntime's log lines made refusals two or three lines long; a QONNX compile printed 143 warnings."""
    path = binary_net(tmp_path)
    model = onnx.load(path)
    model.graph.initializer[0].CopyFrom(numpy_helper.from_array(np.zeros((4, 3, 3, 3), np.float64), "w"))
    onnx.save(model, path)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    run = run_tool(str(path))
    assert run.returncode == 2 and run.stderr.count("\n") == 1, run.stderr
    qonnx = real_model("cnv_qonnx").path()
    run = run_tool(str(qonnx), "-o", str(tmp_path / "cnv.chew"))
    assert (run.returncode, run.stdout) == (0, "")
    assert run.stderr.startswith("chewc: 11 layers on the array, 3 host steps (") and run.stderr.count("\n") == 1
    assert max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) < 2 * 1024 * 1024  # KiB: under 2 GiB


def test_a_declared_accumulator_without_a_channel_axis_is_refused(tmp_path: Path) -> None:
    """A value info declaring a conv's sums as [1000000], hidden from shape inference behind a QONNX
    binariser, crashed threshold folding (IndexError; fuzzer seed 12)."""
    from tests.helpers import pm1, save_model

    qonnx = "qonnx.custom_op.general"
    nodes = [helper.make_node("BipolarQuant", ["x", "one"], ["xb"], domain=qonnx),
             helper.make_node("Conv", ["xb", "w"], ["acc"]),
             helper.make_node("BipolarQuant", ["acc", "one"], ["y"], name="q1", domain=qonnx)]
    path = save_model(tmp_path / "m.onnx", nodes, [("x", [1, 4, 6, 6])], [("y", [1, 8, 4, 4])],
                      {"one": np.ones(1), "w": pm1(np.random.default_rng(0), (8, 4, 3, 3))}, extra_opsets=[(qonnx, 1)])
    model = onnx.load(path)
    model.graph.value_info.append(helper.make_tensor_value_info("acc", onnx.TensorProto.FLOAT, [1000000]))
    onnx.save(model, path)
    assert "node q1 (BipolarQuant): the accumulator 'acc' has shape [1000000] (as the model declares it)" in refusal(str(path))
