"""``python service.py probe``: one address, or a fleet (``--config``), with the exit status scripts need.

Exit status: 0 when every selected client family configures (for a fleet:
on every probed domain), 1 when one fails, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from mailautoconf.probe import output
from mailautoconf.probe.args import PASSWORD_VARIABLE
from mailautoconf.probe.net import MailChecks
from mailautoconf.probe.net import network_from
from mailautoconf.probe.run import FAMILIES
from mailautoconf.probe.run import probe

__all__ = ["mail_checks", "probe_command"]


def mail_checks(args: argparse.Namespace) -> MailChecks | None:
    """--servers (and --login, which implies it); the password from $MAILAUTOCONF_PROBE_PASSWORD, else the
    first line of standard input. Never an argument: the process list shows arguments to every user.

    Raises ValueError when --login finds no password."""
    if not (args.servers or args.login):
        return None
    if not args.login:
        return MailChecks()
    password = os.environ.get(PASSWORD_VARIABLE)
    if password is None:
        if sys.stdin is None or sys.stdin.closed:
            raise ValueError(f"--login reads the password from ${PASSWORD_VARIABLE} or standard input: neither has one")
        if sys.stdin.isatty():
            password = getpass.getpass("password of the test account: ", stream=sys.stderr)
        else:
            password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise ValueError(f"--login reads the password from ${PASSWORD_VARIABLE} or standard input: it is empty")
    return MailChecks(password)


def probe_command(args: argparse.Namespace) -> int:
    families = tuple(dict.fromkeys(args.client)) if args.client else tuple(FAMILIES)
    if (args.address is None) == (args.config is None):
        print("probe: give an ADDRESS or --config PATH (not both)", file=sys.stderr)
        return 2
    if args.config is not None:
        from mailautoconf.probe import fleet

        if args.login:
            print("probe: --login logs in as one ADDRESS, not as a fleet's postmasters", file=sys.stderr)
            return 2
        return fleet.fleet_command(args, families)
    try:
        net = network_from(args, mail=mail_checks(args))
    except ValueError as exc:
        print(f"probe: {exc}", file=sys.stderr)
        return 2
    try:
        report = probe(args.address, net, families, args.ca)
    except ValueError as exc:
        print(f"probe: {exc}", file=sys.stderr)
        return 2
    finally:
        net.close()
    if args.json:
        output.print_json(report, sys.stdout)
    else:
        output.print_report(report, output.console(sys.stdout), steps=not args.brief)
    return 0 if report.ok else 1
