"""chewc passes, one per file, registered by name (lazy factories, as xDSL does)."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from xdsl.passes import ModulePass

# pass name -> (module in compiler.passes, class); modules are imported only when a pass is used
PASSES: dict[str, tuple[str, str]] = {
    "bnn-decompose-kernels": ("bnn_decompose_kernels", "BnnDecomposeKernelsPass"),
    "bnn-dense-to-conv": ("bnn_dense_to_conv", "BnnDenseToConvPass"),
    "bnn-legalize-padding": ("bnn_legalize_padding", "BnnLegalizePaddingPass"),
    "bnn-legalize-windows": ("bnn_legalize_windows", "BnnLegalizeWindowsPass"),
    "tile-loops": ("tile_loops", "TileLoopsPass"),
    "tile-buffer-alloc": ("tile_buffer_alloc", "TileBufferAllocPass"),
    "convert-tile-to-chewbacca": ("convert_tile_to_chewbacca", "ConvertTileToChewbaccaPass"),
}


def _factory(module: str, cls: str) -> Callable[[], type[ModulePass]]:
    return lambda: getattr(importlib.import_module(f"compiler.passes.{module}"), cls)


def get_all_passes() -> dict[str, Callable[[], type[ModulePass]]]:
    return {name: _factory(module, cls) for name, (module, cls) in PASSES.items()}
