"""Models whose weights are ONNX external data (files beside the .onnx, as `onnx.save(...,
save_as_external_data=True)` and large-model exporters write them): compiled and checked like the same
model saved whole; a location outside the model's folder, or bytes that are not there, is one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from compiler.cli import main as chewc
from compiler.driver import compile_model
from isa.errors import ChewcError
from runtime.reference import check_program
from runtime.cli import main as chewc_run
from runtime.onnx_ref import check_runnable
from tests.helpers import EXAMPLES, example_inputs, run_cli, without_build


def external(folder: Path, name: str = "mlp") -> Path:
    """examples/models/mlp.onnx saved into `folder` with every tensor in `<name>.onnx.data`."""
    model = onnx.load(EXAMPLES / "mlp.onnx")
    path = folder / f"{name}.onnx"
    onnx.save(model, path, save_as_external_data=True, all_tensors_to_one_file=True, location=f"{name}.onnx.data",
              size_threshold=0)
    return path


def test_external_weights_compile_and_check_like_inline_ones(tmp_path: Path) -> None:
    path = external(tmp_path)
    stored = onnx.load(path, load_external_data=False)
    assert all(t.data_location == TensorProto.EXTERNAL for t in stored.graph.initializer)
    program = compile_model(path).program
    assert program is not None
    assert without_build(program) == without_build(compile_model(EXAMPLES / "mlp.onnx").program)
    assert check_program(program, path, example_inputs(EXAMPLES / "mlp.onnx", 2)) == (2, None)
    prog = tmp_path / "mlp.chew"
    assert run_cli(chewc, str(path), "-o", str(prog), "-q")[0] == 0
    code, out, err = run_cli(chewc_run, str(prog), "--check", str(path), "--samples", "2", "--report", "none")
    assert code == 0 and "bit-exact" in out, err


def with_entries(path: Path, **entries: str) -> Path:
    """The model at `path` with its first external tensor's entries changed (saved whole beside it)."""
    model = onnx.load(path, load_external_data=False)
    tensor = model.graph.initializer[0]
    given = {e.key: e.value for e in tensor.external_data} | entries
    del tensor.external_data[:]
    for k, v in given.items():
        tensor.external_data.add(key=k, value=v)
    onnx.save(model, path)
    return path


@pytest.mark.parametrize(("entries", "message"), [
    ({"location": "/etc/passwd"}, "external data location '/etc/passwd' is not a file name in the model's folder"),
    ({"location": "../mlp.onnx.data"}, "external data location '../mlp.onnx.data' is not a file name"),
    ({"location": ""}, "external data location '' is not a file name"),
    ({"location": "missing.bin"}, "cannot read external data file"),
    ({"location": "."}, "it is a directory"),
    ({"offset": "99999999"}, "external data at bytes 99999999.."),
    ({"length": "-1"}, "external data length '-1' is not a non-negative integer"),
    ({"offset": "abc"}, "external data offset 'abc' is not a non-negative integer"),
])
def test_bad_external_data_is_one_line(tmp_path: Path, entries: dict[str, str], message: str) -> None:
    path = with_entries(external(tmp_path), **entries)
    code, out, err = run_cli(chewc, str(path), "-o", str(tmp_path / "x.chew"))
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert message in err


def test_a_symlink_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    path = external(tmp_path / "elsewhere")
    (tmp_path / "model").mkdir()
    moved = tmp_path / "model" / path.name
    path.rename(moved)
    (tmp_path / "model" / "mlp.onnx.data").symlink_to(tmp_path / "elsewhere" / "mlp.onnx.data")
    code, _, err = run_cli(chewc, str(moved), "-o", str(tmp_path / "x.chew"))
    assert code == 2 and err.count("\n") == 1
    assert "external data file 'mlp.onnx.data' leads out of the model's folder" in err


def test_executors_refuse_external_data_anywhere_in_the_model() -> None:
    """A Constant's tensor with external data (not only an initializer) is refused before onnxruntime
    could read a file: only runtime.onnx_file reads those, from beside a model file."""
    value = numpy_helper.from_array(np.zeros(1, np.float32), "c")
    value.ClearField("raw_data")
    value.data_location = TensorProto.EXTERNAL
    value.external_data.add(key="location", value="/etc/passwd")
    model = helper.make_model(helper.make_graph(
        [helper.make_node("Constant", [], ["y"], value=value)], "g", [],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])]))
    with pytest.raises(ChewcError, match="tensor 'c' keeps its data in an external file"):
        check_runnable(model, "m.onnx")
