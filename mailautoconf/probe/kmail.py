"""KMail: ``http://autoconfig.<d>`` and ``http://<d>/.well-known`` only, no address, exactly 200.

KMail before 24.08 asked plain http only, and long-term distributions
still ship it (docs/clients.md 1.1, 1.9); its QNetworkAccessManager follows
redirects but never from https to http.
"""

from __future__ import annotations

from mailautoconf.probe import autoconfig
from mailautoconf.probe import verdicts
from mailautoconf.probe.net import Redirects
from mailautoconf.probe.report import FamilyResult
from mailautoconf.probe.steps import Target
from mailautoconf.probe.steps import exchange_step
from mailautoconf.probe.steps import family
from mailautoconf.probe.steps import first_success

__all__ = ["NAME", "walk"]

NAME = "kmail"
TITLE = "KMail"
AGENT = "Mozilla/5.0 (X11; Linux x86_64) KMail/5.24 (mailautoconf probe)"
REDIRECTS = Redirects("KMail", max_hops=50, no_downgrade=True)
# Qt matches the host against the Common Names first, then the subjectAltName DNS names
# (QSslSocketPrivate::isMatchingHostname): a redirect to https meets Qt's rule.
COMMON_NAME = True


def walk(target: Target) -> FamilyResult:
    urls = autoconfig.provider_urls(target.domain, ("http autoconfig", "http well-known"), {})
    futures = autoconfig.fetch_all(target, urls, AGENT, REDIRECTS, common_name=COMMON_NAME)
    judge = lambda exchange: verdicts.kmail_config(exchange, target.address)  # noqa: E731
    steps = [
        exchange_step(label, future.result(), judge, NAME, success=lambda e: e.status == 200)
        for (label, _), future in zip(urls, futures, strict=True)
    ]
    steps = first_success(steps, stop=None, why="an earlier URL worked")
    return family(NAME, TITLE, [steps], failed_summary="no config over plain http")
