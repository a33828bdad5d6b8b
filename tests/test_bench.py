"""The benchmark still runs end to end (its figures are printed, never asserted)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from conftest import ROOT


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (apt-get install wrk)")
def test_bench_quick_run_prints_every_section() -> None:
    result = subprocess.run(
        [sys.executable, "bench/throughput.py", "--quick"], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for section in ("== Throughput", "== Reload latency", "== Render time and peak memory", "ratio"):
        assert section in result.stdout
    assert "non-2xx/3xx" in result.stdout
    assert " 0 non-2xx/3xx + 0 socket" in result.stdout  # the service answered every request
