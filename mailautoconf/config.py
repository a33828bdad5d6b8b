"""TOML → validated :class:`~mailautoconf.model.Config`; every rule and its message.

Validation collects every problem instead of stopping at the first, so an
admin fixes a file in one pass. Each problem names the file, the line and
the place in words (``provider "example.net", incoming server 3``).
``check``, the watcher's log and ``/healthz`` all print the same list.
Warnings are for settings that are valid but that some client rejects.
"""

from __future__ import annotations

import datetime
import difflib
import ipaddress
import re
import tomllib
from dataclasses import dataclass
from typing import Any

from mailautoconf import names
from mailautoconf.model import AUTH_METHODS
from mailautoconf.model import INCOMING_TYPES
from mailautoconf.model import OUTGOING_TYPES
from mailautoconf.model import TLS_LAYOUTS
from mailautoconf.model import Config
from mailautoconf.model import DnsSettings
from mailautoconf.model import Documentation
from mailautoconf.model import Domain
from mailautoconf.model import DomainOverride
from mailautoconf.model import Pop3Options
from mailautoconf.model import Provider
from mailautoconf.model import Server
from mailautoconf.model import ServiceSettings
from mailautoconf.model import SocketType
from mailautoconf.model import TlsSettings
from mailautoconf.tomlpos import KeyLines

__all__ = ["ConfigError", "LoadResult", "Problem", "load", "loads"]

USERNAME_PLACEHOLDERS = ("{address}", "{localpart}", "{domain}")
# Thunderbird's spelling, which admins coming from hand-written XML will try.
_LEGACY_PLACEHOLDERS = {
    "%EMAILADDRESS%": "{address}",
    "%EMAILLOCALPART%": "{localpart}",
    "%EMAILDOMAIN%": "{domain}",
}
_LANGUAGE = re.compile(r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$")
# Stands in for {domain} while a host name template is checked as a name.
_DOMAIN_SENTINEL = "domain-placeholder.invalid"
_URL = re.compile(r"^https?://[^\s<>\"']+$")


@dataclass(frozen=True)
class Problem:
    """One thing wrong (or doubtful) in a config file."""

    file: str
    line: int | None
    where: str  # the place in words, e.g. 'provider "example.net", incoming server 3'
    message: str
    severity: str = "error"  # or "warning"

    def __str__(self) -> str:
        location = f"{self.file}, line {self.line}" if self.line else self.file
        prefix = "warning: " if self.severity == "warning" else ""
        where = f"{self.where}: " if self.where else ""
        return f"{location}: {prefix}{where}{self.message}"


class ConfigError(Exception):
    """The config file cannot be used; ``problems`` says why, all of it."""

    def __init__(self, problems: list[Problem]) -> None:
        problems = sorted(problems, key=lambda p: p.line or 0)
        self.problems = [p for p in problems if p.severity == "error"]
        self.warnings = [p for p in problems if p.severity == "warning"]
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass(frozen=True)
class LoadResult:
    config: Config
    warnings: tuple[Problem, ...]


def load(path: str) -> LoadResult:
    """Read and validate the config file at ``path``; raise ConfigError if unusable."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError([Problem(path, None, "", f"cannot read the file: {reason}")]) from None
    return loads(data, path)


def loads(data: bytes | str, source: str = "<config>") -> LoadResult:
    """Validate TOML text; ``source`` is the file name used in messages."""
    if isinstance(data, bytes):
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise ConfigError([Problem(source, line, "", "the file is not UTF-8 text")]) from None
    else:
        text = data
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([_syntax_problem(source, exc)]) from None
    except RecursionError:  # Python 3.11's tomllib has no nesting limit
        raise ConfigError([Problem(source, None, "", "TOML syntax error: values are nested too deeply")]) from None
    checker = _Checker(source, KeyLines(text))
    config = checker.config(raw)
    if checker.has_errors() or config is None:
        raise ConfigError(checker.problems)
    return LoadResult(config, tuple(sorted(checker.problems, key=lambda p: p.line or 0)))


def _syntax_problem(source: str, exc: tomllib.TOMLDecodeError) -> Problem:
    message = str(exc)
    match = re.search(r"\(at line (\d+), column (\d+)\)", message)
    line = int(match.group(1)) if match else getattr(exc, "lineno", None)
    if match:
        message = message[: match.start()].strip() + f" (column {match.group(2)})"
    elif "(at end of document)" in message:
        message = message.replace("(at end of document)", "at the end of the file").strip()
    return Problem(source, line, "", f"TOML syntax error: {message[:1].lower()}{message[1:]}")


class _Where:
    """A place in the file: its key path and how to say it to an admin."""

    def __init__(self, path: tuple[str | int, ...], words: str) -> None:
        self.path = path
        self.words = words

    def child(self, *keys: str | int, words: str | None = None) -> _Where:
        return _Where(self.path + keys, self.words if words is None else words)


class _Checker:
    """Walks the parsed TOML, building the model and collecting problems."""

    def __init__(self, source: str, lines: KeyLines) -> None:
        self.source = source
        self.lines = lines
        self.problems: list[Problem] = []

    # -- reporting -------------------------------------------------------

    def error(self, where: _Where, message: str, *keys: str | int) -> None:
        line = self.lines.line_of(where.path + keys)
        self.problems.append(Problem(self.source, line, where.words, message))

    def warn(self, where: _Where, message: str, *keys: str | int) -> None:
        line = self.lines.line_of(where.path + keys)
        self.problems.append(Problem(self.source, line, where.words, message, "warning"))

    def has_errors(self) -> bool:
        return any(p.severity == "error" for p in self.problems)

    # -- generic checks --------------------------------------------------

    def known_keys(self, table: dict[str, Any], allowed: tuple[str, ...], where: _Where) -> None:
        for key in table:
            if key in allowed:
                continue
            hint = difflib.get_close_matches(key, allowed, n=1)
            suggestion = f' (did you mean "{hint[0]}"?)' if hint else ""
            known = ", ".join(allowed)
            self.error(where, f'unknown key "{key}"{suggestion}; known keys: {known}', key)

    def table(self, value: Any, where: _Where, what: str) -> dict[str, Any] | None:
        if isinstance(value, dict):
            return value
        self.error(where, f"{what} must be a table, not {_kind(value)}")
        return None

    def string(self, table: dict[str, Any], key: str, where: _Where, *, required: bool = True) -> str | None:
        if key not in table:
            if required:
                self.error(where, f'"{key}" is missing')
            return None
        value = table[key]
        if not isinstance(value, str):
            self.error(where, f'"{key}" must be a string, not {_kind(value)}', key)
            return None
        if not value.strip():
            self.error(where, f'"{key}" must not be empty', key)
            return None
        if any(not char.isprintable() for char in value):
            self.error(where, f'"{key}" contains a control character', key)
            return None
        return value.strip()

    def boolean(self, table: dict[str, Any], key: str, where: _Where) -> bool | None:
        if key not in table:
            return None
        value = table[key]
        if not isinstance(value, bool):
            self.error(where, f'"{key}" must be true or false, not {_kind(value)}', key)
            return None
        return value

    def integer(self, table: dict[str, Any], key: str, where: _Where, low: int, high: int, what: str) -> int | None:
        if key not in table:
            return None
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(where, f'"{key}" must be a whole number, not {_kind(value)}', key)
            return None
        if not low <= value <= high:
            self.error(where, f"{key} {value} is not {what} ({low}-{high})", key)
            return None
        return value

    def string_list(self, table: dict[str, Any], key: str, where: _Where) -> list[str] | None:
        """A list of strings; a single string is taken as a list of one."""
        if key not in table:
            self.error(where, f'"{key}" is missing')
            return None
        value = table[key]
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            self.error(where, f'"{key}" must be a list of strings, not {_kind(value)}', key)
            return None
        for item in value:
            if not isinstance(item, str):
                self.error(where, f'"{key}" must be a list of strings, not a list containing {_kind(item)}', key)
                return None
            if not item.isprintable():
                self.error(where, f'"{key}" contains a control character', key)
                return None
        return [item.strip() for item in value]

    def hostname(self, value: str, where: _Where, key: str, *, template: bool) -> str | None:
        """Check a host name (``{domain}`` allowed when ``template``); return its A-label form."""
        probe = value.replace("{domain}", _DOMAIN_SENTINEL) if template else value
        if "{" in probe or "}" in probe:
            allowed = " (only {domain} may be used here)" if template else ""
            self.error(where, f'{key} "{value}" has an unknown placeholder{allowed}', key)
            return None
        try:
            ascii_name = names.to_ascii(probe)
        except ValueError as exc:
            self.error(where, f'{key} "{value}" is not a valid host name ({exc})', key)
            return None
        return ascii_name.replace(_DOMAIN_SENTINEL, "{domain}")

    # -- the schema ------------------------------------------------------

    def config(self, raw: dict[str, Any]) -> Config | None:
        top = _Where((), "")
        self.known_keys(raw, ("service", "dns", "tls", "provider"), top)
        service = self.service(raw.get("service"), top.child("service", words="[service]"))
        dns = self.dns(raw.get("dns"), top.child("dns", words="[dns]"))
        tls = self.tls(raw.get("tls"), top.child("tls", words="[tls]"))
        providers_raw = raw.get("provider")
        if providers_raw is None:
            self.error(top, "no [[provider]] is defined; add at least one with its domains and servers")
            return None
        if not isinstance(providers_raw, list) or not all(isinstance(p, dict) for p in providers_raw):
            self.error(top.child("provider"), "provider must be written as [[provider]] tables")
            return None
        providers = []
        for index, provider_raw in enumerate(providers_raw):
            label = provider_raw.get("id")
            words = f'provider "{label}"' if isinstance(label, str) else f"provider {index + 1}"
            provider = self.provider(provider_raw, _Where(("provider", index), words))
            if provider is not None:
                providers.append(provider)
        self.cross_checks(providers, top)
        if service is None or dns is None or tls is None:
            return None
        return Config(self.source, service, tuple(providers), dns, tls)

    def dns(self, raw: Any, where: _Where) -> DnsSettings | None:
        if raw is None:
            return DnsSettings()
        table = self.table(raw, where, "[dns]")
        if table is None:
            return None
        self.known_keys(table, ("addresses", "ttl"), where)
        addresses: list[str] = []
        if "addresses" in table:
            for text in self.string_list(table, "addresses", where) or []:
                try:
                    addresses.append(str(ipaddress.ip_address(text)))
                except ValueError:
                    self.error(where, f'"{text}" is not an IPv4 or IPv6 address', "addresses")
        ttl = self.integer(table, "ttl", where, 60, 604800, "a TTL in seconds")
        return DnsSettings(tuple(addresses), ttl if ttl is not None else DnsSettings.ttl)

    def tls(self, raw: Any, where: _Where) -> TlsSettings | None:
        if raw is None:
            return TlsSettings()
        table = self.table(raw, where, "[tls]")
        if table is None:
            return None
        self.known_keys(table, ("layout", "directory", "challenges"), where)
        layout = self.string(table, "layout", where, required=False) or "dehydrated"
        if layout not in TLS_LAYOUTS:
            self.error(where, f'layout "{layout}" is unknown; use {" or ".join(TLS_LAYOUTS)}', "layout")
            return None
        directory = self.string(table, "directory", where, required=False) or TLS_LAYOUTS[layout][0]
        challenges = self.string(table, "challenges", where, required=False) or TLS_LAYOUTS[layout][3]
        for key, path in (("directory", directory), ("challenges", challenges)):
            if not path.startswith("/") or any(char in path for char in " ;{}\"'\\"):
                self.error(where, f'{key} "{path}" must be an absolute path without spaces, quotes or ;{{}}', key)
                return None
        return TlsSettings(layout, directory, challenges)

    def service(self, raw: Any, where: _Where) -> ServiceSettings | None:
        if raw is None:
            self.error(where, 'the [service] table is missing; it needs public_hostname = "autoconfig.<your domain>"')
            return None
        table = self.table(raw, where, "[service]")
        if table is None:
            return None
        self.known_keys(table, ("public_hostname",), where)
        public = self.string(table, "public_hostname", where)
        if public is None:
            return None
        hostname = self.hostname(public, where, "public_hostname", template=False)
        return ServiceSettings(public_hostname=hostname) if hostname else None

    def provider(self, raw: dict[str, Any], where: _Where) -> Provider | None:
        self.known_keys(
            raw,
            (
                "id",
                "display_name",
                "short_name",
                "domains",
                "list_all_domains",
                "incoming",
                "outgoing",
                "documentation",
                "overrides",
            ),
            where,
        )
        errors_before = len([p for p in self.problems if p.severity == "error"])
        provider_id = self.string(raw, "id", where)
        if provider_id is not None:
            provider_id = self.hostname(provider_id, where, "id", template=False)
        display_name = self.string(raw, "display_name", where)
        short_name = self.string(raw, "short_name", where, required=False) or display_name
        list_all = self.boolean(raw, "list_all_domains", where) or False
        overrides = self.overrides(raw.get("overrides"), where.child("overrides"))
        domains = self.domains(raw, where, overrides)
        incoming = self.servers(raw, "incoming", where)
        outgoing = self.servers(raw, "outgoing", where)
        documentation = self.documentation(raw.get("documentation"), where)
        errors_after = len([p for p in self.problems if p.severity == "error"])
        if errors_after != errors_before or None in (provider_id, display_name, short_name):
            return None
        assert provider_id and display_name and short_name
        provider = Provider(
            id=provider_id,
            display_name=display_name,
            short_name=short_name,
            domains=tuple(domains),
            incoming=tuple(incoming),
            outgoing=tuple(outgoing),
            documentation=tuple(documentation),
            list_all_domains=list_all,
        )
        self.provider_warnings(provider, where)
        return provider

    def domains(self, raw: dict[str, Any], where: _Where, overrides: dict[str, DomainOverride]) -> list[Domain]:
        values = self.string_list(raw, "domains", where)
        if values is None:
            return []
        if not values:
            self.error(where, 'no domains: list the mail domains this provider hosts in "domains"', "domains")
            return []
        domains: dict[str, Domain] = {}
        for value in values:
            try:
                ascii_name = names.to_ascii(value)
            except ValueError as exc:
                self.error(where, f'domain "{value}" is not a valid domain name ({exc})', "domains")
                continue
            if ascii_name in domains:
                self.error(where, f'domain "{value}" is listed twice', "domains")
                continue
            unicode = names.to_unicode(ascii_name)
            domains[ascii_name] = Domain(ascii_name, unicode, overrides.get(ascii_name, DomainOverride()))
        for key in overrides:
            if key not in domains:
                self.error(where, f'overrides for "{key}", which is not in this provider\'s domains', "overrides", key)
        return list(domains.values())

    def overrides(self, raw: Any, where: _Where) -> dict[str, DomainOverride]:
        if raw is None:
            return {}
        table = self.table(raw, where, "overrides")
        if table is None:
            return {}
        result: dict[str, DomainOverride] = {}
        for domain, value in table.items():
            here = where.child(domain, words=f'{where.words}, overrides for "{domain}"')
            entry = self.table(value, here, f'overrides."{domain}"')
            if entry is None:
                continue
            self.known_keys(
                entry,
                ("hostname", "incoming_hostname", "outgoing_hostname", "display_name", "short_name"),
                here,
            )
            hosts: dict[str, str | None] = {}
            for key in ("hostname", "incoming_hostname", "outgoing_hostname"):
                text = self.string(entry, key, here, required=False)
                hosts[key] = self.hostname(text, here, key, template=True) if text else None
            try:
                ascii_name = names.to_ascii(domain)
            except ValueError as exc:
                self.error(here, f'"{domain}" is not a valid domain name ({exc})')
                continue
            result[ascii_name] = DomainOverride(
                hostname=hosts["hostname"],
                incoming_hostname=hosts["incoming_hostname"],
                outgoing_hostname=hosts["outgoing_hostname"],
                display_name=self.string(entry, "display_name", here, required=False),
                short_name=self.string(entry, "short_name", here, required=False),
            )
        return result

    def servers(self, raw: dict[str, Any], direction: str, where: _Where) -> list[Server]:
        entries = raw.get(direction)
        if entries is None or entries == []:
            self.error(where, f"no {direction} server: add at least one [[provider.{direction}]]")
            return []
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            self.error(where, f"{direction} servers must be written as [[provider.{direction}]] tables", direction)
            return []
        servers = []
        for index, entry in enumerate(entries):
            here = where.child(direction, index, words=f"{where.words}, {direction} server {index + 1}")
            server = self.server(entry, direction, here)
            if server is not None:
                servers.append(server)
        return servers

    def server(self, raw: dict[str, Any], direction: str, where: _Where) -> Server | None:
        allowed = ("type", "hostname", "port", "socket_type", "authentication", "username")
        if direction == "incoming":
            allowed += ("pop3",)
        self.known_keys(raw, allowed, where)
        types = INCOMING_TYPES if direction == "incoming" else OUTGOING_TYPES
        server_type = self.string(raw, "type", where)
        if server_type is not None:
            server_type = server_type.lower()
            if server_type not in types:
                self.error(
                    where, f'type "{server_type}" is not an {direction} server type (use {" or ".join(types)})', "type"
                )
                server_type = None
        hostname_text = self.string(raw, "hostname", where)
        hostname = self.hostname(hostname_text, where, "hostname", template=True) if hostname_text else None
        port = self.integer(raw, "port", where, 1, 65535, "a port")
        if "port" not in raw:
            self.error(where, '"port" is missing')
        socket_type = self.socket_type(raw, where)
        authentication = self.authentication(raw, direction, where)
        username = self.username(raw, where)
        pop3 = (
            self.pop3(raw.get("pop3"), where.child("pop3"), server_type) if direction == "incoming" else Pop3Options()
        )
        if None in (server_type, hostname, port, socket_type, authentication, username):
            return None
        assert server_type and hostname and port and socket_type and authentication and username
        server = Server(direction, server_type, hostname, port, socket_type, tuple(authentication), username, pop3)
        self.server_warnings(server, where)
        return server

    def socket_type(self, raw: dict[str, Any], where: _Where) -> SocketType | None:
        text = self.string(raw, "socket_type", where)
        if text is None:
            return None
        for member in SocketType:
            if text.lower() == member.value.lower():
                return member
        hint = ' ("TLS" is the old name; use "SSL" for implicit TLS or "STARTTLS")' if text.upper() == "TLS" else ""
        self.error(where, f'socket_type "{text}" is unknown{hint}; use SSL, STARTTLS or plain', "socket_type")
        return None

    def authentication(self, raw: dict[str, Any], direction: str, where: _Where) -> list[str] | None:
        methods = self.string_list(raw, "authentication", where)
        if methods is None:
            return None
        if not methods:
            self.error(where, '"authentication" is empty; list at least one method', "authentication")
            return None
        by_lower = {name.lower(): name for name in AUTH_METHODS}
        result = []
        for method in methods:
            name = by_lower.get(method.lower())
            if name is None:
                hint = difflib.get_close_matches(method, list(AUTH_METHODS), n=1)
                suggestion = f' (did you mean "{hint[0]}"?)' if hint else ""
                self.error(where, f'authentication method "{method}" is unknown{suggestion}', "authentication")
                return None
            if direction not in AUTH_METHODS[name]:
                self.error(where, f'authentication method "{name}" is only for outgoing servers', "authentication")
                return None
            if name in result:
                self.error(where, f'authentication method "{name}" is listed twice', "authentication")
                return None
            result.append(name)
        return result

    def username(self, raw: dict[str, Any], where: _Where) -> str | None:
        text = self.string(raw, "username", where)
        if text is None:
            return None
        for legacy, placeholder in _LEGACY_PLACEHOLDERS.items():
            if legacy.lower() in text.lower():
                self.error(where, f'username "{text}": write {placeholder} instead of {legacy}', "username")
                return None
        rest = text
        for placeholder in USERNAME_PLACEHOLDERS:
            rest = rest.replace(placeholder, "")
        if "{" in rest or "}" in rest or "%" in rest:
            self.error(
                where,
                f'username "{text}" has an unknown placeholder; use {", ".join(USERNAME_PLACEHOLDERS)}',
                "username",
            )
            return None
        if not any(placeholder in text for placeholder in ("{address}", "{localpart}")):
            self.warn(where, f'username "{text}" is the same for every user; did you mean "{{address}}"?', "username")
        return text

    def pop3(self, raw: Any, where: _Where, server_type: str | None) -> Pop3Options:
        if raw is None:
            return Pop3Options()
        table = self.table(raw, where, "pop3")
        if table is None:
            return Pop3Options()
        if server_type not in (None, "pop3"):
            self.error(where, "pop3 options on a server that is not of type pop3")
        self.known_keys(
            table,
            (
                "leave_messages_on_server",
                "download_on_biff",
                "days_to_leave_messages_on_server",
                "check_interval_minutes",
            ),
            where,
        )
        return Pop3Options(
            leave_messages_on_server=self.boolean(table, "leave_messages_on_server", where),
            download_on_biff=self.boolean(table, "download_on_biff", where),
            days_to_leave_messages_on_server=self.integer(
                table, "days_to_leave_messages_on_server", where, 1, 36500, "a number of days"
            ),
            check_interval_minutes=self.integer(
                table, "check_interval_minutes", where, 1, 10080, "a number of minutes"
            ),
        )

    def documentation(self, raw: Any, where: _Where) -> list[Documentation]:
        if raw is None:
            return []
        if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
            self.error(where, "documentation must be written as [[provider.documentation]] tables", "documentation")
            return []
        result = []
        for index, entry in enumerate(raw):
            here = where.child("documentation", index, words=f"{where.words}, documentation {index + 1}")
            self.known_keys(entry, ("url", "description"), here)
            url = self.string(entry, "url", here)
            if url is not None and not _URL.match(url):
                self.error(here, f'url "{url}" is not an http or https URL', "url")
                url = None
            descriptions = self.descriptions(entry.get("description"), here.child("description"))
            if url is not None and descriptions is not None:
                result.append(Documentation(url, descriptions))
        return result

    def descriptions(self, raw: Any, where: _Where) -> tuple[tuple[str, str], ...] | None:
        if raw is None:
            self.error(where, 'description is missing; write description = { en = "..." }')
            return None
        if isinstance(raw, str):
            raw = {"en": raw}
        table = self.table(raw, where, "description")
        if table is None:
            return None
        result = []
        for language in table:
            if not _LANGUAGE.match(language):
                self.error(where, f'"{language}" is not a language code like "en" or "pt-BR"', language)
                continue
            text = self.string(table, language, where)
            if text is not None:
                result.append((language, text))
        if not result:
            self.error(where, "description has no text")
            return None
        return tuple(result)

    # -- warnings and rules across providers ------------------------------

    def server_warnings(self, server: Server, where: _Where) -> None:
        if server.socket_type is SocketType.PLAIN:
            # Android reads only imap and smtp sections, and rejects all of a
            # document with one plain section among them.
            android = "Thunderbird for Android rejects the whole document and " if server.type != "pop3" else ""
            self.warn(
                where,
                f'socket_type "plain" sends passwords unencrypted; {android}Thunderbird warns the user',
                "socket_type",
            )
        passwordless = {"none", "client-IP-address", "TLS-client-cert"}
        if server.direction == "incoming" and set(server.authentication) <= passwordless:
            self.warn(
                where,
                "Thunderbird ignores an incoming server whose only methods are "
                "none, client-IP-address or TLS-client-cert",
                "authentication",
            )
        # POX has only SPA on or off (render/outlook.py, spa_on).
        methods = set(server.authentication)
        if "password-cleartext" not in methods and methods & {"GSSAPI", "password-encrypted"} and "NTLM" not in methods:
            self.warn(
                where,
                "Autodiscover can only say SPA on here: Thunderbird set up through it uses an encrypted password, "
                "but Outlook tries NTLM, which this server does not list",
                "authentication",
            )
        elif not methods & {"password-cleartext", "NTLM", "GSSAPI", "password-encrypted", "none", "client-IP-address"}:
            self.warn(
                where,
                f'Autodiscover cannot say "{server.authentication[0]}": Outlook and Thunderbird set up through '
                "it send a cleartext password (over the connection's TLS); list password-cleartext too if the "
                "server accepts it",
                "authentication",
            )
        if "OAuth2" in server.authentication and not {"password-cleartext", "password-encrypted"} & set(
            server.authentication
        ):
            self.warn(
                where,
                "Thunderbird accepts OAuth2 only for providers it knows; list a password "
                "method after OAuth2 or it drops this server",
                "authentication",
            )

    def provider_warnings(self, provider: Provider, where: _Where) -> None:
        if not any(server.type == "imap" for server in provider.incoming):
            self.warn(where, "no IMAP server: Thunderbird for Android rejects POP3-only settings")

    def cross_checks(self, providers: list[Provider], where: _Where) -> None:
        owner: dict[str, str] = {}
        for index, provider in enumerate(providers):
            here = _Where(("provider", index, "domains"), f'provider "{provider.id}"')
            for domain in provider.domains:
                if domain.name in owner:
                    self.error(here, f'domain "{domain.unicode}" is already hosted by provider "{owner[domain.name]}"')
                else:
                    owner[domain.name] = provider.id
        seen: set[str] = set()
        for index, provider in enumerate(providers):
            if provider.id in seen:
                self.error(
                    _Where(("provider", index, "id"), f'provider "{provider.id}"'), "another provider has the same id"
                )
            seen.add(provider.id)


def _kind(value: Any) -> str:
    """Name a TOML value's type the way an admin would."""
    kinds = (
        (bool, "true/false"),
        (int, "a number"),
        (float, "a decimal number"),
        (str, "a string"),
        (list, "a list"),
        (dict, "a table"),
        (datetime.datetime, "a date and time"),
        (datetime.date, "a date"),
        (datetime.time, "a time"),
    )
    for kind, words in kinds:
        if isinstance(value, kind):
            return words
    return type(value).__name__
