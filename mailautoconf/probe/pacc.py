"""PACC: the JSON at ``https://ua-auto-config.<d>/.well-known/user-agent-configuration.json`` and its digest.

The body's SHA-256 must be in a live ``_ua-auto-config.<d>`` TXT record
(paccspec; docs/pacc.md): until DNS carries a changed document's new
digest, PACC clients reject it silently. No client ships PACC yet, so a
domain without either is *absent*, not failing.
"""

from __future__ import annotations

from dataclasses import replace

from mailautoconf import paccspec
from mailautoconf.pacc import digest as paccdns
from mailautoconf.probe import verdicts
from mailautoconf.probe.net import Redirects
from mailautoconf.probe.report import Cause
from mailautoconf.probe.report import FamilyResult
from mailautoconf.probe.report import Step
from mailautoconf.probe.report import Verdict
from mailautoconf.probe.steps import Target
from mailautoconf.probe.steps import exchange_step
from mailautoconf.probe.steps import family

__all__ = ["NAME", "walk"]

NAME = "pacc"
TITLE = "PACC"
AGENT = "mailautoconf-probe (PACC)"


def walk(target: Target) -> FamilyResult:
    host = f"{paccspec.HOST_LABEL}.{target.domain}"
    url = f"https://{host}{paccspec.PATH}"
    future = target.net.request_later(url, headers={"User-Agent": AGENT}, redirects=Redirects("PACC", https_only=True))
    txt = target.net.dns(f"{paccspec.TXT_LABEL}.{target.domain}", "TXT")
    exchange = future.result()
    digests = [d for d in (paccspec.parse_txt(paccdns.txt_text(v)) for v in txt.values) if d]
    if not digests and (exchange.error_kind == "dns" or exchange.status == 404):
        step = Step("PACC document", Verdict.SKIP, f"not offered ({exchange.error or 'status 404'})", url, exchange)
        return family(NAME, TITLE, [[step]], failed_summary="no PACC document (not offered)", absent=True)
    step = exchange_step("PACC document", exchange, lambda e: verdicts.pacc_document(e, digests), NAME)
    if step.verdict is Verdict.FAIL and "stale digest" in step.reason:
        name = f"{paccspec.TXT_LABEL}.{target.domain}"
        step = replace(
            step,
            cause=Cause(
                f"pacc-digest:{name}",
                f'update the TXT record {name} to "{paccspec.txt_record(exchange.body)}" (service.py dns prints it)',
            ),
        )
    step = replace(step, dns=(txt, *step.dns), used=step.verdict is Verdict.OK)
    return family(NAME, TITLE, [[step]], failed_summary="PACC clients reject the document")
