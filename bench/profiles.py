"""Benchmark Apple configuration profiles: unsigned, signed (RSA-2048, EC P-256), each beside its baseline (issue 10).

Why it is measured this way:

* ``GET /email.mobileconfig?emailaddress=...`` is the one endpoint that does
  work per request on top of the lookup: the profile is filled in for the
  address and, with ``[signing]``, signed as CMS SignedData. wrk sends a
  distinct address in every request (bench/profile_addresses.lua), so no
  answer is one the service has just made.
* Three services run side by side from the shipped config: without
  ``[signing]``, and with it for a throwaway RSA-2048 certificate (what most
  ACME certificates are) and an EC P-256 one. Each certificate is issued by
  a throwaway intermediate of its own kind, and ``fullchain.pem`` holds
  both, as an ACME client writes it: the signature carries the chain, so the
  answer is as large as a real one.
* Each service has a baseline (bench/baseline_app.py: Flask + waitress with
  the service's own waitress settings, answering a constant body of the
  same size and Content-Type), measured in the same run with the same wrk
  script, so service/baseline says what the service's own work costs, not
  how fast this machine is.
* This machine's speed drifts between runs seconds apart, so the six
  targets are measured in alternating rounds; the table shows medians and
  the ratios are medians of each round's ratio. Each target's CPU time
  per request (utime + stime from /proc around the run) is the steadier
  figure: signed minus unsigned is what signing costs per request. For
  comparison, ``Signer.sign`` of one profile is also timed in this process.

Before anything is measured every target must answer 200 with the right
Content-Type, and one signed answer of each kind must be read by
``openssl cms -verify -noverify`` and embed exactly the unsigned profile of
the same address. Only 127.0.0.1 is contacted; every process is stopped
and the temporary folder (with the throwaway keys) removed at the end.
Exit status: 0 when the bench ran, 1 when it could not, 2 when wrk is missing.

    .venv/bin/python bench/profiles.py [--duration 10] [--connections 32] [--rounds 3] [--quick]
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness import BENCH
from harness import LOOPBACK
from harness import ROOT
from harness import SHIPPED_CONFIG
from harness import BenchError
from harness import Server
from harness import machine
from harness import make_progress
from harness import run_bench
from harness import run_wrk
from harness import serve_command
from harness import start_server
from harness import started_processes
from harness import table_line
from harness import work_folder
from harness import wrk_command
from harness import wrk_threads
from harness import wrk_version

BASELINE_APP = BENCH / "baseline_app.py"
ADDRESS_SCRIPT = BENCH / "profile_addresses.lua"
PATH = "/email.mobileconfig"
DOMAIN = "example.org"
HOST = f"autoconfig.{DOMAIN}"
CONTENT_TYPE = "application/x-apple-aspen-config"
ROUNDS = 3  # alternating rounds of every target; the table gives medians
SIGN_SAMPLES = 200  # in-process Signer.sign calls timed per key
KINDS = ("unsigned", "rsa", "ec")
LABELS = {"unsigned": "unsigned", "rsa": "signed RSA-2048", "ec": "signed EC P-256"}

progress = make_progress("profiles")


def profile_address(thread: int, counter: int) -> str:
    """The address bench/profile_addresses.lua sends as request ``counter`` of wrk thread ``thread``."""
    return f"u{thread}-{counter % 10_000_000:07d}@{DOMAIN}"


def profile_path(address: str) -> str:
    """The request path for ``address``, its ``@`` escaped as wrk's script escapes it."""
    return f"{PATH}?emailaddress={address.replace('@', '%40')}"


# -- certificates --------------------------------------------------------------------


def write_chain(kind: str, folder: Path) -> tuple[Path, Path]:
    """``fullchain.pem`` (leaf + intermediate) and ``privkey.pem`` of a throwaway ``kind`` ("rsa" or "ec") leaf.

    Shaped like what an ACME client writes, so the signed answers carry a
    chain as large as a real one: the leaf for the service's name, issued
    by an intermediate with a key of the same kind, valid for 90 days (so
    the service's expiry warning stays quiet). Nobody verifies it.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    def new_key() -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
        if kind == "rsa":
            return rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return ec.generate_private_key(ec.SECP256R1())

    now = datetime.datetime.now(datetime.UTC)
    issuer_key, leaf_key = new_key(), new_key()
    issuer_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"mailautoconf bench {kind} intermediate")])
    issuer = (
        x509.CertificateBuilder()
        .subject_name(issuer_name)
        .issuer_name(issuer_name)
        .public_key(issuer_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(issuer_key, hashes.SHA256())
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)]))
        .issuer_name(issuer_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(issuer_key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    chain, private = folder / "fullchain.pem", folder / "privkey.pem"
    chain.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (leaf, issuer)))
    private.write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    private.chmod(0o600)
    return chain, private


def write_config(kind: str, folder: Path) -> Path:
    """The shipped config in ``folder``; for a signed ``kind``, with ``[signing]`` naming its chain (relative paths)."""
    folder.mkdir(parents=True)
    text = SHIPPED_CONFIG.read_text(encoding="utf-8")
    if kind != "unsigned":
        write_chain(kind, folder / "tls")
        # Relative to the config's folder, as an admin would write it next to the config.
        text += '\n[signing]\ncertificate = "tls/fullchain.pem"\nkey = "tls/privkey.pem"\n'
    config = folder / "autoconfig.toml"
    config.write_text(text, encoding="utf-8")
    return config


# -- checks ----------------------------------------------------------------------------


def get(port: int, path: str) -> tuple[int, str, bytes]:
    """One GET on a fresh connection: status, Content-Type, body."""
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=10)
    try:
        connection.request("GET", path, headers={"Host": HOST})
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        connection.close()


def checked_answer(target: Server, address: str) -> bytes:
    """The body answered for ``address``; BenchError unless it is a 200 profile (measuring 400s would be useless)."""
    status, content_type, body = get(target.port, profile_path(address))
    if status != 200 or content_type != CONTENT_TYPE:
        raise BenchError(f"{target.name}: GET {profile_path(address)} answered {status} {content_type}: {body[:200]!r}")
    return body


def embedded_content(signed: bytes, folder: Path) -> bytes:
    """The content of a DER CMS SignedData answer, read by openssl (cryptography's loader without openssl).

    ``-noverify``: the throwaway chain leads to no trusted root; what matters
    is that the answer parses as SignedData and carries the profile.
    """
    der = folder / "answer.der"
    der.write_bytes(signed)
    if shutil.which("openssl") is None:
        from cryptography.hazmat.primitives.serialization import pkcs7

        if not pkcs7.load_der_pkcs7_certificates(signed):
            raise BenchError("the signed answer holds no certificates")
        return b""  # the loader gives the certificates only, not the content
    content = folder / "answer.plist"
    command = ["openssl", "cms", "-verify", "-inform", "DER", "-noverify", "-in", str(der), "-out", str(content)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    if result.returncode != 0:
        raise BenchError(f"openssl cms -verify cannot read the signed answer:\n{result.stderr[-1000:]}")
    return content.read_bytes()


def precheck(services: dict[str, Server], work: Path) -> dict[str, int]:
    """Every service answers 200 profiles; each signed one embeds the unsigned answer. The body size per kind.

    Two unsigned answers for the first and the last address wrk sends must be
    of one size, or one constant baseline body could not stand for them all
    (EC signatures vary by a byte or two: DER integers).
    """
    first, last = profile_address(0, 1), profile_address(1, 9_999_999)
    unsigned = checked_answer(services["unsigned"], first)
    if b"<plist" not in unsigned or first.encode() not in unsigned:
        raise BenchError(f"the unsigned answer is not a profile for {first}: {unsigned[:200]!r}")
    if len(checked_answer(services["unsigned"], last)) != len(unsigned):
        raise BenchError(f"the unsigned answers for {first} and {last} differ in size")
    sizes = {"unsigned": len(unsigned)}
    for kind in KINDS[1:]:
        body = checked_answer(services[kind], first)
        sizes[kind] = len(body)
        content = embedded_content(body, work)
        if content and content != unsigned:
            raise BenchError(f"{services[kind].name}: the signed answer does not embed the unsigned profile")
        how = "openssl cms -verify -noverify: the unsigned profile" if content else "cryptography: certificates"
        progress(f"{LABELS[kind]}: {len(body)} bytes, read by {how}")
    return sizes


def check_baseline(target: Server, size: int) -> None:
    """A baseline answers 200, the profile Content-Type, ``size`` bytes."""
    body = checked_answer(target, profile_address(0, 1))
    if len(body) != size:
        raise BenchError(f"{target.name} answered {len(body)} bytes, not {size}")


# -- measuring ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One wrk run against one target, with the target process's CPU time per request."""

    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    cpu_us: float  # user + system CPU time of the server process per request


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def wrk(target: Server, seconds: int, connections: int) -> Run:
    """One wrk run of distinct-address profile GETs against ``target``, CPU time read around it."""
    command = wrk_command(target.port, PATH, HOST, seconds, connections, (ADDRESS_SCRIPT, DOMAIN))
    before = cpu_seconds(target.process.pid)
    result = run_wrk(command, seconds)
    cpu = cpu_seconds(target.process.pid) - before
    return Run(
        result.requests_per_s,
        result.p50_ms,
        result.p99_ms,
        result.requests,
        result.errors,
        cpu / max(result.requests, 1) * 1e6,
    )


def median_run(runs: list[Run]) -> Run:
    """Median of each figure over the rounds; requests and errors summed."""
    return Run(
        statistics.median(run.requests_per_s for run in runs),
        statistics.median(run.p50_ms for run in runs),
        statistics.median(run.p99_ms for run in runs),
        sum(run.requests for run in runs),
        sum(run.errors for run in runs),
        statistics.median(run.cpu_us for run in runs),
    )


def measure(
    targets: dict[str, Server], rounds: int, seconds: int, warmup: int, connections: int
) -> list[dict[str, Run]]:
    """A warm-up of each target, then ``rounds`` rounds of one run per target, in the same order each round."""
    for name, target in targets.items():
        progress(f"warm-up {name} ({warmup} s)")
        wrk(target, warmup, connections)
    results = []
    for number in range(1, rounds + 1):
        progress(f"round {number} of {rounds}: {len(targets)} targets x {seconds} s")
        results.append({name: wrk(target, seconds, connections) for name, target in targets.items()})
    return results


def time_signing(configs: dict[str, Path], content: bytes, samples: int) -> dict[str, float]:
    """Median µs of ``Signer.sign(content)`` per signed kind, in this process, with the services' own files.

    Loaded through mailautoconf.render.signing as the service loads them, so it is
    the same call the service makes per request, without HTTP around it.
    """
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from mailautoconf.model import SigningSettings
    from mailautoconf.render import signing

    timings: dict[str, float] = {}
    for kind, config in configs.items():
        folder = config.parent / "tls"
        signer, _ = signing.load(SigningSettings(str(folder / "fullchain.pem"), str(folder / "privkey.pem")))
        signer.sign(content)
        spent = []
        for _ in range(samples):
            started = time.perf_counter()
            signer.sign(content)
            spent.append(time.perf_counter() - started)
        timings[kind] = statistics.median(spent) * 1e6
    return timings


# -- report --------------------------------------------------------------------------------


def report(
    rounds: list[dict[str, Run]], sizes: dict[str, int], signing_us: dict[str, float], args: argparse.Namespace
) -> None:
    """The table (service beside its baseline per kind), the ratios, and what signing costs per request."""
    names = list(rounds[0])
    medians = {name: median_run([one[name] for one in rounds]) for name in names}

    def ratio(mine: str, other: str) -> float:
        """Median over rounds of mine/other req/s: runs seconds apart are steadier than medians divided."""
        return statistics.median(one[mine].requests_per_s / one[other].requests_per_s for one in rounds)

    print(
        f"\n== Profiles: GET {PATH}, distinct addresses, wrk -t{wrk_threads(args.connections)} "
        f"-c{args.connections} -d{args.duration}s, {len(rounds)} alternating round(s), medians =="
    )
    header = ["answer", "bytes", "service req/s", "baseline req/s", "ratio", "service p50/p99 ms"]
    header += ["baseline p50/p99 ms", "service cpu us/req", "baseline cpu us/req", "errors"]
    widths = [15, 6, 13, 14, 5, 18, 19, 18, 19, 6]
    print(table_line(header, widths))
    for kind in KINDS:
        mine, ceiling = medians[kind], medians[f"baseline {kind}"]
        cells = [
            LABELS[kind],
            str(sizes[kind]),
            f"{mine.requests_per_s:.0f}",
            f"{ceiling.requests_per_s:.0f}",
            f"{ratio(kind, f'baseline {kind}'):.2f}",
            f"{mine.p50_ms:.2f} / {mine.p99_ms:.2f}",
            f"{ceiling.p50_ms:.2f} / {ceiling.p99_ms:.2f}",
            f"{mine.cpu_us:.0f}",
            f"{ceiling.cpu_us:.0f}",
            str(mine.errors + ceiling.errors),
        ]
        print(table_line(cells, widths))
    print("ratio: service/baseline req/s; errors: non-2xx/3xx answers and socket errors of service and baseline")
    unsigned = medians["unsigned"]
    for kind in KINDS[1:]:
        signed = medians[kind]
        by_rate = (1 / signed.requests_per_s - 1 / unsigned.requests_per_s) * 1e6
        print(
            f"{LABELS[kind]}: signed/unsigned req/s {ratio(kind, 'unsigned'):.2f}; signing per request: "
            f"+{signed.cpu_us - unsigned.cpu_us:.0f} us CPU, +{by_rate:.0f} us from req/s, "
            f"Signer.sign alone {signing_us[kind]:.0f} us (median of {SIGN_SAMPLES}, in-process)"
        )
    print(f"requests per target: {', '.join(f'{name} {run.requests}' for name, run in medians.items())}")


# -- main ------------------------------------------------------------------------------------


def baseline_command(size: int) -> Callable[[int], list[str]]:
    """``make_command`` for a baseline answering ``size`` bytes as a profile."""

    def command(port: int) -> list[str]:
        return [
            sys.executable,
            str(BASELINE_APP),
            "--port",
            str(port),
            "--get-bytes",
            str(size),
            "--content-type",
            CONTENT_TYPE,
        ]

    return command


def run(args: argparse.Namespace) -> None:
    from baseline_app import service_waitress_settings  # bench/ is on sys.path: this file's folder

    print(f"mailautoconf profile bench: {wrk_version()}, {machine()}")
    print(f"waitress settings of service.py serve, used by every target: {service_waitress_settings()}")
    with work_folder("mailautoconf-profiles-") as work:
        progress("writing configs and throwaway certificates (RSA-2048, EC P-256)")
        configs = {kind: write_config(kind, work / kind) for kind in KINDS}
        with started_processes() as processes:
            services: dict[str, Server] = {}
            for kind, config in configs.items():
                services[kind] = start_server(
                    f"service {kind}",
                    lambda port, config=config, kind=kind: serve_command(config, work / f"served-{kind}", port),
                    work / f"service-{kind}.log",
                    processes,
                )
            sizes = precheck(services, work)
            baselines: dict[str, Server] = {}
            for kind in KINDS:
                baselines[kind] = start_server(
                    f"baseline {kind}", baseline_command(sizes[kind]), work / f"baseline-{kind}.log", processes
                )
                check_baseline(baselines[kind], sizes[kind])
            print(
                "pre-check: every target answers 200 "
                f"{CONTENT_TYPE}; bytes: {', '.join(f'{LABELS[k]} {sizes[k]}' for k in KINDS)}; "
                "baselines the same sizes"
            )
            content = get(services["unsigned"].port, profile_path(profile_address(0, 1)))[2]
            signing_us = time_signing({kind: configs[kind] for kind in KINDS[1:]}, content, SIGN_SAMPLES)
            targets: dict[str, Server] = {}
            for kind in KINDS:
                targets[kind] = services[kind]
                targets[f"baseline {kind}"] = baselines[kind]
            rounds = measure(targets, args.rounds, args.duration, args.warmup, args.connections)
            report(rounds, sizes, signing_us, args)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark Apple profiles (unsigned, signed RSA and EC) against Flask+waitress baselines."
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run (default 10)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help=f"alternating rounds (default {ROUNDS})")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 round of 1 s runs, 1 s warm-ups")
    args = parser.parse_args(argv)
    if args.duration < 1 or args.connections < 1 or args.rounds < 1:
        parser.error("--duration, --connections and --rounds must be at least 1")
    args.warmup = 2
    if args.quick:
        args.duration, args.warmup, args.rounds = 1, 1, 1
    return args


def main(argv: list[str] | None = None) -> int:
    return run_bench("bench", run, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
