"""The nginx site's part for PACC: the document served by nginx itself, from the rendered tree.

``https://ua-auto-config.<d>/.well-known/user-agent-configuration.json``
(draft-ietf-mailmaint-pacc) is a static file like config-v1.1.xml: nginx
sends the very bytes ``publish`` wrote (``<d>/pacc/user-agent-configuration.json``),
the bytes whose SHA-256 ``dns`` prints. Only the names of domains with a
document are mapped; any other Host goes to the service, which answers 404.
Port 80 answers ``ua-auto-config.*`` too, for ACME http-01 challenges.

The map is as fresh as the site: a domain that opts in later is answered
by the service until the site is generated again (as for any new domain);
one whose document became empty (its provider left PACC, or its servers can
no longer be described) gets an empty 200 from nginx until then, which no
client accepts (no TXT record carries the digest of nothing).
"""

from __future__ import annotations

from mailautoconf import paccspec
from mailautoconf.render import PACC
from mailautoconf.render import pacc

__all__ = ["host_map", "location"]


def host_map(entries: list[tuple[str, str]], dynamic: str) -> list[str]:
    """``map $host $mailautoconf_pacc``: ua-auto-config.<d> -> the domain's folder; nothing without PACC domains."""
    if not entries:
        return []
    lines = [
        "# PACC: ua-auto-config.<d> -> the folder of its document (domains that have one).",
        "map $host $mailautoconf_pacc {",
        f'    default "{dynamic}/";',
    ]
    lines += [f"    {key} {value};" for key, value in entries]
    return [*lines, "}", ""]


def location(https: bool, server_names: list[str], hsts: str) -> list[str]:
    """The PACC location of an https server that answers a ua-auto-config.<d> name; nothing elsewhere.

    Only there: every location of every server holds every module's
    settings, which is what the site's memory at 100,000 domains is made of.
    Over http the path reaches the service like any other; PACC clients ask
    https only (draft section "Discovery").
    """
    if not https or not any(name.startswith(paccspec.HOST_LABEL + ".") for name in server_names):
        return []
    return [
        f"    location = {paccspec.PATH} {{",
        f"        default_type {pacc.CONTENT_TYPE};",
        f"        try_files ${{mailautoconf_pacc}}{PACC} @mailautoconf;",
        '        add_header Cache-Control "no-cache";',
        f"        {hsts}  # add_header here replaces the server's",
        "    }",
    ]
