"""Small helpers shared by tests: build ONNX models in memory, run CLIs in-process."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import io
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from isa import build
from isa.container import ChewProgram

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples" / "models"


def save_model(
    path: Path,
    nodes: Sequence[onnx.NodeProto],
    inputs: Sequence[tuple[str, Sequence[int]]],
    outputs: Sequence[tuple[str, Sequence[int] | None]],
    inits: dict[str, np.ndarray],
    opset: int = 13,
    extra_opsets: Sequence[tuple[str, int]] = (),
) -> Path:
    graph = helper.make_graph(
        list(nodes),
        "test",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outputs],
        [numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in inits.items()],
    )
    opsets = [helper.make_opsetid("", opset), *(helper.make_opsetid(d, v) for d, v in extra_opsets)]
    model = helper.make_model(graph, opset_imports=opsets)
    onnx.save(model, path)
    return path


def without_build(prog: ChewProgram | None) -> bytes:
    """A program's bytes without its build sections (`isa.build`: which model file and pipeline made it)."""
    assert prog is not None
    return dataclasses.replace(prog, sections=tuple(s for s in prog.sections if s.kind != build.KIND)).to_bytes()


def run_cli(main: Callable[[Sequence[str]], int], *args: str) -> tuple[int, str, str]:
    """Run a `cli_main` entry point in-process; (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as e:  # argparse usage errors
            code = int(e.code or 0)
    return code, out.getvalue(), err.getvalue()


def example_inputs(path: Path, n: int, seed: int = 0) -> list[np.ndarray]:
    """Random pixels in the encoding an example declares (metadata `chewc.input`: unit, or q17 like CNV)."""
    from runtime.datasets import quantize_q17

    model = onnx.load(str(path))
    shape = [d.dim_value or 1 for d in model.graph.input[0].type.tensor_type.shape.dim]
    q17 = {p.key: p.value for p in model.metadata_props}.get("chewc.input") == "q17"
    rng = np.random.default_rng(seed)
    pixels = [rng.integers(0, 256, shape) for _ in range(n)]
    return [quantize_q17(p) if q17 else (p / 255).astype(np.float32) for p in pixels]


def pm1(rng: np.random.Generator, shape: Sequence[int]) -> np.ndarray:
    return np.where(rng.random(shape) < 0.5, -1.0, 1.0).astype(np.float32)


def example_script(name: str) -> ModuleType:
    """examples/<name>.py imported as a module (examples/ is not a package)."""
    if name in sys.modules:  # resnets imports make_models by name
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO / "examples" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module
