"""``python service.py probe``: one address, or a fleet (``--config``), with the exit status scripts need.

Exit status: 0 when every selected client family configures (for a fleet:
on every probed domain), 1 when one fails, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import sys

from mailautoconf.probe import output
from mailautoconf.probe.net import network_from
from mailautoconf.probe.run import FAMILIES
from mailautoconf.probe.run import probe

__all__ = ["probe_command"]


def probe_command(args: argparse.Namespace) -> int:
    families = tuple(dict.fromkeys(args.client)) if args.client else tuple(FAMILIES)
    if (args.address is None) == (args.config is None):
        print("probe: give an ADDRESS or --config PATH (not both)", file=sys.stderr)
        return 2
    if args.config is not None:
        from mailautoconf.probe import fleet

        return fleet.fleet_command(args, families)
    try:
        net = network_from(args)
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
