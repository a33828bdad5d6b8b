"""What every bench script needs, in one place, so the scripts measure the same way (issue 9).

The scripts in bench/ are run as ``python bench/<script>.py``, so this
folder is on ``sys.path`` and ``from harness import ...`` works; nothing
here imports from tests/. Only the standard library is imported at module
level: bench/layouts.py, which runs no mailautoconf code, can use it too.

What it holds:

* paths, the loopback address, and :class:`BenchError`;
* HTTP on 127.0.0.1 (one request, or GETs over one kept-alive connection)
  and polling until an answer shows a change;
* the real service under waitress (``service.py serve``) on a free port,
  waited for until /healthz answers, with every started process stopped
  on the way out, and the service's other commands;
* wrk: the command line, running it, reading its output;
* peak RSS of one command in a fresh process (bench/maxrss.py), and the
  RSS of a running process;
* configs: atomic writes as editors do them, the display-name edit, the
  shipped config scaled to N domains;
* a throwaway certificate for servers that must load one (cryptography);
* printing: progress to stderr, table lines, the goal verdict, the
  machine line;
* the temporary work folder and SIGTERM, so that every exit cleans up.

Every wait is bounded and only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
SHIPPED_CONFIG = ROOT / "config" / "autoconfig.toml"
MAXRSS = BENCH / "maxrss.py"
LOOPBACK = "127.0.0.1"

STARTUP_TIMEOUT = 30.0  # s until a server's /healthz answers 200
HEALTH_POLL = 0.02  # s between /healthz polls while a server starts
POLL = 0.005  # s between GETs while waiting for a change to be served
DISPLAY_NAME = re.compile(r'^(display_name\s*=\s*)"[^"\n]*"', re.MULTILINE)

Started = list[tuple[subprocess.Popen[bytes], IO[bytes]]]  # processes to stop, with their open logs


class BenchError(Exception):
    """The bench cannot go on (a process did not start, a pre-check failed)."""


# -- HTTP ------------------------------------------------------------------------------


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


def wait_for_get(
    client: KeepAliveClient,
    path: str,
    host: str,
    done: Callable[[int, bytes], bool],
    started: float,
    timeout: float,
    poll: float = POLL,
) -> float | None:
    """Seconds from ``started`` (perf_counter) until a GET satisfies ``done``; None on timeout.

    A failed GET counts as status 0 and is tried again: a service busy
    swapping in a new config may drop a connection, and that is not the end.
    """
    while time.perf_counter() - started < timeout:
        try:
            status, body = client.get(path, host)
        except (OSError, ValueError, http.client.HTTPException):
            status, body = 0, b""
        if done(status, body):
            return time.perf_counter() - started
        time.sleep(poll)
    return None


def body_contains(wanted: bytes) -> Callable[[int, bytes], bool]:
    """A ``done`` for :func:`wait_for_get`: the answer's body contains ``wanted``, whatever its status."""

    def done(status: int, body: bytes) -> bool:
        return wanted in body

    return done


def healthz(port: int) -> tuple[int, dict[str, object]]:
    """Status and JSON of GET /healthz; ``(0, {})`` when nothing answers, ``{}`` when it is not JSON."""
    try:
        status, body = http_request(port, "GET", "/healthz", LOOPBACK, timeout=5.0)
    except OSError:
        return 0, {}
    return status, healthz_fields(body)


def healthz_fields(body: bytes) -> dict[str, object]:
    """The JSON object of a /healthz answer, or ``{}``."""
    try:
        fields = json.loads(body)
    except ValueError:
        return {}
    return fields if isinstance(fields, dict) else {}


# -- processes ------------------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    """A started server: what it is called, where it listens, how long it took to be ready."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    ready_s: float  # from starting the process until it was ready
    attempts: int  # 1, or more when another process took the free port first


def service_command(*args: str) -> list[str]:
    """``python service.py ARGS``, run from the repository root (see :data:`ROOT`)."""
    return [sys.executable, "service.py", *args]


def serve_command(config: Path, output: Path, port: int) -> list[str]:
    """``service.py serve`` of ``config`` on 127.0.0.1:``port``, rendering into ``output``."""
    listen = f"{LOOPBACK}:{port}"
    return service_command("serve", "--config", str(config), "--listen", listen, "--output", str(output))


def service_output(*args: str, timeout: int = 900) -> str:
    """Run one ``service.py`` command to its end; its stdout, or BenchError with its stderr's end."""
    result = subprocess.run(
        service_command(*args), cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise BenchError(f"{' '.join(args[:1])} failed ({result.returncode}):\n{result.stderr[-2000:]}")
    return result.stdout


def log_tail(path: Path, lines: int = 15) -> str:
    """The end of a server's stderr log, for error messages."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def spawn(command: list[str], log: Path, processes: Started) -> subprocess.Popen[bytes]:
    """Start ``command`` in the repository root, stderr appended to ``log``; registered for :func:`stop_processes`."""
    log_file = open(log, "ab")  # noqa: SIM115 -- closed by stop_processes()
    process = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log_file)
    processes.append((process, log_file))
    return process


def stop_processes(processes: Started) -> None:
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


@contextlib.contextmanager
def started_processes() -> Iterator[Started]:
    """A list to register started processes in; all of them are stopped on the way out."""
    processes: Started = []
    try:
        yield processes
    finally:
        stop_processes(processes)


def _port_taken(log: Path) -> bool:
    """Whether a server's log says it could not bind its port (another process got the free port first)."""
    tail = log_tail(log)
    return "cannot listen" in tail or "Address already in use" in tail


def wait_ready(
    name: str,
    process: subprocess.Popen[bytes],
    port: int,
    log: Path,
    domains: int | None,
    timeout: float,
    on_slow: Callable[[str], None] | None,
) -> float:
    """Seconds until /healthz answers 200 (with ``domains`` domains, if given); BenchError otherwise."""
    started = time.perf_counter()
    next_note = started + 10
    while time.perf_counter() - started < timeout:
        if process.poll() is not None:
            raise BenchError(f"{name} exited with status {process.returncode} at start:\n{log_tail(log)}")
        status, fields = healthz(port)
        if status == 200 and (domains is None or fields.get("domains") == domains):
            return time.perf_counter() - started
        if on_slow is not None and time.perf_counter() > next_note:
            on_slow(f"  ... {name} starting for {time.perf_counter() - started:.0f} s (healthz {status})")
            next_note += 10
        time.sleep(HEALTH_POLL)
    wanted = "answer 200 on /healthz" if domains is None else f"report {domains} domains"
    raise BenchError(f"{name} did not {wanted} within {timeout:.0f} s:\n{log_tail(log)}")


def start_server(
    name: str,
    make_command: Callable[[int], list[str]],
    log: Path,
    processes: Started,
    *,
    domains: int | None = None,
    timeout: float = STARTUP_TIMEOUT,
    on_slow: Callable[[str], None] | None = None,
    attempts: int = 3,
) -> Server:
    """Start a server on a free port and wait (bounded) until /healthz answers 200.

    ``make_command(port)`` is its command line. With ``domains``, ready means
    /healthz also reports that many domains (the whole config is served).
    When it lost the race for the free port, it is stopped and started again
    on another one; any other failure is final.
    """
    for attempt in range(1, attempts + 1):
        port = free_port()
        started = time.perf_counter()
        process = spawn(make_command(port), log, processes)
        try:
            wait_ready(name, process, port, log, domains, timeout, on_slow)
        except BenchError:
            exited = process.poll() is not None
            stop_processes([processes.pop()])  # this one only: servers started before it keep running
            if attempt == attempts or not exited or not _port_taken(log):
                raise
            continue
        return Server(name, port, process, log, time.perf_counter() - started, attempt)
    raise AssertionError("unreachable")


def process_memory_kib(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak) of a running process, from /proc; empty where there is none."""
    found: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(value.split()[0])
    return found


# -- wrk ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class WrkResult:
    """What is kept of one wrk run."""

    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx_3xx: int
    socket_errors: int

    @property
    def errors(self) -> int:
        """Non-2xx/3xx answers and socket errors together."""
        return self.non_2xx_3xx + self.socket_errors


def wrk_threads(connections: int) -> int:
    """Two wrk threads, fewer only when there are fewer connections (wrk refuses more threads than those)."""
    return min(2, connections)


def wrk_command(
    port: int, path: str, host: str, seconds: int, connections: int, script: tuple[Path, str] | None = None
) -> list[str]:
    """``wrk --latency`` on http://127.0.0.1:``port````path`` with that Host header.

    ``script``: a Lua script for wrk and the one argument it is given (a request body file, say).
    """
    command = ["wrk", f"-t{wrk_threads(connections)}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    command += ["-H", f"Host: {host}"]
    url = f"http://{LOOPBACK}:{port}{path}"
    if script is None:
        return [*command, url]
    return [*command, "-s", str(script[0]), url, "--", script[1]]


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


def wrk_version() -> str:
    """wrk's name and version, as its first line of ``--version`` gives them."""
    completed = subprocess.run(["wrk", "--version"], capture_output=True, text=True, timeout=10, check=False)
    first = (completed.stdout or completed.stderr).splitlines()
    return first[0].split(" Copyright")[0] if first else "wrk"


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


# -- memory of one command ------------------------------------------------------------------


@dataclass(frozen=True)
class RssRun:
    """Wall time and peak RSS of one command, from bench/maxrss.py."""

    returncode: int
    wall_s: float
    maxrss_kib: int


def measure_rss(command: list[str], timeout: int = 600, ok_codes: tuple[int, ...] = (0,)) -> RssRun:
    """Run ``command`` under bench/maxrss.py in a fresh process; wall time and peak RSS.

    An exit status outside ``ok_codes`` is a BenchError.
    """
    wrapper = [sys.executable, str(MAXRSS), *command]
    try:
        completed = subprocess.run(wrapper, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise BenchError(f"did not finish within {timeout} s: {' '.join(command)}") from None
    try:
        report = json.loads(completed.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise BenchError(f"maxrss.py printed no report for {' '.join(command)}:\n{completed.stderr}") from None
    if report["returncode"] not in ok_codes:
        raise BenchError(f"exit status {report['returncode']}: {' '.join(command)}\n{completed.stderr[-2000:]}")
    return RssRun(report["returncode"], report["wall_s"], report["maxrss_kib"])


# -- configs ---------------------------------------------------------------------------------


def atomic_write(path: Path, text: str) -> None:
    """Write a temporary file beside ``path`` and rename it over ``path``, as editors do."""
    temporary = path.with_name(f".{path.name}.bench-tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def with_display_name(text: str, value: str) -> str:
    """``text`` with its first ``display_name = "..."`` line set to ``value``; BenchError if it has none."""
    if DISPLAY_NAME.search(text) is None:
        raise BenchError("the config has no display_name line to edit")
    return DISPLAY_NAME.sub(lambda match: f'{match.group(1)}"{value}"', text, count=1)


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
        provider["domains"] = [generated_domain(number) for number in numbers]
        generated.append(provider)
    raw["provider"] = generated
    return tomli_w.dumps(raw)


def generated_domain(number: int) -> str:
    """The ``number``-th domain of :func:`generate_config`."""
    return f"d{number:05d}.example"


# -- certificates ------------------------------------------------------------------------------


def write_certificate(names: list[str], folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for ``names``: ``fullchain.pem`` and ``privkey.pem`` in ``folder``.

    For servers that refuse to start without a certificate (nginx with
    ``ssl_certificate``) while the bench itself speaks plain HTTP: nobody
    verifies it, so no CA is needed. Needs ``cryptography``
    (requirements-test.txt), imported here so the other scripts do not.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name) for name in names]), critical=False)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    chain, private = folder / "fullchain.pem", folder / "privkey.pem"
    chain.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    private.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return chain, private


# -- printing ------------------------------------------------------------------------------------


def make_progress(bench: str) -> Callable[[str], None]:
    """A ``progress(message)`` printing ``[bench HH:MM:SS] message`` to stderr, so stdout keeps the figures."""

    def progress(message: str) -> None:
        print(f"[{bench} {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    return progress


def table_line(cells: Sequence[str], widths: Sequence[int]) -> str:
    """One line of a table: each cell right-aligned in its width, two spaces between."""
    return "  ".join(f"{cell:>{width}}" for cell, width in zip(cells, widths, strict=True))


def verdict(ok: bool | None) -> str:
    """How a goal fared: met, NOT met, or n/a when it was not measured."""
    return "n/a" if ok is None else ("met" if ok else "NOT met")


def machine() -> str:
    """The interpreter and machine the figures come from, for the first line of a bench's output."""
    return f"Python {platform.python_version()}, {os.cpu_count()} CPU(s), {platform.machine()}"


# -- the run ---------------------------------------------------------------------------------------


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # so the finally blocks stop the servers and remove the folders


def exit_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit, so ``finally`` blocks and context managers clean up as on any exit."""
    signal.signal(signal.SIGTERM, _exit_on_sigterm)


def run_bench(name: str, run: Callable[[Any], None], args: Any, *, needs_wrk: bool = True) -> int:
    """Run a bench the way every one exits: 2 when wrk is missing, 1 when it could not run, else 0.

    The figures are reported, never enforced: a bench that ran exits 0.
    """
    if needs_wrk and not have_wrk():
        print(f"{name}: wrk is not installed; on Debian/Ubuntu: apt-get install -y wrk", file=sys.stderr)
        return 2
    exit_on_sigterm()
    try:
        run(args)
    except BenchError as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        return 1
    return 0


@contextlib.contextmanager
def work_folder(prefix: str) -> Iterator[Path]:
    """A fresh temporary folder, removed with everything in it on the way out."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)
