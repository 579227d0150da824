#!/usr/bin/env python3
"""Seeded binary ResNet-18/34 and Group-Net (K bases) as ONNX, at any input resolution.

    python examples/resnets.py --arch resnet18|resnet34|groupnet [--bases K] [--size PX]
                               [--classes N] [--width C] [--seed S] -o out.onnx

The networks keep the ImageNet layout (stages of 64-128-256-512 channels, `--width` scales them) and
use only constructs chewc maps to the array, with an integer residual stream as in Bi-Real/Group-Net:

    x in [0,1] -> Sign(x - 0.5)                      (pixels k/255 are never 0.5)
    stem:  s = MaxPool3x3/2 p1(Conv7x7/2 p3(x))      (3 -> C, a max-pool of the integer accumulator)
    block: a = Sign(BN(s))
           s' = s + sum_k Conv3x3_k(Sign(BN_k(Conv3x3_k(a))))            (k = 1..K bases)
    first block of a stage (stride 2, twice the channels), the shortcut shared by the bases:
           s' = Conv1x1/2(a) + sum_k Conv3x3_k(Sign(BN_k(Conv3x3/2_k(a))))
    head:  scores = MatMul(Flatten(Sign(BN(MaxPool_global(s)))))         (±1 dot products)

Every Add sums two integer accumulators, so the stream stays an int16 map on the accelerator; the
global max-pool also runs on integers, before BN/Sign (a max over 7x7 ±1 values is almost always +1).
ResNet-18/34 are Group-Net with one base. Convs pad with zeros (ONNX).

BatchNormalization is calibrated on random inputs by `make_models.Builder` (thresholds half a step
between attainable accumulator values: `Sign` never sees 0). Each integer stream is checked on the
calibration batch to stay within int16; the worst case over all inputs (chewc's bound: the sum of the
fan-ins) is reported: it exceeds int16 in the 512-channel stage of Group-Net with 4 or more bases
(each base's 3x3 conv can reach ±4608 there), where the accelerator reports an overflow as an error.
The output is byte-identical for the same arguments.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

sys.path.insert(0, str(Path(__file__).resolve().parent))  # examples/ is not a package
from make_models import Builder  # noqa: E402

STAGES = {"resnet18": (2, 2, 2, 2), "resnet34": (3, 4, 6, 3), "groupnet": (2, 2, 2, 2)}
INT16_MAX = 2**15 - 1
PRODUCER = "chewc examples/resnets.py"
# calibration images: about 128 Ki input pixels in all, 2 to 32 images (BN statistics of the last stage
# at 224 px still see 7x7x4 positions per channel)
CALIB_PIXELS = 1 << 17


@dataclass(frozen=True)
class Spec:
    """The arguments of `build`."""

    arch: str
    size: int
    bases: int = 1
    classes: int = 1000
    seed: int = 0
    width: int = 64


# The instances committed as examples/models/<name>.onnx. ImageNet widths at 32 px would be 45 MB
# (ResNet-18) and 180 MB (Group-Net x4) of float32 ±1 weights: the first stage has 16 and 8 channels.
COMMITTED = {
    "resnet18_32": Spec("resnet18", 32, classes=10, width=16),
    "groupnet4_32": Spec("groupnet", 32, bases=4, classes=10, width=8),
}


@dataclass(frozen=True)
class Tap:
    """A tensor of the graph with its calibration batch: where branches start and streams continue."""

    name: str
    val: np.ndarray
    shape: tuple[int, ...]
    bound: int  # worst-case |value| of an integer accumulator over all inputs; 0 for ±1 maps


class ResidualBuilder(Builder):
    """`Builder` with branches (taps resumed later) and integer Adds, tracking each accumulator's range."""

    def __init__(self, name: str, doc: str, input_shape: tuple[int, ...], seed: int, calib_n: int) -> None:
        super().__init__(name, input_shape, "unit", seed, calib_n)
        self.doc = doc
        self.bound = 0
        self.worst = 0  # the largest worst-case bound of any integer tensor
        self.measured = 0  # the largest |value| any integer tensor took on the calibration batch

    def tap(self) -> Tap:
        return Tap(self.cur, self.val, self.shape, self.bound)

    def resume(self, tap: Tap) -> None:
        self.cur, self.val, self.shape, self.bound = tap.name, tap.val, tap.shape, tap.bound

    def _integer(self, bound: int) -> None:
        """The node just added gives an integer accumulator that can reach ±bound; it must fit int16."""
        self.bound = bound
        self.worst = max(self.worst, bound)
        self.measured = max(self.measured, int(np.abs(self.val).max()))
        if self.measured > INT16_MAX:
            raise ValueError(f"{self.name}: {self.cur} reaches {self.measured} on the calibration inputs, beyond int16")

    def _sign(self) -> None:
        super()._sign()
        self.bound = 0

    def conv_acc(self, cout: int, k: int, stride: int = 1, pad: int = 0) -> None:
        fanin = self.shape[0] * k * k
        super().conv_acc(cout, k, stride, pad)
        self._integer(fanin)

    def add(self, other: Tap) -> None:
        """Add(cur, other) of two integer accumulators of one shape."""
        if other.shape != self.shape or not (self.bound and other.bound):
            raise ValueError(f"{self.name}: Add of {self.cur} {self.shape} and {other.name} {other.shape}")
        first = self.cur
        self._op("Add", [], "add", operands=((other.name, other.val),))
        self._integer(self.bound + other.bound)
        self.layers.append(f"{self.cur} = {first} + {other.name} -> {'x'.join(map(str, self.shape))}, "
                           f"|acc| <= {self.bound}")

    def onnx(self) -> onnx.ModelProto:
        model = self.model(self.doc)
        model.producer_name = PRODUCER
        return model


def _block(b: ResidualBuilder, cout: int, stride: int, bases: int) -> None:
    """One basic block on the integer stream at `cur`, leaving the new stream there."""
    stream = b.tap()
    b.binarize_acc()
    a = b.tap()
    if stride != 1 or a.shape[0] != cout:
        b.conv_acc(cout, 1, stride)  # the downsample shortcut, once for all bases
        stream = b.tap()
    for _ in range(bases):
        b.resume(a)
        b.conv(cout, 3, stride, pad=1)
        b.conv_acc(cout, 3, pad=1)
        b.add(stream)
        stream = b.tap()


def calibration_images(size: int) -> int:
    return int(np.clip(CALIB_PIXELS // (size * size), 2, 32))


def doc_string(arch: str, size: int, bases: int, width: int) -> str:
    what = f"Group-Net ResNet-18 with {bases} bases" if arch == "groupnet" else f"binary ResNet-{arch[6:]}"
    return (f"{what}, {size}x{size} input in [0,1] binarised by Sign(x-0.5), stages of "
            f"{'-'.join(str(width << i) for i in range(4))} channels, integer residual stream.")


def builder(arch: str, size: int, bases: int = 1, classes: int = 1000, seed: int = 0,
            width: int = 64) -> ResidualBuilder:
    """The network, built and calibrated (`build` gives its ONNX model)."""
    if arch not in STAGES:
        raise ValueError(f"unknown arch {arch!r} (one of {', '.join(STAGES)})")
    if bases < 1 or arch != "groupnet" and bases != 1:
        raise ValueError(f"{arch} with {bases} bases: ResNets have one, Group-Net one or more")
    if size < 1 or classes < 2 or width < 1:
        raise ValueError(f"size {size}, classes {classes} (at least 2), width {width}: out of range")
    name = f"{arch}{bases if arch == 'groupnet' else ''}_{size}"
    b = ResidualBuilder(name, doc_string(arch, size, bases, width), (3, size, size), seed, calibration_images(size))
    b.binarize(mul=None, sub=0.5)
    b.conv_acc(width, 7, stride=2, pad=3)
    b.maxpool(3, stride=2, pad=1)
    for stage, blocks in enumerate(STAGES[arch]):
        for i in range(blocks):
            _block(b, width << stage, 2 if stage and not i else 1, bases)
    if b.shape[1:] != (1, 1):  # global max-pool of the integer stream
        b.maxpool(b.shape[1])
    b.binarize_acc()
    b.flatten()
    b.scores(classes)
    return b


def build(arch: str, size: int, bases: int = 1, classes: int = 1000, seed: int = 0, width: int = 64) -> onnx.ModelProto:
    """A calibrated binary ResNet/Group-Net as an ONNX model (deterministic for the same arguments)."""
    return builder(arch, size, bases, classes, seed, width).onnx()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=sorted(STAGES), required=True)
    parser.add_argument("--bases", type=int, default=1, help="Group-Net bases K (ResNets: 1)")
    parser.add_argument("--size", type=int, default=224, help="input height and width in pixels")
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--width", type=int, default=64, help="channels of the first stage (ImageNet: 64)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        b = builder(args.arch, args.size, args.bases, args.classes, args.seed, args.width)
    except ValueError as e:
        parser.error(str(e))
    args.output.write_bytes(b.onnx().SerializeToString())
    print(b.summary())
    print(f"  integer streams: |acc| <= {b.worst} for any input, {b.measured} on the calibration inputs")
    print(f"  {args.output}: {args.output.stat().st_size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
