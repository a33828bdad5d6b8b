"""Microsoft Autodiscover, the whole dialect: the POX request and response (Outlook,
Windows Mail, Thunderbird's Exchange fallback) and the Autodiscover v2 JSON answer.

POX: https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/autodiscover-xml-elements-for-exchange-2013
Clients POST to ``/autodiscover/autodiscover.xml`` on ``autodiscover.<d>``,
on ``<d>`` or on the ``_autodiscover._tcp`` SRV target (docs/clients.md sections 2.1 and 2.2).

The response depends on the address only through ``LoginName``, so it is
rendered ahead as a template holding the placeholders of
:mod:`mailautoconf.render.placeholders`; the store fills them per request,
XML-escaped. Only default namespaces are used: Thunderbird matches
un-prefixed element names.
"""

from __future__ import annotations

import json
import re
from typing import Any
from xml.parsers import expat
from xml.sax.saxutils import escape
from xml.sax.saxutils import quoteattr

from mailautoconf.endpoints import AUTODISCOVER_POX
from mailautoconf.model import ENCRYPTED_METHODS
from mailautoconf.model import NO_PASSWORD
from mailautoconf.model import Domain
from mailautoconf.model import Provider
from mailautoconf.model import ResolvedServer
from mailautoconf.model import SocketType
from mailautoconf.render import placeholders

__all__ = [
    "AUTODISCOVER_V1",
    "OUTLOOK_RESPONSE_SCHEMA",
    "REQUEST_SCHEMA",
    "RESPONSE_SCHEMAS",
    "error_document",
    "for_any_address",
    "json_bytes",
    "json_error",
    "parse_request",
    "render_json",
    "render_pox",
    "spa_on",
]

REQUEST_SCHEMA = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
ENVELOPE_SCHEMA = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
OUTLOOK_RESPONSE_SCHEMA = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
MOBILESYNC_RESPONSE_SCHEMA = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006"
# Response schemas a client may ask for; only these are ever echoed back.
RESPONSE_SCHEMAS = (OUTLOOK_RESPONSE_SCHEMA, MOBILESYNC_RESPONSE_SCHEMA)
AUTODISCOVER_V1 = "AutodiscoverV1"

# Outlook's <Type> per server type; Thunderbird compares it case-sensitively.
_PROTOCOL_TYPES = {"imap": "IMAP", "pop3": "POP3", "smtp": "SMTP"}
# <SSL>, <Encryption> per socket type; Encryption "TLS" means STARTTLS.
_ENCRYPTION = {
    SocketType.SSL: ("on", "SSL"),
    SocketType.STARTTLS: ("on", "TLS"),
    SocketType.PLAIN: ("off", "None"),
}


def spa_on(methods: tuple[str, ...]) -> bool:
    """Whether POX says ``<SPA>on</SPA>`` for a server offering ``methods``.

    POX knows only SPA on or off (an absent SPA means on). Outlook reads on
    as NTLM; Thunderbird as "secure", any encrypted method (CRAM-MD5, NTLM,
    GSSAPI), and off as a cleartext password. So: on when NTLM is preferred,
    or when the server takes no cleartext password but an encrypted one.
    """
    if methods[0] == "NTLM":
        return True
    return "password-cleartext" not in methods and bool(ENCRYPTED_METHODS & set(methods))


def _protocol(server: ResolvedServer, domain: Domain) -> str:
    ssl, encryption = _ENCRYPTION[server.socket_type]
    spa = "on" if spa_on(server.authentication) else "off"
    auth_required = "off" if set(server.authentication) <= NO_PASSWORD else "on"
    lines = [
        "      <Protocol>",
        f"        <Type>{_PROTOCOL_TYPES[server.type]}</Type>",
        f"        <Server>{escape(server.hostname)}</Server>",
        f"        <Port>{server.port}</Port>",
    ]
    if server.username is not None:  # None: the server takes no credentials
        lines.append(f"        <LoginName>{escape(placeholders.username(server.username, domain))}</LoginName>")
    lines += [
        "        <DomainRequired>off</DomainRequired>",
        f"        <SPA>{spa}</SPA>",
        f"        <SSL>{ssl}</SSL>",
        f"        <Encryption>{encryption}</Encryption>",
        f"        <AuthRequired>{auth_required}</AuthRequired>",
    ]
    if server.type == "smtp" and "smtp-after-pop" in server.authentication:
        lines.append("        <UsePOPAuth>on</UsePOPAuth>")
    lines.append("      </Protocol>")
    return "\n".join(lines) + "\n"


def render_pox(provider: Provider, domain: Domain) -> bytes:
    """Render the 2006a response template for ``domain``, servers in preference order."""
    protocols = "".join(_protocol(server, domain) for server in provider.resolve_servers(domain))
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<Autodiscover xmlns="{ENVELOPE_SCHEMA}">\n'
        f'  <Response xmlns="{OUTLOOK_RESPONSE_SCHEMA}">\n'
        "    <Account>\n"
        "      <AccountType>email</AccountType>\n"
        "      <Action>settings</Action>\n"
        f"{protocols}"
        "    </Account>\n"
        "  </Response>\n"
        "</Autodiscover>\n"
    ).encode()


# A LoginName the POX template fills from the request's address (render_pox, placeholders.username).
_ADDRESS_LOGIN = re.compile(
    rb"[ \t]*<LoginName>[^<]*(?:"
    + re.escape(placeholders.ADDRESS.encode())
    + rb"|"
    + re.escape(placeholders.LOCALPART.encode())
    + rb")[^<]*</LoginName>\n"
)
_FOR_ANY_ADDRESS_NOTE = (
    b"    <!-- For no address in particular: this answers a GET, which carries none. A login that\n"
    b"         depends on the address is left out (clients then log in with the address);\n"
    b"         POST the request for it. -->\n"
)


def for_any_address(pox: bytes) -> bytes:
    """The domain's POX response with what depends on the address left out: the answer to a GET.

    Delta Chat asks Autodiscover with a GET without body and reads only the
    servers (docs/clients.md section 2.7): a GET names no address, so a
    ``LoginName`` built from one cannot be given. Leaving it out is what every
    reader takes as "log in with the address" (Thunderbird's readAutoDiscoverXML
    and Delta Chat's default); a login that names no address stays. The
    comment says so to whoever reads the document.
    """
    stripped = _ADDRESS_LOGIN.sub(b"", pox)
    if stripped == pox:
        return pox
    action = b"      <Action>settings</Action>\n"
    return stripped.replace(action, action + _FOR_ANY_ADDRESS_NOTE, 1)


def render_json(provider: Provider, domain: Domain) -> bytes:
    """Render the Autodiscover v2 answer: where this domain's POX endpoint is; empty when no name says.

    Outlook POSTs the POX request to the ``Url``, so its host must resolve
    to this service and have a certificate: ``autodiscover.<d>`` for a
    domain with own names. A domain without them (``own_names = false``)
    has no such name in dns, certs or nginx; what they make for it is the
    MX lookup name ``autoconfig.<MX domain>`` of its provider (the first,
    the one Thunderbird asks first), on which the service answers POX for
    any hosted address. Without ``mx`` there is none (``check`` warns): the
    empty document is answered 404 NotFound, and Outlook goes on to the
    ``_autodiscover._tcp`` SRV record (docs/clients.md sections 2.1, 2.9).
    """
    if provider.has_own_names(domain):
        host = f"autodiscover.{domain.name}"
    elif provider.mx_domains:
        host = f"autoconfig.{provider.mx_domains[0]}"
    else:
        return b""
    return json_bytes({"Protocol": AUTODISCOVER_V1, "Url": f"https://{host}{AUTODISCOVER_POX.path}"})


def error_document(code: int, message: str, time: str, error_id: int, response_schema: str | None = None) -> bytes:
    """Render a POX error: 600 invalid request, 601 schema not available,
    500 unknown address, 603 server error.

    ``response_schema`` (one of :data:`RESPONSE_SCHEMAS`) goes on ``Response``
    as Exchange does for a 601, so the client sees which schema it asked for.
    """
    namespace = f' xmlns="{response_schema}"' if response_schema in RESPONSE_SCHEMAS else ""
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<Autodiscover xmlns="{ENVELOPE_SCHEMA}">\n'
        f"  <Response{namespace}>\n"
        f'    <Error Time={quoteattr(time)} Id="{error_id}">\n'
        f"      <ErrorCode>{code}</ErrorCode>\n"
        f"      <Message>{escape(message)}</Message>\n"
        "      <DebugData />\n"
        "    </Error>\n"
        "  </Response>\n"
        "</Autodiscover>\n"
    ).encode()


# What json.dumps leaves raw but an HTML or XML reader would take for markup.
_MARKUP_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


def json_bytes(value: Any, indent: int | None = None) -> bytes:
    """``value`` as ASCII JSON in which no byte is markup.

    JSON strings may spell any character as ``\\uXXXX`` (RFC 8259 section 7),
    and ``<``, ``>``, ``&`` are spelled so: a body that echoes request input
    then cannot close a ``<script>`` or start a tag in a browser that sniffs
    it as HTML, or is shown one inside a page. Non-ASCII (U+2028 and U+2029
    among them, line ends to JavaScript) is escaped by ``ensure_ascii``.
    """
    separators = (",", ": ") if indent is not None else (",", ":")
    text = json.dumps(value, indent=indent, separators=separators, ensure_ascii=True)
    return text.translate(_MARKUP_ESCAPES).encode("ascii")


def json_error(code: str, message: str) -> bytes:
    """Render an Autodiscover v2 error body; ``message`` may quote the request (see :func:`json_bytes`)."""
    return json_bytes({"ErrorCode": code, "ErrorMessage": message})


class _Refused(Exception):
    """The request declares a DTD or an entity: never expanded, never fetched."""


def _refuse(*args: object) -> None:
    raise _Refused


class _RequestReader:
    """Collects the children of ``Autodiscover/Request`` from expat's events, as ElementTree would see them.

    The text of a child is what ElementTree calls its ``.text``: up to the
    child's first own child. The first ``Request`` counts, and within it
    the last child of a name, as a dict built from the tree would have it.
    """

    def __init__(self) -> None:
        self.depth = 0
        self.root_ok = False
        self.in_request = False
        self.request_seen = False
        self.values: dict[str, str] = {}
        self._name = ""
        self._text: list[str] | None = None

    def start(self, name: str, attributes: object) -> None:
        local = name.rpartition(" ")[2]
        self.depth += 1
        if self.depth == 1:
            self.root_ok = local == "Autodiscover"
        elif self.depth == 2 and self.root_ok and not self.request_seen and local == "Request":
            self.in_request = self.request_seen = True
        elif self.depth == 3 and self.in_request:
            self._name, self._text = local, []
        elif self.depth == 4 and self._text is not None:
            self.values[self._name] = "".join(self._text).strip()
            self._text = None  # the rest is its children's, not its own text

    def end(self, name: str) -> None:
        if self.depth == 3 and self._text is not None:
            self.values[self._name] = "".join(self._text).strip()
            self._text = None
        elif self.depth == 2:
            self.in_request = False
        self.depth -= 1

    def data(self, text: str) -> None:
        if self._text is not None:
            self._text.append(text)


def parse_request(body: bytes) -> tuple[str, str] | None:
    """The address and the acceptable response schema of a POX request; None when it is not one.

    The body is untrusted. expat is driven directly, with what defusedxml's
    ``forbid_dtd`` sets up: a DOCTYPE, an entity declaration or an external
    entity reference aborts the parse, so nothing is expanded (XML bombs)
    or fetched (XXE), and only the elements asked for are kept. Through
    defusedxml's ElementTree the same parse cost a third of the answer's own
    time (cProfile), building a tree nobody reads. Elements are matched by
    local name: clients disagree on the request namespace, and some send none.

    The XML declaration's encoding is the client's word too. expat reads
    UTF-8, UTF-16 and ASCII itself and asks Python for any other name:
    an unknown one (``x-nonsense``, ``mbcs`` off Windows) or a codec that is
    no text encoding (``rot13``) raises LookupError, a multi-byte one
    (Shift_JIS) ValueError, and a BOM that contradicts the declaration is an
    ExpatError. All are requests that cannot be read: None, so the client
    gets the protocol's 600, not a 500.
    """
    reader = _RequestReader()
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse
    parser.EntityDeclHandler = _refuse
    parser.UnparsedEntityDeclHandler = _refuse
    parser.ExternalEntityRefHandler = _refuse  # type: ignore[assignment]
    parser.StartElementHandler = reader.start
    parser.EndElementHandler = reader.end
    parser.CharacterDataHandler = reader.data
    try:
        parser.Parse(body, True)
    except (expat.ExpatError, _Refused, ValueError, LookupError):
        # UnicodeError is a ValueError.
        return None
    address = reader.values.get("EMailAddress", "")
    if not reader.root_ok or not address:
        return None
    # Thunderbird always names the schema; a request without one can only mean Outlook's.
    return address, reader.values.get("AcceptableResponseSchema") or OUTLOOK_RESPONSE_SCHEMA
