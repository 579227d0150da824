"""The hand-written programs in tests/asm assemble, run, and equal independent numpy references."""

from __future__ import annotations

import numpy as np
import pytest

from isa.machine import Machine, load_machine
from runtime.emulator import emulate
from tests.runtime.reference import conv, data, max_pool, pm1_weights, program, random_pm1


@pytest.fixture(scope="module")
def machine() -> Machine:
    return load_machine()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_conv3x3_two_row_tiles(machine: Machine, seed: int) -> None:
    prog = program("conv3x3.s", machine)
    x = random_pm1(np.random.default_rng(seed), (20, 8, 8))
    w = pm1_weights(data(prog, "w"), 8, 20, 3, 3)
    got = emulate(prog, x, machine).outputs["y"]
    want = conv(x, w, pad=(1, 1), pad_value=1, out_hw=(8, 8))
    assert got.dtype == np.int16 and got.shape == (8, 8, 8)
    np.testing.assert_array_equal(got, want)


def test_quarter_machine_runs_its_own_programs() -> None:
    quarter = load_machine("quarter")
    prog = program("conv3x3.s", quarter)
    x = random_pm1(np.random.default_rng(4), (20, 8, 8))
    w = pm1_weights(data(prog, "w"), 8, 20, 3, 3)
    np.testing.assert_array_equal(
        emulate(prog, x, quarter).outputs["y"], conv(x, w, pad=(1, 1), pad_value=1, out_hw=(8, 8))
    )


def test_conv7x7_stride2_gated(machine: Machine) -> None:
    prog = program("conv7x7.s", machine)
    x = random_pm1(np.random.default_rng(7), (16, 13, 13))
    w = pm1_weights(data(prog, "w"), 4, 16, 7, 7)
    result = emulate(prog, {"x": x}, machine)
    want = conv(x, w, stride=2, pad=(3, 3), pad_value=0, out_hw=(7, 7))
    np.testing.assert_array_equal(result.outputs["y"], want)
    # Gated borders: the corner output sees a 4x4 part of the window, 16 channels each.
    assert abs(int(result.outputs["y"][0, 0, 0])) <= 4 * 4 * 16
    assert (
        result.report.macs
        == 4
        * 16
        * sum(int(((np.arange(7) * 2 - 3 + k >= 0) & (np.arange(7) * 2 - 3 + k < 13)).sum()) for k in range(7)) ** 2
    )


def test_dense_accumulates_over_two_convs(machine: Machine) -> None:
    prog = program("dense.s", machine)
    x = random_pm1(np.random.default_rng(3), (256, 1, 1))
    w_lo = pm1_weights(data(prog, "w_lo"), 10, 128, 1, 1)[:, :, 0, 0]
    w_hi = pm1_weights(data(prog, "w_hi"), 10, 128, 1, 1)[:, :, 0, 0]
    want = w_lo @ x[:128, 0, 0].astype(np.int64) + w_hi @ x[128:, 0, 0].astype(np.int64)
    got = emulate(prog, x, machine).outputs["y"]
    np.testing.assert_array_equal(got[:, 0, 0], want)


def test_threshold_and_max_pool(machine: Machine) -> None:
    prog = program("thresh_pool.s", machine)
    x = random_pm1(np.random.default_rng(5), (16, 8, 8))
    w = pm1_weights(data(prog, "w"), 24, 16, 3, 3)
    acc = conv(x, w, pad=(1, 1), pad_value=-1, out_hw=(8, 8))
    table = data(prog, "t").reshape(24, 2)
    level = np.where(table[:, 0] >= 1 << 15, table[:, 0] - (1 << 16), table[:, 0])[:, None, None]
    mode = table[:, 1][:, None, None]
    bits = np.select([mode == 0, mode == 1, mode == 2], [acc >= level, acc <= level, True], False)
    binary = np.where(bits, 1, -1)
    out = emulate(prog, x, machine).outputs
    np.testing.assert_array_equal(out["y"], max_pool(binary, 2, 2))
    np.testing.assert_array_equal(out["z"], max_pool(acc, 2, 2))
    assert out["y"].dtype == np.int8 and set(np.unique(out["y"])) <= {-1, 1}
    assert {0, 1, 2, 3} <= set(table[:, 1])  # every mode is exercised


def test_residual_add(machine: Machine) -> None:
    prog = program("residual_add.s", machine)
    rng = np.random.default_rng(11)
    x = random_pm1(rng, (16, 6, 6))
    s = rng.integers(-1000, 1000, (16, 6, 6))
    w = pm1_weights(data(prog, "w"), 16, 16, 3, 3)
    got = emulate(prog, {"x": x, "s": s}, machine).outputs["y"]
    np.testing.assert_array_equal(got, conv(x, w, pad=(1, 1), out_hw=(6, 6)) + s)


def test_residual_add_overflow_is_an_error(machine: Machine) -> None:
    prog = program("residual_add.s", machine)
    x = random_pm1(np.random.default_rng(1), (16, 6, 6))
    with pytest.raises(Exception, match=r"instruction 11 \(ADD\): field 'dst': int16 overflow"):
        emulate(prog, {"x": x, "s": np.full((16, 6, 6), 32767)}, machine)


@pytest.mark.parametrize(("m", "k", "n"), [(1, 256, 256), (9, 144, 128), (1, 4096, 64), (100, 288, 128)])
def test_small_products_in_float32_equal_the_int8_ones(m: int, k: int, n: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """CONV products of at most SMALL_PRODUCT MACs run in float32 BLAS, the rest in onnxruntime's int8
    MatMulInteger: both exact, on windows of x + 1 (0, 1, 2) and +-1 weights, all-equal rows included."""
    from runtime import products

    rng = np.random.default_rng(k)
    windows = rng.integers(0, 3, (m, k)).astype(np.uint8)
    windows[0] = 2  # a window of +1 only: the largest sum
    weights = (rng.integers(0, 2, (k, n)) * 2 - 1).astype(np.int8)
    weights[:, 0] = 1
    want = (windows.astype(np.int64) - 1) @ weights.astype(np.int64)
    for small in (0, m * k * n):  # int8, then float32
        monkeypatch.setattr(products, "SMALL_PRODUCT", small)
        got = products.products(windows, products.Weights(weights))
        assert got.dtype == np.int32 and np.array_equal(got, want)
    assert want[0, 0] == k
