"""What a mail server said, as data, and how to read it: greetings, IMAP CAPABILITY, POP3 CAPA, SMTP EHLO.

:mod:`~mailautoconf.probe.net` holds the dialog (it alone touches the
network) and records what it heard in a :class:`MailSession`; every
reading of those lines is here, pure, so that the verdicts
(:mod:`~mailautoconf.probe.mailcheck`) and the dialog's own choices (is
STARTTLS offered, which SASL mechanism to log in with) read them alike and
can be unit-tested on bytes.

The authentication a document promises maps to SASL mechanisms as the
clients map it (Thunderbird's nsMsgAuthMethod, docs/clients.md 1.6):
``password-cleartext`` is PLAIN or LOGIN (and, on IMAP, the LOGIN command,
RFC 3501 section 6.2.3, unless the server says LOGINDISABLED; on POP3,
USER/PASS, RFC 2449's USER capability); ``password-encrypted`` is CRAM-MD5
or a SCRAM mechanism (RFC 5802); ``OAuth2`` is XOAUTH2 or OAUTHBEARER
(RFC 7628).
"""

from __future__ import annotations

from dataclasses import dataclass

from mailautoconf.probe.report import DnsAnswer
from mailautoconf.probe.report import MailServer
from mailautoconf.probe.report import TlsInfo

__all__ = [
    "CLEARTEXT",
    "ENCRYPTED",
    "IMPLICIT",
    "LoginResult",
    "MailSession",
    "Offer",
    "login_mechanism",
    "mechanisms_for",
    "normal_protocol",
    "normal_security",
    "offer",
    "offers_method",
    "promised",
]

CLEARTEXT = ("password-cleartext", "plain")  # "plain" is Thunderbird's old spelling of the same
ENCRYPTED = ("password-encrypted", "secure")
NO_AUTH = ("none", "client-IP-address", "smtp-after-pop")
IMPLICIT = {"IMAP": 993, "POP3": 995, "SMTP": 465}  # RFC 8314 section 7


@dataclass(frozen=True)
class LoginResult:
    """A login attempt with the document's username: never the password, never what was sent."""

    username: str
    mechanism: str  # "PLAIN", "LOGIN", "CRAM-MD5", "LOGIN command", "USER/PASS"; "" when not tried
    ok: bool
    reply: str  # the server's answer to it (the password masked, should a server echo it), or why not tried


@dataclass(frozen=True)
class MailSession:
    """One connection to a mail server as a client makes it, and what the server said on the way.

    ``failed_step`` names the first step that did not work ("" when every
    step did): ``connect``, ``TLS``, ``greeting``, ``STARTTLS``,
    ``capabilities``; the login is :attr:`login`.
    """

    server: MailServer  # protocol IMAP, POP3 or SMTP; security SSL, STARTTLS or plain
    address: str = ""  # the IP address connected to
    dns: tuple[DnsAnswer, ...] = ()
    tls: TlsInfo | None = None
    greeting: str = ""
    before_tls: tuple[str, ...] = ()  # the capability lines before STARTTLS
    capabilities: tuple[str, ...] = ()  # the capability lines the client acts on (after TLS, if any)
    failed_step: str = ""
    error: str = ""
    error_kind: str = ""  # "dns", "connect", "timeout", "tls", "protocol", "closed"
    login: LoginResult | None = None
    seconds: float = 0.0


@dataclass(frozen=True)
class Offer:
    """What a server offers, read from its capability lines."""

    starttls: bool
    mechanisms: frozenset[str]  # SASL mechanisms, upper case
    login_disabled: bool = False  # IMAP LOGINDISABLED (RFC 3501 section 6.2.3)
    user_pass: bool = False  # POP3 USER capability (RFC 2449 section 6.1)

    def words(self) -> str:
        said = ", ".join(sorted(self.mechanisms)) or "no SASL mechanism"
        if self.login_disabled:
            said += "; LOGINDISABLED"
        if self.user_pass:
            said += "; USER"
        return said


def normal_protocol(protocol: str) -> str | None:
    """IMAP, POP3 or SMTP (PACC's SUBMIT is SMTP submission); None for what is not a mail protocol."""
    upper = protocol.upper()
    return {"IMAP": "IMAP", "POP3": "POP3", "SMTP": "SMTP", "SUBMIT": "SMTP"}.get(upper)


def normal_security(protocol: str, port: int, security: str) -> str:
    """SSL, STARTTLS or plain from each format's spelling.

    Apple's profiles say only "use SSL" (``MailServerUseSSL``): Mail uses
    implicit TLS on the implicit-TLS port of RFC 8314 and STARTTLS on any
    other port (render/apple.py writes UseSSL for both socket types).
    """
    value = security.strip().upper()
    if value in ("SSL", "TLS"):
        return "SSL"
    if value == "STARTTLS":
        return "STARTTLS"
    if value == "SSL/TLS":
        return "SSL" if IMPLICIT.get(protocol) == port else "STARTTLS"
    return "plain"


def _words(line: str) -> list[str]:
    return line.replace("\r", "").split()


def offer(protocol: str, lines: tuple[str, ...]) -> Offer:
    """Read capability lines (IMAP: the untagged CAPABILITY and [CAPABILITY] codes; POP3: CAPA's lines; SMTP:
    EHLO's lines, with or without their 250 prefix)."""
    tokens: set[str] = set()
    mechanisms: set[str] = set()
    user_pass = False
    starttls = False
    for line in lines:
        if protocol == "IMAP":
            text = line
            if "[CAPABILITY " in text.upper():
                start = text.upper().index("[CAPABILITY ") + len("[CAPABILITY ")
                text = text[start:].partition("]")[0]
            elif text.upper().startswith("* CAPABILITY"):
                text = text[len("* CAPABILITY") :]
            else:
                continue
            for word in _words(text.upper()):
                tokens.add(word)
                if word.startswith("AUTH="):
                    mechanisms.add(word[5:])
        elif protocol == "POP3":
            words = _words(line.upper())
            if not words:
                continue
            if words[0] == "SASL":
                mechanisms.update(words[1:])
            user_pass = user_pass or words[0] == "USER"
            starttls = starttls or words[0] == "STLS"
        else:
            text = line[4:] if line[:3] == "250" and line[3:4] in ("-", " ") else line
            words = _words(text.upper())
            if not words:
                continue
            keyword, _, rest = words[0].partition("=")  # "AUTH=PLAIN LOGIN": the pre-RFC 4954 spelling
            if keyword == "AUTH":
                mechanisms.update(([rest] if rest else []) + words[1:])
            starttls = starttls or keyword == "STARTTLS"
    if protocol == "IMAP":
        return Offer("STARTTLS" in tokens, frozenset(mechanisms), "LOGINDISABLED" in tokens)
    return Offer(starttls, frozenset(mechanisms), user_pass=user_pass)


def mechanisms_for(method: str) -> tuple[str, ...] | None:
    """The SASL mechanisms that carry a document's authentication method; None for a method the probe does
    not judge (GSSAPI, NTLM, client certificates), () for one without credentials."""
    if method in CLEARTEXT:
        return ("PLAIN", "LOGIN")
    if method in ENCRYPTED:
        return ("CRAM-MD5", "SCRAM-*")
    if method == "OAuth2":
        return ("XOAUTH2", "OAUTHBEARER")
    if method in NO_AUTH:
        return ()
    return None


def promised(methods: tuple[str, ...]) -> str | None:
    """The method the client sets up: the first the probe can judge (Thunderbird's readFromXML takes the first
    ``<authentication>`` it knows)."""
    return next((method for method in methods if mechanisms_for(method) is not None), None)


def offers_method(protocol: str, method: str, found: Offer) -> bool:
    """Whether the server offers a way to log in with ``method``."""
    wanted = mechanisms_for(method)
    if wanted is None or wanted == ():
        return True
    for mechanism in wanted:
        if mechanism.endswith("*"):
            if any(offered.startswith(mechanism[:-1]) for offered in found.mechanisms):
                return True
        elif mechanism in found.mechanisms:
            return True
    if method in CLEARTEXT and protocol == "IMAP":
        return not found.login_disabled  # the LOGIN command
    if method in CLEARTEXT and protocol == "POP3":
        return found.user_pass
    return False


def login_mechanism(protocol: str, method: str, found: Offer) -> str:
    """How the probe logs in for ``method`` (what it can do: PLAIN, LOGIN, CRAM-MD5, the IMAP LOGIN command,
    POP3 USER/PASS); "" when it cannot."""
    if method in CLEARTEXT:
        if "PLAIN" in found.mechanisms:
            return "PLAIN"
        if "LOGIN" in found.mechanisms:
            return "LOGIN"
        if protocol == "IMAP" and not found.login_disabled:
            return "LOGIN command"
        if protocol == "POP3" and found.user_pass:
            return "USER/PASS"
        return ""
    if method in ENCRYPTED and "CRAM-MD5" in found.mechanisms:
        return "CRAM-MD5"
    return ""
