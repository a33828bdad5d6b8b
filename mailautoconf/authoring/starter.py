"""``service.py init``: a starter config for one provider and one domain.

The smallest config most setups need, written so that ``check`` accepts it
as it is: IMAP and SMTP on one host, implicit TLS first (RFC 8314), the
address as login, and a short name when the display name is too long to
be one.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import tomli_w

from mailautoconf import clientrules
from mailautoconf import config
from mailautoconf import names
from mailautoconf import problems
from mailautoconf.authoring import configfile

__all__ = ["init_command", "starter_config"]


def starter_config(domain: str, mail_host: str, provider_name: str | None) -> str:
    """The smallest config most setups need: IMAP and SMTP, implicit TLS first (RFC 8314)."""
    domain_name = names.to_ascii(domain)
    host = names.to_ascii(mail_host)

    def server(kind: str, port: int, socket_type: str) -> dict[str, Any]:
        return {
            "type": kind,
            "hostname": host,
            "port": port,
            "socket_type": socket_type,
            "authentication": ["password-cleartext"],
            "username": "{address}",
        }

    display_name = provider_name or domain_name
    provider: dict[str, Any] = {"id": domain_name, "display_name": display_name}
    if len(display_name) > clientrules.MAX_DISPLAY_SHORT_NAME:
        provider["short_name"] = _short_name(domain_name)
    provider |= {
        "domains": [domain_name],
        "incoming": [server("imap", 993, "SSL"), server("imap", 143, "STARTTLS")],
        "outgoing": [server("smtp", 465, "SSL"), server("smtp", 587, "STARTTLS")],
    }
    document = {"service": {"public_hostname": f"autoconfig.{domain_name}"}, "provider": [provider]}
    header = "# mailautoconf starter config (service.py init); every key: docs/configuration.md.\n\n"
    return header + tomli_w.dumps(document)


def _short_name(domain: str) -> str:
    """What users call the provider, for a display name too long to be the short one: the domain's own label.

    ``mail.example-hosting.co.uk`` gives ``example-hosting`` (the registrable
    domain's first label, by the Public Suffix List), cut to Autoconfig
    1.2's 20 characters.
    """
    lookup = names.mx_lookup_domains(f"x.{domain}")  # the registrable domain of a host under ``domain``
    label = (lookup[-1] if lookup else domain).split(".")[0]
    return label[: clientrules.MAX_DISPLAY_SHORT_NAME].rstrip("-")


def init_command(args: argparse.Namespace) -> int:
    """``service.py init``: a starter config, never over an existing file unless --force."""
    try:
        if args.output:
            configfile.check_target(args.output)  # a folder, or a missing one: said before "exists"
    except configfile.WriteError as exc:
        print(problems.shown(str(exc)), file=sys.stderr)
        return 1
    if args.output and os.path.exists(args.output) and not args.force:
        print(f"{args.output} exists; not overwritten (use --force)", file=sys.stderr)
        return 1
    try:
        text = starter_config(args.domain, args.mail_host, args.provider_name)
        warnings = configfile.validate(text, args.output or "<output>")
    except ValueError as exc:
        print(f"not a valid name: {exc}", file=sys.stderr)
        return 1
    except config.ConfigError as exc:
        problems.report(args.output or "<output>", exc)
        return 1
    for warning in warnings:
        print(warning, file=sys.stderr)
    try:
        configfile.write(args.output, text)
    except configfile.WriteError as exc:
        print(problems.shown(str(exc)), file=sys.stderr)
        return 1
    if args.output:
        print(f"{args.output}: written; check it with: service.py check --config {args.output}", file=sys.stderr)
    return 0
