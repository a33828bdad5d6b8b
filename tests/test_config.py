"""config.loads / config.load: the model the shipped file gives, and every message, word for word.

Most cases edit ``BASE`` (a small valid file whose line numbers are listed
next to it) so the expected line of each message can be checked by eye.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mailautoconf import clientrules
from mailautoconf import config
from mailautoconf.config import ConfigError
from mailautoconf.model import SocketType
from mailautoconf.problems import Severity

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "config" / "autoconfig.toml"
SOURCE = "config/autoconfig.toml"

# Line numbers, for reading the expected messages below:
#  1 [service]                          9 [[provider.incoming]]      17 [[provider.outgoing]]
#  2 public_hostname = ...             10 type = "imap"              18 type = "smtp"
#  3                                   11 hostname = ...             19 hostname = ...
#  4 [[provider]]                      12 port = 993                 20 port = 465
#  5 id = "example.net"                13 socket_type = "SSL"        21 socket_type = "SSL"
#  6 display_name = "Example Mail"     14 authentication = [...]     22 authentication = [...]
#  7 domains = [...]                   15 username = "{address}"     23 username = "{address}"
#  8                                   16                            24 (blank; appended text starts at 25)
BASE = """\
[service]
public_hostname = "autoconfig.example.net"

[[provider]]
id = "example.net"
display_name = "Example Mail"
domains = ["example.net", "example.org"]

[[provider.incoming]]
type = "imap"
hostname = "mail.example.net"
port = 993
socket_type = "SSL"
authentication = ["password-cleartext"]
username = "{address}"

[[provider.outgoing]]
type = "smtp"
hostname = "mail.example.net"
port = 465
socket_type = "SSL"
authentication = ["password-cleartext"]
username = "{address}"
"""

INCOMING = BASE[BASE.index("[[provider.incoming]]") : BASE.index("[[provider.outgoing]]")]
OUTGOING = BASE[BASE.index("[[provider.outgoing]]") :]

POP3_SERVER = """\
[[provider.incoming]]
type = "pop3"
hostname = "mail.example.net"
port = 995
socket_type = "SSL"
authentication = ["password-cleartext"]
username = "{address}"
"""

SECOND_PROVIDER = (
    """\
[[provider]]
id = "example.com"
display_name = "Second Mail"
domains = ["example.com"]

"""
    + INCOMING
    + OUTGOING
)


def _edit(old: str, new: str, text: str = BASE) -> str:
    """``text`` with the first ``old`` replaced by ``new``."""
    assert old in text, old
    return text.replace(old, new, 1)


def _append(extra: str, text: str = BASE) -> str:
    """``text`` with a blank line and ``extra`` after it (``extra`` starts on line 25 of BASE)."""
    return text + "\n" + extra


def _outgoing(old: str, new: str) -> str:
    """BASE with ``old`` replaced inside the outgoing server only."""
    start = BASE.index("[[provider.outgoing]]")
    return BASE[:start] + _edit(old, new, BASE[start:])


def _errors(text: str | bytes) -> str:
    with pytest.raises(ConfigError) as excinfo:
        config.loads(text, SOURCE)
    return str(excinfo.value)


def _at(line: int | None, message: str) -> str:
    return f"{SOURCE}, line {line}: {message}" if line else f"{SOURCE}: {message}"


P = 'provider "example.net"'
IN1 = 'provider "example.net", incoming server 1'
IN2 = 'provider "example.net", incoming server 2'
OUT1 = 'provider "example.net", outgoing server 1'
TWO_LABELS = "a host name has at least two labels, like mail.example.org"
LABEL_RULE = "may only hold letters, digits and inner hyphens"
NO_PORT = "a host name has no :port (the port has a key of its own)"
SERVER_KEYS = "known keys: type, hostname, port, socket_type, authentication, username, pop3"
PROVIDER_KEYS = (
    "known keys: id, display_name, short_name, domains, list_all_domains, incoming, outgoing, documentation, "
    "overrides, mx, own_names, caldav, carddav, pacc, pacc_revision, oauth_issuer"
)
OVERRIDE_KEYS = (
    "known keys: hostname, incoming_hostname, outgoing_hostname, display_name, short_name, own_names, caldav, carddav"
)
POP3_KEYS = (
    "known keys: leave_messages_on_server, download_on_biff, days_to_leave_messages_on_server, check_interval_minutes"
)
LONG_LABEL = "a" * 64


# -- the shipped file --------------------------------------------------------


def test_shipped_config_loads_cleanly() -> None:
    result = config.loads(SHIPPED.read_bytes(), SOURCE)
    assert result.warnings == ()
    assert config.load(str(SHIPPED)).config.providers == result.config.providers


def test_shipped_config_model() -> None:
    result = config.loads(SHIPPED.read_bytes(), SOURCE)
    cfg = result.config
    assert cfg.source == SOURCE
    assert cfg.service.public_hostname == "autoconfig.example.net"
    assert len(cfg.providers) == 1
    provider = cfg.providers[0]
    assert provider.id == "example.net"
    assert provider.display_name == "Your Own Mail Provider"
    assert provider.short_name == "example.net"
    assert provider.list_all_domains is False
    assert [d.name for d in provider.domains] == ["example.net", "example.org", "example.com"]
    assert [d.unicode for d in provider.domains] == ["example.net", "example.org", "example.com"]
    assert list(cfg.domains()) == ["example.net", "example.org", "example.com"]

    incoming = [(s.type, s.hostname, s.port, s.socket_type) for s in provider.incoming]
    assert incoming == [
        ("imap", "mail.example.net", 993, SocketType.SSL),
        ("imap", "mail.example.net", 143, SocketType.STARTTLS),
        ("pop3", "mail.example.net", 995, SocketType.SSL),
        ("pop3", "mail.example.net", 110, SocketType.STARTTLS),
    ]
    outgoing = [(s.type, s.hostname, s.port, s.socket_type) for s in provider.outgoing]
    assert outgoing == [
        ("smtp", "mail.example.net", 465, SocketType.SSL),
        ("smtp", "mail.example.net", 587, SocketType.STARTTLS),
    ]
    for server in provider.incoming + provider.outgoing:
        assert server.authentication == ("password-cleartext",)
        assert server.username == "{address}"
    assert [s.direction for s in provider.incoming] == ["incoming"] * 4
    assert [s.direction for s in provider.outgoing] == ["outgoing"] * 2
    for server in provider.incoming[2:]:
        assert server.pop3.leave_messages_on_server is True
        assert server.pop3.download_on_biff is None
    for server in provider.incoming[:2]:
        assert server.pop3.is_empty()

    assert len(provider.documentation) == 1
    documentation = provider.documentation[0]
    assert documentation.url == "http://www.example.net/"
    assert documentation.descriptions == (
        ("en", "Generic settings page"),
        ("de", "Allgemeine Beschreibung der Einstellungsmöglichkeiten"),
    )


def test_base_fixture_is_valid() -> None:
    result = config.loads(BASE, SOURCE)
    assert result.warnings == ()
    assert [d.name for d in result.config.providers[0].domains] == ["example.net", "example.org"]


# -- errors, word for word ---------------------------------------------------

ERROR_CASES = [
    # TOML syntax
    pytest.param(
        _edit("port = 993", "port = "),
        _at(12, "TOML syntax error: invalid value (column 8)"),
        id="syntax-missing-value",
    ),
    pytest.param(
        _append("[[provider.incoming]\n"),
        _at(25, "TOML syntax error: expected ']]' at the end of an array declaration (column 20)"),
        id="syntax-unclosed-array-header",
    ),
    pytest.param(
        _edit("port = 993", "port = 993\nport = 994"),
        _at(13, "TOML syntax error: cannot overwrite a value (column 11)"),
        id="syntax-key-twice",
    ),
    pytest.param(
        _append('short_name = "unterminated'),
        _at(None, "TOML syntax error: unterminated string at the end of the file"),
        id="syntax-unterminated-string-at-end",
    ),
    # unknown keys, with and without a hint
    pytest.param(
        _edit("[service]", 'hostnme = "x"\n\n[service]'),
        _at(1, 'unknown key "hostnme"; known keys: service, dns, tls, nginx, signing, pacc, provider'),
        id="unknown-key-top-level",
    ),
    pytest.param(
        _append('[[providers]]\nid = "example.com"\n'),
        _at(
            25,
            'unknown key "providers" (did you mean "provider"?); '
            "known keys: service, dns, tls, nginx, signing, pacc, provider",
        ),
        id="unknown-key-top-level-hint",
    ),
    pytest.param(
        _edit("[service]\n", "[service]\npublic_host = 1\n"),
        _at(
            2,
            '[service]: unknown key "public_host" (did you mean "public_hostname"?); '
            "known keys: public_hostname, include, check_interval",
        ),
        id="unknown-key-service",
    ),
    pytest.param(
        _edit('domains = ["example.net", "example.org"]', 'domains = ["example.net", "example.org"]\ndomain = "x"'),
        _at(8, f'{P}: unknown key "domain" (did you mean "domains"?); {PROVIDER_KEYS}'),
        id="unknown-key-provider",
    ),
    pytest.param(
        _edit("port = 993", "port = 993\nsocket-type = 1"),
        _at(13, f'{IN1}: unknown key "socket-type" (did you mean "socket_type"?); {SERVER_KEYS}'),
        id="unknown-key-server",
    ),
    pytest.param(
        _outgoing("port = 465", "port = 465\npop3 = { leave_messages_on_server = true }"),
        _at(21, f'{OUT1}: unknown key "pop3"; {SERVER_KEYS.removesuffix(", pop3")}'),
        id="unknown-key-pop3-on-outgoing",
    ),
    pytest.param(
        _append('[provider.overrides."example.org"]\nhostnam = "mx.example.org"\n'),
        _at(26, f'{P}, overrides for "example.org": unknown key "hostnam" (did you mean "hostname"?); {OVERRIDE_KEYS}'),
        id="unknown-key-overrides",
    ),
    pytest.param(
        _append(POP3_SERVER + "pop3 = { leave_message_on_server = true }\n"),
        _at(
            32,
            'provider "example.net", incoming server 2: unknown key "leave_message_on_server" '
            f'(did you mean "leave_messages_on_server"?); {POP3_KEYS}',
        ),
        id="unknown-key-pop3",
    ),
    pytest.param(
        _append("[[provider.documentation]]\nurl = \"https://example.net/help\"\ndescription = 'x'\nlang = 'en'\n"),
        _at(28, f'{P}, documentation 1: unknown key "lang"; known keys: url, description'),
        id="unknown-key-documentation",
    ),
    # wrong types
    pytest.param(
        _edit("port = 993", 'port = "993"'),
        _at(12, f'{IN1}: "port" must be a whole number, not a string'),
        id="string-for-number",
    ),
    pytest.param(
        _edit('display_name = "Example Mail"', "display_name = 3"),
        _at(6, f'{P}: "display_name" must be a string, not a number'),
        id="number-for-string",
    ),
    pytest.param(
        _edit('hostname = "mail.example.net"', "hostname = 3.5"),
        _at(11, f'{IN1}: "hostname" must be a string, not a decimal number'),
        id="float-for-string",
    ),
    pytest.param(
        _edit('display_name = "Example Mail"', 'display_name = ["Example Mail"]'),
        _at(6, f'{P}: "display_name" must be a string, not a list'),
        id="list-for-string",
    ),
    pytest.param(
        _edit('socket_type = "SSL"', "socket_type = { ssl = true }"),
        _at(13, f'{IN1}: "socket_type" must be a string, not a table'),
        id="table-for-string",
    ),
    pytest.param(
        _edit('["password-cleartext"]', "true"),
        _at(14, f'{IN1}: "authentication" must be a list of strings, not true/false'),
        id="bool-for-list",
    ),
    pytest.param(
        _edit("port = 993", "port = true"),
        _at(12, f'{IN1}: "port" must be a whole number, not true/false'),
        id="bool-for-number",
    ),
    pytest.param(
        _edit('display_name = "Example Mail"', 'display_name = "Example Mail"\nlist_all_domains = "yes"'),
        _at(7, f'{P}: "list_all_domains" must be true or false, not a string'),
        id="string-for-bool",
    ),
    pytest.param(
        _edit('id = "example.net"', "id = 3"),
        _at(5, 'provider 1: "id" must be a string, not a number'),
        id="number-for-id",
    ),
    pytest.param(
        _edit('display_name = "Example Mail"', 'display_name = "   "'),
        _at(6, f'{P}: "display_name" must not be empty'),
        id="blank-string",
    ),
    pytest.param(
        _edit('display_name = "Example Mail"', 'display_name = "Example\\tMail"'),
        _at(6, f'{P}: "display_name" contains a control character'),
        id="control-character",
    ),
    pytest.param(
        _edit("port = 993", "port = 993.0"),
        _at(12, f'{IN1}: "port" must be a whole number, not a decimal number'),
        id="float-for-port",
    ),
    pytest.param(
        _edit("port = 993", "port = inf"),
        _at(12, f'{IN1}: "port" must be a whole number, not a decimal number'),
        id="inf-for-port",
    ),
    pytest.param(
        _edit("port = 993", "port = 1979-05-27"),
        _at(12, f'{IN1}: "port" must be a whole number, not a date'),
        id="date-for-port",
    ),
    pytest.param(
        _edit('domains = ["example.net", "example.org"]', "domains = [1, 2]"),
        _at(7, f'{P}: "domains" must be a list of strings, not a list containing a number'),
        id="list-of-numbers-for-domains",
    ),
    # ports
    pytest.param(
        _edit("port = 993", "port = 0"),
        _at(12, f"{IN1}: port 0 is not a port (1-65535)"),
        id="port-0",
    ),
    pytest.param(
        _edit("port = 993", "port = 99999"),
        _at(12, f"{IN1}: port 99999 is not a port (1-65535)"),
        id="port-99999",
    ),
    pytest.param(
        _edit("port = 993", "port = -1"),
        _at(12, f"{IN1}: port -1 is not a port (1-65535)"),
        id="port-negative",
    ),
    pytest.param(
        _edit("port = 993", "port = 123456789012345678901234567890"),
        _at(12, f"{IN1}: port 123456789012345678901234567890 is not a port (1-65535)"),
        id="port-huge",
    ),
    pytest.param(
        _outgoing("port = 465", "port = 65536"),
        _at(20, f"{OUT1}: port 65536 is not a port (1-65535)"),
        id="port-65536-outgoing",
    ),
    pytest.param(
        _edit("port = 993\n", ""),
        _at(9, f'{IN1}: "port" is missing'),
        id="port-missing",
    ),
    # socket types
    pytest.param(
        _edit('socket_type = "SSL"', 'socket_type = "SSLv3"'),
        _at(13, f'{IN1}: socket_type "SSLv3" is unknown; use SSL, STARTTLS or plain'),
        id="socket-type-unknown",
    ),
    pytest.param(
        _edit('socket_type = "SSL"', 'socket_type = "TLS"'),
        _at(
            13,
            f'{IN1}: socket_type "TLS" is unknown ("TLS" is the old name; use "SSL" for implicit TLS or "STARTTLS"); '
            "use SSL, STARTTLS or plain",
        ),
        id="socket-type-old-tls",
    ),
    pytest.param(
        _outgoing('socket_type = "SSL"', 'socket_type = "tls"'),
        _at(
            21,
            f'{OUT1}: socket_type "tls" is unknown ("TLS" is the old name; use "SSL" for implicit TLS or "STARTTLS"); '
            "use SSL, STARTTLS or plain",
        ),
        id="socket-type-old-tls-lower-case",
    ),
    pytest.param(
        _edit('socket_type = "SSL"\n', ""),
        _at(9, f'{IN1}: "socket_type" is missing'),
        id="socket-type-missing",
    ),
    # authentication
    pytest.param(
        _edit('["password-cleartext"]', '["pasword-cleartext"]'),
        _at(14, f'{IN1}: authentication method "pasword-cleartext" is unknown (did you mean "password-cleartext"?)'),
        id="auth-unknown-with-hint",
    ),
    pytest.param(
        _edit('["password-cleartext"]', '["password-cleartext", "xyzzy"]'),
        _at(14, f'{IN1}: authentication method "xyzzy" is unknown'),
        id="auth-unknown-without-hint",
    ),
    pytest.param(
        _edit('["password-cleartext"]', '["smtp-after-pop"]'),
        _at(14, f'{IN1}: authentication method "smtp-after-pop" is only for outgoing servers'),
        id="auth-smtp-after-pop-incoming",
    ),
    pytest.param(
        _edit('["password-cleartext"]', '["password-cleartext", "OAuth2", "password-cleartext"]'),
        _at(14, f'{IN1}: authentication method "password-cleartext" is listed twice'),
        id="auth-listed-twice",
    ),
    pytest.param(
        _edit('["password-cleartext"]', '["NTLM", "ntlm"]'),
        _at(14, f'{IN1}: authentication method "NTLM" is listed twice'),
        id="auth-listed-twice-case",
    ),
    pytest.param(
        _edit('["password-cleartext"]', "[]"),
        _at(14, f'{IN1}: "authentication" is empty; list at least one method'),
        id="auth-empty-list",
    ),
    pytest.param(
        _edit('authentication = ["password-cleartext"]\n', ""),
        _at(9, f'{IN1}: "authentication" is missing'),
        id="auth-missing",
    ),
    # usernames
    pytest.param(
        _edit('username = "{address}"', 'username = "%EMAILADDRESS%"'),
        _at(15, f'{IN1}: username "%EMAILADDRESS%": write {{address}} instead of %EMAILADDRESS%'),
        id="username-thunderbird-address",
    ),
    pytest.param(
        _edit('username = "{address}"', 'username = "%EMAILLOCALPART%@example.net"'),
        _at(
            15,
            f'{IN1}: username "%EMAILLOCALPART%@example.net": write {{localpart}} instead of %EMAILLOCALPART%',
        ),
        id="username-thunderbird-localpart",
    ),
    pytest.param(
        _outgoing('username = "{address}"', 'username = "{localpart}@%emaildomain%"'),
        _at(23, f'{OUT1}: username "{{localpart}}@%emaildomain%": write {{domain}} instead of %EMAILDOMAIN%'),
        id="username-thunderbird-domain-lower-case",
    ),
    pytest.param(
        _edit('username = "{address}"', 'username = "{user}"'),
        _at(15, f'{IN1}: username "{{user}}" has an unknown placeholder; use {{address}}, {{localpart}}, {{domain}}'),
        id="username-unknown-placeholder",
    ),
    pytest.param(
        _edit('username = "{address}"', 'username = "{address"'),
        _at(15, f'{IN1}: username "{{address" has an unknown placeholder; use {{address}}, {{localpart}}, {{domain}}'),
        id="username-unclosed-placeholder",
    ),
    # host names
    pytest.param(
        _edit('hostname = "mail.example.net"', 'hostname = "mail.{dommain}"'),
        _at(11, f'{IN1}: hostname "mail.{{dommain}}" has an unknown placeholder (only {{domain}} may be used here)'),
        id="hostname-unknown-placeholder",
    ),
    pytest.param(
        _edit('hostname = "mail.example.net"', 'hostname = "{address}"'),
        _at(11, f'{IN1}: hostname "{{address}}" has an unknown placeholder (only {{domain}} may be used here)'),
        id="hostname-address-placeholder",
    ),
    pytest.param(
        _edit('hostname = "mail.example.net"', 'hostname = "mail_1.example.net"'),
        _at(11, f'{IN1}: hostname "mail_1.example.net" is not a valid host name (the label "mail_1" {LABEL_RULE})'),
        id="hostname-underscore",
    ),
    pytest.param(
        _edit('hostname = "mail.example.net"', 'hostname = "mail"'),
        _at(11, f'{IN1}: hostname "mail" is not a valid host name ({TWO_LABELS})'),
        id="hostname-single-label",
    ),
    pytest.param(
        _edit('hostname = "mail.example.net"', 'hostname = "mail.example.net:993"'),
        _at(11, f'{IN1}: hostname "mail.example.net:993" is not a valid host name ({NO_PORT})'),
        id="hostname-with-port",
    ),
    pytest.param(
        _edit('hostname = "mail.example.net"', 'hostname = "-mail.{domain}"'),
        _at(11, f'{IN1}: hostname "-mail.{{domain}}" is not a valid host name (the label "-mail" {LABEL_RULE})'),
        id="hostname-template-leading-hyphen",
    ),
    pytest.param(
        _edit('hostname = "mail.example.net"', f'hostname = "{LONG_LABEL}.example.net"'),
        _at(
            11,
            f'{IN1}: hostname "{LONG_LABEL}.example.net" is not a valid host name '
            "(a label is longer than 63 characters)",
        ),
        id="hostname-label-too-long",
    ),
    pytest.param(
        _edit('hostname = "mail.example.net"', 'hostname = "192.0.2.25"'),
        _at(11, f'{IN1}: hostname "192.0.2.25" is not a valid host name (an IP address is not a host name)'),
        id="hostname-ipv4-literal",
    ),
    pytest.param(
        _edit('public_hostname = "autoconfig.example.net"', 'public_hostname = "autoconfig"'),
        _at(2, f'[service]: public_hostname "autoconfig" is not a valid host name ({TWO_LABELS})'),
        id="public-hostname-single-label",
    ),
    pytest.param(
        _edit('public_hostname = "autoconfig.example.net"', 'public_hostname = "autoconfig.{domain}"'),
        _at(2, '[service]: public_hostname "autoconfig.{domain}" has an unknown placeholder'),
        id="public-hostname-placeholder",
    ),
    pytest.param(
        _edit('id = "example.net"', 'id = "Example Net"'),
        _at(
            5,
            f'provider "Example Net": id "Example Net" is not a valid host name (the label "example net" {LABEL_RULE})',
        ),
        id="provider-id-not-a-hostname",
    ),
    # domains
    pytest.param(
        _edit('"example.org"]', '"example.org", "example.net"]'),
        _at(7, f'{P}: domain "example.net" is listed twice'),
        id="domain-twice",
    ),
    pytest.param(
        _edit('"example.org"]', '"example.org", "Example.ORG."]'),
        _at(7, f'{P}: domain "Example.ORG." is listed twice'),
        id="domain-twice-letter-case",
    ),
    pytest.param(
        _edit('"example.org"]', '"example.org", "bücher.example", "xn--bcher-kva.example"]'),
        _at(7, f'{P}: domain "xn--bcher-kva.example" is listed twice'),
        id="domain-twice-unicode-and-punycode",
    ),
    pytest.param(
        _append(_edit('["example.com"]', '["example.com", "EXAMPLE.org"]', SECOND_PROVIDER)),
        _at(28, 'provider "example.com": domain "example.org" is already hosted by provider "example.net" (line 7)'),
        id="domain-in-two-providers",
    ),
    pytest.param(
        _edit('"example.org"]', '"example.org", "exa mple.org"]'),
        _at(7, f'{P}: domain "exa mple.org" is not a valid domain name (the label "exa mple" {LABEL_RULE})'),
        id="domain-invalid",
    ),
    pytest.param(
        _edit('"example.org"]', '"example.org", ""]'),
        _at(7, f'{P}: domain "" is not a valid domain name (the name is empty)'),
        id="domain-empty-string",
    ),
    pytest.param(
        _edit('domains = ["example.net", "example.org"]\n', ""),
        _at(4, f'{P}: "domains" is missing'),
        id="domains-missing",
    ),
    pytest.param(
        _edit('domains = ["example.net", "example.org"]', "domains = []"),
        _at(7, f'{P}: no domains: list the mail domains this provider hosts in "domains"'),
        id="domains-empty-list",
    ),
    # overrides
    pytest.param(
        _append('[provider.overrides."example.com"]\nhostname = "mail.example.com"\n'),
        _at(25, f'{P}: overrides for "example.com", which is not in this provider\'s domains'),
        id="overrides-unknown-domain",
    ),
    pytest.param(
        _edit(
            'domains = ["example.net", "example.org"]',
            'domains = ["example.net", "example.org"]\n'
            'overrides = { "example.com" = { hostname = "mail.example.com" } }',
        ),
        _at(8, f'{P}: overrides for "example.com", which is not in this provider\'s domains'),
        id="overrides-unknown-domain-inline",
    ),
    pytest.param(
        _append('[provider.overrides."example.org"]\nhostname = "mail.{user}"\n'),
        _at(
            26,
            f'{P}, overrides for "example.org": hostname "mail.{{user}}" has an unknown placeholder '
            "(only {domain} may be used here)",
        ),
        id="overrides-hostname-placeholder",
    ),
    pytest.param(
        _append('[provider.overrides."example.org"]\noutgoing_hostname = "smtp_out.example.org"\n'),
        _at(
            26,
            f'{P}, overrides for "example.org": outgoing_hostname "smtp_out.example.org" '
            f'is not a valid host name (the label "smtp_out" {LABEL_RULE})',
        ),
        id="overrides-hostname-invalid",
    ),
    pytest.param(
        _append('[provider.overrides."exa mple.org"]\nhostname = "mail.example.org"\n'),
        _at(
            25,
            f'{P}, overrides for "exa mple.org": "exa mple.org" '
            f'is not a valid domain name (the label "exa mple" {LABEL_RULE})',
        ),
        id="overrides-invalid-domain",
    ),
    pytest.param(
        _edit('domains = ["example.net", "example.org"]', 'domains = ["example.net", "example.org"]\noverrides = 3'),
        _at(8, f"{P}: overrides must be a table, not a number"),
        id="overrides-not-a-table",
    ),
    # [service]
    pytest.param(
        BASE[BASE.index("[[provider]]") :],
        _at(None, '[service]: the [service] table is missing; it needs public_hostname = "autoconfig.<your domain>"'),
        id="service-missing",
    ),
    pytest.param(
        _edit('public_hostname = "autoconfig.example.net"\n', ""),
        _at(1, '[service]: "public_hostname" is missing'),
        id="public-hostname-missing",
    ),
    pytest.param(
        _edit("[service]\n", "service = 3\n[unused]\n"),
        _at(1, "[service]: [service] must be a table, not a number")
        + "\n"
        + _at(2, 'unknown key "unused"; known keys: service, dns, tls, nginx, signing, pacc, provider'),
        id="service-not-a-table",
    ),
    # providers
    pytest.param(
        BASE[: BASE.index("[[provider]]")],
        _at(None, "no [[provider]] is defined; add at least one with its domains and servers"),
        id="no-provider",
    ),
    pytest.param(
        BASE[: BASE.index("[[provider]]")].replace("[service]", "provider = 3\n[service]"),
        _at(1, "provider must be written as [[provider]] tables"),
        id="provider-not-an-array-of-tables",
    ),
    pytest.param(
        _append(_edit('["example.com"]', '["example.com", "example.co"]', SECOND_PROVIDER)).replace(
            'id = "example.com"', 'id = "EXAMPLE.net"'
        ),
        _at(26, 'provider "example.net": another provider has the same id (line 5)'),
        id="provider-id-twice",
    ),
    pytest.param(
        _edit('id = "example.net"\n', ""),
        _at(4, 'provider 1: "id" is missing'),
        id="provider-id-missing",
    ),
    pytest.param(
        _edit('display_name = "Example Mail"\n', ""),
        _at(4, f'{P}: "display_name" is missing'),
        id="display-name-missing",
    ),
    pytest.param(
        BASE.replace(INCOMING, ""),
        _at(4, f"{P}: no incoming server: add at least one [[provider.incoming]]"),
        id="no-incoming-server",
    ),
    pytest.param(
        BASE.replace(OUTGOING, ""),
        _at(4, f"{P}: no outgoing server: add at least one [[provider.outgoing]]"),
        id="no-outgoing-server",
    ),
    pytest.param(
        _edit(
            'domains = ["example.net", "example.org"]', 'domains = ["example.net", "example.org"]\noutgoing = []'
        ).replace(OUTGOING, ""),
        _at(4, f"{P}: no outgoing server: add at least one [[provider.outgoing]]"),
        id="outgoing-empty-list",
    ),
    pytest.param(
        _edit("[[provider.incoming]]", "[provider.incoming]"),
        _at(9, f"{P}: incoming servers must be written as [[provider.incoming]] tables"),
        id="incoming-single-table",
    ),
    # server types
    pytest.param(
        _edit('type = "imap"', 'type = "smtp"'),
        _at(10, f'{IN1}: type "smtp" is not an incoming server type (use imap or pop3)'),
        id="smtp-as-incoming",
    ),
    pytest.param(
        _outgoing('type = "smtp"', 'type = "imap"'),
        _at(18, f'{OUT1}: type "imap" is not an outgoing server type (use smtp)'),
        id="imap-as-outgoing",
    ),
    pytest.param(
        _edit('type = "imap"', 'type = "POP"'),
        _at(10, f'{IN1}: type "pop" is not an incoming server type (use imap or pop3)'),
        id="incoming-type-unknown",
    ),
    pytest.param(
        _edit('type = "imap"\n', ""),
        _at(9, f'{IN1}: "type" is missing'),
        id="type-missing",
    ),
    # pop3 options
    pytest.param(
        _edit('username = "{address}"', 'username = "{address}"\npop3 = { leave_messages_on_server = true }'),
        _at(16, f"{IN1}: pop3 options on a server that is not of type pop3"),
        id="pop3-options-on-imap",
    ),
    pytest.param(
        _append(POP3_SERVER + "pop3 = { leave_messages_on_server = 1, days_to_leave_messages_on_server = 0 }\n"),
        _at(
            32,
            f'{IN2}: "leave_messages_on_server" must be true or false, not a number',
        )
        + "\n"
        + _at(
            32,
            f"{IN2}: days_to_leave_messages_on_server 0 is not a number of days (1-36500)",
        ),
        id="pop3-option-values",
    ),
    # documentation
    pytest.param(
        _append('[[provider.documentation]]\nurl = "ftp://example.net/help"\ndescription = "Help"\n'),
        _at(26, f'{P}, documentation 1: url "ftp://example.net/help" is not an http or https URL'),
        id="documentation-url-ftp",
    ),
    pytest.param(
        _append('[[provider.documentation]]\nurl = "javascript:alert(1)"\ndescription = "Help"\n'),
        _at(26, f'{P}, documentation 1: url "javascript:alert(1)" is not an http or https URL'),
        id="documentation-url-javascript",
    ),
    pytest.param(
        _append('[[provider.documentation]]\nurl = "https://example.net/help"\ndescription = { en_US = "Help" }\n'),
        _at(27, f'{P}, documentation 1: "en_US" is not a language code like "en" or "pt-BR"')
        + "\n"
        + _at(27, f"{P}, documentation 1: description has no text"),
        id="documentation-bad-language-code",
    ),
    pytest.param(
        _append('[[provider.documentation]]\nurl = "https://example.net/help"\n'),
        _at(25, f'{P}, documentation 1: description is missing; write description = {{ en = "..." }}'),
        id="documentation-description-missing",
    ),
    pytest.param(
        _append('[[provider.documentation]]\nurl = "https://example.net/help"\ndescription = {}\n'),
        _at(27, f"{P}, documentation 1: description has no text"),
        id="documentation-description-empty",
    ),
    pytest.param(
        _append('[[provider.documentation]]\ndescription = "Help"\n'),
        _at(25, f'{P}, documentation 1: "url" is missing'),
        id="documentation-url-missing",
    ),
    pytest.param(
        _edit(
            'domains = ["example.net", "example.org"]', 'domains = ["example.net", "example.org"]\ndocumentation = "x"'
        ),
        _at(8, f"{P}: documentation must be written as [[provider.documentation]] tables"),
        id="documentation-not-tables",
    ),
]


@pytest.mark.parametrize(("text", "expected"), ERROR_CASES)
def test_error_message(text: str, expected: str) -> None:
    assert _errors(text) == expected


@pytest.mark.parametrize(("text", "expected"), ERROR_CASES)
def test_error_message_from_bytes(text: str, expected: str) -> None:
    """The file is read as bytes; that path gives the same messages."""
    assert _errors(text.encode("utf-8")) == expected


def test_problem_fields() -> None:
    with pytest.raises(ConfigError) as excinfo:
        config.loads(_edit("port = 993", "port = 99999"), SOURCE)
    (problem,) = excinfo.value.problems
    assert problem.file == SOURCE
    assert problem.line == 12
    assert problem.where == IN1
    assert problem.message == "port 99999 is not a port (1-65535)"
    assert problem.severity is Severity.ERROR
    assert excinfo.value.warnings == []


def test_every_error_is_reported_sorted_by_line() -> None:
    text = _append(
        "[extra]\nx = 1\n",
        _outgoing('socket_type = "SSL"', 'socket_type = "TLS"')
        .replace('username = "{address}"', 'username = "{user}"', 1)
        .replace("port = 993", "port = 99999")
        .replace('display_name = "Example Mail"', "display_name = 3"),
    )
    errors = _errors(text).split("\n")
    assert errors == [
        _at(6, f'{P}: "display_name" must be a string, not a number'),
        _at(12, f"{IN1}: port 99999 is not a port (1-65535)"),
        _at(15, f'{IN1}: username "{{user}}" has an unknown placeholder; use {{address}}, {{localpart}}, {{domain}}'),
        _at(
            21,
            f'{OUT1}: socket_type "TLS" is unknown ("TLS" is the old name; use "SSL" for implicit TLS or "STARTTLS"); '
            "use SSL, STARTTLS or plain",
        ),
        _at(25, 'unknown key "extra"; known keys: service, dns, tls, nginx, signing, pacc, provider'),
    ]


def test_errors_of_several_providers_are_all_reported() -> None:
    second = SECOND_PROVIDER.replace("port = 465", "port = 0").replace('type = "imap"', 'type = "imap4"')
    text = _append(second, _edit("port = 993", "port = 65536"))
    with pytest.raises(ConfigError) as excinfo:
        config.loads(text, SOURCE)
    assert [(p.line, p.where, p.message) for p in excinfo.value.problems] == [
        (12, IN1, "port 65536 is not a port (1-65535)"),
        (
            31,
            'provider "example.com", incoming server 1',
            'type "imap4" is not an incoming server type (use imap or pop3)',
        ),
        (41, 'provider "example.com", outgoing server 1', "port 0 is not a port (1-65535)"),
    ]


def test_warnings_of_a_broken_file_are_kept_apart() -> None:
    text = _edit("port = 993", "port = 0").replace('socket_type = "SSL"', 'socket_type = "plain"', 1)
    with pytest.raises(ConfigError) as excinfo:
        config.loads(text, SOURCE)
    assert [str(p) for p in excinfo.value.problems] == [_at(12, f"{IN1}: port 0 is not a port (1-65535)")]
    assert "warning" not in str(excinfo.value)


# -- line numbers ------------------------------------------------------------

TWO_PROVIDERS = (
    BASE
    + """
[[provider]]
id = "example.com"
display_name = "Second"
domains = ["example.com"]

[[provider.incoming]]   # second provider, incoming 1
type = "imap"
hostname = "imap.example.com"
port = 993
socket_type = "SSL"
authentication = ["password-cleartext"]
username = "{address}"

[[provider.incoming]]   # second provider, incoming 2
type = "imap"
hostname = "imap.example.com"
port = 143
socket_type = "STARTLS"
authentication = ["password-cleartext"]
username = "{address}"

[[provider.incoming]]   # second provider, incoming 3
type = "pop3"
hostname = "pop.example.com"
port = 99995
socket_type = "SSL"
authentication = ["password-cleartext"]
username = "{address}"
pop3 = { leave_messages_on_server = true, check_interval = 5 }

[[provider.outgoing]]
type = "smtp"
hostname = "smtp.example.com"
port = 587
socket_type = "STARTTLS"
authentication = [
    "password-cleartext",
    "smtp-after-pop",
    "kerberos",
]
usrname = "{address}"
"""
)


def test_lines_in_second_provider() -> None:
    # TWO_PROVIDERS: the second [[provider]] is on line 25, its incoming servers on 30, 38 and 46
    # (socket_type on 42, port on 49, the inline pop3 table on 53), its outgoing server on 55
    # (the multi-line authentication array on 60-64, "usrname" on 65).
    second = 'provider "example.com"'
    assert _errors(TWO_PROVIDERS).split("\n") == [
        _at(42, f'{second}, incoming server 2: socket_type "STARTLS" is unknown; use SSL, STARTTLS or plain'),
        _at(49, f"{second}, incoming server 3: port 99995 is not a port (1-65535)"),
        _at(
            53,
            f'{second}, incoming server 3: unknown key "check_interval" '
            f'(did you mean "check_interval_minutes"?); {POP3_KEYS}',
        ),
        _at(55, f'{second}, outgoing server 1: "username" is missing'),
        _at(60, f'{second}, outgoing server 1: authentication method "kerberos" is unknown'),
        _at(
            65,
            f'{second}, outgoing server 1: unknown key "usrname" (did you mean "username"?); '
            + SERVER_KEYS.removesuffix(", pop3"),
        ),
    ]


def test_line_after_multiline_array() -> None:
    text = _edit(
        'authentication = ["password-cleartext"]',
        'authentication = [\n  "password-cleartext",  # the usual [\n  "NTLM",\n]',
    )
    text = _edit('username = "{address}"', 'username = "{nobody}"', text)
    assert _errors(text) == _at(
        18, f'{IN1}: username "{{nobody}}" has an unknown placeholder; use {{address}}, {{localpart}}, {{domain}}'
    )


def test_line_inside_multiline_array_is_the_key_line() -> None:
    text = _edit(
        'authentication = ["password-cleartext"]',
        'authentication = [\n  "password-cleartext",\n  "bogus",\n]',
    )
    assert _errors(text) == _at(14, f'{IN1}: authentication method "bogus" is unknown')


def test_line_after_multiline_string() -> None:
    text = _edit(
        'display_name = "Example Mail"',
        'display_name = """\\\n    Example \\\n    short_name = 1 \\\n    Mail"""\nshort_name = 2',
    )
    assert (
        config.loads(_edit("short_name = 2", 'short_name = "ok"', text), SOURCE).config.providers[0].display_name
        == "Example short_name = 1 Mail"
    )
    assert _errors(text) == _at(10, f'{P}: "short_name" must be a string, not a number')


def test_line_after_multiline_literal_string() -> None:
    text = _edit(
        'display_name = "Example Mail"',
        "display_name = '''Example Mail'''\nshort_name = '''\nport = 1\n'''\nlist_all_domains = 3",
    )
    assert _errors(text).split("\n") == [
        _at(7, f'{P}: "short_name" contains a control character'),
        _at(10, f'{P}: "list_all_domains" must be true or false, not a number'),
    ]


def test_line_in_inline_table() -> None:
    text = _append(POP3_SERVER + "pop3 = { leave_messages_on_server = true, download_on_biff = 1 }\n")
    assert _errors(text) == _at(
        32, 'provider "example.net", incoming server 2: "download_on_biff" must be true or false, not a number'
    )


def test_line_with_crlf_line_ends() -> None:
    text = _edit("port = 993", "port = 99999").replace("\n", "\r\n")
    assert _errors(text.encode()) == _at(12, f"{IN1}: port 99999 is not a port (1-65535)")


def test_line_after_string_with_escaped_quote_and_bracket() -> None:

    text = _edit('display_name = "Example Mail"', 'display_name = "The \\"[Best\\" Mail"\nshort_name = 3')
    assert _errors(text) == _at(7, f'{P}: "short_name" must be a string, not a number')


def test_line_after_multiline_string_in_inline_table() -> None:

    text = _append(
        '[[provider.documentation]]\nurl = "https://example.net/help"\n'
        'description = { en = """\\\n    Help""" }\nlang = "en"\n'
    )
    assert _errors(text) == _at(29, f'{P}, documentation 1: unknown key "lang"; known keys: url, description')


def test_line_after_escaped_triple_quote_in_multiline_string() -> None:

    text = _edit(
        'display_name = "Example Mail"', 'display_name = """Say \\"""\\\nshort_name = 1 \\\n"""\nshort_name = 2'
    )
    assert _errors(text) == _at(9, f'{P}: "short_name" must be a string, not a number')


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85"], ids=["LS", "PS", "NEL"])
def test_line_after_unicode_line_separator_in_comment(separator: str) -> None:

    text = _edit("[[provider]]", f"# note{separator}more\n[[provider]]").replace("port = 993", "port = 99999")
    assert _errors(text) == _at(13, f"{IN1}: port 99999 is not a port (1-65535)")


def test_line_of_dotted_key() -> None:

    text = _edit("port = 993", "port.x = 1")
    assert _errors(text) == _at(12, f'{IN1}: "port" must be a whole number, not a table')


def test_line_of_table_named_only_in_a_dotted_header() -> None:

    text = _append('[[providers.incoming]]\ntype = "imap"\n')
    assert _errors(text) == _at(
        25,
        'unknown key "providers" (did you mean "provider"?); '
        "known keys: service, dns, tls, nginx, signing, pacc, provider",
    )


# -- warnings ----------------------------------------------------------------


def _gnome_ignores(username: str) -> str:
    """clientrules' warning for a username GNOME Online Accounts ignores (docs/clients.md section 1.15)."""
    return (
        f'GNOME Online Accounts ignores username "{username}": it fills in <username> only when it is exactly '
        "%EMAILADDRESS%, %EMAILLOCALPART% or %EMAILDOMAIN%, so GNOME users must type the username themselves "
        '("{address}" and "{localpart}" are the forms it reads)'
    )


WARNING_CASES = [
    pytest.param(
        _edit('socket_type = "SSL"', 'socket_type = "plain"'),
        [
            _at(
                13,
                f'warning: {IN1}: socket_type "plain" sends passwords unencrypted; Thunderbird for Android rejects '
                "the whole document and Thunderbird warns the user",
            ),
            _at(
                13,
                f"warning: {IN1}: GNOME Online Accounts has no plain connection: it sets this imap server up with "
                "SSL on port 993",
            ),
        ],
        id="plain-socket",
    ),
    pytest.param(
        _edit('type = "imap"', 'type = "pop3"'),
        [_at(4, f"warning: {P}: no IMAP server: Thunderbird for Android rejects POP3-only settings")],
        id="pop3-only",
    ),
    pytest.param(
        _edit('["password-cleartext"]', '["OAuth2"]'),
        [
            _at(
                9,
                f"warning: {P}: no incoming server whose authentication an Apple profile can state "
                "(password-cleartext, password-encrypted, NTLM, none, client-IP-address): Apple devices get no profile",
            ),
            _at(
                14,
                f'warning: {IN1}: Autodiscover cannot say "OAuth2": Outlook and Thunderbird set up through it send '
                "a cleartext password (over the connection's TLS); list password-cleartext too if the server "
                "accepts it",
            ),
            _at(
                14,
                f"warning: {IN1}: Thunderbird accepts OAuth2 only for providers it knows; list a password "
                "method after OAuth2 or it drops this server",
            ),
        ],
        id="oauth2-without-password",
    ),
    pytest.param(
        _outgoing('["password-cleartext"]', '["OAuth2", "NTLM"]'),
        [
            _at(
                22,
                f"warning: {OUT1}: Thunderbird accepts OAuth2 only for providers it knows; list a password "
                "method after OAuth2 or it drops this server",
            ),
        ],
        id="oauth2-without-password-outgoing",
    ),
    pytest.param(
        _edit('["password-cleartext"]', '["none"]'),
        [
            _at(
                14,
                f"warning: {IN1}: Thunderbird ignores an incoming server whose only methods are "
                "none, client-IP-address or TLS-client-cert",
            ),
            # The same line, by the document Android reads: it needs a password or OAuth2 too.
            _at(
                14,
                f"warning: {IN1}: Thunderbird for Android rejects the whole document: no usable authentication "
                "(password-cleartext, password-encrypted or OAuth2)",
            ),
        ],
        id="incoming-only-none",
    ),
    pytest.param(
        _edit('["password-cleartext"]', '["client-IP-address", "TLS-client-cert"]'),
        [
            _at(
                14,
                f"warning: {IN1}: Thunderbird ignores an incoming server whose only methods are "
                "none, client-IP-address or TLS-client-cert",
            ),
            # The same line, by the document Android reads: it needs a password or OAuth2 too.
            _at(
                14,
                f"warning: {IN1}: Thunderbird for Android rejects the whole document: no usable authentication "
                "(password-cleartext, password-encrypted or OAuth2)",
            ),
        ],
        id="incoming-only-passwordless",
    ),
    pytest.param(
        _outgoing('["password-cleartext"]', '["none"]'),
        # Thunderbird and Outlook take an open relay's settings; Android wants a password or OAuth2.
        [
            _at(
                22,
                f"warning: {OUT1}: Thunderbird for Android rejects the whole document: no usable authentication "
                "(password-cleartext, password-encrypted or OAuth2)",
            )
        ],
        id="outgoing-none-android",
    ),
    pytest.param(
        _edit('["password-cleartext"]', '["OAuth2", "password-cleartext"]'),
        [],
        id="oauth2-with-password-is-fine",
    ),
    pytest.param(
        _edit('["password-cleartext"]', '["password-encrypted"]'),
        [
            _at(
                14,
                f"warning: {IN1}: Autodiscover can only say SPA on here: Thunderbird set up through it uses an "
                "encrypted password, but Outlook tries NTLM, which this server does not list",
            )
        ],
        id="password-encrypted-only-autodiscover",
    ),
    pytest.param(
        _edit('["password-cleartext"]', '["NTLM"]'),
        # Autodiscover says SPA on, which Outlook reads as NTLM: only Android objects.
        [
            _at(
                14,
                f"warning: {IN1}: Thunderbird for Android rejects the whole document: no usable authentication "
                "(password-cleartext, password-encrypted or OAuth2)",
            )
        ],
        id="ntlm-is-spa-on",
    ),
    pytest.param(
        _edit('username = "{address}"', 'username = "shared-mailbox"'),
        [
            _at(
                15, f'warning: {IN1}: username "shared-mailbox" is the same for every user; did you mean "{{address}}"?'
            ),
            _at(15, f"warning: {IN1}: {_gnome_ignores('shared-mailbox')}"),
        ],
        id="username-literal",
    ),
    pytest.param(
        _edit('username = "{address}"', 'username = "{domain}"'),
        [
            _at(15, f'warning: {IN1}: username "{{domain}}" is the same for every user; did you mean "{{address}}"?'),
            # Rendered as the literal domain, which GNOME does not take either.
            _at(15, f"warning: {IN1}: {_gnome_ignores('{domain}')}"),
        ],
        id="username-domain-only",
    ),
    pytest.param(
        _edit('username = "{address}"', 'username = "{localpart}"'),
        [],
        id="username-localpart-is-fine",
    ),
    pytest.param(
        _edit('type = "imap"', 'type = "pop3"')
        .replace('socket_type = "SSL"', 'socket_type = "plain"', 1)
        .replace('username = "{address}"', 'username = "mail"', 1),
        [
            _at(4, f"warning: {P}: no IMAP server: Thunderbird for Android rejects POP3-only settings"),
            # A POP3 server: Android never reads it, so only the password warning.
            _at(13, f'warning: {IN1}: socket_type "plain" sends passwords unencrypted; Thunderbird warns the user'),
            _at(15, f'warning: {IN1}: username "mail" is the same for every user; did you mean "{{address}}"?'),
        ],
        id="several-sorted-by-line",
    ),
]


@pytest.mark.parametrize(("text", "expected"), WARNING_CASES)
def test_warnings(text: str, expected: list[str]) -> None:
    result = config.loads(text, SOURCE)
    warnings = clientrules.warnings(result)
    assert [str(w) for w in warnings] == expected
    assert all(w.severity is Severity.WARNING for w in warnings)
    assert result.config.providers[0].id == "example.net"


# -- normalising -------------------------------------------------------------


def test_idn_domain() -> None:
    text = _edit('domains = ["example.net", "example.org"]', 'domains = ["Bücher.Example", "example.org"]').replace(
        'hostname = "mail.example.net"', 'hostname = "mail.{domain}"', 1
    )
    provider = config.loads(text, SOURCE).config.providers[0]
    idn, plain = provider.domains
    assert idn.name == "xn--bcher-kva.example"
    assert idn.unicode == "bücher.example"
    assert plain.name == plain.unicode == "example.org"
    assert provider.incoming[0].hostname == "mail.{domain}"
    assert [s.hostname for s in provider.resolve_servers(idn)] == ["mail.xn--bcher-kva.example", "mail.example.net"]
    assert [s.hostname for s in provider.resolve_servers(plain)] == ["mail.example.org", "mail.example.net"]
    assert [s.direction for s in provider.resolve_servers(idn)] == ["incoming", "outgoing"]


def test_idn_hostname_and_override_key() -> None:
    text = _append(
        '[provider.overrides."BÜCHER.example"]\nhostname = "Mail.Bücher.Example."\ndisplay_name = "Bücher"\n',
        _edit('"example.org"]', '"example.org", "xn--bcher-kva.example"]'),
    )
    provider = config.loads(text, SOURCE).config.providers[0]
    idn = provider.domains[2]
    assert idn.override.hostname == "mail.xn--bcher-kva.example"
    assert idn.override.display_name == "Bücher"
    assert {s.hostname for s in provider.resolve_servers(idn)} == {"mail.xn--bcher-kva.example"}


def test_case_insensitive_values_are_normalised() -> None:
    incoming = (
        INCOMING.replace('socket_type = "SSL"', 'socket_type = "ssl"')
        .replace('["password-cleartext"]', '["Password-Cleartext", "oauth2", "ntlm"]')
        .replace('type = "imap"', 'type = "IMAP"')
    )
    outgoing = (
        OUTGOING.replace('socket_type = "SSL"', 'socket_type = "starttls"')
        .replace('type = "smtp"', 'type = "Smtp"')
        .replace('["password-cleartext"]', '["SMTP-after-POP"]')
    )
    text = BASE.replace(INCOMING, incoming).replace(OUTGOING, outgoing)
    provider = config.loads(text, SOURCE).config.providers[0]
    incoming, outgoing = provider.incoming[0], provider.outgoing[0]
    assert incoming.socket_type is SocketType.SSL
    assert incoming.type == "imap"
    assert incoming.authentication == ("password-cleartext", "OAuth2", "NTLM")
    assert outgoing.socket_type is SocketType.STARTTLS
    assert outgoing.type == "smtp"
    assert outgoing.authentication == ("smtp-after-pop",)


def test_plain_socket_type_any_case() -> None:
    result = config.loads(_edit('socket_type = "SSL"', 'socket_type = "PLAIN"'), SOURCE)
    assert result.config.providers[0].incoming[0].socket_type is SocketType.PLAIN
    said = [warning.message for warning in clientrules.warnings(result)]
    assert len(said) == 2 and said[1].startswith("GNOME Online Accounts has no plain connection"), said


def test_values_are_stripped_and_hostnames_lower_cased() -> None:
    text = _edit('hostname = "mail.example.net"', 'hostname = "  MAIL.Example.NET.  "').replace(
        'display_name = "Example Mail"', 'display_name = "  Example Mail  "'
    )
    provider = config.loads(text, SOURCE).config.providers[0]
    assert provider.incoming[0].hostname == "mail.example.net"
    assert provider.display_name == "Example Mail"
    assert provider.short_name == "Example Mail"  # defaults to the display name


def test_single_string_is_a_list_of_one() -> None:
    text = _edit('domains = ["example.net", "example.org"]', 'domains = "example.net"').replace(
        'authentication = ["password-cleartext"]', 'authentication = "password-encrypted"', 1
    )
    provider = config.loads(text, SOURCE).config.providers[0]
    assert [d.name for d in provider.domains] == ["example.net"]
    assert provider.incoming[0].authentication == ("password-encrypted",)


def test_pop3_options_and_overrides_reach_the_model() -> None:
    text = _append(
        POP3_SERVER + "pop3 = { leave_messages_on_server = false, download_on_biff = true, "
        "days_to_leave_messages_on_server = 14, check_interval_minutes = 10 }\n\n"
        '[provider.overrides."example.org"]\nincoming_hostname = "imap.{domain}"\n'
        'outgoing_hostname = "smtp.example.org"\nshort_name = "Org"\n'
    )
    provider = config.loads(text, SOURCE).config.providers[0]
    pop3 = provider.incoming[1].pop3
    assert (pop3.leave_messages_on_server, pop3.download_on_biff) == (False, True)
    assert (pop3.days_to_leave_messages_on_server, pop3.check_interval_minutes) == (14, 10)
    org = provider.domains[1]
    assert [s.hostname for s in provider.resolve_servers(org)] == [
        "imap.example.org",
        "imap.example.org",
        "smtp.example.org",
    ]
    assert provider.short_name_for(org) == "Org"
    assert provider.display_name_for(org) == "Example Mail"


# -- encodings and files -----------------------------------------------------


def test_utf8_bom_is_tolerated() -> None:
    result = config.loads(b"\xef\xbb\xbf" + BASE.encode(), SOURCE)
    assert result.config.providers[0].id == "example.net"


def test_utf8_bom_does_not_shift_lines() -> None:
    data = b"\xef\xbb\xbf" + _edit("port = 993", "port = 99999").encode()
    assert _errors(data) == _at(12, f"{IN1}: port 99999 is not a port (1-65535)")


@pytest.mark.parametrize(
    ("data", "line"),
    [
        pytest.param(BASE.replace("Example Mail", "B\u00fccher").encode("latin-1"), 6, id="latin-1"),
        pytest.param(BASE.encode().replace(b"mail.example.net", b"mail.\xff.net", 1), 11, id="stray-byte"),
        pytest.param(b"\xfe\xff" + BASE.encode("utf-16-be"), 1, id="utf-16"),
    ],
)
def test_not_utf8(data: bytes, line: int) -> None:
    assert _errors(data) == _at(line, "the file is not UTF-8 text")


def test_load_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "autoconfig.toml"
    path.write_text(_edit("port = 993", "port = 99999"), encoding="utf-8")
    with pytest.raises(ConfigError) as excinfo:
        config.load(str(path))
    assert str(excinfo.value) == f"{path}, line 12: {IN1}: port 99999 is not a port (1-65535)"


def test_load_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    with pytest.raises(ConfigError) as excinfo:
        config.load(str(path))
    assert str(excinfo.value) == f"{path}: cannot read the file: it does not exist"
    (problem,) = excinfo.value.problems
    assert problem.line is None


def test_load_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as excinfo:
        config.load(str(tmp_path))
    assert str(excinfo.value) == f"{tmp_path}: cannot read the file: it is a folder, not a file"


def test_default_source_name() -> None:
    with pytest.raises(ConfigError) as excinfo:
        config.loads(_edit("port = 993", "port = 0"))
    assert str(excinfo.value) == f"<config>, line 12: {IN1}: port 0 is not a port (1-65535)"


# -- hostile input: nothing but ConfigError ----------------------------------

HOSTILE = [
    pytest.param("", id="empty"),
    pytest.param("# only a comment\n", id="only-comment"),
    pytest.param("\x00", id="nul"),
    pytest.param(b"\xef\xbb\xbf", id="only-bom"),
    pytest.param(b"\xff\xfe\x00\x00", id="binary"),
    pytest.param("provider = 3", id="provider-number"),
    pytest.param('provider = "example.net"', id="provider-string"),
    pytest.param("provider = [1, 2]", id="provider-list-of-numbers"),
    pytest.param("provider = [[1]]", id="provider-list-of-lists"),
    pytest.param("provider = []", id="provider-empty-list"),
    pytest.param('[provider]\nid = "example.net"', id="provider-single-table"),
    pytest.param("service = 3\nprovider = {}", id="service-number"),
    pytest.param("[[service]]\n[[service]]", id="service-array"),
    pytest.param(BASE.replace('["example.net", "example.org"]', "[1, 2]"), id="domains-numbers"),
    pytest.param(BASE.replace('["example.net", "example.org"]', "[[], {}]"), id="domains-nested"),
    pytest.param(BASE.replace('["example.net", "example.org"]', '{ a = "b" }'), id="domains-table"),
    pytest.param(BASE.replace('["password-cleartext"]', "[[1]]", 1), id="auth-nested"),
    pytest.param(BASE.replace('"{address}"', "{ a = 1 }", 1), id="username-table"),
    pytest.param(BASE.replace("port = 993", "port = 1e999"), id="port-inf"),
    pytest.param(BASE.replace("port = 993", "port = nan"), id="port-nan"),
    pytest.param(BASE.replace("port = 993", "port = 9" * 5000), id="port-5000-digits"),
    pytest.param(BASE.replace("port = 993", "port = 07:32:00"), id="port-time"),
    pytest.param(BASE.replace("port = 993", "port = 1979-05-27T07:32:00Z"), id="port-datetime"),
    pytest.param(BASE.replace("mail.example.net", "a" * 100_000 + ".example", 1), id="hostname-100k"),
    pytest.param(
        BASE.replace('"example.org"', ", ".join(f'"d{i}.example"' for i in range(5000)) + ", 3"), id="5000-domains"
    ),
    pytest.param(BASE.replace('"example.org"', '"☃.example", "\\u0000.example", "a\\nb.example"'), id="domains-odd"),
    pytest.param(BASE + 'pop3 = 3\n"a.b" = 1\n\'c"d\' = 2\n', id="keys-with-dots-and-quotes"),
    pytest.param(BASE + "overrides = []\n", id="overrides-list-in-server"),
    pytest.param(
        BASE.replace("[[provider]]\n", '[[provider]]\noverrides = { "" = {}, "x" = 1 }\n'), id="overrides-odd"
    ),
    pytest.param(BASE.replace("[[provider]]\n", "[[provider]]\ndocumentation = [1, {}]\n"), id="documentation-odd"),
    pytest.param(
        BASE + '[[provider.documentation]]\nurl = "https://x.example/"\ndescription = { en = { de = 1 } }\n',
        id="description-nested",
    ),
    pytest.param(
        BASE.replace("[[provider]]\n", "[[provider]]\nincoming = { type = 1 }\n").replace(
            "[[provider.incoming]]", "[[provider.x]]"
        ),
        id="incoming-table",
    ),
    pytest.param("[" + ".".join(["a"] * 3000) + "]\n", id="deep-table-header"),
    pytest.param(".".join(["a"] * 3000) + " = 1\n", id="deep-dotted-key"),
    pytest.param("a = " + "[" * 10_000 + "]" * 10_000, id="deeply-nested-arrays"),
    pytest.param("a = " + "{a = " * 10_000 + "1" + "}" * 10_000, id="deeply-nested-inline-tables"),
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_input_gives_config_error(text: str | bytes) -> None:
    with pytest.raises(ConfigError) as excinfo:
        config.loads(text, SOURCE)
    assert excinfo.value.problems
    for problem in excinfo.value.problems:
        assert str(problem).startswith(SOURCE)


# -- [dns] and [tls] ----------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        pytest.param('[dns]\naddresses = ["192.0.2.1", "2001:DB8::1"]\nttl = 300\n', None, id="valid"),
        pytest.param('[dns]\naddresses = ["mail.example.org"]\n', '"mail.example.org" is not an IPv4 or IPv6 address',
                     id="address-not-ip"),
        pytest.param("[dns]\nttl = 5\n", "ttl 5 is not a TTL in seconds (60-604800)", id="ttl-too-small"),
        pytest.param('[tls]\nlayout = "acme.sh"\n', 'layout "acme.sh" is unknown; use dehydrated or certbot',
                     id="unknown-layout"),
        pytest.param('[tls]\ndirectory = "certs"\n',
                     'directory "certs" must be an absolute path without spaces, quotes or ;{}', id="relative-dir"),
        pytest.param('[tls]\nchallenges = "/var/www/x; evil"\n',
                     'challenges "/var/www/x; evil" must be an absolute path without spaces, quotes or ;{}',
                     id="nginx-injection"),
    ],
)  # fmt: skip
def test_dns_and_tls_settings(extra: str, expected: str | None) -> None:
    text = BASE + "\n" + extra
    if expected is None:
        loaded = config.loads(text, SOURCE).config
        assert loaded.dns.addresses == ("192.0.2.1", "2001:db8::1") and loaded.dns.ttl == 300
        return
    with pytest.raises(config.ConfigError) as caught:
        config.loads(text, SOURCE)
    table = extra.split("]")[0] + "]"
    assert [problem.message for problem in caught.value.problems] == [expected]
    assert all(problem.where == table for problem in caught.value.problems)
    assert [problem.line for problem in caught.value.problems] == [len(BASE.splitlines()) + 3]


def test_tls_layout_paths() -> None:
    certbot = config.loads(BASE + '\n[tls]\nlayout = "certbot"\n', SOURCE).config.tls
    assert certbot.certificate("autoconfig") == "/etc/letsencrypt/live/autoconfig/fullchain.pem"
    assert certbot.key("autoconfig") == "/etc/letsencrypt/live/autoconfig/privkey.pem"
    default = config.loads(BASE, SOURCE).config.tls
    assert default.certificate("autodiscover") == "/var/lib/dehydrated/certs/autodiscover/fullchain.pem"
    assert default.challenges == "/var/lib/dehydrated/acme-challenges"
