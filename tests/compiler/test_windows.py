"""Windows the array cannot step directly (unequal strides or dilations, pools over 7x7, ceil mode,
auto_pad) run exactly as onnxruntime computes them: legalised on the array, never refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx import helper

from compiler.driver import compile_model
from compiler.passes.bnn_legalize_windows import pool_chain
from runtime.reference import check_program
from tests.helpers import pm1, save_model


def net(tmp_path: Path, layer: helper.NodeProto, in_shape: tuple[int, ...], bits_in: bool = True) -> Path:
    """x -> Sign -> `layer` (reading 'b', writing 'y') -> y: a binary conv's sums or a ±1 pool."""
    rng = np.random.default_rng(5)
    nodes = [helper.make_node("Sign", ["x"], ["b"]), layer]
    inits = {"w": pm1(rng, (3, in_shape[0], 3, 3)), "w2": pm1(rng, (3, in_shape[0], 1, 4))}
    inits = {k: v for k, v in inits.items() if k in layer.input}
    return save_model(tmp_path / "m.onnx", nodes, [("x", [1, *in_shape])], [("y", ["n", "c", "h", "w"])], inits)


def exact(path: Path, n: int = 3) -> list[str]:
    compiled = compile_model(path)
    shape = [d.dim_value for d in __import__("onnx").load(path).graph.input[0].type.tensor_type.shape.dim]
    inputs = [np.random.default_rng(i).uniform(-1, 1, shape).astype(np.float32) for i in range(n)]
    assert check_program(compiled.program, path, inputs) == (n, None)
    return [op.name for op in compile_model(path, "tile").module.walk() if op.name in ("tile.host", "tile.pool", "tile.conv")]


@pytest.mark.parametrize(("attrs", "pools"), [
    (dict(kernel_shape=[2, 3], strides=[3, 2]), 1),  # non-square window, unequal strides
    (dict(kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1), 1),
    (dict(kernel_shape=[3, 3], strides=[1, 1], dilations=[2, 1]), 2),  # unequal dilations: separable
    (dict(kernel_shape=[9, 13], strides=[2, 2], pads=[4, 6, 4, 6]), 4),  # over 7x7: chains of 1-D pools
    (dict(kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER"), 1),
    (dict(kernel_shape=[2, 2], strides=[2, 2], auto_pad="SAME_LOWER"), 1),
])
def test_pools_run_on_the_array(tmp_path: Path, attrs: dict, pools: int) -> None:
    path = net(tmp_path, helper.make_node("MaxPool", ["b"], ["y"], name="pool", **attrs), (5, 13, 15))
    kinds = exact(path)
    assert kinds.count("tile.pool") == pools


@pytest.mark.parametrize("attrs", [
    dict(strides=[2, 1], pads=[1, 1, 1, 1]),
    dict(strides=[3, 2], dilations=[2, 1]),
    dict(dilations=[1, 3], pads=[1, 3, 1, 3]),
    dict(strides=[9, 9]),  # beyond the ISA's stride field: 9 = stride 3 then every third row and column
])
def test_convs_with_unequal_windows_are_exact(tmp_path: Path, attrs: dict) -> None:
    path = net(tmp_path, helper.make_node("Conv", ["b", "w"], ["y"], name="conv", **attrs), (4, 19, 17))
    kinds = exact(path)
    assert kinds.count("tile.conv") >= 1


def test_pool_chains_cover_every_tap() -> None:
    for taps in range(1, 40):
        for d in (1, 2, 3):
            chain = pool_chain(taps, d, 7)
            assert all(k <= 7 for k, _ in chain)
            covered = {0}
            for k, dil in chain:  # composing max windows: positions p + j * dil, j < k
                covered = {p + j * dil for p in covered for j in range(k)}
            assert covered == {j * d for j in range(taps)}, (taps, d, chain)


def test_ceil_mode_rows_as_onnxruntime_computes_them(tmp_path: Path) -> None:
    """Over 3 rows, a 2x2/3 ceil-mode pool: onnx shape inference says 2 output rows, onnxruntime 1 (the
    second window would start past the input); compiled programs used to disagree with the reference."""
    path = net(tmp_path, helper.make_node("MaxPool", ["b"], ["y"], name="pool", kernel_shape=[2, 2], strides=[3, 3],
                                          ceil_mode=1), (5, 3, 15))
    assert exact(path).count("tile.pool") == 1


def test_a_window_larger_than_the_map_is_one_clean_refusal(tmp_path: Path) -> None:
    """onnxruntime accepts it and computes an empty map; chewc ended in exit 3 (a bits type of no elements)."""
    from compiler import cli
    from tests.helpers import run_cli

    path = net(tmp_path, helper.make_node("MaxPool", ["b"], ["y"], name="pool", kernel_shape=[3, 3]), (2, 2, 2))
    code, _, err = run_cli(cli.main, str(path), "--emit=bnn")
    assert code == 2 and "node pool (MaxPool): tensor 'y' is empty (shape [1, 2, 0, 0])" in err and err.count("\n") == 1


@pytest.mark.parametrize(("value", "conv_pads", "hosts"), [
    (1.0, [0, 0, 0, 0], 0), (-1.0, [0, 0, 0, 0], 0), (0.0, [1, 1, 1, 1], 0),
    (1.0, [1, 1, 1, 1], 1),  # +1 inside, zeros outside: the host pads, the conv stays on the array
])
def test_an_explicit_pad_folds_into_the_conv(tmp_path: Path, value: float, conv_pads: list[int], hosts: int) -> None:
    """A Pad(+1) before a 7x7 conv sent that conv to the host ("input activations are not binary")."""
    import onnx
    from onnx import numpy_helper

    rng = np.random.default_rng(0)
    nodes = [helper.make_node("Sign", ["x"], ["b"]), helper.make_node("Pad", ["b", "pads", "v"], ["p"], name="pad"),
             helper.make_node("Conv", ["p", "w", "bias"], ["c"], pads=conv_pads, name="conv"),
             helper.make_node("Sign", ["c"], ["y"])]
    path = save_model(tmp_path / "pad.onnx", nodes, [("x", [1, 3, 9, 9])], [("y", ["n", "c", "h", "w"])],
                      {"w": pm1(rng, (4, 3, 7, 7)), "v": np.float32(value), "bias": np.full(4, 0.5)})
    model = onnx.load(path)
    model.graph.initializer.append(numpy_helper.from_array(np.array([0, 0, 3, 3, 0, 0, 3, 3], np.int64), "pads"))
    onnx.save(model, path)
    module = compile_model(path, "bnn").module
    assert [op.name for op in module.walk()].count("bnn.host") == hosts
    assert [op.name for op in module.walk()].count("bnn.conv2d") == 1
    exact(path)


@pytest.mark.parametrize("include", [0, 1])
def test_ceil_mode_average_pools_keep_their_divisors(tmp_path: Path, include: int) -> None:
    """An AveragePool (a host step) keeps onnxruntime's divisors: with count_include_pad=1 the ceil-mode
    border windows are not the windows of explicit end pads, so that pool is not rewritten."""
    pool = helper.make_node("AveragePool", ["b"], ["y"], name="avg", kernel_shape=[2, 2], strides=[2, 2],
                            ceil_mode=1, count_include_pad=include)
    kinds = exact(net(tmp_path, pool, (3, 7, 7)))
    assert kinds.count("tile.host") >= 1
