"""Calendars and contacts: RFC 6764's SRV and TXT records, and the well-known redirects (docs/clients.md 7).

For each of CalDAV and CardDAV: ``_caldavs._tcp.<d>`` SRV with its TXT
``path=`` beside it (Thunderbird and Evolution build the URL from both),
and ``PROPFIND https://<d>/.well-known/caldav`` answered with a redirect
(DAVx5, Apple, Thunderbird without SRV). The redirect is read, not
followed: its target is the DAV server, which would ask for a password.
A domain with neither is *absent*, not failing: not every provider has
calendars.
"""

from __future__ import annotations

from mailautoconf import dav
from mailautoconf.pacc import digest
from mailautoconf.probe.report import Cause
from mailautoconf.probe.report import FamilyResult
from mailautoconf.probe.report import MailServer
from mailautoconf.probe.report import Step
from mailautoconf.probe.report import Verdict
from mailautoconf.probe.steps import Target
from mailautoconf.probe.steps import exchange_cause
from mailautoconf.probe.steps import family

__all__ = ["NAME", "walk"]

NAME = "dav"
TITLE = "Calendars and contacts"
AGENT = "DAVx5/4.4 (mailautoconf probe)"


def _path(values: tuple[str, ...]) -> str | None:
    for value in values:
        text = digest.txt_text(value)  # zone-file form: quoted strings, escapes (deploy/digest.py)
        if text.startswith("path="):
            return text[len("path=") :]
    return None


def _kind(target: Target, kind: dav.DavKind) -> tuple[list[Step], bool]:
    """The steps for one service, and whether it is offered at all."""
    name = f"{kind.srv_label}.{target.domain}"
    srv_future = target.net.dns_later(name, "SRV")
    txt_future = target.net.dns_later(name, "TXT")
    url = f"https://{target.domain}{kind.well_known}"
    known = target.net.request_later(url, method="PROPFIND", headers={"User-Agent": AGENT, "Depth": "0"})
    srv, txt, exchange = srv_future.result(), txt_future.result(), known.result()
    records = (
        [v.split() for v in srv.values if len(v.split()) == 4 and v.split()[3] != "."] if srv.status == "ok" else []
    )
    path = _path(txt.values) if txt.status == "ok" else None
    steps: list[Step] = []
    offered = bool(records) or path is not None
    if records:
        _, _, port, host = min(records, key=lambda r: (int(r[0]), -int(r[1])))
        server = MailServer(kind.title, host.rstrip(".").lower(), int(port), "https")
        if path is None:
            reason = (
                f"SRV {name} names {host.rstrip('.')}:{port} but there is no TXT path=: clients guess "
                f"{kind.well_known} on that host"
            )
            cause = Cause(
                f"dav-txt:{name}",
                f'add the TXT record {name} "path=<the {kind.title} context path>" '
                "beside the SRV record (service.py dns prints it)",
            )
            steps.append(
                Step(
                    f"{kind.title} SRV+TXT", Verdict.FAIL, reason, name, dns=(srv, txt), servers=(server,), cause=cause
                )
            )
        else:
            steps.append(
                Step(
                    f"{kind.title} SRV+TXT",
                    Verdict.OK,
                    f"{host.rstrip('.')}:{port} path {path}",
                    name,
                    dns=(srv, txt),
                    servers=(server,),
                    used=True,
                )
            )
    elif path is not None:
        cause = Cause(f"dav-srv:{name}", f"{name} has a TXT path but no SRV record: add the SRV record")
        steps.append(
            Step(
                f"{kind.title} SRV+TXT",
                Verdict.FAIL,
                "TXT path= without an SRV record",
                name,
                dns=(srv, txt),
                cause=cause,
            )
        )
    else:
        steps.append(
            Step(f"{kind.title} SRV+TXT", Verdict.SKIP, f"no SRV record ({srv.words()})", name, dns=(srv, txt))
        )
    location = exchange.header("Location")
    if not exchange.error and exchange.status in (301, 302, 303, 307, 308) and location.startswith("https://"):
        offered = True
        steps.append(
            Step(
                f"{kind.title} well-known",
                Verdict.OK,
                f"{exchange.status} to {location}",
                url,
                exchange,
                exchange.dns,
                used=not records,
            )
        )
    elif records and path is not None and exchange.error_kind in ("dns", "connect"):
        # The domain's own name has no web server at all: the SRV and TXT records are the way (RFC 6764 section 6).
        steps.append(Step(f"{kind.title} well-known", Verdict.SKIP, f"not served ({exchange.error})", url, exchange))
    else:
        why = exchange.error or f"status {exchange.status}" + (f" to {location}" if location else "")
        # Without the redirect, clients that skip SRV (DAVx5 first asks SRV, Apple and browsers not) find nothing.
        verdict = Verdict.SKIP if not offered else (Verdict.WARN if records and path is not None else Verdict.FAIL)
        known_cause = None
        if offered:  # the first thing wrong: the way there (DNS, TLS), else the missing redirect
            redirect = Cause(f"dav-well-known:{url}", f"{url}: {why}; redirect it to the {kind.title} URL")
            known_cause = exchange_cause(exchange, NAME) if exchange.error else redirect
        steps.append(
            Step(
                f"{kind.title} well-known",
                verdict,
                f"no redirect ({why})",
                url,
                exchange,
                exchange.dns,
                cause=known_cause,
            )
        )
    return steps, offered


def walk(target: Target) -> FamilyResult:
    groups = []
    offered = False
    for kind in dav.KINDS:
        steps, kind_offered = _kind(target, kind)
        offered = offered or kind_offered
        groups.append(steps)
    steps = [step for group in groups for step in group]
    failures = [step for step in steps if step.verdict is Verdict.FAIL]
    warnings = [step for step in steps if step.verdict is Verdict.WARN]
    if not offered:
        return family(NAME, TITLE, [steps], failed_summary="no CalDAV or CardDAV discovery (not offered)", absent=True)
    used = [step for step in steps if step.used]
    servers = tuple(server for step in used for server in step.servers)
    causes = tuple(dict((s.cause.key, s.cause) for s in failures + warnings if s.cause is not None).values())
    if failures:
        return FamilyResult(NAME, TITLE, "fail", failures[0].reason, tuple(steps), servers, causes=causes)
    return FamilyResult(
        NAME, TITLE, "ok", "discoverable", tuple(steps), servers, ", ".join(s.label for s in used), causes=causes
    )
