"""Benchmark mailautoconf: throughput against a Flask+waitress ceiling, reload latency, render cost.

Why each part is measured the way it is:

* Throughput is meaningless as a bare number (it is mostly this machine's
  speed), so the real service and a baseline (bench/baseline_app.py: the
  same Flask + waitress settings answering a constant body of the same
  size) are measured in the same run with the same wrk settings, and the
  ratio service/baseline is what is judged (goal: >= 0.8).
* Reload latency is what an admin feels after saving the config: from the
  atomic write (temporary file + rename, as editors do) until the service
  answers with the new value. It includes the watcher's 0.15 s debounce.
* Rendering 10,000 domains is the scale the config format has to carry;
  its peak memory is shown beside an interpreter that only imports
  mailautoconf, so the render's own cost is visible.

Only 127.0.0.1 is contacted. Every subprocess is stopped and every
temporary folder removed at the end. Exit status: 0 when the bench ran
(whatever the ratio), 1 when it could not, 2 when wrk is missing.

    .venv/bin/python bench/throughput.py [--duration 10] [--connections 32] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import http.client
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
SHIPPED_CONFIG = ROOT / "config" / "autoconfig.toml"
POST_SCRIPT = BENCH / "autodiscover_post.lua"
POST_BODY_FILE = BENCH / "autodiscover_request.xml"
BASELINE_APP = BENCH / "baseline_app.py"
MAXRSS = BENCH / "maxrss.py"

LOOPBACK = "127.0.0.1"
GET_PATH = "/mail/config-v1.1.xml?emailaddress=fred%40example.org"
GET_HOST = "autoconfig.example.org"
POST_PATH = "/autodiscover/autodiscover.xml"
POST_HOST = "autodiscover.example.org"
GOAL_RATIO = 0.8

STARTUP_TIMEOUT = 30.0  # s until /healthz answers 200
RELOAD_SPACING = 0.3  # s between the answer to one edit and the next edit
RELOAD_POLL = 0.005  # s between two GETs while waiting for an edit to show
RELOAD_TIMEOUT = 10.0  # s per edit before it counts as not picked up
BIG_RELOAD_TIMEOUT = 300.0  # s for the running service to load the generated config
DISPLAY_NAME = re.compile(r'^(display_name\s*=\s*)"[^"\n]*"', re.MULTILINE)


class BenchError(Exception):
    """The bench cannot go on (a process did not start, a pre-check failed)."""


@dataclass(frozen=True)
class WrkResult:
    """What is kept of one wrk run."""

    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx_3xx: int
    socket_errors: int


@dataclass(frozen=True)
class Target:
    """A running server under test."""

    name: str
    port: int
    process: subprocess.Popen[bytes]


@dataclass(frozen=True)
class RssRun:
    """Wall time and peak RSS of one command, from bench/maxrss.py."""

    returncode: int
    wall_s: float
    maxrss_kib: int


# -- processes and HTTP --------------------------------------------------------


def free_port() -> int:
    """A port the kernel just handed out on 127.0.0.1 (closed again, so a small race remains)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def http_request(
    port: int, method: str, path: str, host: str, body: bytes | None = None, timeout: float = 5.0
) -> tuple[int, bytes]:
    """One request on a fresh connection; ``(status, body)``. The Host header is set explicitly."""
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
    try:
        headers = {"Host": host}
        if body is not None:
            headers["Content-Type"] = "text/xml; charset=utf-8"
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


class KeepAliveClient:
    """GETs over one kept-alive connection, so polling measures the service, not TCP setup."""

    def __init__(self, port: int, timeout: float = 5.0) -> None:
        self.port = port
        self.timeout = timeout
        self._connection: http.client.HTTPConnection | None = None

    def get(self, path: str, host: str) -> tuple[int, bytes]:
        """GET ``path``; on a broken connection, reconnect once and retry."""
        for attempt in range(2):
            if self._connection is None:
                self._connection = http.client.HTTPConnection(LOOPBACK, self.port, timeout=self.timeout)
            try:
                self._connection.request("GET", path, headers={"Host": host})
                response = self._connection.getresponse()
                return response.status, response.read()
            except (OSError, http.client.HTTPException):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def log_tail(path: Path, lines: int = 15) -> str:
    """The end of a server's stderr log, for error messages."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def start_server(name: str, command: list[str], port: int, log_path: Path, processes: list[Any]) -> Target:
    """Start a server, register it for cleanup, wait until GET /healthz (or /) answers 200."""
    log_file: IO[bytes] = open(log_path, "ab")  # noqa: SIM115 -- closed by stop_processes()
    process = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log_file)
    processes.append((process, log_file))
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"{name} exited with status {process.returncode} at start:\n{log_tail(log_path)}")
        try:
            status, _ = http_request(port, "GET", "/healthz", LOOPBACK, timeout=1.0)
        except OSError:
            status = 0
        if status == 200:
            return Target(name, port, process)
        time.sleep(0.05)
    raise BenchError(f"{name} did not answer 200 on /healthz within {STARTUP_TIMEOUT:.0f} s:\n{log_tail(log_path)}")


def start_with_retries(
    name: str, make_command: Callable[[int], list[str]], log_path: Path, processes: list[Any], attempts: int = 3
) -> Target:
    """Start a server on a free port; try another port if it lost the race for this one."""
    error: BenchError | None = None
    for _ in range(attempts):
        port = free_port()
        try:
            return start_server(name, make_command(port), port, log_path, processes)
        except BenchError as exc:
            error = exc
            stop_processes(processes)
    assert error is not None
    raise error


def stop_processes(processes: list[Any]) -> None:
    """SIGTERM every started process, SIGKILL what is still there after 5 s; close their logs."""
    for process, _ in processes:
        if process.poll() is None:
            process.terminate()
    for process, log_file in processes:
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        log_file.close()
    processes.clear()


def process_memory_kib(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak) of a running process, from /proc; empty where there is none."""
    found: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(value.split()[0])
    return found


# -- throughput ------------------------------------------------------------------


def wrk_command(target: Target, endpoint: str, seconds: int, connections: int) -> list[str]:
    """The wrk command line for one endpoint ("get" or "post") of one target."""
    threads = str(min(2, connections))
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if endpoint == "get":
        return [*command, "-H", f"Host: {GET_HOST}", f"http://{LOOPBACK}:{target.port}{GET_PATH}"]
    url = f"http://{LOOPBACK}:{target.port}{POST_PATH}"
    return [*command, "-H", f"Host: {POST_HOST}", "-s", str(POST_SCRIPT), url, "--", str(POST_BODY_FILE)]


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _latency_ms(text: str, percentile: str) -> float:
    match = re.search(rf"^\s*{percentile}%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.MULTILINE)
    if match is None:
        raise BenchError(f"no {percentile}% latency in wrk's output:\n{text}")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


def parse_wrk(text: str) -> WrkResult:
    """Requests/s, p50/p99 latency and error counts from ``wrk --latency`` output."""
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.MULTILINE)
    total = re.search(r"^\s*(\d+) requests in ", text, re.MULTILINE)
    if rate is None or total is None:
        raise BenchError(f"cannot read wrk's output:\n{text}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    return WrkResult(
        requests_per_s=float(rate.group(1)),
        p50_ms=_latency_ms(text, "50"),
        p99_ms=_latency_ms(text, "99"),
        requests=int(total.group(1)),
        non_2xx_3xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(group) for group in sockets.groups()) if sockets else 0,
    )


def run_wrk(command: list[str], seconds: int) -> WrkResult:
    """Run wrk (bounded by its duration plus a margin) and parse what it prints."""
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=False)
    except subprocess.TimeoutExpired:
        raise BenchError(f"wrk did not finish: {' '.join(command)}") from None
    if completed.returncode != 0:
        raise BenchError(f"wrk failed ({completed.returncode}): {' '.join(command)}\n{completed.stderr}")
    return parse_wrk(completed.stdout)


def precheck(target: Target, post_body: bytes, *, service: bool) -> tuple[int, int]:
    """Both endpoints answer 200 (and, for the service, real documents); return the body sizes.

    Benchmarking 404s or 400s would measure the wrong thing entirely.
    """
    status, get_body = http_request(target.port, "GET", GET_PATH, GET_HOST)
    if status != 200 or (service and b"<clientConfig" not in get_body):
        raise BenchError(f"{target.name}: GET {GET_PATH} answered {status}, not a config document")
    status, pox_body = http_request(target.port, "POST", POST_PATH, POST_HOST, body=post_body)
    if status != 200 or (service and b"fred@example.org" not in pox_body):
        raise BenchError(f"{target.name}: POST {POST_PATH} answered {status}: {pox_body[:300]!r}")
    return len(get_body), len(pox_body)


def measure_throughput(
    service: Target, baseline: Target, seconds: int, warmup: int, connections: int
) -> dict[str, dict[str, WrkResult]]:
    """wrk both endpoints on both targets, each after a warm-up; service and baseline alternate."""
    results: dict[str, dict[str, WrkResult]] = {}
    for endpoint in ("get", "post"):
        results[endpoint] = {}
        for target in (service, baseline):
            run_wrk(wrk_command(target, endpoint, warmup, connections), warmup)
            results[endpoint][target.name] = run_wrk(wrk_command(target, endpoint, seconds, connections), seconds)
    return results


def print_throughput(results: dict[str, dict[str, WrkResult]], connections: int, seconds: int) -> None:
    labels = {"get": f"GET  {GET_PATH.split('?')[0]}", "post": f"POST {POST_PATH}"}
    print(f"\n== Throughput: wrk -t{min(2, connections)} -c{connections} -d{seconds}s --latency ==")
    header = f"{'endpoint':<36} {'service req/s':>13} {'baseline req/s':>14} {'ratio':>6}  {'goal >=0.8':<10}"
    print(header + f" {'service p50 / p99 ms':>21} {'baseline p50 / p99 ms':>22}")
    for endpoint, by_target in results.items():
        mine, ceiling = by_target["service"], by_target["baseline"]
        ratio = mine.requests_per_s / ceiling.requests_per_s if ceiling.requests_per_s else 0.0
        verdict = "met" if ratio >= GOAL_RATIO else "NOT met"
        latencies = f"{mine.p50_ms:8.2f} / {mine.p99_ms:8.2f}   {ceiling.p50_ms:8.2f} / {ceiling.p99_ms:8.2f}"
        print(
            f"{labels[endpoint]:<36} {mine.requests_per_s:13.1f} {ceiling.requests_per_s:14.1f} "
            f"{ratio:6.2f}  {verdict:<10} {latencies}"
        )
    print("errors (non-2xx/3xx responses, socket errors) of all requests sent:")
    for endpoint, by_target in results.items():
        counts = ", ".join(
            f"{name} {result.non_2xx_3xx} non-2xx/3xx + {result.socket_errors} socket of {result.requests}"
            for name, result in by_target.items()
        )
        print(f"  {labels[endpoint]:<34} {counts}")
    print(f"goal: service/baseline >= {GOAL_RATIO} on each endpoint (reported, never enforced)")


# -- reload latency --------------------------------------------------------------


def atomic_write(path: Path, text: str) -> None:
    """Write a temporary file beside ``path`` and rename it over ``path``, as editors do."""
    temporary = path.with_name(f".{path.name}.bench-tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def measure_reload(service: Target, config_path: Path, edits: int) -> list[float | None]:
    """Seconds from each write until the new display name is served; None when not within the timeout."""
    original = config_path.read_text(encoding="utf-8")
    if DISPLAY_NAME.search(original) is None:
        raise BenchError(f"{config_path}: no display_name line to edit")
    client = KeepAliveClient(service.port)
    timings: list[float | None] = []
    try:
        for index in range(edits):
            marker = f"Bench reload {index + 1:03d} {secrets.token_hex(4)}"
            text = DISPLAY_NAME.sub(lambda m, value=marker: f'{m.group(1)}"{value}"', original, count=1)
            wanted = marker.encode("utf-8")
            started = time.perf_counter()
            atomic_write(config_path, text)
            seen: float | None = None
            while time.perf_counter() - started < RELOAD_TIMEOUT:
                _, body = client.get(GET_PATH, GET_HOST)
                if wanted in body:
                    seen = time.perf_counter() - started
                    break
                time.sleep(RELOAD_POLL)
            timings.append(seen)
            time.sleep(RELOAD_SPACING)
    finally:
        client.close()
    return timings


def print_reload(timings: list[float | None]) -> None:
    done = [seconds * 1000 for seconds in timings if seconds is not None]
    missed = len(timings) - len(done)
    print(
        f"\n== Reload latency: {len(timings)} atomic edits of display_name, polled every {RELOAD_POLL * 1000:.0f} ms =="
    )
    if done:
        worst = f"{max(done):.0f} ms" if not missed else f"> {RELOAD_TIMEOUT:.0f} s"
        print(f"write -> new value served: median {statistics.median(done):.0f} ms, max {worst}", end="")
        print(f", min {min(done):.0f} ms (includes the watcher's 0.15 s debounce)")
        print("each, sorted (ms): " + " ".join(f"{value:.0f}" for value in sorted(done)))
    if missed:
        print(f"NOT picked up within {RELOAD_TIMEOUT:.0f} s: {missed} of {len(timings)} edits")


# -- render and memory --------------------------------------------------------------


def generate_config(domains: int, providers: int) -> str:
    """The shipped config with its provider repeated ``providers`` times, ``domains`` names in all.

    Domains are d00001.example, d00002.example, ...: valid, distinct, and
    never resolvable (.example is reserved).
    """
    import tomli_w  # a runtime dependency of mailautoconf (requirements.txt)

    raw = tomllib.loads(SHIPPED_CONFIG.read_text(encoding="utf-8"))
    template = raw["provider"][0]
    per_provider = -(-domains // providers)
    generated = []
    for index in range(providers):
        numbers = range(index * per_provider + 1, min((index + 1) * per_provider, domains) + 1)
        if not numbers:
            break
        provider = copy.deepcopy(template)
        provider.pop("overrides", None)
        provider["id"] = f"p{index + 1:02d}.example"
        provider["short_name"] = provider["id"]
        provider["display_name"] = f"Bench provider {index + 1}"
        provider["domains"] = [f"d{number:05d}.example" for number in numbers]
        generated.append(provider)
    raw["provider"] = generated
    return tomli_w.dumps(raw)


def measure_rss(command: list[str]) -> RssRun:
    """Run ``command`` under bench/maxrss.py in a fresh process; wall time and peak RSS."""
    wrapper = [sys.executable, str(MAXRSS), *command]
    try:
        completed = subprocess.run(wrapper, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    except subprocess.TimeoutExpired:
        raise BenchError(f"did not finish within 600 s: {' '.join(command)}") from None
    try:
        report = json.loads(completed.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise BenchError(f"maxrss.py printed no report for {' '.join(command)}:\n{completed.stderr}") from None
    if report["returncode"] != 0:
        raise BenchError(f"exit status {report['returncode']}: {' '.join(command)}\n{completed.stderr[-2000:]}")
    return RssRun(report["returncode"], report["wall_s"], report["maxrss_kib"])


def measure_render(work: Path, big_config: Path, domains: int) -> list[tuple[str, RssRun]]:
    """Peak RSS of: the wrapper alone, a bare interpreter, importing mailautoconf, two renders."""
    python = sys.executable
    rows = [
        ("wrapper floor (/bin/true)", measure_rss(["/bin/true"])),
        ("python -c pass", measure_rss([python, "-c", "pass"])),
        ("python -c 'import mailautoconf.cli'", measure_rss([python, "-c", "import mailautoconf.cli"])),
    ]
    shipped_out = work / "render-shipped"
    rows.append(
        (
            f"render shipped config ({_domain_count(SHIPPED_CONFIG)} domains)",
            measure_rss(
                [python, "service.py", "render", "--config", str(SHIPPED_CONFIG), "--output", str(shipped_out)]
            ),
        )
    )
    # The disk's own cost for the same shape: one folder per domain holding
    # mail/ and autodiscover/, three ~2 KB files. On slow disks this dominates.
    floor = work / "disk-floor"
    floor_code = (
        "import os, sys\n"
        "root, count = sys.argv[1], int(sys.argv[2])\n"
        "body = b'x' * 2200\n"
        "for index in range(count):\n"
        "    domain = os.path.join(root, f'd{index:05d}.example')\n"
        "    os.makedirs(os.path.join(domain, 'mail'))\n"
        "    os.makedirs(os.path.join(domain, 'autodiscover'))\n"
        "    for name in ('mail/config-v1.1.xml', 'autodiscover/autodiscover.xml', 'autodiscover/autodiscover.json'):\n"
        "        with open(os.path.join(domain, name), 'wb') as handle:\n"
        "            handle.write(body)\n"
    )
    rows.append(
        (
            f"disk floor: same files, plain Python ({domains:,})",
            measure_rss([python, "-c", floor_code, str(floor), str(domains)]),
        )
    )
    big_out = work / "render-big"
    command = [python, "service.py", "render", "--config", str(big_config), "--output", str(big_out)]
    rows.append((f"render {domains:,} domains", measure_rss(command)))
    return rows


def _domain_count(path: Path) -> int:
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    return sum(len(provider.get("domains", [])) for provider in raw.get("provider", []))


def print_render(rows: list[tuple[str, RssRun]]) -> None:
    print("\n== Render time and peak memory (each in a fresh process) ==")
    print(f"{'command':<42} {'wall s':>8} {'peak RSS MiB':>13}")
    for label, run in rows:
        print(f"{label:<42} {run.wall_s:8.2f} {run.maxrss_kib / 1024:13.1f}")
    imported = dict(rows).get("python -c 'import mailautoconf.cli'")
    if imported is not None:
        big = rows[-1][1]
        print(
            f"render's own cost above importing mailautoconf: {(big.maxrss_kib - imported.maxrss_kib) / 1024:.1f} MiB"
        )


def measure_big_reload(service: Target, config_path: Path, big_text: str, domains: int) -> tuple[float | None, bool]:
    """Seconds until the running service serves the generated config (per /healthz); and a spot check."""
    started = time.perf_counter()
    atomic_write(config_path, big_text)
    client = KeepAliveClient(service.port, timeout=30.0)
    loaded: float | None = None
    try:
        while time.perf_counter() - started < BIG_RELOAD_TIMEOUT:
            status, body = client.get("/healthz", LOOPBACK)
            with contextlib.suppress(ValueError):
                if status == 200 and json.loads(body).get("domains") == domains:
                    loaded = time.perf_counter() - started
                    break
            time.sleep(0.02)
        middle = f"d{(domains + 1) // 2:05d}.example"
        status, body = client.get("/mail/config-v1.1.xml", f"autoconfig.{middle}")
        served = status == 200 and f"<domain>{middle}</domain>".encode() in body
    finally:
        client.close()
    return loaded, served


# -- main ------------------------------------------------------------------------------


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # so the finally blocks stop the servers


@contextlib.contextmanager
def servers() -> Iterator[list[Any]]:
    """A list to register started processes in; all of them are stopped on the way out."""
    processes: list[Any] = []
    try:
        yield processes
    finally:
        stop_processes(processes)


def wrk_version() -> str:
    completed = subprocess.run(["wrk", "--version"], capture_output=True, text=True, timeout=10, check=False)
    first = (completed.stdout or completed.stderr).splitlines()
    return first[0].split(" Copyright")[0] if first else "wrk"


def run(args: argparse.Namespace) -> None:
    from baseline_app import service_waitress_settings  # bench/ is on sys.path: this file's folder

    print(
        f"mailautoconf bench: {wrk_version()}, Python {platform.python_version()}, {os.cpu_count()} CPU(s), "
        f"{platform.machine()}"
    )
    print(f"waitress settings of service.py serve, used by both: {service_waitress_settings()}")
    post_body = POST_BODY_FILE.read_bytes()
    work = Path(tempfile.mkdtemp(prefix="mailautoconf-bench-"))
    try:
        config_dir = work / "config"
        config_dir.mkdir()
        config_path = config_dir / "autoconfig.toml"
        shutil.copyfile(SHIPPED_CONFIG, config_path)
        with servers() as processes:
            service = start_with_retries(
                "service",
                lambda port: [
                    sys.executable,
                    "service.py",
                    "serve",
                    "--config",
                    str(config_path),
                    "--listen",
                    f"{LOOPBACK}:{port}",
                    "--output",
                    str(work / "served"),
                ],
                work / "service.log",
                processes,
            )
            get_size, post_size = precheck(service, post_body, service=True)
            baseline = start_with_retries(
                "baseline",
                lambda port: [
                    sys.executable,
                    str(BASELINE_APP),
                    "--port",
                    str(port),
                    "--get-bytes",
                    str(get_size),
                    "--post-bytes",
                    str(post_size),
                ],
                work / "baseline.log",
                processes,
            )
            precheck(baseline, post_body, service=False)
            print(f"pre-check: service answers 200 to both ({get_size} and {post_size} bytes); baseline the same sizes")
            print(f"service pid {service.process.pid}, baseline pid {baseline.process.pid}, both on {LOOPBACK}")

            results = measure_throughput(service, baseline, args.duration, args.warmup, args.connections)
            print_throughput(results, args.connections, args.duration)
            memory = process_memory_kib(service.process.pid)

            print_reload(measure_reload(service, config_path, args.edits))

            big_text = generate_config(args.domains, providers=10)
            big_config = work / "generated" / "autoconfig.toml"
            big_config.parent.mkdir()
            big_config.write_text(big_text, encoding="utf-8")
            rows = measure_render(work, big_config, args.domains)
            print_render(rows)

            print(f"\n== Running service picks up the {args.domains:,}-domain config ==")
            loaded, served = measure_big_reload(service, config_path, big_text, args.domains)
            if loaded is None:
                print(f"not loaded within {BIG_RELOAD_TIMEOUT:.0f} s")
            else:
                print(
                    f"write -> /healthz reports {args.domains:,} domains: {loaded:.2f} s; spot check served: {served}"
                )
            after = process_memory_kib(service.process.pid)
            if memory and after:
                print(
                    f"service RSS: {memory['VmRSS'] / 1024:.1f} MiB serving the shipped config after the wrk runs, "
                    f"{after['VmRSS'] / 1024:.1f} MiB serving {args.domains:,} domains "
                    f"(peak {after['VmHWM'] / 1024:.1f} MiB)"
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark mailautoconf against a Flask+waitress baseline; measure reload and render."
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk measurement (default 10)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 2 s measurements, 1 s warm-ups, 5 edits, 1,000 generated domains",
    )
    args = parser.parse_args(argv)
    if args.duration < 1 or args.connections < 1:
        parser.error("--duration and --connections must be at least 1")
    args.warmup = 2
    args.edits = 20
    args.domains = 10_000
    if args.quick:
        args.duration, args.warmup, args.edits, args.domains = 2, 1, 5, 1_000
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print("bench: wrk is not installed; on Debian/Ubuntu: apt-get install -y wrk", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        run(args)
    except BenchError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
