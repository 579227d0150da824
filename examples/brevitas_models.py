#!/usr/bin/env python3
"""Binary CIFAR-10 CNNs defined in Brevitas with its stock binary quantisers, exported to QONNX.

    python examples/brevitas_models.py --out DIR [--only NAME]

Needs the `brevitas` extra (`pip install -e '.[brevitas]'`: torch, brevitas, onnxoptimizer). The
networks are what a Brevitas user writes, quantised the way most users get them: weights from
`brevitas.quant.binary.SignedBinaryWeightPerTensorConst` (±0.1, one constant scale per tensor) and
activations from `SignedBinaryActPerTensorConst` (±1), exported by `brevitas.export.export_qonnx`
(`BipolarQuant` nodes with scale inputs, in domain `qonnx.custom_op.general`):

    vgg      x in [0,1] -> binarise(2x - 1)
             conv3x3 p1 3->32, BN, binarise                       32x32
             conv5x5 p2 32->32, max-pool 2 (of the sums), BN, binarise    (BinaryNet order)
             conv3x3 p1 32->64, BN, binarise, max-pool 2          (CNV order: a pool of ±1 maps)
             conv5x5 p2 64->64, BN, binarise, max-pool 2          -> 64x4x4
             linear 1024->128, BN, binarise; linear 128->10 with a float bias (the scores)
    resnet   x in [0,1] -> binarise(2x - 1)
             stem: s = max-pool 2 (conv3x3 p1 3->16)              16x16, a pool of the sums
             block: s = s + conv3x3(binarise(BN(conv3x3(binarise(BN(s))))))
             down:  a = binarise(BN(s)); s = conv1x1/2(a) + conv3x3(binarise(BN(conv3x3/2(a))))   32x8x8
             head:  linear 512->10 (max-pool 2 of binarise(BN(s)), flattened)

The residual stream `s` is never binarised: every shortcut adds two sums of ±0.1 terms, an integer
times 0.1. Convolutions pad with zeros and have no bias.

Weights are Brevitas's seeded default initialisation (nothing is trained or downloaded); BatchNorm
has seeded non-trivial statistics (about a fifth of the gammas negative), and the modules are
exported in eval mode. The files, all for a batch of one image [1, 3, 32, 32] of pixel/255:

    brevitas_vgg.onnx              the default exporter (torch.export / dynamo, as Brevitas chooses on torch >= 2.9)
    brevitas_vgg_torchscript.onnx  the TorchScript exporter (dynamo=False): MatMul of a Transpose, initializers as inputs
    brevitas_vgg_per_channel.onnx  weights ±s with s per output channel (`SignedBinaryWeightPerChannelFloat` below)
    brevitas_resnet.onnx
    brevitas_resnet_external.onnx  the same model with its weights in brevitas_resnet_external.onnx.data
                                   (onnx's external data: export_qonnx itself always writes them inline)

Output is byte-identical on every run from the same folder (seeded generators, one thread). The
default exporter writes each node's Python stack trace, with absolute source paths, into the node's
metadata: a checkout elsewhere differs there, never in the graph or the weights.
"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Callable
from pathlib import Path

import onnx
import torch
from brevitas.core.scaling import ScalingPerOutputType
from brevitas.export import export_qonnx
from brevitas.nn import QuantConv2d, QuantIdentity, QuantLinear
from brevitas.quant.base import MaxStatsScaling
from brevitas.quant.binary import SignedBinaryActPerTensorConst, SignedBinaryWeightPerTensorConst
from torch import nn

INPUT_SHAPE = (1, 3, 32, 32)
NEGATIVE_GAMMAS = 0.2  # fraction of BatchNorm channels whose gamma is negative


class SignedBinaryWeightPerChannelFloat(MaxStatsScaling, SignedBinaryWeightPerTensorConst):
    """±s with s = max |w| of each output channel. Brevitas ships no per-channel binary quantiser; this is
    its stock binary one with the scaling of its stock per-channel `Int8WeightPerChannelFloat`."""

    scaling_per_output_type = ScalingPerOutputType.CHANNEL


def binarise() -> QuantIdentity:
    return QuantIdentity(act_quant=SignedBinaryActPerTensorConst)


def conv(cin: int, cout: int, k: int, weight_quant: type, stride: int = 1) -> QuantConv2d:
    return QuantConv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False, weight_quant=weight_quant)


class Vgg(nn.Module):
    def __init__(self, weight_quant: type = SignedBinaryWeightPerTensorConst) -> None:
        super().__init__()
        self.inp = binarise()
        self.features = nn.Sequential(
            conv(3, 32, 3, weight_quant), nn.BatchNorm2d(32), binarise(),
            conv(32, 32, 5, weight_quant), nn.MaxPool2d(2), nn.BatchNorm2d(32), binarise(),
            conv(32, 64, 3, weight_quant), nn.BatchNorm2d(64), binarise(), nn.MaxPool2d(2),
            conv(64, 64, 5, weight_quant), nn.BatchNorm2d(64), binarise(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            QuantLinear(64 * 4 * 4, 128, bias=False, weight_quant=weight_quant), nn.BatchNorm1d(128), binarise(),
            QuantLinear(128, 10, bias=True, weight_quant=weight_quant),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(self.inp(2 * x - 1)), 1))


class Block(nn.Module):
    """s + conv(binarise(BN(conv(binarise(BN(s)))))); with `stride` 2 and twice the channels, the
    shortcut is a 1x1/2 conv of the block's binarised input."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        w = SignedBinaryWeightPerTensorConst
        self.pre = nn.Sequential(nn.BatchNorm2d(cin), binarise())
        self.body = nn.Sequential(conv(cin, cout, 3, w, stride), nn.BatchNorm2d(cout), binarise(), conv(cout, cout, 3, w))
        self.shortcut = conv(cin, cout, 1, w, stride) if stride != 1 or cin != cout else None

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        a = self.pre(s)
        return (self.shortcut(a) if self.shortcut is not None else s) + self.body(a)


class ResNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inp = binarise()
        self.stem = nn.Sequential(conv(3, 16, 3, SignedBinaryWeightPerTensorConst), nn.MaxPool2d(2))
        self.blocks = nn.Sequential(Block(16, 16), Block(16, 32, stride=2))
        self.head = nn.Sequential(nn.BatchNorm2d(32), binarise(), nn.MaxPool2d(2), nn.Flatten(),
                                  QuantLinear(32 * 4 * 4, 10, bias=False, weight_quant=SignedBinaryWeightPerTensorConst))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(self.inp(2 * x - 1))))


def seeded(build: Callable[[], nn.Module], seed: int) -> nn.Module:
    """`build()` with seeded weights and seeded BatchNorm statistics, in eval mode.

    Each BN's running mean and variance are drawn around what a sum over its channel's fan-in of ±w terms
    spreads to (its standard deviation is w * sqrt(fan-in)), so that each binarisation sees both signs."""
    torch.manual_seed(seed)
    module = build()
    g = torch.Generator().manual_seed(seed)
    spread = 1.0
    for m in module.modules():  # in definition order: a BN comes after the layer whose sums it normalises
        if isinstance(m, (QuantConv2d, QuantLinear)):
            w = m.quant_weight().value.detach()
            spread = float(w.abs().mean() * w[0].numel() ** 0.5)
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            n = m.num_features
            with torch.no_grad():
                sign = torch.where(torch.rand(n, generator=g) < NEGATIVE_GAMMAS, -1.0, 1.0)
                m.weight.copy_(sign * (0.5 + torch.rand(n, generator=g)))
                m.bias.copy_(0.2 * spread * torch.randn(n, generator=g))
                m.running_mean.copy_(0.5 * spread * torch.randn(n, generator=g))
                m.running_var.copy_(spread**2 * (0.25 + torch.rand(n, generator=g)))
    return module.eval()


def export(module: nn.Module, path: Path, *, dynamo: bool = True, external: bool = False) -> Path:
    """`module` exported by `export_qonnx` to `path`; `external`: then re-saved with every tensor in
    `<path>.data` beside it (export_qonnx reloads and re-saves its result whole)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporters' deprecation and tracer warnings
        # external_data=False: torch's exporter would leave a stale .data file beside the re-saved model
        extra = {"external_data": False, "verbose": False} if dynamo else {}
        export_qonnx(module, torch.rand(INPUT_SHAPE), str(path), dynamo=dynamo, **extra)
    if external:
        model = onnx.load(str(path))
        onnx.save(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                  location=f"{path.name}.data", size_threshold=0)
    return path


MODELS: dict[str, tuple[Callable[[], nn.Module], dict[str, bool]]] = {
    "brevitas_vgg": (lambda: seeded(Vgg, 0), {}),
    "brevitas_vgg_torchscript": (lambda: seeded(Vgg, 0), {"dynamo": False}),
    "brevitas_vgg_per_channel": (lambda: seeded(lambda: Vgg(SignedBinaryWeightPerChannelFloat), 1), {}),
    "brevitas_resnet": (lambda: seeded(ResNet, 2), {}),
    "brevitas_resnet_external": (lambda: seeded(ResNet, 2), {"external": True}),
}


def write(name: str, out: Path) -> Path:
    """Model `name` of MODELS exported into folder `out`."""
    torch.set_num_threads(1)  # the same sums in the same order on every machine
    build, options = MODELS[name]
    return export(build(), out / f"{name}.onnx", **options)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the .onnx files")
    parser.add_argument("--only", choices=sorted(MODELS), action="append", help="write only these models")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.only or MODELS:
        path = write(name, args.out)
        print(f"{path}: {path.stat().st_size / 1e3:.0f} kB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
