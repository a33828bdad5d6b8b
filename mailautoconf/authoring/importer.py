"""``service.py import``: a TOML config from existing config-v1.1.xml files.

An admin coming from hand-written ``config-v1.1.xml`` files (or from Mozilla's
ISPDB) should not have to retype them. The importer reads each document with
defusedxml (an autoconfig file is untrusted input: no DTDs, no entities),
maps what the model can represent and *lists* everything else on stderr with
the element's path, so nothing disappears silently. Known data bugs of the
ISPDB (``%EMAILADDRESS`` without its closing ``%``, ``displayNameShort``) are
fixed and reported. Each server and link is checked by the config layer as
it is mapped (:func:`config.check_server`), so the importer accepts exactly
what a config file may say; the whole result is validated again before
anything is written: an import never leaves a config ``check`` refuses.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tomllib
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import tomli_w
from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeElementTree

from mailautoconf import config
from mailautoconf import names
from mailautoconf.authoring import configfile
from mailautoconf.authoring import xmlencoding
from mailautoconf.config import segments
from mailautoconf.model import AUTH_METHODS
from mailautoconf.model import INCOMING_TYPES
from mailautoconf.model import OUTGOING_TYPES
from mailautoconf.model import THUNDERBIRD_PLACEHOLDERS
from mailautoconf.model import USERNAME_PLACEHOLDERS
from mailautoconf.model import Direction
from mailautoconf.model import Server
from mailautoconf.model import auth_method
from mailautoconf.model import needs_username
from mailautoconf.problems import Severity
from mailautoconf.problems import shown

__all__ = [
    "ImportFailure",
    "Imported",
    "build_document",
    "import_command",
    "merge_text",
    "parse_document",
]

# Why each element the model has no place for is left out; anything not
# listed here (and not mapped) is reported as unknown.
_NOT_IMPORTED = {
    "webMail": "the model has no web mail links",
    "enable": "the model has no 'enable this first' instructions",
    "instruction": "the model has no setup instructions",
    "oAuth2": "the first <oAuth2>'s issuer is the provider's; the model holds one",
    # Inside <oAuth2>, whose <issuer> becomes oauth_issuer.
    "authURL": "clients read it from the issuer's RFC 8414 metadata",
    "tokenURL": "clients read it from the issuer's RFC 8414 metadata",
    "scope": "the model has no OAuth2 scopes",
    "clientID": "the model has no OAuth2 client settings (clients use their own client id)",
    "clientSecret": "the model never publishes a client secret",
    "inputField": "the model has no input fields",
    "password": "the model never hands out passwords",
    "useGlobalPreferredServer": "the model never reuses another account's server (false is the default)",
    "addThisServer": "the model has no such option; clients add the server anyway",
    "restriction": "the model has no client-IP restrictions",
    "clientConfigUpdate": "the model has no update URL",
    # Mozilla's old spelling, never defined; Autoconfig 1.2's <addressbook> is imported (_DAV_SECTIONS).
    "addressBook": 'not the draft\'s <addressbook type="carddav">',
}
# Autoconfig 1.2's URL-based sections (draft-ietf-mailmaint-autoconfig-06,
# "Server sections"), beside <emailProvider>: element -> (type, config key).
_DAV_SECTIONS = {"calendar": ("caldav", "caldav"), "addressbook": ("carddav", "carddav")}
_SERVER_CHILDREN = ("hostname", "port", "socketType", "authentication", "username", "pop3")
# Thunderbird's %EMAILADDRESS% etc. by their middle word; the ISPDB misses the closing % at times.
_PLACEHOLDER_NAMES = {legacy.strip("%")[5:]: placeholder for placeholder, legacy in THUNDERBIRD_PLACEHOLDERS.items()}
_PLACEHOLDER = re.compile(rf"%EMAIL({'|'.join(_PLACEHOLDER_NAMES)})(%?)")


class ImportFailure(Exception):
    """The import cannot produce a usable config; every message says why."""

    def __init__(self, messages: list[str]) -> None:
        self.messages = messages
        super().__init__("\n".join(messages))


@dataclass
class Imported:
    """One document's provider table, and what was fixed or left out (for stderr)."""

    source: str
    provider: dict[str, Any]
    notes: list[str] = field(default_factory=list)


class _Reader:
    """Walks one parsed document; ``notes`` collects every message for the admin."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.notes: list[str] = []
        # Servers without <username>, filled once the incoming servers are known.
        self.without_username: list[tuple[str, dict[str, Any]]] = []

    def note(self, path: str, message: str) -> None:
        self.notes.append(f"{self.source}: {path}: {message}")

    def skip(self, element: ElementTree.Element, path: str) -> None:
        reason = _NOT_IMPORTED.get(element.tag, "unknown element")
        self.note(path, f"not imported ({reason})")

    def unknown_attributes(self, element: ElementTree.Element, path: str, known: tuple[str, ...]) -> None:
        for name in element.attrib:
            if name not in known:
                self.note(f"{path}/@{name}", "not imported (unknown attribute)")

    # -- the document ------------------------------------------------------

    def document(self, root: ElementTree.Element) -> dict[str, Any]:
        if root.tag != "clientConfig":
            raise ImportFailure([f"{self.source}: the root element is <{root.tag}>, not <clientConfig>"])
        self.unknown_attributes(root, "/clientConfig", ("version",))
        providers: list[tuple[str, ElementTree.Element]] = []
        dav: dict[str, dict[str, Any]] = {}
        for path, child in _children(root, "/clientConfig"):
            if child.tag == "emailProvider":
                if providers:
                    self.skip(child, path)
                    continue
                providers.append((path, child))
            elif child.tag in _DAV_SECTIONS:
                self.dav(child, path, dav)
            elif child.tag == "oAuth2" and "oauth_issuer" not in dav:
                self.oauth2(child, path, dav)
            else:
                self.skip(child, path)
        if not providers:
            raise ImportFailure([f"{self.source}: no <emailProvider> element"])
        return self.provider(*providers[0]) | dav

    def dav(self, element: ElementTree.Element, path: str, into: dict[str, dict[str, Any]]) -> None:
        """A ``<calendar type="caldav">`` or ``<addressbook type="carddav">`` as a caldav/carddav table.

        The first of each kind is the provider's preferred one ("Multiple
        server sections"), and the model holds one: later ones are noted.
        What the config layer refuses (an http URL, say) is noted, not imported.
        """
        kind, key = _DAV_SECTIONS[element.tag]
        self.unknown_attributes(element, path, ("type",))
        if element.get("type", "").lower() != kind:
            self.note(path, f'type "{element.get("type", "")}" not imported (only {kind})')
            return
        if key in into:
            self.note(path, f"not imported (the first <{element.tag}> is the provider's; the model holds one)")
            return
        table: dict[str, Any] = {}
        for here, child in _children(element, path):
            if child.tag == "url" and "url" not in table:
                table["url"] = _text(child)
            elif child.tag == "username" and "username" not in table:
                username = self.placeholders(_text(child), here, USERNAME_PLACEHOLDERS)
                if username is not None:
                    table["username"] = username
            elif child.tag == "authentication":
                method = _text(child)
                if (child.get("system"), method.lower()) != ("http", "basic"):
                    self.note(here, f'"{method}" not imported (the model says HTTP Basic for calendars and contacts)')
            else:
                self.skip(child, here)
        if "url" not in table:
            self.note(path, "not imported (no <url>)")
            return
        service, messages = config.check_dav(table, key)
        for _, message, _severity in messages:
            self.note(path, message)
        if service is None:
            self.note(path, "not imported (see the messages above)")
            return
        into[key] = table

    def oauth2(self, element: ElementTree.Element, path: str, into: dict[str, Any]) -> None:
        """The first ``<oAuth2>``'s ``<issuer>`` as ``oauth_issuer``.

        The format names the issuer by its host name (the draft's example,
        every ISPDB entry), so ``https://<issuer>`` is the issuer URL
        imported; render/thunderbird.py writes back the same host.
        """
        self.unknown_attributes(element, path, ())
        for here, child in _children(element, path):
            if child.tag != "issuer" or "oauth_issuer" in into:
                self.skip(child, here)
                continue
            text = _text(child)
            url = text if text.lower().startswith("https://") else f"https://{text}"
            issuer, messages = config.check_oauth_issuer(url)
            for _, message, _severity in messages:
                self.note(here, message)
            if issuer is None:
                self.note(here, "not imported (see the message above)")
            else:
                into["oauth_issuer"] = issuer

    def provider(self, path: str, element: ElementTree.Element) -> dict[str, Any]:
        self.unknown_attributes(element, path, ("id",))
        domains: list[str] = []
        display_name = short_name = None
        incoming: list[dict[str, Any]] = []
        outgoing: list[dict[str, Any]] = []
        documentation: list[dict[str, Any]] = []
        for here, child in _children(element, path):
            if child.tag == "domain" and child.get("purpose", "").lower() == "mx":
                # Autoconfig 1.2: the MX servers' domain, not a mail domain of the provider.
                self.note(here, "not imported (the MX servers' domain: mx = [...] takes the MX host names)")
            elif child.tag == "domain":
                self.domain(_text(child), here, domains)
            elif child.tag == "displayName":
                display_name = _text(child)
            elif child.tag in ("displayShortName", "displayNameShort"):
                if child.tag == "displayNameShort":
                    self.note(here, "misspelled displayShortName: imported as short_name")
                short_name = _text(child)
            elif child.tag == "incomingServer":
                self.server(child, here, "incoming", incoming)
            elif child.tag == "outgoingServer":
                self.server(child, here, "outgoing", outgoing)
            elif child.tag == "documentation":
                self.documentation(child, here, documentation)
            else:
                self.skip(child, here)
        if not domains:
            raise ImportFailure([f"{self.source}: {path}: no valid <domain>; a provider needs at least one"])
        provider_id = self.provider_id(element.get("id", ""), path, domains[0])
        self.fill_usernames(incoming, outgoing, path)
        table: dict[str, Any] = {"id": provider_id, "display_name": display_name or provider_id}
        if not display_name:
            self.note(f"{path}/displayName", f'missing: the provider id "{provider_id}" is used')
        if short_name:
            table["short_name"] = short_name
        table["domains"] = domains
        table["incoming"] = incoming
        table["outgoing"] = outgoing
        if documentation:
            table["documentation"] = documentation
        return table

    def provider_id(self, raw: str, path: str, first_domain: str) -> str:
        try:
            return names.to_ascii(raw)
        except ValueError as exc:
            self.note(f"{path}/@id", f'"{raw}" is not a host name ({exc}): the first domain "{first_domain}" is used')
            return first_domain

    def domain(self, text: str, path: str, domains: list[str]) -> None:
        try:
            name = names.to_ascii(text)
        except ValueError as exc:
            self.note(path, f'"{text}" not imported (not a domain name: {exc})')
            return
        if name in domains:
            self.note(path, f'"{text}" is listed twice: imported once')
            return
        domains.append(name)

    # -- servers -----------------------------------------------------------

    def server(self, element: ElementTree.Element, path: str, direction: Direction, into: list[dict[str, Any]]) -> None:
        """Map one server element to a server table, checked by the config layer as a config file would be."""
        self.unknown_attributes(element, path, ("type",))
        kind = element.get("type", "").lower()
        allowed = INCOMING_TYPES if direction == "incoming" else OUTGOING_TYPES
        if kind not in allowed:
            self.note(
                path, f'not imported (server type "{element.get("type", "")}": the model has {", ".join(allowed)})'
            )
            return
        values: dict[str, list[tuple[str, ElementTree.Element]]] = {}
        for here, child in _children(element, path):
            if child.tag in _SERVER_CHILDREN:
                values.setdefault(child.tag, []).append((here, child))
            else:
                self.skip(child, here)
        for tag, found in values.items():
            if tag != "authentication" and len(found) > 1:
                for here, _ in found[1:]:
                    self.note(here, f"not imported (a second <{tag}>; clients read the first)")
        missing = [tag for tag in ("hostname", "port", "socketType") if tag not in values]
        if missing:
            self.note(path, f"not imported (no <{'>, <'.join(missing)}>)")
            return
        paths = {tag: found[0][0] for tag, found in values.items()}
        table: dict[str, Any] = {"type": kind}
        hostname = self.placeholders(_text(values["hostname"][0][1]), paths["hostname"], ("{domain}",))
        port = _text(values["port"][0][1])
        number = _whole_number(port)
        if number is None:
            self.note(paths["port"], f'not imported (port "{port}" is not a port: ASCII digits only)')
            self.note(path, "not imported (see the messages above)")
            return
        table["port"] = number
        table["socket_type"] = _text(values["socketType"][0][1])
        table["authentication"] = self.authentication(values.get("authentication", []), direction)
        username = ""  # an empty <username> is taken as none
        if "username" in values:
            mapped = self.placeholders(_text(values["username"][0][1]), paths["username"], USERNAME_PLACEHOLDERS)
            if mapped is None:
                hostname = None
            else:
                username = mapped
        if hostname is None:
            self.note(path, "not imported (see the messages above)")
            return
        table["hostname"] = hostname
        # A server that takes no credentials keeps having no username; one that
        # does gets the first incoming server's (fill_usernames), once all are read.
        borrows = not username and needs_username(tuple(table["authentication"]))
        if username or borrows:
            table["username"] = username or "{address}"
        if "pop3" in values:
            here, pop3 = values["pop3"][0]
            if kind != "pop3":
                self.note(here, "not imported (pop3 options on a server that is not POP3)")
            else:
                table["pop3"] = self.pop3(pop3, here)
        server = self.checked_server(table, direction, path, paths)
        if server is None:
            return
        imported = _server_table(server)
        if borrows:
            self.without_username.append((path, imported))
        into.append(imported)

    def checked_server(
        self, table: dict[str, Any], direction: Direction, path: str, paths: dict[str, str]
    ) -> Server | None:
        """The config layer's verdict on ``table``; pop3 options it refuses are left out, one by one."""
        tag_of_key = {"socket_type": "socketType", "hostname": "hostname", "port": "port", "username": "username"}
        while True:
            server, messages = config.check_server(table, direction)
            errors = [(keys, message) for keys, message, severity in messages if severity is Severity.ERROR]
            refused_options = [keys[1] for keys, _ in errors if len(keys) == 2 and keys[0] == "pop3"]
            if server is not None or not refused_options or len(refused_options) != len(errors):
                break
            here = paths.get("pop3", path)
            for (_, message), key in zip(errors, refused_options, strict=True):
                self.note(here, f"not imported ({message})")
                del table["pop3"][key]
        if server is None:
            for keys, message in errors:
                where = paths.get(tag_of_key.get(str(keys[0]), ""), path) if keys else path
                self.note(where, message)
            if not table["authentication"]:
                self.note(path, "no usable <authentication>")
            self.note(path, "not imported (see the messages above)")
        return server

    def placeholders(self, text: str, path: str, allowed: tuple[str, ...]) -> str | None:
        """Map Thunderbird's %EMAIL...% placeholders to the config's; fix a missing closing %."""
        result = []
        position = 0
        for match in _PLACEHOLDER.finditer(text):
            name, closing = match.groups()
            if not closing:
                self.note(path, f'"%EMAIL{name}" lacks its closing %: read as %EMAIL{name}%')
            placeholder = _PLACEHOLDER_NAMES[name]
            if placeholder not in allowed:
                self.note(path, f'"{text}": %EMAIL{name}% cannot be used here')
                return None
            result.append(text[position : match.start()])
            result.append(placeholder)
            position = match.end()
        result.append(text[position:])
        return "".join(result)

    def authentication(self, found: list[tuple[str, ElementTree.Element]], direction: Direction) -> list[str]:
        """The methods the model knows for ``direction``, each once; the others are listed as left out."""
        methods: list[str] = []
        for path, element in found:
            text = _text(element)
            name = auth_method(text)
            if name is None or direction not in AUTH_METHODS[name]:
                self.note(path, f'"{text}" not imported (not an {direction} authentication method of the model)')
            elif name in methods:
                self.note(path, f'"{text}" is listed twice: imported once')
            else:
                methods.append(name)
        return methods

    def fill_usernames(self, incoming: list[dict[str, Any]], outgoing: list[dict[str, Any]], path: str) -> None:
        """Give servers that need a username and have none the first incoming server's."""
        borrowing = [table for _, table in self.without_username]
        fallback = next(
            (s["username"] for s in incoming if "username" in s and all(s is not b for b in borrowing)),
            "{address}",
        )
        for where, table in self.without_username:
            table["username"] = fallback
            self.note(where, f'no <username>: "{fallback}" (the first incoming server\'s) is used')

    def pop3(self, element: ElementTree.Element, path: str) -> dict[str, Any]:
        """The <pop3> options as a pop3 table; values are checked with the server (:meth:`checked_server`)."""
        options: dict[str, Any] = {}
        booleans = {"leaveMessagesOnServer": "leave_messages_on_server", "downloadOnBiff": "download_on_biff"}
        for here, child in _children(element, path):
            text = _text(child)
            if child.tag in booleans and text in ("true", "false"):
                options[booleans[child.tag]] = text == "true"
            elif child.tag == "daysToLeaveMessagesOnServer" and _whole_number(text) is not None:
                options["days_to_leave_messages_on_server"] = _whole_number(text)
            elif child.tag == "checkInterval" and _whole_number(child.get("minutes") or "") is not None:
                options["check_interval_minutes"] = _whole_number(child.get("minutes") or "")
            elif child.tag in (*booleans, "daysToLeaveMessagesOnServer", "checkInterval"):
                self.note(here, f'not imported (the value "{text or child.attrib}" is not valid here)')
            else:
                self.skip(child, here)
        return options

    # -- documentation -----------------------------------------------------

    def documentation(self, element: ElementTree.Element, path: str, into: list[dict[str, Any]]) -> None:
        self.unknown_attributes(element, path, ("url",))
        url = (element.get("url") or "").strip()
        descriptions: dict[str, str] = {}
        for here, child in _children(element, path):
            if child.tag != "descr":
                self.skip(child, here)
                continue
            self.unknown_attributes(child, here, ("lang",))
            language = child.get("lang") or "en"
            text = " ".join(_text(child).split())
            if language in descriptions:
                self.note(here, f'not imported (a second description in "{language}")')
            elif text:
                descriptions[language] = text
        if not descriptions:
            self.note(path, "has no <descr>: the URL is imported as its English description")
            descriptions["en"] = url
        documentation, messages = config.check_documentation({"url": url, "description": descriptions})
        if documentation is None:
            for _, message, _ in messages:
                self.note(path, f"not imported ({message})")
            return
        into.append({"url": documentation.url, "description": dict(documentation.descriptions)})


def _server_table(server: Server) -> dict[str, Any]:
    """A checked server as the TOML table ``check`` reads back to the same server."""
    table: dict[str, Any] = {
        "type": server.type,
        "hostname": server.hostname,
        "port": server.port,
        "socket_type": server.socket_type.value,
        "authentication": list(server.authentication),
    }
    if server.username is not None:
        table["username"] = server.username
    pop3 = {
        "leave_messages_on_server": server.pop3.leave_messages_on_server,
        "download_on_biff": server.pop3.download_on_biff,
        "days_to_leave_messages_on_server": server.pop3.days_to_leave_messages_on_server,
        "check_interval_minutes": server.pop3.check_interval_minutes,
    }
    if any(value is not None for value in pop3.values()):
        table["pop3"] = {key: value for key, value in pop3.items() if value is not None}
    return table


def _children(element: ElementTree.Element, path: str) -> list[tuple[str, ElementTree.Element]]:
    """Each child element with its XPath-like path (``tag[n]`` when the tag repeats)."""
    counts: dict[str, int] = {}
    for child in element:
        counts[child.tag] = counts.get(child.tag, 0) + 1
    seen: dict[str, int] = {}
    result = []
    for child in element:
        tag: object = child.tag  # typed str, but a comment's or processing instruction's tag is a function
        if not isinstance(tag, str):
            continue
        seen[child.tag] = seen.get(child.tag, 0) + 1
        suffix = f"[{seen[child.tag]}]" if counts[child.tag] > 1 else ""
        result.append((f"{path}/{child.tag}{suffix}", child))
    return result


def _whole_number(text: str) -> int | None:
    """``text`` as a number if it is ASCII digits only, else None.

    str.isdigit() is also true for "²" (int() fails: a traceback) and for
    fullwidth "\\uff19\\uff19\\uff13" (int() reads 993: a port the document did not plainly say).
    Clients read ASCII digits; so does the import. The length bound keeps
    int() below its digit limit and is far above any valid value.
    """
    if text.isascii() and text.isdigit() and len(text) <= 20:
        return int(text)
    return None


def _text(element: ElementTree.Element) -> str:
    return (element.text or "").strip()


def parse_document(data: bytes, source: str) -> Imported:
    """Read one config-v1.1.xml; raise ImportFailure naming the file (and line) if unusable."""
    try:
        data = xmlencoding.as_utf8(data)
    except xmlencoding.EncodingError as exc:
        raise ImportFailure([f"{source}, line {exc.line}: {exc.reason}"]) from None
    try:
        root = SafeElementTree.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except ElementTree.ParseError as exc:
        line, column = exc.position
        reason = re.sub(r": line \d+, column \d+$", "", str(exc))
        raise ImportFailure([f"{source}, line {line}: not well-formed XML: {reason} (column {column + 1})"]) from None
    except DefusedXmlException as exc:
        raise ImportFailure([f"{source}: refused: DTDs and entities are not allowed ({exc})"]) from None
    reader = _Reader(source)
    provider = reader.document(root)
    return Imported(source, provider, reader.notes)


def _unique_ids(imported: list[Imported], taken: set[str]) -> None:
    """Give a provider whose id is taken its first domain as id: several ISPDB files share one (zoho.com)."""
    for item in imported:
        provider = item.provider
        if provider["id"] in taken and provider["domains"][0] not in taken:
            item.notes.append(
                f'{item.source}: /clientConfig/emailProvider/@id: "{provider["id"]}" is already the id of another '
                f'provider: the first domain "{provider["domains"][0]}" is used'
            )
            provider["id"] = provider["domains"][0]
        taken.add(provider["id"])


def build_document(imported: list[Imported], public_hostname: str | None) -> str:
    """A complete new config: [service] and one [[provider]] per imported document."""
    _unique_ids(imported, set())
    providers = [item.provider for item in imported]
    hostname = public_hostname or f"autoconfig.{providers[0]['domains'][0]}"
    return tomli_w.dumps({"service": {"public_hostname": hostname}, "provider": providers})


def merge_text(existing_text: str, existing_source: str, imported: list[Imported]) -> str:
    """The existing config with the new providers appended, its text (comments, tables) unchanged."""
    try:
        existing = segments.loads(existing_text)  # a number too long for int() is a TOMLDecodeError there
    except tomllib.TOMLDecodeError as exc:
        raise ImportFailure([f"{existing_source}: cannot merge into it: {exc}"]) from None
    except RecursionError:  # Python 3.11's tomllib has no nesting limit
        raise ImportFailure([f"{existing_source}: cannot merge into it: values are nested too deeply"]) from None
    old = existing.get("provider", [])
    _unique_ids(imported, {str(p.get("id")) for p in old if isinstance(p, dict)} if isinstance(old, list) else set())
    addition = tomli_w.dumps({"provider": [item.provider for item in imported]})
    separator = "" if existing_text.endswith("\n") or not existing_text else "\n"
    return f"{existing_text}{separator}\n# Imported by service.py import\n{addition}"


def _read(name: str) -> bytes:
    if name == "-":
        return sys.stdin.buffer.read()
    try:
        with open(name, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise ImportFailure([f"{name}: cannot read the file: {exc.strerror or exc}"]) from None


def import_command(args: argparse.Namespace) -> int:
    """``service.py import FILE...``: exit 0 with the TOML written, 1 with every reason it was not."""
    target = args.output or args.merge
    try:
        if target:
            configfile.check_target(target)  # a mistyped folder is said before any file is read
        imported = []
        for name in args.files:
            item = parse_document(_read(name), "<stdin>" if name == "-" else name)
            imported.append(item)
        base = args.merge
        if base is None and args.output and os.path.exists(args.output):
            base = args.output
            print(
                f"{args.output} exists: merging the new providers into it (its other content is kept)", file=sys.stderr
            )
        if base is not None:
            if args.public_hostname:
                print(f"--public-hostname ignored: the [service] table of {base} is kept", file=sys.stderr)
            try:
                with open(base, encoding="utf-8") as handle:
                    existing_text = handle.read()
            except (OSError, UnicodeDecodeError) as exc:
                raise ImportFailure([f"{base}: cannot read the file: {exc}"]) from None
            text = merge_text(existing_text, base, imported)
        else:
            text = build_document(imported, args.public_hostname)
        for item in imported:
            for message in item.notes:
                print(shown(message), file=sys.stderr)  # notes echo the document's text
        try:
            warnings = configfile.validate(text, target or "<output>")
        except config.ConfigError as exc:
            raise ImportFailure(["the imported config is not valid:"] + [str(p) for p in exc.problems]) from None
        for warning in warnings:
            print(warning, file=sys.stderr)
        configfile.write(target, text)
    except (ImportFailure, configfile.WriteError) as exc:
        for message in exc.messages if isinstance(exc, ImportFailure) else [str(exc)]:
            print(shown(message), file=sys.stderr)
        print("nothing written", file=sys.stderr)
        return 1
    if target:
        print(f"{target}: {len(imported)} provider(s) imported, {len(warnings)} warning(s)", file=sys.stderr)
    return 0
