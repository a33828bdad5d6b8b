"""What a probe found, as frozen data: DNS answers, TLS, HTTP exchanges, steps, families, the summary.

Every other probe module speaks these types; ``output`` turns them into the
table and the JSON. Bodies are kept only until the verdict is made
(:class:`Exchange` holds them; :func:`as_json` writes their size and digest,
never the bytes).
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
from dataclasses import dataclass
from typing import Any
from typing import Literal

__all__ = [
    "Cause",
    "DnsAnswer",
    "Exchange",
    "FamilyResult",
    "Fix",
    "Hop",
    "MailServer",
    "ProbeReport",
    "Step",
    "TlsInfo",
    "Verdict",
    "as_json",
]

DnsStatus = Literal["ok", "nxdomain", "nodata", "error"]


class Verdict(enum.Enum):
    OK = "ok"  # this step works for the client
    FAIL = "fail"  # the client cannot use this step
    WARN = "warn"  # it works, but something needs attention (expiry, untrusted, misread)
    SKIP = "skip"  # not asked: an earlier step decided, or nothing leads here


@dataclass(frozen=True)
class DnsAnswer:
    """One DNS question and what the resolver said."""

    name: str
    rdtype: str
    status: DnsStatus
    values: tuple[str, ...] = ()  # zone-file form, in the order of the answer
    authenticated: bool = False  # the AD bit: the resolver validated it with DNSSEC
    canonical: str = ""  # the name after CNAMEs, when it differs from ``name``
    detail: str = ""  # why, for "error"

    def words(self) -> str:
        name = self.name.rstrip(".")
        if self.status == "nxdomain":
            return f"{name} {self.rdtype}: no such name"
        if self.status == "nodata":
            return f"{name} {self.rdtype}: no {self.rdtype} record"
        if self.status == "error":
            return f"{name} {self.rdtype}: DNS did not answer ({self.detail})"
        alias = f" (CNAME {self.canonical.rstrip('.')})" if self.canonical else ""
        signed = ", DNSSEC-validated" if self.authenticated else ""
        return f"{name}{alias} {self.rdtype} {', '.join(self.values)}{signed}"


@dataclass(frozen=True)
class TlsInfo:
    """The TLS handshake with one host, judged as a client judges it."""

    verified: bool  # chain to a trust anchor and the name, as OpenSSL checks them for this client
    problem: str  # "" when verified, else what is wrong in words
    # "", "expired" (the certificate), "expired-chain" (a CA certificate above it, or not yet valid),
    # "not-yet-valid", "name", "common-name" (the name only in the CN), "untrusted", "handshake"
    problem_kind: str
    subject: str = ""
    issuer: str = ""
    names: tuple[str, ...] = ()  # the certificate's DNS names
    days_left: int | None = None
    chain: tuple[str, ...] = ()  # subjects from the leaf up, as far as known
    version: str = ""
    warning: str = ""  # verified, but something other clients refuse or a reader may choke on
    warning_kind: str = ""  # "", "common-name" (accepted by its CN: other clients refuse it), "extension"

    def words(self) -> str:
        if not self.verified:
            return self.problem
        said = f"{self.version}, valid for the name, {self.days_left} days left, issued by {self.issuer}"
        return f"{said}; but {self.warning}" if self.warning else said


@dataclass(frozen=True)
class Hop:
    """One request and its answer on the way to the final one."""

    url: str
    method: str
    status: int
    content_type: str
    location: str = ""


@dataclass(frozen=True)
class Exchange:
    """One HTTP request as a client makes it, redirects followed by that client's rules."""

    url: str
    method: str
    hops: tuple[Hop, ...] = ()
    dns: tuple[DnsAnswer, ...] = ()  # the address look-ups, every host on the way
    address: str = ""  # the IP address of the last connection
    tls: TlsInfo | None = None  # the last https connection's, or the one that failed
    status: int | None = None
    content_type: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = dataclasses.field(default=b"", repr=False)
    truncated: bool = False  # the body was larger than the probe reads
    error: str = ""  # "" when an answer came, else why not, in words
    error_kind: str = ""  # "dns", "connect", "tls", "timeout", "http", "redirect"
    seconds: float = 0.0

    @property
    def final_url(self) -> str:
        return self.hops[-1].url if self.hops else self.url

    def header(self, name: str) -> str:
        lower = name.lower()
        return next((value for key, value in self.headers if key.lower() == lower), "")

    def words(self) -> str:
        if self.error:
            return self.error
        parts = [f"{hop.status} {hop.method} {hop.url} -> {hop.location}" for hop in self.hops[:-1]]
        parts.append(f"{self.status} {self.content_type or '(no Content-Type)'}, {len(self.body)} bytes")
        return "; ".join(parts)


@dataclass(frozen=True, order=True)
class MailServer:
    """One server a client would set up, in a form every format can be compared in."""

    protocol: str  # IMAP, POP3, SMTP, CalDAV, CardDAV
    host: str
    port: int
    security: str  # SSL, STARTTLS, plain, https
    # What the document says of logging in (for probe --servers), not part of what is compared between paths:
    # its authentication methods in Thunderbird's words, and the username with the address filled in.
    authentication: tuple[str, ...] = dataclasses.field(default=(), compare=False)
    username: str | None = dataclasses.field(default=None, compare=False)

    def __str__(self) -> str:
        return f"{self.protocol} {self.host}:{self.port} {self.security}"


@dataclass(frozen=True)
class Cause:
    """What to fix so that a failing step works: ``key`` makes the same cause one line, whoever hit it."""

    key: str
    fix: str


@dataclass(frozen=True)
class Step:
    """One step of a client's walk, with its verdict in plain words."""

    label: str  # e.g. "https autoconfig.<d>"
    verdict: Verdict
    reason: str
    url: str = ""
    exchange: Exchange | None = None
    dns: tuple[DnsAnswer, ...] = ()
    servers: tuple[MailServer, ...] = ()
    cause: Cause | None = None
    used: bool = False  # the client configures itself from this step


@dataclass(frozen=True)
class FamilyResult:
    """One client family's whole walk and what it ends up with."""

    family: str  # the --client name
    title: str
    status: Literal["ok", "fail", "absent"]  # absent: not offered at all (no DAV, no PACC): not a failure
    summary: str
    steps: tuple[Step, ...]
    servers: tuple[MailServer, ...] = ()
    via: str = ""  # the step it configures from
    notes: tuple[str, ...] = ()
    causes: tuple[Cause, ...] = ()  # why it fails (or warns), the causes of its first-priority paths


@dataclass(frozen=True)
class Fix:
    """One thing to fix, and whom it helps."""

    fix: str
    families: tuple[str, ...]
    users: int  # the share of users it helps, by the weights in summary.USERS
    blocking: bool  # some family fails without it


@dataclass(frozen=True)
class ProbeReport:
    address: str
    domain: str
    families: tuple[FamilyResult, ...]
    disagreements: tuple[str, ...]
    fixes: tuple[Fix, ...]
    seconds: float  # the whole probe
    slowest: float  # the slowest single request

    @property
    def ok(self) -> bool:
        return all(family.status != "fail" for family in self.families)


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Exchange):
        fields = {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value) if f.name != "body"}
        fields["headers"] = dict(value.headers)
        fields["body_bytes"] = len(value.body)
        fields["body_sha256"] = hashlib.sha256(value.body).hexdigest() if value.body else None
        return fields
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    if isinstance(value, MailServer):
        return str(value)
    return value


def as_json(report: ProbeReport) -> dict[str, Any]:
    """The report as plain JSON data (bodies as size and SHA-256 only)."""
    data: dict[str, Any] = _plain(report)
    data["ok"] = report.ok
    for family in data["families"]:
        family["servers"] = [str(MailServer(**server)) for server in family["servers"]]
        for step in family["steps"]:
            step["servers"] = [str(MailServer(**server)) for server in step["servers"]]
    return data
