"""Certificate names: dehydrated's ``domains.txt`` lines and certbot commands.

Every hosted domain needs ``autoconfig.<d>`` and ``autodiscover.<d>`` in a
certificate (clients fail on a name the certificate does not cover, and
Thunderbird gives up quickly during setup), and the mail servers' own
names need one too. Two certificates, ``autoconfig`` and ``autodiscover``,
hold the service names of all domains (the nginx site uses exactly these
names); ``mail`` holds the mail server host names.

An ACME order fails as a whole when one name has no DNS pointing at this
server yet (clients.md section 5), so ``--only-resolving`` keeps only the
names that already resolve here and says which it left out.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from dns.exception import DNSException

from mailautoconf.deploy import AUTOCONFIG
from mailautoconf.deploy import AUTODISCOVER
from mailautoconf.deploy import load_or_report
from mailautoconf.deploy import mail_hostnames
from mailautoconf.deploy import select_domains
from mailautoconf.deploy import service_names
from mailautoconf.deploy.nginx import OWN_NAMES
from mailautoconf.model import Config

__all__ = ["MAIL", "certbot_commands", "certificates", "certs_command", "domains_txt"]

MAIL = "mail"  # certificate name for the mail servers' host names

Certificates = dict[str, list[str]]  # certificate name -> host names, in config order


def certificates(loaded: Config, *, well_known: bool = False) -> Certificates:
    """The certificates a deployment needs and the names each covers.

    ``well_known``: the nginx site also answers on the hosted domains' own
    names (``service.py nginx --well-known``), which then need one too.
    """
    names = service_names(loaded)
    certs = {AUTOCONFIG: names[AUTOCONFIG], AUTODISCOVER: names[AUTODISCOVER]}
    if well_known:
        certs[OWN_NAMES] = [domain.name for _, domain in select_domains(loaded)]
    certs[MAIL] = mail_hostnames(loaded)
    return certs


def domains_txt(certs: Certificates) -> str:
    """dehydrated's domains.txt: ``name name ... > alias``, one certificate a line."""
    return "".join(f"{' '.join(names)} > {alias}\n" for alias, names in certs.items() if names)


def certbot_commands(certs: Certificates, loaded: Config) -> str:
    """The certbot commands for the same certificates, answered by nginx's challenge folder."""
    webroot = loaded.tls.challenges
    lines = []
    for alias, names in certs.items():
        if names:
            domains = " ".join(f"-d {name}" for name in names)
            lines.append(f"certbot certonly --webroot -w {webroot} --cert-name {alias} {domains}\n")
    return "".join(lines)


def certs_command(args: argparse.Namespace) -> int:
    loaded = load_or_report(args.config)
    if loaded is None:
        return 1
    certs = certificates(loaded, well_known=args.well_known)
    if args.only_resolving:
        from mailautoconf.deploy import checkdns
        from mailautoconf.deploy import resolve

        try:
            points_here = resolve.points_here_check(loaded, checkdns.make_resolver(args.resolver))
        except ValueError as exc:
            print(f"--resolver: {exc}", file=sys.stderr)
            return 1
        try:
            certs = keep_resolving(certs, points_here)
        except DNSException as exc:
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
    mail server runs.
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
