"""Fuzzers for the four input surfaces of chewc: ONNX models, `.chew` programs, assembly, machine files.

Why: the README's exit-code contract promises that *any* input, however broken, ends in success, a
check mismatch, or ONE stderr line naming the node, op, offset or constraint (exit 2) -- never a
traceback, an internal error, a hang or unbounded memory. Every case here is one mutated input fed to
one tool's CLI entry point, and is classified as

  ok       exit 0 and nothing on stderr (chewc: its one placement line)
  refusal  exit 2 (bad input) or exit 1 (a check mismatch) with exactly one stderr line
  else     anything else: exit 3, a traceback, several stderr lines, exit 0 with stderr output, a
           timeout, more than 2 GiB of memory, a worker killed by a signal

Each surface has byte-level mutators (flip, insert, delete, truncate, splice, ...) and structure-aware
ones (through the ModelProto, the `.chew` section table and host JSON, assembly tokens and directives,
the TOML tables), plus file-system cases (a missing file, a directory, /dev/zero, an empty file, an
output in a missing folder or one that cannot be written).

Cases run in-process -- the CLI mains take argv lists -- inside worker subprocesses, for speed. A worker
captures stderr at the file-descriptor level (so onnxruntime's C++ log lines count), stops a case after
`timeout` seconds with an alarm (and the parent kills a worker stuck in C code), caps its address space
(RLIMIT_AS) and records its peak RSS. A worker that dies is replaced and its case counts as 'else'.
Every 'else' class (exception type / normalised first stderr line) gets one reproducer under --out:
the input files, `cmd.sh` (the exact command) and `info.json`, confirmed in a fresh process.

    python -m fuzz.fuzzers --surface onnx|chew|asm|machine|all --count N --jobs 2 --seed S
                           [--out DIR] [--json FILE] [--timeout SECONDS]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import faulthandler
import importlib
import json
import math
import multiprocessing
import multiprocessing.connection
import os
import random
import re
import resource
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import tomllib
import traceback
import warnings
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

REPO = Path(__file__).resolve().parent.parent
SURFACES = ("onnx", "chew", "asm", "machine")
# The CLI entry points by tool name (pyproject's [project.scripts]): "module:function".
TOOLS = {
    "chewc": "compiler.cli:main",
    "chewc-opt": "compiler.opt:main",
    "chewc-run": "runtime.cli:main",
    "chewc-as": "isa.cli:assemble_main",
    "chewc-objdump": "isa.cli:objdump_main",
}
CHEWC_PACKAGES = ("compiler", "dialects", "runtime", "isa")
MiB = 1 << 20
GiB = 1 << 30
MEMORY_CAP = 3 * GiB  # RLIMIT_AS of a worker: a runaway allocation fails instead of eating the machine
MEMORY_BUDGET_MB = 2048  # a case whose peak RSS exceeds this is 'else' even if it ends well
RESTART_RSS_MB = 1024  # a worker past this peak is replaced, so that ru_maxrss still measures later cases
PLACEMENT = re.compile(r"chewc: \d+ layers? on the array, \d+ host steps?")  # chewc's one line on success
STDERR_KEPT = 8000  # characters of a case's stderr sent back to the parent
HARD_GRACE = 20.0  # seconds past the alarm before the parent kills a worker stuck in C code
STARTUP_SECONDS = 300.0  # a fresh worker imports chewc and loads the corpus before its first case
FRESH_STARTUP = 10  # seconds a reproducer's own process may take beyond the case timeout to start

Files = dict[str, bytes]


# -- cases and records -------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One command: `tool *args`, run in a fresh directory holding `files` (and empty `dirs`).

    Relative paths in `args` are inside that directory, so a reproducer is the directory itself.
    """

    mutator: str
    tool: str
    args: tuple[str, ...]
    files: tuple[tuple[str, bytes], ...] = ()
    dirs: tuple[str, ...] = ()


@dataclass
class Record:
    """What one case did, and its class (see the module doc)."""

    surface: str
    index: int
    mutator: str
    tool: str
    args: list[str]
    exit_code: int | None  # None: the case never returned (timeout, dead worker, escaped exception)
    stderr_lines: int
    first_line: str
    seconds: float
    peak_mb: float  # the worker's ru_maxrss after the case: exact when the case raised it (growth > 0)
    growth_mb: float
    verdict: str = ""  # ok | refusal | else
    problem: str = ""  # why 'else'
    last_line: str = ""
    crash_log: str = ""  # faulthandler's traceback when the worker died

    def classify(self) -> None:
        self.verdict, self.problem = classify(self)

    @property
    def klass(self) -> str:
        """The 'else' class: tool, kind of failure and the normalised message that identifies it."""
        line = self.last_line if "Traceback" in self.first_line else self.first_line
        problem = normalise(self.problem) if self.problem.startswith("escaped") else self.problem
        return f"{self.tool}: {problem}: {normalise(line)}" if line else f"{self.tool}: {problem}"


def classify(r: Record) -> tuple[str, str]:
    """(verdict, problem) of a record, by the exit-code contract."""
    if r.exit_code is None:
        return "else", r.problem or "no exit code"
    if r.peak_mb > MEMORY_BUDGET_MB and r.growth_mb > 0:
        return "else", f"memory over {MEMORY_BUDGET_MB // 1024} GiB"
    if r.exit_code == 0:
        placement = r.tool == "chewc" and r.stderr_lines == 1 and PLACEMENT.match(r.first_line) is not None
        return ("ok", "") if r.stderr_lines == 0 or placement else ("else", "exit 0 with stderr output")
    if r.exit_code in (1, 2) and r.stderr_lines == 1:
        return "refusal", ""
    if r.exit_code in (1, 2):
        return "else", f"exit {r.exit_code} with a multi-line stderr"
    return "else", f"exit {r.exit_code}"


_QUOTED = re.compile(r"'[^'\n]*'|\"[^\"\n]*\"|b'[^'\n]*'|'[^'\n]*$")  # the last: a quote a newline cut
_SIZE = re.compile(r"\d+(\.\d*)? [KMGTPE]iB")
_NUMBER = re.compile(r"0x[0-9a-fA-F]+|\d+(\.\d+)?([eE][-+]?\d+)?")
_CASE_DIR = re.compile(r"\S*/cases/[a-z]+-\d+/")  # tools print some paths resolved


def normalise(line: str) -> str:
    """A message with its names and numbers blanked, so that one bug is one class however it is hit."""
    line = _CASE_DIR.sub("", line)
    line = _QUOTED.sub("'…'", line)
    line = _SIZE.sub("# <size>", line)
    line = _NUMBER.sub("#", line)
    return re.sub(r"\s+", " ", line).strip()[:200]


# -- generic byte mutators ---------------------------------------------------------------------

INTERESTING_BYTES = (b"\x00", b"\xff", b"\x7f", b"\x80", b"\xff\xff\xff\xff", b"\x00\x00\x00\x80",
                     b"\xff\xff\xff\xff\xff\xff\xff\xff\x01", b"\xfe\xff\xff\xff\x0f", b"\x01\x00\x00\x00")
BAD_UTF8 = (b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x80", b"\xf8\x88\x80\x80\x80", b"\xc0\xaf", b"\xfe")


def _position(rng: random.Random, size: int, hot: Sequence[tuple[int, int]]) -> int:
    """A byte offset: half the time inside a 'hot' region (headers, tables), else anywhere."""
    regions = [(a, min(b, size)) for a, b in hot if a < min(b, size)]
    if regions and rng.random() < 0.5:
        a, b = rng.choice(regions)
        return rng.randrange(a, b)
    return rng.randrange(max(size, 1))


def mutate_bytes(rng: random.Random, data: bytes, donors: Sequence[bytes],
                 hot: Sequence[tuple[int, int]] = ()) -> tuple[str, bytes]:
    """One byte-level mutation of `data`, with its name: what a damaged or hostile file looks like."""
    b = bytearray(data)
    kind = rng.choice(("flip", "flip", "insert", "delete", "truncate", "splice", "interesting", "duplicate",
                       "bad-utf8"))
    if not b:
        return "insert", bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 64)))
    pos = _position(rng, len(b), hot)
    if kind == "flip":
        for _ in range(rng.randint(1, 8)):
            p = _position(rng, len(b), hot)
            b[p] ^= 1 << rng.randrange(8)
    elif kind == "insert":
        b[pos:pos] = rng.choice((bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 32))),
                                 b"\x00" * rng.randint(1, 4096), rng.choice(INTERESTING_BYTES)))
    elif kind == "delete":
        del b[pos:pos + rng.choice((1, 2, 4, 8, 64, 1024, len(b)))]
    elif kind == "truncate":
        del b[pos:]
    elif kind == "splice":
        donor = rng.choice(donors) if donors else data
        cut = rng.randrange(len(donor) + 1)
        b = b[:pos] + bytearray(donor[cut:])
    elif kind == "interesting":
        value = rng.choice(INTERESTING_BYTES)
        b[pos:pos + len(value)] = value
    elif kind == "duplicate":
        n = rng.choice((1, 8, 64, 4096))
        b[pos:pos] = b[pos:pos + n] * rng.choice((1, 2, 16))
    else:
        b[pos:pos] = rng.choice(BAD_UTF8)
    return kind, bytes(b)


# -- the corpus: seed inputs every worker mutates ----------------------------------------------


def _model(nodes: Sequence[onnx.NodeProto], inputs: Sequence[tuple[str, Sequence[int]]],
           outputs: Sequence[tuple[str, Sequence[int]]], inits: dict[str, np.ndarray],
           opsets: Sequence[tuple[str, int]] = (("", 13),)) -> onnx.ModelProto:
    graph = helper.make_graph(
        list(nodes), "fuzz",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(s)) for n, s in inputs],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(s)) for n, s in outputs],
        [numpy_helper.from_array(v, k) for k, v in inits.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets],
                             ir_version=8, producer_name="chewc fuzz")


def small_models() -> dict[str, onnx.ModelProto]:
    """Small valid binarized networks: quick to compile, and small enough that byte mutations hit
    structure rather than weights (unlike the megabytes of the example models)."""
    rng = np.random.default_rng(2024)

    def pm1(*shape: int) -> np.ndarray:
        return np.where(rng.random(shape) < 0.5, -1.0, 1.0).astype(np.float32)

    def bn(prefix: str, acc: str, out: str, c: int) -> tuple[onnx.NodeProto, dict[str, np.ndarray]]:
        # the running means are odd halves: an integer accumulator never meets a threshold (no Sign(0))
        params = {f"{prefix}_g": (rng.choice([-1.0, 1.0], c) * rng.uniform(0.5, 2.0, c)).astype(np.float32),
                  f"{prefix}_b": np.zeros(c, np.float32),
                  f"{prefix}_m": (rng.integers(-4, 4, c) + 0.5).astype(np.float32),
                  f"{prefix}_v": np.ones(c, np.float32)}
        return helper.make_node("BatchNormalization", [acc, *params], [out], name=prefix), params

    models = {}
    bn1, p1 = bn("bn1", "acc1", "z1", 32)
    models["tiny_mlp"] = _model(
        [helper.make_node("Sign", ["x"], ["xb"], name="sign0"),
         helper.make_node("MatMul", ["xb", "w1"], ["acc1"], name="fc1"), bn1,
         helper.make_node("Sign", ["z1"], ["h1"], name="sign1"),
         helper.make_node("MatMul", ["h1", "w2"], ["y"], name="fc2")],
        [("x", [1, 64])], [("y", [1, 10])], {"w1": pm1(64, 32), "w2": pm1(32, 10), **p1})
    bn2, p2 = bn("bn2", "acc", "z", 16)
    models["tiny_conv"] = _model(
        [helper.make_node("Sub", ["x", "half"], ["xs"], name="centre"),
         helper.make_node("Sign", ["xs"], ["xb"], name="binarise"),
         helper.make_node("Conv", ["xb", "w"], ["acc"], name="conv1", kernel_shape=[3, 3], pads=[1, 1, 1, 1]), bn2,
         helper.make_node("Sign", ["z"], ["h"], name="sign1"),
         helper.make_node("MaxPool", ["h"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
         helper.make_node("Flatten", ["p"], ["f"], name="flat"),
         helper.make_node("MatMul", ["f", "wf"], ["y"], name="fc")],
        [("x", [1, 3, 8, 8])], [("y", [1, 10])],
        {"half": np.array(0.5, np.float32), "w": pm1(16, 3, 3, 3), "wf": pm1(256, 10), **p2})
    domain = "qonnx.custom_op.general"
    bn3, p3 = bn("bn3", "acc", "z", 8)
    models["qonnx_conv"] = _model(
        [helper.make_node("BipolarQuant", ["x", "one"], ["xb"], name="q0", domain=domain),
         helper.make_node("Conv", ["xb", "w"], ["acc"], name="conv", pads=[1, 1, 1, 1]), bn3,
         helper.make_node("BipolarQuant", ["z", "one"], ["y"], name="q1", domain=domain)],
        [("x", [1, 4, 6, 6])], [("y", [1, 8, 6, 6])], {"one": np.ones(1, np.float32), "w": pm1(8, 4, 3, 3), **p3},
        opsets=(("", 13), (domain, 1)))
    models["multithreshold"] = _model(
        [helper.make_node("Sign", ["x"], ["xb"], name="sign"),
         helper.make_node("MatMul", ["xb", "w"], ["acc"], name="fc"),
         helper.make_node("MultiThreshold", ["acc", "thr"], ["y"], name="mt", domain=domain,
                          out_dtype="BIPOLAR", out_scale=2.0, out_bias=-1.0)],
        [("x", [1, 48])], [("y", [1, 24])],
        {"w": pm1(48, 24), "thr": (rng.integers(-20, 20, (24, 1)) + 0.5).astype(np.float32)},
        opsets=(("", 13), (domain, 1)))
    models["shape_arith"] = _model(
        [helper.make_node("Sign", ["x"], ["b"], name="sign"),
         helper.make_node("Shape", ["b"], ["s"], name="shape"),
         helper.make_node("Gather", ["s", "zero"], ["n"], name="gather", axis=0),
         helper.make_node("Unsqueeze", ["n", "zeros"], ["n1"], name="unsq"),
         helper.make_node("Concat", ["n1", "minus1"], ["target"], name="cat", axis=0),
         helper.make_node("Reshape", ["b", "target"], ["f"], name="reshape"),
         helper.make_node("MatMul", ["f", "w"], ["m"], name="fc"),
         helper.make_node("Add", ["m", "bias"], ["a"], name="bias"),
         helper.make_node("Sign", ["a"], ["y"], name="out")],
        [("x", [1, 2, 4, 4])], [("y", [1, 8])],
        {"zero": np.array(0, np.int64), "zeros": np.array([0], np.int64), "minus1": np.array([-1], np.int64),
         "w": pm1(32, 8), "bias": np.full(8, 0.5, np.float32)})
    return models


def _header_size(blob: bytes, code_words: int) -> int:
    """Where the first section (`code`, named `code`) starts: the header's size, found rather than
    assumed, because the container format has grown fields before (a version 3 added the machine name)."""
    code = struct.pack("<BBHI", 4, 4, 0, 8 * code_words) + b"codecode"
    return blob.index(code)


def build_corpus(root: Path) -> None:
    """Write the seeds: example and small ONNX models, programs compiled and assembled from them and
    tests/asm, their disassembly, the machine descriptions, a small .mlir module."""
    from compiler.driver import compile_model, render
    from isa.asm import assemble, disassemble
    from isa.machine import MACHINES_DIR, load_machine

    for sub in ("onnx", "chew", "asm", "machine", "mlir"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for path in sorted((REPO / "examples" / "models").glob("*.onnx")):
        shutil.copy(path, root / "onnx" / path.name)
    for name, model in small_models().items():
        onnx.save(model, root / "onnx" / f"{name}.onnx")
    compiled = []
    for path in sorted((root / "onnx").glob("*.onnx")):
        program = compile_model(path).program
        assert program is not None
        (root / "chew" / f"{path.stem}.chew").write_bytes(program.to_bytes())
        (root / "asm" / f"{path.stem}.objdump.s").write_text(disassemble(program))
        compiled.append(path.stem)
    machine = load_machine()
    for path in sorted((REPO / "tests" / "asm").glob("*.s")):
        text = path.read_text()
        (root / "asm" / path.name).write_text(text)
        (root / "chew" / f"{path.stem}.chew").write_bytes(assemble(text, machine, path.name).to_bytes())
    for path in sorted(MACHINES_DIR.glob("*.toml")):
        shutil.copy(path, root / "machine" / path.name)
    bnn = render(compile_model(root / "onnx" / "tiny_mlp.onnx", "bnn"), "bnn")
    (root / "mlir" / "tiny.bnn.mlir").write_text(str(bnn))
    (root / "compiled.json").write_text(json.dumps(compiled))


@dataclass
class Corpus:
    """The seeds, loaded once per worker."""

    onnx: dict[str, bytes]
    chew: dict[str, bytes]
    asm: dict[str, str]
    machines: dict[str, str]
    mlir: str
    compiled: frozenset[str]  # ONNX seeds that compile: their programs can be --check'ed against them
    header_size: int

    @staticmethod
    def load(root: Path) -> Corpus:
        from isa.container import ChewProgram

        chew = {p.stem: p.read_bytes() for p in sorted((root / "chew").glob("*.chew"))}
        first = next(iter(chew.values()))
        return Corpus(
            {p.stem: p.read_bytes() for p in sorted((root / "onnx").glob("*.onnx"))},
            chew,
            {p.name: p.read_text() for p in sorted((root / "asm").glob("*.s"))},
            {p.name: p.read_text() for p in sorted((root / "machine").glob("*.toml"))},
            (root / "mlir" / "tiny.bnn.mlir").read_text(),
            frozenset(json.loads((root / "compiled.json").read_text())),
            _header_size(first, len(ChewProgram.from_bytes(first).code)),
        )

    def small_onnx(self, rng: random.Random) -> tuple[str, bytes]:
        """Mostly the small models (fast, structure-dense), sometimes an example network."""
        names = [n for n in self.onnx if n in self.compiled and len(self.onnx[n]) < 64 * 1024]
        name = rng.choice(names if rng.random() < 0.75 else list(self.onnx))
        return name, self.onnx[name]

    def some_asm(self, rng: random.Random) -> tuple[str, str]:
        """Mostly short sources: the example listings run to 12000 lines, a second or two to assemble."""
        names = [n for n, text in self.asm.items() if len(text) < 64 * 1024]
        name = rng.choice(names if rng.random() < 0.8 else sorted(self.asm))
        return name, self.asm[name]


# -- ONNX structure mutators -------------------------------------------------------------------

Mutated = tuple[bytes, Files]  # a serialized model and the side files it refers to
ODD_NAMES = ("", " ", "\n", "a\nb", "x" * 100_000, "ψ±∞", "\x00", "../../../etc/passwd", "'", '"', "%s%n",
             "{0}", "\t", "🙂", "a b", "-", "1", "node:0", "\x1b[2J", "\r", "\u2028")
DOMAINS = ("this", "os", "sys", "subprocess", "builtins", "importlib", "numpy", "ctypes", "__main__",
           "multiprocessing", "onnx", "qonnx", "qonnx.custom_op", "qonnx.core", "qonnx.custom_op.general",
           "finn.custom_op.general", "onnx.brevitas", "ai.onnx.ml", "ai.onnx", "com.microsoft", "..", "a.b.c", "",
           "fuzz.fuzzers", "qonnx.custom_op.general.bipolar_quant")
OP_TYPES = ("Frobnicate", "", "Conv ", "conv", "sign", "Loop", "Scan", "If", "Sign", "MultiThreshold", "Quant",
            "BipolarQuant", "Trunc", "XnorPopcountMatMul", "Im2Col", "MaxPoolNHWC", "DebugMarker",
            "QuantAvgPool2d", "FloatQuant", "IntQuant", "GenericPartition", "Hardmax", "NonZero", "Unique",
            "SequenceConstruct", "Upsample", "RandomNormal", "Einsum", "__init__", "system", "getattr")
INTS = (0, -1, 1, 2, 3, 7, 8, 1000, 10**9, -10**9, 2**31, 2**62, 2**63 - 1, -(2**63))
FLOATS = (math.nan, math.inf, -math.inf, 1e38, -1e38, 3.4e38, 1e-45, -0.0, 0.0, 0.5, 2.0, -1.0)
ELEM_TYPES = (0, TensorProto.DOUBLE, TensorProto.INT64, TensorProto.INT8, TensorProto.UINT8, TensorProto.FLOAT16,
              TensorProto.BOOL, TensorProto.STRING, TensorProto.INT32, TensorProto.BFLOAT16, TensorProto.COMPLEX64,
              TensorProto.FLOAT8E4M3FN, TensorProto.UINT4, 99)


def _ser(m: onnx.ModelProto) -> Mutated:
    return m.SerializeToString(), {}


def _value_names(g: onnx.GraphProto) -> list[str]:
    names = [i.name for i in g.input] + [i.name for i in g.initializer]
    return names + [o for n in g.node for o in n.output]


def _rename(g: onnx.GraphProto, old: str, new: str) -> None:
    """Rename a value everywhere it appears, so that the only thing wrong is the name itself."""
    for n in g.node:
        n.input[:] = [new if x == old else x for x in n.input]
        n.output[:] = [new if x == old else x for x in n.output]
    for coll in (g.input, g.output, g.value_info, g.initializer):
        for item in coll:
            if item.name == old:
                item.name = new


def _const(name: str, value: np.ndarray) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], name=f"const_{name}", value=numpy_helper.from_array(value, name))


def _live(g: onnx.GraphProto) -> str:
    """The first graph output: the value a live mutation wraps."""
    return str(g.output[0].name)


def m_bad_utf8(rng: random.Random, m: onnx.ModelProto) -> Mutated:
    """Invalid UTF-8 where protobuf keeps a string: written as a marker, then the marker's bytes swapped
    for bad ones of the same length so the protobuf framing stays valid."""
    g = m.graph
    marker = f"QZ{rng.getrandbits(40):010x}QZ"
    target = rng.choice(("node", "value", "op", "domain", "attr", "graph", "init", "producer", "doc", "meta",
                         "input", "output"))
    node = rng.choice(list(g.node))
    if target == "node":
        node.name = marker
    elif target == "value":
        _rename(g, rng.choice(_value_names(g)), marker)
    elif target == "op":
        node.op_type = marker
    elif target == "domain":
        node.domain = marker
        m.opset_import.append(helper.make_opsetid(marker, 1))
    elif target == "attr" and node.attribute:
        rng.choice(list(node.attribute)).name = marker
    elif target == "attr":
        node.attribute.append(helper.make_attribute(marker, 1))
    elif target == "graph":
        g.name = marker
    elif target == "init" and g.initializer:
        rng.choice(list(g.initializer)).name = marker
    elif target == "producer":
        m.producer_name = marker
    elif target == "doc":
        node.doc_string = marker
    elif target == "meta":
        m.metadata_props.append(onnx.StringStringEntryProto(key=marker, value=marker))
    elif target == "input":
        _rename(g, g.input[0].name, marker)
    else:
        _rename(g, g.output[0].name, marker)
    bad = (b"ab" + rng.choice(BAD_UTF8) * 16)[: len(marker)]
    return m.SerializeToString().replace(marker.encode(), bad), {}


def m_odd_names(rng: random.Random, m: onnx.ModelProto) -> Mutated:
    """Empty, multi-line, huge, control-character and path-like names, consistently or in one place."""
    g = m.graph
    name = rng.choice(ODD_NAMES)
    where = rng.choice(("node", "value", "one-use", "input", "output", "init"))
    if where == "node":
        rng.choice(list(g.node)).name = name
    elif where == "value":
        _rename(g, rng.choice(_value_names(g)), name)
    elif where == "one-use":
        node = rng.choice([n for n in g.node if n.input] or list(g.node))
        if node.input:
            node.input[rng.randrange(len(node.input))] = name
    elif where == "input":
        _rename(g, g.input[0].name, name)
    elif where == "output":
        _rename(g, g.output[0].name, name)
    elif g.initializer:
        _rename(g, rng.choice(list(g.initializer)).name, name)
    return _ser(m)


def m_duplicates(rng: random.Random, m: onnx.ModelProto) -> Mutated:
    """Two things of one name: nodes, produced values, initializers, graph inputs or outputs."""
    g = m.graph
    nodes = list(g.node)
    a, b = rng.choice(nodes), rng.choice(nodes)
    what = rng.choice(("node-name", "output", "init", "input", "graph-output", "init-as-input", "value-info"))
    if what == "node-name":
        b.name = a.name or "dup"
        a.name = b.name
    elif what == "output":
        b.output[0] = a.output[0]
    elif what == "init" and g.initializer:
        t = rng.choice(list(g.initializer))
        g.initializer.append(numpy_helper.from_array(np.zeros(3, np.float32), t.name))
    elif what == "input":
        g.input.append(g.input[0])
    elif what == "graph-output":
        g.output.append(g.output[0])
    elif what == "init-as-input" and g.initializer:
        t = rng.choice(list(g.initializer))
        g.input.append(helper.make_tensor_value_info(t.name, TensorProto.FLOAT, [rng.choice((1, 7, 100000))]))
    else:
        v = rng.choice(_value_names(g))
        g.value_info.append(helper.make_tensor_value_info(v, TensorProto.FLOAT, [2, 3]))
        g.value_info.append(helper.make_tensor_value_info(v, TensorProto.INT64, [5]))
    return _ser(m)


def m_elem_types(rng: random.Random, m: onnx.ModelProto) -> Mutated:
    """Wrong element types: int8/float64/int64/... initializers, declared types that disagree."""
    g = m.graph
    what = rng.choice(("init", "init-tag", "input", "output", "value-info", "cast"))
    if what == "init" and g.initializer:
        i = rng.randrange(len(g.initializer))
        t = g.initializer[i]
        arr = numpy_helper.to_array(t)
        dtype = rng.choice((np.int8, np.uint8, np.int16, np.int32, np.int64, np.float16, np.float64, np.bool_))
        g.initializer[i].CopyFrom(numpy_helper.from_array(arr.astype(dtype), t.name))
    elif what == "init-tag" and g.initializer:
        rng.choice(list(g.initializer)).data_type = rng.choice((*ELEM_TYPES, rng.randrange(1, 30)))
    elif what == "input":
        g.input[0].type.tensor_type.elem_type = rng.choice(ELEM_TYPES)
    elif what == "output":
        g.output[0].type.tensor_type.elem_type = rng.choice(ELEM_TYPES)
    elif what == "value-info":
        v = rng.choice(_value_names(g))
        g.value_info.append(helper.make_tensor_value_info(v, rng.choice(ELEM_TYPES[1:-1]), None))
    else:
        x = g.input[0].name
        _rename(g, x, "x_cast")
        g.input[0].name = x
        g.node.insert(0, helper.make_node("Cast", [x], ["x_cast"], to=rng.choice(ELEM_TYPES[1:-1])))
    return _ser(m)


def _set_shape(vi: onnx.ValueInfoProto, dims: Sequence[int | str]) -> None:
    shape = vi.type.tensor_type.shape
    del shape.dim[:]
    for d in dims:
        dim = shape.dim.add()
        if isinstance(d, str):
            dim.dim_param = d
        else:
            dim.dim_value = d


def m_shapes(rng: random.Random, m: onnx.ModelProto) -> Mutated:
    """Inconsistent, negative, zero and huge declared shapes (16x4095x4095 images, batch 100000)."""
    g = m.graph
    dims = [d.dim_value for d in g.input[0].type.tensor_type.shape.dim] or [1]
    what = rng.choice(("input", "input", "output", "value-info", "init-dims", "drop-shape"))
    if what == "input":
        choice = rng.choice(("huge-image", "batch", "one-dim", "rank", "param"))
        if choice == "huge-image":
            dims = [1, 16, 4095, 4095] if len(dims) == 4 else [1, 16 * 4095 * 4095]
        elif choice == "batch":
            dims = [rng.choice((100000, 0, -1, 2**31)), *dims[1:]]
        elif choice == "one-dim":
            dims[rng.randrange(len(dims))] = rng.choice((0, -1, -7, 2**31, 2**62, 4095, 1))
        elif choice == "rank":
            dims = dims[:-1] if rng.random() < 0.5 else [*dims, rng.choice((1, 3))]
        _set_shape(g.input[0], [rng.choice(("N", "", "?")) if choice == "param" and rng.random() < 0.5 else d
                                for d in dims])
    elif what == "output":
        _set_shape(g.output[0], [rng.choice((0, 1, 3, -1, 2**40, "n")) for _ in range(rng.randint(0, 5))])
    elif what == "value-info":
        v = rng.choice(_value_names(g))
        g.value_info.append(helper.make_tensor_value_info(v, TensorProto.FLOAT, [rng.choice((1, 5, 0, -3, 10**6))
                                                                                 for _ in range(rng.randint(1, 4))]))
    elif what == "init-dims" and g.initializer:
        t = rng.choice(list(g.initializer))
        if t.dims and rng.random() < 0.5:
            t.dims[rng.randrange(len(t.dims))] = rng.choice((0, -1, 2**40, 10**9, 3))
        else:
            t.dims[:] = [rng.choice((2**20, 2**40, 7))] * rng.randint(0, 3)
    else:
        g.input[0].type.tensor_type.ClearField("shape")
    return _ser(m)


def m_dangling(rng: random.Random, m: onnx.ModelProto) -> Mutated:
    """References to values nothing produces: a renamed input, a removed node or initializer."""
    g = m.graph
    what = rng.choice(("node-input", "graph-output", "remove-node", "empty-input", "remove-init", "remove-input",
                       "extra-input"))
    node = rng.choice(list(g.node))
    if what == "node-input" and node.input:
        node.input[rng.randrange(len(node.input))] = "nowhere"
    elif what == "graph-output":
        g.output[0].name = "nowhere"
    elif what == "remove-node" and len(g.node) > 1:
        del g.node[rng.randrange(len(g.node))]
    elif what == "empty-input" and node.input:
        node.input[rng.randrange(len(node.input))] = ""
    elif what == "remove-init" and g.initializer:
        del g.initializer[rng.randrange(len(g.initializer))]
    elif what == "remove-input":
        del g.input[:]
    else:
        node.input.append(rng.choice(("nowhere", node.input[0] if node.input else "x", "")))
    return _ser(m)


def m_cycle(rng: random.Random, m: onnx.ModelProto) -> Mutated:
    """Cycles and non-topological order: a node reading its own or a later node's output."""
    g = m.graph
    nodes = list(g.node)
    what = rng.choice(("back-edge", "self", "reverse", "shuffle"))
    if what == "back-edge":
        i = rng.randrange(len(nodes))
        j = rng.randrange(i, len(nodes))
        if nodes[i].input:
            nodes[i].input[0] = nodes[j].output[0]
    elif what == "self" and nodes[0].input:
        k = rng.randrange(len(nodes))
        if nodes[k].input:
            nodes[k].input[0] = nodes[k].output[0]
    elif what == "reverse":
        del g.node[:]
        g.node.extend(reversed(nodes))
    else:
        rng.shuffle(nodes)
        del g.node[:]
        g.node.extend(nodes)
    return _ser(m)


def m_unknown_op(rng: random.Random, m: onnx.ModelProto) -> Mutated:
    """Unknown ops and domains: Python module names as domains (qonnx imports a custom op's domain),
    QONNX op names in other domains, other op names in the QONNX domain."""
    g = m.graph
    node = rng.choice(list(g.node))
    what = rng.choice(("op", "domain", "both", "new-node"))
    domain = rng.choice(DOMAINS)
    if what in ("op", "both"):
        node.op_type = rng.choice(OP_TYPES)
    if what in ("domain", "both"):
        node.domain = domain
    if what == "new-node":
        live = _live(g)
        _rename(g, live, "pre_" + live)
        g.output[0].name = live
        g.node.append(helper.make_node(rng.choice(OP_TYPES) or "Sign", ["pre_" + live], [live], name="added",
                                       domain=domain))
    if domain and rng.random() < 0.8 and what != "op":
        m.opset_import.append(helper.make_opsetid(domain, rng.choice((1, 1, 0, 99, -1))))
    return _ser(m)


def _odd_attribute(rng: random.Random, a: onnx.AttributeProto) -> onnx.AttributeProto:
    """An attribute of the same name with an extreme value of its own type, or a value of another type."""
    value = helper.get_attribute_value(a)
    if rng.random() < 0.3:
        value = rng.choice((1, 1.5, "zzz", [1, 2], [0.5], ["a"], helper.make_tensor("t", TensorProto.FLOAT, [1], [1.0]),
                            helper.make_graph([], "empty", [], [])))
    elif isinstance(value, int):
        value = rng.choice(INTS)
    elif isinstance(value, float):
        value = rng.choice(FLOATS)
    elif isinstance(value, bytes):
        value = rng.choice((b"", b"zzz", b"BIPOLAR2", b"INT4", b"\xff\xfe", b"x" * 100_000))
    elif isinstance(value, list) and value and isinstance(value[0], int):
        value = rng.choice(([], [rng.choice(INTS)] * len(value), [10**9] * len(value), [-5] * len(value),
                            [0] * len(value), [1] * 1000, [2**62] * 2))
    elif isinstance(value, list) and value and isinstance(value[0], float):
        value = [rng.choice(FLOATS) for _ in value]
    return helper.make_attribute(a.name, value, attr_type=a.type if value == [] else None)


def m_attributes(rng: random.Random, m: onnx.ModelProto) -> Mutated:
    """Missing, mistyped, duplicated, unknown and huge attributes (pads of 10^9, stride 0, group -1)."""
    g = m.graph
    node = rng.choice(list(g.node))
    what = rng.choice(("change", "change", "remove", "duplicate", "unknown", "graph", "conv"))
    attrs = list(node.attribute)
    if what == "change" and attrs:
        i = rng.randrange(len(attrs))
        node.attribute[i].CopyFrom(_odd_attribute(rng, attrs[i]))
    elif what == "remove" and attrs:
        del node.attribute[rng.randrange(len(attrs))]
    elif what == "duplicate" and attrs:
        node.attribute.append(_odd_attribute(rng, rng.choice(attrs)))
    elif what == "unknown":
        name = rng.choice(("frob", "axis", "pads", "", "value"))
        node.attribute.append(helper.make_attribute(name, rng.choice(INTS)))
    elif what == "graph":
        node.attribute.append(helper.make_attribute("body", helper.make_graph(
            [helper.make_node("Neg", ["a"], ["b"])], "body",
            [helper.make_tensor_value_info("a", TensorProto.FLOAT, [1])],
            [helper.make_tensor_value_info("b", TensorProto.FLOAT, [1])])))
    else:
        convs = [n for n in g.node if n.op_type in ("Conv", "MaxPool", "Gemm", "Flatten", "BatchNormalization",
                                                     "MultiThreshold", "Gather", "Concat")] or [node]
        target = rng.choice(convs)
        name, value = rng.choice((("kernel_shape", [10**6, 10**6]), ("strides", [0, 0]), ("pads", [-5, -5, 10**9, 3]),
                                  ("dilations", [10**5, 10**5]), ("group", rng.choice((0, -1, 10**9, 3))),
                                  ("axis", rng.choice((10**9, -10**9, 5))), ("epsilon", rng.choice(FLOATS)),
                                  ("ceil_mode", 1),
                                  ("auto_pad", rng.choice((b"SAME_UPPER", b"VALID", b"NOTSET", b"zz"))),
                                  ("transB", 1), ("alpha", math.nan), ("out_dtype", b"INT4"),
                                  ("out_scale", math.nan)))
        kept = [a for a in target.attribute if a.name != name]
        del target.attribute[:]
        target.attribute.extend([*kept, helper.make_attribute(name, value)])
    return _ser(m)


def m_constants(rng: random.Random, m: onnx.ModelProto) -> Mutated:
    """Non-finite, non-±1, huge and out-of-range constants (NaN weights, negative variances)."""
    g = m.graph
    floats = [i for i, t in enumerate(g.initializer) if t.data_type == TensorProto.FLOAT]
    what = rng.choice(("one", "all", "huge", "huge-int", "constant-node"))
    if what in ("one", "all") and floats:
        i = rng.choice(floats)
        arr = numpy_helper.to_array(g.initializer[i]).copy()
        value = rng.choice(FLOATS)
        if arr.size and what == "one":
            arr.flat[rng.randrange(arr.size)] = value
        else:
            arr[...] = value
        g.initializer[i].CopyFrom(numpy_helper.from_array(arr.astype(np.float32), g.initializer[i].name))
    elif what == "huge" and floats:
        i = rng.choice(floats)
        big = np.ones(rng.choice((2**20, 2**22)), np.float32)
        g.initializer[i].CopyFrom(numpy_helper.from_array(big, g.initializer[i].name))
    elif what == "huge-int":
        ints = [i for i, t in enumerate(g.initializer) if t.data_type == TensorProto.INT64]
        if ints:
            i = rng.choice(ints)
            arr = np.full(numpy_helper.to_array(g.initializer[i]).shape, rng.choice(INTS), np.int64)
            g.initializer[i].CopyFrom(numpy_helper.from_array(arr, g.initializer[i].name))
    else:
        g.node.insert(0, helper.make_node("Constant", [], ["big_const"], name="big",
                                          value_floats=[rng.choice(FLOATS)] * rng.choice((1, 10**6))))
    return _ser(m)


def _loop_body(op: str = "Identity") -> onnx.GraphProto:
    return helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]), helper.make_node(op, ["v_in"], ["v_out"])],
        "body",
        [helper.make_tensor_value_info("iter", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_in", TensorProto.FLOAT, None)],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_out", TensorProto.FLOAT, None)],
    )


def _blowup(rng: random.Random, tag: str) -> tuple[list[onnx.NodeProto], str]:
    """Nodes computable from constants alone whose result is enormous or never finishes: what a
    constant folder must not evaluate blindly. Returns the nodes and the value they produce."""
    out = f"blow_{tag}"
    i64 = np.int64
    kind = rng.choice(("cos", "tile", "expand", "range", "loop", "if", "resize", "pad", "nonzero", "cos-overflow",
                       "scan"))
    if kind == "cos":
        return [_const(f"s_{tag}", np.array([10**5, 10**5, 100], i64)),
                helper.make_node("ConstantOfShape", [f"s_{tag}"], [out])], out
    if kind == "cos-overflow":
        return [_const(f"s_{tag}", np.array([2**62, 4], i64)),
                helper.make_node("ConstantOfShape", [f"s_{tag}"], [out])], out
    if kind == "tile":
        return [_const(f"a_{tag}", np.ones((2, 2), np.float32)), _const(f"r_{tag}", np.array([10**5, 10**5], i64)),
                helper.make_node("Tile", [f"a_{tag}", f"r_{tag}"], [out])], out
    if kind == "expand":
        return [_const(f"a_{tag}", np.ones(1, np.float32)), _const(f"s_{tag}", np.array([10**6, 10**6], i64)),
                helper.make_node("Expand", [f"a_{tag}", f"s_{tag}"], [out])], out
    if kind == "range":
        return [_const(f"a_{tag}", np.array(0.0, np.float32)), _const(f"b_{tag}", np.array(1e12, np.float32)),
                _const(f"d_{tag}", np.array(1.0, np.float32)),
                helper.make_node("Range", [f"a_{tag}", f"b_{tag}", f"d_{tag}"], [out])], out
    if kind == "loop":
        return [_const(f"n_{tag}", np.array(10**9, i64)), _const(f"c_{tag}", np.array(True)),
                _const(f"v_{tag}", np.ones(1, np.float32)),
                helper.make_node("Loop", [f"n_{tag}", f"c_{tag}", f"v_{tag}"], [out], body=_loop_body("Neg"))], out
    if kind == "scan":
        body = helper.make_graph([helper.make_node("Add", ["s_in", "e_in"], ["s_out"]),
                                  helper.make_node("Identity", ["s_out"], ["e_out"])], "scan_body",
                                 [helper.make_tensor_value_info("s_in", TensorProto.FLOAT, [4]),
                                  helper.make_tensor_value_info("e_in", TensorProto.FLOAT, [4])],
                                 [helper.make_tensor_value_info("s_out", TensorProto.FLOAT, [4]),
                                  helper.make_tensor_value_info("e_out", TensorProto.FLOAT, [4])])
        return [_const(f"i_{tag}", np.zeros(4, np.float32)), _const(f"s_{tag}", np.array([10**6, 4], i64)),
                _const(f"o_{tag}", np.ones(1, np.float32)),
                helper.make_node("Expand", [f"o_{tag}", f"s_{tag}"], [f"seq_{tag}"]),
                helper.make_node("Scan", [f"i_{tag}", f"seq_{tag}"], [out, f"scan_out_{tag}"], body=body,
                                 num_scan_inputs=1)], out
    if kind == "if":
        big, big_out = _blowup(rng, tag + "t")
        then = helper.make_graph(big, "then", [], [helper.make_tensor_value_info(big_out, TensorProto.FLOAT, None)])
        other = helper.make_graph([_const(f"e_{tag}", np.ones(1, np.float32))], "else", [],
                                  [helper.make_tensor_value_info(f"e_{tag}", TensorProto.FLOAT, None)])
        return [_const(f"c_{tag}", np.array(True)),
                helper.make_node("If", [f"c_{tag}"], [out], then_branch=then, else_branch=other)], out
    if kind == "resize":
        return [_const(f"a_{tag}", np.ones((1, 1, 2, 2), np.float32)),
                _const(f"s_{tag}", np.array([1, 1, 1e5, 1e5], np.float32)),
                helper.make_node("Resize", [f"a_{tag}", "", f"s_{tag}"], [out])], out
    if kind == "pad":
        return [_const(f"a_{tag}", np.ones((2, 2), np.float32)),
                _const(f"p_{tag}", np.array([0, 0, 10**6, 10**6], i64)),
                helper.make_node("Pad", [f"a_{tag}", f"p_{tag}"], [out])], out
    return [_const(f"s_{tag}", np.array([10**4, 10**4], i64)),
            helper.make_node("ConstantOfShape", [f"s_{tag}"], [f"ones_{tag}"],
                             value=helper.make_tensor("v", TensorProto.FLOAT, [1], [1.0])),
            helper.make_node("NonZero", [f"ones_{tag}"], [out])], out


def m_dead_blowup(rng: random.Random, m: onnx.ModelProto) -> Mutated:
    """A dead (or, sometimes, extra-output) subgraph of Tile/Expand/ConstantOfShape/Loop that would
    blow up time or memory if folded."""
    nodes, out = _blowup(rng, str(rng.randrange(1000)))
    m.graph.node.extend(nodes)
    if rng.random() < 0.3:
        m.graph.output.append(helper.make_tensor_value_info(out, TensorProto.FLOAT, None))
    return _ser(m)


def m_control_flow(rng: random.Random, m: onnx.ModelProto) -> Mutated:
    """Loop/Scan/If on the live path: a Loop of 10^9 iterations over the network's output, an If on
    a constant condition, a Scan."""
    g = m.graph
    live = _live(g)
    _rename(g, live, "inner")
    g.output[0].name = live
    kind = rng.choice(("loop", "if", "scan"))
    if kind == "loop":
        g.node.extend([_const("trip", np.array(rng.choice((10**9, 1, 0, -1)), np.int64)), _const("go", np.array(True)),
                       helper.make_node("Loop", ["trip", "go", "inner"], [live], body=_loop_body())])
    elif kind == "if":
        def branch(op: str) -> onnx.GraphProto:
            return helper.make_graph([helper.make_node(op, ["inner"], [f"{op}_out"])], op, [],
                                     [helper.make_tensor_value_info(f"{op}_out", TensorProto.FLOAT, None)])
        g.node.extend([_const("cond", np.array(rng.random() < 0.5)),
                       helper.make_node("If", ["cond"], [live], then_branch=branch("Identity"),
                                        else_branch=branch("Neg"))])
    else:
        body = helper.make_graph([helper.make_node("Identity", ["e"], ["e2"])], "scan",
                                 [helper.make_tensor_value_info("e", TensorProto.FLOAT, None)],
                                 [helper.make_tensor_value_info("e2", TensorProto.FLOAT, None)])
        g.node.append(helper.make_node("Scan", ["inner"], [live], body=body, num_scan_inputs=1))
    return _ser(m)


def m_opset(rng: random.Random, m: onnx.ModelProto) -> Mutated:
    """Opset and IR-version oddities: version 0, 1, 10^9, a missing default domain, duplicates."""
    what = rng.choice(("version", "remove", "duplicate", "ir", "extra"))
    default = [o for o in m.opset_import if o.domain == ""]
    if what == "version" and default:
        default[0].version = rng.choice((0, 1, 6, 7, 9, 11, 12, 14, 17, 21, 22, 23, 99, 10**9, -1))
    elif what == "remove":
        kept = [o for o in m.opset_import if o.domain != ""]
        del m.opset_import[:]
        m.opset_import.extend(kept)
    elif what == "duplicate":
        m.opset_import.append(helper.make_opsetid("", rng.choice((7, 13, 18))))
    elif what == "ir":
        m.ir_version = rng.choice((0, 1, 3, 4, 7, 9, 10, 11, 12, 99, 2**62))
    else:
        m.opset_import.append(helper.make_opsetid(rng.choice(DOMAINS), rng.choice((1, 0, 10**9))))
    return _ser(m)


def m_external_data(rng: random.Random, m: onnx.ModelProto) -> Mutated:
    """Initializers stored 'externally': in a file beside the model, a missing one, /etc/passwd,
    /dev/zero, a path escaping upward, with odd offsets and lengths."""
    g = m.graph
    if not g.initializer:
        return _ser(m)
    t = rng.choice(list(g.initializer))
    raw = numpy_helper.to_array(t).tobytes()
    for f in ("raw_data", "float_data", "int64_data", "int32_data", "double_data"):
        t.ClearField(f)
    t.data_location = TensorProto.EXTERNAL
    location = rng.choice(("weights.bin", "weights.bin", "missing.bin", "/etc/passwd", "../../../../../etc/hostname",
                           "/dev/zero", ".", "", "adir", "/proc/self/mem"))
    entries = {"location": location}
    if rng.random() < 0.4:
        entries["offset"] = rng.choice(("0", "-1", "99999999999", "abc", "3"))
    if rng.random() < 0.4:
        entries["length"] = rng.choice(("0", "-1", str(2**62), "abc", str(len(raw) + 4)))
    for k, v in entries.items():
        t.external_data.append(onnx.StringStringEntryProto(key=k, value=v))
    files = {"weights.bin": raw if rng.random() < 0.7 else raw[: len(raw) // 2]} if location == "weights.bin" else {}
    if location == "adir":
        files["adir/.keep"] = b""
    return m.SerializeToString(), files


def m_functions(rng: random.Random, m: onnx.ModelProto) -> Mutated:
    """Model-local functions: recursive, mutually recursive, empty, or fine but unknown to chewc."""
    g = m.graph
    live = _live(g)
    _rename(g, live, "pre_f")
    g.output[0].name = live
    kind = rng.choice(("recursive", "mutual", "empty", "identity"))
    inner = {"recursive": "F", "mutual": "G", "empty": None, "identity": None}[kind]
    body = ([helper.make_node(inner, ["a"], ["b"], domain="local")] if inner
            else [] if kind == "empty" else [helper.make_node("Identity", ["a"], ["b"])])
    opsets = [helper.make_opsetid("", 13), helper.make_opsetid("local", 1)]
    m.functions.append(helper.make_function("local", "F", ["a"], ["b"], body, opsets))
    if kind == "mutual":
        m.functions.append(helper.make_function("local", "G", ["a"], ["b"], [helper.make_node("F", ["a"], ["b"],
                                                                                              domain="local")], opsets))
    m.opset_import.append(helper.make_opsetid("local", 1))
    g.node.append(helper.make_node("F", ["pre_f"], [live], domain="local", name="call_f"))
    return _ser(m)


def m_graph_io(rng: random.Random, m: onnx.ModelProto) -> Mutated:
    """Graph inputs and outputs of odd number and kind: none, two, an output that is an input or an
    initializer, untyped, sequence/optional/map/sparse types."""
    g = m.graph
    what = rng.choice(("no-output", "two-inputs", "output-is-input", "output-is-init", "untyped", "sequence",
                       "optional", "map", "sparse"))
    if what == "no-output":
        del g.output[:]
    elif what == "two-inputs":
        g.input.append(helper.make_tensor_value_info("x2", TensorProto.FLOAT, [1, 4]))
    elif what == "output-is-input":
        g.output.append(g.input[0])
    elif what == "output-is-init" and g.initializer:
        g.output.append(helper.make_tensor_value_info(g.initializer[0].name, TensorProto.FLOAT, None))
    elif what == "untyped":
        g.input[0].ClearField("type")
    elif what == "sequence":
        g.input[0].CopyFrom(helper.make_tensor_sequence_value_info(g.input[0].name, TensorProto.FLOAT, None))
    elif what == "optional":
        g.input[0].type.CopyFrom(helper.make_optional_type_proto(g.input[0].type))
    elif what == "map":
        g.input[0].type.CopyFrom(helper.make_map_type_proto(TensorProto.INT64, g.input[0].type))
    else:
        g.input[0].type.CopyFrom(helper.make_sparse_tensor_type_proto(TensorProto.FLOAT, [1, 4]))
    return _ser(m)


def m_many_nodes(rng: random.Random, m: onnx.ModelProto) -> Mutated:
    """Long chains of trivial nodes after the input, and deeply nested If subgraphs."""
    g = m.graph
    x = g.input[0].name
    if rng.random() < 0.7:
        n = rng.choice((1000, 10_000, 50_000))
        _rename(g, x, f"id{n}")
        g.input[0].name = x
        chain = [helper.make_node("Identity", [x if i == 0 else f"id{i}"], [f"id{i + 1}"]) for i in range(n)]
        nodes = list(g.node)
        del g.node[:]
        g.node.extend(chain + nodes)
    else:
        depth = rng.choice((8, 20, 31))  # upb nests at most 100 messages deep, 3 per If level

        def leaf(name: str) -> onnx.GraphProto:
            return helper.make_graph([helper.make_node("Identity", [x], [name])], name, [],
                                     [helper.make_tensor_value_info(name, TensorProto.FLOAT, None)])

        inner = leaf("deep0")
        for d in range(1, depth):  # only the then-branch nests: the model grows linearly with depth
            node = helper.make_node("If", ["deep_cond"], [f"deep{d}"], then_branch=inner, else_branch=leaf(f"e{d}"))
            inner = helper.make_graph([node], f"g{d}", [],
                                      [helper.make_tensor_value_info(f"deep{d}", TensorProto.FLOAT, None)])
        g.node.extend([_const("deep_cond", np.array(True)),
                       helper.make_node("If", ["deep_cond"], ["deep_out"], then_branch=inner, else_branch=leaf("e0"))])
    return _ser(m)


def m_sparse(rng: random.Random, m: onnx.ModelProto) -> Mutated:
    """An initializer given as a sparse tensor, with indices in or out of range."""
    g = m.graph
    floats = [i for i, t in enumerate(g.initializer) if t.data_type == TensorProto.FLOAT and t.dims]
    if not floats:
        return _ser(m)
    i = rng.choice(floats)
    t = g.initializer[i]
    size = int(np.prod(list(t.dims)))
    index = rng.choice((0, size - 1, size, -1, 2**40))
    values = helper.make_tensor(t.name, TensorProto.FLOAT, [1], [1.0])
    indices = helper.make_tensor(t.name + "_idx", TensorProto.INT64, [1], [index])
    g.sparse_initializer.append(helper.make_sparse_tensor(values, indices, list(t.dims)))
    del g.initializer[i]
    return _ser(m)


ONNX_STRUCTURE: tuple[tuple[str, float, Callable[[random.Random, onnx.ModelProto], Mutated]], ...] = (
    ("bad-utf8", 1.0, m_bad_utf8), ("odd-names", 1.0, m_odd_names), ("duplicates", 1.0, m_duplicates),
    ("elem-types", 1.0, m_elem_types), ("shapes", 1.2, m_shapes), ("dangling", 0.8, m_dangling),
    ("cycle", 0.6, m_cycle), ("unknown-op", 1.2, m_unknown_op), ("attributes", 1.2, m_attributes),
    ("constants", 1.0, m_constants), ("dead-blowup", 1.0, m_dead_blowup), ("control-flow", 0.6, m_control_flow),
    ("opset", 0.8, m_opset), ("external-data", 0.8, m_external_data), ("functions", 0.6, m_functions),
    ("graph-io", 0.8, m_graph_io), ("many-nodes", 0.3, m_many_nodes), ("sparse", 0.4, m_sparse),
)


def _weighted(rng: random.Random, items: Sequence[tuple[str, float, Any]]) -> tuple[str, Any]:
    name, _, fn = rng.choices(items, weights=[w for _, w, _ in items])[0]
    return name, fn


def mutate_model(rng: random.Random, data: bytes) -> tuple[str, Mutated]:
    """One structure mutation of a serialized model (stacked with a second one now and then)."""
    name, fn = _weighted(rng, ONNX_STRUCTURE)
    blob, files = fn(rng, onnx.load_from_string(data))
    if rng.random() < 0.15:
        with contextlib.suppress(Exception):  # the first mutation may leave bytes protobuf cannot parse
            second, fn2 = _weighted(rng, ONNX_STRUCTURE)
            blob, more = fn2(rng, onnx.load_from_string(blob))
            files = {**files, **more}
            name = f"{name}+{second}"
    return name, (blob, files)


def _onnx_hot(data: bytes) -> list[tuple[int, int]]:
    """Protobuf writes nodes first and graph inputs/outputs last; the weights in between are bulk."""
    return [(0, 2048), (max(0, len(data) - 1024), len(data))]


# -- file-system cases -------------------------------------------------------------------------

UNREADABLE = ("missing", "adir", "/dev/zero", "/dev/null", "empty", "/proc/self/mem", "/etc/passwd")
UNWRITABLE = ("missing/out", "/dev/full", "adir", "afile/out", "/proc/version", "")


def _fs_input(rng: random.Random, suffix: str) -> tuple[str, Files, tuple[str, ...]]:
    """A path that cannot be read as an input, with what must exist for it to mean that."""
    kind = rng.choice(UNREADABLE)
    if kind == "missing":
        return f"missing{suffix}", {}, ()
    if kind == "adir":
        return f"adir{suffix}", {}, (f"adir{suffix}",)
    if kind == "empty":
        return f"empty{suffix}", {f"empty{suffix}": b""}, ()
    return kind, {}, ()


def _fs_output(rng: random.Random, suffix: str) -> tuple[str, Files, tuple[str, ...]]:
    """An output path that cannot be written: a missing folder, a full device, a directory, a file's child."""
    kind = rng.choice(UNWRITABLE)
    if kind == "missing/out":
        return f"missing/out{suffix}", {}, ()
    if kind == "adir":
        return "adir", {}, ("adir",)
    if kind == "afile/out":
        return f"afile/out{suffix}", {"afile": b"x"}, ()
    return kind, {}, ()


def _case(mutator: str, tool: str, args: Sequence[str], files: Files, dirs: Sequence[str] = ()) -> Case:
    return Case(mutator, tool, tuple(args), tuple(files.items()), tuple(dirs))


def onnx_case(rng: random.Random, corpus: Corpus) -> Case:
    """`chewc model.onnx -o out.chew` on a mutated model, or a file-system case of chewc / chewc-opt."""
    roll = rng.random()
    seed = corpus.small_onnx(rng)[1]
    if roll < 0.07:
        path, files, dirs = _fs_input(rng, ".onnx")
        return _case("fs-input", "chewc", [path, "-o", "out.chew"], files, dirs)
    if roll < 0.12:
        path, files, dirs = _fs_output(rng, ".chew")
        return _case("fs-output", "chewc", ["model.onnx", "-o", path], {"model.onnx": seed, **files}, dirs)
    if roll < 0.15:
        which = rng.random()
        if which < 0.5:
            path, files, dirs = _fs_input(rng, ".mlir")
            return _case("opt-fs-input", "chewc-opt", [path], files, dirs)
        if which < 0.7:
            return _case("opt-onnx-input", "chewc-opt", ["model.onnx"], {"model.onnx": seed})
        path, files, dirs = _fs_output(rng, ".mlir")
        return _case("opt-fs-output", "chewc-opt", ["tiny.mlir", "-o", path],
                     {"tiny.mlir": corpus.mlir.encode(), **files}, dirs)
    if roll < 0.45:
        donors = list(corpus.onnx.values())
        kind, data = mutate_bytes(rng, seed, donors, _onnx_hot(seed))
        return _case(f"bytes-{kind}", "chewc", ["model.onnx", "-o", "out.chew"], {"model.onnx": data})
    mutator, (data, side) = mutate_model(rng, seed)
    return _case(mutator, "chewc", ["model.onnx", "-o", "out.chew"], {"model.onnx": data, **side})


# -- .chew programs ----------------------------------------------------------------------------


@dataclass
class RawProgram:
    """A `.chew` file as its header and (kind, name, payload) sections, written back with a valid
    CRC32: mutants get past the checksum to the parser behind it, and need not be valid programs."""

    header: bytearray
    sections: list[list[bytes]]

    @staticmethod
    def parse(blob: bytes, header_size: int) -> RawProgram:
        body, off, sections = blob[:-4], header_size, []
        while off < len(body):
            klen, nlen, _, plen = struct.unpack_from("<BBHI", body, off)
            start = off + 8
            sections.append([body[start:start + klen], body[start + klen:start + klen + nlen],
                             body[start + klen + nlen:start + klen + nlen + plen]])
            off = start + klen + nlen + plen
        return RawProgram(bytearray(body[:header_size]), sections)

    def pack(self, count: int | None = None) -> bytes:
        header = bytearray(self.header)
        header[12:16] = struct.pack("<I", len(self.sections) if count is None else count)
        parts = [bytes(header)]
        for kind, name, payload in self.sections:
            head = struct.pack("<BBHI", len(kind) & 0xFF, len(name) & 0xFF, 0, len(payload))
            parts.append(head + kind + name + payload)
        body = b"".join(parts)
        return _fix_crc(body)

    def of_kind(self, kind: bytes) -> list[list[bytes]]:
        return [s for s in self.sections if s[0] == kind]


def _fix_crc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


def _random_instruction(rng: random.Random) -> int:
    """An encodable instruction with extreme field values (huge DMA counts and lengths, far addresses)."""
    from isa.instruction import Instruction, encode
    from isa.table import OPS

    op = rng.choice(OPS)
    values = tuple(rng.choice((f.lo, f.hi, rng.randint(f.lo, f.hi), min(f.hi, f.lo + 1))) for f in op.fields)
    return encode(Instruction(op, values))


def _mnemonic(word: int) -> str:
    from isa.errors import ChewcError
    from isa.instruction import decode

    try:
        return decode(word).op.mnemonic
    except ChewcError:
        return ""


def _mutate_code(rng: random.Random, prog: RawProgram) -> str:
    code = prog.of_kind(b"code")[0]
    words = list(struct.unpack(f"<{len(code[2]) // 8}Q", code[2]))
    what = rng.choice(("flip", "flip", "extreme", "extreme", "delete", "no-end", "repeat", "truncate", "host-step"))
    if what == "flip" and words:
        for _ in range(rng.randint(1, 4)):
            words[rng.randrange(len(words))] ^= 1 << rng.randrange(64)
    elif what == "extreme":
        for _ in range(rng.randint(1, 4)):
            words.insert(rng.randrange(len(words) + 1), _random_instruction(rng))
    elif what == "delete" and words:
        del words[rng.randrange(len(words))]
    elif what == "no-end":
        words = [w for w in words if _mnemonic(w) != "END"]
    elif what == "repeat":
        body = [w for w in words if _mnemonic(w) != "END"] or words
        words = body * max(1, rng.choice((1000, 10_000, 100_000)) // max(len(body), 1)) + words[-1:]
    elif what == "truncate":
        words = words[: rng.randrange(len(words) + 1)]
    else:
        from isa.instruction import Instruction, encode
        from isa.table import BY_MNEMONIC

        step = Instruction(BY_MNEMONIC["HOST"], (rng.choice((0, 1, 2, 7, 4095)),))
        words.insert(rng.randrange(len(words) + 1), encode(step))
    code[2] = struct.pack(f"<{len(words)}Q", *words)
    return f"code-{what}"


def _mutate_data(rng: random.Random, prog: RawProgram) -> str:
    data = prog.of_kind(b"data")
    what = rng.choice(("addr", "payload", "name", "duplicate", "delete"))
    if not data:
        prog.sections.insert(1, [b"data", b"d", struct.pack("<I", 0) + b"\x01\x00"])
        return "data-add"
    block = rng.choice(data)
    if what == "addr":
        block[2] = struct.pack("<I", rng.choice((0, 2**24 - 1, 2**24, 2**32 - 1, 2**23))) + block[2][4:]
    elif what == "payload":
        words = b"\xff\xff" * rng.choice((1, 2**20, 2**23))
        block[2] = block[2][:4] + rng.choice((b"", b"\x01", b"\x01\x00\x02", words))
    elif what == "name":
        block[1] = rng.choice((b"", b"1abc", b"a b", b"\xff\xfe", b"x" * 255, b"code", block[1] + b"."))
    elif what == "duplicate":
        prog.sections.insert(prog.sections.index(block), list(block))
    else:
        prog.sections.remove(block)
    return f"data-{what}"


def _mutate_tensor(rng: random.Random, prog: RawProgram) -> str:
    tensors = prog.of_kind(b"input") + prog.of_kind(b"output")
    if not tensors:
        return _mutate_code(rng, prog)
    t = rng.choice(tensors)
    payload = bytearray(t[2])
    what = rng.choice(("dtype", "layout", "rank", "zero", "addr", "dims", "dims", "length", "name", "duplicate"))
    if what == "dtype":
        payload[0] = rng.choice((0, 1, 2, 3, 255))
    elif what == "layout":
        payload[1] = rng.choice((0, 1, 2, 255))
    elif what == "rank":
        payload[2] = rng.choice((0, 1, 2, 4, 255))
    elif what == "zero":
        payload[3] = rng.choice((1, 255))
    elif what == "addr":
        payload[4:8] = struct.pack("<I", rng.choice((0, 2**24 - 1, 2**24, 2**32 - 1)))
    elif what == "dims" and len(payload) >= 20:
        dims = [rng.choice((0, 1, 16, 4095, 65535, 2**20, 2**32 - 1)) for _ in range(3)]
        payload[8:20] = struct.pack("<3I", *dims)
    elif what == "length":
        payload = payload[: rng.randrange(len(payload))] if rng.random() < 0.5 else payload + b"\x00" * 4
    elif what == "name":
        t[1] = rng.choice((b"", b"1x", b"\xff", b"a" * 255, b"a-b", t[1] + b"_2"))
    else:
        prog.sections.insert(prog.sections.index(t), list(t))
    t[2] = bytes(payload)
    return f"tensor-{what}"


def _host_onnx(rng: random.Random, model: bytes, corpus: Corpus) -> tuple[str, bytes]:
    """A replacement for a host step's embedded ONNX graph: damaged bytes, a structure mutant (odd ops
    and domains like `this`, Loops of 10^9 iterations, ...) or another model altogether."""
    roll = rng.random()
    if roll < 0.1 or not model:
        name, other = corpus.small_onnx(rng)
        return f"model-{name}", other
    if roll < 0.35:
        kind, data = mutate_bytes(rng, model, ())
        return f"bytes-{kind}", data
    name, (blob, _) = mutate_model(rng, model)
    return name, blob


def _mutate_host(rng: random.Random, prog: RawProgram, corpus: Corpus) -> str:
    """A host step's JSON: odd shapes, addresses, dtypes, zero rules, names and keys, or its ONNX graph,
    written back canonically (sorted keys, no spaces, ASCII) so the container's canonical check passes."""
    hosts = prog.of_kind(b"host")
    if not hosts:
        return _mutate_code(rng, prog)
    section = rng.choice(hosts)
    body = json.loads(section[2])
    what = rng.choice(("onnx", "onnx", "onnx", "shape", "dram", "dtype", "zero", "name", "reason", "keys", "lists",
                       "non-canonical", "section-name"))
    tensors = [*body["inputs"], *body["outputs"]]
    t = rng.choice(tensors) if tensors else {}
    if what == "onnx":
        kind, model = _host_onnx(rng, base64.b64decode(body["onnx"]), corpus)
        body["onnx"] = base64.b64encode(model).decode()
        what = f"onnx-{kind}"
    elif what == "shape" and t:
        t["shape"] = rng.choice(([0], [-1], [2**32], [65535, 65535, 65535], [1, 2], [1.5], [True], "x", [],
                                 [2**20, 2**20, 1], [t["shape"][0] + 1, *t["shape"][1:]]))
    elif what == "dram" and t:
        t["dram"] = rng.choice((-1, 2**24 - 1, 2**32, 2**64, 1.5, "0", None))
    elif what == "dtype" and t:
        t["dtype"] = rng.choice(("f64", "", "bits", "int16", "f32", 5))
    elif what == "zero" and body["outputs"]:
        rng.choice(body["outputs"])["zero"] = rng.choice(("", "plus", "reject", "minus", 0))
    elif what == "name" and t:
        t["name"] = rng.choice(("", " ", "ψ", "\n", "x" * 10_000, "a\"b", "\ud800"))
    elif what == "reason":
        body["reason"] = rng.choice(("", " ", "\n", "ψ" * 1000, "\x00"))
    elif what == "keys":
        target = rng.choice((body, t or body))
        if rng.random() < 0.5 and target:
            del target[rng.choice(sorted(target))]
        else:
            target[rng.choice(("extra", "zero", "onnx", ""))] = 1
    elif what == "lists":
        key = rng.choice(("inputs", "outputs"))
        body[key] = rng.choice(([], body[key] * 2, body[key] * 1000, {}, None))
    elif what == "non-canonical":
        section[2] = json.dumps(body, indent=1).encode()
        return "host-non-canonical"
    else:
        section[1] = rng.choice((b"host", b"host01", b"host4096", b"host99999999999999999999", b"hostx"))
    section[2] = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    return f"host-{what}"


def _mutate_sections(rng: random.Random, prog: RawProgram) -> str:
    what = rng.choice(("shuffle", "duplicate", "delete", "unknown", "many", "host-kind"))
    if what == "shuffle":
        rng.shuffle(prog.sections)
    elif what == "duplicate":
        prog.sections.insert(rng.randrange(len(prog.sections) + 1), list(rng.choice(prog.sections)))
    elif what == "delete":
        del prog.sections[rng.randrange(len(prog.sections))]
    elif what == "unknown":
        prog.sections.append([rng.choice((b"zz", b"a" * 255, b"\xff", b"", b"1x", b"probes")),
                              rng.choice((b"n", b"", b"\xfe", b"b" * 255)),
                              bytes(rng.getrandbits(8) for _ in range(16))])
    elif what == "many":
        prog.sections += [[b"note", f"n{i}".encode(), b""] for i in range(rng.choice((1000, 20_000)))]
    else:
        prog.sections.append([b"host", b"host77", rng.choice((b"", b"{}", b"[]", b"null", b"\xff", b'{"a":1}'))])
    return f"sections-{what}"


def _mutate_header(rng: random.Random, prog: RawProgram) -> tuple[str, int | None]:
    what = rng.choice(("version", "count", "hash", "name", "name"))
    if what == "version":
        prog.header[8:12] = struct.pack("<I", rng.choice((0, 1, 2, 4, 2**32 - 1)))
    elif what == "count":
        return "header-count", rng.choice((0, len(prog.sections) - 1, len(prog.sections) + 1, 2**32 - 1))
    elif what == "hash":
        prog.header[16 + rng.randrange(32)] ^= 1 << rng.randrange(8)
    elif len(prog.header) >= 80:
        name = rng.choice((b"quarter", b"chewbaccann", b"", b"\xff\xfe", b"a" * 32, b"../../etc/passwd", b"tiny-fmem",
                           b"chewbaccann\x00x", b"CHEWBACCANN", b"machines/quarter"))
        prog.header[48:80] = name.ljust(32, b"\x00")[:32]
    return f"header-{what}", None


def chew_case(rng: random.Random, corpus: Corpus) -> Case:
    """`chewc-run prog.chew` (or `chewc-objdump prog.chew`) on a mutated program, or a file-system case."""
    name = rng.choice(sorted(corpus.chew))
    seed = corpus.chew[name]
    tool = "chewc-run" if rng.random() < 0.75 else "chewc-objdump"
    roll = rng.random()
    if roll < 0.06:
        path, files, dirs = _fs_input(rng, ".chew")
        return _case("fs-input", tool, [path], files, dirs)
    if roll < 0.11:
        path, files, dirs = _fs_output(rng, ".npy" if tool == "chewc-run" else ".s")
        if tool == "chewc-run" and path == "/dev/full":
            path = "missing/out.npy"  # numpy would write /dev/full.npy, a new file outside the case
        flag = "--output" if tool == "chewc-run" else "-o"
        return _case("fs-output", tool, ["prog.chew", flag, path], {"prog.chew": seed, **files}, dirs)
    if roll < 0.14:
        flag = rng.choice(("--input", "--check"))
        path, files, dirs = _fs_input(rng, ".npy" if flag == "--input" else ".onnx")
        return _case(f"fs{flag}", "chewc-run", ["prog.chew", flag, path], {"prog.chew": seed, **files}, dirs)
    if roll < 0.45:
        hot = [(0, corpus.header_size + 64)]
        host = seed.find(b'{"inputs"')
        if host >= 0:
            hot.append((host, host + 512))
        kind, body = mutate_bytes(rng, seed[:-4], list(corpus.chew.values()), hot)
        blob = _fix_crc(body) if rng.random() < 0.9 else body + seed[-4:]
        mutator = f"bytes-{kind}"
    else:
        prog = RawProgram.parse(seed, corpus.header_size)
        count = None
        what = rng.choice(("code", "code", "data", "tensor", "tensor", "host", "host", "host", "sections", "header"))
        if what == "code":
            mutator = _mutate_code(rng, prog)
        elif what == "data":
            mutator = _mutate_data(rng, prog)
        elif what == "tensor":
            mutator = _mutate_tensor(rng, prog)
        elif what == "host":
            mutator = _mutate_host(rng, prog, corpus)
        elif what == "sections":
            mutator = _mutate_sections(rng, prog)
        else:
            mutator, count = _mutate_header(rng, prog)
        blob = prog.pack(count)
    args = ["prog.chew"]
    if tool == "chewc-run":
        args += ["--report", rng.choice(("none", "text", "json"))]
        if name in corpus.compiled and rng.random() < 0.2:
            args += ["--check", "ref.onnx"]
            return _case(mutator, tool, args, {"prog.chew": blob, "ref.onnx": corpus.onnx[name]})
        if rng.random() < 0.1:
            args += ["--vdd", rng.choice(("0.5", "0.8", "0.45"))]
    return _case(mutator, tool, args, {"prog.chew": blob})


# -- assembly ----------------------------------------------------------------------------------

NUMBERS = ("-1", "0", "65535", "65536", "4294967296", "18446744073709551616", "0x" + "f" * 20, "9" * 5000,
           "0b" + "1" * 70, "-0", "0x", "1e5", "1_000", "--1", "0x7fffffff", "-32769", "4096", "0b", "08")
BAD_LINES = (
    ".input x bits[0,0,0] ghw @0", ".input x bits[1,1] ghw @0", ".input x f32[1,1,1] ghw @0",
    ".output y int16[65535,65535,65535] chw @0xffffffff", ".data d @0x7fffffff\n.word 1", ".data d @0",
    '.bits "0101"', '.hex "abc"', ".section host x", ".section code code", '.host 999999 "r"',
    '.host_in "" f32[1] @0', '.onnx "!!!"', '.machine "00"', ".inst 0x1ffffffffffffffff", ".inst -1",
    '.host 0 "\\x41"', '.host 0 "\\ud800"', '.host 0 ""', ".data d @0\n.word " + " ".join(["1"] * 100_000),
    ".word 1", "CFG.DMA count=65535 dram_stride=8388607 chip_stride=32767\nDMA.LD mem=fmem dram=0 chip=0 length=65535",
    "HOST step=4095", "END", "SYNC", "CONV fmem=0 wmem=0 acc=0 accumulate=0 accumulate=1", "CFG.K pad_mode=zzz",
    '.host 0 "r"\n.host_out "y" bits[1,1,1] @0 zero=minus', '.host 0 "r"\n.host_in "x" f32[1,1,1] @0 zero=plus',
    '.host 0 "r"\n.host_in "x" f32[1,1,1] @0\n.host_out "y" f32[2,1,1] @16\n.onnx ""',
    "; " + "x" * 1_000_000, "x" * 100_000 + " a=1", "\ufeffEND",
)
ODD_TEXT = ("\x00", "\r", "\x0c", "\u2028", "\ufeff", "\t", "\x85", "\\", '"', ";", "=", "@", "[", "]", ",", "\x1b")


def _mutate_asm_lines(rng: random.Random, text: str, donors: Sequence[str]) -> tuple[str, str]:
    lines = text.split("\n")
    what = rng.choice(("delete", "duplicate", "swap", "donor", "bad-line", "bad-line", "many", "tokens", "tokens",
                       "tokens", "odd-char"))
    i = rng.randrange(len(lines))
    if what == "delete":
        del lines[i]
    elif what == "duplicate":
        lines.insert(i, lines[i])
    elif what == "swap":
        j = rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    elif what == "donor":
        donor = rng.choice(donors).split("\n")
        lines.insert(i, rng.choice(donor))
    elif what == "bad-line":
        lines.insert(i, rng.choice(BAD_LINES))
    elif what == "many":
        lines[i:i] = [lines[i]] * rng.choices((1000, 10_000, 100_000), weights=(6, 3, 1))[0]
    elif what == "odd-char":
        pos = rng.randrange(len(lines[i]) + 1)
        lines[i] = lines[i][:pos] + rng.choice(ODD_TEXT) + lines[i][pos:]
    else:
        what = _mutate_tokens(rng, lines)
    return f"lines-{what}", "\n".join(lines)


def _mutate_tokens(rng: random.Random, lines: list[str]) -> str:
    """Token-level changes on one instruction or directive line: numbers out of range or malformed,
    unknown mnemonics and fields, swapped, dropped or repeated tokens."""
    candidates = [i for i, ln in enumerate(lines) if ln.strip() and not ln.lstrip().startswith(";")]
    if not candidates:
        return "none"
    i = rng.choice(candidates)
    code, sep, comment = lines[i].partition(";")
    tokens = code.split()
    what = rng.choice(("number", "number", "mnemonic", "field", "swap", "drop", "repeat", "enum"))
    k = rng.randrange(len(tokens))
    if what == "number":
        numeric = [j for j, t in enumerate(tokens) if re.search(r"(=|@|^|\[|,)-?(0x|0b)?[0-9a-fA-F]+", t)]
        j = rng.choice(numeric) if numeric else k
        tokens[j] = re.sub(r"-?(0x[0-9a-fA-F]+|0b[01]+|[0-9]+)", lambda _: rng.choice(NUMBERS), tokens[j], count=1)
    elif what == "mnemonic":
        tokens[0] = rng.choice(("FOO", "conv", "CONV", "END", "HOST", "DMA.LD", ".inst", ".word", ".data", "CFG.",
                                "", ".", "DMA.LD.LD", "ψ"))
    elif what == "field" and "=" in tokens[k]:
        tokens[k] = rng.choice(("zz", "", "fmem", "mem", "ψ")) + tokens[k][tokens[k].index("="):]
    elif what == "swap":
        j = rng.randrange(len(tokens))
        tokens[k], tokens[j] = tokens[j], tokens[k]
    elif what == "drop":
        del tokens[k]
    elif what == "repeat":
        tokens.insert(k, tokens[k])
    elif "=" in tokens[k]:
        value = rng.choice(("zzz", "gate", "pos", "neg", "fmem", "dram", ""))
        tokens[k] = tokens[k][: tokens[k].index("=") + 1] + value
    lines[i] = " ".join(tokens) + (sep + comment if sep else "")
    return f"token-{what}"


def asm_case(rng: random.Random, corpus: Corpus) -> Case:
    """`chewc-as prog.s -o out.chew` on mutated assembly (tests/asm and objdump listings)."""
    seed = corpus.some_asm(rng)[1]
    roll = rng.random()
    if roll < 0.05:
        path, files, dirs = _fs_input(rng, ".s")
        return _case("fs-input", "chewc-as", [path, "-o", "out.chew"], files, dirs)
    if roll < 0.10:
        path, files, dirs = _fs_output(rng, ".chew")
        return _case("fs-output", "chewc-as", ["prog.s", "-o", path], {"prog.s": seed.encode(), **files}, dirs)
    if roll < 0.12:
        source = rng.choice(("prog", "prog.s", "prog.chew.s"))
        return _case("default-output", "chewc-as", [source], {source: seed.encode()})
    if roll < 0.45:
        hot = [(0, 512)]
        kind, data = mutate_bytes(rng, seed.encode(), [s.encode() for s in corpus.asm.values()], hot)
        mutator = f"bytes-{kind}"
    else:
        mutator, text = _mutate_asm_lines(rng, seed, list(corpus.asm.values()))
        data = text.encode()
    args = ["prog.s", "-o", "out.chew"]
    if rng.random() < 0.1:
        args += ["--machine", rng.choice(("quarter", "chewbaccann"))]
    return _case(mutator, "chewc-as", args, {"prog.s": data})


# -- machine descriptions ----------------------------------------------------------------------


def _toml_string(s: str) -> str:
    out = ['"']
    for ch in s:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append("?")
        else:
            out.append(ch)
    return "".join(out) + '"'


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_string(key)


def _toml_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, str):
        return _toml_string(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"no TOML for {type(v).__name__}")


def _is_section(v: object) -> bool:
    """A table written as a [section]; a parameter table ({ value = ... }) stays inline."""
    return isinstance(v, dict) and "value" not in v


def _is_table_array(v: object) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)


def to_toml(doc: dict[str, Any]) -> str:
    """TOML for a machine-description-shaped document (tomllib reads, nothing in the venv writes)."""
    lines: list[str] = []

    def table(path: list[str], d: dict[str, Any]) -> None:
        for k, v in d.items():
            if not _is_section(v) and not _is_table_array(v):
                lines.append(f"{_toml_key(k)} = {_toml_value(v)}")
        for k, v in d.items():
            if _is_section(v):
                lines.append(f"\n[{'.'.join(_toml_key(p) for p in [*path, k])}]")
                table([*path, k], v)
            elif _is_table_array(v):
                for item in v:
                    lines.append(f"\n[[{'.'.join(_toml_key(p) for p in [*path, k])}]]")
                    table([*path, k], item)

    table([], doc)
    return "\n".join(lines) + "\n"


def _params(doc: object) -> list[dict[str, Any]]:
    """Every parameter table ({ value = ..., tag = ... }) in a description, however deep."""
    found: list[dict[str, Any]] = []
    if isinstance(doc, dict):
        if "value" in doc:
            return [doc]
        for v in doc.values():
            found += _params(v)
    elif isinstance(doc, list):
        for v in doc:
            found += _params(v)
    return found


PARAM_VALUES: tuple[object, ...] = (0, -1, 1, 2, 3, 7, 8, 16, 2**31, 2**63 - 1, 2**64, 10**30, 1e308, 1e-308, 5e-324,
                                    math.inf, -math.inf, math.nan, 7.0, 0.5, True, "7", [7], {"x": 1}, 2**40, 2**62)
EXTENDS = ("machine.toml", "b.toml", "nope.toml", str(REPO / "isa" / "machines" / "chewbaccann.toml"), "/etc/passwd",
           "/dev/zero", "/", "", ".", 5, ["x"], "../" * 50 + "etc/passwd", "chain0.toml", "adir", "quarter",
           "chewbaccann")


def _mutate_machine_doc(rng: random.Random, doc: dict[str, Any], files: Files) -> str:
    """One change to a parsed description: values, types, tags, keys, sections, names, operating
    points, `extends` (loops, missing targets, absolute paths, long chains)."""
    params = _params(doc)
    what = rng.choice(("value", "value", "value", "size", "tag", "source", "remove-param", "unknown-param",
                       "param-key", "remove-section", "unknown-section", "name", "points", "extends", "extends"))
    if what == "value" and params:
        rng.choice(params)["value"] = rng.choice(PARAM_VALUES)
    elif what == "size":
        mem = doc.get("memory")
        if isinstance(mem, dict) and mem:
            part = mem[rng.choice(sorted(mem))]
            if isinstance(part, dict) and isinstance(part.get("size_bytes"), dict):
                part["size_bytes"]["value"] = rng.choice((2**40, 2**62, 1, 2, 3, 0, 2**25, 2**33))
    elif what == "tag" and params:
        p = rng.choice(params)
        if rng.random() < 0.3:
            p.pop("tag", None)
        else:
            p["tag"] = rng.choice(("X", "", "s", 1, "SD", "a"))
    elif what == "source" and params:
        p = rng.choice(params)
        p["tag"] = "S"
        if rng.random() < 0.5:
            p.pop("source", None)
        else:
            p["source"] = rng.choice(("", 5, "ψ" * 10_000))
    elif what == "remove-param":
        sections = [v for v in doc.values() if isinstance(v, dict) and v]
        if sections:
            section = rng.choice(sections)
            del section[rng.choice(sorted(section))]
    elif what == "unknown-param":
        sections = [v for v in doc.values() if isinstance(v, dict)]
        if sections:
            rng.choice(sections)[rng.choice(("frob", "value", "window", "ψ"))] = {"value": 1, "tag": "A"}
    elif what == "param-key" and params:
        rng.choice(params)[rng.choice(("unit", "Value", "note", "source"))] = rng.choice(("x", 1, ""))
    elif what == "remove-section" and doc:
        del doc[rng.choice(sorted(doc))]
    elif what == "unknown-section":
        doc[rng.choice(("extra", "memory2", "ψ"))] = {"a": {"value": 1, "tag": "A"}}
    elif what == "name":
        key = rng.choice(("name", "description"))
        doc[key] = rng.choice(("", "a b", "../../x", "ü", "x" * 33, 5, True, "quarter", "a\nb", "x" * 100_000))
    elif what == "points":
        points = doc.get("operating_point")
        doc["operating_point"] = rng.choice((
            [], {"vdd": {"value": 0.4, "tag": "S"}}, "x",
            (points or []) * 2, (points or [])[1:], (points or [])[:1] * 1000))
    else:
        target = rng.choice(EXTENDS)
        doc["extends"] = target
        if target == "b.toml":
            files["b.toml"] = b'extends = "machine.toml"\n'
        elif target == "chain0.toml":
            n = rng.choice((3, 50, 1200))
            for i in range(n):
                files[f"chain{i}.toml"] = f'extends = "chain{i + 1}.toml"\n'.encode()
            files[f"chain{n}.toml"] = (REPO / "isa" / "machines" / "chewbaccann.toml").read_bytes()
        elif target == "adir":
            files["adir/.keep"] = b""
    return f"doc-{what}"


def _program_for(machine_file: Path, asm: str) -> bytes | None:
    """A program assembled for a mutated machine, so chewc-run gets past the machine-hash check; None
    when the machine or the program is refused (the run then shows how the tool says so)."""
    from isa.asm import assemble
    from isa.machine import load_machine

    try:
        return assemble(asm, load_machine(machine_file), "prog.s").to_bytes()
    except Exception:  # noqa: BLE001 -- the case run itself reports what the tools do with this machine
        return None


def machine_case(rng: random.Random, corpus: Corpus) -> Case:
    """`--machine FILE` for chewc (mlp.onnx or a small model), chewc-run and chewc-as."""
    base = {name: text.encode() for name, text in corpus.machines.items()}
    seed_name = rng.choice(sorted(corpus.machines))
    seed = corpus.machines[seed_name]
    files: Files = dict(base)
    roll = rng.random()
    dirs: tuple[str, ...] = ()
    if roll < 0.1:
        machine, fs_files, dirs = _fs_input(rng, ".toml")
        files.update(fs_files)
        if rng.random() < 0.3:
            machine = rng.choice(("quarter", "nosuch", "", "chewbaccann", "QUARTER", "../machines/quarter"))
        mutator = "fs-machine"
    elif roll < 0.45:
        kind, data = mutate_bytes(rng, seed.encode(), [t.encode() for t in corpus.machines.values()], [(0, 1024)])
        files["machine.toml"], machine, mutator = data, "machine.toml", f"bytes-{kind}"
    else:
        doc = tomllib.loads(seed)
        mutator = _mutate_machine_doc(rng, doc, files)
        files["machine.toml"], machine = to_toml(doc).encode(), "machine.toml"
    tool = rng.choice(("chewc", "chewc", "chewc-run", "chewc-as"))
    asm_name = rng.choice(sorted(n for n in corpus.asm if not n.endswith(".objdump.s")))
    if tool == "chewc":
        model = rng.choice((str(REPO / "examples" / "models" / "mlp.onnx"), "model.onnx"))
        if model == "model.onnx":
            files["model.onnx"] = corpus.small_onnx(rng)[1]
        return _case(mutator, tool, [model, "--machine", machine, "-o", "x.chew"], files, dirs)
    if tool == "chewc-as":
        files["prog.s"] = corpus.asm[asm_name].encode()
        return _case(mutator, tool, ["prog.s", "--machine", machine, "-o", "out.chew"], files, dirs)
    with tempfile.TemporaryDirectory() as tmp:
        for rel, data in files.items():
            (Path(tmp) / rel).parent.mkdir(parents=True, exist_ok=True)
            (Path(tmp) / rel).write_bytes(data)
        built = _program_for(Path(tmp) / machine, corpus.asm[asm_name]) if machine == "machine.toml" else None
    files["prog.chew"] = built if built is not None else corpus.chew[asm_name.removesuffix(".s")]
    args = ["prog.chew", "--machine", machine, "--report", rng.choice(("text", "json", "none"))]
    if rng.random() < 0.3:
        args += ["--vdd", rng.choice(("0.5", "0.6", "0.8", "0.4", "1e-300"))]
    return _case(mutator, tool, args, files, dirs)


GENERATORS: dict[str, Callable[[random.Random, Corpus], Case]] = {
    "onnx": onnx_case, "chew": chew_case, "asm": asm_case, "machine": machine_case,
}


def generate(surface: str, seed: int, index: int, corpus: Corpus) -> Case:
    """Case `index` of `surface` for campaign `seed`: the same case whichever worker draws it."""
    return GENERATORS[surface](random.Random(f"{seed}:{surface}:{index}"), corpus)


# -- the worker: one case in-process -----------------------------------------------------------


class CaseTimeout(BaseException):
    """Raised by the alarm; a BaseException so that the tools' `except Exception` cannot swallow it."""


def _on_alarm(signum: int, frame: object) -> None:
    raise CaseTimeout


def _clear_caches() -> None:
    """Forget chewc's memoised sessions, machines and plans, so a case sees what a fresh process sees
    (an onnxruntime session built once would otherwise log its warnings only the first time)."""
    for name, module in list(sys.modules.items()):
        if module is None or name.split(".")[0] not in CHEWC_PACKAGES:
            continue
        for value in list(vars(module).values()):
            clear = getattr(value, "cache_clear", None)
            if callable(clear):
                clear()


@contextlib.contextmanager
def _captured(err_file: int) -> Iterator[None]:
    """stdout to /dev/null and stderr to `err_file`, at the descriptor level: C++ writes count too."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        os.dup2(err_file, 2)
        yield
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, null):
            os.close(fd)


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_case(case: Case, case_dir: Path, main: Callable[[list[str]], int], timeout: int) -> dict[str, Any]:
    """Run one case in this process; what the parent needs to classify it."""
    case_dir.mkdir(parents=True, exist_ok=True)
    for d in case.dirs:
        (case_dir / d).mkdir(parents=True, exist_ok=True)
    for rel, data in case.files:
        (case_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (case_dir / rel).write_bytes(data)
    _clear_caches()
    before = _maxrss_mb()
    cwd = os.getcwd()
    code: int | None = None
    problem = ""
    with tempfile.TemporaryFile() as err, open(case_dir.parent / f"{case_dir.name}.crash", "w") as crash:
        faulthandler.enable(crash)
        os.chdir(case_dir)
        start = time.perf_counter()
        try:
            with _captured(err.fileno()), warnings.catch_warnings():
                signal.alarm(timeout)
                try:
                    code = main(list(case.args))
                except SystemExit as e:  # argparse usage errors exit 2 through SystemExit
                    code = e.code if isinstance(e.code, int) else int(e.code is not None)
                finally:
                    signal.alarm(0)
        except CaseTimeout:
            problem = f"timeout ({timeout} s)"
        except BaseException as e:  # noqa: BLE001 -- an exception the tool's own handler let through
            problem = f"escaped {type(e).__name__}: {str(e).splitlines()[0] if str(e).strip() else ''}"
        finally:
            seconds = time.perf_counter() - start
            os.chdir(cwd)
            faulthandler.disable()
        err.seek(0)
        text = err.read().decode("utf-8", "replace")
    (case_dir.parent / f"{case_dir.name}.crash").unlink()
    lines = text.rstrip("\n").split("\n") if text else []
    after = _maxrss_mb()
    return {"exit_code": code, "problem": problem, "stderr_lines": len(lines), "first_line": lines[0] if lines else "",
            "last_line": lines[-1] if lines else "", "seconds": seconds, "peak_mb": after, "growth_mb": after - before}


def _worker_main(conn: multiprocessing.connection.Connection, corpus_dir: str, timeout: int, memory_cap: int) -> None:
    """A worker: imports the tools once, then runs the cases the parent sends until told to stop."""
    os.environ.pop("CHEWC_TRACEBACK", None)
    resource.setrlimit(resource.RLIMIT_AS, (memory_cap, memory_cap))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (GiB, GiB))
    stdin = os.open(os.devnull, os.O_RDONLY)
    os.dup2(stdin, 0)
    signal.signal(signal.SIGALRM, _on_alarm)
    mains = {}
    for tool, target in TOOLS.items():
        module, _, fn = target.partition(":")
        mains[tool] = getattr(importlib.import_module(module), fn)
    corpus = Corpus.load(Path(corpus_dir))
    conn.send({"ready": True})
    while True:
        task = conn.recv()
        if task is None:
            return
        try:
            case = generate(task["surface"], task["seed"], task["index"], corpus)
        except Exception:  # noqa: BLE001 -- a fuzzer bug, reported to the parent, which stops
            conn.send({"generator_error": traceback.format_exc()})
            return
        conn.send({"started": True, "mutator": case.mutator, "tool": case.tool, "args": list(case.args)})
        result = run_case(case, Path(task["case_dir"]), mains[case.tool], timeout)
        restart = bool(result["problem"]) or result["peak_mb"] > RESTART_RSS_MB
        conn.send({**result, "restart": restart})
        if restart:
            return


# -- the parent: a pool of workers that survives their deaths ----------------------------------


@dataclass
class _Worker:
    process: BaseProcess
    conn: multiprocessing.connection.Connection
    task: dict[str, Any] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    deadline: float = 0.0
    ready: bool = False


class Fuzzer:
    """A pool of `jobs` worker processes over one corpus; `run` one surface at a time."""

    def __init__(self, jobs: int = 2, timeout: int = 30, memory_cap: int = MEMORY_CAP,
                 work: Path | None = None) -> None:
        self.jobs, self.timeout, self.memory_cap = jobs, timeout, memory_cap
        self.work = Path(tempfile.mkdtemp(prefix="chewc-fuzz-", dir=work))
        self.corpus_dir = self.work / "corpus"
        try:
            build_corpus(self.corpus_dir)
        except BaseException:  # a tool that cannot compile its own seeds: nothing to fuzz, nothing to keep
            shutil.rmtree(self.work, ignore_errors=True)
            raise
        self.ctx = multiprocessing.get_context("spawn")
        self.workers = [self._spawn() for _ in range(jobs)]

    def __enter__(self) -> Fuzzer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for w in self.workers:
            with contextlib.suppress(OSError, BrokenPipeError):
                w.conn.send(None)
            w.process.join(5)
            if w.process.is_alive():
                w.process.kill()
                w.process.join()
        self.workers = []
        shutil.rmtree(self.work, ignore_errors=True)

    def _spawn(self) -> _Worker:
        parent, child = self.ctx.Pipe()
        proc = self.ctx.Process(target=_worker_main, args=(child, str(self.corpus_dir), self.timeout, self.memory_cap),
                                daemon=True)
        proc.start()
        child.close()
        return _Worker(proc, parent)

    def _replace(self, w: _Worker) -> _Worker:
        if w.process.is_alive():
            w.process.kill()
        w.process.join()
        w.conn.close()
        fresh = self._spawn()
        self.workers[self.workers.index(w)] = fresh
        return fresh

    def run(self, surface: str, count: int, seed: int, on_record: Callable[[Record, Path], None]) -> float:
        """Run `count` cases of `surface`; `on_record(record, case_dir)` sees each before its directory
        is deleted. Returns the wall-clock seconds."""
        pending = list(range(count))[::-1]
        start = time.perf_counter()
        cases = self.work / "cases"
        while pending or any(w.task for w in self.workers):
            for w in self.workers:
                if w.task is None and pending:
                    i = pending.pop()
                    w.task = {"surface": surface, "seed": seed, "index": i,
                              "case_dir": str(cases / f"{surface}-{i:06d}")}
                    w.meta = {}
                    w.deadline = time.monotonic() + (self.timeout + HARD_GRACE if w.ready else STARTUP_SECONDS)
                    w.conn.send(w.task)
            busy = [w for w in self.workers if w.task]
            multiprocessing.connection.wait([w.conn for w in busy] + [w.process.sentinel for w in busy], timeout=1.0)
            for w in busy:
                self._poll(w, on_record)
        return time.perf_counter() - start

    def _poll(self, w: _Worker, on_record: Callable[[Record, Path], None]) -> None:
        try:
            while w.task and w.conn.poll():
                msg = w.conn.recv()
                if msg.get("generator_error"):
                    raise RuntimeError(f"generating case {w.task['index']} of {w.task['surface']} failed:\n"
                                       + msg["generator_error"])
                if msg.get("ready"):
                    w.ready = True
                elif msg.get("started"):
                    w.meta = msg
                    w.deadline = time.monotonic() + self.timeout + HARD_GRACE
                else:
                    self._finish(w, msg, on_record)
                    if msg["restart"]:
                        self._replace(w)
                    return
        except (EOFError, OSError):
            pass
        if w.task and not w.process.is_alive():
            code = w.process.exitcode or 0
            why = f"worker died ({signal.Signals(-code).name})" if code < 0 else f"worker exited with {code}"
            self._finish(w, {"exit_code": None, "problem": why}, on_record)
            self._replace(w)
        elif w.task and time.monotonic() > w.deadline:
            self._finish(w, {"exit_code": None, "problem": f"hard timeout ({self.timeout} s, stuck outside Python)"},
                         on_record)
            self._replace(w)

    def _finish(self, w: _Worker, msg: dict[str, Any], on_record: Callable[[Record, Path], None]) -> None:
        assert w.task is not None
        case_dir = Path(w.task["case_dir"])
        crash = case_dir.parent / f"{case_dir.name}.crash"
        record = Record(
            surface=w.task["surface"], index=w.task["index"], mutator=w.meta.get("mutator", "?"),
            tool=w.meta.get("tool", "?"), args=w.meta.get("args", []), exit_code=msg.get("exit_code"),
            stderr_lines=msg.get("stderr_lines", 0), first_line=msg.get("first_line", ""),
            seconds=msg.get("seconds", 0.0), peak_mb=msg.get("peak_mb", 0.0), growth_mb=msg.get("growth_mb", 0.0),
            problem=msg.get("problem", ""), last_line=msg.get("last_line", ""),
            crash_log=crash.read_text(errors="replace")[-STDERR_KEPT:] if crash.exists() else "",
        )
        record.classify()
        on_record(record, case_dir)
        shutil.rmtree(case_dir, ignore_errors=True)
        crash.unlink(missing_ok=True)
        w.task = None


# -- campaigns, findings and reports -----------------------------------------------------------


@dataclass
class SurfaceResult:
    surface: str
    records: list[Record]
    seconds: float

    def counts(self) -> Counter[str]:
        return Counter(r.verdict for r in self.records)

    def else_classes(self) -> Counter[str]:
        return Counter(r.klass for r in self.records if r.verdict == "else")

    def summary(self) -> dict[str, Any]:
        counts = self.counts()
        return {
            "cases": len(self.records), "seconds": round(self.seconds, 2),
            "cases_per_second": round(len(self.records) / self.seconds, 2) if self.seconds else 0.0,
            "ok": counts["ok"], "refusal": counts["refusal"], "else": counts["else"],
            "max_seconds": round(max((r.seconds for r in self.records), default=0.0), 2),
            "max_peak_mb": round(max((r.peak_mb for r in self.records), default=0.0), 1),
            "else_classes": dict(self.else_classes().most_common()),
        }


@dataclass
class Findings:
    """One reproducer per 'else' class, saved the first time the class is seen."""

    out: Path
    saved: dict[str, Path] = field(default_factory=dict)
    examples: dict[str, Record] = field(default_factory=dict)

    def keep(self, record: Record, case_dir: Path) -> None:
        if record.verdict != "else" or record.klass in self.saved:
            return
        slug = re.sub(r"[^A-Za-z0-9]+", "-", record.klass)[:60].strip("-")
        dest = self.out / record.surface / f"{len(self.saved):03d}-{slug}"
        shutil.rmtree(dest, ignore_errors=True)
        if case_dir.exists():
            shutil.copytree(case_dir, dest, symlinks=True)
        dest.mkdir(parents=True, exist_ok=True)
        (dest / "cmd.sh").write_text(_command(record))
        (dest / "info.json").write_text(json.dumps({"class": record.klass, **dataclasses.asdict(record)}, indent=1))
        self.saved[record.klass] = dest
        self.examples[record.klass] = record

    def confirm(self, timeout: int) -> dict[str, str]:
        """Rerun every reproducer as its own process (a scratch copy of its folder), with the case's
        timeout: does the class reproduce outside the worker? With exit 3, also keep the traceback
        CHEWC_TRACEBACK=1 prints (traceback.txt)."""
        verdicts = {}
        for klass, dest in self.saved.items():
            fresh = _fresh_run(dest, timeout, {})
            if fresh["exit_code"] == 3:
                tb = _fresh_run(dest, timeout, {"CHEWC_TRACEBACK": "1"})
                (dest / "traceback.txt").write_text(tb["stderr"])
            example = self.examples[klass]
            again = dataclasses.replace(example, exit_code=fresh["exit_code"], stderr_lines=fresh["stderr_lines"],
                                        first_line=fresh["first_line"], last_line=fresh["last_line"],
                                        seconds=fresh["seconds"], peak_mb=0.0, growth_mb=0.0,
                                        problem=fresh["problem"])
            again.classify()
            same = "reproduces" if again.verdict == "else" and again.klass == klass else f"differs: {again.klass}"
            (dest / "fresh.txt").write_text(
                f"{same}\nexit code: {fresh['exit_code']}\nseconds: {fresh['seconds']:.1f}\nstderr:\n{fresh['stderr']}")
            verdicts[klass] = f"fresh process {same}"
        return verdicts


def _command(record: Record) -> str:
    """The exact command of a case as a shell script run from the reproducer's folder."""
    tool = Path(sys.executable).parent / record.tool
    return ("#!/bin/sh\n# " + record.klass.replace("\n", " ") + "\ncd \"$(dirname \"$0\")\" && exec "
            + " ".join(shlex.quote(a) for a in [str(tool), *record.args]) + "\n")


def _limit_child() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _fresh_run(dest: Path, timeout: int, env: dict[str, str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp) / "case"
        shutil.copytree(dest, scratch, symlinks=True)
        environ = {k: v for k, v in os.environ.items() if k != "CHEWC_TRACEBACK"} | env
        start = time.perf_counter()
        code: int | None = None
        problem = ""
        try:
            proc = subprocess.run(["sh", str(scratch / "cmd.sh")], capture_output=True, env=environ,
                                  timeout=timeout + FRESH_STARTUP,
                                  stdin=subprocess.DEVNULL, preexec_fn=_limit_child, check=False)
            stderr = proc.stderr.decode("utf-8", "replace")
            if proc.returncode < 0:
                problem = f"worker died ({signal.Signals(-proc.returncode).name})"
            else:
                code = proc.returncode
        except subprocess.TimeoutExpired as e:
            stderr, problem = (e.stderr or b"").decode("utf-8", "replace"), f"timeout ({timeout} s)"
    lines = stderr.rstrip("\n").split("\n") if stderr else []
    return {"exit_code": code, "problem": problem, "stderr": stderr[-20_000:], "stderr_lines": len(lines),
            "first_line": lines[0] if lines else "", "last_line": lines[-1] if lines else "",
            "seconds": time.perf_counter() - start}


def print_table(result: SurfaceResult, findings: Findings, confirmed: dict[str, str], jobs: int,
                stream: Any = sys.stdout) -> None:
    """The per-surface table: classes, frequent refusals, worst time and memory, 'else' classes."""
    s = result.summary()
    records = result.records
    print(f"\n== {result.surface}: {s['cases']} cases in {s['seconds']:.1f} s ({s['cases_per_second']:.2f} cases/s, "
          f"{jobs} jobs)", file=stream)
    print(f"   ok {s['ok']}   refusal {s['refusal']}   else {s['else']}", file=stream)
    slow = max(records, key=lambda r: r.seconds, default=None)
    big = max(records, key=lambda r: r.peak_mb, default=None)
    if slow and big:
        print(f"   max time {slow.seconds:.2f} s ({slow.tool}, {slow.mutator}); max peak RSS {big.peak_mb:.0f} MB "
              f"({big.tool}, {big.mutator})", file=stream)
    refusals = Counter(normalise(r.first_line) for r in records if r.verdict == "refusal")
    print("   most common refusals:", file=stream)
    for message, n in refusals.most_common(8):
        print(f"     {n:5d}  {message[:150]}", file=stream)
    classes = result.else_classes()
    print(f"   anything else: {len(classes)} classes" if classes else "   anything else: none", file=stream)
    for klass, n in classes.most_common():
        example = findings.examples.get(klass)
        where = findings.saved.get(klass)
        print(f"     {n:5d}  {klass[:160]}", file=stream)
        if example is not None:
            print(f"            e.g. {(example.first_line or example.problem)[:200]}", file=stream)
        if where is not None:
            print(f"            reproducer {where}/cmd.sh; {confirmed.get(klass, 'not rerun')}", file=stream)


def run_campaign(surfaces: Sequence[str], count: int, jobs: int = 2, seed: int = 0, out: Path | None = None,
                 timeout: int = 30, confirm: bool = True, json_path: Path | None = None,
                 stream: Any = sys.stdout) -> dict[str, SurfaceResult]:
    """Fuzz each surface with `count` cases, save reproducers under `out`, print the tables."""
    out = out or Path("/tmp/fuzz-findings")
    out.mkdir(parents=True, exist_ok=True)
    findings = Findings(out)
    results: dict[str, SurfaceResult] = {}
    with Fuzzer(jobs, timeout) as fuzzer, open(out / "records.jsonl", "w") as log:
        for surface in surfaces:
            shutil.rmtree(out / surface, ignore_errors=True)  # reproducers of an earlier campaign
            records: list[Record] = []

            def on_record(record: Record, case_dir: Path, records: list[Record] = records) -> None:
                records.append(record)
                log.write(json.dumps(dataclasses.asdict(record)) + "\n")
                findings.keep(record, case_dir)

            seconds = fuzzer.run(surface, count, seed, on_record)
            results[surface] = SurfaceResult(surface, sorted(records, key=lambda r: r.index), seconds)
            print(f"[{surface}] {count} cases in {seconds:.1f} s", file=stream, flush=True)
    confirmed = findings.confirm(timeout) if confirm else {}
    for result in results.values():
        print_table(result, findings, confirmed, jobs, stream)
    if json_path is not None:
        json_path.write_text(json.dumps({s: r.summary() for s, r in results.items()}, indent=1))
    return results


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m fuzz.fuzzers", description=__doc__.split("\n\n")[0])
    p.add_argument("--surface", choices=(*SURFACES, "all"), default="all")
    p.add_argument("--count", type=int, default=1000, help="cases per surface")
    p.add_argument("--jobs", type=int, default=2, help="worker processes")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("/tmp/fuzz-findings"), help="reproducers and records.jsonl")
    p.add_argument("--json", type=Path, help="write the counts per surface here")
    p.add_argument("--timeout", type=int, default=30, help="seconds per case")
    p.add_argument("--no-confirm", action="store_true", help="do not rerun reproducers in a fresh process")
    args = p.parse_args(argv)
    surfaces = SURFACES if args.surface == "all" else (args.surface,)
    results = run_campaign(surfaces, args.count, args.jobs, args.seed, args.out, args.timeout,
                           not args.no_confirm, args.json)
    return 1 if any(r.else_classes() for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
