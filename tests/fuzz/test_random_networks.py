"""Random valid binary networks through every level of chewc and the emulator, against onnxruntime.

`fuzz/difftest.py` is the standing harness (thousands of networks, shrunk reproducers); this runs a
fixed range of a few hundred small ones in the normal test run, so that a regression in the importer,
any pass, an IR interpreter or the emulator fails a test naming the seeds to replay. A network may be
refused (an unsupported feature, a machine too small) with a one-line ChewcError; it must never
compile and then fail, differ from the reference, or crash.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, given, settings

from fuzz.difftest import FAILURES, Outcome, Pool
from fuzz.netgen import FEATURES, Limits, Network, generate, networks
from runtime.onnx_ref import OnnxExecutor

pytestmark = pytest.mark.slow  # seconds to minutes: out of the fast loop (pytest -m "not slow")

SEEDS = range(10_000, 10_250)
LIMITS = Limits(max_map=12, max_channels=16, max_layers=3, max_units=32)  # 0.2-0.5 s of CPU a network


@pytest.fixture(scope="module")
def outcomes() -> list[Outcome]:
    """Every network of SEEDS checked on the default and a smaller machine, two at a time."""
    with Pool(jobs=2, timeout=60) as pool:
        return sorted(pool.run((s, LIMITS.spec()) for s in SEEDS), key=lambda o: o.seed)


def summary(failing: list[Outcome]) -> str:
    """Failures grouped by signature, each with an example and the command that replays it."""
    groups: dict[str, list[Outcome]] = defaultdict(list)
    for o in failing:
        groups[o.verdict.key].append(o)
    lines = [f"{len(failing)} of {len(SEEDS)} random networks fail ({LIMITS.spec()}):"]
    for key, group in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        first = group[0]
        lines += [f"  {len(group)} x {key}  (seeds {', '.join(str(o.seed) for o in group[:8])})",
                  f"      e.g. seed {first.seed} on the {first.machine} machine: {first.verdict.line}",
                  f"      replay: python -m fuzz.difftest --replay {first.seed} --limits '{LIMITS.spec()}'"]
    lines.append(f"shrunk reproducers: python -m fuzz.difftest --seed {SEEDS.start} --count {len(SEEDS)} "
                 f"--limits '{LIMITS.spec()}' --out /tmp/difftest-repro")
    return "\n".join(lines)


def test_no_network_mismatches_fails_after_compiling_or_crashes(outcomes: list[Outcome]) -> None:
    failing = [o for o in outcomes if o.cls in FAILURES]
    assert not failing, summary(failing)


def test_refusals_are_one_line_chewc_errors(outcomes: list[Outcome]) -> None:
    bad = [o for o in outcomes if o.cls == "refused" and (not o.verdict.detail.strip() or "\n" in o.verdict.detail)]
    assert not bad, "\n".join(f"seed {o.seed}: {o.verdict.detail!r}" for o in bad)


def test_most_features_are_exercised(outcomes: list[Outcome]) -> None:
    """The harness still reaches what it claims to test (a generator change can silently drop a feature)."""
    used = {f for o in outcomes for f in o.features}
    missing = sorted(set(FEATURES) - used)
    assert len(missing) <= 3, f"no network of {len(SEEDS)} uses {missing}"


def test_generation_is_deterministic() -> None:
    a, b = generate(SEEDS.start, LIMITS), generate(SEEDS.start, LIMITS)
    assert a.model.SerializeToString() == b.model.SerializeToString()
    assert all(np.array_equal(x, y) for x, y in zip(a.inputs, b.inputs, strict=True))


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(networks(LIMITS))
def test_drawn_networks_are_valid(net: Network) -> None:
    """What the strategy draws runs in onnxruntime, and no Sign sees an exact 0 (checked anew here)."""
    onnx.checker.check_model(net.model)
    signs = [n.input[0] for n in net.model.graph.node if n.op_type == "Sign"]
    probe = onnx.ModelProto()
    probe.CopyFrom(net.model)
    probe.graph.output.extend(onnx.helper.make_empty_tensor_value_info(s) for s in signs)
    executor = OnnxExecutor(probe)
    for x in net.inputs:
        values = executor.run({"x": x})
        assert all(np.all(values[s] != 0) for s in signs)
    assert net.features <= FEATURES.keys()
