"""Binary CNNs defined in Brevitas with its stock binary quantisers and exported by its `export_qonnx`
(examples/brevitas_models.py, generated here: they need torch to regenerate): every conv and dense
layer compiles onto the array, the host keeps only the input binarisation and the float head, and
the programs equal the models' exact reading (`runtime.exact`) on real CIFAR-10 test images."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest

pytest.importorskip("brevitas", reason="needs the brevitas extra: pip install -e '.[test,brevitas]'")

from compiler.cli import main as chewc  # noqa: E402
from compiler.driver import compile_model  # noqa: E402
from runtime.check import run_program
from runtime.reference import OnnxReference  # noqa: E402
from runtime.cli import main as chewc_run  # noqa: E402
from runtime.datasets import RealModel  # noqa: E402
from tests.helpers import example_script, run_cli, without_build  # noqa: E402

pytestmark = pytest.mark.slow  # seconds to minutes: out of the fast loop (pytest -m "not slow")

IMAGES = 10
# ONNX nodes on the array: VGG 4 convs, 3 max-pools, 2 linear; ResNet 6 convs, 2 max-pools, 2 adds, 1 linear
LAYERS = {"brevitas_vgg": 9, "brevitas_vgg_torchscript": 9, "brevitas_vgg_per_channel": 9,
          "brevitas_resnet_external": 11}


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    models = example_script("brevitas_models")
    out = tmp_path_factory.mktemp("brevitas")
    return {name: models.write(name, out) for name in LAYERS}


@pytest.fixture(scope="module")
def images(real_model: Callable[[str], RealModel]) -> list[np.ndarray]:
    """Real CIFAR-10 test images as the models take them: pixel/255, [1, 3, 32, 32] (QONNX CNV's input)."""
    return [x for x, _ in real_model("cnv_qonnx").samples(IMAGES)]


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_brevitas_exports_run_on_the_array_and_match_on_real_images(
    exported: dict[str, Path], images: list[np.ndarray], name: str,
) -> None:
    path = exported[name]
    ops = {(n.domain, n.op_type) for n in onnx.load(path).graph.node}
    assert ("qonnx.custom_op.general", "BipolarQuant") in ops
    compiled = compile_model(path, strict=True)
    assert compiled.placement is not None and compiled.program is not None
    assert compiled.placement.layers == LAYERS[name]
    assert {h.where for h in compiled.placement.host} == {"input", "head"}
    reference = OnnxReference(path)
    assert reference.scaled  # ±0.1 weights: the exact reading differs from onnxruntime's float sums
    feeds = [{compiled.program.inputs[0].name: x} for x in images]
    results, mismatch = run_program(compiled.program, feeds, reference=reference)
    assert mismatch is None and len(results) == IMAGES
    assert len({next(iter(r.outputs.values())).tobytes() for r in results}) > 1  # not one constant answer
    # onnxruntime's float model agrees on every binarised bit; its rounded sums differ from the exact
    # reading only in the last bits of the float scores
    outputs = {o.name for o in reference.model.graph.output}
    assert all(r.where in outputs and abs(r.exact - r.rounded) < 1e-5 * max(1.0, abs(r.exact))
               for r in reference.rounding)


def test_external_weights_compile_to_the_same_program(exported: dict[str, Path], tmp_path: Path) -> None:
    path = exported["brevitas_resnet_external"]
    stored = onnx.load(path, load_external_data=False)
    assert all(t.data_location == onnx.TensorProto.EXTERNAL for t in stored.graph.initializer)
    assert (path.parent / f"{path.name}.data").is_file()
    whole = tmp_path / "resnet.onnx"
    onnx.save(onnx.load(path), whole)
    program = compile_model(path).program
    assert program is not None and without_build(program) == without_build(compile_model(whole).program)


def test_chewc_and_chewc_run_check_an_export_with_external_data(
    exported: dict[str, Path], images: list[np.ndarray], tmp_path: Path,
) -> None:
    path = exported["brevitas_resnet_external"]
    prog, xs = tmp_path / "resnet.chew", tmp_path / "images.npy"
    np.save(xs, np.concatenate(images[:3]))
    code, _, err = run_cli(chewc, str(path), "-o", str(prog), "--strict")
    assert code == 0 and err.startswith("chewc: 11 layers on the array"), err
    code, out, err = run_cli(chewc_run, str(prog), "--check", str(path), "--input", str(xs), "--report", "none")
    assert code == 0 and "bit-exact: 3 input(s)" in out, err


def test_the_script_writes_the_same_bytes_every_run(exported: dict[str, Path], tmp_path: Path) -> None:
    """`python examples/brevitas_models.py --out DIR --only NAME`, run again, writes the same file."""
    assert example_script("brevitas_models").main(["--out", str(tmp_path), "--only", "brevitas_vgg_torchscript"]) == 0
    again = tmp_path / "brevitas_vgg_torchscript.onnx"
    assert again.read_bytes() == exported["brevitas_vgg_torchscript"].read_bytes()
