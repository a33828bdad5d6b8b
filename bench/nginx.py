"""Benchmark the generated nginx site against raw nginx serving one static file, at several scales.

The generated site (`service.py nginx`) answers the common autoconfig lookup
from the rendered tree itself: the emailaddress parameter (or the Host) is
mapped to a file without reaching Python. This measures how close that
comes to nginx's own ceiling on this machine, in one run, with the same
nginx binary, the same worker and the same wrk load, for each number of
domains asked for (the shipped config for 3, else a generated one:
d00001.example ... in ten providers, by the harness's generate_config,
as bench/throughput.py makes them):

- site: GET http://autoconfig.<d>/mail/config-v1.1.xml?emailaddress=fred%40<d>
  through the generated site, for a domain in the middle of the config;
- raw: GET of a static file with the same bytes from a bare `location`;
- raw + open_file_cache: the same with the open file cache the site uses,
  so that the difference to the site is the site's own work (its maps and
  the address check) and nothing else.

Besides requests per second (which drift with whatever else the machine
runs) each row shows the nginx worker's CPU time per request, read from
/proc around each run: the steadier measure of what a request costs.

Goal: site/raw >= 0.9. The site's upstream is a port nothing listens on:
a request the site did not answer from the tree would count as an error.
Everything runs on 127.0.0.1; nginx is stopped and the folder removed at
the end. 100,000 domains take a few minutes and about 3 GB of disk for the
rendered tree.

    python bench/nginx.py [--domains 3 100000] [--duration 10] [--connections 32] [--quick]

--quick: 1 s runs, and 3 domains unless --domains says otherwise (the
test suite's smoke run).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from harness import LOOPBACK
from harness import SHIPPED_CONFIG
from harness import BenchError
from harness import exit_on_sigterm
from harness import free_port
from harness import generate_config
from harness import generated_domain
from harness import http_request
from harness import run_wrk
from harness import service_output
from harness import verdict
from harness import work_folder
from harness import write_certificate
from harness import wrk_command
from harness import wrk_threads

RAW_PATH = "/raw/config-v1.1.xml"
ROUNDS = 5  # alternating runs of each target; the figures are their medians
GOAL = 0.9
PROVIDERS = 10  # of a generated config
OPEN_FILE_CACHE = "open_file_cache max=256 inactive=20s; open_file_cache_valid 1s;"  # as the site's


@dataclass(frozen=True)
class Run:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_us: float  # nginx worker CPU time per request


@dataclass(frozen=True)
class Scale:
    """What one number of domains gave."""

    domains: int
    rows: dict[str, Run]  # target -> medians over the rounds
    ratios: list[float]  # site/raw of each round
    cached_ratios: list[float]  # site/(raw + open_file_cache) of each round
    render_s: float
    site_kib: int
    servers: int
    nginx_t_s: float


def median_run(runs: list[Run]) -> Run:
    """Median of every figure over rounds; errors summed."""
    return Run(
        statistics.median(run.requests_per_s for run in runs),
        statistics.median(run.p50_ms for run in runs),
        statistics.median(run.p99_ms for run in runs),
        sum(run.errors for run in runs),
        statistics.median(run.cpu_us for run in runs),
    )


def worker_cpu_seconds(master: int) -> float:
    """User + system CPU time of the nginx master's children (the one worker), from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for child in Path(f"/proc/{master}/task/{master}/children").read_text().split():
        fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def wrk(master: int, port: int, path: str, host: str, seconds: int, connections: int) -> Run:
    """One wrk run against ``port``, with the nginx worker's CPU time per request around it."""
    before = worker_cpu_seconds(master)
    result = run_wrk(wrk_command(port, path, host, seconds, connections), seconds)
    cpu = worker_cpu_seconds(master) - before
    return Run(result.requests_per_s, result.p50_ms, result.p99_ms, result.errors, cpu / max(result.requests, 1) * 1e6)


def write_nginx(work: Path, site: str, raw_root: Path, raw_port: int, cached_port: int) -> Path:
    """nginx.conf: the generated site plus two bare servers for the raw file, one worker for all."""
    (work / "site.conf").write_text(site)
    temp = work / "tmp"
    temp.mkdir()
    location = f"location = {RAW_PATH} {{ root {raw_root}; types {{ application/xml xml; }} }}"
    conf = work / "nginx.conf"
    conf.write_text(
        # pcre_jit: the site's emailaddress and User-Agent maps are regular expressions (docs/deploy.md).
        f"user root;\nworker_processes 1;\npcre_jit on;\npid {work}/nginx.pid;\nerror_log {work}/error.log;\n"
        "events { worker_connections 1024; }\n"
        "http {\n  access_log off;\n"
        f"  client_body_temp_path {temp};\n  proxy_temp_path {temp};\n  fastcgi_temp_path {temp};\n"
        f"  uwsgi_temp_path {temp};\n  scgi_temp_path {temp};\n"
        f"  include {work}/site.conf;\n"
        f"  server {{ listen {LOOPBACK}:{raw_port}; {location} }}\n"
        f"  server {{ listen {LOOPBACK}:{cached_port}; {OPEN_FILE_CACHE} {location} }}\n"
        "}\n"
    )
    return conf


def bench_scale(count: int, work: Path, nginx: str, seconds: int, connections: int) -> Scale:
    work.mkdir()
    if count == 3:
        text, domain = SHIPPED_CONFIG.read_text(encoding="utf-8"), "example.org"
    else:
        text, domain = generate_config(count, min(PROVIDERS, count)), generated_domain((count + 1) // 2)
    host, path = f"autoconfig.{domain}", f"/mail/config-v1.1.xml?emailaddress=fred%40{domain}"
    config_path = work / "autoconfig.toml"
    config_path.write_text(
        text + f'\n[tls]\ndirectory = "{work}/certs"\nchallenges = "{work}/acme"\n'
        f'\n[nginx]\nlisten = ["{LOOPBACK}"]\n',  # the bench stays on loopback
        encoding="utf-8",
    )
    output = work / "static_xml"
    print(f"{count:,} domains: rendering, then nginx ...", file=sys.stderr, flush=True)
    started = time.monotonic()
    service_output("render", "--config", str(config_path), "--output", str(output))
    render_s = time.monotonic() - started
    # One certificate behind every alias the site names: nginx loads each, the bench speaks http.
    one = work / "one-certificate"
    write_certificate([host], one)
    (work / "certs").mkdir()
    for line in service_output("certs", "--config", str(config_path), "--format", "dehydrated").splitlines():
        (work / "certs" / line.rsplit(" > ", 1)[1]).symlink_to(one)
    site_port, tls_port, raw_port, cached_port, dead_port = (free_port() for _ in range(5))
    site = service_output(
        "nginx", "--config", str(config_path), "--upstream", f"{LOOPBACK}:{dead_port}", "--static-root", str(output),
        "--http-port", str(site_port), "--https-port", str(tls_port),
    )  # fmt: skip
    document = (output / "current" / domain / "mail" / "config-v1.1.xml").read_bytes()
    raw_root = work / "raw"
    (raw_root / "raw").mkdir(parents=True)
    (raw_root / "raw" / "config-v1.1.xml").write_bytes(document)
    conf = write_nginx(work, site, raw_root, raw_port, cached_port)
    started = time.monotonic()
    checked = subprocess.run([nginx, "-t", "-c", str(conf)], capture_output=True, text=True, timeout=300)
    nginx_t_s = time.monotonic() - started
    if checked.returncode != 0 or "[warn]" in checked.stderr:
        raise BenchError(f"nginx -t:\n{checked.stderr[-2000:]}")
    process = subprocess.Popen([nginx, "-c", str(conf), "-g", "daemon off;"], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                got = http_request(site_port, "GET", path, host)
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise BenchError("nginx did not start") from None
                time.sleep(0.1)
        raw = http_request(raw_port, "GET", RAW_PATH, host)
        cached = http_request(cached_port, "GET", RAW_PATH, host)
        if got != (200, document) or raw != (200, document) or cached != (200, document):
            raise BenchError(f"pre-check failed: site {got[0]}, raw {raw[0]}, raw+cache {cached[0]} (same bytes?)")
        targets = {
            "site": (site_port, path),
            "raw": (raw_port, RAW_PATH),
            "cached": (cached_port, RAW_PATH),
        }
        for port, target_path in targets.values():  # warm-up
            wrk(process.pid, port, target_path, host, 1, connections)
        # Alternate short runs and take medians: this machine's speed drifts by a
        # quarter between runs a few seconds apart, which one long run each would
        # turn into a difference between the targets.
        rounds = [
            {
                name: wrk(process.pid, port, target_path, host, seconds, connections)
                for name, (port, target_path) in targets.items()
            }
            for _ in range(ROUNDS)
        ]
    finally:
        process.terminate()
        process.wait(timeout=30)
    return Scale(
        domains=count,
        rows={name: median_run([one_round[name] for one_round in rounds]) for name in targets},
        ratios=[one_round["site"].requests_per_s / one_round["raw"].requests_per_s for one_round in rounds],
        cached_ratios=[one_round["site"].requests_per_s / one_round["cached"].requests_per_s for one_round in rounds],
        render_s=render_s,
        site_kib=len(site.encode()) // 1024,
        servers=site.count("ssl_certificate "),
        nginx_t_s=nginx_t_s,
    )


def report(scale: Scale) -> None:
    labels = {
        "site": "generated site, config-v1.1.xml + emailaddress",
        "raw": "raw nginx, one static file",
        "cached": "raw nginx + open_file_cache, same file",
    }
    print(
        f"\n== {scale.domains:,} domains: rendered in {scale.render_s:.0f} s; site {scale.site_kib:,} KiB, "
        f"{scale.servers:,} https servers; nginx -t {scale.nginx_t_s:.1f} s, no warnings =="
    )
    print(f"{'target':<48} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'cpu us/req':>10} {'errors':>7}")
    for name, label in labels.items():
        run = scale.rows[name]
        figures = f"{run.requests_per_s:10.0f} {run.p50_ms:8.2f} {run.p99_ms:8.2f} {run.cpu_us:10.2f}"
        print(f"{label:<48} {figures} {run.errors:7d}")
    # Each round's runs are seconds apart: their ratio is steadier than a ratio of medians.
    ratio = statistics.median(scale.ratios)
    print(f"ratio per round: {', '.join(f'{r:.2f}' for r in scale.ratios)}")
    goal = f"goal >= {GOAL}: {verdict(ratio >= GOAL)}"
    print(f"ratio site/raw (median of rounds): {ratio:.2f} ({goal}; reported, never enforced)")
    cpu = scale.rows["raw"].cpu_us / scale.rows["site"].cpu_us
    print(f"cpu per request raw/site: {cpu:.2f} (the same ratio in CPU time, steadier under other load)")
    print(
        f"ratio site/(raw + open_file_cache): {statistics.median(scale.cached_ratios):.2f} "
        "(what the maps and the address check cost)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--domains", type=int, nargs="+", metavar="N", help="numbers of domains (default 3 100000)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per target and scale (default 10)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--quick", action="store_true", help="1 s runs, 3 domains, for a smoke test")
    args = parser.parse_args()
    seconds = 1 if args.quick else args.duration
    counts = args.domains or ([3] if args.quick else [3, 100_000])
    if any(count < 3 for count in counts):
        parser.error("--domains: at least 3")
    slice_seconds = max(1, seconds * 2 // ROUNDS)  # each target gets about 2 x duration in all
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    for tool in ("wrk", nginx):
        if shutil.which(tool) is None:
            print(f"{tool} is missing: apt-get install -y wrk nginx-light", file=sys.stderr)
            return 2
    exit_on_sigterm()
    try:
        with work_folder("mailautoconf-nginx-bench-") as work:
            scales = [
                bench_scale(count, work / f"domains-{count}", nginx, slice_seconds, args.connections)
                for count in counts
            ]
    except (BenchError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1
    version = subprocess.run([nginx, "-v"], capture_output=True, text=True).stderr.strip()
    print(
        f"mailautoconf nginx bench: {version}, wrk -t{wrk_threads(args.connections)} -c{args.connections}, "
        f"{ROUNDS} alternating rounds of {slice_seconds}s per target (medians), 1 worker for all targets"
    )
    print("(the site's upstream is a closed port: its answers come from nginx alone, or count as errors)")
    for scale in scales:
        report(scale)
    if len(scales) > 1:
        print("\n== side by side ==")
        print(f"{'domains':>9} {'site req/s':>11} {'raw req/s':>10} {'site/raw':>9} {'cpu raw/site':>13}")
        for scale in scales:
            site_run, raw_run = scale.rows["site"], scale.rows["raw"]
            print(
                f"{scale.domains:9,} {site_run.requests_per_s:11.0f} {raw_run.requests_per_s:10.0f} "
                f"{statistics.median(scale.ratios):9.2f} {raw_run.cpu_us / site_run.cpu_us:13.2f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
