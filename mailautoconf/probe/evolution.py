"""Evolution: its four URLs one after the other with its User-Agent, then the MX host's domains.

e-mail-autoconfig.c (docs/clients.md 1.1-1.3, 1.8): https ``autoconfig.<d>``,
http ``autoconfig.<d>``, https ``<d>/.well-known``, http ``<d>/.well-known``,
with ``emailaddress=EVOLUTIONUSER@<d>&emailmd5=...`` (what 3.46.4 sends) and
``User-Agent: Evolution/...``. Any well-formed 2xx answer ends the search,
even one it cannot use; a body that is not well-formed XML, or a non-2xx
status, moves on. After the ISPDB (not asked: not this deployment) it
repeats the four for the most preferred MX host and each parent down to
two labels. It keeps the *last* server of each type, so it must be
answered with one server per type: a server that is not aware of that
(the all-servers document to Evolution's agent) is a failure.
"""

from __future__ import annotations

import hashlib

from mailautoconf.endpoints import ADDRESS_PARAMETER
from mailautoconf.probe import autoconfig
from mailautoconf.probe import verdicts
from mailautoconf.probe.net import Redirects
from mailautoconf.probe.report import FamilyResult
from mailautoconf.probe.report import Step
from mailautoconf.probe.report import Verdict
from mailautoconf.probe.steps import Target
from mailautoconf.probe.steps import answered_2xx
from mailautoconf.probe.steps import exchange_step
from mailautoconf.probe.steps import family
from mailautoconf.probe.steps import first_mx
from mailautoconf.probe.steps import first_success

__all__ = ["NAME", "walk"]

NAME = "evolution"
TITLE = "Evolution"
AGENT = "Evolution/3.46.4 (mailautoconf probe)"
REDIRECTS = Redirects("Evolution")  # libsoup follows redirects
# libsoup's TLS is glib-networking's GnuTLS: gnutls_x509_crt_check_hostname2 reads the Common Name of a
# certificate that has no subjectAltName DNS name (lib/x509/hostname.c).
COMMON_NAME = True
ORDER = ("https autoconfig", "http autoconfig", "https well-known", "http well-known")


def _well_formed(step: Step) -> bool:
    """Only a well-formed 2xx answer ends Evolution's search; any other moves on."""
    return (
        answered_2xx(step) and step.exchange is not None and not isinstance(verdicts.parse_xml(step.exchange.body), str)
    )


def walk(target: Target) -> FamilyResult:
    user = f"EVOLUTIONUSER@{target.domain}"
    md5 = hashlib.md5(user.lower().encode(), usedforsecurity=False).hexdigest()
    params = {ADDRESS_PARAMETER: user, "emailmd5": md5}
    urls = autoconfig.provider_urls(target.domain, ORDER, params)
    mx_host, mx_answer = first_mx(target)
    mx_labels = mx_host.split(".") if mx_host else []
    mx_hosts = [".".join(mx_labels[i:]) for i in range(len(mx_labels) - 1)]
    for host in mx_hosts:
        urls += [(f"MX {label}", url) for label, url in autoconfig.provider_urls(host, ORDER, params)]
    futures = autoconfig.fetch_all(target, urls, AGENT, REDIRECTS, common_name=COMMON_NAME)
    judge = lambda exchange: verdicts.evolution_config(exchange.body, target.address)  # noqa: E731
    steps = []
    for (label, _), future in zip(urls, futures, strict=True):
        steps.append(exchange_step(label, future.result(), judge, NAME))
    decided = first_success(steps, stop=_well_formed, why="Evolution stopped at an earlier well-formed answer")
    if mx_host is None:
        decided.append(Step("MX lookup", Verdict.FAIL, f"no MX host: {mx_answer.words()}", dns=(mx_answer,)))
    return family(NAME, TITLE, [decided], failed_summary="no config Evolution sets up as the provider means it")
