"""What the walks share: the target, the clients' request headers and redirect rules, and steps from answers.

A failing step carries its :class:`~mailautoconf.probe.report.Cause`: the
first thing wrong on its way, named by what the admin must change (a DNS
name, a certificate, a status, a Content-Type), not by the symptom a
client shows later. The same cause met by several clients is one key, so
the summary counts whom fixing it helps.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import replace

from mailautoconf import names
from mailautoconf.endpoints import AUTOCONFIG
from mailautoconf.endpoints import AUTODISCOVER_POX
from mailautoconf.probe.net import Network
from mailautoconf.probe.net import Redirects
from mailautoconf.probe.report import Cause
from mailautoconf.probe.report import DnsAnswer
from mailautoconf.probe.report import Exchange
from mailautoconf.probe.report import FamilyResult
from mailautoconf.probe.report import Step
from mailautoconf.probe.report import Verdict
from mailautoconf.probe.verdicts import Judgement

__all__ = [
    "AUTOCONFIG_PATH",
    "POX_PATH",
    "WELL_KNOWN_PATH",
    "Target",
    "dns_cause",
    "exchange_cause",
    "exchange_step",
    "family",
    "first_mx",
    "mx_domains",
    "skipped",
]

AUTOCONFIG_PATH, WELL_KNOWN_PATH = AUTOCONFIG.paths  # asked on autoconfig.<d>, and on <d> itself
POX_PATH = AUTODISCOVER_POX.path
AGENT_SUFFIX = " (mailautoconf probe)"  # after the client's own: servers that match its prefix still do


@dataclass(frozen=True)
class Target:
    """The address probed and the network to probe it through."""

    address: str
    domain: str  # A-label
    net: Network

    @property
    def local(self) -> str:
        return self.address.rpartition("@")[0]


def query(params: dict[str, str]) -> str:
    return ("?" + urllib.parse.urlencode(params)) if params else ""


def _host_of(url: str) -> tuple[str, int, str]:
    parts = urllib.parse.urlsplit(url)
    return (parts.hostname or ""), parts.port or (443 if parts.scheme == "https" else 80), parts.path


def dns_cause(answers: Sequence[DnsAnswer], host: str) -> Cause:
    statuses = {answer.status for answer in answers}
    if "error" in statuses:
        return Cause(f"dns-error:{host}", f"DNS gives no answer for {host}: fix the zone's name servers")
    if statuses == {"nxdomain"}:
        return Cause(
            f"dns:{host}",
            f"{host} does not exist in DNS: add it (a CNAME to the autoconfig service, or A/AAAA records)",
        )
    return Cause(f"dns:{host}", f"{host} has no A or AAAA record: point it at the autoconfig service")


def _common_name_cause(host: str) -> Cause:
    """One cause whether the client refused the certificate or its library let the Common Name pass."""
    return Cause(
        f"tls-cn:{host}",
        f"the certificate served for {host} names it in its Common Name only: issue it again with {host} as a "
        "subjectAltName (Thunderbird, Thunderbird for Android and Apple devices read nothing else)",
    )


def exchange_cause(exchange: Exchange, client: str) -> Cause:
    """The cause of a request that got no answer, or a non-2xx one."""
    host, port, path = _host_of(exchange.final_url if exchange.hops else exchange.url)
    if exchange.error_kind == "dns":
        return dns_cause(exchange.dns, host)
    if exchange.error_kind == "tls" and exchange.tls is not None:
        kind = exchange.tls.problem_kind
        if kind == "expired":
            return Cause(f"tls-expired:{host}", f"renew the certificate of {host}: {exchange.tls.problem}")
        if kind == "expired-chain":
            return Cause(
                f"tls-chain:{host}",
                f"{host}: {exchange.tls.problem}: serve the certificate with its CA's current chain "
                "(the intermediate the CA issues with it now)",
            )
        if kind == "name":
            return Cause(
                f"tls-name:{host}", f"the certificate served for {host} does not cover it: add {host} to a certificate"
            )
        if kind == "common-name":
            return _common_name_cause(host)
        return Cause(f"tls:{host}", f"{host}: {exchange.tls.problem}")
    if exchange.error_kind in ("connect", "timeout"):
        return Cause(f"connect:{host}:{port}", exchange.error)
    if exchange.error_kind == "redirect":
        return Cause(f"redirect:{host}{path}", exchange.error)
    if exchange.error:
        return Cause(f"http:{host}", exchange.error)
    return Cause(f"status:{host}{path}", f"{host}{path} answers {exchange.status}: the document is not served there")


def exchange_step(
    label: str,
    exchange: Exchange,
    judge: Callable[[Exchange], Judgement],
    client: str,
    *,
    success: Callable[[Exchange], bool] = lambda e: e.status is not None and 200 <= e.status < 300,
) -> Step:
    """A step from one request: its failure on the way, a status the client does not take, or the judge's verdict."""
    if exchange.error or not success(exchange):
        reason = exchange.error or f"status {exchange.status}"
        if exchange.truncated:
            reason += " (the answer is larger than the probe reads)"
        return Step(
            label, Verdict.FAIL, reason, exchange.url, exchange, exchange.dns, cause=exchange_cause(exchange, client)
        )
    if exchange.truncated:
        host, _, path = _host_of(exchange.final_url)
        reason = f"the answer is larger than {len(exchange.body) // 1024} KiB: no client reads a document that size"
        return Step(
            label,
            Verdict.FAIL,
            reason,
            exchange.url,
            exchange,
            exchange.dns,
            cause=Cause(f"size:{host}{path}", f"{host}{path}: {reason}"),
        )
    judgement = judge(exchange)
    cause = None
    tls = exchange.tls
    if judgement.verdict is Verdict.OK and tls is not None and tls.warning:
        # It works for this client; the certificate is still a finding (other clients refuse it, or may).
        host, _, _ = _host_of(exchange.final_url)
        cause = (
            _common_name_cause(host)
            if tls.warning_kind == "common-name"
            else Cause(f"tls-{tls.warning_kind or 'warning'}:{host}", f"{host}: {tls.warning}")
        )
        judgement = replace(judgement, verdict=Verdict.WARN, notes=(*judgement.notes, f"TLS: {tls.warning}"))
    if judgement.verdict is Verdict.FAIL:
        host, _, path = _host_of(exchange.final_url)
        if "Content-Type" in judgement.reason:
            cause = Cause(
                f"content-type:{host}",
                f"{host} serves {path} with the wrong Content-Type ({exchange.content_type or 'none'}): "
                "serve application/xml (is a proxy in front rewriting it?)",
            )
        else:
            cause = Cause(f"document:{client}:{host}{path}", f"{host}{path}: {judgement.reason}")
    notes = "; ".join(judgement.notes)
    reason = judgement.reason + (f" ({notes})" if notes else "")
    return Step(label, judgement.verdict, reason, exchange.url, exchange, exchange.dns, judgement.servers, cause)


def skipped(step: Step, why: str) -> Step:
    """``step`` shown but not counted: the client never gets to it."""
    return Step(step.label, Verdict.SKIP, f"{why} (it would be: {step.reason})", step.url, step.exchange, step.dns)


def first_mx(target: Target) -> tuple[str | None, DnsAnswer]:
    """The most preferred MX host (the only one both Thunderbirds use), and the answer."""
    answer = target.net.dns(target.domain, "MX")
    if answer.status != "ok":
        return None, answer
    ranked = []
    for value in answer.values:
        preference, _, host = value.partition(" ")
        if preference.isdigit() and host.strip(".") and host != ".":
            ranked.append((int(preference), host.lower().rstrip(".")))
    return (min(ranked)[1] if ranked else None), answer


def mx_domains(target: Target, mx_host: str) -> tuple[str, ...]:
    """The MX full and base domains to ask, or () when the base domain is the user's own (both skip then)."""
    domains = names.mx_lookup_domains(mx_host)
    if not domains or domains[-1] == target.domain:
        return ()
    return domains


def family(
    name: str,
    title: str,
    groups: Sequence[Sequence[Step]],
    *,
    failed_summary: str,
    notes: Sequence[str] = (),
    absent: bool = False,
) -> FamilyResult:
    """The family's result from its paths (``groups``, each in priority order, the groups too).

    It configures itself from the first used step. Its causes are the first
    failure of each path it tried before that one (on a failing family: of
    every path): fixing the highest-priority step of a path is what makes
    the path work, whatever fails after it.
    """
    steps = [step for group in groups for step in group]
    causes: list[Cause] = []
    used: Step | None = None
    for group in groups:
        first_failure = next((s for s in group if s.verdict is Verdict.FAIL and s.cause is not None), None)
        winner = next((step for step in group if step.used), None)
        if winner is not None and (first_failure is None or group.index(winner) < group.index(first_failure)):
            first_failure = None
        if first_failure is not None and first_failure.cause is not None:
            causes.append(first_failure.cause)
        if winner is not None:
            used = winner
            break
    if used is not None and used.verdict is Verdict.WARN:
        notes = (*notes, f"{used.label}: {used.reason}")
        if used.cause is not None:  # it works, but there is something to fix (it degrades, does not block)
            causes.append(used.cause)
    unique = tuple(dict((cause.key, cause) for cause in causes).values())
    if used is not None:
        return FamilyResult(
            name,
            title,
            "ok",
            f"configures {', '.join(map(str, used.servers))}",
            tuple(steps),
            used.servers,
            used.label,
            tuple(notes),
            unique,
        )
    if absent:
        return FamilyResult(name, title, "absent", failed_summary, tuple(steps), notes=tuple(notes))
    first = next((step for step in steps if step.verdict is Verdict.FAIL), None)
    summary = f"{failed_summary}; first: {first.label}: {first.reason}" if first is not None else failed_summary
    return FamilyResult(name, title, "fail", summary, tuple(steps), notes=tuple(notes), causes=unique)


def answered_2xx(step: Step) -> bool:
    return step.exchange is not None and not step.exchange.error and (step.exchange.status or 0) // 100 == 2


def first_success(steps: list[Step], *, stop: Callable[[Step], bool] | None, why: str) -> list[Step]:
    """Mark the winner in priority order: the first usable step, unless an earlier one for which ``stop``
    holds decided already (Thunderbird desktop stops at the first 2xx, Evolution at the first well-formed
    2xx, even when they cannot use it; Thunderbird for Android and Outlook go on to the next URL)."""
    out: list[Step] = []
    decided = False
    for step in steps:
        if decided:
            out.append(skipped(step, why))
            continue
        if step.verdict in (Verdict.OK, Verdict.WARN):
            out.append(replace(step, used=True))
            decided = True
        else:
            out.append(step)
            decided = stop is not None and stop(step)
    return out


BROWSER = Redirects("this client")
