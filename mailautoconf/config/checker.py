"""The schema checker: parsed TOML tables → the model, every problem collected with its key path.

What each table may hold (keys, types, defaults, ranges, choices, rules)
is the data in :mod:`mailautoconf.config.schema`; :meth:`Checker.read`
applies it to a table, and the methods here build the model from what it
read, with the checks that span keys (a domain's overrides, a server's
authentication for its direction, the host names made of each domain).
Problems are errors, or warnings for a setting that is valid but likely a
mistake (a username without ``{address}``, more names per certificate than
the CAs issue); what a *client* does with a valid config is
:mod:`mailautoconf.clientrules`'.
"""

from __future__ import annotations

import datetime
import difflib
import os
import sys
from typing import Any

from mailautoconf import dnsnames
from mailautoconf import names
from mailautoconf.config import schema
from mailautoconf.config.positions import Locate
from mailautoconf.config.positions import Path
from mailautoconf.model import AUTH_METHODS
from mailautoconf.model import NO_OVERRIDE
from mailautoconf.model import TLS_LAYOUTS
from mailautoconf.model import DavService
from mailautoconf.model import Direction
from mailautoconf.model import DnsSettings
from mailautoconf.model import Documentation
from mailautoconf.model import Domain
from mailautoconf.model import DomainOverride
from mailautoconf.model import NginxSettings
from mailautoconf.model import PaccSettings
from mailautoconf.model import Pop3Options
from mailautoconf.model import Provider
from mailautoconf.model import Server
from mailautoconf.model import ServerType
from mailautoconf.model import ServiceSettings
from mailautoconf.model import SigningSettings
from mailautoconf.model import TlsSettings
from mailautoconf.model import auth_method
from mailautoconf.model import needs_username
from mailautoconf.problems import Problem
from mailautoconf.problems import Severity
from mailautoconf.problems import shown

Messages = list[tuple[Path, str, Severity]]  # (key path inside the table, message, severity)


class Where:
    """A place in the file: its key path and how to say it to an admin."""

    def __init__(self, path: tuple[str | int, ...], words: str) -> None:
        self.path = path
        self.words = words

    def child(self, *keys: str | int, words: str | None = None) -> Where:
        return Where(self.path + keys, self.words if words is None else words)


class Checker:
    """Walks the parsed TOML, building the model and collecting problems."""

    def __init__(self, locate: Locate, record: list[tuple[Path, str, str, Severity]] | None = None) -> None:
        # locate(key path) -> (file, line); with ``record`` problems are kept
        # as (key path, where, message, severity) instead, to be placed later.
        self.locate = locate
        self.record = record
        self.problems: list[Problem] = []

    # -- reporting -------------------------------------------------------

    def _add(self, where: Where, message: str, keys: tuple[str | int, ...], severity: Severity) -> None:
        # Recorded messages reach the importer's output without a Problem: escape them here too.
        message, words = shown(message), shown(where.words)
        if self.record is not None:
            self.record.append((where.path + keys, words, message, severity))
            if severity is Severity.ERROR:
                self._errors += 1
            return
        file, line = self.locate(where.path + keys)
        self.problems.append(Problem(file, line, words, message, severity))

    _errors = 0

    def messages(self) -> Messages:
        """What was recorded, by key path (``record`` mode)."""
        return [(path, message, severity) for path, _, message, severity in self.record or ()]

    def error(self, where: Where, message: str, *keys: str | int) -> None:
        self._add(where, message, keys, Severity.ERROR)

    def warn(self, where: Where, message: str, *keys: str | int) -> None:
        self._add(where, message, keys, Severity.WARNING)

    def error_count(self) -> int:
        return self._errors + sum(1 for p in self.problems if p.severity is Severity.ERROR)

    def has_errors(self) -> bool:
        return any(p.severity is Severity.ERROR for p in self.problems)

    # -- generic checks --------------------------------------------------

    def known_keys(self, table: dict[str, Any], allowed: tuple[str, ...], where: Where) -> None:
        for key in table:
            if key in allowed:
                continue
            hint = difflib.get_close_matches(key, allowed, n=1)
            suggestion = f' (did you mean "{hint[0]}"?)' if hint else ""
            known = ", ".join(allowed)
            self.error(where, f'unknown key "{key}"{suggestion}; known keys: {known}', key)

    def table(self, value: Any, where: Where, what: str) -> dict[str, Any] | None:
        if isinstance(value, dict):
            return value
        self.error(where, f"{what} must be a table, not {_kind(value)}")
        return None

    def string(self, table: dict[str, Any], key: str, where: Where, *, required: bool = True) -> str | None:
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

    def boolean(self, table: dict[str, Any], key: str, where: Where) -> bool | None:
        if key not in table:
            return None
        value = table[key]
        if not isinstance(value, bool):
            self.error(where, f'"{key}" must be true or false, not {_kind(value)}', key)
            return None
        return value

    def integer(self, table: dict[str, Any], key: str, where: Where, low: int, high: int, what: str) -> int | None:
        if key not in table:
            return None
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(where, f'"{key}" must be a whole number, not {_kind(value)}', key)
            return None
        if not low <= value <= high:
            try:
                written = str(value)
            except ValueError:  # a hexadecimal 0xfff... parses to an int too long for str()
                written = f"with more than {sys.get_int_max_str_digits()} digits"
            self.error(where, f"{key} {written} is not {what} ({low}-{high})", key)
            return None
        return value

    def string_list(self, table: dict[str, Any], key: str, where: Where) -> list[str] | None:
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

    # -- the schema's keys, applied ------------------------------------------

    def section_table(self, raw: Any, section: schema.Section, where: Where) -> dict[str, Any] | None:
        """``raw`` as ``section``'s table, its unknown keys said; None (said) when it is no table."""
        table = self.table(raw, where, section.title)
        if table is not None:
            self.known_keys(table, section.names, where)
        return table

    def read(self, table: dict[str, Any], section: schema.Section, where: Where, *names: str) -> dict[str, Any]:
        """The keys ``names`` of ``table`` (every key of ``section`` when none are named), by :meth:`value`."""
        keys = [section.key(name) for name in names] if names else section.keys
        return {key.name: self.value(table, key, where) for key in keys}

    def value(self, table: dict[str, Any], key: schema.Key, where: Where, *, required: bool | None = None) -> Any:
        """``key``'s value in ``table``: its default when left out, None when it is wrong (and said so)."""
        if key.name not in table and not (key.required if required is None else required):
            return key.default
        found = self.typed(table, key, where, required=required)
        return None if found is None else self.ruled(key, found, where)

    def typed(self, table: dict[str, Any], key: schema.Key, where: Where, *, required: bool | None = None) -> Any:
        """``key``'s value if it has the key's type, else None (said, as is a required key left out)."""
        name = key.name
        if name not in table:
            if key.required if required is None else required:
                self.error(where, f'"{name}" is missing')
            return None
        match key.kind:
            case schema.Kind.STRING | schema.Kind.HOST:
                return self.string(table, name, where)
            case schema.Kind.BOOL:
                return self.boolean(table, name, where)
            case schema.Kind.INTEGER:
                return self.integer(table, name, where, key.low, key.high, key.unit)
            case schema.Kind.STRINGS:
                return self.string_list(table, name, where)
        return table[name]  # TABLE, TABLES, ANY: for the builder or the rule to judge

    def ruled(self, key: schema.Key, value: Any, where: Where) -> Any:
        """``value`` through ``key``'s rule (each item of a list), with its warning; None if refused."""
        if key.kind is schema.Kind.STRINGS:
            return [kept for item in value if (kept := self._rule(key, item, where)) is not None]
        return self._rule(key, value, where)

    def _rule(self, key: schema.Key, value: Any, where: Where) -> Any:
        try:
            if key.kind is schema.Kind.HOST:
                value = schema.host_name(value, key.name, template=key.template)
            if key.rule is not None:
                value = key.rule(value)
        except schema.Refused as refused:
            self.error(where, str(refused), key.name)
            return None
        said = key.warning(value) if key.warning is not None and value is not None else None
        if said:
            self.warn(where, said, key.name)
        return value

    # -- the tables: the model built from what was read --------------------------

    def settings(
        self, raw: dict[str, Any], *, has_providers: bool, folder: str = ""
    ) -> tuple[ServiceSettings, DnsSettings, TlsSettings, NginxSettings, SigningSettings, PaccSettings] | None:
        """The top-level tables of the main file; None when one of them is unusable.

        ``folder``: the main file's folder, which relative paths are relative to.
        """
        top = Where((), "")
        self.known_keys(raw, schema.TOP.names, top)
        service = self.service(raw.get("service"), top.child("service", words="[service]"))
        dns = self.dns(raw.get("dns"), top.child("dns", words="[dns]"))
        tls = self.tls(raw.get("tls"), top.child("tls", words="[tls]"))
        nginx = self.nginx(raw.get("nginx"), top.child("nginx", words="[nginx]"))
        signing = self.signing(raw.get("signing"), top.child("signing", words="[signing]"), folder)
        pacc = self.pacc_settings(raw.get("pacc"), top.child("pacc", words="[pacc]"))
        if "provider" in raw:  # not an array of tables (those are taken apart before)
            self.error(top.child("provider"), "provider must be written as [[provider]] tables")
        if service is None or dns is None or tls is None or nginx is None or signing is None or pacc is None:
            return None
        return service, dns, tls, nginx, signing, pacc

    def pacc_settings(self, raw: Any, where: Where) -> PaccSettings | None:
        """``[pacc]``: where and how fast the service looks its PACC digests up in DNS (pacc/watch.py)."""
        if raw is None:
            return PaccSettings()
        table = self.section_table(raw, schema.PACC, where)
        if table is None:
            return None
        errors_before = self.error_count()
        found = self.read(table, schema.PACC, where)
        return None if errors_before != self.error_count() else PaccSettings(**found)

    def signing(self, raw: Any, where: Where, folder: str) -> SigningSettings | None:
        if raw is None:
            return SigningSettings()
        table = self.section_table(raw, schema.SIGNING, where)
        if table is None:
            return None
        found = self.read(table, schema.SIGNING, where)
        paths = {key: os.path.normpath(os.path.join(folder, text)) for key, text in found.items() if text is not None}
        if len(paths) < 2 or self.has_errors():
            return None
        return SigningSettings(paths["certificate"], paths["key"], paths.get("chain", ""))

    def provider_table(self, raw: Any, local: int, index: int) -> Provider | None:
        """One [[provider]] table (``local``: its index in its piece, ``index``: among all)."""
        if not isinstance(raw, dict):
            self.error(
                Where(("provider", local), f"provider {index + 1}"), "provider must be written as [[provider]] tables"
            )
            return None
        label = raw.get("id")
        words = f'provider "{label}"' if isinstance(label, str) else f"provider {index + 1}"
        return self.provider(raw, Where(("provider", local), words))

    def nginx(self, raw: Any, where: Where) -> NginxSettings | None:
        if raw is None:
            return NginxSettings()
        table = self.section_table(raw, schema.NGINX, where)
        if table is None:
            return None
        found = self.read(table, schema.NGINX, where)
        return NginxSettings(tuple(found["listen"] or ()))

    def dns(self, raw: Any, where: Where) -> DnsSettings | None:
        if raw is None:
            return DnsSettings()
        table = self.section_table(raw, schema.DNS, where)
        if table is None:
            return None
        found = self.read(table, schema.DNS, where)
        ttl = found["ttl"]
        return DnsSettings(
            tuple(found["addresses"] or ()), DnsSettings.ttl if ttl is None else ttl, bool(found["common_names"])
        )

    def tls(self, raw: Any, where: Where) -> TlsSettings | None:
        if raw is None:
            return TlsSettings()
        table = self.section_table(raw, schema.TLS, where)
        if table is None:
            return None
        # The layout decides the paths' defaults: an unknown one leaves the rest unread. A value of the
        # wrong type is said, and the default stands in for it, as it does for a key left out.
        layout_key, directory_key, challenges_key, max_names_key = schema.TLS.keys
        layout = self.typed(table, layout_key, where) or layout_key.default
        if self.ruled(layout_key, layout, where) is None:
            return None
        directory = self.typed(table, directory_key, where) or TLS_LAYOUTS[layout].directory
        challenges = self.typed(table, challenges_key, where) or TLS_LAYOUTS[layout].challenges
        for key, path in ((directory_key, directory), (challenges_key, challenges)):
            if self.ruled(key, path, where) is None:
                return None
        max_names = self.value(table, max_names_key, where)
        return TlsSettings(layout, directory, challenges, max_names or TlsSettings.max_names)

    def service(self, raw: Any, where: Where) -> ServiceSettings | None:
        if raw is None:
            self.error(where, 'the [service] table is missing; it needs public_hostname = "autoconfig.<your domain>"')
            return None
        table = self.section_table(raw, schema.SERVICE, where)
        if table is None:
            return None
        found = self.read(table, schema.SERVICE, where, "include", "check_interval", "public_hostname")
        hostname, interval = found["public_hostname"], found["check_interval"]
        if not hostname or interval is None:
            return None
        return ServiceSettings(hostname, tuple(found["include"] or ()), interval)

    def provider(self, raw: dict[str, Any], where: Where) -> Provider | None:
        self.known_keys(raw, schema.PROVIDER.names, where)
        errors_before = self.error_count()
        found = self.read(raw, schema.PROVIDER, where, "id", "display_name", "short_name", "list_all_domains")
        provider_id, display_name = found["id"], found["display_name"]
        short_name = found["short_name"] or display_name
        overrides = self.overrides(raw.get("overrides"), where.child("overrides"))
        domains = self.domains(raw, where, overrides)
        incoming = self.servers(raw, "incoming", where)
        outgoing = self.servers(raw, "outgoing", where)
        documentation = self.documentation(raw.get("documentation"), where)
        found |= self.read(raw, schema.PROVIDER, where, "mx", "own_names")
        mx = tuple(dict.fromkeys(found["mx"] or ()))
        caldav = self.dav(raw, "caldav", where)
        carddav = self.dav(raw, "carddav", where)
        pacc = self.pacc(raw, where)
        oauth_issuer = self.value(raw, schema.PROVIDER.key("oauth_issuer"), where)
        if errors_before != self.error_count() or None in (provider_id, display_name, short_name):
            return None
        assert provider_id and display_name and short_name
        made = Provider(
            id=provider_id,
            display_name=display_name,
            short_name=short_name,
            domains=tuple(domains),
            incoming=tuple(incoming),
            outgoing=tuple(outgoing),
            documentation=tuple(documentation),
            list_all_domains=bool(found["list_all_domains"]),
            mx=mx,
            own_names=found["own_names"] is not False,
            mx_domains=tuple(dict.fromkeys(name for host in mx for name in names.mx_lookup_domains(host))),
            caldav=caldav,
            carddav=carddav,
            pacc=pacc,
            oauth_issuer=oauth_issuer,
        )
        self.derived_names(made, where)
        return made if errors_before == self.error_count() else None

    def derived_names(self, provider: Provider, where: Where) -> None:
        """Every host name made of a domain and a ``{domain}`` template must be one (dnsnames).

        The templates were checked with a stand-in domain; a long domain, or
        one whose first label joins a template's (``mail-{domain}``), can
        still make a name DNS refuses. Domains without overrides share the
        provider's templates: at 100,000 domains this is one length
        comparison per domain.
        """
        shared: tuple[list[tuple[str, str]], int | None] | None = None
        for domain in provider.domains:
            if domain.override is NO_OVERRIDE:
                if shared is None:
                    found = dnsnames.host_templates(provider, domain)
                    shared = found, dnsnames.longest_domain(found)
                templates, longest = shared
            else:
                templates = dnsnames.host_templates(provider, domain)
                longest = dnsnames.longest_domain(templates)
            if longest is not None and len(domain.name) <= longest:
                continue
            problem = dnsnames.templates_problem(templates, domain.name)
            if problem is not None:
                self.error(where, f'domain "{domain.unicode}": {problem}', "domains")

    def pacc(self, raw: dict[str, Any], where: Where) -> str | None:
        """``pacc`` and ``pacc_revision``: the PACC draft revision served, or None (render/pacc.py)."""
        found = self.read(raw, schema.PROVIDER, where, "pacc", "pacc_revision")
        if found["pacc_revision"] is None:
            return None
        if "pacc_revision" in raw and not found["pacc"]:
            self.warn(where, 'pacc_revision has no effect without "pacc = true"', "pacc_revision")
        return str(found["pacc_revision"]) if found["pacc"] else None

    def dav(self, raw: dict[str, Any], key: str, where: Where) -> DavService | None:
        """A ``caldav``/``carddav`` table: an https URL (``{domain}`` allowed in its host) and a username."""
        if key not in raw:
            return None
        here = where.child(key, words=f"{where.words}, {key}")
        table = self.table(raw[key], here, key)
        if table is None:
            return None
        self.known_keys(table, schema.DAV.names, here)
        url_key, username_key = schema.DAV.keys
        url = self.typed(table, url_key, here)
        username = self.value(table, username_key, here)
        if url is None:
            return None
        url = self.ruled(url_key, url, here)
        return None if url is None else DavService(url, username)

    def domains(self, raw: dict[str, Any], where: Where, overrides: dict[str, DomainOverride]) -> list[Domain]:
        values = self.string_list(raw, "domains", where)
        if values is None:
            return []
        if not values:
            self.error(where, 'no domains: list the mail domains this provider hosts in "domains"', "domains")
            return []
        domains: dict[str, Domain] = {}
        plain = NO_OVERRIDE
        for value in values:
            # Most of a hoster's 100,000 names are plain lower-case ASCII:
            # one regular expression decides those (names.plain_hostname).
            ascii_name = value if names.plain_hostname(value) else None
            if ascii_name is None:
                try:
                    ascii_name = names.to_ascii(value)
                except ValueError as exc:
                    self.error(where, f'domain "{value}" is not a valid domain name ({exc})', "domains")
                    continue
            if ascii_name in domains:
                self.error(where, f'domain "{value}" is listed twice', "domains")
                continue
            too_long = dnsnames.domain_problem(ascii_name)
            if too_long is not None:  # kept: its overrides are not "for a domain it does not host"
                self.error(where, f'domain "{value}" is too long for the names made of it: {too_long}', "domains")
            unicode = names.to_unicode(ascii_name)
            domains[ascii_name] = Domain(ascii_name, unicode, overrides.get(ascii_name, plain))
        for key in overrides:
            if key not in domains:
                self.error(where, f'overrides for "{key}", which is not in this provider\'s domains', "overrides", key)
        return list(domains.values())

    def overrides(self, raw: Any, where: Where) -> dict[str, DomainOverride]:
        if raw is None:
            return {}
        table = self.table(raw, where, "overrides")
        if table is None:
            return {}
        result: dict[str, DomainOverride] = {}
        written: dict[str, str] = {}  # A-label → the key it was written as
        for domain, value in table.items():
            here = where.child(domain, words=f'{where.words}, overrides for "{domain}"')
            entry = self.table(value, here, f'overrides."{domain}"')
            if entry is None:
                continue
            self.known_keys(entry, schema.OVERRIDE.names, here)
            hosts = self.read(entry, schema.OVERRIDE, here, "hostname", "incoming_hostname", "outgoing_hostname")
            try:
                ascii_name = names.to_ascii(domain)
            except ValueError as exc:
                self.error(here, f'"{domain}" is not a valid domain name ({exc})')
                continue
            if ascii_name in written:
                # "Example.org" and "example.org" are one domain: one of the two would be dropped unseen.
                self.error(here, f'overrides for "{domain}" repeat those for "{written[ascii_name]}" (the same domain)')
                continue
            written[ascii_name] = domain
            found = hosts | self.read(entry, schema.OVERRIDE, here, "display_name", "short_name", "own_names")
            result[ascii_name] = DomainOverride(
                **found, caldav=self.dav(entry, "caldav", here), carddav=self.dav(entry, "carddav", here)
            )
        return result

    def servers(self, raw: dict[str, Any], direction: Direction, where: Where) -> list[Server]:
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

    def server(self, raw: dict[str, Any], direction: Direction, where: Where) -> Server | None:
        section = schema.INCOMING if direction == "incoming" else schema.OUTGOING
        self.known_keys(raw, section.names, where)
        found = self.read(raw, section, where, "type", "hostname", "port", "socket_type")
        server_type, hostname, port, socket_type = found.values()
        authentication = self.authentication(raw, direction, where)
        # A server that takes no credentials (none, client-IP-address) has no login to name.
        optional = authentication is not None and not needs_username(tuple(authentication))
        username = self.value(raw, section.key("username"), where, required=not optional)
        pop3 = (
            self.pop3(raw.get("pop3"), where.child("pop3"), server_type) if direction == "incoming" else Pop3Options()
        )
        if None in (server_type, hostname, port, socket_type, authentication) or (username is None and not optional):
            return None
        assert server_type and hostname and port and socket_type and authentication
        return Server(direction, server_type, hostname, port, socket_type, tuple(authentication), username, pop3)

    def authentication(self, raw: dict[str, Any], direction: Direction, where: Where) -> list[str] | None:
        methods = self.string_list(raw, "authentication", where)
        if methods is None:
            return None
        if not methods:
            self.error(where, '"authentication" is empty; list at least one method', "authentication")
            return None
        result = []
        for method in methods:
            name = auth_method(method)
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

    def pop3(self, raw: Any, where: Where, server_type: ServerType | None) -> Pop3Options:
        if raw is None:
            return Pop3Options()
        table = self.table(raw, where, "pop3")
        if table is None:
            return Pop3Options()
        if server_type not in (None, "pop3"):
            self.error(where, "pop3 options on a server that is not of type pop3")
        self.known_keys(table, schema.POP3.names, where)
        return Pop3Options(**self.read(table, schema.POP3, where))

    def documentation(self, raw: Any, where: Where) -> list[Documentation]:
        if raw is None:
            return []
        if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
            self.error(where, "documentation must be written as [[provider.documentation]] tables", "documentation")
            return []
        result = []
        for index, entry in enumerate(raw):
            here = where.child("documentation", index, words=f"{where.words}, documentation {index + 1}")
            self.known_keys(entry, schema.DOCUMENTATION.names, here)
            url = self.value(entry, schema.DOCUMENTATION.key("url"), here)
            descriptions = self.descriptions(entry.get("description"), here.child("description"))
            if url is not None and descriptions is not None:
                result.append(Documentation(url, descriptions))
        return result

    def descriptions(self, raw: Any, where: Where) -> tuple[tuple[str, str], ...] | None:
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
            if not schema.LANGUAGE.fullmatch(language):
                self.error(where, f'"{language}" is not a language code like "en" or "pt-BR"', language)
                continue
            text = self.string(table, language, where)
            if text is not None:
                result.append((language, text))
        if not result:
            self.error(where, "description has no text")
            return None
        return tuple(result)


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
