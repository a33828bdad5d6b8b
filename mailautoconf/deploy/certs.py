"""Certificate names: dehydrated's ``domains.txt`` lines and certbot commands.

Every hosted domain needs ``autoconfig.<d>`` and ``autodiscover.<d>`` in a
certificate (clients fail on a name the certificate does not cover, and
Thunderbird gives up quickly during setup), and the mail servers' own
names need one too. A CA issues at most ``[tls] max_names`` names per
certificate (Let's Encrypt: 100), so at scale the names are spread over
many certificates, the *bundles*, and the nginx site has one https server
per bundle.

Bundles are stable: adding or removing one domain changes the name set of
at most one existing certificate of a family, so a new customer never
causes the others to be issued again (each issue counts against the CA's
rate limits; a renewal of an unchanged name set does not). This is how:

- Names are grouped into *units* that always share a certificate: a hosted
  domain's ``autoconfig.<d>`` and ``autodiscover.<d>`` (with ``--well-known``
  also ``<d>`` itself); ``autoconfig.<mx domain>`` of an MX lookup domain that
  is not hosted; the service's ``public_hostname`` if no unit has it. For
  the mail servers a domain's unit holds the host names made for it from a
  ``{domain}`` template (``mail.{domain}``) and, with ``[dns] common_names``,
  its ``imap.<d>`` ... ``submission.<d>``; a literal host name is a unit of
  its own.
- A unit's key is the SHA-256 of its domain (or name). The units sit in a
  binary trie over the key's bits. A trie node is one certificate (a leaf)
  when its names fit into ``max_names``, or when it holds a single unit, or
  at depth :data:`TRIE_BITS`; otherwise its units go to its two children by
  the next bit. The shape depends only on the set of units, never on their
  order in the config.
- A leaf's certificate name (its *alias*) is the family and the leaf's bit
  prefix padded with zero bits to :data:`TRIE_BITS`, in hex:
  ``autoconfig-0000`` for the root, ``autoconfig-4000`` for prefix 01. When
  a leaf overflows and splits, its left child has the same padded value,
  so that certificate keeps its alias and loses the names that go right,
  into a new certificate; when two leaves merge, the left one grows and the
  right one disappears. An empty leaf is no certificate. So one domain
  added or removed changes the names of one certificate (and may add or
  drop others); a domain's literal mail host name of its own (an override)
  is a unit of its own and may change one more.
- A leaf can hold more than ``max_names`` only at the depth limit or as a
  single unit bigger than ``max_names``; its names are then spread over
  ``<alias>``, ``<alias>-2``, ... In practice never: at 100,000 domains a
  16-bit prefix holds 1.5 of them on average, and a domain needs 2 or 3
  service names (up to 5 mail server names with common names).

Families: ``autoconfig`` (what the nginx site serves), and for the mail
servers ``mail``, or with ``[dns] common_names`` ``dovecot`` (incoming
servers) and ``postfix`` (outgoing servers).

An ACME order fails as a whole when one name has no DNS pointing at this
server yet (docs/clients.md section 5.3), so ``--only-resolving`` keeps only the
names that already resolve here and says which it left out. It filters
the bundles after they are made, so aliases do not move.
"""

from __future__ import annotations

import argparse
import bisect
import hashlib
import itertools
import shlex
import sys
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence

from mailautoconf import paccspec
from mailautoconf.deploy import AUTOCONFIG
from mailautoconf.deploy import AUTODISCOVER
from mailautoconf.deploy import ServerHost
from mailautoconf.deploy import common_names
from mailautoconf.deploy import load_or_report
from mailautoconf.deploy import mx_lookup_domains
from mailautoconf.deploy import own_name_domains
from mailautoconf.deploy import select_domains
from mailautoconf.deploy import server_hosts
from mailautoconf.model import Config
from mailautoconf.model import Provider
from mailautoconf.pacc import digest

__all__ = [
    "DOVECOT",
    "MAIL",
    "POSTFIX",
    "SERVICE",
    "TRIE_BITS",
    "bundle",
    "certbot_commands",
    "certificates",
    "certs_command",
    "common_names_cost",
    "domains_txt",
    "mail_units",
    "service_bundles",
    "service_units",
]

SERVICE = AUTOCONFIG  # certificate family of the names the nginx site answers
MAIL = "mail"  # the mail servers' host names
DOVECOT = "dovecot"  # with [dns] common_names: incoming servers and imap(s)./pop3(s).<d>
POSTFIX = "postfix"  # with [dns] common_names: outgoing servers and smtp(s)./submission.<d>
TRIE_BITS = 16  # depth limit of the trie, and the width of an alias's hex part
_KEY_BITS = 256

Certificates = dict[str, list[str]]  # certificate name (alias) -> host names
Units = dict[str, list[str]]  # unit id (a domain or a name) -> its names


def _key(unit: str) -> int:
    return int.from_bytes(hashlib.sha256(unit.encode("ascii")).digest(), "big")


def bundle(family: str, units: Mapping[str, Sequence[str]], max_names: int) -> Certificates:
    """Spread the units' names over certificates of at most ``max_names`` names (see the module's text).

    Certificates come in alias order; within one, names in key order of
    their units. Units without names are left out.
    """
    ordered = sorted((_key(unit), tuple(names)) for unit, names in units.items() if names)
    keys = [key for key, _ in ordered]
    counts = [0, *itertools.accumulate(len(names) for _, names in ordered)]
    found: Certificates = {}

    def visit(prefix: int, depth: int, low: int, high: int) -> None:
        if low == high:
            return  # an empty leaf: no certificate
        if counts[high] - counts[low] <= max_names or high - low == 1 or depth == TRIE_BITS:
            alias = f"{family}-{prefix << (TRIE_BITS - depth):0{TRIE_BITS // 4}x}"
            for index, names in enumerate(_pack([names for _, names in ordered[low:high]], max_names)):
                found[alias if index == 0 else f"{alias}-{index + 1}"] = names
            return
        right = ((prefix << 1) | 1) << (_KEY_BITS - depth - 1)  # the smallest key with the next bit set
        middle = bisect.bisect_left(keys, right, low, high)
        visit(prefix << 1, depth + 1, low, middle)
        visit((prefix << 1) | 1, depth + 1, middle, high)

    visit(0, 0, 0, len(ordered))
    return found


def _pack(units: list[tuple[str, ...]], max_names: int) -> list[list[str]]:
    """One leaf's names in chunks of at most ``max_names``; a unit is split only if it alone is too big."""
    chunks: list[list[str]] = [[]]
    for names in units:
        if chunks[-1] and len(chunks[-1]) + len(names) > max_names:
            chunks.append([])
        for name in names:
            if len(chunks[-1]) == max_names:
                chunks.append([])
            chunks[-1].append(name)
    return chunks


def service_units(loaded: Config, *, well_known: bool = False) -> Units:
    """The units of the names the nginx site answers (family ``autoconfig``).

    ``well_known``: the site also answers on the hosted domains' own names
    (``service.py nginx --well-known``), which then need a certificate too.
    """
    units: Units = {}
    taken: set[str] = set()

    def add(unit: str, names: list[str]) -> None:
        fresh = [name for name in names if name not in taken]
        taken.update(fresh)
        if fresh:
            units.setdefault(unit, []).extend(fresh)

    # PACC's ua-auto-config.<d> joins its domain's unit (deploy/digest.py): opting in changes one certificate.
    pacc_names = set(digest.host_names(loaded))
    for name in sorted(domain.name for _, domain in own_name_domains(loaded)):
        pacc_name = [f"{paccspec.HOST_LABEL}.{name}"] if f"{paccspec.HOST_LABEL}.{name}" in pacc_names else []
        add(name, [f"{AUTOCONFIG}.{name}", f"{AUTODISCOVER}.{name}", *([name] if well_known else []), *pacc_name])
    for mx_domain in sorted(mx_lookup_domains(loaded)):
        add(f"{AUTOCONFIG}.{mx_domain}", [f"{AUTOCONFIG}.{mx_domain}"])
    # The target of every _autodiscover._tcp SRV record: Outlook checks its certificate.
    add(loaded.service.public_hostname, [loaded.service.public_hostname])
    return units


def service_bundles(loaded: Config, *, well_known: bool = False) -> Certificates:
    """The certificates of the names the nginx site answers: one https server each."""
    return bundle(SERVICE, service_units(loaded, well_known=well_known), loaded.tls.max_names)


def mail_units(loaded: Config, *, common: bool | None = None) -> dict[str, Units]:
    """The mail servers' units by family: ``mail``, or ``dovecot`` and ``postfix`` with common names.

    ``common``: whether [dns] common_names counts (default: as configured).
    """
    if common is None:
        common = loaded.dns.common_names
    hosted = loaded.domains()
    public = loaded.service.public_hostname
    selected = sorted(select_domains(loaded), key=lambda pair: pair[1].name)

    def family(direction: str) -> str:
        return MAIL if not common else DOVECOT if direction == "incoming" else POSTFIX

    families: dict[str, Units] = {name: {} for name in ((DOVECOT, POSTFIX) if common else (MAIL,))}
    shared: dict[int, tuple[Provider, list[ServerHost]]] = {}
    hosts = [(provider, domain, server_hosts(provider, domain, shared)) for provider, domain in selected]
    literal = {
        (family(host.direction), host.hostname)
        for found in {id(found): found for *_, found in hosts}.values()
        for host in found
        if not host.per_domain
    }
    taken: set[tuple[str, str]] = set(literal)
    for name_family, hostname in sorted(literal):
        families[name_family].setdefault(hostname, []).append(hostname)
    for provider, domain, found in hosts:
        own = [(family(host.direction), host.hostname) for host in found if host.per_domain]
        if common:
            aliases = common_names(provider, domain, hosted=hosted, public_hostname=public, hosts=found)
            own += [(family(alias.direction), alias.name) for alias in aliases]
        for name_family, name in own:
            if (name_family, name) not in taken:
                taken.add((name_family, name))
                families[name_family].setdefault(domain.name, []).append(name)
    return families


def certificates(loaded: Config, *, well_known: bool = False) -> Certificates:
    """Every certificate a deployment needs and the names each covers: the service's, then the mail servers'."""
    certs = service_bundles(loaded, well_known=well_known)
    for name_family, units in mail_units(loaded).items():
        certs.update(bundle(name_family, units, loaded.tls.max_names))
    return certs


def common_names_cost(loaded: Config) -> str | None:
    """What ``[dns] common_names`` costs in certificates, as a warning for ``check``; None when it is off.

    The text has no file or line: it is about the whole config.
    """
    if not loaded.dns.common_names:
        return None
    max_names = loaded.tls.max_names
    with_common = {name: bundle(name, units, max_names) for name, units in mail_units(loaded, common=True).items()}
    without = bundle(MAIL, mail_units(loaded, common=False)[MAIL], max_names)
    names = sum(len(names) for certs in with_common.values() for names in certs.values())
    count = sum(len(certs) for certs in with_common.values())
    domains = len(loaded.domains())
    return (
        f"[dns] common_names: imap., imaps., pop3., pop3s., smtp., smtps. and submission.<domain> of "
        f"{domains} domain(s) put {names} names into the mail servers' certificates: {count} certificate(s) "
        f"({DOVECOT} {len(with_common[DOVECOT])}, {POSTFIX} {len(with_common[POSTFIX])}, at most {max_names} "
        f"names each) instead of {len(without)} ({MAIL!r}); up to 7 more names with every new domain, and a new "
        f"ACME order whenever a certificate fills up"
    )


def domains_txt(certs: Certificates) -> str:
    """dehydrated's domains.txt: ``name name ... > alias``, one certificate a line."""
    return "".join(f"{' '.join(names)} > {alias}\n" for alias, names in certs.items() if names)


def certbot_commands(certs: Certificates, loaded: Config) -> str:
    """The certbot commands for the same certificates, answered by nginx's challenge folder.

    Admins paste these into a shell: every word is quoted for it (a
    ``[tls] challenges`` path may hold ``$(...)``, a backquote or ``*``),
    so the shell passes each one to certbot as written and runs nothing.
    """
    webroot = shlex.quote(loaded.tls.challenges)
    lines = []
    for alias, names in certs.items():
        if names:
            domains = " ".join(f"-d {shlex.quote(name)}" for name in names)
            lines.append(f"certbot certonly --webroot -w {webroot} --cert-name {shlex.quote(alias)} {domains}\n")
    return "".join(lines)


def certs_command(args: argparse.Namespace) -> int:
    loaded = load_or_report(args.config)
    if loaded is None:
        return 1
    certs = certificates(loaded, well_known=args.well_known)
    if args.only_resolving:
        from mailautoconf import dnslookup
        from mailautoconf.deploy import resolve

        try:
            points_here = resolve.points_here_check(loaded, dnslookup.make_resolver(args.resolver))
        except ValueError as exc:
            print(f"--resolver: {exc}", file=sys.stderr)
            return 1
        try:
            certs = keep_resolving(certs, points_here)
        except dnslookup.Unanswered as exc:
            print(f"cannot decide which names resolve here: DNS did not answer ({exc})", file=sys.stderr)
            return 1
    if args.format == "dehydrated":  # ready to be written to /etc/dehydrated/domains.txt
        print(domains_txt(certs), end="")
    elif args.format == "certbot":
        print(certbot_commands(certs, loaded), end="")
    else:
        print("# dehydrated: domains.txt")
        print(domains_txt(certs), end="")
        print("\n# certbot (challenges answered by nginx from its webroot)")
        print(certbot_commands(certs, loaded), end="")
    return 0


def keep_resolving(certs: Certificates, points_here: Callable[[str], str | None]) -> Certificates:
    """Keep names whose DNS points at this service; report the others on stderr.

    ``points_here(name)`` returns None when the name is fine, else the reason.
    A mail server name that points elsewhere is left out too: an http-01
    order from this host would fail on it; get that certificate where the
    mail server runs. The bundles were made before: an alias keeps its
    place, it only covers fewer names for now.
    """
    kept: Certificates = {}
    for alias, names in certs.items():
        kept[alias] = []
        for name in names:
            reason = points_here(name)
            if reason is None:
                kept[alias].append(name)
            else:
                print(f"left out {name}: {reason}", file=sys.stderr)
    return kept
