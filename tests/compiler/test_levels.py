"""Every level stays executable: bnn, tile (before and after buffer placement) and chewbacca IR of each
example run with their own reference semantics and equal the ONNX reference on the same input."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from compiler.driver import DEFAULT_PIPELINE, parse_pipeline
from compiler.importer import import_model
from dialects import make_context
from isa.machine import load_machine
from runtime.mlir_run import compare, execute, level_of, output_names, parse_module
from runtime.onnx_ref import OnnxExecutor, first_input_name
from tests.helpers import EXAMPLES, example_inputs

pytestmark = pytest.mark.slow  # seconds to minutes: out of the fast loop (pytest -m "not slow")

MODELS = sorted(p.name for p in EXAMPLES.glob("*.onnx"))


@pytest.mark.parametrize("name", MODELS)
def test_every_stage_equals_onnx(name):
    path = EXAMPLES / name
    model = onnx.load(path)
    ref = OnnxExecutor(model)
    (x,) = example_inputs(path, 1, seed=7)
    want = ref.run({first_input_name(model): x})
    module = import_model(path)
    machine = load_machine()
    seen = []
    ctx = make_context()
    for p in (None, *parse_pipeline(DEFAULT_PIPELINE)):
        if p is not None:
            p.apply(ctx, module)
        # through text, as a user would hand the stage to chewc-run
        stage = parse_module(str(module), name)
        got = execute(stage, [x], machine)
        mismatch = compare(output_names(stage), got, want)
        assert mismatch is None, f"after {p.name if p else 'import'}: {mismatch.describe()}"
        seen.append(level_of(stage))
    assert seen == ["bnn", "bnn", "bnn", "bnn", "tile", "tile", "chewbacca"]


def test_tile_placement_is_what_runs():
    """Placed buffers run at their offsets: an activation put on top of live weights breaks the result."""
    from dialects import tile

    path = EXAMPLES / "mlp.onnx"
    model = onnx.load(path)
    (x,) = example_inputs(path, 1, seed=1)
    want = OnnxExecutor(model).run({first_input_name(model): x})["scores"]
    module = import_model(path)
    ctx = make_context()
    for p in parse_pipeline(DEFAULT_PIPELINE)[:5]:  # through tile-buffer-alloc
        p.apply(ctx, module)
    assert np.array_equal(np.asarray(execute(module, [x])[0], np.float64), want)
    sign = next(op for op in module.walk() if isinstance(op, tile.AllocOp) and op.label.data == "sign")
    weights = [op for op in module.walk() if isinstance(op, tile.ConstOp) and op.label.data.endswith(".weights")]
    sign.offset = weights[-1].offset  # a wrong placement: the last layer's weights get overwritten
    assert not np.array_equal(np.asarray(execute(module, [x])[0], np.float64), want)


def test_a_binary_output_reaches_the_host_as_pm1(tmp_path):
    """A network whose output is a ±1 map (no final dense) compiles, and the host gets -1/+1 values."""
    from onnx import helper

    from compiler.driver import compile_model
    from runtime.reference import check_program
    from tests.helpers import pm1, save_model

    rng = np.random.default_rng(0)
    nodes = [helper.make_node("Sign", ["x"], ["b"]), helper.make_node("Conv", ["b", "w", "bias"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Sign", ["c"], ["y"])]
    path = save_model(tmp_path / "bits.onnx", nodes, [("x", [1, 3, 8, 8])], [("y", [1, 4, 8, 8])],
                      {"w": pm1(rng, (4, 3, 3, 3)), "bias": np.full(4, 0.5)})
    program = compile_model(path).program
    assert program.outputs[0].dtype == "bits"
    inputs = [rng.uniform(-1, 1, (1, 3, 8, 8)).astype(np.float32) for _ in range(5)]
    assert check_program(program, path, inputs) == (5, None)


@pytest.mark.parametrize("name", ["vgg_cifar.onnx", "cnn_9x9_11x11.onnx"])
def test_zero_padding_without_lane_gating(name):
    """With bnn-legalize-padding no conv needs the gate pad mode, and the program stays bit-exact."""
    from compiler.driver import compile_model
    from runtime.reference import check_program

    path = EXAMPLES / name
    pipeline = ("bnn-dense-to-conv,bnn-decompose-kernels,bnn-legalize-padding{strict=true},"
                "tile-loops,tile-buffer-alloc,convert-tile-to-chewbacca")
    compiled = compile_model(path, pipeline=pipeline)
    # no window with padding is configured to gate lanes (these examples' pools have no padding)
    gated = [op for op in compiled.module.walk() if op.name == "chewbacca.cfg.k" and op.pad_mode.data == "gate"
             and (op.pad_top.value.data > 0 or op.pad_left.value.data > 0)]
    assert gated == []
    inputs = example_inputs(path, 5)
    assert check_program(compiled.program, path, inputs) == (5, None)


def test_thresholds_beyond_int16_are_refused():
    """TMEM holds int16 thresholds: a larger one is an error naming the layer, never a wrapped value."""
    from xdsl.utils.test_value import create_ssa_value

    from compiler.passes.tile_loops import threshold_words
    from dialects import bnn
    from isa.errors import ChewcError

    acc = create_ssa_value(bnn.TensorType(bnn.i32, (1, 2)))
    assert threshold_words("l", bnn.ThresholdOp(acc, [-3, 7], "gl")).tolist() == [0xFFFD, 0, 7, 1]
    with pytest.raises(ChewcError, match="layer conv9: a threshold does not fit the int16 threshold memory"):
        threshold_words("conv9", bnn.ThresholdOp(acc, [40000, 0], "gg"))
