"""Thunderbird for Android (K-9): the four provider URLs without the address, then the MX lookup, https only.

RealAutoDiscoveryRegistry and PriorityParallelRunner (docs/clients.md 1.1,
1.3): all at once, the highest-priority *usable* settings win (a rejected
document falls through to the next URL). ProviderAutoconfigUrlProvider
sends no ``emailaddress``; after the MX lookup only
``https://autoconfig.<MX full domain, then base domain>/mail/config-v1.1.xml``.
The parser is the strictest one (its emulation: mailautoconf.clientrules.android). Trust
(OkHttpFetcher.isTrusted, MiniDnsMxResolver): settings fetched over http
at any hop, or found through an MX answer that DNSSEC did not validate, are
shown to the user to confirm: a warning, not a failure.
"""

from __future__ import annotations

from dataclasses import replace

from mailautoconf.probe import autoconfig
from mailautoconf.probe import verdicts
from mailautoconf.probe.net import Redirects
from mailautoconf.probe.report import FamilyResult
from mailautoconf.probe.report import Step
from mailautoconf.probe.report import Verdict
from mailautoconf.probe.steps import Target
from mailautoconf.probe.steps import exchange_step
from mailautoconf.probe.steps import family
from mailautoconf.probe.steps import first_mx
from mailautoconf.probe.steps import first_success
from mailautoconf.probe.steps import mx_domains

__all__ = ["NAME", "walk"]

NAME = "android"
TITLE = "Thunderbird for Android"
AGENT = "okhttp/4.12.0"  # it sets no agent of its own; OkHttp's default (metrics.client_family)
REDIRECTS = Redirects("Thunderbird for Android")  # OkHttp follows redirects, https to http too
ORDER = ("https autoconfig", "https well-known", "http autoconfig", "http well-known")


def _trust(step: Step, why: str) -> Step:
    if step.verdict not in (Verdict.OK, Verdict.WARN):  # WARN: usable, with a TLS finding already
        return step
    return replace(
        step, verdict=Verdict.WARN, reason=f"{step.reason}; {why}: the app asks the user to confirm these settings"
    )


def walk(target: Target) -> FamilyResult:
    urls = autoconfig.provider_urls(target.domain, ORDER, {})
    futures = autoconfig.fetch_all(target, urls, AGENT, REDIRECTS)
    mx_host, mx_answer = first_mx(target)
    domains = mx_domains(target, mx_host) if mx_host else ()
    mx_list = autoconfig.mx_urls(domains, {})
    mx_futures = autoconfig.fetch_all(target, mx_list, AGENT, REDIRECTS)
    judge = lambda exchange: verdicts.android_config(exchange.body, target.address)  # noqa: E731
    provider = []
    for (label, _), future in zip(urls, futures, strict=True):
        step = exchange_step(label, future.result(), judge, NAME)
        if any(hop.url.startswith("http:") for hop in (step.exchange.hops if step.exchange else ())):
            step = _trust(step, "fetched over plain http")
        provider.append(step)
    mx_steps = []
    for (label, _), future in zip(mx_list, mx_futures, strict=True):
        step = exchange_step(label, future.result(), judge, NAME)
        if not mx_answer.authenticated:
            step = _trust(step, "found through an MX answer that DNSSEC did not validate")
        mx_steps.append(step)
    provider = first_success(provider, stop=None, why="an earlier URL gave usable settings")
    mx_steps = first_success(mx_steps, stop=None, why="an earlier URL gave usable settings")
    signed = "DNSSEC-validated" if mx_answer.authenticated else "not DNSSEC-validated"
    if mx_host is None:
        mx_steps = [Step("MX lookup", Verdict.FAIL, f"no MX host: {mx_answer.words()}", dns=(mx_answer,))]
    elif not domains:
        mx_steps = [
            Step("MX lookup", Verdict.SKIP, f"MX {mx_host} is under {target.domain}: skipped", dns=(mx_answer,))
        ]
    else:
        mx_steps.insert(
            0, Step("MX lookup", Verdict.OK, f"MX {mx_host} ({signed}): asks {', '.join(domains)}", dns=(mx_answer,))
        )
    return family(NAME, TITLE, [provider, mx_steps], failed_summary="no settings the app accepts")
