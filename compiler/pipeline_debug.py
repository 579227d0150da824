"""Pass-pipeline instrumentation shared by `chewc` and `chewc-opt`.

`PassRunner` applies a pipeline pass by pass and calls `PassHook`s around every pass:
  IRPrinter     --print-ir-before/after(-all), --print-ir-after-change, --print-ir-after-failure (stderr)
  IRDumper      --ir-dump-dir: one numbered .mlir file for the input and after every pass
  PassTimer     --timing: a wall-time table per pass
  NumericCheck  --bisect / --check-against: execute the IR after every pass with the reference
                semantics of its level, compare with the ONNX reference, name the first wrong pass
The runner verifies after every pass (--verify-each), turns a pass's rejection of its input into a
one-line ChewcError, and turns a crash into a reproducer (`Replay`): the IR before the pass, the
input, and the one `chewc-opt` command that replays it.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import importlib
import importlib.util
import inspect
import io
import os
import re
import shlex
import sys
import textwrap
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass, PassPipeline
from xdsl.printer import Printer
from xdsl.utils.arg_spec import ArgSpecParseError
from xdsl.utils.exceptions import DiagnosticException

from isa.errors import EXIT_INTERNAL, ChewcError, MismatchError, first_line, one_line

if TYPE_CHECKING:
    import numpy as np

PassFactory = Callable[[], type[ModulePass]]
DEFAULT_REPRODUCER_DIR = Path("chewc-repro")


_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t"}


# --elide-constants-larger-than N (MLIR's --mlir-elide-elementsattrs-if-larger): constant payloads of more
# than N characters, and 16 at least (the hex of weights and constant words, base64 host-step graphs)
# print as "__elided__",
# for reading; such IR does not parse back to the same module
ELIDE_LARGER_THAN: ContextVar[int | None] = ContextVar("elide_larger_than", default=None)
_PAYLOAD = re.compile(r"[0-9a-fA-F]+|[A-Za-z0-9+/]+={0,2}")


class TextPrinter(Printer):
    """xDSL's printer, but printable non-ASCII characters stay as UTF-8 in string literals.

    xDSL escapes them as bytes (`"\\C2\\B1"`), which its parser reads back as a BytesAttr, not the
    StringAttr an op expects: an ONNX name or a reason with `±` or `é` would not survive a dump."""

    def print_string_literal(self, string: str) -> None:
        limit = ELIDE_LARGER_THAN.get()
        # short strings of those characters are names and modes ("plus", "conv1"), never payloads
        if limit is not None and len(string) > max(limit, 16) and _PAYLOAD.fullmatch(string):
            self.print_string('"__elided__"')
            return
        self.print_string('"')
        for ch in string:
            if ch in _ESCAPES:
                self.print_string(_ESCAPES[ch])
            elif not ch.isprintable():
                self.print_string("".join(f"\\{b:02X}" for b in ch.encode("utf-8")))
            else:
                self.print_string(ch)
        self.print_string('"')


def format_ir(module: ModuleOp, generic: bool = False, debuginfo: bool = False) -> str:
    out = io.StringIO()
    TextPrinter(stream=out, print_generic_format=generic, print_debuginfo=debuginfo).print_op(module)
    out.write("\n")
    return out.getvalue()


def parse_pipeline(spec: str, available: Mapping[str, PassFactory] | None = None) -> tuple[ModulePass, ...]:
    """The passes of a `-p`-style spec, from `available` (default: the chewc registry)."""
    from compiler.passes import get_all_passes

    try:
        return PassPipeline.parse_spec(dict(available or get_all_passes()), spec).passes
    except (ValueError, ArgSpecParseError) as e:  # ArgSpecParseError is a BaseException
        # the parser's message repeats the spec with a caret under the error; keep the rest on one line
        gist = [ln.strip() for ln in str(e).splitlines() if ln.strip() not in ("", spec) and set(ln.strip()) != {"^"}]
        raise ChewcError(f"bad pass pipeline '{spec}': {' '.join(gist)}") from e


def pipeline_spec(passes: Iterable[ModulePass]) -> str:
    """The `-p` text of passes (options at their defaults are left out; it parses back to equal passes)."""
    return ",".join(str(p) for p in passes)


def write_file(path: Path, text: str) -> None:
    """Write a dump or reproducer file; an unwritable place is the user's to fix (exit 2), not a crash."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    except OSError as e:
        raise ChewcError(f"cannot write {path}: {e.strerror or e}") from e


def shown_path(path: str | Path) -> str:
    """A path as the user should type it: relative to the working directory when inside it."""
    p = Path(path).resolve()
    try:
        return str(p.relative_to(Path.cwd()))
    except ValueError:
        return str(p)


# ----------------------------------------------------------------------------------------------
# Running a pipeline
# ----------------------------------------------------------------------------------------------


@dataclass
class Step:
    """One pass of a pipeline run, as hooks see it."""

    index: int  # 1-based position in the pipeline
    total: int
    pass_: ModulePass
    remaining: tuple[ModulePass, ...]  # this pass and the ones after it
    module: ModuleOp  # the live module: before the pass in before_pass, after it afterwards
    snapshot: ModuleOp | Callable[[], ModuleOp]  # the IR before the pass, or how to rebuild it
    seconds: float = 0.0  # wall time of the pass
    verify_seconds: float = 0.0

    @property
    def name(self) -> str:
        return self.pass_.name

    @functools.cached_property
    def before(self) -> ModuleOp:
        """A copy of the IR before the pass."""
        return self.snapshot if isinstance(self.snapshot, ModuleOp) else self.snapshot()

    def changed(self) -> bool:
        return not self.module.is_structurally_equivalent(self.before)


def rebuild(ctx: Context, initial: ModuleOp, passes: Sequence[ModulePass]) -> ModuleOp:
    """The IR that `passes` make of a copy of `initial`."""
    module = initial.clone()
    for p in passes:
        p.apply(ctx, module)
    return module


class PassHook:
    """Called around a pipeline run; every method does nothing unless overridden."""

    def start(self, module: ModuleOp, passes: Sequence[ModulePass]) -> None: ...

    def before_pass(self, step: Step) -> None: ...

    def after_pass(self, step: Step) -> None: ...

    def pass_failed(self, step: Step, error: BaseException) -> None: ...

    def finish(self, ok: bool) -> None: ...

    def needs_before(self) -> bool:
        """Whether the hook reads `Step.before` of passes that succeed (else it is rebuilt only on demand)."""
        return False


class PassCrash(ChewcError):
    """A pass raised an unexpected exception: a chewc bug (a reproducer has been written)."""

    exit_code = EXIT_INTERNAL


@dataclass
class PassRunner:
    """Apply passes one at a time, verifying and calling hooks between them.

    A pass that rejects its input (ChewcError, xDSL's PassFailedException/VerifyException) or leaves
    IR that does not verify becomes a one-line ChewcError naming it (`raw_diagnostics` keeps xDSL
    diagnostics as they are, for --verify-diagnostics).  Any other exception is a crash: with a
    `replay` it writes a reproducer and raises PassCrash; without one it propagates unchanged.
    """

    hooks: Sequence[PassHook] = ()
    verify_each: bool = True
    verify_input: bool = True
    replay: Replay | None = None
    raw_diagnostics: bool = False

    def run(self, ctx: Context, module: ModuleOp, passes: Sequence[ModulePass]) -> None:
        ok = False
        # copying the IR before every pass costs more than most passes: unless a hook reads every copy,
        # only the input is kept, and a failing pass's input is rebuilt from it (the passes are deterministic)
        eager = any(hook.needs_before() for hook in self.hooks)
        initial = module.clone()
        try:
            if self.verify_input:
                self._verify(module, "the input IR does not verify")
            for hook in self.hooks:
                hook.start(module, passes)
            for i, p in enumerate(passes):
                snapshot = module.clone() if eager else functools.partial(rebuild, ctx, initial, passes[:i])
                step = Step(i + 1, len(passes), p, tuple(passes[i:]), module, snapshot)
                for hook in self.hooks:
                    hook.before_pass(step)
                self._apply(ctx, step)
                for hook in self.hooks:
                    hook.after_pass(step)
            ok = True
        finally:
            for hook in self.hooks:
                hook.finish(ok)

    def _apply(self, ctx: Context, step: Step) -> None:
        start = time.perf_counter()
        try:
            step.pass_.apply(ctx, step.module)
            step.seconds = time.perf_counter() - start
            if self.verify_each:
                start = time.perf_counter()
                self._verify(step.module, f"pass '{step.name}' produced IR that does not verify")
                step.verify_seconds = time.perf_counter() - start
        except Exception as e:
            step.seconds = step.seconds or time.perf_counter() - start
            for hook in self.hooks:
                hook.pass_failed(step, e)
            error = self._pass_error(step, e)
            if error is e:
                raise
            raise error from e

    def _verify(self, module: ModuleOp, what: str) -> None:
        try:
            module.verify()
        except DiagnosticException as e:
            if self.raw_diagnostics:
                raise
            raise ChewcError(f"{what}: {one_line(str(e))}") from e

    def _pass_error(self, step: Step, e: Exception) -> Exception:
        if isinstance(e, ChewcError):
            if str(e).startswith(("pass '", f"{step.name}:")):
                return e
            error = ChewcError(f"{step.name}: {e}")
            error.exit_code = e.exit_code
            return error
        if isinstance(e, DiagnosticException):
            return e if self.raw_diagnostics else ChewcError(f"pass '{step.name}' failed: {one_line(str(e))}")
        if self.replay is None:
            return e
        if os.environ.get("CHEWC_TRACEBACK"):
            traceback.print_exception(e, file=sys.stderr)
        repro = self.replay.write(step.before, pipeline_spec(step.remaining), None,
                                  f"replays the crash of pass '{step.name}'")
        return PassCrash(f"pass '{step.name}' crashed (a chewc bug): {type(e).__name__}: {first_line(e)}; "
                         f"reproducer: {shown_path(repro.script)}")


# ----------------------------------------------------------------------------------------------
# Reproducers
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reproducer:
    script: Path
    command: str


@dataclass(frozen=True)
class Replay:
    """Where reproducers go and the flags every replay repeats (pass plugins, machine)."""

    directory: Path = DEFAULT_REPRODUCER_DIR
    flags: tuple[str, ...] = ()

    def write(self, before: ModuleOp, pipeline: str, check: tuple[Path, np.ndarray] | None, why: str) -> Reproducer:
        """Write before.mlir, input.npy (with a check) and replay.sh; the replay exits as the original did."""
        import numpy as np

        d = self.directory
        ir = d / "before.mlir"
        write_file(ir, format_ir(before))
        args = ["chewc-opt", shown_path(ir)]
        if pipeline:
            args += ["-p", pipeline]
        if check is not None:
            model, x = check
            np.save(d / "input.npy", x)
            args += ["--check-against", shown_path(model), "--input", shown_path(d / "input.npy")]
        args += self.flags
        if d.resolve() != DEFAULT_REPRODUCER_DIR.resolve():
            args += ["--reproducer-dir", shown_path(d)]
        command = shlex.join(args)
        script = d / "replay.sh"
        # paths in the command are relative to the directory chewc ran in, so the script starts there
        write_file(script, f"#!/bin/sh\n# {why}\ncd {shlex.quote(str(Path.cwd()))} || exit 2\nexec {command}\n")
        script.chmod(0o755)
        return Reproducer(script, command)


# ----------------------------------------------------------------------------------------------
# Hooks
# ----------------------------------------------------------------------------------------------


def dump_header(when: str, name: str) -> str:
    return f"// -----// IR Dump {when} {name} //----- //\n"


@dataclass
class IRPrinter(PassHook):
    """MLIR's --print-ir-* family, to a stream (stderr) so stdout stays the final IR."""

    before: frozenset[str] = frozenset()
    after: frozenset[str] = frozenset()
    before_all: bool = False
    after_all: bool = False
    after_change: bool = False  # only print after a pass that changed the IR (alone: after every such pass)
    after_failure: bool = False
    generic: bool = False
    debuginfo: bool = False
    stream: TextIO = field(default_factory=lambda: sys.stderr)

    def before_pass(self, step: Step) -> None:
        if self.before_all or step.name in self.before:
            self._print("Before", step.name, step.module)

    def needs_before(self) -> bool:
        return self.after_change

    def after_pass(self, step: Step) -> None:
        chosen = self.after_all or step.name in self.after or (self.after_change and not self.after)
        if chosen and (not self.after_change or step.changed()):
            self._print("After", step.name, step.module)

    def pass_failed(self, step: Step, error: BaseException) -> None:
        if self.after_failure:
            self._print("After", f"{step.name} Failed", step.module)

    def _print(self, when: str, name: str, module: ModuleOp) -> None:
        sys.stdout.flush()  # keep the order of output already written when both streams go to one terminal
        self.stream.write(dump_header(when, name) + format_ir(module, self.generic, self.debuginfo) + "\n")
        self.stream.flush()


@dataclass
class IRDumper(PassHook):
    """One numbered file per stage: 00-input.mlir, 01-<first pass>.mlir, ..."""

    directory: Path
    generic: bool = False

    def start(self, module: ModuleOp, passes: Sequence[ModulePass]) -> None:
        write_file(self.directory / "00-input.mlir", format_ir(module, self.generic))

    def after_pass(self, step: Step) -> None:
        write_file(self.directory / f"{step.index:02d}-{step.name}.mlir", format_ir(step.module, self.generic))


@dataclass
class PassTimer(PassHook):
    """Wall time of every pass (and of the verifier), as a table when the pipeline ends."""

    stream: TextIO = field(default_factory=lambda: sys.stderr)
    rows: list[tuple[str, float]] = field(default_factory=list)
    verify_seconds: float = 0.0

    def after_pass(self, step: Step) -> None:
        self.rows.append((step.name, step.seconds))
        self.verify_seconds += step.verify_seconds

    def pass_failed(self, step: Step, error: BaseException) -> None:
        self.rows.append((f"{step.name} (failed)", step.seconds))

    def finish(self, ok: bool) -> None:
        from rich import box
        from rich.console import Console
        from rich.table import Table

        total = sum(s for _, s in self.rows) + self.verify_seconds
        table = Table("#", "pass", "wall time (ms)", "%", title="pass timing", box=box.SIMPLE_HEAD)
        for i, (name, seconds) in enumerate(self.rows, 1):
            table.add_row(str(i), name, f"{seconds * 1e3:.2f}", f"{100 * seconds / total if total else 0:.1f}")
        if self.verify_seconds:
            table.add_row("", "(verify-each)", f"{self.verify_seconds * 1e3:.2f}",
                          f"{100 * self.verify_seconds / total:.1f}")
        table.add_section()
        table.add_row("", "total", f"{total * 1e3:.2f}", "100.0")
        Console(file=self.stream, width=100, highlight=False).print(table)


def seeded_input(shape: Sequence[int], seed: int) -> np.ndarray:
    """An image-like input: integer intensities 0..255 scaled to [0, 1], as float32."""
    import numpy as np

    return (np.random.default_rng(seed).integers(0, 256, tuple(shape)) / 255).astype(np.float32)


@dataclass
class NumericCheck(PassHook):
    """Numeric bisection: execute the input IR and the IR after every pass, compare with ONNX.

    The input is `input_path` (.npy) or seeded (`seeded_input`), shaped like @main's first argument.
    The first stage whose outputs differ (or that cannot be executed) is reported as a MismatchError
    naming the pass, the output tensor and the first differing index, after writing a reproducer.
    """

    model: Path
    replay: Replay
    input_path: str | None = None
    seed: int = 0
    stream: TextIO = field(default_factory=lambda: sys.stderr)
    x: np.ndarray | None = field(init=False, default=None)
    reference: dict[str, np.ndarray] = field(init=False, default_factory=dict)
    stages: int = field(init=False, default=0)

    def start(self, module: ModuleOp, passes: Sequence[ModulePass]) -> None:
        from runtime.bnn_interp import input_shape
        from runtime.reference import OnnxReference
        from runtime.mlir_run import load_inputs

        shape = input_shape(module)
        self.x = load_inputs([self.input_path], shape, 0, 1)[0] if self.input_path else seeded_input(shape, self.seed)
        self.reference = OnnxReference(self.model).run(self.x)
        self.stages = 0
        self._check(module, None)

    def after_pass(self, step: Step) -> None:
        self._check(step.module, step)

    def finish(self, ok: bool) -> None:
        if ok:
            source = shown_path(self.input_path) if self.input_path else f"seed {self.seed}"
            self.stream.write(f"bisect: all {self.stages} stages equal the reference ({source})\n")

    def _check(self, module: ModuleOp, step: Step | None) -> None:
        from runtime.mlir_run import compare, execute, level_of, output_names

        assert self.x is not None
        self.stages += 1
        label = "input IR" if step is None else f"after {step.name}"
        try:
            got = execute(module, [self.x])
        except Exception as e:  # any failure to execute is the stage's fault: report it, don't crash
            problem, cannot = f"cannot be executed: {one_line(first_line(e))}", True
        else:
            names = output_names(module)
            want = self.reference
            mismatch = compare(names, got, want)
            problem, cannot = (mismatch.describe() if mismatch else None), False
        index = 0 if step is None else step.index
        self.stream.write(f"bisect: #{index:<2} {label:<40} [{level_of(module)}] {problem or 'ok'}\n")
        if problem is None:
            return
        if step is None:
            repro = self.replay.write(module, "", (self.model, self.x), "replays: the input IR differs from the reference")
            culprit = "the input IR (before any pass)"
            verdict = problem if cannot else f"differs from the reference: {problem}"
        else:
            repro = self.replay.write(step.before, str(step.pass_), (self.model, self.x),
                                      f"replays: pass '{step.name}' is the first whose result differs")
            culprit = f"pass '{step.name}' (#{step.index} of {step.total})"
            verdict = f"leaves IR that {problem}" if cannot else f"is the first whose result differs from the reference: {problem}"
        self.stream.write(f"bisect: reproducer in {shown_path(self.replay.directory)}/; replay with:\n  {repro.command}\n")
        raise MismatchError(f"{culprit} {verdict} (reproducer: {shown_path(repro.script)})")


# ----------------------------------------------------------------------------------------------
# Pass registry helpers: plugins and --list-passes
# ----------------------------------------------------------------------------------------------


def load_pass_plugins(specs: Sequence[str], taken: Iterable[str] = ()) -> dict[str, PassFactory]:
    """Passes from plugins (a .py file or an importable module): every ModulePass class it defines.

    This is how out-of-tree (and test-only) passes join a pipeline without touching the registry.
    """
    found: dict[str, PassFactory] = {}
    taken = set(taken)
    for spec in specs:
        module = _import_plugin(spec)
        for cls in vars(module).values():
            if inspect.isclass(cls) and issubclass(cls, ModulePass) and cls.__module__ == module.__name__ \
                    and isinstance(vars(cls).get("name"), str):
                if cls.name in taken or cls.name in found:
                    raise ChewcError(f"pass plugin {spec}: a pass named '{cls.name}' is already registered")
                found[cls.name] = (lambda c: lambda: c)(cls)
    return found


def _import_plugin(spec: str):  # noqa: ANN202 -- a module
    try:
        if spec.endswith(".py"):
            path = Path(spec)
            if not path.is_file():
                raise ChewcError(f"pass plugin {spec}: no such file")
            mod_spec = importlib.util.spec_from_file_location(f"chewc_plugin_{path.stem}", path)
            assert mod_spec is not None and mod_spec.loader is not None
            module = importlib.util.module_from_spec(mod_spec)
            sys.modules[mod_spec.name] = module  # dataclasses look their module up while the file runs
            mod_spec.loader.exec_module(module)
            return module
        return importlib.import_module(spec)
    except ChewcError:
        raise
    except Exception as e:  # a broken plugin is the user's input, not a chewc bug
        raise ChewcError(f"pass plugin {spec} failed to load: {type(e).__name__}: {first_line(e)}") from e


def option_text(f: dataclasses.Field) -> str:
    """An option as -p spells it, with its type: `strict=false (bool)`, `window=<module machine> (int)`.

    An optional option (`X | None = None`) left unset takes its value from the module's machine."""
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    v = f.default
    if v is None and kind.endswith(" | None"):
        kind, shown = kind.removesuffix(" | None"), "<module machine>"
    else:
        shown = "<required>" if v is dataclasses.MISSING else f'"{v}"' if isinstance(v, str) else str(v).lower()
    return f"{f.name.replace('_', '-')}={shown} ({kind})"


def describe_passes(passes: Mapping[str, PassFactory], upstream: Iterable[str] = ()) -> str:
    """Each pass with a one-line description and its options (name=default (type)); upstream names last."""
    lines = []
    for name, factory in sorted(passes.items()):
        cls = factory()
        doc = " ".join((cls.__doc__ or "").strip().split("\n\n")[0].split())
        lines.append(f"{name:28} {doc}")
        opts = [option_text(f) for f in dataclasses.fields(cls)]
        if opts:
            lines.append(f"{'':28}   options: {', '.join(opts)}")
    names = sorted(upstream)
    if names:
        lines.append(f"\nupstream xDSL passes ({len(names)}), see the xDSL docs:")
        lines.extend(textwrap.wrap(", ".join(names), 100, initial_indent="  ", subsequent_indent="  ",
                                   break_on_hyphens=False))
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------
# Command-line flags, shared by chewc and chewc-opt
# ----------------------------------------------------------------------------------------------


def add_debug_arguments(parser: argparse.ArgumentParser, dump_flags: Sequence[str]) -> argparse._ArgumentGroup:
    """The pass-debugging flags both tools take; returns the group so a tool can add its own."""
    g = parser.add_argument_group("pass-pipeline debugging (IR dumps go to stderr; stdout stays the output)")
    g.add_argument("--elide-constants-larger-than", type=int, metavar="N",
                   help="print constant payloads (weights, constant words, host-step graphs) of more than N "
                   "characters as \"__elided__\" in printed IR, like MLIR's --mlir-elide-elementsattrs-if-larger "
                   "(for reading: such IR does not parse back)")
    g.add_argument("--print-ir-before", metavar="PASS[,PASS]", action="append", default=[],
                   help="print the IR before every run of these passes (repeatable)")
    g.add_argument("--print-ir-after", metavar="PASS[,PASS]", action="append", default=[],
                   help="print the IR after every run of these passes (repeatable)")
    g.add_argument("--print-ir-before-all", action="store_true", help="print the IR before every pass")
    g.add_argument("--print-ir-after-all", action="store_true", help="print the IR after every pass")
    g.add_argument("--print-ir-after-change", action="store_true",
                   help="print the IR after a pass only if the pass changed it; alone: after every pass that did")
    g.add_argument("--print-ir-after-failure", action="store_true",
                   help="print the IR a failing or crashing pass left behind")
    g.add_argument(*dump_flags, dest="dump_dir", metavar="DIR",
                   help="write the input IR and the IR after every pass to DIR, one numbered file each "
                   "(00-input.mlir, 01-PASS.mlir, ...)")
    g.add_argument("--verify-each", action=argparse.BooleanOptionalAction, default=True,
                   help="verify the IR after every pass (default: on)")
    g.add_argument("--timing", action="store_true", help="print a table of every pass's wall time (stderr)")
    g.add_argument("--input", metavar="X.npy", help="the input for numeric checking (default: seeded, see --seed)")
    g.add_argument("--seed", type=int, default=0,
                   help="seed of the image-like input for numeric checking: integers 0..255 / 255 (default 0)")
    g.add_argument("--reproducer-dir", metavar="DIR", type=Path,
                   help="where crash and bisection reproducers go (default: ./chewc-repro, or "
                   "DIR/reproducer with a dump dir)")
    g.add_argument("--load-pass-plugin", metavar="FILE.py|MODULE", action="append", default=[],
                   help="register every pass a Python file or module defines (repeatable)")
    return g


def selected(values: Sequence[str], known: Iterable[str], flag: str) -> frozenset[str]:
    """Pass names from repeatable, comma-separated flag values; unknown names are an error."""
    names = frozenset(n.strip() for v in values for n in v.split(",") if n.strip())
    unknown = sorted(names - set(known))
    if unknown:
        raise ChewcError(f"{flag}: unknown pass {', '.join(repr(u) for u in unknown)} (see --list-passes)")
    return names


def runner_from_args(
    args: argparse.Namespace,
    known: Iterable[str],
    *,
    generic: bool = False,
    debuginfo: bool = False,
    check_model: str | None = None,
    dump_dir: Path | None = None,
    extra_hooks: Sequence[PassHook] = (),
    verify: bool = True,
    raw_diagnostics: bool = False,
) -> PassRunner:
    """The PassRunner that `add_debug_arguments`' flags ask for (`verify=False` turns off every verification)."""
    known = set(known)
    # the IR a reproducer saves carries its machine (#chewbacca.machine): only plugins need repeating
    flags: tuple[str, ...] = tuple(a for p in args.load_pass_plugin for a in ("--load-pass-plugin", p))
    dump = dump_dir if dump_dir is not None else (Path(args.dump_dir) if args.dump_dir else None)
    default_repro = Path(args.dump_dir) / "reproducer" if args.dump_dir else DEFAULT_REPRODUCER_DIR
    replay = Replay(args.reproducer_dir or default_repro, flags)
    hooks: list[PassHook] = [*extra_hooks]
    hooks.append(IRPrinter(
        before=selected(args.print_ir_before, known, "--print-ir-before"),
        after=selected(args.print_ir_after, known, "--print-ir-after"),
        before_all=args.print_ir_before_all, after_all=args.print_ir_after_all,
        after_change=args.print_ir_after_change, after_failure=args.print_ir_after_failure,
        generic=generic, debuginfo=debuginfo,
    ))
    if dump is not None:
        hooks.append(IRDumper(dump, generic))
    if check_model is not None:
        if not Path(check_model).is_file():
            raise ChewcError(f"cannot read {check_model}: no such file")
        hooks.append(NumericCheck(Path(check_model), replay, args.input, args.seed))
    if args.timing:
        hooks.append(PassTimer())
    return PassRunner(hooks, verify_each=verify and args.verify_each, verify_input=verify, replay=replay,
                      raw_diagnostics=raw_diagnostics)
