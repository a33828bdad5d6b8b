"""The validated configuration: the vocabulary every other module speaks.

Everything here is frozen and fully checked by :mod:`mailautoconf.config`;
renderers and generators never see TOML and never need to validate again.
Values are neutral (a socket type is ``SocketType.SSL``, not a client's
spelling of it); each renderer maps them into its own dialect.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from dataclasses import field
from typing import Literal
from typing import NamedTuple

__all__ = [
    "AUTH_METHODS",
    "CREDENTIAL_FREE",
    "ENCRYPTED_METHODS",
    "INCOMING_TYPES",
    "NO_OVERRIDE",
    "NO_PASSWORD",
    "OUTGOING_TYPES",
    "POP3_CHECK_MINUTES",
    "POP3_DAYS",
    "PORTS",
    "THUNDERBIRD_PLACEHOLDERS",
    "TLS_LAYOUTS",
    "USERNAME_PLACEHOLDERS",
    "Config",
    "DavService",
    "Direction",
    "DnsSettings",
    "Documentation",
    "Domain",
    "DomainOverride",
    "NginxSettings",
    "PaccSettings",
    "Pop3Options",
    "Provider",
    "ResolvedServer",
    "Server",
    "ServerType",
    "ServiceSettings",
    "SigningSettings",
    "SocketType",
    "TlsLayout",
    "TlsSettings",
    "auth_method",
    "needs_username",
]


class SocketType(enum.Enum):
    """How a client secures the connection to a mail server."""

    SSL = "SSL"  # implicit TLS from the first byte (RFC 8314)
    STARTTLS = "STARTTLS"  # plain connect, then the STARTTLS upgrade
    PLAIN = "plain"  # no TLS at all; deprecated, rejected by Android

    @classmethod
    def parse(cls, text: str) -> SocketType | None:
        """The socket type ``text`` names, in any letter case; None for an unknown one."""
        for member in cls:
            if text.lower() == member.value.lower():
                return member
        return None


Direction = Literal["incoming", "outgoing"]
ServerType = Literal["imap", "pop3", "smtp"]
INCOMING_TYPES: tuple[ServerType, ...] = ("imap", "pop3")
OUTGOING_TYPES: tuple[ServerType, ...] = ("smtp",)

# Authentication methods in Thunderbird's spelling (config-v1.1.xml). The
# value says which server directions may use it.
AUTH_METHODS: dict[str, frozenset[Direction]] = {
    "password-cleartext": frozenset({"incoming", "outgoing"}),
    "password-encrypted": frozenset({"incoming", "outgoing"}),
    "NTLM": frozenset({"incoming", "outgoing"}),
    "GSSAPI": frozenset({"incoming", "outgoing"}),
    "client-IP-address": frozenset({"incoming", "outgoing"}),
    "TLS-client-cert": frozenset({"incoming", "outgoing"}),
    "OAuth2": frozenset({"incoming", "outgoing"}),
    "none": frozenset({"incoming", "outgoing"}),
    "smtp-after-pop": frozenset({"outgoing"}),
}
_AUTH_BY_LOWER = {name.lower(): name for name in AUTH_METHODS}
# Methods that need no credentials at all: the server knows the client by
# its address, or asks nothing. A server offering only these needs no username.
CREDENTIAL_FREE = frozenset({"none", "client-IP-address"})
# Methods that send no password: the credential-free ones and a client certificate.
NO_PASSWORD = CREDENTIAL_FREE | {"TLS-client-cert"}
# Methods that never put the password on the wire in clear: what Thunderbird
# calls "secure" authentication, and what Autodiscover's <SPA>on</SPA> stands for.
ENCRYPTED_METHODS = frozenset({"NTLM", "GSSAPI", "password-encrypted"})


def auth_method(text: str) -> str | None:
    """The method ``text`` names, in Thunderbird's spelling, in any letter case; None for an unknown one."""
    return _AUTH_BY_LOWER.get(text.lower())


def needs_username(methods: tuple[str, ...]) -> bool:
    """Whether a server offering ``methods`` needs a username (some method takes credentials)."""
    return not set(methods) <= CREDENTIAL_FREE


# A username template's placeholders, and how config-v1.1.xml spells each
# (Thunderbird fills %EMAILADDRESS% and %EMAILLOCALPART% itself).
USERNAME_PLACEHOLDERS = ("{address}", "{localpart}", "{domain}")
THUNDERBIRD_PLACEHOLDERS = {
    "{address}": "%EMAILADDRESS%",
    "{localpart}": "%EMAILLOCALPART%",
    "{domain}": "%EMAILDOMAIN%",
}
# Thunderbird's <pop3> limits, as config-v1.1.xml readers take them: (lowest, highest).
PORTS = (1, 65535)  # TCP and UDP ports a server may listen on
POP3_DAYS = (1, 36500)  # daysToLeaveMessagesOnServer: up to a hundred years
POP3_CHECK_MINUTES = (1, 10080)  # checkInterval minutes: up to a week


@dataclass(frozen=True)
class Pop3Options:
    """Thunderbird's ``<pop3>`` block: what a POP3 client does with fetched mail."""

    leave_messages_on_server: bool | None = None
    download_on_biff: bool | None = None
    days_to_leave_messages_on_server: int | None = None
    check_interval_minutes: int | None = None

    def is_empty(self) -> bool:
        return all(
            value is None
            for value in (
                self.leave_messages_on_server,
                self.download_on_biff,
                self.days_to_leave_messages_on_server,
                self.check_interval_minutes,
            )
        )


@dataclass(frozen=True)
class Server:
    """One incoming or outgoing server as configured, before per-domain resolution.

    ``hostname`` may contain ``{domain}``; ``username`` is a template made of
    literal text and ``{address}``, ``{localpart}``, ``{domain}``.
    """

    direction: Direction
    type: ServerType
    hostname: str
    port: int
    socket_type: SocketType
    authentication: tuple[str, ...]
    username: str | None  # None only where no method needs credentials (needs_username)
    pop3: Pop3Options = field(default_factory=Pop3Options)


@dataclass(frozen=True)
class ResolvedServer:
    """A server as one hosted domain's clients see it: a concrete hostname."""

    direction: Direction
    type: ServerType
    hostname: str  # A-label form, ready for DNS and for clients
    port: int
    socket_type: SocketType
    authentication: tuple[str, ...]
    username: str | None  # template; {domain} still unresolved, see Domain.unicode
    pop3: Pop3Options


@dataclass(frozen=True)
class Documentation:
    url: str
    descriptions: tuple[tuple[str, str], ...]  # (language, text), in file order


@dataclass(frozen=True)
class DavService:
    """A CalDAV or CardDAV service: where calendars or address books live.

    ``url`` is an https URL and may contain ``{domain}`` in its host name;
    ``username`` is a template as for mail servers (None: the user types it).
    """

    url: str
    username: str | None = None

    def url_for(self, domain: Domain) -> str:
        return self.url.replace("{domain}", domain.name)


@dataclass(frozen=True)
class DomainOverride:
    """Per-domain settings that replace the provider's for that domain only."""

    hostname: str | None = None  # every server of the domain
    incoming_hostname: str | None = None
    outgoing_hostname: str | None = None
    display_name: str | None = None
    short_name: str | None = None
    # None: the provider's own_names decides.
    own_names: bool | None = None
    caldav: DavService | None = None  # None: the provider's
    carddav: DavService | None = None


# The override of every domain that has none: one shared instance, so code
# that runs per domain at 100,000 domains can test it by identity.
NO_OVERRIDE = DomainOverride()


@dataclass(frozen=True)
class Domain:
    """A hosted mail domain.

    ``name`` is the lower-case A-label form (``xn--bcher-kva.example``): the
    key everything is looked up by, the folder name in the rendered tree and
    the spelling DNS needs. ``unicode`` is the U-label form an admin wrote.
    """

    name: str
    unicode: str
    override: DomainOverride = NO_OVERRIDE


@dataclass(frozen=True)
class Provider:
    id: str  # emailProvider id: a hostname
    display_name: str
    short_name: str
    domains: tuple[Domain, ...]
    incoming: tuple[Server, ...]
    outgoing: tuple[Server, ...]
    documentation: tuple[Documentation, ...] = ()
    list_all_domains: bool = False
    # The provider's MX host names (A-labels), most preferred first. Clients
    # that find no autoconfig.<d> take the domain of the MX host and ask
    # autoconfig.<that domain> (draft-ietf-mailmaint-autoconfig, "domain
    # hosters"); see mx_domains.
    mx: tuple[str, ...] = ()
    # Whether customer domains get their own autoconfig.<d> and
    # autodiscover.<d> names (DNS, certificates, nginx); a per-domain
    # override wins. Without them clients find the service through the MX
    # lookup and the _autodiscover._tcp SRV record only.
    own_names: bool = True
    # autoconfig.<x> names answered for this provider through the MX lookup:
    # the MX hosts' full and base domains (names.mx_lookup_domains), in order.
    mx_domains: tuple[str, ...] = ()
    # Calendars and contacts (Apple profiles, the settings page; RFC 6764 later).
    caldav: DavService | None = None
    carddav: DavService | None = None
    # The PACC draft revision whose document its domains get ("02", "03";
    # render/pacc.py); None: no PACC document (off by default until clients ship).
    pacc: str | None = None
    # The provider's OAuth2 issuer (https, no query or fragment): PACC's
    # "oauth-public" (draft-ietf-mailmaint-pacc, "Authentication"). Never a secret.
    oauth_issuer: str | None = None

    def resolve_servers(self, domain: Domain) -> tuple[ResolvedServer, ...]:
        """Return this provider's servers, incoming first, as ``domain`` sees them."""
        override = domain.override
        resolved = []
        for server in self.incoming + self.outgoing:
            if server.direction == "incoming":
                template = override.incoming_hostname or override.hostname
            else:
                template = override.outgoing_hostname or override.hostname
            hostname = (template or server.hostname).replace("{domain}", domain.name)
            resolved.append(
                ResolvedServer(
                    direction=server.direction,
                    type=server.type,
                    hostname=hostname,
                    port=server.port,
                    socket_type=server.socket_type,
                    authentication=server.authentication,
                    username=server.username,
                    pop3=server.pop3,
                )
            )
        return tuple(resolved)

    def has_own_names(self, domain: Domain) -> bool:
        """Whether ``domain`` gets its own autoconfig./autodiscover. names."""
        own = domain.override.own_names
        return self.own_names if own is None else own

    def caldav_for(self, domain: Domain) -> DavService | None:
        return domain.override.caldav or self.caldav

    def carddav_for(self, domain: Domain) -> DavService | None:
        return domain.override.carddav or self.carddav

    def display_name_for(self, domain: Domain) -> str:
        return domain.override.display_name or self.display_name

    def short_name_for(self, domain: Domain) -> str:
        return domain.override.short_name or self.short_name


@dataclass(frozen=True)
class ServiceSettings:
    """How the service itself is reached."""

    # The public host name clients and DNS records point at, e.g.
    # "autoconfig.example.net": the CNAME target of autoconfig.<d>.
    public_hostname: str
    # Glob patterns of further config files, as written (relative to the
    # main file's folder); each holds [[provider]] tables only.
    include: tuple[str, ...] = ()
    # Seconds between the running service's checks of its tree on disk and
    # of the signing certificate's dates (selfcheck.py).
    check_interval: int = 10


@dataclass(frozen=True)
class DnsSettings:
    """How the generated DNS records point clients at this service."""

    # Empty: autoconfig.<d> and autodiscover.<d> are CNAMEs to the service's
    # public_hostname. Set: A/AAAA records with these addresses instead.
    addresses: tuple[str, ...] = ()
    ttl: int = 3600
    # The classic per-domain host names (imap.<d>, smtp.<d>, ...) as CNAMEs
    # to the provider's mail hosts, for people and clients that guess names
    # (Thunderbird's last resort tries imap.<d>, smtp.<d>, mail.<d>).
    common_names: bool = False


class TlsLayout(NamedTuple):
    """Where one ACME client keeps its files; ``{name}`` stands for the certificate name."""

    directory: str  # the default certificate folder
    certificate: str  # the certificate chain, relative to the folder
    key: str  # the private key, relative to the folder
    challenges: str  # the default folder nginx serves ACME http-01 challenges from


TLS_LAYOUTS = {
    "dehydrated": TlsLayout(
        "/var/lib/dehydrated/certs",
        "{name}/fullchain.pem",
        "{name}/privkey.pem",
        "/var/lib/dehydrated/acme-challenges",
    ),
    "certbot": TlsLayout("/etc/letsencrypt/live", "{name}/fullchain.pem", "{name}/privkey.pem", "/var/www/letsencrypt"),
}


@dataclass(frozen=True)
class TlsSettings:
    """Where the ACME client keeps the certificates nginx serves."""

    layout: str = "dehydrated"
    directory: str = TLS_LAYOUTS["dehydrated"].directory
    challenges: str = TLS_LAYOUTS["dehydrated"].challenges
    # Names per certificate: Let's Encrypt and the other ACME CAs issue at
    # most 100 (their "Rate Limits" documentation).
    max_names: int = 100

    def certificate(self, name: str) -> str:
        return f"{self.directory.rstrip('/')}/{TLS_LAYOUTS[self.layout].certificate.format(name=name)}"

    def key(self, name: str) -> str:
        return f"{self.directory.rstrip('/')}/{TLS_LAYOUTS[self.layout].key.format(name=name)}"


@dataclass(frozen=True)
class SigningSettings:
    """The certificate Apple profiles are signed with; empty ``certificate``: profiles go out unsigned.

    Paths as written in the config (absolute, or relative to the main
    file's folder): the service reads the files, and reads them again when
    they change (a renewal), so the model holds no key material.
    """

    certificate: str = ""  # PEM: the signing certificate, and the chain after it (a fullchain.pem)
    key: str = ""  # PEM private key
    chain: str = ""  # PEM intermediates, when not in ``certificate``

    @property
    def enabled(self) -> bool:
        return bool(self.certificate)

    def files(self) -> tuple[str, ...]:
        return tuple(path for path in (self.certificate, self.key, self.chain) if path)


@dataclass(frozen=True)
class NginxSettings:
    """How the generated nginx site listens."""

    # Addresses the site listens on (IPv4, or IPv6 without brackets); empty:
    # every address (the wildcard, IPv4 and IPv6).
    listen: tuple[str, ...] = ()


@dataclass(frozen=True)
class PaccSettings:
    """How the running service watches the PACC digests in DNS (pacc/watch.py).

    A PACC client rejects a document whose SHA-256 is in no TXT record of
    ``_ua-auto-config.<d>``; the service looks those records up itself and
    counts the domains that are stale. Only while some provider has
    ``pacc = true``.
    """

    check_dns: bool = True
    # "IP", "IP:PORT" or "[IPv6]:PORT"; None: the system's resolver (/etc/resolv.conf), what clients ask too.
    resolver: str | None = None
    # Seconds between looks at a domain found stale or not answered, until DNS carries its digest.
    recheck_interval: int = 300
    # Seconds from the end of one look at every domain to the start of the next (the first runs at start).
    sweep_interval: int = 86400
    # At most this many queries a second, whatever the number of domains.
    queries_per_second: int = 20


@dataclass(frozen=True)
class Config:
    source: str  # the main file it was read from, for messages
    service: ServiceSettings
    providers: tuple[Provider, ...]
    dns: DnsSettings = field(default_factory=DnsSettings)
    tls: TlsSettings = field(default_factory=TlsSettings)
    nginx: NginxSettings = field(default_factory=NginxSettings)
    signing: SigningSettings = field(default_factory=SigningSettings)
    pacc: PaccSettings = field(default_factory=PaccSettings)
    # Every file the config was read from: the main file, then the included
    # ones in the order read.
    sources: tuple[str, ...] = ()

    def domains(self) -> dict[str, tuple[Provider, Domain]]:
        """Map every hosted domain's A-label name to its provider and domain."""
        return {domain.name: (provider, domain) for provider in self.providers for domain in provider.domains}

    def mx_providers(self) -> dict[str, Provider]:
        """Map every MX lookup domain (autoconfig.<x> answered) to its provider; the first provider wins."""
        found: dict[str, Provider] = {}
        for provider in self.providers:
            for name in provider.mx_domains:
                found.setdefault(name, provider)
        return found
