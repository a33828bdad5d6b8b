"""Each client's verdict on one answer it fetched, by that client's own parser rules, in plain words.

The config side of these rules is :mod:`mailautoconf.clientrules` (what a
client does with a *config*); this module judges *documents off the wire*,
whoever served them. Thunderbird for Android's verdict is the emulation of
its parser that the config side uses too (:mod:`mailautoconf.clientrules.android`);
the others are read from the clients' sources as docs/clients.md describes
them (sections cited beside each rule).

Every XML body is read with defusedxml first, DTDs forbidden: an answer
with entity declarations (an XML bomb) is a finding, never a parse. It is
read once however many clients judge it (:func:`parse_xml` keeps the last
few documents by their SHA-256, and a second caller waits for the first),
and no deeper than :data:`MAX_DEPTH` nor further than :data:`MAX_ELEMENTS`
elements: an answer of 1 MiB of unclosed ``<a>`` took 90 MB and 1.6 s to
parse, once per client that judged it, and a fleet probes ``--parallel``
domains at once; it takes a few milliseconds now.
"""

from __future__ import annotations

import hashlib
import json
import plistlib
import re
import threading
import xml.etree.ElementTree as ET
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from xml.parsers.expat import ExpatError

import defusedxml
import defusedxml.ElementTree

from mailautoconf import clientrules
from mailautoconf import paccspec
from mailautoconf.clientrules import android
from mailautoconf.endpoints import AUTODISCOVER_POX
from mailautoconf.probe.report import Exchange
from mailautoconf.probe.report import MailServer
from mailautoconf.probe.report import Verdict
from mailautoconf.render import placeholders

__all__ = [
    "Judgement",
    "android_config",
    "autodiscover_json",
    "evolution_config",
    "gnome_config",
    "gnome_ends_search",
    "kmail_config",
    "pacc_document",
    "parse_xml",
    "pox_response",
    "profile_payloads",
    "thunderbird_config",
    "xml_type",
]

_XML_TYPES = ("text/xml", "application/xml", "text/rdf")  # FetchHTTP.sys.mjs: parsed as XML only then
_LDH = re.compile(r"(?=.{1,253}\Z)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.?\Z", re.I)
_SHOWN = 60  # characters of a hostile value shown in a reason
MAX_DEPTH = 32  # elements inside each other; a config document nests 4 deep, a POX answer 5
MAX_ELEMENTS = 2000  # a config document of the ISPDB's largest providers has a few hundred
_CHUNK = 16 * 1024  # the parser stops within this many bytes of a limit
_KEPT = 16  # documents kept parsed: one probe's distinct answers, a few domains of a fleet


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    reason: str
    servers: tuple[MailServer, ...] = ()
    notes: tuple[str, ...] = ()
    data: dict[str, Any] = field(default_factory=dict, compare=False)  # what later checks compare (profile UUIDs)


def _fail(reason: str) -> Judgement:
    return Judgement(Verdict.FAIL, reason)


def shown(text: str) -> str:
    """A value from an answer, fit for a report line: printable, short, quoted."""
    cleaned = "".join(char if char.isprintable() else "?" for char in text)
    return repr(cleaned[:_SHOWN] + ("..." if len(cleaned) > _SHOWN else ""))


def xml_type(content_type: str) -> bool:
    return content_type.strip().lower().startswith(_XML_TYPES)


class _TooLarge(Exception):
    """Raised from the parser's callback: the document passed a limit, the rest is not read."""


class _Bounded:
    """A TreeBuilder that stops the parse at :data:`MAX_DEPTH` levels or :data:`MAX_ELEMENTS` elements."""

    def __init__(self) -> None:
        self._builder = ET.TreeBuilder()
        self._depth = 0
        self._count = 0

    def start(self, tag: str, attributes: dict[str, str]) -> ET.Element:
        self._depth += 1
        self._count += 1
        if self._depth > MAX_DEPTH:
            raise _TooLarge(f"the answer nests elements more than {MAX_DEPTH} deep, as no config document does")
        if self._count > MAX_ELEMENTS:
            raise _TooLarge(f"the answer has more than {MAX_ELEMENTS} elements, as no config document has")
        return self._builder.start(tag, attributes)

    def end(self, tag: str) -> ET.Element:
        self._depth -= 1
        return self._builder.end(tag)

    def data(self, data: str) -> None:
        self._builder.data(data)

    def close(self) -> ET.Element:
        return self._builder.close()


def _parse(body: bytes) -> ET.Element | str:
    parser = defusedxml.ElementTree.DefusedXMLParser(target=_Bounded(), forbid_dtd=True)
    try:
        # In pieces: expat reads on to the end of what it was given after a callback raised.
        for at in range(0, len(body), _CHUNK):
            parser.feed(body[at : at + _CHUNK])
        root: ET.Element = parser.close()
    except _TooLarge as exc:
        return f"{exc}: the rest is not read"
    except defusedxml.DTDForbidden:
        return "the answer declares a DTD (a way to build XML bombs): refused unread"
    except defusedxml.DefusedXmlException as exc:
        return f"the answer uses XML entities ({type(exc).__name__}): refused unread"
    except ET.ParseError as exc:
        return f"not well-formed XML ({exc})"
    return root


class _Documents:
    """Parsed documents by their bytes' SHA-256, the last :data:`_KEPT`; one parse even for callers at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done: OrderedDict[bytes, ET.Element | str] = OrderedDict()
        self._running: dict[bytes, threading.Event] = {}

    def get(self, body: bytes) -> ET.Element | str:
        key = hashlib.sha256(body).digest()
        while True:
            with self._lock:
                if key in self._done:
                    self._done.move_to_end(key)
                    return self._done[key]
                event = self._running.get(key)
                mine = event is None
                if event is None:
                    event = self._running[key] = threading.Event()
            if not mine:
                event.wait()
                continue
            try:
                parsed = _parse(body)
                with self._lock:
                    self._done[key] = parsed
                    while len(self._done) > _KEPT:
                        self._done.popitem(last=False)
                return parsed
            finally:
                with self._lock:
                    del self._running[key]
                event.set()


_DOCUMENTS = _Documents()


def parse_xml(body: bytes) -> ET.Element | str:
    """The root element, or why it cannot be read (DTDs and entities refused: XML bombs; too deep, too many).

    The same bytes give the same (shared, not to be changed) element: each
    answer is parsed once, whichever clients judge it.
    """
    return _DOCUMENTS.get(body)


def _text(element: ET.Element | None) -> str | None:
    return None if element is None else (element.text or "")


def _host(text: str, address: str) -> bool:
    local, _, domain = address.rpartition("@")
    text = text.replace("%EMAILDOMAIN%", domain).replace("%EMAILLOCALPART%", local).replace("%EMAILADDRESS%", address)
    return bool(_LDH.match(text))


def _fill(text: str, address: str) -> str:
    local, _, domain = address.rpartition("@")
    return text.replace("%EMAILDOMAIN%", domain).replace("%EMAILLOCALPART%", local).replace("%EMAILADDRESS%", address)


def _login(element: ET.Element, address: str) -> tuple[tuple[str, ...], str | None]:
    """(the ``<authentication>`` methods in order, the ``<username>`` filled in for ``address``, None if absent)
    of an autoconfig server element: what ``probe --servers`` checks the server against."""
    methods = tuple((e.text or "").strip() for e in element.findall("authentication"))
    username = _text(element.find("username"))
    return methods, (None if username is None else _fill(username.strip(), address))


# -- Thunderbird desktop (readFromXML.sys.mjs; docs/clients.md sections 1.4, 1.6, 1.7) -------------------

_TB_INCOMING = ("pop3", "imap", "nntp", "exchange", "ews", "owa")
_TB_SOCKETS = {"plain": "plain", "SSL": "SSL", "STARTTLS": "STARTTLS"}
_TB_PASSWORD = {"password-cleartext", "plain", "password-encrypted", "secure", "GSSAPI", "NTLM"}
_TB_OUTGOING_NO_PASSWORD = {"none", "client-IP-address", "smtp-after-pop"}


def _tb_server(element: ET.Element, incoming: bool, address: str) -> tuple[MailServer | None, str]:
    kind = element.get("type", "")
    if incoming and kind not in _TB_INCOMING:
        return None, f"type {shown(kind)} is not one Thunderbird knows"
    if not incoming and kind != "smtp":
        return None, f"outgoing type {shown(kind)} is not smtp"
    host = _text(element.find("hostname"))
    if host is None or not _host(host, address):
        return None, "no valid <hostname>" if host is None else f"hostname {shown(host)} is not a host name"
    port_text = _text(element.find("port")) or ""
    if not port_text.isdecimal() or not 1 <= int(port_text) <= 65535:
        return None, f"port {shown(port_text)} is not 1-65535"
    sockets = [_TB_SOCKETS[t] for t in (e.text or "" for e in element.findall("socketType")) if t in _TB_SOCKETS]
    if not sockets:
        return None, "no socketType of SSL, STARTTLS or plain (values are compared exactly: no whitespace)"
    methods = [e.text or "" for e in element.findall("authentication")]
    known = _TB_PASSWORD | (set() if incoming else _TB_OUTGOING_NO_PASSWORD)
    # OAuth2 counts only for the providers Thunderbird ships registrations for (readAuthentication).
    if not any(method in known for method in methods):
        return None, "no authentication Thunderbird can use (OAuth2 only for providers it knows)"
    host = _fill(host, address).lower()
    return MailServer(kind.upper(), host, int(port_text), sockets[0], *_login(element, address)), ""


def thunderbird_config(exchange: Exchange, address: str) -> Judgement:
    """Thunderbird's verdict on a 2xx answer to an autoconfig URL: what account it would set up."""
    if not xml_type(exchange.content_type):
        # FetchHTTP hands any other type on as text, which readFromXML refuses (docs/clients.md 1.4).
        return _fail(
            f"Content-Type {shown(exchange.content_type or '(none)')}: Thunderbird reads the answer as XML only for "
            "text/xml or application/xml, and fails on it"
        )
    root = parse_xml(exchange.body)
    if isinstance(root, str):
        return _fail(root)
    provider = root.find("emailProvider") if root.tag == "clientConfig" else None
    if provider is None:
        return _fail("no <clientConfig><emailProvider>: not a config document (a web page?)")
    if not _host(provider.get("id", ""), address):
        return _fail(f"emailProvider id {shown(provider.get('id', ''))} is not a host name")
    if not any(_host(element.text or "", address) for element in provider.findall("domain")):
        return _fail("no <domain> that is a host name")
    chosen: list[MailServer] = []
    for tag, incoming in (("incomingServer", True), ("outgoingServer", False)):
        problems = []
        for element in provider.findall(tag):
            server, problem = _tb_server(element, incoming, address)
            if server is not None:
                chosen.append(server)
                break
            problems.append(problem)
        else:
            direction = "incoming" if incoming else "outgoing"
            detail = f" ({problems[0]})" if problems else ""
            return _fail(f"no usable {direction} server{detail}")
    return Judgement(Verdict.OK, "a config Thunderbird sets up", tuple(chosen))


# -- Thunderbird for Android (clientrules.android, the emulation of RealAutoconfigParser; docs/clients.md 1.10)


def android_config(body: bytes, address: str) -> Judgement:
    root = parse_xml(body)
    if isinstance(root, str):
        return _fail(root)
    rejections = android.rejections(body, address)
    if rejections:
        return _fail("Thunderbird for Android rejects the whole document: " + "; ".join(map(str, rejections[:3])))
    provider = root.find("emailProvider")
    elements: dict[str, ET.Element] = {}
    for tag in ("incomingServer", "outgoingServer"):  # the first of its type, as chosen_servers takes it
        for element in provider.findall(tag) if provider is not None else ():
            elements.setdefault(element.get("type", ""), element)
    servers = tuple(
        MailServer(
            server.kind.upper(),
            server.hostname,
            server.port,
            server.socket_type,
            *(_login(elements[server.kind], address) if server.kind in elements else ((), None)),
        )
        for server in android.chosen_servers(root, address)
    )
    return Judgement(Verdict.OK, "a config Thunderbird for Android accepts", servers)


# -- Evolution (e-mail-autoconfig.c; docs/clients.md 1.1 and 1.8) ------------------------------------------


def evolution_config(body: bytes, address: str) -> Judgement:
    """Evolution stops at any well-formed 2xx answer and keeps the *last* server of each type it reads."""
    root = parse_xml(body)
    if isinstance(root, str):
        return _fail(f"{root}: Evolution tries the next URL")
    last: dict[str, MailServer] = {}
    first: dict[str, MailServer] = {}
    for tag in ("incomingServer", "outgoingServer"):
        for element in root.iter(tag):  # GMarkup sees the sections wherever they are
            kind = element.get("type", "")
            if kind not in ("imap", "pop3", "smtp"):
                continue
            port = _text(element.find("port")) or "0"
            server = MailServer(
                kind.upper(),
                _fill(_text(element.find("hostname")) or "", address).lower(),
                int(port) if port.isdecimal() else 0,
                _text(element.find("socketType")) or "",
                *_login(element, address),
            )
            first.setdefault(kind, server)
            last[kind] = server
    incoming = last.get("imap") or last.get("pop3")
    if incoming is None or "smtp" not in last:
        return _fail("Evolution stops at this well-formed answer, but it has no IMAP/POP3 or SMTP server")
    servers = (incoming, last["smtp"])
    misread = [kind for kind in last if last[kind] != first[kind]]
    if misread:
        said = "; ".join(f"{last[kind]} instead of {first[kind]}" for kind in misread)
        return Judgement(
            Verdict.FAIL,
            f"Evolution keeps the last server of each type: it would set up {said}; the server does not answer "
            "Evolution's User-Agent with one server per type",
            servers,
        )
    return Judgement(Verdict.OK, "Evolution sets up the document's first choice", servers)


# -- GNOME Online Accounts (goamailclient.c, goaimapsmtpprovider.c; docs/clients.md 1.15) -------------------

# <username> is taken only when it is exactly one of these, in any letter case; anything else is ignored.
_GNOME_USERNAMES = (placeholders.ADDRESS, placeholders.LOCALPART, placeholders.DOMAIN)
# Its dialog has the host name and STARTTLS or SSL only: the port is the mode's default, <port> unread
# (the same table `check` warns from).
_GNOME_PORTS = {(kind, mode.value): port for (kind, mode), port in clientrules.GNOME_PORTS.items()}


def _gnome_root(exchange: Exchange) -> ET.Element | str:
    """The document GNOME takes, or why it tries the next URL: exactly 200, XML, a <clientConfig> root."""
    if exchange.status != 200:
        return f"status {exchange.status}: GNOME accepts exactly 200 and tries the next URL"
    root = parse_xml(exchange.body)
    if isinstance(root, str):
        return f"{root}: GNOME tries the next URL"
    if _local(root.tag) != "clientConfig":
        return f"the root element is <{shown(_local(root.tag))}>, not <clientConfig>: GNOME tries the next URL"
    return root


def gnome_ends_search(exchange: Exchange) -> bool:
    """A 200 with a <clientConfig> root ends GNOME's search, even one without a server it can use."""
    return not isinstance(_gnome_root(exchange), str)


def gnome_config(exchange: Exchange, address: str) -> Judgement:
    """What GNOME Online Accounts' account dialog fills in from this answer, and what it leaves to the user.

    It reads the first ``imap`` and the first ``smtp`` section of the first
    <emailProvider> (POP3 never); of each only <hostname> as it is (no
    placeholder replaced), <socketType> (SSL or STARTTLS in any letter
    case; plain or anything else becomes SSL) and <username> when it is
    exactly a placeholder. The port is the mode's default whatever <port>
    says; <authentication> is never read (it logs in with LOGIN or PLAIN).
    The Content-Type is not looked at. libxml2 reads in recover mode, so
    GNOME may take a document this stricter parse refuses.
    """
    root = _gnome_root(exchange)
    if isinstance(root, str):
        return _fail(root)
    provider = next((element for element in root.iter() if element.tag == "emailProvider"), None)
    if provider is None:
        return _fail("no <emailProvider>: GNOME stops at this answer and auto-detects nothing")
    servers = []
    notes = []
    for tag, kind in (("incomingServer", "imap"), ("outgoingServer", "smtp")):
        element = next((e for e in provider.findall(tag) if e.get("type", "").lower() == kind), None)
        if element is None:
            return _fail(f"no {tag} of type {kind}: GNOME stops at this answer and auto-detects no {kind.upper()}")
        host = _text(element.find("hostname")) or ""
        if "%" in host:
            return _fail(
                f"{kind} hostname {shown(host)}: GNOME replaces no placeholder in <hostname> and would connect there"
            )
        if not _LDH.match(host):
            return _fail(f"{kind} hostname {shown(host)} is not a host name (GNOME uses the text as it is)")
        said = (_text(element.find("socketType")) or "").upper()
        mode = said if said in ("SSL", "STARTTLS") else "SSL"
        if said not in ("SSL", "STARTTLS"):
            what = "plain" if said == "PLAIN" else shown(said)
            notes.append(f"{kind} socketType {what}: GNOME has no such mode and sets up SSL")
        port = _GNOME_PORTS[(kind, mode)]
        port_text = _text(element.find("port")) or ""
        if port_text != str(port):
            notes.append(f"{kind} port {shown(port_text)}: GNOME ignores <port> and connects to {port}")
        username = _text(element.find("username"))
        if username is None:
            notes.append(f"{kind}: no <username>, the user types it")
        elif username.upper() not in _GNOME_USERNAMES:
            notes.append(
                f"{kind} username {shown(username)}: GNOME fills in only an exact %EMAILADDRESS%, %EMAILLOCALPART% "
                "or %EMAILDOMAIN%; the user types it"
            )
        # It logs in with LOGIN or PLAIN whatever <authentication> says: what probe --servers checks.
        placeholder = None if username is None else username.upper()
        login = _fill(placeholder, address) if placeholder in _GNOME_USERNAMES else None
        servers.append(MailServer(kind.upper(), host.lower().rstrip("."), port, mode, ("password-cleartext",), login))
    if notes:
        return Judgement(
            Verdict.WARN, "GNOME sets up part of it; the user completes the rest", tuple(servers), tuple(notes)
        )
    return Judgement(Verdict.OK, "a config GNOME Online Accounts fills in whole", tuple(servers))


# -- KMail (ispdbservice.cpp; docs/clients.md 1.4, 1.9) ----------------------------------------------------


def kmail_config(exchange: Exchange, address: str) -> Judgement:
    if exchange.status != 200:
        return _fail(f"status {exchange.status}: KMail accepts exactly 200")
    root = parse_xml(exchange.body)
    if isinstance(root, str):
        return _fail(root)
    provider = next(root.iter("emailProvider"), None)
    if provider is None:
        return _fail("no <emailProvider>")
    servers = []
    for tag, kinds in (("incomingServer", ("imap", "pop3")), ("outgoingServer", ("smtp",))):
        for element in provider.findall(tag):
            port = _text(element.find("port")) or ""
            if element.get("type") in kinds and port.isdecimal():  # a server without a port is dropped
                host = _fill(_text(element.find("hostname")) or "", address).lower()
                servers.append(
                    MailServer(
                        element.get("type", "").upper(),
                        host,
                        int(port),
                        _text(element.find("socketType")) or "",
                        *_login(element, address),
                    )
                )
                break
        else:
            return _fail(f"no {'/'.join(kinds)} server with a port")
    return Judgement(Verdict.OK, "a config KMail sets up", tuple(servers))


# -- Autodiscover POX (docs/clients.md sections 2.5, 2.6, 2.8) ----------------------------------------------


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _find(element: ET.Element, name: str) -> ET.Element | None:
    return next((child for child in element if _local(child.tag) == name), None)


# Thunderbird's reading of the port when SSL is on (ExchangeAutoDiscover.sys.mjs): these mean STARTTLS.
_STARTTLS_PORTS = {143, 110, 25, 587}


def _pox_login(protocol: ET.Element) -> tuple[tuple[str, ...], str | None]:
    """POX knows a password only as SPA on (an encrypted method; absent means on) or off (cleartext), and no
    credentials as AuthRequired off (render/outlook.py writes them so)."""
    if (_text(_find(protocol, "AuthRequired")) or "on").strip().lower() == "off":
        methods: tuple[str, ...] = ("none",)
    elif (_text(_find(protocol, "SPA")) or "on").strip().lower() == "off":
        methods = ("password-cleartext",)
    else:
        methods = ("password-encrypted",)
    login = _text(_find(protocol, "LoginName"))
    return methods, (None if login is None else login.strip())


def pox_response(exchange: Exchange, address: str) -> Judgement:
    """The servers an Autodiscover 2006a answer gives; ErrorCode, redirects and Exchange-only answers fail."""
    if exchange.status != 200:
        return _fail(f"status {exchange.status}")
    if not xml_type(exchange.content_type):
        return _fail(f"Content-Type {shown(exchange.content_type or '(none)')} is not XML: Thunderbird refuses it")
    root = parse_xml(exchange.body)
    if isinstance(root, str):
        return _fail(root)
    if _local(root.tag) != "Autodiscover":
        return _fail(f"the root element is <{shown(_local(root.tag))}>, not <Autodiscover>")
    response = _find(root, "Response")
    if response is None:
        return _fail("no <Response>")
    error = _find(response, "Error")
    if error is not None:
        code = _text(_find(error, "ErrorCode")) or "?"
        message = _text(_find(error, "Message")) or ""
        return _fail(f"Autodiscover ErrorCode {shown(code)} ({shown(message)})")
    account = _find(response, "Account")
    if account is None:
        return _fail("no <Account>")
    action = _text(_find(account, "Action")) or ""
    if action in ("redirectAddr", "redirectUrl"):
        return _fail(f"Action {action}: a redirect inside the answer, which Thunderbird does not follow (2.8)")
    servers = []
    for protocol in account:
        if _local(protocol.tag) != "Protocol":
            continue
        kind = _text(_find(protocol, "Type")) or ""
        if kind not in ("IMAP", "POP3", "SMTP"):  # case matters to Thunderbird
            continue
        host = (_text(_find(protocol, "Server")) or "").strip()
        port_text = (_text(_find(protocol, "Port")) or "").strip()
        if not _host(host, address) or not port_text.isdecimal():
            return _fail(f"{kind} has no valid <Server>/<Port> ({shown(host)}:{shown(port_text)})")
        port = int(port_text)
        ssl = (_text(_find(protocol, "SSL")) or "on").strip().lower()
        encryption = (_text(_find(protocol, "Encryption")) or "").strip()
        if ssl == "off" or encryption == "None":
            security = "plain"
        elif encryption == "TLS" or (not encryption and port in _STARTTLS_PORTS):
            security = "STARTTLS"
        else:
            security = "SSL"
        servers.append(MailServer(kind, host.lower(), port, security, *_pox_login(protocol)))
    incoming = [s for s in servers if s.protocol in ("IMAP", "POP3")]
    outgoing = [s for s in servers if s.protocol == "SMTP"]
    if not incoming or not outgoing:
        return _fail("no IMAP/POP3 and SMTP <Protocol> (an Exchange-only answer?)")
    imap = [s for s in incoming if s.protocol == "IMAP"]
    return Judgement(Verdict.OK, "Autodiscover settings", ((imap or incoming)[0], outgoing[0]))


def autodiscover_json(exchange: Exchange) -> Judgement:
    """Autodiscover v2: ``{"Protocol": "AutodiscoverV1", "Url": "https://.../autodiscover.xml"}`` (section 2.9)."""
    if exchange.status != 200:
        return _fail(f"status {exchange.status}")
    try:
        data = json.loads(exchange.body)
    except (ValueError, RecursionError) as exc:
        return _fail(f"not JSON ({str(exc)[:80]})")
    if not isinstance(data, dict):
        return _fail("not a JSON object")
    url = data.get("Url")
    if str(data.get("Protocol", "")).lower() != "autodiscoverv1" or not isinstance(url, str):
        return _fail(f"no Protocol AutodiscoverV1 with a Url (got {shown(json.dumps(data)[:200])})")
    if not url.startswith("https://") or not url.lower().endswith(AUTODISCOVER_POX.path):
        return _fail(f"Url {shown(url)} is not an https Autodiscover POX URL")
    return Judgement(Verdict.OK, f"points at {url}", data={"url": url})


# -- Apple profiles (docs/clients.md section 3) --------------------------------------------------------------

_APPLE_TYPE = "application/x-apple-aspen-config"
# A profile's MailServerAuthentication in Thunderbird's words (render/apple.py writes the other way).
_APPLE_AUTH = {
    "EmailAuthPassword": "password-cleartext",
    "EmailAuthCRAMMD5": "password-encrypted",
    "EmailAuthNTLM": "NTLM",
    "EmailAuthHTTPMD5": "password-encrypted",
    "EmailAuthNone": "none",
}


def profile_payloads(plist: bytes) -> Judgement:
    """The profile's servers and identifiers; ``data`` holds (identifier, UUIDs) for the stability check."""
    try:
        profile = plistlib.loads(plist)
    except (plistlib.InvalidFileException, ValueError, ET.ParseError, ExpatError, OverflowError) as exc:
        return _fail(f"not a property list ({str(exc)[:80]})")
    if not isinstance(profile, dict) or not isinstance(profile.get("PayloadContent"), list):
        return _fail("not a configuration profile (no PayloadContent)")
    uuids = [str(profile.get("PayloadUUID", ""))]
    servers = []
    for payload in profile["PayloadContent"]:
        if not isinstance(payload, dict):
            continue
        uuids.append(str(payload.get("PayloadUUID", "")))
        if payload.get("PayloadType") != "com.apple.mail.managed":
            continue
        kind = "IMAP" if payload.get("EmailAccountType") == "EmailTypeIMAP" else "POP3"
        for prefix, protocol in (("Incoming", kind), ("Outgoing", "SMTP")):
            host = payload.get(f"{prefix}MailServerHostName")
            port = payload.get(f"{prefix}MailServerPortNumber")
            if not isinstance(host, str) or not host or not isinstance(port, int):
                return _fail(f"the mail payload has no {prefix.lower()} host and port (the profile fails to install)")
            security = "SSL/TLS" if payload.get(f"{prefix}MailServerUseSSL") else "plain"
            method = _APPLE_AUTH.get(str(payload.get(f"{prefix}MailServerAuthentication", "")), "")
            username = payload.get(f"{prefix}MailServerUsername")
            servers.append(
                MailServer(
                    protocol,
                    host.lower(),
                    port,
                    security,
                    (method,) if method else (),
                    username if isinstance(username, str) else None,
                )
            )
    if not servers:
        return _fail("no com.apple.mail.managed payload")
    if len(set(uuids)) != len(uuids):
        return _fail("a PayloadUUID is used more than once: the profile does not install")
    identity = {"identifier": profile.get("PayloadIdentifier"), "uuids": uuids}
    return Judgement(Verdict.OK, "a mail profile", tuple(servers), data=identity)


def profile_headers(exchange: Exchange) -> list[str]:
    """What is wrong with how the profile is served: Safari installs only its own type, as an attachment."""
    problems = []
    if not exchange.content_type.lower().startswith(_APPLE_TYPE):
        problems.append(f"Content-Type {shown(exchange.content_type or '(none)')}, not {_APPLE_TYPE}: Safari shows it")
    if "attachment" not in exchange.header("Content-Disposition").lower():
        problems.append("no Content-Disposition: attachment")
    return problems


# -- PACC (draft-ietf-mailmaint-pacc; paccspec) ------------------------------------------------------------


def pacc_document(exchange: Exchange, digests: Iterable[str]) -> Judgement:
    """The PACC document and whether its SHA-256 is in a live ``_ua-auto-config`` TXT record."""
    if exchange.status != 200:
        return _fail(f"status {exchange.status}")
    try:
        data = json.loads(exchange.body)
    except (ValueError, RecursionError):
        return _fail("not JSON")
    if not isinstance(data, dict) or not isinstance(data.get("protocols"), dict):
        return _fail("no protocols object")
    servers = []
    # PACC says only whether a password works (and OAuth's issuer); it names no username.
    said = data.get("authentication")
    methods = tuple(
        method
        for method, key in (("password-cleartext", "password"), ("OAuth2", "oauth-public"))
        if isinstance(said, dict) and said.get(key)
    )
    for name, value in sorted(data["protocols"].items()):
        if isinstance(value, dict) and isinstance(value.get("host"), str):
            port = paccspec.PORTS.get("smtp" if name in ("smtp", "submit") else name, 0)
            servers.append(MailServer(name.upper(), value["host"].lower(), port, "SSL", methods))
    digest = paccspec.digest(exchange.body)
    published = list(digests)
    if digest not in published:
        said = ", ".join(published) if published else "no UAAC1 record"
        return Judgement(
            Verdict.FAIL,
            f"stale digest: the document's SHA-256 is {digest}, the _ua-auto-config TXT record says {said}; "
            "PACC clients reject the document",
            tuple(servers),
            data={"digest": digest},
        )
    return Judgement(Verdict.OK, "the TXT record carries the document's SHA-256", tuple(servers))
