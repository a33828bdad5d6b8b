"""Thunderbird desktop: the provider's four URLs, then the MX lookup, with Exchange Autodiscover beside them.

FindConfig.parallelAutoDiscovery (docs/clients.md 1.1, 1.3, 2.2) starts
everything at once and the highest priority success wins: the provider's
URLs (https ``autoconfig.<d>``, https ``<d>/.well-known``, then both over
http, each with ``emailaddress``), then the MX lookup (https
``autoconfig.<MX full domain>``, then ``autoconfig.<MX base domain>``,
skipped when the base domain is the user's). In a group the *first 2xx
answer* decides: one that is not a config (wrong Content-Type, a web page)
fails the whole group (1.1). Mozilla's ISPDB is not asked: it is not this
deployment. Exchange Autodiscover counts when neither group gives a config.
"""

from __future__ import annotations

from mailautoconf.endpoints import ADDRESS_PARAMETER
from mailautoconf.probe import autoconfig
from mailautoconf.probe import verdicts
from mailautoconf.probe.net import Redirects
from mailautoconf.probe.outlook import thunderbird_autodiscover
from mailautoconf.probe.report import FamilyResult
from mailautoconf.probe.report import Step
from mailautoconf.probe.report import Verdict
from mailautoconf.probe.steps import AGENT_SUFFIX
from mailautoconf.probe.steps import Target
from mailautoconf.probe.steps import answered_2xx
from mailautoconf.probe.steps import exchange_step
from mailautoconf.probe.steps import family
from mailautoconf.probe.steps import first_mx
from mailautoconf.probe.steps import first_success
from mailautoconf.probe.steps import mx_domains

__all__ = ["NAME", "walk"]

NAME = "thunderbird"
TITLE = "Thunderbird"
AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:153.0) Gecko/20100101 Thunderbird/153.8.0" + AGENT_SUFFIX
REDIRECTS = Redirects("Thunderbird")  # XMLHttpRequest follows every redirect
ORDER = ("https autoconfig", "https well-known", "http autoconfig", "http well-known")
GROUP_RULE = "Thunderbird takes the first 2xx answer of the group, and it was not usable"


def walk(target: Target) -> FamilyResult:
    params = {ADDRESS_PARAMETER: target.address}
    urls = autoconfig.provider_urls(target.domain, ORDER, params)
    futures = autoconfig.fetch_all(target, urls, AGENT, REDIRECTS)
    mx_host, mx_answer = first_mx(target)
    domains = mx_domains(target, mx_host) if mx_host else ()
    mx_list = autoconfig.mx_urls(domains, params)
    mx_futures = autoconfig.fetch_all(target, mx_list, AGENT, REDIRECTS)
    exchange_steps = thunderbird_autodiscover(target, AGENT)
    judge = lambda exchange: verdicts.thunderbird_config(exchange, target.address)  # noqa: E731
    provider = [exchange_step(label, f.result(), judge, NAME) for (label, _), f in zip(urls, futures, strict=True)]
    provider = first_success(provider, stop=answered_2xx, why=GROUP_RULE)
    mx_steps = [
        exchange_step(label, f.result(), judge, NAME) for (label, _), f in zip(mx_list, mx_futures, strict=True)
    ]
    mx_steps = first_success(mx_steps, stop=answered_2xx, why=GROUP_RULE)
    if mx_host is None:
        mx_steps = [
            Step("MX lookup", Verdict.FAIL, f"no MX host: {mx_answer.words()}", target.domain, dns=(mx_answer,))
        ]
    elif not domains:
        mx_steps = [
            Step(
                "MX lookup",
                Verdict.SKIP,
                f"MX {mx_host}: its base domain is {target.domain}, so Thunderbird skips the MX lookup",
                target.domain,
                dns=(mx_answer,),
            )
        ]
    else:
        mx_steps.insert(0, Step("MX lookup", Verdict.OK, f"MX {mx_host}: asks {', '.join(domains)}", dns=(mx_answer,)))
    return family(
        NAME,
        TITLE,
        [provider, mx_steps, exchange_steps],
        failed_summary="no config from the provider's URLs, the MX lookup or Autodiscover",
    )
