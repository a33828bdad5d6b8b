"""``service.py probe`` against real TLS servers whose certificates are odd in one way each (issue 19).

The probe's TLS verdict must be the one the clients' own TLS stacks reach:

- an intermediate that expired: every stack refuses the chain, and the
  report names that certificate (not the leaf, "expired -30 days ago");
- the host name in the Common Name only, no subjectAltName: mozilla::pkix
  (Thunderbird), OkHttp (Thunderbird for Android) and Apple refuse it,
  GnuTLS (Evolution) accepts it: a failure for the first, a warning for
  Evolution, one fix for all;
- one malformed, non-critical extension (certificatePolicies): OpenSSL and
  mozilla::pkix accept the certificate; one finding on each step that met
  it, every family judged as usual (no "could not judge this");
- an answer of 1 MiB of unclosed nested elements: parsed once, at a depth
  limit, in bounded memory;
- a certificate whose serial number is not positive, in the trust store or
  served: no CryptographyDeprecationWarning above the report.

The servers: support/tlsserver.py on 127.0.0.1:443, a chain per host name
made by support/pki.py for the case; the names reach them through
``--resolve`` only, and the probe trusts the test root only (``--ca``).
"""

from __future__ import annotations

import datetime
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.x509.oid import ExtensionOID
from support.isolation import requires_isolation
from support.paths import EXAMPLE_CONFIG
from support.paths import ROOT
from support.pki import CA
from support.pki import malformed
from support.refusing_dns import refusing_dns
from support.tlsserver import TlsServer

from mailautoconf import config
from mailautoconf.probe import verdicts
from mailautoconf.render import evolution
from mailautoconf.render import thunderbird

_LOADED = config.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8")).config
_PROVIDER = _LOADED.providers[0]
_DOMAIN = next(domain for domain in _PROVIDER.domains if domain.name == "example.org")
DOCUMENT = thunderbird.render(_PROVIDER, _DOMAIN)
EVOLUTION_DOCUMENT = evolution.render(_PROVIDER, _DOMAIN)  # one server per type, as Evolution needs
NESTED = b"<a>" * 349_000  # 1,047,000 bytes: under the 1 MiB the probe reads, never closed
PREFIXES = ("autoconfig.", "", "autodiscover.")
MAIL = ["IMAP mail.example.net:993 SSL", "SMTP mail.example.net:465 SSL"]


def _answer(host: str, path: str, agent: str) -> tuple[int, str, bytes]:
    if not path.endswith("/config-v1.1.xml"):
        return 404, "text/plain", b"not here\n"
    if host.endswith("nested.example"):
        return 200, "text/xml", NESTED
    return 200, "application/xml", EVOLUTION_DOCUMENT if agent.startswith("Evolution/") else DOCUMENT


@dataclass
class Lab:
    root: CA
    ca_file: Path
    resolver: str  # a DNS server that refuses at once (support/refusing_dns.py)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    root = CA.create("probe tls root")
    retired = root.intermediate("expired intermediate", days=-2, starts=-datetime.timedelta(days=60))
    cases = {
        "plain": lambda host: root.issue([host], days=30),
        "expiredca": lambda host: retired.issue([host], days=30),
        "cnonly": lambda host: root.issue([host], days=30, san=False),
        "oddext": lambda host: root.issue([host], days=30, extensions=[malformed(ExtensionOID.CERTIFICATE_POLICIES)]),
        "nested": lambda host: root.issue([host], days=30),
        "oddserial": lambda host: root.issue([host], days=30, serial=0),
    }
    folder = tmp_path_factory.mktemp("probe-tls")
    with TlsServer(443, _answer) as server, refusing_dns() as resolver:
        for case, make in cases.items():
            for prefix in PREFIXES:
                server.add(f"{prefix}{case}.example", *make(f"{prefix}{case}.example"))
        yield Lab(root, root.write(folder / "ca.pem"), resolver)


def run(lab: Lab, case: str, *args: str, trust: Sequence[str] | None = None) -> list[str]:
    """The probe command for fred@<case>.example, its names sent to the lab's server, trusting its root only."""
    resolves = [f"--resolve={prefix}{case}.example:443:127.0.0.1" for prefix in PREFIXES]
    trust = ["--ca", str(lab.ca_file)] if trust is None else trust
    return [sys.executable, "service.py", "probe", "--resolver", lab.resolver, *trust, *resolves,
            f"fred@{case}.example", *args]  # fmt: skip


def probe_json(lab: Lab, case: str, *args: str) -> dict[str, Any]:
    result = subprocess.run(run(lab, case, "--json", *args), cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode in (0, 1) and "Traceback" not in result.stderr, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def families(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {family["family"]: family for family in report["families"]}


def first_step(report: dict[str, Any], family: str) -> dict[str, Any]:
    step: dict[str, Any] = families(report)[family]["steps"][0]
    return step


@requires_isolation
def test_an_expired_intermediate_is_named(lab: Lab) -> None:
    report = probe_json(lab, "expiredca", "--client", "thunderbird", "--client", "android", "--client", "apple")
    said = (
        "the certificate is in date, but the intermediate certificate 'expired intermediate' it is chained to "
        r"expired 2 day\(s\) ago \(.+ UTC\)"
    )
    for name in ("thunderbird", "android", "apple"):
        step = first_step(report, name)
        assert step["verdict"] == "fail", name
        assert re.fullmatch(rf"autoconfig\.expiredca\.example: {said}", step["reason"]), step["reason"]
        tls = step["exchange"]["tls"]
        assert tls["problem_kind"] == "expired-chain" and tls["subject"] == "autoconfig.expiredca.example"
        assert tls["days_left"] > 0  # the leaf itself is in date
    fix = report["fixes"][0]
    assert re.fullmatch(
        rf"autoconfig\.expiredca\.example: {said}: serve the certificate with its CA's current chain "
        r"\(the intermediate the CA issues with it now\)",
        fix["fix"],
    ), fix
    assert fix["families"] == ["thunderbird", "android", "apple"] and fix["blocking"]


@requires_isolation
def test_a_name_in_the_common_name_only(lab: Lab) -> None:
    clients = ("thunderbird", "android", "evolution", "apple")
    report = probe_json(lab, "cnonly", *(argument for name in clients for argument in ("--client", name)))
    refused = (
        "autoconfig.cnonly.example: the certificate names autoconfig.cnonly.example in its Common Name only, without "
        "a subjectAltName: Thunderbird (mozilla::pkix), OkHttp (Thunderbird for Android, DAVx5) and Apple devices "
        "read no Common Name"
    )
    for name in ("thunderbird", "android", "apple"):
        step = first_step(report, name)
        assert step["verdict"] == "fail" and step["reason"] == refused, (name, step["reason"])
        assert step["exchange"]["tls"]["problem_kind"] == "common-name"
        assert families(report)[name]["status"] == "fail", name
    # Evolution's GnuTLS reads the Common Name when there is no subjectAltName: it works, with a warning.
    step = first_step(report, "evolution")
    assert step["verdict"] == "warn" and step["used"], step
    assert step["exchange"]["tls"]["verified"] and step["exchange"]["tls"]["warning_kind"] == "common-name"
    assert "Common Name only, without a subjectAltName: this client's TLS library accepts that" in step["reason"]
    assert families(report)["evolution"]["status"] == "ok"
    assert families(report)["evolution"]["servers"] == MAIL
    fix = report["fixes"][0]
    assert fix["fix"] == (
        "the certificate served for autoconfig.cnonly.example names it in its Common Name only: issue it again with "
        "autoconfig.cnonly.example as a subjectAltName (Thunderbird, Thunderbird for Android and Apple devices read "
        "nothing else)"
    )
    assert fix["families"] == ["thunderbird", "android", "evolution", "apple"] and fix["blocking"]


@requires_isolation
def test_a_malformed_extension_is_one_finding_per_step(lab: Lab) -> None:
    report = probe_json(lab, "oddext")  # every family
    reasons = [step["reason"] for family in report["families"] for step in family["steps"]]
    assert not [reason for reason in reasons if "could not judge" in reason], reasons
    for name in ("thunderbird", "android", "evolution"):
        family = families(report)[name]
        assert family["status"] == "ok" and family["servers"] == MAIL, (name, family["summary"])
        step = family["steps"][0]
        assert step["verdict"] == "warn" and step["used"], (name, step)
        tls = step["exchange"]["tls"]
        assert tls["verified"] and tls["names"] == ["autoconfig.oddext.example"] and tls["warning_kind"] == "extension"
        assert "the certificate's certificatePolicies extension cannot be read (not well-formed)" in step["reason"]
    # Apple's profile and Outlook's POX are not served here: judged as usual, past the same certificate.
    assert first_step(report, "apple")["reason"] == "status 404"
    odd = [fix for fix in report["fixes"] if "certificatePolicies" in fix["fix"]]
    assert len(odd) == 1 and not odd[0]["blocking"], odd
    assert odd[0]["fix"].startswith("autoconfig.oddext.example: the certificate's certificatePolicies extension ")
    assert odd[0]["families"] == ["thunderbird", "android", "evolution", "gnome"]  # GNOME asks the same name first


def test_a_deeply_nested_answer_is_refused_at_the_depth_limit() -> None:
    assert verdicts.parse_xml(NESTED) == (
        "the answer nests elements more than 32 deep, as no config document does: the rest is not read"
    )
    flat = b"<r>" + b"<a/>" * 100_000 + b"</r>"
    assert verdicts.parse_xml(flat) == (
        "the answer has more than 2000 elements, as no config document has: the rest is not read"
    )


def test_an_answer_is_parsed_once_whoever_judges_it() -> None:
    """Answers of several clients with the same bytes, judged at once: one parse, one shared tree."""
    body = DOCUMENT.replace(b"<clientConfig", b"<!-- parsed once --><clientConfig")
    copies = [bytes(bytearray(body)) for _ in range(8)]  # distinct objects, as distinct exchanges hold them
    with ThreadPoolExecutor(max_workers=8) as pool:
        roots = list(pool.map(verdicts.parse_xml, copies))
    assert not isinstance(roots[0], str) and all(root is roots[0] for root in roots)


def _peak_rss(command: list[str]) -> tuple[int, str]:
    """(the peak resident memory of ``command`` in KiB, its standard output), measured from a process of its own."""
    measure = (
        "import resource, subprocess, sys; done = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); print(done.stdout)"
    )
    result = subprocess.run(
        [sys.executable, "-c", measure, *command], cwd=ROOT, capture_output=True, text=True, timeout=180
    )
    peak, _, output = result.stdout.partition("\n")
    return int(peak), output


@requires_isolation
def test_a_megabyte_of_nested_elements_costs_no_memory_to_speak_of(lab: Lab) -> None:
    """Before: 215 MiB more than the same probe of a healthy answer (the body parsed once per client, whole)."""
    clients = [argument for name in ("thunderbird", "android", "evolution") for argument in ("--client", name)]
    healthy, _ = _peak_rss(run(lab, "plain", "--json", *clients))
    nested, output = _peak_rss(run(lab, "nested", "--json", *clients))
    assert nested - healthy < 50 * 1024, (healthy, nested)
    assert first_step(json.loads(output), "thunderbird")["reason"].startswith("the answer nests elements more than 32")


@requires_isolation
@pytest.mark.parametrize("how", ["--ca", "SSL_CERT_FILE"])
def test_no_warning_from_a_serial_number_that_is_not_positive(lab: Lab, tmp_path: Path, how: str) -> None:
    """A root in the trust store and the served certificate have one; the report alone is printed."""
    bundle = tmp_path / "bundle.pem"
    odd_roots = [CA.create("zero serial root", serial=0), CA.create("negative serial root", serial=-1)]
    bundle.write_bytes(lab.root.pem + b"".join(root.pem for root in odd_roots))
    clients = ("--json", "--client", "thunderbird", "--client", "apple")
    if how == "--ca":
        command, env = run(lab, "oddserial", *clients, trust=["--ca", str(bundle)]), None
    else:  # the system's store, as OpenSSL and the probe find it
        command, env = run(lab, "oddserial", *clients, trust=[]), {**os.environ, "SSL_CERT_FILE": str(bundle)}
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
    assert result.stderr == "", result.stderr
    assert families(json.loads(result.stdout))["thunderbird"]["status"] == "ok"  # OpenSSL accepts the serial


def test_the_names_of_a_certificate_with_malformed_extensions_are_still_read() -> None:
    """Each extension is read on its own: the broken ones are named, the subjectAltName read when it is sound."""
    from mailautoconf.probe import certs  # the module of the fix: this test fails to import it before

    root = CA.create()
    policies, authority = malformed(ExtensionOID.CERTIFICATE_POLICIES), malformed(ExtensionOID.CRL_DISTRIBUTION_POINTS)
    chain, _ = root.issue(["a.example", "b.example"], extensions=[policies, authority])
    (leaf, _) = certs.load_pem(chain)
    facts = certs.facts(leaf)
    assert facts.unreadable == ("certificatePolicies", "cRLDistributionPoints")
    assert facts.dns_names == ("a.example", "b.example") and facts.alt_names
    chain, _ = root.issue(["a.example"], san=False, extensions=[malformed(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)])
    facts = certs.facts(certs.load_pem(chain)[0])
    assert facts.unreadable == ("subjectAltName",) and facts.dns_names == () and not facts.alt_names
    assert facts.common_names == ("a.example",)
