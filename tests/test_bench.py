"""The benchmark still runs end to end (its figures are printed, never asserted)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from support.paths import ROOT

pytestmark = pytest.mark.slow


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
    for section in (
        "== Throughput",
        "== Per-request cost",
        "== Reload latency",
        "== Render time and peak memory",
        "ratio",
    ):
        assert section in result.stdout
    assert "non-2xx/3xx" in result.stdout
    assert " 0 non-2xx/3xx + 0 socket" in result.stdout  # the service answered every request


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (apt-get install wrk)")
def test_profiles_bench_quick_run_prints_each_answer_beside_its_baseline() -> None:
    result = subprocess.run(
        [sys.executable, "bench/profiles.py", "--quick"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "pre-check: every target answers 200 application/x-apple-aspen-config" in result.stdout
    header, rows = _table(result.stdout, "== Profiles", "answer")
    assert header[:5] == ["answer", "bytes", "service req/s", "baseline req/s", "ratio"] and header[-1] == "errors"
    assert [row[0] for row in rows] == ["unsigned", "signed RSA-2048", "signed EC P-256"]
    for row in rows:
        assert row[-1] == "0", row  # every request of service and baseline answered 2xx
    assert int(rows[0][1]) < int(rows[2][1]) < int(rows[1][1])  # a signature, with its chain, makes answers larger
    for label in ("signed RSA-2048", "signed EC P-256"):
        assert any(line.startswith(f"{label}: signed/unsigned req/s ") for line in result.stdout.splitlines())


SCALE_COLUMNS = (
    "domains",
    "config",
    "render s",
    "floor s",
    "ratio",
    "render MiB",
    "files",
    "restart s",
    "rewritten",
    "serve MiB",
    "GET req/s",
    "edit ms",
    "edit HWM MiB",
    "add ms",
)
LAYOUT_COLUMNS = (
    "design",
    "cold s",
    "1 dom s",
    "dom s",
    "cleanup s",
    "scan s",
    "files",
    "folders",
    "symlinks",
    "inodes",
    "disk MiB",
    "flips",
    "pairs read",
    "seen",
    "mixed/path",
    "mixed/pinned",
    "missing/path",
    "missing/pinned",
)


def _table(stdout: str, title: str, first_column: str) -> tuple[list[str], list[list[str]]]:
    """The header line after the ``title`` line and the rows under it, split at runs of 2+ spaces."""
    lines = stdout.splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith(title))
    header = [cell for cell in lines[start + 1].strip().split("  ") if cell.strip()]
    assert header[0].strip() == first_column, lines[start + 1]
    rows = []
    for line in lines[start + 2 :]:
        cells = [cell.strip() for cell in line.strip().split("  ") if cell.strip()]
        if len(cells) != len(header):
            break
        rows.append(cells)
    return [cell.strip() for cell in header], rows


def test_scale_bench_quick_run_prints_its_table() -> None:
    # Without wrk the GET column says n/a; the rest still runs.
    result = subprocess.run(
        [sys.executable, "bench/scale.py", "--quick"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    header, rows = _table(result.stdout, "== Scale", "domains")
    assert tuple(header) == SCALE_COLUMNS
    assert [row[:2] for row in rows][:2] == [["3", "shipped"], ["100", "one file"]]
    for row in rows:
        assert row[2] != "n/a" and row[7] != "n/a", row  # a render and a restart were measured on every row
    assert "== Goals ==" in result.stdout
    for goal in ("render time <=", "render peak RSS <=", "serving RSS <=", "edit of one provider", "restart"):
        assert goal in result.stdout


def test_layouts_bench_quick_run_prints_its_table() -> None:
    result = subprocess.run(
        [sys.executable, "bench/layouts.py", "--quick"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    header, rows = _table(result.stdout, "== Layouts", "design")
    assert tuple(header[:3]) == LAYOUT_COLUMNS[:3] and header[3].endswith(LAYOUT_COLUMNS[3])
    assert tuple(header[4:]) == LAYOUT_COLUMNS[4:]
    assert [row[0] for row in rows] == ["full", "hardlink", "versions", "versions1s", "in-place"]


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (apt-get install wrk)")
def test_storm_bench_quick_run_counts_requests_and_reloads() -> None:
    result = subprocess.run(
        [sys.executable, "bench/storm.py", "--quick"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "== Storm: 5 s ==" in result.stdout
    lines = result.stdout.splitlines()
    for start in ("requests served: ", "reloads applied: ", "wrk GET: ", "wrk POST: ", "validated answers: "):
        assert any(line.startswith(start) for line in lines), start
    assert "validated answers not a whole valid variant: 0" in lines
    assert any(line.startswith("last valid variant ") and " served afterwards: True " in line for line in lines)


def test_fuzz_bench_quick_run_answers_no_5xx() -> None:
    result = subprocess.run(
        [sys.executable, "bench/fuzz.py", "--quick"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert "requests sent: 1000 " in result.stdout
    assert "5xx (goal 0): 0" in lines
    assert "answers with a traceback: 0; with a reflected marker or injected header: 0" in lines
    assert "alive after: yes" in lines
    assert any(line.startswith("RSS before: ") for line in lines)


@pytest.mark.skipif(shutil.which("dnsmasq", path="/usr/sbin:/usr/bin") is None, reason="dnsmasq is not installed")
def test_probefleet_bench_quick_run_prints_each_sample_beside_the_baseline() -> None:
    result = subprocess.run(
        [sys.executable, "bench/probefleet.py", "--quick"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    if result.returncode == 2 and "needs root and unshare" in result.stderr:
        pytest.skip("needs root and unshare for its network namespace")
    assert result.returncode == 0, result.stdout + result.stderr
    header, rows = _table(result.stdout, "== Fleet probe", "domains")
    assert header == ["domains", "wall s", "domains/s", "peak RSS MiB", "vs baseline MiB"]
    assert [row[0] for row in rows] == ["1", "5", "20"]  # the baseline, then each sample
    assert rows[0][2] == "-" and all(float(row[2]) > 0 and float(row[3]) > 0 for row in rows[1:]), rows
