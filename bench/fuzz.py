"""Hostile requests to the real service, by the thousand (issue 11, section 3).

Starts ``service.py serve`` on the shipped config (a temporary copy) on a
free 127.0.0.1 port and sends 20,000 hostile raw requests, each on a fresh
connection, drawn from a seeded random generator (the same list every run):
odd Host bytes, bad request lines, raw non-ASCII query bytes, header
injection attempts, XML bombs and junk as Autodiscover bodies, wrong and
lying Content-Lengths and Content-Types, bodies past the 8 KiB cap. Prints
the requests sent, the count of each status, the 5xx count (the goal is 0;
waitress's own 501 for a transfer coding it cannot decode is counted
apart), tracebacks in answers, whether the process is still up, and its
RSS before and after.

    .venv/bin/python bench/fuzz.py [--requests 20000] [--seed 11] [--quick]
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import socket
import time
from collections import Counter

from harness import LOOPBACK
from harness import SHIPPED_CONFIG
from harness import BenchError
from harness import healthz
from harness import make_progress
from harness import process_memory_kib
from harness import run_bench
from harness import serve_command
from harness import start_server
from harness import started_processes
from harness import work_folder

progress = make_progress("fuzz")

PATHS = [
    "/mail/config-v1.1.xml",
    "/.well-known/autoconfig/mail/config-v1.1.xml",
    "/",
    "/.well-known/autoconfig/",
    "/email.mobileconfig",
    "/autodiscover/autodiscover.xml",
    "/Autodiscover/Autodiscover.xml",
    "/autodiscover/autodiscover.json",
    "/autodiscover/autodiscover.json/v1.0/fred@example.org",
    "/autodiscover/autodiscover.json/v1.0/%3Czz-injected%3E@example.org",
    "/healthz",
    "*",
    "//",
    "/%",
    "/%00",
]
QUERY_VALUES = [
    b"fred%40example.org",
    b"%3Czz-injected%3E%40example.org",
    b"%ff%fe",
    b"\x80\xff",  # raw, not percent-encoded
    b"fr\xc3\xa9d@example.org",
    b"%22%3E%3Czz-injected%3E",
    b"a" * 3000,
]
BAD_LINES = [
    b"GET / HTTP/9.9",
    b"GET / FOO/1.1",
    b"G\xffT / HTTP/1.1",
    b"GET /" + b"a" * 20000 + b" HTTP/1.1",
    b"GET http://example.org/ HTTP/1.1",
    b"GET / HTTP/1.1 extra",
    b"",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
    b"PRI * HTTP/2.0",
    b"CONNECT 127.0.0.1:22 HTTP/1.1",
]
BOMB = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol0 "lol">'
    + b"".join(f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">'.encode() for n in range(1, 10))
    + b"]><Autodiscover><Request><EMailAddress>&lol9;</EMailAddress></Request></Autodiscover>"
)
BODIES = [
    BOMB,
    b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><Autodiscover>&x;</Autodiscover>',
    b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY b "' + b"x" * 3000 + b'">]><a>' + b"&b;" * 1000 + b"</a>",
    b"<Autodiscover><Request>" + b"<a>" * 2500 + b"</a>" * 2500 + b"</Request></Autodiscover>",
    '<?xml version="1.0" encoding="utf-16"?><Autodiscover><Request><EMailAddress>fred@example.org'
    "</EMailAddress></Request></Autodiscover>".encode("utf-16"),
    b'<?xml version="1.0" encoding="x-nonsense"?><Autodiscover/>',
    b'<?xml version="1.0" encoding="Shift_JIS"?><Autodiscover/>',
    b"\xef\xbb\xbf<Autodiscover><Request><EMailAddress>&lt;zz-injected&gt;@example.org</EMailAddress></Request>"
    b"</Autodiscover>",
    b"<Autodiscover><Request><EMailAddress>fred@example.org</EMailAddress><Accept",
    b"x" * 9000,  # past the 8 KiB cap
]
TRACEBACK = re.compile(rb"Traceback \(most recent call last\)|File \"/|\b[A-Z][A-Za-z]*(?:Error|Exception): ")


def hostile_request(rng: random.Random) -> bytes:
    """One hostile raw request."""
    method = rng.choice([b"GET", b"GET", b"POST", b"HEAD", b"OPTIONS", b"PUT", b"\xff\xfe", b"get"])
    path = rng.choice(PATHS).encode()
    if rng.random() < 0.6:
        path += b"?" + rng.choice([b"emailaddress=", b"Email=", b"Protocol=", b"lang=", b""])
        path += rng.choice(QUERY_VALUES) + bytes(rng.randrange(0x21, 0x7F) for _ in range(rng.randrange(8)))
    line = method + b" " + path + b" HTTP/1.1" if rng.random() > 0.1 else rng.choice(BAD_LINES)
    host = rng.choice(
        [
            b"autoconfig.example.org",
            b"autodiscover.example.org",
            bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40))),
            b"autoconfig.example.org\r\nX-Injected: 1",
            b"autoconfig.example.org\nSet-Cookie: x=1",
            b"",
            b"a" * 70000,
            b"autoconfig..example.org",
            b'autoconfig.example.org"><zz-injected>',
        ]
    )
    headers = [b"Host: " + host]
    if rng.random() < 0.1:
        headers.append(b"Host: example.net")
    if rng.random() < 0.1:
        headers.append(rng.choice([b"Transfer-Encoding: chunked", b"Transfer-Encoding: gzip, chunked", b"X:\x00"]))
    body = b""
    if method == b"POST":
        body = (
            rng.choice(BODIES) if rng.random() < 0.7 else bytes(rng.randrange(256) for _ in range(rng.randrange(300)))
        )
        length = rng.choice([len(body), len(body), len(body), 0, len(body) + 10, 10**12, -1])
        headers.append(b"Content-Length: " + str(length).encode())
        headers.append(b"Content-Type: " + rng.choice([b"text/xml; charset=utf-8", b"application/json", b"\xff", b""]))
    headers.append(b"Connection: close")
    return line + b"\r\n" + b"\r\n".join(headers) + b"\r\n\r\n" + body


def send(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """``data`` on a fresh connection; the answer until the server closes (or the timeout)."""
    with socket.create_connection((LOOPBACK, port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # closed on a bad request before all was read
        chunks = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def run(args: argparse.Namespace) -> None:
    count = 1000 if args.quick else args.requests
    rng = random.Random(args.seed)
    with work_folder("mailautoconf-fuzz-") as work, started_processes() as processes:
        config = work / "autoconfig.toml"
        shutil.copy(SHIPPED_CONFIG, config)
        server = start_server(
            "service", lambda port: serve_command(config, work / "out", port), work / "service.log", processes
        )
        for _ in range(100):  # warm-up, not counted: imports, caches, buffers
            send(server.port, hostile_request(random.Random(0)))
        before = process_memory_kib(server.process.pid)
        statuses: Counter[str] = Counter()
        waitress_501 = tracebacks = injected = 0
        started = time.perf_counter()
        for number in range(count):
            data = hostile_request(rng)
            answer = send(server.port, data)
            match = re.match(rb"HTTP/1\.[01] (\d{3}) ", answer)
            status = match.group(1).decode() if match else "none"
            if status == "501" and b"Transfer-Encoding requested is not supported" in answer:
                waitress_501 += 1
                status = "501 (waitress, transfer coding)"
            statuses[status] += 1
            tracebacks += bool(TRACEBACK.search(answer))
            injected += b"<zz-injected" in answer or b"\r\nX-Injected" in answer or b"\r\nSet-Cookie" in answer
            if (number + 1) % 5000 == 0:
                progress(f"  ... {number + 1} requests")
        seconds = time.perf_counter() - started
        after = process_memory_kib(server.process.pid)
        alive = server.process.poll() is None and healthz(server.port)[0] == 200
        log = (work / "service.log").read_text(encoding="utf-8", errors="replace")
    if not before or not after:
        raise BenchError("no RSS: the service process vanished")
    five_xx = sum(n for status, n in statuses.items() if status.startswith("5")) - waitress_501
    print("== Fuzz: hostile raw requests to the real service ==")
    print(f"requests sent: {count} in {seconds:.1f} s (seed {args.seed})")
    for status, n in sorted(statuses.items()):
        print(f"  status {status}: {n}")
    print(f"5xx (goal 0): {five_xx}")
    print(f"waitress 501 for an undecodable transfer coding (no app error): {waitress_501}")
    print(f"answers with a traceback: {tracebacks}; with a reflected marker or injected header: {injected}")
    print(f"tracebacks in the service log: {log.count('Traceback')}")
    print(f"alive after: {'yes' if alive else 'NO'}")
    grown = (after["VmRSS"] - before["VmRSS"]) / 1024
    print(f"RSS before: {before['VmRSS'] / 1024:.1f} MiB, after: {after['VmRSS'] / 1024:.1f} MiB ({grown:+.1f} MiB)")
    print(f"peak RSS (VmHWM): {after['VmHWM'] / 1024:.1f} MiB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000, help="hostile requests to send (default 20000)")
    parser.add_argument("--seed", type=int, default=11, help="seed of the request generator (default 11)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1,000 requests")
    return run_bench("fuzz", run, parser.parse_args(), needs_wrk=False)


if __name__ == "__main__":
    raise SystemExit(main())
