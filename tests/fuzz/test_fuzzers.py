"""Smoke test of fuzz.fuzzers: a few hundred mutated inputs per surface, each ending in success or a
one-line refusal (the README's exit-code contract), never in anything else.

It runs the same workers, mutators and classification as `python -m fuzz.fuzzers`, with a fixed seed
and the same 30 s per-case limit (a hang, not a slow case on a shared machine); a failure lists each
'else' class with its count and an example command. The long campaigns are the script's job.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fuzz.fuzzers import Findings, Fuzzer, Record

pytestmark = pytest.mark.slow  # seconds to minutes: out of the fast loop (pytest -m "not slow")

CASES = {"onnx": 250, "chew": 250, "asm": 200, "machine": 250}
SEED = 20240601
TIMEOUT = 30  # seconds per case, as the script: a hang, not a slow case on a busy machine


@pytest.fixture(scope="module")
def fuzzer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzer]:
    """One pool of two workers (and one corpus build) for every surface."""
    with Fuzzer(jobs=2, timeout=TIMEOUT, work=tmp_path_factory.mktemp("fuzz")) as f:
        yield f


@pytest.mark.parametrize("surface", sorted(CASES))
def test_surface_has_no_anything_else(fuzzer: Fuzzer, surface: str, tmp_path: Path) -> None:
    records: list[Record] = []
    findings = Findings(tmp_path)

    def keep(record: Record, case_dir: Path) -> None:
        records.append(record)
        findings.keep(record, case_dir)

    fuzzer.run(surface, CASES[surface], SEED, keep)
    assert len(records) == CASES[surface]
    bad = [r for r in records if r.verdict == "else"]
    classes: dict[str, list[Record]] = {}
    for r in bad:
        classes.setdefault(r.klass, []).append(r)
    report = "\n".join(
        f"{len(rs)} x {klass}\n    e.g. case {rs[0].index} ({rs[0].mutator}): {rs[0].tool} {' '.join(rs[0].args)}"
        f"\n    reproducer: {findings.saved[klass]}"
        for klass, rs in sorted(classes.items(), key=lambda kv: -len(kv[1]))
    )
    assert not bad, f"{len(bad)} of {len(records)} {surface} cases ended in neither ok nor a refusal:\n{report}"
