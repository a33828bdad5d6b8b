"""The summary: who will configure, with which servers, where paths disagree, and what to fix first.

"What to fix first" weighs each cause by the users of the families it
blocks. The weights are a rough picture of who sets up IMAP accounts at a
hoster (an assumption, not a measurement): Outlook and Apple devices
first, then the two Thunderbirds; PACC has no shipped client yet.
A cause that makes a family fail comes before one that only degrades it.
"""

from __future__ import annotations

from collections.abc import Sequence

from mailautoconf.probe.report import FamilyResult
from mailautoconf.probe.report import Fix
from mailautoconf.probe.report import MailServer

__all__ = ["USERS", "disagreements", "fixes"]

USERS = {
    "outlook": 30,
    "apple": 25,
    "thunderbird": 20,
    "android": 12,
    "dav": 5,
    "evolution": 4,
    "gnome": 3,  # GNOME Online Accounts: the desktop's own account setup (GNOME 47 and later)
    "kmail": 3,
    "pacc": 1,
}
_MAIL = ("IMAP", "POP3", "SMTP")


def fixes(families: Sequence[FamilyResult]) -> tuple[Fix, ...]:
    """Each cause once, with the families it helps, most users helped first (blocking before not)."""
    found: dict[str, tuple[str, list[str], bool]] = {}
    for result in families:
        for cause in result.causes:
            text, helped, blocking = found.get(cause.key, (cause.fix, [], False))
            if result.family not in helped:
                helped.append(result.family)
            found[cause.key] = (text, helped, blocking or result.status == "fail")
    ranked = [
        Fix(text, tuple(helped), sum(USERS.get(name, 1) for name in helped), blocking)
        for text, helped, blocking in found.values()
    ]
    ranked.sort(key=lambda fix: (not fix.blocking, -fix.users))
    return tuple(ranked)


def _key(server: MailServer) -> tuple[str, str, int]:
    kind = "incoming" if server.protocol in ("IMAP", "POP3") else "outgoing"
    return kind, server.host, server.port


def disagreements(families: Sequence[FamilyResult]) -> tuple[str, ...]:
    """Where families (or a family's other paths) would set up different mail hosts or ports."""
    said: dict[tuple[str, str, int], list[str]] = {}
    per_direction: dict[str, dict[tuple[str, int], list[str]]] = {"incoming": {}, "outgoing": {}}
    for result in families:
        if result.status != "ok":
            continue
        for server in result.servers:
            if server.protocol not in _MAIL:
                continue
            kind, host, port = _key(server)
            per_direction[kind].setdefault((host, port), []).append(result.title)
        # A family's other working paths, e.g. Thunderbird's Autodiscover beside its autoconfig.
        used = {_key(s) for s in result.servers if s.protocol in _MAIL}
        for step in result.steps:
            if step.used or step.verdict.value != "ok" or not step.servers:
                continue
            other = {_key(s) for s in step.servers if s.protocol in _MAIL}
            if other and used and other != used:
                said.setdefault(("", result.title, 0), []).append(
                    f"{result.title}: {step.label} names {', '.join(map(str, step.servers))}, but it sets up "
                    f"{', '.join(map(str, result.servers))} from {result.via}"
                )
    lines = [line for group in said.values() for line in group]
    for kind, hosts in per_direction.items():
        if len(hosts) > 1:
            parts = "; ".join(f"{host}:{port} ({', '.join(titles)})" for (host, port), titles in hosts.items())
            lines.append(f"{kind} server differs: {parts}")
    return tuple(lines)
