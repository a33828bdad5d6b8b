"""GNOME Online Accounts: GNOME's own URL first, then three config-v1.1.xml URLs, then the MX host's two.

goamailclient.c, goa_mail_client_discover (docs/clients.md 1.15), one URL
after the other, each asked once:
https ``autoconfig.<d>/.well-known/mail-v1.xml?emailaddress=<address>``,
https ``autoconfig.<d>/mail/config-v1.1.xml?emailaddress=<address>``,
https ``<d>/.well-known/autoconfig/mail/config-v1.1.xml``, http
``autoconfig.<d>/mail/config-v1.1.xml``, the ISPDB (not asked: not this
deployment); then the most preferred MX host, taken whole (not without its
first label, as Thunderbird takes it), and its registrable domain:
https ``autoconfig.<MX host>/.well-known/mail-v1.xml`` and the same on
``autoconfig.<MX base domain>``, both with the user's address, and the
ISPDB for each. The address goes into the URL as it is, not URL-encoded
(a "+" reaches a server as a space). Only a 200 counts; a 200 with a
``<clientConfig>`` root ends the search, even without a server it can use.
libsoup follows redirects; its TLS (GnuTLS) reads a Common Name when the
certificate names no host in its subjectAltName, as Evolution's does.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import replace

from mailautoconf import names
from mailautoconf.endpoints import ADDRESS_PARAMETER
from mailautoconf.endpoints import GNOME_AUTOCONFIG
from mailautoconf.probe import autoconfig
from mailautoconf.probe import verdicts
from mailautoconf.probe.net import Redirects
from mailautoconf.probe.report import Cause
from mailautoconf.probe.report import FamilyResult
from mailautoconf.probe.report import Step
from mailautoconf.probe.report import Verdict
from mailautoconf.probe.steps import AUTOCONFIG_PATH
from mailautoconf.probe.steps import WELL_KNOWN_PATH
from mailautoconf.probe.steps import Target
from mailautoconf.probe.steps import exchange_step
from mailautoconf.probe.steps import family
from mailautoconf.probe.steps import first_mx
from mailautoconf.probe.steps import first_success

__all__ = ["NAME", "urls", "walk"]

NAME = "gnome"
TITLE = "GNOME Online Accounts"
# "gnome-online-accounts/" PACKAGE_VERSION " ": the trailing space makes libsoup append its own name.
AGENT = "gnome-online-accounts/3.58.1 libsoup/3.6.5 (mailautoconf probe)"
REDIRECTS = Redirects("GNOME Online Accounts")  # libsoup follows redirects
COMMON_NAME = True  # glib-networking's GnuTLS, as for Evolution (probe/evolution.py)
GNOME_PATH = GNOME_AUTOCONFIG.path
STOPPED = "GNOME stopped at an earlier answer with a <clientConfig> root"
# What an address may keep unencoded in the query GNOME writes: it encodes nothing, but a
# character a URL cannot hold (a space, a control character) is not sent as it is by anyone.
_AS_IS = "@+!$'()*,;:=/?~._-"


def _with_address(address: str) -> str:
    return f"?{ADDRESS_PARAMETER}={urllib.parse.quote(address, safe=_AS_IS)}"


def urls(target: Target, mx_host: str | None) -> list[autoconfig.URL]:
    """GNOME's URLs for ``target`` in its order: the domain's four, then the MX host's and its base domain's."""
    domain = target.domain
    query = _with_address(target.address)
    found = [
        (f"https autoconfig.{domain} mail-v1.xml", f"https://autoconfig.{domain}{GNOME_PATH}{query}"),
        (f"https autoconfig.{domain}", f"https://autoconfig.{domain}{AUTOCONFIG_PATH}{query}"),
        (f"https {domain} .well-known", f"https://{domain}{WELL_KNOWN_PATH}"),
        (f"http autoconfig.{domain}", f"http://autoconfig.{domain}{AUTOCONFIG_PATH}"),
    ]
    if mx_host:
        # soup_tld_get_base_domain: the registrable domain; asked only when it is not the host itself.
        derived = names.mx_lookup_domains(mx_host)
        for host in dict.fromkeys([mx_host, *derived[-1:]]):
            found.append((f"MX https autoconfig.{host} mail-v1.xml", f"https://autoconfig.{host}{GNOME_PATH}{query}"))
    return found


def _with_cause(step: Step) -> Step:
    """A document GNOME takes only in part is something to fix, though it does not block the setup."""
    if step.verdict is not Verdict.WARN or step.cause is not None or step.exchange is None:
        return step
    where = urllib.parse.urlsplit(step.exchange.final_url)
    return replace(
        step,
        cause=Cause(
            f"gnome:{where.hostname}{where.path}",
            f"{where.hostname}{where.path}: {step.reason}; give the first IMAP and SMTP server the username "
            '"{address}" or "{localpart}", SSL or STARTTLS on its default port (`check` names the setting)',
        ),
    )


def walk(target: Target) -> FamilyResult:
    mx_host, mx_answer = first_mx(target)
    asked = urls(target, mx_host)
    futures = autoconfig.fetch_all(target, asked, AGENT, REDIRECTS, common_name=COMMON_NAME)
    judge = lambda exchange: verdicts.gnome_config(exchange, target.address)  # noqa: E731
    steps = [
        _with_cause(exchange_step(label, future.result(), judge, NAME, success=lambda e: e.status == 200))
        for (label, _), future in zip(asked, futures, strict=True)
    ]
    ends = lambda step: step.exchange is not None and verdicts.gnome_ends_search(step.exchange)  # noqa: E731
    decided = first_success(steps, stop=ends, why=STOPPED)
    if mx_host is None:
        decided.append(Step("MX lookup", Verdict.FAIL, f"no MX host: {mx_answer.words()}", dns=(mx_answer,)))
    return family(NAME, TITLE, [decided], failed_summary="no config GNOME Online Accounts fills in")
