"""CONV as matrix products: the +-1 windows of FMEM words unpacked into a matrix, times unpacked weights.

Windows hold x + 1 as uint8 (0 for -1, 2 for +1, 1 for nothing: inactive lanes, gated padding), weights
-1/+1 as int8, so that products are exact int8 matrix products with the windows' zero point 1.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from isa.table import CHANNELS_PER_WORD

# Window-matrix elements per product: a product's operands stay in cache (one CNV-W1A1 layer runs its
# int8 product at 170 G MAC/s in pieces of this size, 77 G MAC/s in one piece of 100 images).
PRODUCT_ELEMENTS = 1 << 19
SMALL_PRODUCT = 1 << 18  # MACs of a product below which float32 BLAS beats onnxruntime's int8 call

Selector = slice | np.ndarray  # words of a memory: a contiguous run as a slice (a view), else addresses

# x + 1 for the +-1 value x of each of the 8 channels of a byte, bit 0 first: unpacks FMEM by lookup.
_BYTE_LANES = (((np.arange(256)[:, None] >> np.arange(8)) & 1) * 2).astype(np.uint8)


@dataclass(frozen=True, eq=False)
class Windows:
    """The windows one CONV reads from its FMEM words (`sel`), as rows of a matrix [pixel][ky][kx][lane].

    `key` is what the matrix depends on besides the words' values: CONVs with equal keys read equal
    matrices from equal words."""

    sel: Selector
    in_c: int
    groups: int  # channel groups (words per pixel)
    rows: int  # source rows gathered
    in_w: int
    out_w: int
    nrows: int
    pad: np.ndarray  # x + 1 of each lane of a padding position
    positions: np.ndarray  # window position (row, x, ky, kx) -> row of the source as a [position][lane] matrix
    taps: int  # the product's inner dimension: kh * kw * lanes of every channel group
    key: tuple[object, ...]

    @staticmethod
    def of(sel: Selector, in_c: int, pad: np.ndarray, yi: np.ndarray, xi: np.ndarray, rows: int, in_w: int
           ) -> Windows:
        """`yi[tile row, ky]`, `xi[x, kx]`: index into the gathered source rows and columns (`rows`,
        `in_w`: padding)."""
        groups = -(-in_c // CHANNELS_PER_WORD)
        positions = (yi[:, None, :, None] * (in_w + 1) + xi[None, :, None, :]).reshape(-1)
        where = (sel.start, sel.stop) if isinstance(sel, slice) else sel.tobytes()
        key = (where, in_c, pad.tobytes(), rows, in_w, yi.shape, xi.shape, yi.tobytes(), xi.tobytes())
        return Windows(sel, in_c, groups, rows, in_w, xi.shape[0], yi.shape[0], pad, positions,
                       yi.shape[1] * xi.shape[1] * groups * CHANNELS_PER_WORD, key)

    @property
    def pixels(self) -> int:
        return self.nrows * self.out_w

    @property
    def kernel(self) -> int:
        """Window positions per pixel (kh * kw)."""
        return len(self.positions) // self.pixels

    def join(self, other: Windows) -> Windows | None:
        """One window over both, if `other` reads the next channel groups of the same rows (the CONVs
        of a layer split by input channels do): its rows are [ky][kx][lane of both], else None."""
        if not (isinstance(self.sel, slice) and isinstance(other.sel, slice) and self.sel.stop == other.sel.start
                and self.in_c == self.groups * CHANNELS_PER_WORD and self.rows == other.rows
                and self.in_w == other.in_w and self.nrows == other.nrows and self.out_w == other.out_w
                and np.array_equal(self.positions, other.positions)):
            return None
        return Windows(slice(self.sel.start, other.sel.stop), self.in_c + other.in_c, self.groups + other.groups,
                       self.rows, self.in_w, self.out_w, self.nrows, np.concatenate([self.pad, other.pad]),
                       self.positions, self.taps + other.taps, (self.key, other.key))

    def source(self, fm: np.ndarray) -> np.ndarray:
        """FMEM words [image][word] as the input rows [image][row * x][lane] as x + 1, with a padding row
        and column last."""
        n, lanes, groups, rows, in_w = len(fm), CHANNELS_PER_WORD, self.groups, self.rows, self.in_w
        src = np.empty((n, rows + 1, in_w + 1, 2 * groups, 8), np.uint8)
        octets = np.ascontiguousarray(fm, "<u2").view(np.uint8).reshape(n, groups, rows, in_w, 2).transpose(0, 2, 3, 1, 4)
        np.take(_BYTE_LANES, octets.reshape(n, rows, in_w, 2 * groups), axis=0, out=src[:, :-1, :-1])
        src = src.reshape(n, rows + 1, in_w + 1, groups * lanes)
        src[:, :-1, :-1, self.in_c:] = 1
        src[:, -1, :], src[:, :, -1] = self.pad, self.pad
        return src.reshape(n, -1, groups * lanes)

    def matrix(self, src: np.ndarray, r0: int, r1: int) -> np.ndarray:
        """The windows of tile rows r0..r1-1 as a matrix [image * row * x][ky][kx][lane]."""
        # np.take of whole rows is several times faster than indexing with two index arrays
        per_row = len(self.positions) // self.nrows
        rows_of = np.take(src, self.positions[r0 * per_row : r1 * per_row], axis=1)
        return rows_of.reshape(len(src) * (r1 - r0) * self.out_w, -1)


@dataclass(frozen=True, eq=False)
class Weights:
    """Unpacked weights [tap][o] as -1/+1 int8. `fixed` weights are a program's constants: their
    products run in an onnxruntime session holding them (prepacked once, which for products of few
    windows takes most of the time of a call that is given them); others, in float32 when small."""

    int8: np.ndarray
    fixed: bool = False

    @functools.cached_property
    def float32(self) -> np.ndarray:
        return self.int8.astype(np.float32)

    @functools.cached_property
    def session(self) -> Any:  # an onnxruntime.InferenceSession
        return _int8_session(self.int8)


def product(windows: Sequence[Windows], fms: Sequence[np.ndarray], weights: Weights) -> np.ndarray:
    """[image][pixel][o]: the windows of each of `windows` over its FMEM words `fms[i]` ([image][word]),
    side by side, times `weights` (rows in the same order). The windows agree on their tiles (rows, x)."""
    first = windows[0]
    n, out_w, nrows = len(fms[0]), first.out_w, first.nrows
    taps, outs = weights.int8.shape
    result = np.empty((n, nrows * out_w, outs), np.int32)
    rows = max(1, min(nrows, PRODUCT_ELEMENTS // (out_w * taps)))
    images = max(1, PRODUCT_ELEMENTS // (first.pixels * taps)) if rows == nrows else 1
    for b in range(0, n, images):
        b1 = min(b + images, n)
        sources = [w.source(fm[b:b1]) for w, fm in zip(windows, fms, strict=True)]
        for r in range(0, nrows, rows):
            r1 = min(r + rows, nrows)
            parts = [w.matrix(src, r, r1) for w, src in zip(windows, sources, strict=True)]
            matrix = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)
            result[b:b1, r * out_w : r1 * out_w] = products(matrix, weights).reshape(b1 - b, -1, outs)
    return result


def products(windows: np.ndarray, weights: Weights) -> np.ndarray:
    """[window][o] sums of +-1 products: windows hold x + 1 (uint8). Fixed weights' products run in their
    session; else a product of at most SMALL_PRODUCT MACs in float32 BLAS (exact: every sum is below
    2**24 in magnitude), a larger one in onnxruntime's int8 kernel."""
    if weights.fixed:
        return weights.session.run(None, {"a": windows, "a_zero": _ONE})[0]
    if windows.size * weights.int8.shape[1] <= SMALL_PRODUCT:
        return (np.subtract(windows, 1, dtype=np.float32) @ weights.float32).astype(np.int32)
    return _dynamic_session().run(None, {"a": windows, "b": weights.int8, "a_zero": _ONE})[0]


_ONE = np.array(1, np.uint8)


@functools.lru_cache(maxsize=1)
def _dynamic_session() -> Any:
    return _int8_session(None)


def _int8_session(b: np.ndarray | None) -> Any:  # an onnxruntime.InferenceSession (onnxruntime has no type stubs)
    """(A - 1) @ B in int32 for uint8 A and int8 B (an input, or the constant `b`): onnxruntime's
    MatMulInteger.

    Its int8 kernels run the +-1 products of CONV several times faster than float32 BLAS, and exactly
    (each product is -1, 0 or +1; sums are int32).
    """
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    inputs = [helper.make_tensor_value_info("a", TensorProto.UINT8, ["m", "k"]),
              helper.make_tensor_value_info("a_zero", TensorProto.UINT8, [])]
    if b is None:
        inputs.append(helper.make_tensor_value_info("b", TensorProto.INT8, ["k", "n"]))
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["a", "b", "a_zero"], ["y"])], "products", inputs,
        [helper.make_tensor_value_info("y", TensorProto.INT32, ["m", "n"])],
        initializer=[] if b is None else [numpy_helper.from_array(b, "b")],
    )
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
