"""examples/resnets.py: binary ResNets and Group-Nets that chewc compiles bit-exactly, at several sizes.

The fast cases use narrow stages (8-16-32-64 channels); the ImageNet-size run is marked `slow`
(`pytest -m slow`).
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import numpy as np
import onnx
import pytest

from compiler.driver import compile_model
from isa.machine import load_machine
from runtime.reference import check_program
from tests.helpers import REPO, example_script

INPUTS = 3


@pytest.fixture(scope="module")
def resnets() -> ModuleType:
    return example_script("resnets")


@pytest.fixture(scope="module")
def make_models() -> ModuleType:
    return example_script("make_models")


def inputs(size: int, n: int = INPUTS, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [(rng.integers(0, 256, (1, 3, size, size)) / np.float32(255)).astype(np.float32) for _ in range(n)]


def attrs(node: onnx.NodeProto) -> dict[str, object]:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


@pytest.mark.parametrize(
    ("arch", "size", "bases"),
    [("resnet18", 32, 1), ("resnet18", 64, 1), ("resnet34", 32, 1), ("groupnet", 32, 2), ("groupnet", 64, 3)],
)
@pytest.mark.slow
def test_compiles_bit_exact(arch: str, size: int, bases: int, resnets: ModuleType, make_models: ModuleType,
                            tmp_path: Path) -> None:
    b = resnets.builder(arch, size, bases, classes=10, seed=5, width=8)
    assert b.worst <= resnets.INT16_MAX  # no input can overflow an int16 stream
    model = b.onnx()
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    xs = inputs(size)
    stats, _ = make_models.activation_stats(model, np.concatenate(xs))
    assert [s.zeros for s in stats] == [0] * len(stats)  # no Sign input is 0
    program = compile_model(path).program
    assert program is not None
    assert check_program(program, path, xs) == (INPUTS, None)


def test_layout(resnets: ModuleType) -> None:
    """Stem 7x7/2 and integer max-pool 3x3/2, Group-Net bases summed into the stream, 1x1/2 shortcuts,
    a global max-pool of the stream and a dense layer to the scores."""
    bases = 3
    model = resnets.build("groupnet", 64, bases, classes=7, width=8)
    nodes = model.graph.node
    producer = {o: n for n in nodes for o in n.output}
    weights = {i.name: tuple(i.dims) for i in model.graph.initializer}
    convs = [n for n in nodes if n.op_type == "Conv"]
    stem = convs[0]
    assert weights[stem.input[1]] == (8, 3, 7, 7) and attrs(stem)["strides"] == [2, 2] and attrs(stem)["pads"] == [3] * 4
    pool = nodes[[n.name for n in nodes].index(stem.name) + 1]
    assert pool.op_type == "MaxPool" and pool.input == stem.output
    assert (attrs(pool)["kernel_shape"], attrs(pool)["strides"], attrs(pool)["pads"]) == ([3, 3], [2, 2], [1] * 4)
    shortcuts = [weights[n.input[1]] for n in convs if weights[n.input[1]][2:] == (1, 1)]
    assert shortcuts == [(16, 8, 1, 1), (32, 16, 1, 1), (64, 32, 1, 1)]
    assert all(attrs(n)["strides"] == [2, 2] for n in convs if weights[n.input[1]][2:] == (1, 1))
    assert len(convs) == 1 + 3 + 8 * 2 * bases
    adds = [n for n in nodes if n.op_type == "Add"]
    assert len(adds) == 8 * bases
    assert all(producer[i].op_type in ("Conv", "Add", "MaxPool") for n in adds for i in n.input)  # integer sums
    assert [n.op_type for n in nodes[-5:]] == ["MaxPool", "BatchNormalization", "Sign", "Flatten", "MatMul"]
    global_pool = nodes[-5]  # of the integer stream, 2x2 at 64 px
    assert producer[global_pool.input[0]].op_type == "Add" and attrs(global_pool)["kernel_shape"] == [2, 2]
    assert nodes[-1].output[0] == model.graph.output[0].name == "scores"
    assert [d.dim_value for d in model.graph.output[0].type.tensor_type.shape.dim] == [1, 7]


def test_generator_is_deterministic(resnets: ModuleType, tmp_path: Path) -> None:
    first = resnets.build("groupnet", 32, 2, classes=10, seed=3, width=8).SerializeToString()
    assert resnets.build("groupnet", 32, 2, classes=10, seed=3, width=8).SerializeToString() == first
    assert resnets.build("groupnet", 32, 2, classes=10, seed=4, width=8).SerializeToString() != first
    out = tmp_path / "g.onnx"
    argv = ["--arch", "groupnet", "--bases", "2", "--size", "32", "--classes", "10", "--width", "8", "--seed", "3"]
    assert resnets.main([*argv, "-o", str(out)]) == 0
    assert out.read_bytes() == first


def test_refuses_bases_for_a_resnet(resnets: ModuleType) -> None:
    with pytest.raises(ValueError, match="resnet18 with 2 bases"):
        resnets.builder("resnet18", 32, 2)


@pytest.mark.slow
def test_imagenet_resnet18_on_a_64_kib_accumulator(resnets: ModuleType, tmp_path: Path) -> None:
    """ResNet-18 at 224 px, ImageNet widths and 1000 classes: 1.8 G MACs, bit-exact on a machine whose
    ACC holds the stem's max-pool rows (the default 32 KiB does not)."""
    b = resnets.builder("resnet18", 224)
    assert abs(b.macs_binary - 1.814e9) < 0.01e9 and b.worst <= resnets.INT16_MAX
    path = tmp_path / "resnet18_224.onnx"
    onnx.save(b.onnx(), path)
    machine = tmp_path / "acc64k.toml"
    machine.write_text(f'extends = "{REPO / "isa" / "machines" / "chewbaccann.toml"}"\nname = "acc64k"\n'
                       'description = "a 64 KiB accumulator"\n[memory.acc]\n'
                       'size_bytes = { value = 65536, tag = "A", note = "the most the ISA addresses" }\n')
    program = compile_model(path, machine_path=str(machine)).program
    assert program is not None
    assert check_program(program, path, inputs(224), load_machine(str(machine))) == (INPUTS, None)

