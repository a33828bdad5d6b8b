"""Reload under load (issue 11, section 1): wrk and validating clients while the TOML is rewritten ~10 times a second.

The config is split over two files (``[service] include``): the main file
hosts ``alpha.example``, ``autoconfig.d/beta.toml`` hosts ``beta.example``.
Every valid variant N is distinguishable in every document: display name
``Variant N``, incoming ``imap-vN.<domain>`` on port 1000+N, outgoing
``smtp-vN.<domain>`` on port 30000+N. A document matches a variant only when
all of these agree, so a document mixing two generations is caught.

Between valid variants (rename-replace, in-place half-writes) come invalid
ones: TOML syntax errors, a bad port, the main file deleted and restored.
Each must be rejected while the last good generation keeps being served.

The bench runs wrk (GET autoconfig and POST Autodiscover, 64 connections in
all) for throughput and, beside it, Python clients that validate every
answer. tests/test_storm.py runs the same storm for a short time.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import os
import re
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from harness import LOOPBACK
from harness import BenchError
from harness import KeepAliveClient
from harness import WrkResult
from harness import healthz_fields
from harness import machine
from harness import make_progress
from harness import run_bench
from harness import run_wrk
from harness import serve_command
from harness import start_server
from harness import started_processes
from harness import work_folder
from harness import wrk_command
from harness import wrk_version

BENCH = Path(__file__).resolve().parent
POST_LUA = BENCH / "autodiscover_post.lua"
GET_PATH = "/mail/config-v1.1.xml"
POST_PATH = "/autodiscover/autodiscover.xml"
DOMAINS = ("alpha.example", "beta.example")
REWRITE_INTERVAL = 0.1  # s between rewrites: about 10 a second
HALF_WRITE_PAUSE = 0.03  # s a half-written file stays half-written
SETTLE_TIMEOUT = 30.0  # s to wait for the last valid variant after the storm
MAX_VARIANT = 30_000  # 30000 + N stays a port

POST_BODY = (
    '<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="http://schemas.microsoft.com/exchange/'
    'autodiscover/outlook/requestschema/2006"><Request><EMailAddress>fred@{domain}</EMailAddress>'
    "<AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
    "</AcceptableResponseSchema></Request></Autodiscover>"
)


# -- variants ------------------------------------------------------------------------------


def provider_text(domain: str, n: int, port: int | None = None) -> str:
    """One provider for ``domain`` in variant ``n``; ``port`` replaces the incoming port (a bad one, say)."""
    incoming = 1000 + n if port is None else port
    return (
        f'[[provider]]\nid = "{domain}"\ndisplay_name = "Variant {n}"\ndomains = ["{domain}"]\n\n'
        f'[[provider.incoming]]\ntype = "imap"\nhostname = "imap-v{n}.{domain}"\nport = {incoming}\n'
        'socket_type = "SSL"\nauthentication = ["password-cleartext"]\nusername = "{address}"\n\n'
        f'[[provider.outgoing]]\ntype = "smtp"\nhostname = "smtp-v{n}.{domain}"\nport = {30000 + n}\n'
        'socket_type = "SSL"\nauthentication = ["password-cleartext"]\nusername = "{address}"\n'
    )


def main_text(n: int) -> str:
    """The main file of variant ``n``: [service] with the include, and alpha.example's provider."""
    head = '[service]\npublic_hostname = "autoconfig.alpha.example"\ninclude = "autoconfig.d/*.toml"\n\n'
    return head + provider_text(DOMAINS[0], n)


def included_text(n: int) -> str:
    return provider_text(DOMAINS[1], n)


def expected(domain: str, n: int, kind: str = "GET") -> tuple[str, str, int, str, int]:
    """What a document for ``domain`` says in variant ``n``: display name, incoming host/port, outgoing host/port.

    Autodiscover POX (``kind`` POST) carries no display name: its first field is empty.
    """
    display = f"Variant {n}" if kind == "GET" else ""
    return (display, f"imap-v{n}.{domain}", 1000 + n, f"smtp-v{n}.{domain}", 30000 + n)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_autoconfig(body: bytes) -> tuple[str, str, int, str, int]:
    """The variant fields of a config-v1.1.xml document; ValueError when it is not one, or not complete."""
    root = ET.fromstring(body)
    provider = root.find("emailProvider")
    if provider is None:
        raise ValueError("no emailProvider")
    incoming = provider.findall("incomingServer")
    outgoing = provider.findall("outgoingServer")
    if len(incoming) != 1 or len(outgoing) != 1:
        raise ValueError(f"{len(incoming)} incoming and {len(outgoing)} outgoing servers")
    return (
        provider.findtext("displayName") or "",
        incoming[0].findtext("hostname") or "",
        int(incoming[0].findtext("port") or "0"),
        outgoing[0].findtext("hostname") or "",
        int(outgoing[0].findtext("port") or "0"),
    )


def parse_autodiscover(body: bytes) -> tuple[str, str, int, str, int]:
    """The variant fields of an Autodiscover POX answer (IMAP and SMTP protocols); ValueError otherwise."""
    root = ET.fromstring(body)
    display = ""
    protocols: dict[str, tuple[str, int]] = {}
    for element in root.iter():
        name = _local(element.tag)
        if name == "DisplayName" and not display:
            display = element.text or ""
        elif name == "Protocol":
            fields = {_local(child.tag): child.text or "" for child in element}
            kind = fields.get("Type", "")
            if kind in protocols:
                raise ValueError(f"two {kind} protocols")
            protocols[kind] = (fields.get("Server", ""), int(fields.get("Port") or "0"))
    if set(protocols) != {"IMAP", "SMTP"}:
        raise ValueError(f"protocols {sorted(protocols)}")
    return (display, *protocols["IMAP"], *protocols["SMTP"])


def variant_of(domain: str, kind: str, found: tuple[str, str, int, str, int], valid: set[int]) -> int | None:
    """The one valid variant the document matches as a whole (every field), or None."""
    # Every field names a variant; a document mixing two generations names two, and matches neither as a whole.
    candidates = {int(number) for text in (found[0], found[1], found[3]) for number in re.findall(r"\d+", text)}
    candidates |= {found[2] - 1000, found[4] - 30000}
    matches = [n for n in sorted(candidates) if n in valid and expected(domain, n, kind) == found]
    return matches[0] if len(matches) == 1 else None


# -- the storm -------------------------------------------------------------------------------


@dataclass
class Storm:
    """Rewrites the config of a service: valid variants with invalid ones between (one thread)."""

    main: Path
    interval: float = REWRITE_INTERVAL
    valid: set[int] = field(default_factory=set)  # every valid variant written so far
    last_valid: int = 0
    counts: dict[str, int] = field(default_factory=dict)  # how many rewrites of each kind
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def included(self) -> Path:
        return self.main.parent / "autoconfig.d" / "beta.toml"

    def setup(self) -> int:
        """Write variant 1 (both files) before the service starts; its number."""
        n = next(self._numbers)
        self.included.parent.mkdir(parents=True, exist_ok=True)
        self.valid.add(n)
        self.included.write_text(included_text(n), encoding="utf-8")
        self.main.write_text(main_text(n), encoding="utf-8")
        self.last_valid = n
        return n

    # Each step writes one thing; valid steps add their variant to ``valid`` before writing.

    def _replace(self, path: Path, text: str) -> None:
        temporary = path.with_name(f".{path.name}.storm-tmp")
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)

    def _valid(self, kind: str) -> int:
        n = next(self._numbers)
        if n > MAX_VARIANT:
            raise BenchError(f"more than {MAX_VARIANT} variants: shorten the run")
        self.valid.add(n)
        self._replace(self.included, included_text(n))  # beta first: each file is a whole variant
        text = main_text(n)
        if kind == "half-write":
            # In place: truncate, write up to the middle of a host name (an unterminated string), pause, finish.
            cut = text.index(f"imap-v{n}.") + 6
            with open(self.main, "w", encoding="utf-8") as handle:
                handle.write(text[:cut])
                handle.flush()
                time.sleep(HALF_WRITE_PAUSE)
                handle.write(text[cut:])
        else:
            self._replace(self.main, text)
        self.last_valid = n
        return n

    def _invalid(self, kind: str) -> None:
        n = next(self._numbers)  # never added to ``valid``: must never be served
        if kind == "syntax":
            self._replace(self.main, main_text(n).replace("[[provider]]", "[[provider]", 1))
        elif kind == "syntax-included":
            self._replace(self.included, included_text(n).replace("= ", "= = ", 1))
        elif kind == "bad-port":
            self._replace(self.included, provider_text(DOMAINS[1], n, port=99999))
        elif kind == "delete-restore":
            text = self.main.read_text(encoding="utf-8")
            self.main.unlink()
            time.sleep(self.interval / 2)
            self._replace(self.main, text)
        else:
            raise AssertionError(kind)

    def steps(self) -> list[tuple[str, bool]]:
        """One cycle: kinds of rewrite and whether they are valid, valid ones between the invalid ones."""
        return [
            ("rename", True),
            ("syntax", False),
            ("half-write", True),
            ("bad-port", False),
            ("rename", True),
            ("delete-restore", False),
            ("half-write", True),
            ("syntax-included", False),
        ]

    def run(self, stop: threading.Event) -> None:
        """Rewrite every ``interval`` until ``stop``; then restore the included file and write a last valid variant."""
        for kind, valid in itertools.cycle(self.steps()):
            if stop.is_set():
                break
            if valid:
                self._valid(kind)
            else:
                self._invalid(kind)
            self.counts[kind] = self.counts.get(kind, 0) + 1
            stop.wait(self.interval)
        self._valid("rename")  # the last word is a valid variant, whatever the cycle stopped on


# -- validating clients ------------------------------------------------------------------------


@dataclass
class Tally:
    """What the validating clients saw (each client its own; merged at the end)."""

    answers: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    connection_errors: int = 0
    problems: list[str] = field(default_factory=list)  # the first few, for the report
    bad: int = 0
    variants: set[int] = field(default_factory=set)

    def merge(self, other: Tally) -> None:
        self.answers += other.answers
        for status, count in other.by_status.items():
            self.by_status[status] = self.by_status.get(status, 0) + count
        self.connection_errors += other.connection_errors
        self.bad += other.bad
        self.problems += other.problems[: max(0, 10 - len(self.problems))]
        self.variants |= other.variants


def _request(
    port: int, request: tuple[str, str, str, bytes | None], connection: list[http.client.HTTPConnection]
) -> tuple[int, bytes]:
    method, path, host, body = request
    if not connection:
        connection.append(http.client.HTTPConnection(LOOPBACK, port, timeout=30))
    headers = {"Host": host}
    if body is not None:
        headers["Content-Type"] = "text/xml; charset=utf-8"
    try:
        connection[0].request(method, path, body=body, headers=headers)
        response = connection[0].getresponse()
        return response.status, response.read()
    except (OSError, http.client.HTTPException):
        connection.pop().close()
        raise


def _one_request(port: int, request: tuple[str, str, str, bytes | None]) -> tuple[int, bytes]:
    """One request on its own connection, closed afterwards."""
    connection: list[http.client.HTTPConnection] = []
    try:
        return _request(port, request, connection)
    finally:
        for open_connection in connection:
            open_connection.close()


def validate(domain: str, kind: str, status: int, body: bytes, valid: set[int], tally: Tally) -> None:
    """Count one answer; a problem unless 200 and a whole document of exactly one valid variant."""
    tally.answers += 1
    tally.by_status[status] = tally.by_status.get(status, 0) + 1
    problem = None
    if status != 200:
        problem = f"{kind} {domain}: status {status}: {body[:200]!r}"
    else:
        try:
            found = parse_autoconfig(body) if kind == "GET" else parse_autodiscover(body)
        except (ET.ParseError, ValueError) as exc:
            problem = f"{kind} {domain}: not a whole document ({exc}): {body[:300]!r}"
        else:
            n = variant_of(domain, kind, found, valid)
            if n is None:
                problem = f"{kind} {domain}: matches no valid variant: {found}"
            else:
                tally.variants.add(n)
    if problem is not None:
        tally.bad += 1
        if len(tally.problems) < 10:
            tally.problems.append(problem)


def client_loop(port: int, valid: set[int], stop: threading.Event, tally: Tally, offset: int) -> None:
    """GET autoconfig and POST Autodiscover for both domains over one kept-alive connection, until ``stop``."""
    requests = [
        (kind, domain, method, path, host, body)
        for domain in DOMAINS
        for kind, method, path, host, body in (
            ("GET", "GET", f"{GET_PATH}?emailaddress=fred%40{domain}", f"autoconfig.{domain}", None),
            ("POST", "POST", POST_PATH, f"autodiscover.{domain}", POST_BODY.format(domain=domain).encode()),
        )
    ]
    connection: list[http.client.HTTPConnection] = []
    index = offset
    while not stop.is_set():
        kind, domain, method, path, host, body = requests[index % len(requests)]
        index += 1
        try:
            status, answer = _request(port, (method, path, host, body), connection)
        except (OSError, http.client.HTTPException):
            tally.connection_errors += 1
            continue
        validate(domain, kind, status, answer, valid, tally)
    if connection:
        connection[0].close()


def start_clients(
    port: int, valid: set[int], stop: threading.Event, count: int
) -> tuple[list[threading.Thread], list[Tally]]:
    tallies = [Tally() for _ in range(count)]
    threads = [
        threading.Thread(target=client_loop, args=(port, valid, stop, tallies[i], i), daemon=True, name=f"client-{i}")
        for i in range(count)
    ]
    for thread in threads:
        thread.start()
    return threads, tallies


def serves_variant(port: int, n: int, timeout: float = SETTLE_TIMEOUT) -> bool:
    """Whether, within ``timeout``, every domain's GET and POST answer is variant ``n``."""
    deadline = time.monotonic() + timeout
    client = KeepAliveClient(port, timeout=10.0)
    try:
        while time.monotonic() < deadline:
            done = True
            for domain in DOMAINS:
                try:
                    status, body = client.get(f"{GET_PATH}?emailaddress=fred%40{domain}", f"autoconfig.{domain}")
                    post = _one_request(
                        port,
                        ("POST", POST_PATH, f"autodiscover.{domain}", POST_BODY.format(domain=domain).encode()),
                    )
                    ok = status == 200 and parse_autoconfig(body) == expected(domain, n)
                    ok = ok and post[0] == 200 and parse_autodiscover(post[1]) == expected(domain, n, "POST")
                except (OSError, http.client.HTTPException, ET.ParseError, ValueError):
                    ok = False
                done = done and ok
            if done:
                return True
            time.sleep(0.05)
        return False
    finally:
        client.close()


@dataclass(frozen=True)
class LogCounts:
    published: int
    rejected: int


def log_counts(text: str) -> LogCounts:
    """Reloads applied ("published ...") and rejected ("config not applied") in the service's log."""
    return LogCounts(len(re.findall(r"\bpublished \S+: \d+ domains", text)), text.count("config not applied"))


@dataclass
class StormResult:
    """Everything one storm run saw."""

    seconds: int
    tally: Tally
    wrk: dict[str, WrkResult]
    rewrites: dict[str, int]
    last_valid: int
    settled: bool  # the last valid variant was served afterwards
    log: LogCounts
    generation: object


def run_storm(
    port: int,
    storm: Storm,
    log: Path,
    work: Path,
    seconds: int,
    clients: int,
    connections: int,
    progress: Callable[[str], None] = lambda message: None,
) -> StormResult:
    """wrk (GET and POST, ``connections`` in all) and ``clients`` validating clients while ``storm`` rewrites."""
    body_file = work / "autodiscover_request.xml"
    body_file.write_bytes(POST_BODY.format(domain=DOMAINS[0]).encode())
    per_wrk = max(1, connections // 2)
    commands = {
        "GET": wrk_command(
            port, f"{GET_PATH}?emailaddress=fred%40{DOMAINS[0]}", f"autoconfig.{DOMAINS[0]}", seconds, per_wrk
        ),
        "POST": wrk_command(
            port, POST_PATH, f"autodiscover.{DOMAINS[0]}", seconds, per_wrk, (POST_LUA, str(body_file))
        ),
    }
    wrk: dict[str, WrkResult] = {}
    failures: list[BaseException] = []

    def run_one(kind: str) -> None:
        try:
            wrk[kind] = run_wrk(commands[kind], seconds)
        except BaseException as exc:  # reported after the storm
            failures.append(exc)

    stop = threading.Event()
    threads, tallies = start_clients(port, storm.valid, stop, clients)
    wrk_threads = [threading.Thread(target=run_one, args=(kind,), daemon=True) for kind in commands]
    for thread in wrk_threads:
        thread.start()
    writer = threading.Thread(target=storm.run, args=(stop,), daemon=True, name="storm")
    writer.start()
    progress(f"storm: {seconds} s, {clients} validating clients, wrk {connections} connections")
    for thread in wrk_threads:
        thread.join(seconds + 90)
    stop.set()
    writer.join(30)
    for thread in threads:
        thread.join(60)
    if failures:
        raise BenchError(f"wrk: {failures[0]}")
    tally = Tally()
    for one in tallies:
        tally.merge(one)
    progress(f"storm over; waiting for variant {storm.last_valid} to be served")
    settled = serves_variant(port, storm.last_valid)
    status, body = _one_request(port, ("GET", "/healthz", LOOPBACK, None))
    return StormResult(
        seconds,
        tally,
        wrk,
        dict(storm.counts),
        storm.last_valid,
        settled,
        log_counts(log.read_text(encoding="utf-8", errors="replace")),
        healthz_fields(body).get("generation") if status == 200 else None,
    )


def print_result(result: StormResult) -> None:
    tally = result.tally
    print(f"\n== Storm: {result.seconds} s ==")
    rewrites = ", ".join(f"{kind} {count}" for kind, count in sorted(result.rewrites.items()))
    print(f"rewrites: {sum(result.rewrites.values())} ({rewrites})")
    for kind, run in result.wrk.items():
        print(
            f"wrk {kind}: {run.requests} requests, {run.requests_per_s:.0f} req/s, p50 {run.p50_ms:.1f} ms, "
            f"p99 {run.p99_ms:.1f} ms, {run.non_2xx_3xx} non-2xx/3xx + {run.socket_errors} socket errors"
        )
    statuses = ", ".join(f"{status}: {count}" for status, count in sorted(tally.by_status.items()))
    print(f"validated answers: {tally.answers} ({statuses}), {tally.connection_errors} connection errors")
    print(f"validated answers not a whole valid variant: {tally.bad}")
    for problem in tally.problems:
        print(f"  {problem}")
    print(f"variants seen by the clients: {len(tally.variants)}")
    served = sum(run.requests for run in result.wrk.values()) + tally.answers
    errors = sum(run.errors for run in result.wrk.values()) + tally.bad + tally.connection_errors
    print(f"requests served: {served}; errors: {errors}")
    print(f"reloads applied: {result.log.published}; reloads rejected: {result.log.rejected}")
    print(
        f"last valid variant {result.last_valid} served afterwards: {result.settled} (generation {result.generation})"
    )


def run(args: argparse.Namespace) -> None:
    progress = make_progress("storm")
    print(f"mailautoconf storm bench: {wrk_version()}, {machine()}")
    with work_folder("mailautoconf-storm-") as work:
        storm = Storm(work / "config" / "autoconfig.toml")
        storm.main.parent.mkdir()
        storm.setup()
        log = work / "service.log"
        with started_processes() as processes:
            service = start_server(
                "service", lambda port: serve_command(storm.main, work / "served", port), log, processes
            )
            result = run_storm(service.port, storm, log, work, args.duration, args.clients, args.connections, progress)
            if service.process.poll() is not None:
                raise BenchError(f"the service exited during the storm ({service.process.returncode})")
        print_result(result)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="wrk and validating clients while the config is rewritten.")
    parser.add_argument("--duration", type=int, default=60, help="seconds of storm (default 60)")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections, GET and POST together (64)")
    parser.add_argument("--clients", type=int, default=16, help="validating client threads (default 16)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 5 s, 8 validating clients")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.clients = 5, 8
    if args.duration < 1 or args.connections < 2 or args.clients < 1:
        parser.error("--duration and --clients must be at least 1, --connections at least 2")
    return args


def main(argv: list[str] | None = None) -> int:
    return run_bench("storm", run, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
