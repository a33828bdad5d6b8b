"""Every rule of the form "valid, but client X rejects or misreads it", in one place.

The config layer (:mod:`mailautoconf.config`) decides what a config *means*;
this module says what each client will *do* with it. Each rule is a small
function of the model returning :class:`Finding`\\ s, with a comment citing
the client behaviour it exists for (docs/clients.md). The pipeline runs them
for every provider it renders (only changed ones on a reload), so ``check``,
the watcher's log and ``/healthz`` print the same list.

Thunderbird for Android is judged by an emulation of its parser run on the
document we actually render (:mod:`mailautoconf.clientrules.android`, which
the probe uses too): it is the strictest reader of config-v1.1.xml, and what
it rejects depends on every element, not on one setting. Evolution needs no rule: what it misreads (it
keeps the last server of each type, docs/clients.md section 1.8) is answered
by the document rendered for it (render/evolution.py).

May import: the vocabulary, config/ (for LoadResult and positions), render/ (the documents it judges).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass

from mailautoconf import paccspec
from mailautoconf.clientrules import android
from mailautoconf.clientrules.android import Rejection
from mailautoconf.config import LoadResult
from mailautoconf.config import Path
from mailautoconf.model import CREDENTIAL_FREE
from mailautoconf.model import ENCRYPTED_METHODS
from mailautoconf.model import NO_OVERRIDE
from mailautoconf.model import NO_PASSWORD
from mailautoconf.model import Config
from mailautoconf.model import Provider
from mailautoconf.model import Server
from mailautoconf.model import SocketType
from mailautoconf.problems import Problem
from mailautoconf.problems import Severity
from mailautoconf.problems import in_file_order
from mailautoconf.render import THUNDERBIRD
from mailautoconf.render import apple
from mailautoconf.render import pacc
from mailautoconf.render import placeholders
from mailautoconf.render import thunderbird
from mailautoconf.render.outlook import spa_on
from mailautoconf.render.templates import ProviderTemplates
from mailautoconf.render.templates import domain_values
from mailautoconf.render.templates import mx_values
from mailautoconf.render.templates import provider_templates

__all__ = [
    "GNOME_PORTS",
    "GNOME_USERNAMES",
    "Client",
    "Finding",
    "Rejection",
    "android_problems",
    "android_rejections",
    "config_findings",
    "provider_findings",
    "warnings",
]


class Client(enum.Enum):
    THUNDERBIRD = "Thunderbird"
    ANDROID = "Thunderbird for Android"
    OUTLOOK = "Outlook"
    APPLE = "Apple Mail"
    GNOME = "GNOME Online Accounts"
    AUTOCONFIG = "autoconfig clients"  # every reader of config-v1.1.xml
    PACC = "PACC clients"  # readers of user-agent-configuration.json (none shipped yet)


@dataclass(frozen=True)
class Finding:
    """What one rule says about one provider."""

    keys: Path  # the setting it is about, inside the provider's table; () is the table itself
    where: str  # the place in words, as the config layer says it
    message: str
    clients: frozenset[Client]


def _provider_where(provider: Provider) -> str:
    return f'provider "{provider.id}"'


def _servers(provider: Provider) -> Iterator[tuple[Path, str, Server]]:
    """Each server with its key path and its place in words."""
    where = _provider_where(provider)
    for direction, servers in (("incoming", provider.incoming), ("outgoing", provider.outgoing)):
        for index, server in enumerate(servers):
            yield (direction, index), f"{where}, {direction} server {index + 1}", server


# -- rules about one server ---------------------------------------------------


def _plain_socket(keys: Path, where: str, server: Server) -> Iterator[Finding]:
    """Thunderbird warns before it uses a connection without TLS; Android refuses one at all.

    Android reads only the imap and smtp sections, and one plain section
    among them makes it reject the whole document (docs/clients.md section 1.10).
    """
    if server.socket_type is not SocketType.PLAIN:
        return
    android = server.type != "pop3"
    clients = {Client.THUNDERBIRD} | ({Client.ANDROID} if android else set())
    if set(server.authentication) <= NO_PASSWORD:
        refuses = "Thunderbird for Android refuses a plain connection at all and rejects the whole document; "
        message = (
            f'socket_type "plain" sends no password, but mail travels unencrypted; {refuses if android else ""}'
            "Thunderbird warns the user"
        )
    else:
        rejects = "Thunderbird for Android rejects the whole document and " if android else ""
        message = f'socket_type "plain" sends passwords unencrypted; {rejects}Thunderbird warns the user'
    yield Finding((*keys, "socket_type"), where, message, frozenset(clients))


def _incoming_without_password(keys: Path, where: str, server: Server) -> Iterator[Finding]:
    """Thunderbird's account setup drops an incoming server it cannot log in to with a password or OAuth2."""
    if server.direction == "incoming" and set(server.authentication) <= NO_PASSWORD:
        yield Finding(
            (*keys, "authentication"),
            where,
            "Thunderbird ignores an incoming server whose only methods are none, client-IP-address or TLS-client-cert",
            frozenset({Client.THUNDERBIRD}),
        )


def _autodiscover_spa(keys: Path, where: str, server: Server) -> Iterator[Finding]:
    """Autodiscover has only <SPA>on/off> (render/outlook.py, spa_on; docs/clients.md section 2.5).

    On, Outlook tries NTLM and Thunderbird an encrypted password; off, both
    send a cleartext password over the connection's TLS.
    """
    methods = set(server.authentication)
    if spa_on(server.authentication):
        if "NTLM" not in methods:
            yield Finding(
                (*keys, "authentication"),
                where,
                "Autodiscover can only say SPA on here: Thunderbird set up through it uses an encrypted password, "
                "but Outlook tries NTLM, which this server does not list",
                frozenset({Client.OUTLOOK, Client.THUNDERBIRD}),
            )
    elif not methods & ({"password-cleartext"} | ENCRYPTED_METHODS | CREDENTIAL_FREE):
        yield Finding(
            (*keys, "authentication"),
            where,
            f'Autodiscover cannot say "{server.authentication[0]}": Outlook and Thunderbird set up through '
            "it send a cleartext password (over the connection's TLS); list password-cleartext too if the "
            "server accepts it",
            frozenset({Client.OUTLOOK, Client.THUNDERBIRD}),
        )


def _oauth2_only(keys: Path, where: str, server: Server) -> Iterator[Finding]:
    """Thunderbird has OAuth2 client registrations only for the providers it ships with."""
    methods = set(server.authentication)
    if "OAuth2" in methods and not {"password-cleartext", "password-encrypted"} & methods:
        yield Finding(
            (*keys, "authentication"),
            where,
            "Thunderbird accepts OAuth2 only for providers it knows; list a password "
            "method after OAuth2 or it drops this server",
            frozenset({Client.THUNDERBIRD}),
        )


_SERVER_RULES: tuple[Callable[[Path, str, Server], Iterator[Finding]], ...] = (
    _plain_socket,
    _incoming_without_password,
    _autodiscover_spa,
    _oauth2_only,
)


# -- rules about a provider ---------------------------------------------------


def _pop3_only(provider: Provider) -> Iterator[Finding]:
    """Thunderbird for Android needs an imap section (docs/clients.md section 1.10)."""
    if not any(server.type == "imap" for server in provider.incoming):
        yield Finding(
            (),
            _provider_where(provider),
            "no IMAP server: Thunderbird for Android rejects POP3-only settings",
            frozenset({Client.ANDROID}),
        )


def _no_way_to_find(provider: Provider) -> Iterator[Finding]:
    """Without autoconfig.<d> a client can only find the settings through the MX lookup."""
    if provider.mx:
        return
    without = [domain.name for domain in provider.domains if not provider.has_own_names(domain)]
    if without:
        yield Finding(
            ("own_names",),
            _provider_where(provider),
            f'{len(without)} domain(s) without own names (first "{without[0]}") and no "mx": '
            "autoconfig clients have no way to find their settings",
            frozenset({Client.AUTOCONFIG}),
        )


def _own_hosts_behind_mx(provider: Provider) -> Iterator[Finding]:
    """Thunderbird for Android asks autoconfig.<MX domain> without the address (docs/clients.md section 1.3).

    That document is the provider's, so a domain's own server host names never reach it that way.
    """
    if not provider.mx:
        return
    for domain in provider.domains:
        override = domain.override
        if override is not NO_OVERRIDE and (
            override.hostname or override.incoming_hostname or override.outgoing_hostname
        ):
            yield Finding(
                ("overrides",),
                _provider_where(provider),
                f'domain "{domain.name}" has its own server host names, but clients that find the settings '
                "through the MX lookup without sending the address (Thunderbird for Android) get the "
                "provider's",
                frozenset({Client.ANDROID}),
            )
            return


def _apple_profile(provider: Provider) -> Iterator[Finding]:
    """A profile holds one incoming and one outgoing server, each with one authentication Apple knows.

    Apple's schema has no value for GSSAPI, OAuth2, TLS client certificates
    or SMTP-after-POP (docs/clients.md section 3.3): such servers are passed
    over (render/apple.py, choose_servers), and without a server of a
    direction there is no profile at all.
    """
    choice = apple.choose_servers(provider, provider.domains[0])
    where = _provider_where(provider)
    for direction, servers, chosen in (
        ("incoming", provider.incoming, choice.incoming),
        ("outgoing", provider.outgoing, choice.outgoing),
    ):
        if chosen is None:
            yield Finding(
                (direction,),
                where,
                f"no {direction} server whose authentication an Apple profile can state (password-cleartext, "
                "password-encrypted, NTLM, none, client-IP-address): Apple devices get no profile",
                frozenset({Client.APPLE}),
            )
            continue
        preferred = [server for server in servers if server.type == chosen.type]
        first = preferred[0]
        if apple.apple_auth(first.authentication) is None:
            index = servers.index(first)
            yield Finding(
                (direction, index, "authentication"),
                f"{where}, {direction} server {index + 1}",
                f'an Apple profile cannot state "{first.authentication[0]}": the profile carries the next '
                f"{chosen.type} server instead",
                frozenset({Client.APPLE}),
            )


# What GNOME Online Accounts fills in from <username> (goamailclient.c,
# goa_mail_config_new_from_autoconfig_xml; docs/clients.md section 1.15): only a
# username that is exactly one placeholder, compared without letter case. A
# template renders to exactly one only as "{address}" or "{localpart}":
# "{domain}" is filled in at render time (render/placeholders.py), so GNOME
# gets the literal domain, which it ignores like any other text.
GNOME_USERNAMES = {"{address}": placeholders.ADDRESS, "{localpart}": placeholders.LOCALPART}
# The port GNOME connects to: its account dialog has the host name and STARTTLS
# or SSL only, the port being the default of that mode (goaimapsmtpprovider.c).
GNOME_PORTS = {("imap", SocketType.SSL): 993, ("imap", SocketType.STARTTLS): 143}
GNOME_PORTS |= {("smtp", SocketType.SSL): 465, ("smtp", SocketType.STARTTLS): 587}


def _gnome(provider: Provider) -> Iterator[Finding]:
    """What GNOME Online Accounts does with the first IMAP and the first SMTP server, the only ones it takes.

    It reads no POP3 server and no <authentication> (it logs in with LOGIN
    or PLAIN); of <username> only an exact placeholder; of <socketType> SSL
    or STARTTLS, anything else becoming SSL; and no <port> at all
    (docs/clients.md section 1.15).
    """
    where = _provider_where(provider)
    clients = frozenset({Client.GNOME})
    for direction, servers, kind in (("incoming", provider.incoming, "imap"), ("outgoing", provider.outgoing, "smtp")):
        index = next((i for i, server in enumerate(servers) if server.type == kind), None)
        if index is None:
            continue
        server = servers[index]
        keys: Path = (direction, index)
        place = f"{where}, {direction} server {index + 1}"
        if server.username is not None and server.username not in GNOME_USERNAMES:
            yield Finding(
                (*keys, "username"),
                place,
                f'GNOME Online Accounts ignores username "{server.username}": it fills in <username> only when it '
                f"is exactly {placeholders.ADDRESS}, {placeholders.LOCALPART} or {placeholders.DOMAIN}, so GNOME "
                'users must type the username themselves ("{address}" and "{localpart}" are the forms it reads)',
                clients,
            )
        mode = server.socket_type if server.socket_type is not SocketType.PLAIN else SocketType.SSL
        port = GNOME_PORTS[(kind, mode)]
        if server.socket_type is SocketType.PLAIN:
            yield Finding(
                (*keys, "socket_type"),
                place,
                f"GNOME Online Accounts has no plain connection: it sets this {kind} server up with SSL on port {port}",
                clients,
            )
        elif server.port != port:
            yield Finding(
                (*keys, "port"),
                place,
                f"GNOME Online Accounts ignores the port: it connects to {port}, the default for {kind} over "
                f"{mode.value}, not {server.port}",
                clients,
            )


# draft-ietf-mailmaint-autoconfig-06, "displayName and displayShortName": MUST be no longer. PACC's
# info.provider name and shortName have the same limits (paccspec).
MAX_DISPLAY_NAME = paccspec.MAX_NAME
MAX_DISPLAY_SHORT_NAME = paccspec.MAX_SHORT_NAME

# What the finding says a format does with a name over ``limit`` for its ``element``, and the ``fix``.
Allows = Callable[[int, str, str], str]


def _display_names(provider: Provider) -> Iterator[Finding]:
    """A name longer than Autoconfig 1.2 allows in ``displayName`` (60) or ``displayShortName`` (20)."""

    def allows(limit: int, element: str, fix: str) -> str:
        return f"Autoconfig 1.2 allows {limit} in {element}: {fix}"

    return _long_names(provider, allows, frozenset({Client.AUTOCONFIG}))


def _long_names(provider: Provider, allows: Allows, clients: frozenset[Client]) -> Iterator[Finding]:
    """Each name over the display name's or the short name's limit, for a format that says ``allows``.

    ``short_name`` defaults to ``display_name``, so a long display name
    without a short name breaks the shorter limit: the finding says to add
    one. Clients show the short name beside the address as the account's
    name. A domain's override is checked for what it sets itself.
    """
    where = _provider_where(provider)
    places: list[tuple[Path, str, str | None, str | None]] = [((), where, provider.display_name, provider.short_name)]
    for domain in provider.domains:
        if domain.override is not NO_OVERRIDE:
            here = f'{where}, domain "{domain.unicode}"'
            places.append(
                (("overrides", domain.unicode), here, domain.override.display_name, domain.override.short_name)
            )
    for keys, place, display_name, short_name in places:
        if display_name is not None and len(display_name) > MAX_DISPLAY_NAME:
            said = f"display_name has {len(display_name)} characters"
            message = f"{said}; {allows(MAX_DISPLAY_NAME, 'displayName', 'shorten it')}"
            yield Finding((*keys, "display_name"), place, message, clients)
        if short_name is None or len(short_name) <= MAX_DISPLAY_SHORT_NAME:
            continue
        if not keys and short_name == display_name:  # not set: the display name stands in
            key, fix = "display_name", "add a short_name"
            said = f"display_name, the short name too while short_name is not set, has {len(short_name)} characters"
        else:
            key, fix, said = "short_name", "shorten it", f"short_name has {len(short_name)} characters"
        message = f"{said}; {allows(MAX_DISPLAY_SHORT_NAME, 'displayShortName', fix)}"
        yield Finding((*keys, key), place, message, clients)


def _pacc(provider: Provider) -> Iterator[Finding]:
    """PACC says no port and no TLS mode: implicit TLS on 993, 995 and 465 only (render/pacc.py).

    A direction with no server it can describe leaves the provider without
    a document (served as 404): a PACC client then finds nothing rather than
    something wrong. A protocol left out otherwise is said too, and a name
    over the draft's length limit, which the document cuts.
    """
    if provider.pacc is None:
        return
    where = _provider_where(provider)
    clients = frozenset({Client.PACC})
    oauth = provider.oauth_issuer is not None
    without = [domain.name for domain in provider.domains if not provider.has_own_names(domain)]
    if without:
        yield Finding(
            ("pacc",),
            where,
            f'{len(without)} domain(s) without own names (first "{without[0]}") get no ua-auto-config.<domain> '
            "in dns, certs and nginx: PACC clients look nowhere else",
            clients,
        )
    missing = False
    for direction, servers in (("incoming", provider.incoming), ("outgoing", provider.outgoing)):
        if any(pacc.expressible(server, oauth=oauth) for server in servers):
            continue
        missing = True
        first = servers[0]
        key = _pacc_key(first)
        yield Finding(
            (direction, 0, key),
            f"{where}, {direction} server 1",
            f'pacc = true, but no {direction} server is implicit TLS (socket_type "SSL") on its default port '
            f"({', '.join(f'{kind} {port}' for kind, port in paccspec.PORTS.items())}) with a password login "
            "(or OAuth2 with oauth_issuer), "
            "which is all PACC can describe: the domains get no PACC document",
            clients,
        )
    if missing:  # each direction said; no document, so nothing is left out of one
        return
    for kind in dict.fromkeys(server.type for server in provider.incoming):
        if not any(pacc.expressible(server, oauth=oauth) for server in provider.incoming if server.type == kind):
            index = next(i for i, server in enumerate(provider.incoming) if server.type == kind)
            yield Finding(
                ("incoming", index, _pacc_key(provider.incoming[index])),
                f"{where}, incoming server {index + 1}",
                f"PACC can describe no {kind} server of this provider (implicit TLS on port "
                f"{paccspec.PORTS[kind]} only): its PACC document leaves {kind} out",
                clients,
            )

    def allows(limit: int, element: str, fix: str) -> str:
        return f"PACC allows {limit}: its document carries the first {limit}"

    yield from _long_names(provider, allows, clients)


def _pacc_key(server: Server) -> str:
    """The setting that keeps ``server`` out of the PACC document."""
    if server.socket_type is not SocketType.SSL:
        return "socket_type"
    if server.port != paccspec.PORTS[server.type]:
        return "port"
    return "authentication"


_PROVIDER_RULES: tuple[Callable[[Provider], Iterator[Finding]], ...] = (
    _pop3_only,
    _no_way_to_find,
    _own_hosts_behind_mx,
    _apple_profile,
    _gnome,
    _display_names,
    _pacc,
)


def provider_findings(provider: Provider, templates: ProviderTemplates | None = None) -> tuple[Finding, ...]:
    """Every rule's findings for ``provider``; ``templates`` (its rendered templates) saves rendering again."""
    found: list[Finding] = []
    for keys, where, server in _servers(provider):
        for server_rule in _SERVER_RULES:
            found += server_rule(keys, where, server)
    for provider_rule in _PROVIDER_RULES:
        found += provider_rule(provider)
    found += _android_findings(provider, templates, found)
    return tuple(found)


def config_findings(loaded: Config) -> list[tuple[int, Finding]]:
    """Rules across providers, as (index in ``loaded.providers``, finding).

    One so far: two providers whose MX hosts share a domain. Thunderbird for
    Android asks ``autoconfig.<that domain>`` without the address, so one of
    them answers for both (docs/clients.md section 1.3).
    """
    hosted = {domain.name for provider in loaded.providers for domain in provider.domains}
    owner: dict[str, int] = {}
    found = []
    for index, provider in enumerate(loaded.providers):
        for name in provider.mx_domains:
            first = owner.setdefault(name, index)
            if first != index and name not in hosted:
                found.append(
                    (
                        index,
                        Finding(
                            ("mx",),
                            _provider_where(provider),
                            f'autoconfig.{name} (from its mx) answers for provider "{loaded.providers[first].id}" '
                            "when a client sends no address (Thunderbird for Android); give the providers MX "
                            "hosts under different domains",
                            frozenset({Client.ANDROID}),
                        ),
                    )
                )
    return found


def warnings(
    result: LoadResult, findings: Callable[[Provider], tuple[Finding, ...]] = provider_findings
) -> tuple[Problem, ...]:
    """Every warning of a loaded config, the config layer's and the clients', in file order.

    ``findings`` gives a provider's findings; the pipeline passes one that
    remembers them for providers that did not change.
    """
    problems = list(result.warnings)
    placed = [
        (index, finding) for index, provider in enumerate(result.config.providers) for finding in findings(provider)
    ]
    for index, finding in placed + config_findings(result.config):
        file, line = result.locate(index, finding.keys)
        problems.append(Problem(file, line, finding.where, finding.message, Severity.WARNING))
    return tuple(in_file_order(problems, result.config.sources))


# The emulation's verdicts by their old names here: callers and tests ask clientrules for them.
android_rejections = android.rejections
android_problems = android.problems


def _android_findings(
    provider: Provider, templates: ProviderTemplates | None, already: list[Finding]
) -> Iterator[Finding]:
    """Android's verdict on the documents rendered for ``provider``, where no rule above says it already.

    What it rejects depends on the servers, which all of a provider's domains
    share: its first domain's document stands for all of them. The MX lookup
    document (host names left as %EMAILDOMAIN%) is judged too.
    """
    domain = provider.domains[0]
    if templates is None:
        templates = provider_templates(provider)
    if templates.shared is not None and domain.override is NO_OVERRIDE:
        document = templates.shared[THUNDERBIRD].fill(domain_values(domain))
    else:
        document = thunderbird.render(provider, domain)
    documents = [("the whole document", document)]
    if provider.mx_domains:
        documents.append(
            (f"the settings at autoconfig.{provider.mx_domains[0]}", templates.mx[THUNDERBIRD].fill(mx_values()))
        )
    said = {finding.keys for finding in already if Client.ANDROID in finding.clients}
    seen: set[tuple[Path, str]] = set()
    where = _provider_where(provider)
    for what, content in documents:
        for rejection in android.rejections(content, f"user@{domain.name}"):
            keys: Path = ()
            place = where
            if rejection.server is not None:
                direction, index = rejection.server
                keys = (direction, index, android.KEY_OF_ELEMENT.get(rejection.element or "", ""))
                keys = keys if keys[-1] else keys[:-1]
                place = f"{where}, {direction} server {index + 1}"
            # A rule above already says it (plain socket, POP3 only), with the reason in the admin's terms.
            if keys in said and (rejection.server is not None or "POP3-only" in rejection.reason):
                continue
            if (keys, rejection.reason) in seen:  # the MX document mostly repeats the first
                continue
            seen.add((keys, rejection.reason))
            yield Finding(
                keys, place, f"Thunderbird for Android rejects {what}: {rejection.reason}", frozenset({Client.ANDROID})
            )
