"""The benchmark still runs end to end (its figures are printed, never asserted)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from conftest import ROOT


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (apt-get install wrk)")
@pytest.mark.skipif(shutil.which("nginx", path="/usr/sbin:/usr/bin") is None, reason="nginx is not installed")
def test_nginx_bench_quick_run() -> None:
    result = subprocess.run(
        [sys.executable, "bench/nginx.py", "--quick"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("generated site, config-v1.1.xml") and line.endswith(" 0") for line in lines)
    assert any(line.startswith("raw nginx, one static file") and line.endswith(" 0") for line in lines)
    assert any(line.startswith("ratio site/raw (median of rounds): ") for line in lines)


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
