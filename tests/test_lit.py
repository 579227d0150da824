"""The lit + filecheck suite (tests/filecheck) inside pytest: one item per lit test, so a failure names
its own file and shows its own log. lit runs once per session, on the lit tests pytest selected (`-k`,
a node id), in parallel, and each item reads its result from lit's xunit report."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

SUITE = Path(__file__).resolve().parent / "filecheck"
SKIP = {"Output", "chewc-repro"}  # what a run leaves behind (lit.cfg.py excludes them too)
TESTS = sorted(str(p.relative_to(SUITE)) for p in SUITE.rglob("*.mlir") if not SKIP & set(p.relative_to(SUITE).parts))


def _selected(session: pytest.Session) -> list[str]:
    return [item.callspec.params["test"] for item in session.items
            if item.path == Path(__file__) and hasattr(item, "callspec")]


@pytest.fixture(scope="session")
def lit_results(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str | None]:
    """Each selected lit test's failure log, None where it passed."""
    lit = shutil.which("lit", path=str(Path(sys.executable).parent)) or shutil.which("lit")
    assert lit, "lit is not installed (pip install -e '.[test]')"
    tests = _selected(request.session)
    report = tmp_path_factory.mktemp("lit") / "lit.xml"
    subprocess.run([lit, "-q", "-j", str(os.cpu_count() or 1), "--xunit-xml-output", str(report),
                    *(str(SUITE / t) for t in tests)], capture_output=True, text=True, timeout=900)
    results: dict[str, str | None] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        # classname "chewc.<directory>", name the file: the path inside the suite
        _, _, folder = case.get("classname", "").partition(".")
        failure = case.find("failure")
        name = "/".join(filter(None, (folder.replace(".", "/"), case.get("name", ""))))
        results[name] = None if failure is None else (failure.text or "failed, no log")
    return results


@pytest.mark.slow  # each starts chewc-opt a few times: 40 s in all on two cores
@pytest.mark.parametrize("test", TESTS)
def test_lit(test: str, lit_results: dict[str, str | None]) -> None:
    assert test in lit_results, f"lit did not run {test} (see its xunit report)"
    log = lit_results[test]
    if log is not None:
        pytest.fail(log[-6000:], pytrace=False)


def test_the_suite_is_found() -> None:
    assert len(TESTS) >= 30 and all(t.endswith(".mlir") for t in TESTS)
