"""Conventions every command-line tool keeps: --version, and chewc-opt's help naming chewc's passes first."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Sequence
from importlib import metadata

import pytest

from compiler.cli import main as chewc
from compiler.opt import main as chewc_opt
from isa.cli import assemble_main, objdump_main
from runtime.cli import main as chewc_run
from tests.helpers import REPO, run_cli

TOOLS: dict[str, Callable[[Sequence[str]], int]] = {
    "chewc": chewc, "chewc-opt": chewc_opt, "chewc-run": chewc_run, "chewc-as": assemble_main,
    "chewc-objdump": objdump_main,
}


@pytest.mark.parametrize("name", TOOLS)
def test_every_tool_prints_the_package_version(name: str) -> None:
    code, out, err = run_cli(TOOLS[name], "--version")
    assert code == 0 and not err
    assert out.split()[:2] == [name, metadata.version("chewc")]


def test_chewc_opt_help_lists_chewcs_passes_and_not_every_upstream_one() -> None:
    code, out, _ = run_cli(chewc_opt, "--help")
    assert code == 0
    # the -p entry, its lines joined without their wrapping spaces
    passes = "".join(out[out.index("-p PASSES, --passes PASSES"):].split("\n  -")[0].split())
    for ours in ("tile-loops", "tile-buffer-alloc", "convert-tile-to-chewbacca", "bnn-decompose-kernels"):
        assert ours in passes
    assert "convert-arith-to-riscv" not in passes and "--list-passes" in passes


def test_the_run_path_loads_neither_onnx_nor_xdsl() -> None:
    """chewc-run starts without onnx (a program's host graphs load it when they run) or xdsl (IR only)."""
    code = ("import sys, runtime.cli; mods = ('onnx', 'onnxruntime', 'xdsl', 'lark', 'importlib.metadata'); "
            "print([m for m in mods if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO).stdout
    assert out.strip() == "[]"
