"""What each table of a config may hold, as data: its keys, their types, defaults, ranges, choices and rules.

One :class:`Section` per table of the configuration reference, each a
tuple of :class:`Key`\\ s in the order the reference lists them (and the
"known keys" message names them). :meth:`Checker.read
<mailautoconf.config.checker.Checker.read>` applies a key: the type, the
range or the rule, the default when it is left out. The defaults are the
model's own (``DnsSettings.ttl``), so the reference, the model and the
checker cannot drift apart unseen: tests/test_config_schema.py compares
this table with the reference.

A rule is a function of a value that returns the value to keep (normalised:
an A-label, an address as Python writes it), None to drop it without a word,
or raises :class:`Refused` with the message. Rules are pure: where a check
needs more than one key (a server's authentication for its direction, a
domain's overrides), the checker's builder for the table does it.
"""

from __future__ import annotations

import enum
import functools
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mailautoconf import dnsnames
from mailautoconf import names
from mailautoconf.model import INCOMING_TYPES
from mailautoconf.model import OUTGOING_TYPES
from mailautoconf.model import POP3_CHECK_MINUTES
from mailautoconf.model import POP3_DAYS
from mailautoconf.model import PORTS
from mailautoconf.model import THUNDERBIRD_PLACEHOLDERS
from mailautoconf.model import TLS_LAYOUTS
from mailautoconf.model import USERNAME_PLACEHOLDERS
from mailautoconf.model import DnsSettings
from mailautoconf.model import PaccSettings
from mailautoconf.model import ServerType
from mailautoconf.model import ServiceSettings
from mailautoconf.model import SocketType
from mailautoconf.model import TlsSettings
from mailautoconf.paccspec import DEFAULT_REVISION as DEFAULT_PACC_REVISION
from mailautoconf.paccspec import REVISIONS as PACC_REVISIONS

__all__ = ["SECTIONS", "Key", "Kind", "Refused", "Section", "host_name"]


class Kind(enum.Enum):
    """How a key's value is read before its rule sees it."""

    STRING = "string"  # printable, not empty, stripped
    HOST = "host name"  # a string that is a host name (``{domain}`` allowed when the key says so), as an A-label
    BOOL = "true or false"
    INTEGER = "whole number"  # within the key's range
    STRINGS = "list of strings"  # a single string is a list of one; the rule applies to each
    TABLE = "table"  # read by the checker's builder for it (``section``: its keys)
    TABLES = "array of tables"
    ANY = "any value"  # given to the rule as it is


class Refused(ValueError):
    """A rule's verdict on a value; the message is the problem's, said at the key."""


Rule = Callable[[Any], Any]


@dataclass(frozen=True)
class Key:
    name: str
    kind: Kind
    required: bool = False
    default: Any = None  # taken when the key is left out; None: nothing (or see default_from)
    default_from: str = ""  # the key whose value stands in when this one is left out
    default_said: str = ""  # a default that is no value (the system's resolver), in the reference's words
    low: int = 0  # INTEGER: the range, and what the number counts ("a number of seconds")
    high: int = 0
    unit: str = ""
    template: bool = False  # HOST: "{domain}" allowed, filled in per domain
    rule: Rule | None = None
    warning: Callable[[Any], str | None] | None = None  # a valid value that is likely a mistake
    section: Section | None = None  # TABLE, TABLES: the keys of the table(s) it holds


@dataclass(frozen=True)
class Section:
    title: str  # as the configuration reference's heading names it
    keys: tuple[Key, ...]

    @functools.cached_property
    def names(self) -> tuple[str, ...]:
        return tuple(key.name for key in self.keys)

    def key(self, name: str) -> Key:
        for key in self.keys:
            if key.name == name:
                return key
        raise KeyError(name)


# -- rules ----------------------------------------------------------------------

# Stands in for {domain} while a host name template is checked as a name.
_DOMAIN_SENTINEL = "domain-placeholder.invalid"
URL = re.compile(r"https?://[^\s<>\"']+")
# An https URL taken apart: the host (a name, maybe with {domain}) and the rest (port, path, query).
HTTPS_URL = re.compile(r"https://(?P<host>[^/:?#\s<>\"']+)(?P<rest>(:\d{1,5})?([/?#][^\s<>\"']*)?)", re.IGNORECASE)
# Used with fullmatch: "$" also matches before a trailing newline ("en\n" passed).
LANGUAGE = re.compile(r"[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*")
# Thunderbird's spelling, which admins coming from hand-written XML will try.
_LEGACY_PLACEHOLDERS = {legacy: placeholder for placeholder, legacy in THUNDERBIRD_PLACEHOLDERS.items()}


def host_name(value: str, key: str, *, template: bool) -> str:
    """``value`` as an A-label host name (``{domain}`` allowed when ``template``); :class:`Refused` if it is none."""
    probe = value.replace("{domain}", _DOMAIN_SENTINEL) if template else value
    if "{" in probe or "}" in probe:
        allowed = " (only {domain} may be used here)" if template else ""
        raise Refused(f'{key} "{value}" has an unknown placeholder{allowed}')
    try:
        ascii_name = names.to_ascii(probe)
    except ValueError as exc:
        raise Refused(f'{key} "{value}" is not a valid host name ({exc})') from None
    return ascii_name.replace(_DOMAIN_SENTINEL, "{domain}")


def _include_pattern(pattern: str) -> str:
    if not pattern:
        raise Refused('"include" names an empty pattern')
    if not pattern.endswith(".toml"):
        raise Refused(f'include "{pattern}" must name .toml files, like "autoconfig.d/*.toml"')
    return pattern


def _dns_address(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise Refused(f'"{text}" is not an IPv4 or IPv6 address') from None


def _listen_address(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text.strip("[]")))
    except ValueError:
        raise Refused(
            f'listen "{text}" is not an IPv4 or IPv6 address (ports: nginx --http-port/--https-port)'
        ) from None


def _tls_layout(layout: str) -> str:
    if layout not in TLS_LAYOUTS:
        raise Refused(f'layout "{layout}" is unknown; use {" or ".join(TLS_LAYOUTS)}')
    return layout


def _absolute_path(key: str) -> Rule:
    # Written into the nginx site: a space, quote or ;{} would end or change its directive.
    def rule(path: str) -> str:
        if not path.startswith("/") or any(char in path for char in " ;{}\"'\\"):
            raise Refused(f'{key} "{path}" must be an absolute path without spaces, quotes or ;{{}}')
        return path

    return rule


def _max_names_warning(count: int) -> str | None:
    if count <= 100:
        return None
    return f"max_names {count}: Let's Encrypt and the other ACME CAs issue at most 100 names per certificate"


def _resolver(text: str) -> str:
    # Here, not at the top: dnslookup brings dnspython, which a config without a resolver never needs.
    from mailautoconf.dnslookup import parse_resolver

    try:
        parse_resolver(text)
    except ValueError as exc:
        raise Refused(f"resolver {exc}") from None
    return text


def _mx_host(text: str) -> str | None:
    if not text:
        return None
    host = host_name(text, "mx", template=False)
    lookup = names.mx_lookup_domains(host)
    too_long = [problem for name in lookup if (problem := dnsnames.mx_lookup_problem(name))]
    if not lookup:
        raise Refused(f'mx "{text}" has no registrable domain to ask autoconfig.<domain> under')
    if too_long:
        raise Refused(f'mx "{text}": {too_long[0]}')
    return host


def _oauth_issuer(url: str) -> str:
    """An https URL without query or fragment: an OAuth2 issuer identifier (RFC 8414)."""
    match = HTTPS_URL.fullmatch(url)
    if match is None or "?" in url or "#" in url:
        raise Refused(f'oauth_issuer "{url}" must be an https URL without query or fragment')
    return f"https://{host_name(match.group('host'), 'oauth_issuer', template=False)}{match.group('rest')}"


def _pacc_revision(revision: Any) -> str:
    if isinstance(revision, str) and revision.strip().removeprefix("-") in PACC_REVISIONS:
        return revision.strip().removeprefix("-")
    known = " or ".join(f'"{name}"' for name in PACC_REVISIONS)
    raise Refused(f"pacc_revision {revision!r} is not a revision this version serves; use {known}")


def _dav_url(url: str) -> str:
    """An https URL (calendars and contacts carry passwords), ``{domain}`` allowed in its host."""
    match = HTTPS_URL.fullmatch(url)
    if match is None:
        raise Refused(f'url "{url}" is not an https URL (calendars and contacts carry passwords)')
    return f"https://{host_name(match.group('host'), 'url', template=True)}{match.group('rest')}"


def _documentation_url(url: str) -> str:
    if not URL.fullmatch(url):
        raise Refused(f'url "{url}" is not an http or https URL')
    return url


def _username(text: str) -> str:
    for legacy, placeholder in _LEGACY_PLACEHOLDERS.items():
        if legacy.lower() in text.lower():
            raise Refused(f'username "{text}": write {placeholder} instead of {legacy}')
    rest = text
    for placeholder in USERNAME_PLACEHOLDERS:
        rest = rest.replace(placeholder, "")
    if "{" in rest or "}" in rest or "%" in rest:
        raise Refused(f'username "{text}" has an unknown placeholder; use {", ".join(USERNAME_PLACEHOLDERS)}')
    return text


def _username_warning(text: str) -> str | None:
    if any(placeholder in text for placeholder in ("{address}", "{localpart}")):
        return None
    return f'username "{text}" is the same for every user; did you mean "{{address}}"?'


def _server_type(direction: str, types: tuple[ServerType, ...]) -> Rule:
    def rule(text: str) -> ServerType:
        found = next((kind for kind in types if kind == text.lower()), None)
        if found is None:
            raise Refused(f'type "{text.lower()}" is not an {direction} server type (use {" or ".join(types)})')
        return found

    return rule


def _socket_type(text: str) -> SocketType:
    member = SocketType.parse(text)
    if member is None:
        hint = ' ("TLS" is the old name; use "SSL" for implicit TLS or "STARTTLS")' if text.upper() == "TLS" else ""
        raise Refused(f'socket_type "{text}" is unknown{hint}; use SSL, STARTTLS or plain')
    return member


# -- the tables -----------------------------------------------------------------

SERVICE = Section(
    "[service]",
    (
        Key("public_hostname", Kind.HOST, required=True),
        Key("include", Kind.STRINGS, default=(), rule=_include_pattern),
        Key(
            "check_interval",
            Kind.INTEGER,
            default=ServiceSettings.check_interval,
            low=1,
            high=3600,
            unit="a number of seconds",
        ),
    ),
)
DNS = Section(
    "[dns]",
    (
        Key("addresses", Kind.STRINGS, default=(), rule=_dns_address),
        Key("ttl", Kind.INTEGER, default=DnsSettings.ttl, low=60, high=604800, unit="a TTL in seconds"),
        Key("common_names", Kind.BOOL, default=DnsSettings.common_names),
    ),
)
TLS = Section(
    "[tls]",
    (
        Key("layout", Kind.STRING, default=TlsSettings.layout, rule=_tls_layout),
        # The defaults of directory and challenges are the layout's (TLS_LAYOUTS); these are dehydrated's.
        Key("directory", Kind.STRING, default=TlsSettings.directory, rule=_absolute_path("directory")),
        Key("challenges", Kind.STRING, default=TlsSettings.challenges, rule=_absolute_path("challenges")),
        Key(
            "max_names",
            Kind.INTEGER,
            default=TlsSettings.max_names,
            low=3,
            high=1000,
            unit="a number of names per certificate",
            warning=_max_names_warning,
        ),
    ),
)
NGINX = Section("[nginx]", (Key("listen", Kind.STRINGS, default=(), rule=_listen_address),))
SIGNING = Section(
    "[signing]",
    (
        Key("certificate", Kind.STRING, required=True),  # paths, relative to the main file's folder
        Key("key", Kind.STRING, required=True),
        Key("chain", Kind.STRING),
    ),
)
PACC = Section(
    "[pacc]",
    (
        Key("check_dns", Kind.BOOL, default=PaccSettings.check_dns),
        Key("resolver", Kind.STRING, default_said="the system's", rule=_resolver),
        Key(
            "recheck_interval",
            Kind.INTEGER,
            default=PaccSettings.recheck_interval,
            low=1,
            high=86400,
            unit="a number of seconds",
        ),
        Key(
            "sweep_interval",
            Kind.INTEGER,
            default=PaccSettings.sweep_interval,
            low=60,
            high=30 * 86400,
            unit="a number of seconds",
        ),
        Key(
            "queries_per_second",
            Kind.INTEGER,
            default=PaccSettings.queries_per_second,
            low=1,
            high=1000,
            unit="a number of queries a second",
        ),
    ),
)

_USERNAME = Key("username", Kind.STRING, rule=_username, warning=_username_warning)
POP3 = Section(
    "pop3",  # documented in its row of the servers' table
    (
        Key("leave_messages_on_server", Kind.BOOL),
        Key("download_on_biff", Kind.BOOL),
        Key(
            "days_to_leave_messages_on_server",
            Kind.INTEGER,
            low=POP3_DAYS[0],
            high=POP3_DAYS[1],
            unit="a number of days",
        ),
        Key(
            "check_interval_minutes",
            Kind.INTEGER,
            low=POP3_CHECK_MINUTES[0],
            high=POP3_CHECK_MINUTES[1],
            unit="a number of minutes",
        ),
    ),
)


def _server_keys(direction: str, types: tuple[ServerType, ...]) -> tuple[Key, ...]:
    return (
        Key("type", Kind.STRING, required=True, rule=_server_type(direction, types)),
        Key("hostname", Kind.HOST, required=True, template=True),
        Key("port", Kind.INTEGER, required=True, low=PORTS[0], high=PORTS[1], unit="a port"),
        Key("socket_type", Kind.STRING, required=True, rule=_socket_type),
        Key("authentication", Kind.STRINGS, required=True),  # methods for the direction: the checker's
        _USERNAME,  # required unless every method takes no credentials: the checker's
    )


INCOMING = Section(
    "[[provider.incoming]]",
    (*_server_keys("incoming", INCOMING_TYPES), Key("pop3", Kind.TABLE, section=POP3)),
)
OUTGOING = Section("[[provider.outgoing]]", _server_keys("outgoing", OUTGOING_TYPES))
DOCUMENTATION = Section(
    "[[provider.documentation]]",
    (
        Key("url", Kind.STRING, required=True, rule=_documentation_url),
        Key("description", Kind.TABLE, required=True),  # language -> text, or a string (English)
    ),
)
DAV = Section(
    "caldav",  # carddav's keys are the same; the reference documents them once, in caldav's row
    (Key("url", Kind.STRING, required=True, rule=_dav_url), _USERNAME),
)
OVERRIDE = Section(
    '[provider.overrides."<domain>"]',
    (
        Key("hostname", Kind.HOST, template=True),
        Key("incoming_hostname", Kind.HOST, template=True),
        Key("outgoing_hostname", Kind.HOST, template=True),
        Key("display_name", Kind.STRING),
        Key("short_name", Kind.STRING),
        Key("own_names", Kind.BOOL),  # left out: the provider's
        Key("caldav", Kind.TABLE, section=DAV),
        Key("carddav", Kind.TABLE, section=DAV),
    ),
)
PROVIDER = Section(
    "[[provider]]",
    (
        Key("id", Kind.HOST, required=True),
        Key("display_name", Kind.STRING, required=True),
        Key("short_name", Kind.STRING, default_from="display_name"),
        Key("domains", Kind.STRINGS, required=True),  # names, each once, with their overrides: the checker's
        Key("list_all_domains", Kind.BOOL, default=False),
        Key("incoming", Kind.TABLES, required=True, section=INCOMING),
        Key("outgoing", Kind.TABLES, required=True, section=OUTGOING),
        Key("documentation", Kind.TABLES, section=DOCUMENTATION),
        Key("overrides", Kind.TABLE, section=OVERRIDE),  # a table of them, keyed by domain
        Key("mx", Kind.STRINGS, default=(), rule=_mx_host),
        Key("own_names", Kind.BOOL, default=True),
        Key("caldav", Kind.TABLE, section=DAV),
        Key("carddav", Kind.TABLE, section=DAV),
        Key("pacc", Kind.BOOL, default=False),
        Key("pacc_revision", Kind.ANY, default=DEFAULT_PACC_REVISION, rule=_pacc_revision),
        Key("oauth_issuer", Kind.STRING, rule=_oauth_issuer),
    ),
)
TOP = Section(
    "the main file",
    (
        Key("service", Kind.TABLE, required=True, section=SERVICE),
        Key("dns", Kind.TABLE, section=DNS),
        Key("tls", Kind.TABLE, section=TLS),
        Key("nginx", Kind.TABLE, section=NGINX),
        Key("signing", Kind.TABLE, section=SIGNING),
        Key("pacc", Kind.TABLE, section=PACC),
        Key("provider", Kind.TABLES, required=True, section=PROVIDER),
    ),
)

# Every table a config may hold, each once.
SECTIONS = (SERVICE, DNS, TLS, NGINX, SIGNING, PACC, PROVIDER, INCOMING, OUTGOING, POP3, DOCUMENTATION, OVERRIDE, DAV)
