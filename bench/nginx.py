"""Benchmark the generated nginx site against raw nginx serving one static file.

The generated site (`service.py nginx`) answers the common autoconfig lookup
from the rendered tree itself: Host and emailaddress are mapped to a file
without reaching Python. This measures how close that comes to nginx's own
ceiling on this machine, in one run, with the same nginx binary, the same
worker settings and the same wrk load:

- site: GET http://autoconfig.example.org/mail/config-v1.1.xml?emailaddress=fred%40example.org
  through the generated site (in front of the real service);
- raw: GET of a static file with the same bytes from a bare `location`.

Goal: site/raw >= 0.8. Everything runs on 127.0.0.1; the service and nginx
are stopped at the end.

    python bench/nginx.py [--duration 10] [--connections 32] [--quick]
"""

from __future__ import annotations

import argparse
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # pki: a throwaway CA

from throughput import GET_HOST
from throughput import GET_PATH
from throughput import GOAL_RATIO
from throughput import LOOPBACK
from throughput import ROOT
from throughput import SHIPPED_CONFIG
from throughput import BenchError
from throughput import free_port
from throughput import http_request
from throughput import run_wrk
from throughput import servers
from throughput import start_with_retries

RAW_PATH = "/raw/config-v1.1.xml"
ROUNDS = 5  # alternating site/raw runs; the figures are their medians


def median_result(results: list[tuple[float, float, float, int]]) -> tuple[float, float, float, int]:
    """Median req/s and latencies over rounds; errors summed."""
    return (
        statistics.median(result[0] for result in results),
        statistics.median(result[1] for result in results),
        statistics.median(result[2] for result in results),
        sum(result[3] for result in results),
    )


def write_nginx(work: Path, site: str, raw_root: Path, raw_port: int) -> Path:
    """nginx.conf: the generated site plus one bare server for the raw file, same workers."""
    (work / "site.conf").write_text(site)
    temp = work / "tmp"
    temp.mkdir()
    conf = work / "nginx.conf"
    conf.write_text(
        # pcre_jit: the site's emailaddress map is a regular expression (README, Deploy).
        f"user root;\nworker_processes 1;\npcre_jit on;\npid {work}/nginx.pid;\nerror_log {work}/error.log;\n"
        "events { worker_connections 1024; }\n"
        "http {\n  access_log off;\n"
        f"  client_body_temp_path {temp};\n  proxy_temp_path {temp};\n  fastcgi_temp_path {temp};\n"
        f"  uwsgi_temp_path {temp};\n  scgi_temp_path {temp};\n"
        f"  include {work}/site.conf;\n"
        f"  server {{\n    listen {LOOPBACK}:{raw_port};\n"
        f"    location = {RAW_PATH} {{ root {raw_root}; types {{ application/xml xml; }} }}\n  }}\n"
        "}\n"
    )
    return conf


def wrk(port: int, path: str, host: str, seconds: int, connections: int) -> tuple[float, float, float, int]:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-H", f"Host: {host}"]
    result = run_wrk([*command, f"http://{LOOPBACK}:{port}{path}"], seconds)
    return result.requests_per_s, result.p50_ms, result.p99_ms, result.non_2xx_3xx + result.socket_errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run (default 10)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--quick", action="store_true", help="2 s runs, for a smoke test")
    args = parser.parse_args()
    seconds = 2 if args.quick else args.duration
    slice_seconds = max(1, seconds * 2 // ROUNDS)  # each target gets about 2 x duration in all
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    for tool in ("wrk", nginx):
        if shutil.which(tool) is None:
            print(f"{tool} is missing: apt-get install -y wrk nginx-light", file=sys.stderr)
            return 2
    from pki import CA

    work = Path(tempfile.mkdtemp(prefix="mailautoconf-nginx-bench-"))
    nginx_process = None
    try:
        config_path = work / "autoconfig.toml"
        tls = f'\n[tls]\ndirectory = "{work}/certs"\nchallenges = "{work}/acme"\n'
        config_path.write_text(SHIPPED_CONFIG.read_text(encoding="utf-8") + tls)
        ca = CA.create()
        for name in ("autoconfig", "autodiscover"):
            ca.issue_files([f"{name}.example.org"], work / "certs" / name)
        output = work / "static_xml"
        with servers() as processes:
            service = start_with_retries(
                "service",
                lambda port: [sys.executable, "service.py", "serve", "--config", str(config_path),
                              "--listen", f"{LOOPBACK}:{port}", "--output", str(output)],
                work / "service.log",
                processes,
            )  # fmt: skip
            site_port, tls_port, raw_port = free_port(), free_port(), free_port()
            site = subprocess.run(
                [sys.executable, "service.py", "nginx", "--config", str(config_path),
                 "--upstream", f"{LOOPBACK}:{service.port}", "--static-root", str(output),
                 "--http-port", str(site_port), "--https-port", str(tls_port)],
                cwd=ROOT, capture_output=True, text=True, check=True, timeout=60,
            ).stdout  # fmt: skip
            # Keep the bench on loopback: the generated site listens on all addresses.
            site = site.replace(f"listen {site_port};", f"listen {LOOPBACK}:{site_port};")
            site = site.replace(f"listen {tls_port} ssl;", f"listen {LOOPBACK}:{tls_port} ssl;")
            site = "\n".join(line for line in site.splitlines() if "listen [::]" not in line) + "\n"
            raw_root = work / "raw"
            (raw_root / "raw").mkdir(parents=True)
            status, document = http_request(service.port, "GET", GET_PATH, GET_HOST)
            if status != 200:
                raise BenchError(f"the service answered {status} to {GET_PATH}")
            (raw_root / "raw" / "config-v1.1.xml").write_bytes(document)
            conf = write_nginx(work, site, raw_root, raw_port)
            subprocess.run([nginx, "-t", "-c", str(conf)], check=True, capture_output=True, timeout=30)
            nginx_process = subprocess.Popen([nginx, "-c", str(conf), "-g", "daemon off;"], stderr=subprocess.DEVNULL)
            time.sleep(0.5)
            got = http_request(site_port, "GET", GET_PATH, GET_HOST)
            raw = http_request(raw_port, "GET", RAW_PATH, GET_HOST)
            if got != (200, document) or raw != (200, document):
                raise BenchError(f"pre-check failed: site {got[0]}, raw {raw[0]} (bodies must equal the service's)")
            # Frozen service: every request the site answers below comes from nginx alone.
            service.process.send_signal(signal.SIGSTOP)
            try:
                wrk(site_port, GET_PATH, GET_HOST, 1, args.connections)  # warm-up
                wrk(raw_port, RAW_PATH, GET_HOST, 1, args.connections)
                # Alternate short runs and take medians: this machine's speed drifts by
                # a quarter between runs a few seconds apart, which one long run each
                # would turn into a difference between the two.
                rounds = [
                    (
                        wrk(site_port, GET_PATH, GET_HOST, slice_seconds, args.connections),
                        wrk(raw_port, RAW_PATH, GET_HOST, slice_seconds, args.connections),
                    )
                    for _ in range(ROUNDS)
                ]
                site_result = median_result([site for site, _ in rounds])
                raw_result = median_result([raw for _, raw in rounds])
            finally:
                service.process.send_signal(signal.SIGCONT)
        version = subprocess.run([nginx, "-v"], capture_output=True, text=True).stderr.strip()
        print(
            f"mailautoconf nginx bench: {version}, wrk -t2 -c{args.connections}, {ROUNDS} alternating rounds of "
            f"{slice_seconds}s per target (medians), 1 worker each"
        )
        print("(the service is stopped with SIGSTOP during the runs: the site's answers come from nginx alone)")
        print(f"{'target':<48} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
        rows = (
            ("generated site, config-v1.1.xml + emailaddress", site_result),
            ("raw nginx, one static file", raw_result),
        )
        for label, (rate, p50, p99, errors) in rows:
            print(f"{label:<48} {rate:10.0f} {p50:8.2f} {p99:8.2f} {errors:7d}")
        # Each round's two runs are seconds apart: their ratio is steadier than a ratio of medians.
        ratios = [site[0] / raw[0] for site, raw in rounds]
        ratio = statistics.median(ratios)
        print(f"ratio per round: {', '.join(f'{r:.2f}' for r in ratios)}")
        verdict = "met" if ratio >= GOAL_RATIO else "NOT met"
        print(
            f"ratio site/raw (median of rounds): {ratio:.2f} "
            f"(goal >= {GOAL_RATIO}: {verdict}; reported, never enforced)"
        )
        return 0
    except (BenchError, subprocess.CalledProcessError) as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if nginx_process is not None:
            nginx_process.terminate()
            nginx_process.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
