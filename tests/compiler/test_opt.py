"""chewc-opt and the pass instrumentation library: exit codes, one-line errors, hooks, reproducers."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass

from compiler.cli import main as chewc
from compiler.driver import compile_model
from compiler.opt import main as chewc_opt
from compiler.pipeline_debug import (
    IRPrinter,
    PassCrash,
    PassHook,
    PassRunner,
    Replay,
    Step,
    describe_passes,
    load_pass_plugins,
    parse_pipeline,
)
from dialects import make_context
from isa.errors import ChewcError
from runtime.mlir_run import parse_module
from tests.helpers import EXAMPLES, run_cli

PLUGIN = str(Path(__file__).with_name("wrong_passes.py"))
TINY = """func.func @main(%0: tensor<1x16xf32>) -> tensor<1x4xi32> attributes {bnn.inputs = ["x"], bnn.outputs = ["y"]} {
  %1 = bnn.sign %0 {zero = "reject"} : tensor<1x16xf32> -> !bnn.bits<1x16>
  %2 = bnn.dense %1 {weights = #bnn.dense_bits<8x16, "dde59f0b5f77ca8824ec5ec0956a2548">} : !bnn.bits<1x16> -> tensor<1x8xi32>
  %3 = bnn.threshold %2 {thresholds = array<i32: 0, 2, -2, 2, 0, 4, 0, -2>, modes = "gggggggg"} : tensor<1x8xi32> -> !bnn.bits<1x8>
  %4 = bnn.dense %3 {weights = #bnn.dense_bits<4x8, "6c6a64eb">} : !bnn.bits<1x8> -> tensor<1x4xi32>
  func.return %4 : tensor<1x4xi32>
}
"""


@pytest.fixture
def tiny(tmp_path: Path) -> str:
    path = tmp_path / "tiny.mlir"
    path.write_text(TINY)
    return str(path)


def one_line_error(err: str, tool: str = "chewc-opt") -> str:
    lines = err.strip().splitlines()
    assert "Traceback" not in err and len(lines) == 1, err
    assert lines[0].startswith(f"{tool}: error: ")
    return lines[0]


@pytest.mark.parametrize(("args", "message"), [
    (["-p", "no-such-pass"], "Unrecognized passes: ['no-such-pass']"),
    (["-p", "bnn-dense-to-conv{lanes=x}"], "bad pass pipeline"),
    (["-p", "builtin.module(bnn-dense-to-conv)"], "pass-pipeline:1:8 Unknown token"),  # ArgSpecParseError is a BaseException
    (["--print-ir-after", "tile-lops"], "--print-ir-after: unknown pass 'tile-lops'"),
    (["-p", "test-fail", "--load-pass-plugin", PLUGIN], "pass 'test-fail' failed: this input is not supported"),
    (["-p", "test-break-verifier", "--load-pass-plugin", PLUGIN], "produced IR that does not verify"),
    (["--load-pass-plugin", "no.such.module"], "pass plugin no.such.module failed to load: ModuleNotFoundError"),
])
def test_errors_are_one_line_exit_2(tiny, args, message):
    code, out, err = run_cli(chewc_opt, tiny, *args)
    assert code == 2, err
    assert out == ""
    assert message in one_line_error(err)


def test_bad_input_files_exit_2(tmp_path):
    bad = tmp_path / "bad.mlir"
    bad.write_text("func.func @f() {\n  %x = bnn.nonsense\n}\n")
    assert "bad.mlir:3:1 | } | Operation bnn.nonsense is not registered" in one_line_error(run_cli(chewc_opt, str(bad))[2])
    assert "no such file" in one_line_error(run_cli(chewc_opt, str(tmp_path / "absent.mlir"))[2])
    assert "compile ONNX with chewc" in one_line_error(run_cli(chewc_opt, str(EXAMPLES / "mlp.onnx"))[2])
    invalid = tmp_path / "invalid.mlir"
    invalid.write_text(TINY.replace('modes = "gggggggg"', 'modes = "ggg"'))
    code, _, err = run_cli(chewc_opt, str(invalid))
    assert code == 2 and "3 modes for 8 channels" in one_line_error(err)


def test_verify_diagnostics_keeps_xdsl_behaviour(tiny):
    code, out, err = run_cli(chewc_opt, tiny, "-p", "test-fail", "--load-pass-plugin", PLUGIN, "--verify-diagnostics")
    assert code == 0 and "this input is not supported (deliberately)" in out, err


def test_crash_writes_a_reproducer_and_exits_3(tiny, tmp_path):
    repro = tmp_path / "r"
    code, out, err = run_cli(chewc_opt, tiny, "-p", "bnn-dense-to-conv,test-crash,tile-loops",
                             "--load-pass-plugin", PLUGIN, "--reproducer-dir", str(repro))
    assert code == 3 and out == ""
    line = one_line_error(err)
    assert "pass 'test-crash' crashed (a chewc bug): RuntimeError: deliberate crash; reproducer: " in line
    assert line.endswith("replay.sh")
    before = (repro / "before.mlir").read_text()
    assert "bnn.conv2d" in before and "bnn.dense " not in before  # after bnn-dense-to-conv, before the crash
    assert "-p test-crash,tile-loops --load-pass-plugin" in (repro / "replay.sh").read_text()
    # the reproducer is itself a valid input that crashes the same way
    code, _, err = run_cli(chewc_opt, str(repro / "before.mlir"), "-p", "test-crash,tile-loops",
                           "--load-pass-plugin", PLUGIN, "--reproducer-dir", str(repro))
    assert code == 3 and "deliberate crash" in err


def test_crash_traceback_on_request(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("CHEWC_TRACEBACK", "1")
    code, _, err = run_cli(chewc_opt, tiny, "-p", "test-crash", "--load-pass-plugin", PLUGIN,
                           "--reproducer-dir", str(tmp_path))
    assert code == 3 and "Traceback" in err and "RuntimeError: deliberate crash" in err


def test_chewc_crash_writes_a_reproducer(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default reproducer dir is ./chewc-repro
    code, _, err = run_cli(chewc, str(EXAMPLES / "mlp.onnx"), "--emit=tile", "--load-pass-plugin", PLUGIN,
                           "--pipeline", "bnn-decompose-kernels,test-crash")
    assert code == 3
    assert one_line_error(err, "chewc").endswith("reproducer: chewc-repro/replay.sh")
    assert (tmp_path / "chewc-repro" / "before.mlir").is_file()


def test_stdout_is_the_final_ir_and_dumps_go_to_stderr(tiny):
    code, out, err = run_cli(chewc_opt, tiny, "-p", "bnn-decompose-kernels,bnn-dense-to-conv", "--print-ir-after-all")
    assert code == 0
    assert "IR Dump" not in out and parse_module(out, "out").is_structurally_equivalent(parse_module(out, "again"))
    assert err.startswith("// -----// IR Dump After bnn-decompose-kernels //----- //\nbuiltin.module {\n")
    assert err.count("// -----// IR Dump After ") == 2


@dataclass
class Recorder(PassHook):
    events: list[str] = field(default_factory=list)

    def start(self, module: ModuleOp, passes) -> None:  # noqa: ANN001
        self.events.append(f"start {len(passes)}")

    def before_pass(self, step: Step) -> None:
        self.events.append(f"before {step.index}/{step.total} {step.name}")

    def after_pass(self, step: Step) -> None:
        self.events.append(f"after {step.name} changed={step.changed()} rest={len(step.remaining)}")

    def pass_failed(self, step: Step, error: BaseException) -> None:
        self.events.append(f"failed {step.name} {type(error).__name__}")

    def finish(self, ok: bool) -> None:
        self.events.append(f"finish {ok}")


def test_runner_calls_hooks_around_every_pass():
    module = parse_module(TINY, "tiny")
    rec = Recorder()
    PassRunner([rec]).run(make_context(), module, parse_pipeline("bnn-decompose-kernels,bnn-dense-to-conv"))
    assert rec.events == [
        "start 2",
        "before 1/2 bnn-decompose-kernels", "after bnn-decompose-kernels changed=False rest=2",
        "before 2/2 bnn-dense-to-conv", "after bnn-dense-to-conv changed=True rest=1",
        "finish True",
    ]


def test_runner_without_replay_lets_crashes_propagate(tmp_path):
    wrong = load_pass_plugins([PLUGIN])
    crash = parse_pipeline("test-crash", wrong)
    rec = Recorder()
    with pytest.raises(RuntimeError, match="deliberate crash"):
        PassRunner([rec]).run(make_context(), parse_module(TINY, "tiny"), crash)
    assert rec.events[-2:] == ["failed test-crash RuntimeError", "finish False"]
    with pytest.raises(PassCrash, match="reproducer: .*replay.sh"):
        PassRunner(replay=Replay(tmp_path)).run(make_context(), parse_module(TINY, "tiny"), crash)


def test_print_after_change_filters_the_chosen_passes():
    stream = io.StringIO()
    printer = IRPrinter(after=frozenset({"bnn-decompose-kernels"}), after_change=True, stream=stream)
    PassRunner([printer]).run(make_context(), parse_module(TINY, "tiny"),
                              parse_pipeline("bnn-decompose-kernels,bnn-dense-to-conv"))
    assert stream.getvalue() == ""  # the chosen pass changed nothing; the one that changed was not chosen


def test_plugins_load_from_a_module_name_or_a_file():
    from compiler.passes import get_all_passes

    by_name = load_pass_plugins(["tests.compiler.wrong_passes"])
    by_file = load_pass_plugins([PLUGIN])
    assert set(by_name) == set(by_file) >= {"test-flip-threshold", "test-crash", "test-dma-off-by-one"}
    assert issubclass(by_name["test-crash"](), ModulePass)
    with pytest.raises(ChewcError, match="a pass named 'test-[a-z-]+' is already registered"):
        load_pass_plugins([PLUGIN], by_name)
    assert not set(by_name) & set(get_all_passes())


def test_describe_passes_lists_options_and_upstream_names():
    from compiler.passes import get_all_passes

    text = describe_passes(get_all_passes(), ["cse", "canonicalize"])
    assert "bnn-dense-to-conv            Rewrite every `bnn.dense`" in text
    assert "options: window=<module machine> (int), lanes=<module machine> (int)" in text
    assert 'options: machine=<module machine> (str)' in text
    assert text.endswith("upstream xDSL passes (2), see the xDSL docs:\n  canonicalize, cse\n")


def test_compile_model_stops_after_a_pass():
    c = compile_model(EXAMPLES / "mlp.onnx", "tile", stop_after="tile-loops")
    assert c.program is None
    assert any(op.name == "scf.for" for op in c.module.walk())
    assert not any("offset" in op.attributes for op in c.module.walk() if op.name == "tile.alloc")
    with pytest.raises(ChewcError, match="no such pass"):
        compile_model(EXAMPLES / "mlp.onnx", "tile", stop_after="nope")


def test_chewc_bisect_needs_no_output_file_but_stop_after_conflicts_with_binary_output():
    code, _, err = run_cli(chewc, str(EXAMPLES / "mlp.onnx"), "--stop-after=tile-loops", "--emit=chew")
    assert code == 2 and "cannot be combined with --emit=chew" in one_line_error(err, "chewc")
    code, _, err = run_cli(chewc, str(EXAMPLES / "mlp.onnx"))
    assert code == 2 and "give -o FILE" in err
