"""``probe --config PATH [--sample N]``: the daily health check of a hoster's whole fleet.

Built for 100,000 domains: domains are probed ``--parallel`` at a time,
each with a network of its own that is dropped when its line is printed
(no answer outlives its domain), at most twice ``--parallel`` domains are
in flight, and the summary keeps counters and a few examples per kind of
cause, never a list the size of the fleet. One line per domain as it
finishes (JSON lines with ``--json``), then the summary; a progress bar on
standard error when that is a terminal.

The config is the operator's word for what each domain should get, so a
client that configures a mail server the config does not list for the
domain is reported too ("differs from the config"): the domain's names
point at another (an old) autoconfig service, or a proxy serves a stale
copy. Host and port are compared; how each format spells TLS differs.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter
from collections.abc import Iterator
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED
from concurrent.futures import Future
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait
from dataclasses import dataclass
from dataclasses import field

from rich.console import Console
from rich.progress import Progress

from mailautoconf.deploy import load_or_report
from mailautoconf.model import Domain
from mailautoconf.model import Provider
from mailautoconf.probe.net import MailChecks
from mailautoconf.probe.net import network_from
from mailautoconf.probe.report import ProbeReport
from mailautoconf.probe.run import probe

__all__ = ["FleetSummary", "fleet_command"]

LOCAL_PART = "postmaster"  # every domain has one (RFC 5321 section 4.5.1)
EXAMPLES = 3  # domains shown per kind of cause


# What each family's mail servers are called in the config (PACC's -03 spelling of SMTP is "submit").
_PROTOCOLS = {"IMAP": "imap", "POP3": "pop3", "SMTP": "smtp", "SUBMIT": "smtp"}


def configured(provider: Provider, domain: Domain) -> frozenset[tuple[str, str, int]]:
    """The (type, host, port) of every mail server the config gives ``domain``."""
    return frozenset((server.type, server.hostname, server.port) for server in provider.resolve_servers(domain))


def drift(report: ProbeReport, expected: frozenset[tuple[str, str, int]]) -> list[str]:
    """The servers a configuring family would set up that the config does not list for the domain."""
    found: list[str] = []
    for result in report.families:
        if result.status != "ok":
            continue
        for server in result.servers:
            kind = _PROTOCOLS.get(server.protocol)
            if kind is not None and (kind, server.host.lower().rstrip("."), server.port) not in expected:
                found.append(f"{result.family}: {server}")
    return found


@dataclass
class FleetSummary:
    domains: int = 0
    failing: int = 0
    drifting: int = 0
    families: dict[str, Counter[str]] = field(default_factory=dict)
    causes: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def add(self, report: ProbeReport, differs: Sequence[str] = ()) -> None:
        self.domains += 1
        self.failing += not report.ok
        if differs:
            self.drifting += 1
            shown = self.examples.setdefault("config", [])
            if len(shown) < EXAMPLES:
                shown.append(report.domain)
        for result in report.families:
            self.families.setdefault(result.family, Counter())[result.status] += 1
        # Each kind of cause once a domain: three refused connections are one domain with that cause.
        for kind in dict.fromkeys(_kind(report, fix.fix) for fix in report.fixes if fix.blocking):
            self.causes[kind] += 1
            shown = self.examples.setdefault(kind, [])
            if len(shown) < EXAMPLES:
                shown.append(report.domain)


def _kind(report: ProbeReport, text: str) -> str:
    """The kind of a cause (its key's prefix), so the summary stays bounded whatever the fleet's size."""
    for result in report.families:
        for cause in result.causes:
            if cause.fix == text:
                return cause.key.partition(":")[0]
    return "other"


def _domains(path: str, sample: int | None) -> tuple[int, Iterator[tuple[Provider, Domain]]] | None:
    loaded = load_or_report(path)
    if loaded is None:
        return None
    hosted = [(provider, domain) for provider in loaded.providers for domain in provider.domains]
    if sample is not None and sample < len(hosted):
        hosted = random.sample(hosted, sample)
    return len(hosted), iter(hosted)


def line(report: ProbeReport, differs: Sequence[str] = ()) -> str:
    """One line a domain: ok or FAIL, each family's status, the first fix, what differs from the config."""
    status = "ok  " if report.ok and not differs else "FAIL"
    families = " ".join(f"{r.family}={r.status}" for r in report.families)
    first = next((fix.fix for fix in report.fixes if fix.blocking), "")
    text = f"{status} {report.domain} {families}" + (f" | fix: {first}" if first else "")
    # Every mail-server certificate that fails the domain is named on its line (the seed's imap.<d> case).
    for fix in report.fixes:
        if fix.blocking and fix.fix != first and _kind(report, fix.fix).startswith("mail-tls"):
            text += f" | fix: {fix.fix}"
    return text + (f" | differs from the config: {'; '.join(differs)}" if differs else "")


def fleet_command(args: argparse.Namespace, families: Sequence[str]) -> int:
    if (args.sample is not None and args.sample < 1) or args.parallel < 1:
        print("probe: --sample and --parallel take a number of at least 1", file=sys.stderr)
        return 2
    chosen = _domains(args.config, args.sample)
    if chosen is None:
        return 1
    total, domains = chosen
    try:
        network_from(args).close()  # the options are checked once, before any domain
    except ValueError as exc:
        print(f"probe: {exc}", file=sys.stderr)
        return 2
    summary = FleetSummary()
    # --servers: one set of dialogs for the whole run, so a server many domains share is asked once.
    mail = MailChecks() if args.servers else None

    def one(provider: Provider, domain: Domain) -> tuple[ProbeReport, list[str]]:
        net = network_from(args, workers=16, mail=mail)
        try:
            report = probe(f"{LOCAL_PART}@{domain.name}", net, families, args.ca)
        finally:
            net.close()
        return report, drift(report, configured(provider, domain))

    with (
        ThreadPoolExecutor(max_workers=args.parallel, thread_name_prefix="probe-domain") as pool,
        Progress(console=_stderr(), transient=True, disable=not sys.stderr.isatty()) as progress,
    ):
        task = progress.add_task("probing", total=total)
        in_flight: set[Future[tuple[ProbeReport, list[str]]]] = set()
        exhausted = False
        while in_flight or not exhausted:
            while not exhausted and len(in_flight) < 2 * args.parallel:
                hosted = next(domains, None)
                if hosted is None:
                    exhausted = True
                else:
                    in_flight.add(pool.submit(one, *hosted))
            if not in_flight:
                break
            done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                report, differs = future.result()
                summary.add(report, differs)
                _emit(report, differs, args.json)
                progress.advance(task)
    _emit_summary(summary, args.json)
    return 0 if summary.failing == 0 and summary.drifting == 0 else 1


def _stderr() -> Console:
    return Console(file=sys.stderr)


def _emit(report: ProbeReport, differs: Sequence[str], as_json: bool) -> None:
    if as_json:
        data = {
            "domain": report.domain,
            "ok": report.ok and not differs,
            "families": {r.family: r.status for r in report.families},
            "fixes": [fix.fix for fix in report.fixes if fix.blocking],
            "differs_from_config": list(differs),
            "seconds": report.seconds,
        }
        print(json.dumps(data, ensure_ascii=False), flush=True)
    else:
        print(line(report, differs), flush=True)


def _emit_summary(summary: FleetSummary, as_json: bool) -> None:
    data = {
        "summary": {
            "domains": summary.domains,
            "failing": summary.failing,
            "differ_from_config": {"domains": summary.drifting, "examples": summary.examples.get("config", [])},
            "families": {name: dict(counts) for name, counts in summary.families.items()},
            "causes": {
                kind: {"domains": count, "examples": summary.examples[kind]}
                for kind, count in summary.causes.most_common()
            },
        }
    }
    if as_json:
        print(json.dumps(data, ensure_ascii=False))
        return
    print(f"probe: {summary.domains} domain(s), {summary.failing} failing", file=sys.stderr)
    if summary.drifting:
        examples = ", ".join(summary.examples["config"])
        print(f"  differ from the config: {summary.drifting} domain(s), e.g. {examples}", file=sys.stderr)
    for name, counts in summary.families.items():
        print(
            f"  {name}: " + ", ".join(f"{count} {status}" for status, count in sorted(counts.items())), file=sys.stderr
        )
    for kind, count in summary.causes.most_common():
        print(f"  cause {kind}: {count} domain(s), e.g. {', '.join(summary.examples[kind])}", file=sys.stderr)
