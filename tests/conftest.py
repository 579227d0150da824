"""Fixtures shared by the chewc test suite."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from runtime.datasets import RealModel, data_dir, data_path, get_real_model


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data folder (real models and data sets); skips the test if it is absent."""
    path = data_dir()
    if path is None:
        pytest.skip(f"shared data not found at {data_path()} (set CHEWC_DATA)")
    return path


@pytest.fixture(scope="session")
def real_model(shared_data: Path) -> Callable[[str], RealModel]:
    """Look up a real model by short name (`cnv`, `cnv_qonnx`, `lfc`); skips if its file is absent.

        def test_x(real_model):
            entry = real_model("cnv")
            session = onnxruntime.InferenceSession(str(entry.path()))
            for x, label in entry.samples(10): ...
    """

    def get(name: str) -> RealModel:
        entry = get_real_model(name)
        if not (shared_data / entry.model).is_file():
            pytest.skip(f"real model {name} not found at {shared_data / entry.model}")
        return entry

    return get
