"""The probe's only network code: DNS through dnspython, TCP, TLS and HTTP/1.1 through the standard library.

Why the standard library for HTTP: the probe must see what a client sees and
decide what a client decides, so it does the parts libraries hide itself:

- **Redirects** are followed here, one hop at a time, by the rules of the
  client whose walk asks (:class:`Redirects`), never by a library's default.
- **TLS** is judged by OpenSSL as the clients' libraries judge it (chain to
  a trust anchor, the name, the dates), with ``--ca FILE`` as the only
  anchor when given; when the handshake fails, a second handshake that
  checks nothing reads the chain the server presents so that the report
  can say *why* (which certificate expired on which day, which names it
  covers). Nothing is sent on that second connection. The name is matched
  against the subjectAltName only, as Thunderbird (mozilla::pkix), OkHttp
  and Apple match it; a client whose library still falls back to the
  Common Name (GnuTLS, Qt, Windows) asks with ``common_name=True``, and a
  certificate it accepts only that way is a warning, not a failure.
  Certificates are read with :mod:`~mailautoconf.probe.certs`: an
  extension that cannot be read is a finding, never an exception.
- **Names** resolve through the probe's own resolver (``--resolver``, with
  the DNSSEC AD bit asked for and reported) or ``--resolve HOST:PORT:IP``
  as curl takes it, never through /etc/hosts behind the report's back.
  ``--connect-to HOST:PORT:CONNECT_HOST:CONNECT_PORT`` (curl's too) sends a
  name and port to another host *and port*, the request unchanged (its
  Host header, its TLS server name): the quick start's plain http on
  127.0.0.1:8080 can be probed as if it were autoconfig.<d>:80.
- **Limits**: every request has one deadline (:data:`URL_TIMEOUT`, about a
  client's own: Thunderbird gives a URL 5 s) that covers connecting, the
  handshake, a trickled header and body alike; a body is read up to
  :data:`MAX_BODY` and no further.
- **No credentials**: :meth:`Network.request` refuses ``Authorization``,
  ``Proxy-Authorization`` and ``Cookie`` headers outright.

Each exact request (and each DNS question) is made once per
:class:`Network`, however many walks ask for it: walks of different clients
share what they have in common, and can all ask at once.
"""

from __future__ import annotations

import _ssl
import argparse
import base64
import binascii
import contextlib
import functools
import hmac
import http.client
import ipaddress
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from concurrent.futures import Future
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from dataclasses import replace
from datetime import UTC
from datetime import datetime
from typing import Generic
from typing import TypeVar

import dns.exception
import dns.flags
import dns.name
import dns.resolver
from cryptography import x509

from mailautoconf.dnslookup import make_resolver
from mailautoconf.probe import certs
from mailautoconf.probe import mailproto
from mailautoconf.probe.mailproto import LoginResult
from mailautoconf.probe.mailproto import MailSession
from mailautoconf.probe.report import DnsAnswer
from mailautoconf.probe.report import Exchange
from mailautoconf.probe.report import Hop
from mailautoconf.probe.report import MailServer
from mailautoconf.probe.report import TlsInfo

__all__ = [
    "MAIL_TIMEOUT",
    "MAX_BODY",
    "URL_TIMEOUT",
    "MailChecks",
    "Network",
    "Redirects",
    "network_from",
    "parse_connect_to",
    "parse_resolve",
]

URL_TIMEOUT = 5.0  # seconds for one URL, redirects included (Thunderbird's FetchHTTP default)
MAX_BODY = 1024 * 1024  # bytes read of one answer; a config document is a few KiB
MAX_HEADERS_SHOWN = 40
_REFUSED_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True)
class Redirects:
    """How one client follows redirects; the probe follows exactly these and reports the rest as refused.

    ``https_only``: only to https URLs (Outlook validates a redirect target
    before it posts there, MS-OXDISCO). ``no_downgrade``: never from https to
    http (Qt's default policy, KMail). ``post_to_get``: a 301 or 302 turns a
    POST into a body-less GET, as XMLHttpRequest does (the Fetch standard;
    Thunderbird's Autodiscover dance, docs/clients.md section 2.7).
    """

    name: str
    max_hops: int = 20
    https_only: bool = False
    no_downgrade: bool = False
    post_to_get: bool = True

    def refuses(self, from_url: str, to_url: str) -> str:
        """Why this client does not follow ``from_url`` -> ``to_url``; "" if it does."""
        target = urllib.parse.urlsplit(to_url)
        if target.scheme not in ("http", "https") or not target.hostname:
            return f"{self.name} follows no redirect to {to_url!r}"
        if self.https_only and target.scheme != "https":
            return f"{self.name} follows redirects to https URLs only, not to {to_url}"
        if self.no_downgrade and from_url.startswith("https:") and target.scheme == "http":
            return f"{self.name} does not follow a redirect from https to http ({to_url})"
        return ""


NO_REDIRECTS = Redirects("this client", max_hops=0)


def parse_resolve(text: str) -> tuple[str, int, list[str]]:
    """``HOST:PORT:IP[,IP...]`` as curl's ``--resolve`` takes it (an IPv6 address may be in brackets)."""
    host, sep, rest = text.partition(":")
    port_text, sep2, addresses = rest.partition(":")
    if not sep or not sep2 or not host or not port_text.isdecimal() or not 0 < int(port_text) < 65536:
        raise ValueError(f'"{text}" is not HOST:PORT:IP (e.g. autoconfig.example.org:443:127.0.0.1)')
    found = []
    for address in addresses.split(","):
        try:
            found.append(str(ipaddress.ip_address(address.strip().strip("[]"))))
        except ValueError:
            raise ValueError(f'"{text}": "{address}" is not an IP address') from None
    return host.lower().rstrip("."), int(port_text), found


def _host_part(text: str) -> tuple[str, str]:
    """(host, rest after its colon) of ``HOST:...``, the host in brackets when it is an IPv6 address."""
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise ValueError
        return host, rest[1:]
    host, sep, rest = text.partition(":")
    if not sep:
        raise ValueError
    return host, rest


def parse_connect_to(text: str) -> tuple[str, int, str, int]:
    """``HOST:PORT:CONNECT_HOST:CONNECT_PORT`` as curl's ``--connect-to`` takes it.

    An empty HOST or PORT matches any; an empty CONNECT_HOST or CONNECT_PORT
    keeps the request's own (0 and "" stand for "any" and "the same").
    """
    example = "e.g. autoconfig.example.org:80:127.0.0.1:8080, or ::127.0.0.1:8080 for every name and port"
    try:
        host, rest = _host_part(text)
        port_text, sep, rest = rest.partition(":")
        if not sep:
            raise ValueError
        connect_host, connect_port_text = _host_part(rest)
        ports = []
        for value in (port_text, connect_port_text):
            if value and (not value.isdecimal() or not 0 < int(value) < 65536):
                raise ValueError
            ports.append(int(value) if value else 0)
    except ValueError:
        raise ValueError(f'"{text}" is not HOST:PORT:CONNECT_HOST:CONNECT_PORT ({example})') from None
    return host.lower().rstrip("."), ports[0], connect_host.lower().rstrip("."), ports[1]


class _Memo(Generic[K, V]):
    """Compute each key once; a second caller waits for the first one's result (in its own thread)."""

    def __init__(self, limit: int | None = None) -> None:
        self._lock = threading.Lock()
        self._done: dict[K, V] = {}
        self._running: dict[K, threading.Event] = {}
        self._limit = limit  # results kept at most, the oldest dropped first (asked again if needed)

    def get(self, key: K, compute: Callable[[], V]) -> V:
        while True:
            with self._lock:
                if key in self._done:
                    return self._done[key]
                event = self._running.get(key)
                if event is None:
                    event = self._running[key] = threading.Event()
                    mine = True
                else:
                    mine = False
            if not mine:
                event.wait()
                continue
            try:
                value = compute()
            except BaseException:
                with self._lock:
                    del self._running[key]
                event.set()
                raise
            with self._lock:
                self._done[key] = value
                del self._running[key]
                if self._limit is not None and len(self._done) > self._limit:
                    del self._done[next(iter(self._done))]
            event.set()
            return value


@dataclass(frozen=True)
class _Answer:
    status: int
    reason: str
    content_type: str
    location: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    truncated: bool


class _Failed(Exception):
    """A request that got no usable answer; ``dns`` and ``tls`` are what was learnt on the way."""

    def __init__(self, kind: str, words: str, tls: TlsInfo | None = None) -> None:
        super().__init__(words)
        self.kind = kind
        self.words = words
        self.tls = tls
        self.dns: tuple[DnsAnswer, ...] = ()


@functools.lru_cache(maxsize=8)
def _verifying_context(ca: str | None, common_name: bool = False) -> ssl.SSLContext:
    """The context that judges certificates as clients do: ``ca`` the only anchor, else the system's store.

    ``common_name``: whether a certificate without a subjectAltName may name
    the host in its Common Name (RFC 6125 section 6.4.4 allows it; OpenSSL
    does it by default). mozilla::pkix never does (CertVerifier.h,
    FallBackToCommonName: No), nor OkHttp (OkHostnameVerifier reads the
    subjectAltName DNS names only), nor Apple since iOS 13 and macOS 10.15
    ("DNS names in the CommonName of a certificate are no longer trusted",
    support.apple.com HT210176).

    Shared by every Network of a process (an SSLContext may wrap sockets
    from many threads): loading a trust store takes tens of milliseconds,
    which a fleet run would otherwise pay for each domain.
    """
    context = ssl.create_default_context(cafile=ca) if ca else ssl.create_default_context()
    context.hostname_checks_common_name = common_name
    return context


@functools.lru_cache(maxsize=1)
def _inspecting_context() -> ssl.SSLContext:
    """The context that only reads what a server presents (after a failed check): checks nothing, loads no store."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class Network:
    """DNS and HTTP for one probe (or one fleet run), each exact question asked once.

    ``resolver``: ``IP[:PORT]`` or None for the system's; ``resolve``: curl's
    ``--resolve`` entries; ``ca``: a PEM file that is the only trust anchor
    (else the system's store); ``workers``: requests in flight at most.
    """

    def __init__(
        self,
        resolver: str | None = None,
        resolve: Mapping[tuple[str, int], list[str]] | None = None,
        ca: str | None = None,
        *,
        workers: int = 32,
        timeout: float = URL_TIMEOUT,
        max_body: int = MAX_BODY,
        connect_to: Sequence[tuple[str, int, str, int]] = (),
        mail: MailChecks | None = None,
    ) -> None:
        self.resolver = make_resolver(resolver)
        # Ask for the AD bit (RFC 6840 section 5.7) and DNSSEC records (DO), as a validating stub would.
        self.resolver.use_edns(0, dns.flags.DO, 1232)
        self.resolver.flags = dns.flags.RD | dns.flags.AD
        self.resolve_overrides = dict(resolve or {})
        self.connect_to = tuple(connect_to)
        self.timeout = timeout
        self.max_body = max_body
        self._ca = ca
        _verifying_context(ca)  # a --ca that cannot be read fails here, before any walk
        self._inspect = _inspecting_context()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="probe-net")
        self._dns: _Memo[tuple[str, str], DnsAnswer] = _Memo()
        self._http: _Memo[tuple[object, ...], Exchange] = _Memo()
        self.slowest = 0.0
        self.mail: MailChecks | None = mail  # None: the mail servers are not checked (no --servers)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    # -- DNS ------------------------------------------------------------------

    def dns(self, name: str, rdtype: str) -> DnsAnswer:
        """Ask once: ``name`` (absolute) ``rdtype``; never raises."""
        key = (name.lower().rstrip(".") + ".", rdtype)
        return self._dns.get(key, lambda: self._query(*key))

    def dns_later(self, name: str, rdtype: str) -> Future[DnsAnswer]:
        return self._pool.submit(self.dns, name, rdtype)

    def _query(self, name: str, rdtype: str) -> DnsAnswer:
        try:
            qname = dns.name.from_text(name)
        except dns.exception.DNSException as exc:
            return DnsAnswer(name, rdtype, "error", detail=f"not a DNS name: {exc}")
        try:
            answer = self.resolver.resolve(qname, rdtype, search=False, raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN:
            return DnsAnswer(name, rdtype, "nxdomain")
        except dns.exception.Timeout:
            return DnsAnswer(name, rdtype, "error", detail=f"no answer within {self.resolver.lifetime:g} s")
        except dns.resolver.NoNameservers as exc:
            errors = exc.kwargs.get("errors") or []
            detail = "; ".join(sorted({str(error[3]) for error in errors if len(error) > 3})) or "SERVFAIL"
            return DnsAnswer(name, rdtype, "error", detail=detail)
        except dns.exception.DNSException as exc:
            return DnsAnswer(name, rdtype, "error", detail=str(exc))
        authenticated = bool(answer.response.flags & dns.flags.AD)
        canonical = answer.canonical_name.to_text()
        canonical = "" if canonical.lower() == name.lower() else canonical
        if answer.rrset is None:
            return DnsAnswer(name, rdtype, "nodata", authenticated=authenticated, canonical=canonical)
        values = tuple(rdata.to_text() for rdata in answer.rrset)
        return DnsAnswer(name, rdtype, "ok", values, authenticated, canonical)

    def route(self, host: str, port: int) -> tuple[str, int]:
        """Where a connection to ``host``:``port`` goes: the first ``--connect-to`` that matches, else there."""
        host = host.lower().rstrip(".")
        for match_host, match_port, connect_host, connect_port in self.connect_to:
            if match_host in ("", host) and match_port in (0, port):
                return connect_host or host, connect_port or port
        return host, port

    def addresses(self, host: str, port: int) -> tuple[list[str], tuple[DnsAnswer, ...]]:
        """The addresses to connect to for ``host``:``port``: ``--resolve`` first, else A then AAAA."""
        host = host.lower().rstrip(".")
        override = self.resolve_overrides.get((host, port))
        if override is not None:
            return list(override), ()
        try:
            return [str(ipaddress.ip_address(host))], ()
        except ValueError:
            pass
        answers = (self.dns(host, "A"), self.dns(host, "AAAA"))
        return [value for answer in answers for value in answer.values if answer.status == "ok"], answers

    # -- Mail servers ---------------------------------------------------------

    def mail_session(self, server: MailServer, username: str | None = None, method: str | None = None) -> MailSession:
        """One dialog with ``server`` (protocol IMAP, POP3 or SMTP; security SSL, STARTTLS or plain), asked once
        per :class:`MailChecks`; with ``--login`` and a ``username``, it logs in for ``method``. Never raises."""
        checks = self.mail if self.mail is not None else MailChecks()
        login = checks.login and username is not None and method is not None
        # The route is part of the key: a fleet shares the sessions, and --connect-to is the same for all of it.
        key = (server, self.route(server.host, server.port), username if login else None, method if login else None)
        return checks.sessions.get(key, lambda: _guarded_dialog(self, server, checks, username, method))

    def mail_session_later(
        self, server: MailServer, username: str | None = None, method: str | None = None
    ) -> Future[MailSession]:
        return self._pool.submit(self.mail_session, server, username, method)

    # -- HTTP -----------------------------------------------------------------

    def request(
        self,
        url: str,
        *,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        redirects: Redirects = NO_REDIRECTS,
        common_name: bool = False,
    ) -> Exchange:
        """One request as a client makes it, its redirects followed by ``redirects``; never raises.

        ``common_name``: the client's TLS library accepts a host name found
        only in the Common Name of a certificate without a subjectAltName.
        """
        headers = dict(headers or {})
        refused = _REFUSED_HEADERS & {name.lower() for name in headers}
        if refused:
            raise ValueError(f"the probe never sends credentials ({', '.join(sorted(refused))})")
        key = (url, method, tuple(sorted(headers.items())), body, redirects, common_name)
        return self._http.get(key, lambda: self._walk(url, method, headers, body, redirects, common_name))

    def request_later(
        self,
        url: str,
        *,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        redirects: Redirects = NO_REDIRECTS,
        common_name: bool = False,
    ) -> Future[Exchange]:
        return self._pool.submit(
            lambda: self.request(
                url, method=method, headers=headers, body=body, redirects=redirects, common_name=common_name
            )
        )

    def _walk(
        self,
        url: str,
        method: str,
        headers: dict[str, str],
        body: bytes | None,
        redirects: Redirects,
        common_name: bool,
    ) -> Exchange:
        started = time.monotonic()
        deadline = started + self.timeout
        hops: list[Hop] = []
        looked_up: list[DnsAnswer] = []
        current, current_method, current_body = url, method, body
        tls: TlsInfo | None = None
        address = ""
        while True:
            try:
                answer, address, hop_tls, dns_answers = self._once(
                    current, current_method, headers, current_body, deadline, common_name
                )
            except _Failed as failed:
                looked_up += failed.dns
                return self._done(url, method, hops, looked_up, address, failed.tls or tls, started, failed=failed)
            looked_up += dns_answers
            tls = hop_tls or tls
            hops.append(Hop(current, current_method, answer.status, answer.content_type, answer.location))
            if answer.status not in (301, 302, 303, 307, 308) or not answer.location or redirects.max_hops == 0:
                return self._done(url, method, hops, looked_up, address, tls, started, answer=answer)
            try:
                target = urllib.parse.urljoin(current, answer.location)
                refusal = redirects.refuses(current, target)
            except ValueError:  # "http://[x": urljoin and urlsplit raise; a port past 65535 fails in _once
                target, refusal = answer.location, "not a URL any client can follow"
            if not refusal and len(hops) > redirects.max_hops:
                refusal = f"more than {redirects.max_hops} redirects"
            if refusal:
                refused = _Failed("redirect", f"redirected ({answer.status}) to {target}: {refusal}")
                return self._done(url, method, hops, looked_up, address, tls, started, answer=answer, failed=refused)
            if answer.status == 303 or (
                answer.status in (301, 302) and current_method == "POST" and redirects.post_to_get
            ):
                current_method, current_body = "GET", None
            current = target

    def _done(
        self,
        url: str,
        method: str,
        hops: list[Hop],
        looked_up: list[DnsAnswer],
        address: str,
        tls: TlsInfo | None,
        started: float,
        *,
        answer: _Answer | None = None,
        failed: _Failed | None = None,
    ) -> Exchange:
        seconds = time.monotonic() - started
        self.slowest = max(self.slowest, seconds)
        return Exchange(
            url=url,
            method=method,
            hops=tuple(hops),
            dns=tuple(looked_up),
            address=address,
            tls=tls,
            status=answer.status if answer else None,
            content_type=answer.content_type if answer else "",
            headers=answer.headers if answer else (),
            body=answer.body if answer and failed is None else b"",
            truncated=answer.truncated if answer else False,
            error=failed.words if failed else "",
            error_kind=failed.kind if failed else "",
            seconds=round(seconds, 3),
        )

    def _once(
        self, url: str, method: str, headers: dict[str, str], body: bytes | None, deadline: float, common_name: bool
    ) -> tuple[_Answer, str, TlsInfo | None, tuple[DnsAnswer, ...]]:
        try:
            parts = urllib.parse.urlsplit(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise _Failed("http", f"{url!r} is not a URL a client can open ({exc})") from None
        host = (parts.hostname or "").lower()
        https = parts.scheme == "https"
        connect_host, connect_port = self.route(host, port)
        addresses, answers = self.addresses(connect_host, connect_port)
        if not addresses:
            failed = _Failed("dns", _no_address(connect_host, answers))
            failed.dns = answers
            raise failed
        raw, address = self._connect(connect_host, connect_port, addresses, deadline)
        tls: TlsInfo | None = None
        sock: socket.socket = raw
        if https:
            sock, tls = self._handshake(raw, host, address, connect_port, deadline, common_name)
        try:
            answer = self._exchange(sock, parts, host, port, https, method, headers, body, deadline)
        except _Failed as failed:
            failed.dns = answers
            failed.tls = tls
            raise
        finally:
            sock.close()
        return answer, address, tls, answers

    def _connect(self, host: str, port: int, addresses: list[str], deadline: float) -> tuple[socket.socket, str]:
        problems = []
        for address in addresses:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                return socket.create_connection((address, port), timeout=remaining), address
            except OSError as exc:
                problems.append(f"{address} port {port}: {exc.strerror or exc}")
        if not problems:
            raise _Failed("timeout", f"{host}: no connection within {self.timeout:g} s")
        raise _Failed("connect", f"{host}: cannot connect ({'; '.join(problems)})")

    def _handshake(
        self,
        raw: socket.socket,
        host: str,
        address: str,
        port: int,
        deadline: float,
        common_name: bool,
        prelude: Callable[[socket.socket, float], None] | None = None,
    ) -> tuple[ssl.SSLSocket, TlsInfo]:
        """TLS on ``raw`` as the client judges it; ``prelude``: what a second connection must say before its
        handshake when the first one failed (STARTTLS), to read the chain the server presents."""
        raw.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            sock = _verifying_context(self._ca, common_name).wrap_socket(raw, server_hostname=host)
        except ssl.SSLCertVerificationError as exc:
            raw.close()
            presented = self._peek_chain(host, address, port, deadline, prelude)
            facts = certs.facts(presented[0]) if presented else None
            kind, words = _tls_problem(exc, host, presented, facts, self._ca)
            if facts is not None and facts.unreadable:
                words += f" (and its {_extensions(facts.unreadable)} cannot be read)"
            raise _Failed("tls", f"{host}: {words}", _tls_info(facts, False, words, kind)) from None
        except (ssl.SSLError, OSError, ValueError) as exc:  # ValueError: a name the handshake cannot carry
            raw.close()
            words = f"TLS handshake failed ({getattr(exc, 'reason', None) or exc})"
            raise _Failed("tls", f"{host}: {words}", TlsInfo(False, words, "handshake")) from None
        der = sock.getpeercert(binary_form=True)
        leaf = certs.load_der(der) if der else None
        facts = certs.facts(leaf) if leaf is not None else None
        warning_kind, warning = _accepted_but(host, facts, common_name)
        info = _tls_info(facts, True, "", "", str(sock.version() or ""))
        info = replace(info, warning=warning, warning_kind=warning_kind)
        chain = _verified_chain(sock)
        if chain:
            info = replace(info, chain=tuple(certs.name_of(certificate) for certificate in chain))
        return sock, info

    def _peek_chain(
        self,
        host: str,
        address: str,
        port: int,
        deadline: float,
        prelude: Callable[[socket.socket, float], None] | None = None,
    ) -> list[x509.Certificate]:
        """The chain the server presents, leaf first, read on a second connection that checks nothing and
        sends nothing (but the ``prelude``: a mail server's STARTTLS)."""
        try:
            remaining = max(0.1, deadline - time.monotonic())
            with socket.create_connection((address, port), timeout=remaining) as raw:
                if prelude is not None:
                    prelude(raw, deadline)
                with self._inspect.wrap_socket(raw, server_hostname=host) as sock:
                    return _presented_chain(sock)
        except (OSError, ssl.SSLError, _Failed):
            return []

    def _exchange(
        self,
        sock: socket.socket,
        parts: urllib.parse.SplitResult,
        host: str,
        port: int,
        https: bool,
        method: str,
        headers: dict[str, str],
        body: bytes | None,
        deadline: float,
    ) -> _Answer:
        connection = http.client.HTTPConnection(host, port)
        connection.sock = sock
        default = 443 if https else 80
        send = {"Host": host if port == default else f"{host}:{port}", "Connection": "close", **headers}
        # One deadline for the whole answer: a server trickling bytes is cut off when it passes.
        fired = threading.Event()
        watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), _shut, (sock, fired))
        watchdog.daemon = True
        watchdog.start()
        try:
            sock.settimeout(max(0.1, deadline - time.monotonic()))
            path = parts.path or "/"
            connection.request(method, path + (f"?{parts.query}" if parts.query else ""), body=body, headers=send)
            response = connection.getresponse()
            chunks: list[bytes] = []
            size = 0
            truncated = False
            while True:
                chunk = response.read1(65536)
                if not chunk:
                    break
                size += len(chunk)
                if size > self.max_body:
                    truncated = True
                    chunks.append(chunk[: len(chunk) - (size - self.max_body)])
                    break
                chunks.append(chunk)
            if fired.is_set():  # the watchdog cut a trickle off: what came is not the answer
                raise TimeoutError
            if not truncated and response.length:  # Content-Length promised more than came
                raise http.client.IncompleteRead(b"".join(chunks), response.length)
        except TimeoutError:
            raise _Failed("timeout", f"{host}: no complete answer within {self.timeout:g} s") from None
        except (http.client.HTTPException, ValueError) as exc:
            raise _Failed("http", f"{host}: not a valid HTTP answer ({type(exc).__name__}: {str(exc)[:120]})") from None
        except OSError as exc:
            if fired.is_set():
                raise _Failed("timeout", f"{host}: no complete answer within {self.timeout:g} s") from None
            raise _Failed("connect", f"{host}: the connection failed ({exc.strerror or exc})") from None
        finally:
            watchdog.cancel()
        answer_headers = tuple((k, v) for k, v in response.getheaders()[:MAX_HEADERS_SHOWN])
        return _Answer(
            status=response.status,
            reason=response.reason,
            content_type=response.getheader("Content-Type", "") or "",
            location=response.getheader("Location", "") or "",
            headers=answer_headers,
            body=b"".join(chunks),
            truncated=truncated,
        )


def _shut(sock: socket.socket, fired: threading.Event) -> None:
    fired.set()
    with contextlib.suppress(OSError):  # closed already
        sock.shutdown(socket.SHUT_RDWR)


def _no_address(host: str, answers: tuple[DnsAnswer, ...]) -> str:
    statuses = {answer.status for answer in answers}
    if "error" in statuses:
        detail = next(answer.detail for answer in answers if answer.status == "error")
        return f"{host}: DNS did not answer ({detail})"
    if statuses == {"nxdomain"}:
        return f"{host}: no such name in DNS (NXDOMAIN)"
    return f"{host}: the name has no A or AAAA record"


def _extensions(names: tuple[str, ...]) -> str:
    return f"{', '.join(names)} extension{'s' if len(names) > 1 else ''}"


def _tls_info(leaf: certs.Facts | None, verified: bool, problem: str, kind: str, version: str = "") -> TlsInfo:
    if leaf is None:
        return TlsInfo(verified, problem, kind, version=version)
    return TlsInfo(
        verified=verified,
        problem=problem,
        problem_kind=kind,
        subject=leaf.subject,
        issuer=leaf.issuer,
        names=leaf.dns_names,
        days_left=(leaf.not_after - datetime.now(UTC)).days,
        chain=(leaf.subject, leaf.issuer),
        version=version,
    )


def _accepted_but(host: str, leaf: certs.Facts | None, common_name: bool) -> tuple[str, str]:
    """(kind, words) of what is wrong with a certificate this client's library accepted; ("", "") if nothing."""
    if leaf is None:
        return "", ""
    said = []
    kinds = []
    if common_name and not leaf.alt_names and "subjectAltName" not in leaf.unreadable:  # matched by its CN
        said.append(
            f"{host} is in the certificate's Common Name only, without a subjectAltName: this client's TLS library "
            "accepts that, Thunderbird (mozilla::pkix), OkHttp (Thunderbird for Android, DAVx5) and Apple devices "
            "refuse it"
        )
        kinds.append("common-name")
    if leaf.unreadable:
        said.append(
            f"the certificate's {_extensions(leaf.unreadable)} cannot be read (not well-formed): OpenSSL accepts "
            "the certificate without reading it (and Thunderbird's mozilla::pkix without checking a policy), a "
            "stricter reader may refuse it; have the certificate issued again"
        )
        kinds.append("extension")
    return (kinds[0] if kinds else ""), "; ".join(said)


def _days(when: datetime, now: datetime) -> str:
    return f"{abs((now - when).days)} day(s)"


def _tls_problem(
    exc: ssl.SSLCertVerificationError,
    host: str,
    presented: list[x509.Certificate],
    facts: certs.Facts | None,
    ca: str | None,
) -> tuple[str, str]:
    """(kind, words) for a failed verification; OpenSSL's verify codes (X509_V_ERR_*).

    ``presented`` is the chain the server sent, leaf first, and ``facts``
    its leaf's. An expired (or not yet valid) certificate is named: OpenSSL
    gives the same code for any certificate of the path, the leaf, an
    intermediate or the trust anchor (``ca``'s, or the system's).
    """
    code = exc.verify_code
    leaf = presented[0] if presented else None
    now = datetime.now(UTC)
    if code in (9, 10):  # CERT_NOT_YET_VALID, CERT_HAS_EXPIRED
        late = certs.first_out_of_date(presented, now)
        role = "root" if late is not None and certs.issued_by(late, late) else "intermediate"
        if late is None and presented:
            above = [anchor for anchor in certs.anchors(ca) if certs.issued_by(presented[-1], anchor)]
            late, role = certs.first_out_of_date(above, now), "trust anchor"
        if late is None:
            return "expired-chain", f"a certificate of its chain was refused ({exc.verify_message})"
        expired = late.not_valid_after_utc < now
        if late is leaf:
            if expired:
                when = late.not_valid_after_utc
                return "expired", f"the certificate expired {_days(when, now)} ago ({when:%Y-%m-%d %H:%M} UTC)"
            when = late.not_valid_before_utc
            return "not-yet-valid", f"the certificate is not valid before {when:%Y-%m-%d %H:%M} UTC"
        issuer = f"the certificate is in date, but the {role} certificate {certs.name_of(late)!r} it is chained to"
        if expired:
            when = late.not_valid_after_utc
            return "expired-chain", f"{issuer} expired {_days(when, now)} ago ({when:%Y-%m-%d %H:%M} UTC)"
        return "expired-chain", f"{issuer} is not valid before {late.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
    if code == 62:  # HOSTNAME_MISMATCH
        if facts is not None and not facts.alt_names and any(certs.covers(host, cn) for cn in facts.common_names):
            return (
                "common-name",
                f"the certificate names {host} in its Common Name only, without a subjectAltName: Thunderbird "
                "(mozilla::pkix), OkHttp (Thunderbird for Android, DAVx5) and Apple devices read no Common Name",
            )
        names = ", ".join(facts.dns_names) if facts is not None else "other names"
        return "name", f"the certificate does not cover {host} (it is for {names or 'no DNS name'})"
    if code in (18, 19, 20, 21, 2):  # self-signed, unknown issuer, ...
        issuer = facts.issuer if facts is not None else "an unknown issuer"
        return "untrusted", f"the certificate is not signed by a trusted CA (issuer: {issuer}; {exc.verify_message})"
    return "untrusted", f"the certificate was refused ({exc.verify_message})"


def _chain(sock: ssl.SSLSocket, call: str) -> list[x509.Certificate]:
    """``sock.get_verified_chain()`` or ``get_unverified_chain()``, leaf first, as certificates.

    Python 3.13 has both on ``SSLSocket`` (DER bytes); 3.10 to 3.12 have
    the same calls, not yet public, on the socket's ``_sslobj``
    (``_ssl.Certificate`` objects). Neither: an empty list.
    """
    public = getattr(sock, call, None)
    if public is not None:
        found = [certs.load_der(der) for der in public()]
        return [certificate for certificate in found if certificate is not None]
    private = getattr(getattr(sock, "_sslobj", None), call, None)
    if private is None:
        return []
    try:
        found = [certs.load_der(item.public_bytes(_ssl.ENCODING_DER)) for item in private() or ()]
    except (AttributeError, ValueError, ssl.SSLError):
        return []
    return [certificate for certificate in found if certificate is not None]


def _verified_chain(sock: ssl.SSLSocket) -> list[x509.Certificate]:
    """The chain OpenSSL verified, leaf first: what "what is the chain" answers (empty: unknown, and the
    caller shows the leaf and its issuer)."""
    return _chain(sock, "get_verified_chain")


def _presented_chain(sock: ssl.SSLSocket) -> list[x509.Certificate]:
    """The chain the server sent, leaf first (a socket that checked nothing): its leaf at least."""
    chain = _chain(sock, "get_unverified_chain")
    if chain:
        return chain
    der = sock.getpeercert(binary_form=True)
    leaf = certs.load_der(der) if der else None
    return [leaf] if leaf is not None else []


# -- Mail servers (--servers, --login) ---------------------------------------------------------------------------

MAIL_TIMEOUT = 10.0  # seconds for one server's whole dialog: connect, TLS, greeting, capabilities, login
MAX_LINE = 4096  # bytes of one line a mail server sends; RFC 5321 section 4.5.3.1.5 allows 512 for SMTP replies
MAX_LINES = 100  # lines of one reply (a capability list has a dozen or two)
MAIL_SESSIONS_KEPT = 4096  # finished dialogs a fleet run keeps for other domains (shared hosts are asked often)


class MailChecks:
    """``--servers``: each distinct mail-server dialog once (a fleet's domains share one), and ``--login``'s
    password, which nothing but the login step reads and nothing prints (not even this object's repr)."""

    def __init__(self, password: str | None = None, *, timeout: float = MAIL_TIMEOUT) -> None:
        self.__password = password
        self.timeout = timeout
        self.sessions: _Memo[tuple[object, ...], MailSession] = _Memo(limit=MAIL_SESSIONS_KEPT)

    @property
    def login(self) -> bool:
        return self.__password is not None

    def password(self) -> str:
        assert self.__password is not None
        return self.__password

    def __repr__(self) -> str:
        return f"MailChecks(login={self.login})"


class _Talk:
    """Lines to and from a mail server under one deadline; the socket may be swapped for its TLS one."""

    def __init__(self, sock: socket.socket, deadline: float, name: str) -> None:
        self.sock = sock
        self.deadline = deadline
        self.name = name  # host:port, for the words
        self.buffer = b""

    def send(self, text: str) -> None:
        self._timeout()
        try:
            self.sock.sendall(text.encode("utf-8") + b"\r\n")
        except TimeoutError:
            raise _Failed("timeout", f"{self.name}: no room to send within the time limit") from None
        except OSError as exc:
            raise _Failed("closed", f"{self.name}: the connection failed ({exc.strerror or exc})") from None

    def _timeout(self) -> None:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise _Failed("timeout", f"{self.name}: no answer within the time limit")
        self.sock.settimeout(remaining)

    def line(self) -> str:
        while b"\n" not in self.buffer:
            if len(self.buffer) > MAX_LINE:
                raise _Failed("protocol", f"{self.name}: a line longer than {MAX_LINE} bytes, as no mail server sends")
            self._timeout()
            try:
                chunk = self.sock.recv(4096)
            except TimeoutError:
                raise _Failed("timeout", f"{self.name}: no answer within the time limit") from None
            except (OSError, ssl.SSLError) as exc:
                raise _Failed("closed", f"{self.name}: the connection failed ({exc.strerror or exc})") from None
            if not chunk:
                raise _Failed("closed", f"{self.name}: the server closed the connection")
            self.buffer += chunk
        raw, _, self.buffer = self.buffer.partition(b"\n")
        text = raw.rstrip(b"\r").decode("utf-8", "replace")
        return "".join(char if char.isprintable() else "?" for char in text)

    def reply(self, done: Callable[[str], bool]) -> list[str]:
        """Lines until the one ``done`` says ends the reply (at most :data:`MAX_LINES`)."""
        lines: list[str] = []
        while len(lines) < MAX_LINES:
            lines.append(self.line())
            if done(lines[-1]):
                return lines
        raise _Failed("protocol", f"{self.name}: a reply of more than {MAX_LINES} lines, as no mail server sends")

    def upgrade(self, sock: ssl.SSLSocket) -> None:
        # RFC 3207 section 4.2 / RFC 2595 section 3.1: what came before the handshake is discarded (an injection).
        self.sock, self.buffer = sock, b""


def _smtp_done(line: str) -> bool:
    return not (len(line) >= 4 and line[:3].isdecimal() and line[3] == "-")


def _starttls_prelude(protocol: str, name: str) -> Callable[[socket.socket, float], None]:
    """What a client says before its STARTTLS handshake, for the second connection that reads the chain."""

    def prelude(raw: socket.socket, deadline: float) -> None:
        talk = _Talk(raw, deadline, name)
        if protocol == "SMTP":
            talk.reply(_smtp_done)
            talk.send("EHLO [127.0.0.1]")
            talk.reply(_smtp_done)
            talk.send("STARTTLS")
            talk.reply(_smtp_done)
        elif protocol == "POP3":
            talk.line()
            talk.send("STLS")
            talk.line()
        else:
            talk.line()
            talk.send("p STARTTLS")
            talk.reply(lambda line: line.startswith("p "))

    return prelude


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _mask(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "****")
    return text[:200]


class _Dialog:
    """One mail server's dialog, step by step, recording what a MailSession reports."""

    def __init__(self, net: Network, server: MailServer, checks: MailChecks) -> None:
        self.net = net
        self.server = server
        self.checks = checks
        self.name = f"{server.host}:{server.port}"
        self.step = "connect"
        self.greeting = ""
        self.before: tuple[str, ...] = ()
        self.capabilities: tuple[str, ...] = ()
        self.tls: TlsInfo | None = None
        self.tag = 0

    def run(self, username: str | None, method: str | None) -> MailSession:
        started = time.monotonic()
        deadline = started + self.checks.timeout
        server = self.server
        host, port = self.net.route(server.host, server.port)
        addresses, answers = self.net.addresses(host, port)
        address = ""
        login: LoginResult | None = None
        try:
            if not addresses:
                raise _Failed("dns", _no_address(host, answers))
            raw, address = self.net._connect(host, port, addresses, deadline)
            talk = _Talk(raw, deadline, self.name)
            try:
                if server.security == "SSL":
                    self.step = "TLS"
                    sock, self.tls = self.net._handshake(raw, server.host, address, port, deadline, False)
                    talk.upgrade(sock)
                self.step = "greeting"
                self._greet(talk)
                self.step = "capabilities"
                self.capabilities = self._capabilities(talk)
                if server.security == "STARTTLS":
                    self.before = self.capabilities
                    self.step = "STARTTLS"
                    self._starttls(talk, raw, address, port, deadline)
                    self.step = "capabilities"
                    self.capabilities = self._capabilities(talk)
                self.step = ""
                if username is not None and method is not None and self.checks.login:
                    login = self._login(talk, username, method)
                with contextlib.suppress(_Failed):
                    talk.send({"IMAP": "z LOGOUT", "POP3": "QUIT", "SMTP": "QUIT"}[server.protocol])
            finally:
                talk.sock.close()
        except _Failed as failed:
            if self.step == "" and username is not None:  # the login step itself broke off
                login = LoginResult(username, "", False, failed.words)
                failed_step, error, kind = "", "", ""
            else:
                failed_step, error, kind = self.step or "login", failed.words, failed.kind
            tls = failed.tls or self.tls
            return MailSession(
                server, address, answers, tls, self.greeting, self.before, self.capabilities, failed_step, error,
                kind, login, round(time.monotonic() - started, 3),
            )  # fmt: skip
        return MailSession(
            server, address, answers, self.tls, self.greeting, self.before, self.capabilities, "", "", "",
            login, round(time.monotonic() - started, 3),
        )  # fmt: skip

    def _greet(self, talk: _Talk) -> None:
        protocol = self.server.protocol
        lines = talk.reply(_smtp_done) if protocol == "SMTP" else [talk.line()]
        self.greeting = " / ".join(lines)[:300]
        first = lines[0]
        good = {
            "IMAP": first.upper().startswith(("* OK", "* PREAUTH")),
            "POP3": first.startswith("+OK"),
            "SMTP": first.startswith("220"),
        }[protocol]
        if not good:
            raise _Failed("protocol", f"{self.name}: the greeting is not an {protocol} server's ({self.greeting!r})")
        if protocol == "IMAP" and "[CAPABILITY " in first.upper():
            self.capabilities = (first,)

    def _next_tag(self) -> str:
        self.tag += 1
        return f"a{self.tag}"

    def _imap(self, talk: _Talk, command: str) -> list[str]:
        tag = self._next_tag()
        talk.send(f"{tag} {command}")
        lines = talk.reply(lambda line: line.startswith(f"{tag} "))
        if not lines[-1][len(tag) + 1 :].upper().startswith("OK"):
            raise _Failed("protocol", f"{self.name}: {command} answered {lines[-1]!r}")
        return lines

    def _capabilities(self, talk: _Talk) -> tuple[str, ...]:
        protocol = self.server.protocol
        if protocol == "IMAP":
            return tuple(self._imap(talk, "CAPABILITY"))
        if protocol == "POP3":
            talk.send("CAPA")
            first = talk.line()
            if not first.startswith("+OK"):
                return ()  # a server without CAPA (RFC 2449 is an extension): no capability known
            return tuple(talk.reply(lambda line: line == "."))[:-1]
        talk.send(f"EHLO {_local_address(talk.sock)}")  # an address literal, as Thunderbird says EHLO
        lines = talk.reply(_smtp_done)
        if not lines[0].startswith("250"):
            raise _Failed("protocol", f"{self.name}: EHLO answered {lines[-1]!r}")
        return tuple(lines)

    def _starttls(self, talk: _Talk, raw: socket.socket, address: str, port: int, deadline: float) -> None:
        protocol = self.server.protocol
        if not mailproto.offer(protocol, self.before).starttls:
            word = "STLS" if protocol == "POP3" else "STARTTLS"
            raise _Failed("protocol", f"{self.name}: {word} is not offered before TLS")
        if protocol == "IMAP":
            self._imap(talk, "STARTTLS")
        elif protocol == "POP3":
            talk.send("STLS")
            answer = talk.line()
            if not answer.startswith("+OK"):
                raise _Failed("protocol", f"{self.name}: STLS answered {answer!r}")
        else:
            talk.send("STARTTLS")
            answer = talk.reply(_smtp_done)[-1]
            if not answer.startswith("220"):
                raise _Failed("protocol", f"{self.name}: STARTTLS answered {answer!r}")
        self.step = "TLS"
        prelude = _starttls_prelude(protocol, self.name)
        sock, self.tls = self.net._handshake(raw, self.server.host, address, port, deadline, False, prelude)
        talk.upgrade(sock)

    def _login(self, talk: _Talk, username: str, method: str) -> LoginResult:
        if self.tls is None:  # a document that says plain: the probe never sends a password in the clear
            return LoginResult(username, "", False, "no TLS here: the probe sends no password in the clear")
        protocol = self.server.protocol
        found = mailproto.offer(protocol, self.capabilities)
        mechanism = mailproto.login_mechanism(protocol, method, found)
        if not mechanism:
            why = f"the probe has no way to log in with {method} over what the server offers ({found.words()})"
            return LoginResult(username, "", False, why)
        password = self.checks.password()
        secrets = [password]
        if mechanism == "PLAIN":
            secret = _b64(f"\0{username}\0{password}".encode())
            secrets.append(secret)
            answers = [secret]
        elif mechanism == "LOGIN":
            answers = [_b64(username.encode()), _b64(password.encode())]
            secrets.append(answers[1])
        else:  # CRAM-MD5 answers the server's challenge (_sasl); the rest send no SASL answers
            answers = []
        if mechanism in ("PLAIN", "LOGIN", "CRAM-MD5"):
            ok, reply = self._sasl(talk, mechanism, answers, username, password, secrets)
        elif mechanism == "LOGIN command":
            tag = self._next_tag()
            talk.send(f"{tag} LOGIN {_quoted(username)} {_quoted(password)}")
            reply = talk.reply(lambda line: line.startswith(f"{tag} "))[-1]
            ok = reply[len(tag) + 1 :].upper().startswith("OK")
        else:  # USER/PASS
            talk.send(f"USER {username}")
            reply = talk.line()
            if reply.startswith("+OK"):
                talk.send(f"PASS {password}")
                reply = talk.line()
            ok = reply.startswith("+OK")
        return LoginResult(username, mechanism, ok, _mask(reply, secrets))

    def _sasl(
        self, talk: _Talk, mechanism: str, answers: list[str], username: str, password: str, secrets: list[str]
    ) -> tuple[bool, str]:
        """RFC 4422's exchange in each protocol's framing (IMAP RFC 3501 6.2.2, POP3 RFC 5034, SMTP RFC 4954)."""
        protocol = self.server.protocol
        tag = self._next_tag()
        talk.send(f"{tag} AUTHENTICATE {mechanism}" if protocol == "IMAP" else f"AUTH {mechanism}")
        pending = list(answers)
        for _ in range(4):
            line = talk.line()
            if protocol == "SMTP":
                continuation = line.startswith("334")
                challenge = line[4:]
            else:
                continuation = line.startswith("+") and not line.startswith("+OK")
                challenge = line[2:]
            if not continuation:
                if protocol == "IMAP" and not line.startswith(f"{tag} "):
                    continue  # an untagged line before the end
                if protocol == "IMAP":
                    return line[len(tag) + 1 :].upper().startswith("OK"), line
                return line.startswith("235" if protocol == "SMTP" else "+OK"), line
            if mechanism == "CRAM-MD5" and not pending:
                try:
                    decoded = base64.b64decode(challenge.strip(), validate=True)
                except (binascii.Error, ValueError):
                    talk.send("*")
                    continue
                digest = hmac.new(password.encode(), decoded, "md5").hexdigest()
                pending = [_b64(f"{username} {digest}".encode())]
                secrets.append(pending[0])
            talk.send(pending.pop(0) if pending else "*")
        return False, "the server asked for more than a login takes"


def _guarded_dialog(
    net: Network, server: MailServer, checks: MailChecks, username: str | None, method: str | None
) -> MailSession:
    """A dialog that broke unexpectedly is a finding about the probe, never a traceback."""
    try:
        return _Dialog(net, server, checks).run(username, method)
    except Exception as exc:
        words = f"the probe could not judge this ({type(exc).__name__}: {str(exc)[:200]})"
        words = _mask(words, [checks.password()] if checks.login else [])
        return MailSession(server, failed_step="probe", error=words, error_kind="probe")


def _quoted(text: str) -> str:
    """An IMAP quoted string (RFC 3501 section 4.3)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _local_address(sock: socket.socket) -> str:
    """The connection's own address as an RFC 5321 address literal (section 4.1.3)."""
    try:
        address = str(sock.getsockname()[0])
    except OSError:
        return "[127.0.0.1]"
    return f"[IPv6:{address}]" if ":" in address else f"[{address}]"


def network_from(args: argparse.Namespace, workers: int = 32, mail: MailChecks | None = None) -> Network:
    """The Network the probe command's --resolve, --connect-to, --resolver and --ca ask for; ``mail``: the mail
    servers are checked through it (--servers, --login).

    Raises ValueError with a message for the user on a bad --resolve, --resolver or --ca."""
    overrides: dict[tuple[str, int], list[str]] = {}
    for entry in args.resolve:
        host, port, addresses = parse_resolve(entry)
        overrides[(host, port)] = addresses
    connect_to = [parse_connect_to(entry) for entry in getattr(args, "connect_to", None) or ()]
    try:
        return Network(args.resolver, overrides, args.ca, workers=workers, connect_to=connect_to, mail=mail)
    except (OSError, ValueError) as exc:
        raise ValueError(str(exc)) from None
