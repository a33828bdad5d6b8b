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
import ipaddress
import os
import re
import sys
from typing import Any

from mailautoconf import dnsnames
from mailautoconf import names
from mailautoconf.config.positions import Locate
from mailautoconf.config.positions import Path
from mailautoconf.model import AUTH_METHODS
from mailautoconf.model import INCOMING_TYPES
from mailautoconf.model import NO_OVERRIDE
from mailautoconf.model import OUTGOING_TYPES
from mailautoconf.model import POP3_CHECK_MINUTES
from mailautoconf.model import POP3_DAYS
from mailautoconf.model import PORTS
from mailautoconf.model import THUNDERBIRD_PLACEHOLDERS
from mailautoconf.model import TLS_LAYOUTS
from mailautoconf.model import USERNAME_PLACEHOLDERS
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
from mailautoconf.model import SocketType
from mailautoconf.model import TlsSettings
from mailautoconf.model import auth_method
from mailautoconf.model import needs_username
from mailautoconf.paccspec import DEFAULT_REVISION as DEFAULT_PACC_REVISION
from mailautoconf.paccspec import REVISIONS as PACC_REVISIONS
from mailautoconf.problems import Problem
from mailautoconf.problems import Severity
from mailautoconf.problems import shown

# Thunderbird's spelling, which admins coming from hand-written XML will try.
_LEGACY_PLACEHOLDERS = {legacy: placeholder for placeholder, legacy in THUNDERBIRD_PLACEHOLDERS.items()}
# Used with fullmatch: "$" also matches before a trailing newline ("en\n" passed).
_LANGUAGE = re.compile(r"[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*")
# Stands in for {domain} while a host name template is checked as a name.
_DOMAIN_SENTINEL = "domain-placeholder.invalid"
URL = re.compile(r"https?://[^\s<>\"']+")
# An https URL taken apart: the host (a name, maybe with {domain}) and the rest (port, path, query).
HTTPS_URL = re.compile(r"https://(?P<host>[^/:?#\s<>\"']+)(?P<rest>(:\d{1,5})?([/?#][^\s<>\"']*)?)", re.IGNORECASE)

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

    def hostname(self, value: str, where: Where, key: str, *, template: bool) -> str | None:
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

    def settings(
        self, raw: dict[str, Any], *, has_providers: bool, folder: str = ""
    ) -> tuple[ServiceSettings, DnsSettings, TlsSettings, NginxSettings, SigningSettings, PaccSettings] | None:
        """The top-level tables of the main file; None when one of them is unusable.

        ``folder``: the main file's folder, which relative paths are relative to.
        """
        top = Where((), "")
        self.known_keys(raw, ("service", "dns", "tls", "nginx", "signing", "pacc", "provider"), top)
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
        table = self.table(raw, where, "[pacc]")
        if table is None:
            return None
        keys = ("check_dns", "resolver", "recheck_interval", "sweep_interval", "queries_per_second")
        self.known_keys(table, keys, where)
        errors_before = self.error_count()
        check_dns = self.boolean(table, "check_dns", where)
        resolver = self.string(table, "resolver", where, required=False)
        if resolver is not None:
            # Here, not at the top: dnslookup brings dnspython, which a config without one never needs.
            from mailautoconf.dnslookup import parse_resolver

            try:
                parse_resolver(resolver)
            except ValueError as exc:
                self.error(where, f"resolver {exc}", "resolver")
        recheck = self.integer(table, "recheck_interval", where, 1, 86400, "a number of seconds")
        sweep = self.integer(table, "sweep_interval", where, 60, 30 * 86400, "a number of seconds")
        rate = self.integer(table, "queries_per_second", where, 1, 1000, "a number of queries a second")
        if errors_before != self.error_count():
            return None
        default = PaccSettings()
        return PaccSettings(
            check_dns=default.check_dns if check_dns is None else check_dns,
            resolver=resolver,
            recheck_interval=recheck or default.recheck_interval,
            sweep_interval=sweep or default.sweep_interval,
            queries_per_second=rate or default.queries_per_second,
        )

    def signing(self, raw: Any, where: Where, folder: str) -> SigningSettings | None:
        if raw is None:
            return SigningSettings()
        table = self.table(raw, where, "[signing]")
        if table is None:
            return None
        self.known_keys(table, ("certificate", "key", "chain"), where)
        paths: dict[str, str] = {}
        for key in ("certificate", "key", "chain"):
            text = self.string(table, key, where, required=key != "chain")
            if text is not None:
                paths[key] = os.path.normpath(os.path.join(folder, text))
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
        table = self.table(raw, where, "[nginx]")
        if table is None:
            return None
        self.known_keys(table, ("listen",), where)
        addresses: list[str] = []
        if "listen" in table:
            for text in self.string_list(table, "listen", where) or []:
                try:
                    addresses.append(str(ipaddress.ip_address(text.strip("[]"))))
                except ValueError:
                    self.error(
                        where,
                        f'listen "{text}" is not an IPv4 or IPv6 address (ports: nginx --http-port/--https-port)',
                        "listen",
                    )
        return NginxSettings(tuple(addresses))

    def dns(self, raw: Any, where: Where) -> DnsSettings | None:
        if raw is None:
            return DnsSettings()
        table = self.table(raw, where, "[dns]")
        if table is None:
            return None
        self.known_keys(table, ("addresses", "ttl", "common_names"), where)
        addresses: list[str] = []
        if "addresses" in table:
            for text in self.string_list(table, "addresses", where) or []:
                try:
                    addresses.append(str(ipaddress.ip_address(text)))
                except ValueError:
                    self.error(where, f'"{text}" is not an IPv4 or IPv6 address', "addresses")
        ttl = self.integer(table, "ttl", where, 60, 604800, "a TTL in seconds")
        common = self.boolean(table, "common_names", where)
        return DnsSettings(tuple(addresses), ttl if ttl is not None else DnsSettings.ttl, bool(common))

    def tls(self, raw: Any, where: Where) -> TlsSettings | None:
        if raw is None:
            return TlsSettings()
        table = self.table(raw, where, "[tls]")
        if table is None:
            return None
        self.known_keys(table, ("layout", "directory", "challenges", "max_names"), where)
        layout = self.string(table, "layout", where, required=False) or "dehydrated"
        if layout not in TLS_LAYOUTS:
            self.error(where, f'layout "{layout}" is unknown; use {" or ".join(TLS_LAYOUTS)}', "layout")
            return None
        directory = self.string(table, "directory", where, required=False) or TLS_LAYOUTS[layout].directory
        challenges = self.string(table, "challenges", where, required=False) or TLS_LAYOUTS[layout].challenges
        for key, path in (("directory", directory), ("challenges", challenges)):
            if not path.startswith("/") or any(char in path for char in " ;{}\"'\\"):
                self.error(where, f'{key} "{path}" must be an absolute path without spaces, quotes or ;{{}}', key)
                return None
        max_names = self.integer(table, "max_names", where, 3, 1000, "a number of names per certificate")
        if max_names is not None and max_names > 100:
            self.warn(
                where,
                f"max_names {max_names}: Let's Encrypt and the other ACME CAs issue at most 100 names per certificate",
                "max_names",
            )
        return TlsSettings(layout, directory, challenges, max_names or TlsSettings.max_names)

    def service(self, raw: Any, where: Where) -> ServiceSettings | None:
        if raw is None:
            self.error(where, 'the [service] table is missing; it needs public_hostname = "autoconfig.<your domain>"')
            return None
        table = self.table(raw, where, "[service]")
        if table is None:
            return None
        self.known_keys(table, ("public_hostname", "include", "check_interval"), where)
        include: list[str] = []
        if "include" in table:
            for pattern in self.string_list(table, "include", where) or []:
                if not pattern:
                    self.error(where, '"include" names an empty pattern', "include")
                elif not pattern.endswith(".toml"):
                    self.error(
                        where, f'include "{pattern}" must name .toml files, like "autoconfig.d/*.toml"', "include"
                    )
                else:
                    include.append(pattern)
        interval = self.integer(table, "check_interval", where, 1, 3600, "a number of seconds")
        public = self.string(table, "public_hostname", where)
        if public is None:
            return None
        hostname = self.hostname(public, where, "public_hostname", template=False)
        if not hostname or ("check_interval" in table and interval is None):
            return None
        default = ServiceSettings(hostname)
        return ServiceSettings(hostname, tuple(include), interval or default.check_interval)

    def provider(self, raw: dict[str, Any], where: Where) -> Provider | None:
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
                "mx",
                "own_names",
                "caldav",
                "carddav",
                "pacc",
                "pacc_revision",
                "oauth_issuer",
            ),
            where,
        )
        errors_before = self.error_count()
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
        mx = self.mx_hosts(raw, where)
        own_names = self.boolean(raw, "own_names", where)
        caldav = self.dav(raw, "caldav", where)
        carddav = self.dav(raw, "carddav", where)
        pacc = self.pacc(raw, where)
        oauth_issuer = self.oauth_issuer(raw, where)
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
            list_all_domains=list_all,
            mx=mx,
            own_names=True if own_names is None else own_names,
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
        enabled = self.boolean(raw, "pacc", where)
        revision = raw.get("pacc_revision", DEFAULT_PACC_REVISION)
        if isinstance(revision, str) and revision.strip().removeprefix("-") in PACC_REVISIONS:
            revision = revision.strip().removeprefix("-")
        elif "pacc_revision" in raw:
            known = " or ".join(f'"{name}"' for name in PACC_REVISIONS)
            self.error(
                where, f"pacc_revision {revision!r} is not a revision this version serves; use {known}", "pacc_revision"
            )
            return None
        if "pacc_revision" in raw and not enabled:
            self.warn(where, 'pacc_revision has no effect without "pacc = true"', "pacc_revision")
        return revision if enabled else None

    def oauth_issuer(self, raw: dict[str, Any], where: Where) -> str | None:
        """``oauth_issuer``: an https URL without query or fragment (an OAuth2 issuer identifier, RFC 8414)."""
        url = self.string(raw, "oauth_issuer", where, required=False)
        if url is None:
            return None
        match = HTTPS_URL.fullmatch(url)
        if match is None or "?" in url or "#" in url:
            self.error(where, f'oauth_issuer "{url}" must be an https URL without query or fragment', "oauth_issuer")
            return None
        host = self.hostname(match.group("host"), where, "oauth_issuer", template=False)
        return f"https://{host}{match.group('rest')}" if host else None

    def dav(self, raw: dict[str, Any], key: str, where: Where) -> DavService | None:
        """A ``caldav``/``carddav`` table: an https URL (``{domain}`` allowed in its host) and a username."""
        if key not in raw:
            return None
        here = where.child(key, words=f"{where.words}, {key}")
        table = self.table(raw[key], here, key)
        if table is None:
            return None
        self.known_keys(table, ("url", "username"), here)
        url = self.string(table, "url", here)
        username = self.username(table, here) if "username" in table else None
        if url is None:
            return None
        match = HTTPS_URL.fullmatch(url)
        if match is None:
            self.error(here, f'url "{url}" is not an https URL (calendars and contacts carry passwords)', "url")
            return None
        host = self.hostname(match.group("host"), here, "url", template=True)
        if host is None:
            return None
        return DavService(f"https://{host}{match.group('rest')}", username)

    def mx_hosts(self, raw: dict[str, Any], where: Where) -> tuple[str, ...]:
        if "mx" not in raw:
            return ()
        hosts: list[str] = []
        for text in self.string_list(raw, "mx", where) or []:
            host = self.hostname(text, where, "mx", template=False) if text else None
            if host is None:
                continue
            lookup = names.mx_lookup_domains(host)
            too_long = [problem for name in lookup if (problem := dnsnames.mx_lookup_problem(name))]
            if not lookup:
                self.error(where, f'mx "{text}" has no registrable domain to ask autoconfig.<domain> under', "mx")
            elif too_long:
                self.error(where, f'mx "{text}": {too_long[0]}', "mx")
            elif host not in hosts:
                hosts.append(host)
        return tuple(hosts)

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
            self.known_keys(
                entry,
                (
                    "hostname",
                    "incoming_hostname",
                    "outgoing_hostname",
                    "display_name",
                    "short_name",
                    "own_names",
                    "caldav",
                    "carddav",
                ),
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
            if ascii_name in written:
                # "Example.org" and "example.org" are one domain: one of the two would be dropped unseen.
                self.error(here, f'overrides for "{domain}" repeat those for "{written[ascii_name]}" (the same domain)')
                continue
            written[ascii_name] = domain
            result[ascii_name] = DomainOverride(
                hostname=hosts["hostname"],
                incoming_hostname=hosts["incoming_hostname"],
                outgoing_hostname=hosts["outgoing_hostname"],
                display_name=self.string(entry, "display_name", here, required=False),
                short_name=self.string(entry, "short_name", here, required=False),
                own_names=self.boolean(entry, "own_names", here),
                caldav=self.dav(entry, "caldav", here),
                carddav=self.dav(entry, "carddav", here),
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
        allowed: tuple[str, ...] = ("type", "hostname", "port", "socket_type", "authentication", "username")
        if direction == "incoming":
            allowed += ("pop3",)
        self.known_keys(raw, allowed, where)
        types = INCOMING_TYPES if direction == "incoming" else OUTGOING_TYPES
        type_text = self.string(raw, "type", where)
        server_type = next((kind for kind in types if kind == type_text.lower()), None) if type_text else None
        if type_text is not None and server_type is None:
            self.error(
                where,
                f'type "{type_text.lower()}" is not an {direction} server type (use {" or ".join(types)})',
                "type",
            )
        hostname_text = self.string(raw, "hostname", where)
        hostname = self.hostname(hostname_text, where, "hostname", template=True) if hostname_text else None
        port = self.integer(raw, "port", where, *PORTS, "a port")
        if "port" not in raw:
            self.error(where, '"port" is missing')
        socket_type = self.socket_type(raw, where)
        authentication = self.authentication(raw, direction, where)
        # A server that takes no credentials (none, client-IP-address) has no login to name.
        optional = authentication is not None and not needs_username(tuple(authentication))
        username = self.username(raw, where) if "username" in raw or not optional else None
        pop3 = (
            self.pop3(raw.get("pop3"), where.child("pop3"), server_type) if direction == "incoming" else Pop3Options()
        )
        if None in (server_type, hostname, port, socket_type, authentication) or (username is None and not optional):
            return None
        assert server_type and hostname and port and socket_type and authentication
        return Server(direction, server_type, hostname, port, socket_type, tuple(authentication), username, pop3)

    def socket_type(self, raw: dict[str, Any], where: Where) -> SocketType | None:
        text = self.string(raw, "socket_type", where)
        if text is None:
            return None
        member = SocketType.parse(text)
        if member is not None:
            return member
        hint = ' ("TLS" is the old name; use "SSL" for implicit TLS or "STARTTLS")' if text.upper() == "TLS" else ""
        self.error(where, f'socket_type "{text}" is unknown{hint}; use SSL, STARTTLS or plain', "socket_type")
        return None

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

    def username(self, raw: dict[str, Any], where: Where) -> str | None:
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

    def pop3(self, raw: Any, where: Where, server_type: ServerType | None) -> Pop3Options:
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
                table, "days_to_leave_messages_on_server", where, *POP3_DAYS, "a number of days"
            ),
            check_interval_minutes=self.integer(
                table, "check_interval_minutes", where, *POP3_CHECK_MINUTES, "a number of minutes"
            ),
        )

    def documentation(self, raw: Any, where: Where) -> list[Documentation]:
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
            if url is not None and not URL.fullmatch(url):
                self.error(here, f'url "{url}" is not an http or https URL', "url")
                url = None
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
            if not _LANGUAGE.fullmatch(language):
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
