"""One probe of one address: every selected family's walk at once, then the summary."""

from __future__ import annotations

import time
from collections.abc import Callable
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from mailautoconf import names
from mailautoconf.probe import android
from mailautoconf.probe import apple
from mailautoconf.probe import dav
from mailautoconf.probe import evolution
from mailautoconf.probe import gnome
from mailautoconf.probe import kmail
from mailautoconf.probe import mailcheck
from mailautoconf.probe import outlook
from mailautoconf.probe import pacc
from mailautoconf.probe import summary
from mailautoconf.probe import thunderbird
from mailautoconf.probe.args import FAMILY_NAMES
from mailautoconf.probe.net import Network
from mailautoconf.probe.report import FamilyResult
from mailautoconf.probe.report import ProbeReport
from mailautoconf.probe.report import Step
from mailautoconf.probe.report import Verdict
from mailautoconf.probe.steps import Target

__all__ = ["FAMILIES", "probe"]

Walk = Callable[[Target, str | None], FamilyResult]
FAMILIES: dict[str, Walk] = {
    thunderbird.NAME: lambda target, ca: thunderbird.walk(target),
    android.NAME: lambda target, ca: android.walk(target),
    evolution.NAME: lambda target, ca: evolution.walk(target),
    gnome.NAME: lambda target, ca: gnome.walk(target),
    kmail.NAME: lambda target, ca: kmail.walk(target),
    outlook.NAME: lambda target, ca: outlook.walk(target),
    apple.NAME: apple.walk,
    dav.NAME: lambda target, ca: dav.walk(target),
    pacc.NAME: lambda target, ca: pacc.walk(target),
}
# The command line names them before this module is imported (probe/args.py).
assert tuple(FAMILIES) == FAMILY_NAMES, (tuple(FAMILIES), FAMILY_NAMES)


def _guarded(name: str, walk: Walk, target: Target, ca: str | None) -> FamilyResult:
    """A walk that failed unexpectedly is a finding about the probe, not a traceback for the admin."""
    try:
        return walk(target, ca)
    except Exception as exc:
        reason = f"the probe could not judge this ({type(exc).__name__}: {str(exc)[:200]})"
        return FamilyResult(name, name, "fail", reason, (Step("probe", Verdict.FAIL, reason),))


def probe(address: str, net: Network, families: Sequence[str] = tuple(FAMILIES), ca: str | None = None) -> ProbeReport:
    """Probe ``address``'s domain for every family in ``families`` (all at once; each walk in its order)."""
    domain = names.domain_of_address(address)
    if domain is None:
        raise ValueError(f"{address!r} is not a mail address")
    target = Target(address, domain, net)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(families), thread_name_prefix="probe-walk") as walkers:
        futures = [walkers.submit(_guarded, name, FAMILIES[name], target, ca) for name in families]
        results = tuple(future.result() for future in futures)
    if net.mail is not None:  # --servers: the servers the documents name, as the clients connect to them
        results = mailcheck.check(results, net)
    return ProbeReport(
        address=address,
        domain=domain,
        families=results,
        disagreements=summary.disagreements(results),
        fixes=summary.fixes(results),
        seconds=round(time.monotonic() - started, 3),
        slowest=round(net.slowest, 3),
    )
