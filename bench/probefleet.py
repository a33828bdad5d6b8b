"""What ``probe --config`` (the fleet check) costs: domains a second and peak memory, as the fleet grows.

The claim to measure (mailautoconf/probe/fleet.py): nothing of a domain
outlives its line, so the probe's memory does not grow with the number of
domains probed, only its time does. So the same deployment is probed with
samples of growing size, each in a fresh process under bench/maxrss.py,
beside the baseline measured in the same run: ``--sample 1``, which is
the config loaded, the imports and one domain.

The deployment is the real service (``service.py serve``) with a generated
config of ``--config-domains`` domains (bench/harness.py), listening on
127.0.0.1:80 in a network namespace of its own (``unshare --net``: root,
which the probe's http URLs on port 80 need), and dnsmasq on 127.0.0.1:5353
answering every name under ``.example`` with 127.0.0.1. Nothing listens on
443, so every https URL is refused at once: the figures are the probe's own
work on the http paths and DNS, not TLS. The service's own PACC check is
off (no provider opts in).

    sudo .venv/bin/python bench/probefleet.py [--config-domains 10000] [--samples 300,3000] [--parallel 8] [--quick]

Exit status 0 when the bench ran (figures are reported, not enforced), 1
when it could not run, 2 when it cannot make its namespace or dnsmasq is
missing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from harness import ROOT
from harness import BenchError
from harness import generate_config
from harness import machine
from harness import make_progress
from harness import measure_rss
from harness import run_bench
from harness import service_command
from harness import spawn
from harness import started_processes
from harness import table_line
from harness import wait_ready
from harness import work_folder

NAMESPACE_FLAG = "MAILAUTOCONF_BENCH_NAMESPACE"
DNS_PORT = 5353
DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
progress = make_progress("probefleet")


def _in_namespace() -> int | None:
    """Run this script again in a network namespace with only loopback, unless it already is; its status."""
    if os.environ.get(NAMESPACE_FLAG) == "1":
        return None
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        print("probefleet: needs root and unshare (a network namespace: port 80, nothing leaves)", file=sys.stderr)
        return 2
    script = f"ip link set lo up && exec {sys.executable} {Path(__file__).resolve()} " + " ".join(
        f"'{arg}'" for arg in sys.argv[1:]
    )
    environment = {**os.environ, NAMESPACE_FLAG: "1"}
    return subprocess.run(["unshare", "--net", "--", "sh", "-c", script], env=environment, check=False).returncode


def _run(args: argparse.Namespace) -> None:
    samples = [int(part) for part in args.samples.split(",") if part]
    if not samples or min(samples) < 2:
        raise BenchError("--samples takes sizes of 2 or more, e.g. 300,3000")
    print(f"probe --config, fleet check; {machine()}")
    with work_folder("probefleet-") as work, started_processes() as processes:
        config = work / "autoconfig.toml"
        config.write_text(generate_config(args.config_domains, max(1, args.config_domains // 1000)), encoding="utf-8")
        dns_log = work / "dnsmasq.log"
        spawn(
            [
                DNSMASQ, "--keep-in-foreground", "--no-resolv", "--no-hosts", "--bind-interfaces",
                "--listen-address=127.0.0.1", f"--port={DNS_PORT}", "--address=/example/127.0.0.1",
                f"--pid-file={work / 'dnsmasq.pid'}", "--user=root",
            ],
            dns_log,
            processes,
        )  # fmt: skip
        progress(f"rendering and serving {args.config_domains:,} domains on 127.0.0.1:80")
        service_log = work / "service.log"
        command = service_command(
            "serve", "--config", str(config), "--listen", "127.0.0.1:80", "--output", str(work / "out")
        )
        service = spawn(command, service_log, processes)
        wait_ready("service", service, 80, service_log, args.config_domains, 900.0, progress)
        rows = []
        for sample in [1, *samples]:
            progress(f"probing a sample of {sample:,} domain(s), {args.parallel} at a time")
            probe = service_command(
                "probe", "--config", str(config), "--sample", str(sample), "--parallel", str(args.parallel),
                "--resolver", f"127.0.0.1:{DNS_PORT}", "--json",
            )  # fmt: skip
            run = measure_rss(probe, timeout=3600, ok_codes=(0, 1))  # 1: some domain fails
            rows.append((sample, run.wall_s, run.maxrss_kib))
    base_sample, base_wall, base_rss = rows[0]
    widths = (10, 10, 12, 14, 16)
    print()
    print(f"== Fleet probe: {args.config_domains:,} domains served, --parallel {args.parallel} ==")
    print(table_line(("domains", "wall s", "domains/s", "peak RSS MiB", "vs baseline MiB"), widths))
    for sample, wall, rss in rows:
        rate = "-" if sample == base_sample else f"{(sample - 1) / max(wall - base_wall, 1e-9):.1f}"
        cells = (f"{sample:,}", f"{wall:.1f}", rate, f"{rss / 1024:.1f}", f"{(rss - base_rss) / 1024:+.1f}")
        print(table_line(cells, widths))
    print()
    print(
        f"baseline: --sample {base_sample} (imports, the {args.config_domains:,}-domain config, one domain). "
        "domains/s counts the domains past the baseline's one over the time past its wall time."
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config-domains", type=int, default=10_000, help="domains in the served config (10000)")
    parser.add_argument("--samples", default="300,3000", help="sample sizes to probe, comma-separated (300,3000)")
    parser.add_argument("--parallel", type=int, default=8, help="probe --parallel (8)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 200 domains served, samples 5,20")
    args = parser.parse_args()
    if args.quick:
        args.config_domains, args.samples = 200, "5,20"
    outer = _in_namespace()
    if outer is not None:
        return outer
    if not os.path.exists(DNSMASQ):
        print("probefleet: dnsmasq is not installed; on Debian: apt-get install -y dnsmasq-base", file=sys.stderr)
        return 2
    os.chdir(ROOT)
    return run_bench("probefleet", _run, args, needs_wrk=False)


if __name__ == "__main__":
    sys.exit(main())
