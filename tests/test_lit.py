"""Run the lit + filecheck suite (tests/filecheck) as part of pytest, so one command runs everything."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

SUITE = Path(__file__).resolve().parent / "filecheck"


def test_lit_suite():
    lit = shutil.which("lit", path=str(Path(sys.executable).parent)) or shutil.which("lit")
    assert lit, "lit is not installed (pip install -e '.[test]')"
    proc = subprocess.run([lit, "-q", str(SUITE)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
