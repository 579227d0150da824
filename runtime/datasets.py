"""Real test data (MNIST, CIFAR-10) and the exact input preprocessing of each real model.

The files live in the shared data folder described by its README.md: ``$CHEWC_DATA`` or, by
default, ``<repo root>/../shared/data``. Images are returned as uint8 exactly as stored; the
``preprocess_*`` functions turn one image into the float32 tensor (batch 1) that the matching
model expects, so that emulator and reference runs see identical inputs.

    >>> entry = REAL_MODELS["cnv"]
    >>> x, label = next(entry.samples(1))      # x: float32 (1, 3, 32, 32), Q1.7 values
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np

from isa.errors import ChewcError

ENV_VAR = "CHEWC_DATA"

MNIST_IMAGES = "mnist/t10k-images-idx3-ubyte.gz"
MNIST_LABELS = "mnist/t10k-labels-idx1-ubyte.gz"
CIFAR10_SUBSET = "cifar10/cifar10_test_subset1000_decoded.npz"
CIFAR10_IMAGE0 = "cifar10/cifar10_test_image0_exact_finn.npz"

# IDX magic numbers: 0x0803 = uint8 rank-3 (images), 0x0801 = uint8 rank-1 (labels).
_IDX_IMAGES_MAGIC = 2051
_IDX_LABELS_MAGIC = 2049


def data_path() -> Path:
    """Where the shared data folder is expected, whether or not it exists."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    repo_root = Path(__file__).resolve().parent.parent
    return repo_root.parent / "shared" / "data"


def data_dir() -> Path | None:
    """The shared data folder, or None if it is absent."""
    path = data_path()
    return path if path.is_dir() else None


def data_file(relative: str) -> Path:
    """Absolute path of a file in the shared data folder; ChewcError if the folder or file is missing."""
    root = data_dir()
    if root is None:
        raise ChewcError(f"shared data not found at {data_path()} (set {ENV_VAR})")
    path = root / relative
    if not path.is_file():
        raise ChewcError(f"shared data file missing: {path}")
    return path


def _take(array: np.ndarray, n: int | None, what: str) -> np.ndarray:
    if n is None:
        return array
    if not 0 < n <= len(array):
        raise ChewcError(f"asked for {n} {what}; there are {len(array)}, so n must be 1..{len(array)}")
    return array[:n]


def _read_idx(relative: str, magic: int, header: int) -> tuple[np.ndarray, tuple[int, ...]]:
    """Payload and header dimensions of a gzipped big-endian IDX file."""
    path = data_file(relative)
    with gzip.open(path) as f:
        raw = f.read()
    words = np.frombuffer(raw[:header], dtype=">u4")
    if int(words[0]) != magic:
        raise ChewcError(f"{path}: not an IDX file of the expected kind (magic {int(words[0])}, want {magic})")
    dims = tuple(int(d) for d in words[1:])
    payload = np.frombuffer(raw, dtype=np.uint8, offset=header)
    if payload.size != int(np.prod(dims)):
        raise ChewcError(f"{path}: {payload.size} bytes of data, header says {dims}")
    return payload.reshape(dims), dims


def mnist_test(n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The first n (default all 10 000) MNIST test images, uint8 (n, 28, 28), and their uint8 labels."""
    images, _ = _read_idx(MNIST_IMAGES, _IDX_IMAGES_MAGIC, header=16)
    labels, _ = _read_idx(MNIST_LABELS, _IDX_LABELS_MAGIC, header=8)
    if len(images) != len(labels):
        raise ChewcError(f"MNIST: {len(images)} images but {len(labels)} labels")
    return _take(images, n, "MNIST images").copy(), _take(labels, n, "MNIST labels").copy()


def cifar10_subset(n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """n (default all 1000) images of the decoded CIFAR-10 JPEG subset: uint8 NHWC RGB and uint8 labels.

    The file is sorted by class; the images are returned round-robin over the classes (image j of
    class 0, of class 1, ..., of class 9, then image j+1), so that every prefix is class-balanced.
    These are JPEG-decoded pixels, not the exact CIFAR-10 ones (see the data README).
    """
    with np.load(data_file(CIFAR10_SUBSET)) as f:
        x, y = f["x"], f["y"]
    rank = np.zeros(len(y), dtype=np.int64)
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        rank[members] = np.arange(len(members))
    order = np.lexsort((y, rank))  # by rank within the class, then by class
    return _take(x[order], n, "CIFAR-10 images"), _take(y[order], n, "CIFAR-10 labels")


def cifar10_image0() -> np.ndarray:
    """The exact CIFAR-10 test image #0 (a cat, label 3) as uint8 (1, 3, 32, 32)."""
    with np.load(data_file(CIFAR10_IMAGE0)) as f:
        image = f["arr_0"]
    if image.shape != (1, 3, 32, 32) or image.dtype != np.uint8:
        raise ChewcError(f"{CIFAR10_IMAGE0}: expected uint8 (1, 3, 32, 32), got {image.dtype} {image.shape}")
    return image


def quantize_q17(pixels: np.ndarray) -> np.ndarray:
    """CNV's 8-bit input: clip(floor((2*p/255 - 1)*128 + 0.5), -128, 127) / 128, elementwise, float32.

    No pixel value 0..255 lies near a rounding tie (the nearest is 1/510 away), so float64
    arithmetic gives the exact Q1.7 code.
    """
    p = np.asarray(pixels, dtype=np.float64)
    code = np.clip(np.floor((2.0 * p / 255.0 - 1.0) * 128.0 + 0.5), -128, 127)
    return (code / 128.0).astype(np.float32)


def _check_uint8(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ChewcError(f"expected uint8 pixels, got {image.dtype} (preprocessing starts from raw pixels)")
    return image


def _cifar_chw(image: np.ndarray) -> np.ndarray:
    """A 32x32 RGB image as CHW; accepts CHW, 1xCHW, or HWC as returned by cifar10_subset."""
    image = _check_uint8(image)
    if image.shape == (1, 3, 32, 32):
        return image[0]
    if image.shape == (3, 32, 32):
        return image
    if image.shape == (32, 32, 3):
        return image.transpose(2, 0, 1)
    raise ChewcError(f"expected a CIFAR-10 image (3,32,32), (1,3,32,32) or (32,32,3), got {image.shape}")


def preprocess_cnv_plain(image: np.ndarray) -> np.ndarray:
    """Input of the plain-ONNX CNV model: Q1.7 values, float32 (1, 3, 32, 32)."""
    return quantize_q17(_cifar_chw(image))[np.newaxis]


def preprocess_cnv_qonnx(image: np.ndarray) -> np.ndarray:
    """Input of the QONNX CNV model (it quantises itself): pixel/255, float32 (1, 3, 32, 32)."""
    return (_cifar_chw(image).astype(np.float32) / np.float32(255.0))[np.newaxis]


def preprocess_lfc(image: np.ndarray) -> np.ndarray:
    """Input of the LFC MLP: pixel/255, float32 (1, 1, 28, 28); accepts (28,28) or any reshape of it."""
    image = _check_uint8(image)
    if image.size != 28 * 28:
        raise ChewcError(f"expected an MNIST image of 28x28 pixels, got shape {image.shape}")
    return (image.astype(np.float32) / np.float32(255.0)).reshape(1, 1, 28, 28)


class RealModel(NamedTuple):
    """A real model of the shared data folder with its test set and preprocessing."""

    model: str
    """Model file, relative to data_dir()."""
    load: Callable[[int | None], tuple[np.ndarray, np.ndarray]]
    """Loads the first n test images (uint8) and labels."""
    preprocess: Callable[[np.ndarray], np.ndarray]
    """Turns one image from `load` into the model's float32 input (batch 1)."""

    def path(self) -> Path:
        """Absolute path of the model file; ChewcError if it is missing."""
        return data_file(self.model)

    def samples(self, n: int | None = None) -> Iterator[tuple[np.ndarray, int]]:
        """(model input, label) for the first n test images."""
        images, labels = self.load(n)
        for image, label in zip(images, labels, strict=True):
            yield self.preprocess(image), int(label)


REAL_MODELS: dict[str, RealModel] = {
    "cnv": RealModel("models/cnv_w1a1_cifar10_bnnpynq.onnx", cifar10_subset, preprocess_cnv_plain),
    "cnv_qonnx": RealModel("models/cnv_w1a1_cifar10_bnnpynq_qonnx.onnx", cifar10_subset, preprocess_cnv_qonnx),
    "lfc": RealModel("models/lfc_w1a1_mnist_finn_sign.onnx", mnist_test, preprocess_lfc),
}


def get_real_model(name: str) -> RealModel:
    """The REAL_MODELS entry called name; ChewcError naming the known ones otherwise."""
    try:
        return REAL_MODELS[name]
    except KeyError:
        raise ChewcError(f"unknown real model {name!r}; known: {', '.join(sorted(REAL_MODELS))}") from None
