"""chewc passes, one per file, registered by name (lazy factories, as xDSL does)."""

from __future__ import annotations

from collections.abc import Callable

from xdsl.passes import ModulePass


def get_bnn_decompose_kernels() -> type[ModulePass]:
    from compiler.passes.bnn_decompose_kernels import BnnDecomposeKernelsPass

    return BnnDecomposeKernelsPass


def get_all_passes() -> dict[str, Callable[[], type[ModulePass]]]:
    return {"bnn-decompose-kernels": get_bnn_decompose_kernels}
