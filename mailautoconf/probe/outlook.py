"""Outlook and Windows Mail: Autodiscover POX in Microsoft's order, and the v2 JSON (docs/clients.md 2.1, 2.9).

POX, one URL after the other (Autodiscover for Exchange; MS-OXDISCO 3.1.5):

1. ``https://<d>/autodiscover/autodiscover.xml``
2. ``https://autodiscover.<d>/autodiscover/autodiscover.xml``
3. the HTTP redirect method: an unauthenticated ``GET`` of
   ``http://autodiscover.<d>/autodiscover/autodiscover.xml``, whose 301/302
   to an https URL Outlook then posts to;
4. ``_autodiscover._tcp.<d>`` SRV: ``https://<target>:<port>/autodiscover/autodiscover.xml``.

Outlook follows redirects to https only. A certificate that does not name
``<d>`` at step 1 stops Outlook with a warning instead of moving on
(docs/clients.md 5.2): that is a finding even when a later step works.
The request carries the address and nothing else: no password, ever.

Thunderbird's own Autodiscover walk (another order, the redirect dance)
is :func:`thunderbird_autodiscover` here too, since it shares the dialect.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import replace

from mailautoconf.endpoints import AUTODISCOVER_JSON
from mailautoconf.probe import verdicts
from mailautoconf.probe.net import Redirects
from mailautoconf.probe.report import Cause
from mailautoconf.probe.report import Exchange
from mailautoconf.probe.report import FamilyResult
from mailautoconf.probe.report import Step
from mailautoconf.probe.report import Verdict
from mailautoconf.probe.steps import AGENT_SUFFIX
from mailautoconf.probe.steps import POX_PATH
from mailautoconf.probe.steps import Target
from mailautoconf.probe.steps import exchange_step
from mailautoconf.probe.steps import family
from mailautoconf.probe.steps import first_success

__all__ = ["NAME", "pox_body", "thunderbird_autodiscover", "walk"]

Judge = Callable[[Exchange], verdicts.Judgement]

NAME = "outlook"
TITLE = "Outlook, Windows Mail"
AGENT = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17928; Pro)" + AGENT_SUFFIX
OUTLOOK_REDIRECTS = Redirects("Outlook", max_hops=10, https_only=True, post_to_get=False)
XHR_REDIRECTS = Redirects("Thunderbird")  # XMLHttpRequest: any redirect, 301/302 turn a POST into a GET
# Windows' SSL chain policy (CERT_CHAIN_POLICY_SSL, under WinHTTP and WinINet) compares the server name with
# "either the DNS name or common name" of the certificate (SSL_EXTRA_CERT_CHAIN_POLICY_PARA); Thunderbird's
# mozilla::pkix reads the subjectAltName only.
COMMON_NAME = True
REQUEST_SCHEMA = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
RESPONSE_SCHEMA = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"


def pox_body(address: str) -> bytes:
    """The POX request: the address and the response schema, nothing else (docs/clients.md 2.4)."""
    from xml.sax.saxutils import escape

    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<Autodiscover xmlns="{REQUEST_SCHEMA}">\n  <Request>\n'
        f"    <EMailAddress>{escape(address)}</EMailAddress>\n"
        f"    <AcceptableResponseSchema>{RESPONSE_SCHEMA}</AcceptableResponseSchema>\n  </Request>\n</Autodiscover>\n"
    ).encode()


def _post(target: Target, url: str, agent: str, redirects: Redirects, *, common_name: bool) -> Future[Exchange]:
    headers = {"Content-Type": "text/xml; charset=utf-8", "User-Agent": agent}
    return target.net.request_later(
        url,
        method="POST",
        headers=headers,
        body=pox_body(target.address),
        redirects=redirects,
        common_name=common_name,
    )


def _srv_target(target: Target, *, by_weight: bool) -> tuple[str, int] | None:
    answer = target.net.dns(f"_autodiscover._tcp.{target.domain}", "SRV")
    records = []
    for value in answer.values if answer.status == "ok" else ():
        parts = value.split()
        if len(parts) == 4 and parts[3] != ".":
            records.append((int(parts[1]) if by_weight else int(parts[0]), int(parts[2]), parts[3].rstrip(".").lower()))
    if not records:
        return None
    _, port, host = min(records)
    return host, port


def _srv_step(target: Target, label: str, found: tuple[str, int] | None, future: Future[Exchange] | None) -> Step:
    name = f"_autodiscover._tcp.{target.domain}"
    answer = target.net.dns(name, "SRV")
    if found is None or future is None:
        return Step(label, Verdict.FAIL, f"no SRV record: {answer.words()}", name, dns=(answer,))
    step = exchange_step(label, future.result(), lambda e: verdicts.pox_response(e, target.address), NAME)
    return replace(step, dns=(answer, *step.dns))


def walk(target: Target) -> FamilyResult:
    d = target.domain
    first = _post(target, f"https://{d}{POX_PATH}", AGENT, OUTLOOK_REDIRECTS, common_name=COMMON_NAME)
    second = _post(target, f"https://autodiscover.{d}{POX_PATH}", AGENT, OUTLOOK_REDIRECTS, common_name=COMMON_NAME)
    redirect_get = target.net.request_later(f"http://autodiscover.{d}{POX_PATH}", headers={"User-Agent": AGENT})
    jsons = [
        target.net.request_later(
            url, headers={"User-Agent": AGENT}, redirects=OUTLOOK_REDIRECTS, common_name=COMMON_NAME
        )
        for url in json_urls(target)
    ]
    srv = _srv_target(target, by_weight=False)
    srv_url = f"https://{srv[0]}:{srv[1]}{POX_PATH}" if srv else ""
    srv_future = _post(target, srv_url, AGENT, OUTLOOK_REDIRECTS, common_name=COMMON_NAME) if srv else None
    judge = lambda exchange: verdicts.pox_response(exchange, target.address)  # noqa: E731
    steps = [
        exchange_step(f"POX https {d}", first.result(), judge, NAME),
        exchange_step(f"POX https autodiscover.{d}", second.result(), judge, NAME),
        _redirect_step(target, redirect_get.result(), judge),
        _srv_step(target, "POX via SRV _autodiscover._tcp", srv, srv_future),
    ]
    notes = []
    if steps[0].exchange is not None and steps[0].exchange.error_kind in ("dns", "connect", "timeout"):
        # Nothing at https://<d> (most domains' apex serves no Autodiscover): Outlook moves on, nothing to fix.
        steps[0] = replace(steps[0], cause=None)
    tls = steps[0].exchange.tls if steps[0].exchange else None
    if tls is not None and not tls.verified and steps[0].cause is not None:
        # Outlook shows a certificate warning here instead of moving on (docs/clients.md 5.2).
        notes.append(f"Outlook stops with a certificate warning at https://{d} first: {tls.problem}")
        fix = (
            f"{steps[0].cause.fix}; Outlook warns the user at https://{d} before it tries autodiscover.{d} "
            f"(or serve nothing on {d} port 443)"
        )
        steps[0] = replace(steps[0], cause=replace(steps[0].cause, fix=fix))
    pox = first_success(steps, stop=None, why="Outlook has its settings already")
    json_steps = [
        exchange_step(f"v2 JSON {label}", future.result(), verdicts.autodiscover_json, NAME)
        for label, future in zip(
            ("Protocol=AutodiscoverV1", "Protocol=Autodiscoverv1", "path form"), jsons, strict=True
        )
    ]
    result = family(
        NAME, TITLE, [pox], failed_summary="no Autodiscover POX answer with IMAP/POP3 and SMTP", notes=notes
    )
    failing_json = [step for step in json_steps if step.verdict is Verdict.FAIL]
    if result.status == "ok" and failing_json:
        causes = (*result.causes, *(step.cause for step in failing_json if step.cause is not None))
        return FamilyResult(
            NAME,
            TITLE,
            "fail",
            f"POX works, but newer Outlook's v2 JSON fails ({failing_json[0].reason})",
            (*result.steps, *json_steps),
            result.servers,
            result.via,
            result.notes,
            tuple(causes),
        )
    return replace(result, steps=(*result.steps, *json_steps))


def json_urls(target: Target) -> list[str]:
    """The v2 JSON in both spellings of the protocol (Outlook 2019 writes a lower-case v) and the path form."""
    host = f"https://autodiscover.{target.domain}"
    from urllib.parse import quote

    email = quote(target.address, safe="@")
    return [
        f"{host}{AUTODISCOVER_JSON.path}?Email={email}&Protocol=AutodiscoverV1",
        f"{host}{AUTODISCOVER_JSON.path}?Email={email}&Protocol=Autodiscoverv1",
        f"{host}{AUTODISCOVER_JSON.address_prefix}{email}?Protocol=AutodiscoverV1",
    ]


def _redirect_step(target: Target, exchange: Exchange, judge: Judge) -> Step:
    label = f"POX http redirect autodiscover.{target.domain}"
    if exchange.error or exchange.status not in (301, 302, 307, 308):
        return exchange_step(label, exchange, judge, NAME, success=lambda e: False)
    location = exchange.header("Location")
    if not location.startswith("https://"):
        reason = f"redirects to {location!r}: Outlook follows the redirect method to https only"
        return Step(
            label,
            Verdict.FAIL,
            reason,
            exchange.url,
            exchange,
            exchange.dns,
            cause=Cause(f"redirect:autodiscover.{target.domain}", reason),
        )
    posted = _post(target, location, AGENT, OUTLOOK_REDIRECTS, common_name=COMMON_NAME).result()
    step = exchange_step(f"{label} -> {location}", posted, judge, NAME)
    return replace(step, reason=f"{exchange.status} to {location}; {step.reason}")


def thunderbird_autodiscover(target: Target, agent: str) -> list[Step]:
    """Thunderbird's four Autodiscover lookups, in its priority order (docs/clients.md 2.2, 2.7).

    It sends the user's password on 1, 2 and 4; the probe sends none, so a
    server that insists on one shows here as 401.
    """
    d = target.domain
    judge = lambda exchange: verdicts.pox_response(exchange, target.address)  # noqa: E731
    futures = [
        _post(target, f"https://autodiscover.{d}{POX_PATH}", agent, XHR_REDIRECTS, common_name=False),
        _post(target, f"https://{d}{POX_PATH}", agent, XHR_REDIRECTS, common_name=False),
        _post(target, f"http://autodiscover.{d}{POX_PATH}", agent, XHR_REDIRECTS, common_name=False),
    ]
    srv = _srv_target(target, by_weight=True)  # lowest weight first; priority and port ignored
    srv_future = _post(target, f"https://{srv[0]}{POX_PATH}", agent, XHR_REDIRECTS, common_name=False) if srv else None
    steps = [
        exchange_step(f"Autodiscover https autodiscover.{d}", futures[0].result(), judge, "thunderbird"),
        exchange_step(f"Autodiscover https {d}", futures[1].result(), judge, "thunderbird"),
        _dance(target, futures[2].result(), agent, judge),
        _srv_step(target, "Autodiscover via SRV _autodiscover._tcp", srv, srv_future),
    ]
    return first_success(steps, stop=None, why="an earlier Autodiscover URL answered")


def _dance(target: Target, exchange: Exchange, agent: str, judge: Judge) -> Step:
    """The http POST, redirected and turned into a GET, must fail at https; then Thunderbird posts there (2.7).

    A 2xx to that GET ends the lookup with its answer: the service gives one
    on ``autodiscover.<d>`` (Delta Chat's GET), with no login built from an
    address, so Thunderbird logs in with the address. It is judged as the
    document Thunderbird takes, and said to be the weaker answer.
    """
    label = f"Autodiscover http autodiscover.{target.domain}"
    final = exchange.final_url
    if exchange.error or not final.startswith("https://") or (exchange.status or 0) // 100 == 2:
        step = exchange_step(label, exchange, judge, "thunderbird")
        if (
            not exchange.error
            and (exchange.status or 0) // 100 == 2
            and exchange.hops
            and exchange.hops[-1].method == "GET"
        ):
            taken = f"the redirected GET got {exchange.status}, and Thunderbird takes that as the answer"
            if step.verdict is Verdict.FAIL:
                return replace(step, reason=f"{taken}: {step.reason}")
            return replace(
                step,
                verdict=Verdict.WARN,
                reason=f"{taken}, which names no address (it logs in with the address); "
                f"the POST to https://autodiscover.{target.domain} outranks it: make that answer",
            )
        return step
    posted = _post(target, final, agent, XHR_REDIRECTS, common_name=False).result()
    step = exchange_step(f"{label} -> {final}", posted, judge, "thunderbird")
    return replace(step, reason=f"redirected, GET {exchange.status} at https, POST again; {step.reason}")
