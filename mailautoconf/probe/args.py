"""The ``probe`` command line, argparse only: ``service.py`` builds every command's parser at each start.

So ``serve``, ``render`` and ``check`` do not import the probe's network
layer, rich and the client rules just to know ``probe``'s options; the
family names are spelled here, and probe/run.py keys its walks by them.
"""

from __future__ import annotations

import argparse

__all__ = ["FAMILY_NAMES", "PASSWORD_VARIABLE", "add_arguments"]

# Where --login reads the test account's password when standard input is not used: never a command-line
# argument, which every user of the machine can read in the process list.
PASSWORD_VARIABLE = "MAILAUTOCONF_PROBE_PASSWORD"

# In the order the report lists them (probe/run.py's FAMILIES).
FAMILY_NAMES = ("thunderbird", "android", "evolution", "gnome", "kmail", "outlook", "apple", "dav", "pacc")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "address", nargs="?", metavar="ADDRESS", help="the mail address to probe, e.g. fred@example.org"
    )
    parser.add_argument("--config", metavar="PATH", help="probe the config's hosted domains instead (a fleet)")
    parser.add_argument("--sample", type=int, metavar="N", help="with --config: N domains chosen at random")
    parser.add_argument("--parallel", type=int, default=8, metavar="N", help="with --config: domains at once (8)")
    parser.add_argument(
        "--resolve", action="append", default=[], metavar="HOST:PORT:IP", help="connect HOST:PORT to IP (as curl)"
    )
    parser.add_argument(
        "--connect-to",
        action="append",
        default=[],
        metavar="HOST:PORT:CONNECT_HOST:CONNECT_PORT",
        help="connect HOST:PORT to CONNECT_HOST:CONNECT_PORT instead, the request unchanged (as curl; empty: any)",
    )
    parser.add_argument("--resolver", metavar="IP[:PORT]", help="ask this DNS server (default: the system's)")
    parser.add_argument("--ca", metavar="FILE", help="PEM file of the only CAs to trust (default: the system's)")
    parser.add_argument("--json", action="store_true", help="JSON for scripts and monitoring")
    parser.add_argument(
        "--client",
        action="append",
        choices=sorted(FAMILY_NAMES),
        metavar="NAME",
        help=f"only these client families (repeatable): {', '.join(FAMILY_NAMES)}",
    )
    parser.add_argument("--brief", action="store_true", help="the families and fixes, without every step")
    add_server_arguments(parser)


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    """The mail-server checks (probe/mailcheck.py): off unless asked for; the password never an argument."""
    parser.add_argument(
        "--servers",
        action="store_true",
        help="also connect to every mail server the documents name: TLS, certificate, capabilities, AUTH",
    )
    parser.add_argument(
        "--login",
        action="store_true",
        help=f"log in as ADDRESS (implies --servers), the password read from ${PASSWORD_VARIABLE} or standard input",
    )
