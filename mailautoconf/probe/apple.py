"""Apple devices: the profile URL, as Safari downloads it (docs/clients.md section 3).

``https://autoconfig.<d>/email.mobileconfig?emailaddress=<address>``, twice:
the Content-Type and attachment Safari needs to offer the profile for
installation, the mail payload's servers, whether it is signed (by what
chain, how many days left: an unsigned or expired signature shows "Not
Verified"), and whether its identifiers are the same on the second
download (else every download installs a second profile).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from cryptography import x509

from mailautoconf.endpoints import ADDRESS_PARAMETER
from mailautoconf.endpoints import APPLE_PROFILE
from mailautoconf.probe import certs
from mailautoconf.probe import cms
from mailautoconf.probe import verdicts
from mailautoconf.probe.net import Redirects
from mailautoconf.probe.report import Cause
from mailautoconf.probe.report import Exchange
from mailautoconf.probe.report import FamilyResult
from mailautoconf.probe.report import Step
from mailautoconf.probe.report import Verdict
from mailautoconf.probe.steps import Target
from mailautoconf.probe.steps import exchange_step
from mailautoconf.probe.steps import family
from mailautoconf.probe.steps import query
from mailautoconf.render import signing

__all__ = ["NAME", "anchors", "walk"]

NAME = "apple"
TITLE = "Apple Mail (profile)"
AGENT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.5 Mobile/15E148 Safari/604.1 (mailautoconf probe)"
)
REDIRECTS = Redirects("Safari")


def anchors(ca: str | None) -> list[x509.Certificate]:
    """The trust anchors a signature is checked against: ``--ca``, else the system's store.

    Each is loaded on its own (:func:`mailautoconf.probe.certs.anchors`): one
    that cannot be read is left out instead of the whole store, and one with
    a serial number that is not positive prints no warning.
    """
    return list(certs.anchors(ca))


def _judge(exchange: Exchange, trust: list[x509.Certificate]) -> verdicts.Judgement:
    problems = verdicts.profile_headers(exchange)
    body = exchange.body
    notes: list[str] = []
    if body[:1] == b"\x30":  # DER: a signed profile
        signed = cms.open_signed(body, trust)
        if isinstance(signed, str):
            return verdicts.Judgement(Verdict.FAIL, f"signed, but {signed}")
        judged = verdicts.profile_payloads(signed.content)
        chain = " <- ".join(signed.chain)
        if signed.problem:
            problems.append(signed.problem)
        else:
            notes.append(f"signed by {chain}, {signed.days_left} days left")
            if signed.days_left is not None and signed.days_left < signing.EXPIRY_WARNING.days:
                problems.append(f"the signing certificate expires in {signed.days_left} days")
    else:
        judged = verdicts.profile_payloads(body)
        notes.append('unsigned: devices show "Not Verified" (set [signing])')
    if judged.verdict is Verdict.FAIL:
        return judged
    if problems:
        return verdicts.Judgement(Verdict.FAIL, "; ".join(problems), judged.servers, tuple(notes), judged.data)
    return verdicts.Judgement(Verdict.OK, "a profile Safari installs", judged.servers, tuple(notes), judged.data)


def walk(target: Target, ca: str | None = None) -> FamilyResult:
    url = f"https://autoconfig.{target.domain}{APPLE_PROFILE.path}{query({ADDRESS_PARAMETER: target.address})}"
    headers = {"User-Agent": AGENT}
    first = target.net.request_later(url, headers=headers, redirects=REDIRECTS)
    # A second download, as a user who installs the profile again: another request, same address.
    second = target.net.request_later(url, headers={**headers, "Cache-Control": "no-cache"}, redirects=REDIRECTS)
    trust = anchors(ca)
    judged: dict[str, verdicts.Judgement] = {}  # each download judged once (signature, chain, plist)

    def judging(download: str) -> Callable[[Exchange], verdicts.Judgement]:
        def judge(exchange: Exchange) -> verdicts.Judgement:
            judged[download] = _judge(exchange, trust)
            return judged[download]

        return judge

    step = exchange_step("profile https autoconfig", first.result(), judging("first"), NAME)
    steps = [step]
    if step.verdict is not Verdict.FAIL and "first" in judged:
        repeat = exchange_step("profile second download", second.result(), judging("second"), NAME)
        if repeat.verdict is Verdict.FAIL:  # the second download failed: that, not the identifiers, is the finding
            steps.append(repeat)
            steps[0] = step = replace(step, verdict=Verdict.FAIL, cause=repeat.cause)
        elif judged["second"].data != judged["first"].data:
            reason = "the identifiers differ between two downloads: each download installs another profile"
            steps.append(
                Step(
                    "profile identifiers",
                    Verdict.FAIL,
                    reason,
                    url,
                    second.result(),
                    cause=Cause(f"apple-uuid:{target.domain}", f"{url}: {reason}"),
                )
            )
            step = replace(step, verdict=Verdict.FAIL, cause=steps[-1].cause)
            steps[0] = step
        else:
            steps.append(Step("profile identifiers", Verdict.OK, "the same PayloadIdentifier and UUIDs twice", url))
        if step.verdict is not Verdict.FAIL:
            steps[0] = replace(step, used=True)
    return family(NAME, TITLE, [steps], failed_summary="no profile a device installs")
