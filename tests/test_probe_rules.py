"""The probe's pure logic: each client's verdict on bytes, the signed profile reader, redirects, the summary."""

from __future__ import annotations

import plistlib
import socket
import ssl
import threading
import uuid
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from support.isolation import requires_isolation
from support.paths import EXAMPLE_CONFIG
from support.pki import CA

from mailautoconf import config
from mailautoconf import paccspec
from mailautoconf.probe import apple as apple_probe
from mailautoconf.probe import cms
from mailautoconf.probe import fleet
from mailautoconf.probe import summary
from mailautoconf.probe import verdicts
from mailautoconf.probe.net import Network
from mailautoconf.probe.net import Redirects
from mailautoconf.probe.net import parse_resolve
from mailautoconf.probe.report import Cause
from mailautoconf.probe.report import Exchange
from mailautoconf.probe.report import FamilyResult
from mailautoconf.probe.report import Fix
from mailautoconf.probe.report import Hop
from mailautoconf.probe.report import ProbeReport
from mailautoconf.probe.report import Verdict
from mailautoconf.probe.steps import Target
from mailautoconf.render import evolution
from mailautoconf.render import outlook
from mailautoconf.render import thunderbird
from mailautoconf.render.signing import Signer

ADDRESS = "fred@example.org"
LOADED = config.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8")).config
PROVIDER = LOADED.providers[0]
DOMAIN = next(domain for domain in PROVIDER.domains if domain.name == "example.org")
DOCUMENT = thunderbird.render(PROVIDER, DOMAIN)
BOMB = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">]>'
    b"<clientConfig>&lol2;</clientConfig>"
)


def answer(body: bytes, content_type: str = "application/xml; charset=utf-8", status: int = 200) -> Exchange:
    return Exchange("https://autoconfig.example.org/mail/config-v1.1.xml", "GET", status=status,
                    content_type=content_type, body=body)  # fmt: skip


def test_thunderbird_sets_up_the_first_usable_servers() -> None:
    judged = verdicts.thunderbird_config(answer(DOCUMENT), ADDRESS)
    assert judged.verdict is Verdict.OK
    assert list(map(str, judged.servers)) == ["IMAP mail.example.net:993 SSL", "SMTP mail.example.net:465 SSL"]


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        (DOCUMENT, "text/plain", "Content-Type 'text/plain': Thunderbird reads the answer as XML only for"),
        (DOCUMENT, "text/html; charset=utf-8", "Content-Type 'text/html; charset=utf-8'"),
        (b"<html><body>Welcome</body></html>", "text/xml", "no <clientConfig><emailProvider>"),
        (BOMB, "text/xml", "the answer declares a DTD (a way to build XML bombs): refused unread"),
        (b"<clientConfig><emailProvider", "text/xml", "not well-formed XML"),
        (DOCUMENT.replace(b"<socketType>", b"<socketType>\n "), "text/xml", "no usable incoming server"),
        (DOCUMENT.replace(b'id="example.net"', b'id="&lt;script&gt;"'), "text/xml", "emailProvider id '<script>'"),
    ],
)
def test_thunderbird_refuses(body: bytes, content_type: str, reason: str) -> None:
    judged = verdicts.thunderbird_config(answer(body, content_type), ADDRESS)
    assert judged.verdict is Verdict.FAIL
    assert reason in judged.reason


def test_android_rejects_a_plain_socket_and_reads_any_type() -> None:
    plain = DOCUMENT.replace(b"<socketType>STARTTLS</socketType>", b"<socketType>plain</socketType>")
    assert "socketType 'plain' is not SSL or STARTTLS" in verdicts.android_config(plain, ADDRESS).reason
    assert verdicts.android_config(DOCUMENT, ADDRESS).verdict is Verdict.OK
    assert "XML bombs" in verdicts.android_config(BOMB, ADDRESS).reason


def test_evolution_keeps_the_last_server_of_each_type() -> None:
    judged = verdicts.evolution_config(DOCUMENT, ADDRESS)
    assert judged.verdict is Verdict.FAIL
    assert "IMAP mail.example.net:143 STARTTLS instead of IMAP mail.example.net:993 SSL" in judged.reason
    own = verdicts.evolution_config(evolution.render(PROVIDER, DOMAIN), ADDRESS)
    assert own.verdict is Verdict.OK and str(own.servers[0]) == "IMAP mail.example.net:993 SSL"
    assert "Evolution tries the next URL" in verdicts.evolution_config(b"<html>", ADDRESS).reason


def test_kmail_wants_exactly_200() -> None:
    assert (
        verdicts.kmail_config(answer(DOCUMENT, status=203), ADDRESS).reason == "status 203: KMail accepts exactly 200"
    )
    assert verdicts.kmail_config(answer(DOCUMENT), ADDRESS).verdict is Verdict.OK


def test_pox_answers() -> None:
    pox = outlook.render_pox(PROVIDER, DOMAIN).replace(b"%EMAILADDRESS%", ADDRESS.encode())
    judged = verdicts.pox_response(answer(pox, "text/xml; charset=utf-8"), ADDRESS)
    assert list(map(str, judged.servers)) == ["IMAP mail.example.net:993 SSL", "SMTP mail.example.net:465 SSL"]
    error = outlook.error_document(500, "Unknown e-mail address", "00:00:00", 1)
    assert "ErrorCode '500'" in verdicts.pox_response(answer(error, "text/xml"), ADDRESS).reason
    redirect = pox.replace(b"<Action>settings</Action>", b"<Action>redirectAddr</Action>")
    assert "Thunderbird does not follow" in verdicts.pox_response(answer(redirect, "text/xml"), ADDRESS).reason


@pytest.mark.parametrize("port", ["\u00b2", "\u0663"])  # superscript two: isdigit() but not int(); Arabic-Indic 3
def test_a_port_of_odd_digits_is_a_verdict_not_an_exception(port: str) -> None:
    """str.isdigit() accepts "²", which int() refuses: each rule still answers with a verdict."""
    document = DOCUMENT.replace(b"<port>993</port>", f"<port>{port}</port>".encode(), 1)
    pox = outlook.render_pox(PROVIDER, DOMAIN).replace(b"%EMAILADDRESS%", ADDRESS.encode())
    pox = pox.replace(b"<Port>993</Port>", f"<Port>{port}</Port>".encode(), 1)
    assert b"<Port>" + port.encode() in pox
    judged = [
        verdicts.thunderbird_config(answer(document), ADDRESS),
        verdicts.kmail_config(answer(document), ADDRESS),
        verdicts.evolution_config(document, ADDRESS),
        verdicts.android_config(document, ADDRESS),
        verdicts.pox_response(answer(pox, "text/xml; charset=utf-8"), ADDRESS),
    ]
    assert all(isinstance(judgement.verdict, Verdict) for judgement in judged)


def test_autodiscover_json() -> None:
    good = b'{"Protocol":"AutodiscoverV1","Url":"https://autodiscover.example.org/autodiscover/autodiscover.xml"}'
    assert verdicts.autodiscover_json(answer(good, "application/json")).verdict is Verdict.OK
    assert "is not an https" in verdicts.autodiscover_json(answer(good.replace(b"https", b"http"))).reason
    assert verdicts.autodiscover_json(answer(b"[" * 100000)).verdict is Verdict.FAIL  # deep nesting: no traceback


def test_pacc_digest() -> None:
    body = b'{"protocols":{"imap":{"host":"mail.example.net"}}}\n'
    assert verdicts.pacc_document(answer(body), [paccspec.digest(body)]).verdict is Verdict.OK
    stale = verdicts.pacc_document(answer(body), ["old"])
    assert stale.verdict is Verdict.FAIL and stale.reason.startswith("stale digest")


def _profile() -> bytes:
    payload = {
        "PayloadType": "com.apple.mail.managed", "PayloadUUID": str(uuid.uuid4()),
        "EmailAccountType": "EmailTypeIMAP", "IncomingMailServerHostName": "mail.example.net",
        "IncomingMailServerPortNumber": 993, "IncomingMailServerUseSSL": True,
        "OutgoingMailServerHostName": "mail.example.net", "OutgoingMailServerPortNumber": 465,
        "OutgoingMailServerUseSSL": True,
    }  # fmt: skip
    return plistlib.dumps({"PayloadContent": [payload], "PayloadUUID": str(uuid.uuid4()), "PayloadIdentifier": "x"})


def _signer(ca: CA, days: float = 30) -> Signer:
    chain, key = ca.issue(["autoconfig.example.net"], days=days)
    certificates = x509.load_pem_x509_certificates(chain)
    private = serialization.load_pem_private_key(key, None)
    return Signer(certificates[0], private, tuple(certificates[1:]))  # type: ignore[arg-type]


def test_signed_profile_is_opened_and_checked() -> None:
    ca = CA.create()
    plist = _profile()
    signed = cms.open_signed(_signer(ca).sign(plist), [ca.certificate])
    assert isinstance(signed, cms.Signed)
    assert signed.content == plist and signed.signature_ok and signed.trusted and not signed.problem
    assert signed.chain == ("autoconfig.example.net", "mailautoconf test CA")
    untrusted = cms.open_signed(_signer(ca).sign(plist), [CA.create("other").certificate])
    assert isinstance(untrusted, cms.Signed) and "does not chain to a trusted CA" in untrusted.problem
    tampered = _signer(ca).sign(plist).replace(b"mail.example.net", b"evil.example.net")
    broken = cms.open_signed(tampered, [ca.certificate])
    assert isinstance(broken, cms.Signed) and broken.problem.startswith("the signature does not verify")
    assert cms.open_signed(b"\x30\x03\x02\x01\x01", [ca.certificate]) == "not CMS SignedData"
    assert cms.open_signed(b"\x30\x84\xff\xff\xff\xff", []) == "not a well-formed CMS structure"


# What cryptography warns about damaged certificates: warnings, not the failures looked for.
@pytest.mark.filterwarnings("ignore:PKCS#7 certificates could not be parsed as DER")
@pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")
def test_a_damaged_signed_profile_is_a_finding_not_an_exception() -> None:
    """Each byte of a signed profile set to 0x00, 0x01, 0x80 or 0xff in turn: open_signed answers, never raises.

    Damage in the certificates once raised from cryptography (InvalidVersion, UnsupportedAlgorithm, a
    ValueError from public_key()), past the "not a well-formed CMS structure" answer.
    """
    ca = CA.create()
    signed = _signer(ca).sign(_profile())
    for position in range(len(signed)):
        for value in (0x00, 0x01, 0x80, 0xFF):
            damaged = signed[:position] + bytes([value]) + signed[position + 1 :]
            assert isinstance(cms.open_signed(damaged, [ca.certificate]), (cms.Signed, str)), position


@requires_isolation
def test_a_failed_second_profile_download_is_blamed_for_itself(tmp_path: Path) -> None:
    """The first download installs; the second gets a 503: that is the finding, not "the identifiers differ"."""
    ca = CA.create()
    chain_file, key_file = ca.issue_files(["autoconfig.flaky.example"], tmp_path / "server")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(chain_file, key_file)
    listener = socket.create_server(("127.0.0.1", 443))  # the profile URL has no port: the test namespace's 443
    profile = _profile()
    answers = [
        b"HTTP/1.1 200 OK\r\nContent-Type: application/x-apple-aspen-config\r\n"
        b'Content-Disposition: attachment; filename="email.mobileconfig"\r\n'
        + f"Content-Length: {len(profile)}\r\nConnection: close\r\n\r\n".encode()
        + profile,
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    ]

    def serve_in_turn() -> None:
        for _ in answers:  # both downloads run at once: the second is the one asking past caches
            connection, _address = listener.accept()
            with context.wrap_socket(connection, server_side=True) as tls:
                again = b"no-cache" in tls.recv(4096).lower()
                tls.sendall(answers[1] if again else answers[0])

    server = threading.Thread(target=serve_in_turn, daemon=True)
    server.start()
    net = Network("127.0.0.1:9", {("autoconfig.flaky.example", 443): ["127.0.0.1"]}, str(ca.write(tmp_path / "ca.pem")))
    try:
        result = apple_probe.walk(Target("fred@flaky.example", "flaky.example", net), str(tmp_path / "ca.pem"))
    finally:
        net.close()
        server.join(timeout=10)
        listener.close()
    assert result.status == "fail"
    assert [step.label for step in result.steps] == ["profile https autoconfig", "profile second download"]
    assert "status 503" in result.steps[1].reason
    assert all("identifiers differ" not in step.reason for step in result.steps)


def test_profile_payloads() -> None:
    judged = verdicts.profile_payloads(_profile())
    assert list(map(str, judged.servers)) == ["IMAP mail.example.net:993 SSL/TLS", "SMTP mail.example.net:465 SSL/TLS"]
    assert verdicts.profile_payloads(b"<plist>").verdict is Verdict.FAIL


def test_resolve_entries() -> None:
    assert parse_resolve("Autoconfig.Example.org:443:127.0.0.1") == ("autoconfig.example.org", 443, ["127.0.0.1"])
    assert parse_resolve("a.example:80:[::1],127.0.0.1") == ("a.example", 80, ["::1", "127.0.0.1"])
    for bad in ("a.example:443", "a.example:x:127.0.0.1", "a.example:443:nowhere"):
        with pytest.raises(ValueError):
            parse_resolve(bad)


def test_redirect_rules() -> None:
    outlook_rules = Redirects("Outlook", https_only=True)
    assert "https URLs only" in outlook_rules.refuses("https://a.example/x", "http://b.example/x")
    kmail = Redirects("KMail", no_downgrade=True)
    assert "from https to http" in kmail.refuses("https://a.example/", "http://a.example/")
    assert kmail.refuses("http://a.example/", "https://a.example/") == ""
    assert Redirects("Thunderbird").refuses("https://a.example/", "ftp://a.example/") != ""


def test_the_network_never_sends_credentials() -> None:
    net = Network("127.0.0.1:9")
    try:
        for header in ("Authorization", "cookie", "Proxy-Authorization"):
            with pytest.raises(ValueError, match="never sends credentials"):
                net.request("https://autoconfig.example.org/", headers={header: "x"})
    finally:
        net.close()


def test_tls_reports_the_verified_chain(tmp_path: Path) -> None:
    """Leaf, intermediate, anchor: the chain OpenSSL built, not just the leaf's issuer (a local TLS server)."""
    root = CA.create("probe test root")
    issuing = root.intermediate("probe test intermediate")
    chain_file, key_file = issuing.issue_files(["chain.example"], tmp_path / "server")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(chain_file, key_file)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve_once() -> None:
        connection, _ = listener.accept()
        with context.wrap_socket(connection, server_side=True) as tls:
            tls.recv(4096)
            tls.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
            )

    server = threading.Thread(target=serve_once, daemon=True)
    server.start()
    net = Network("127.0.0.1:9", {("chain.example", port): ["127.0.0.1"]}, str(root.write(tmp_path / "root.pem")))
    try:
        exchange = net.request(f"https://chain.example:{port}/")
    finally:
        net.close()
        server.join(timeout=10)
        listener.close()
    assert exchange.status == 200, exchange.error
    assert exchange.tls is not None and exchange.tls.verified
    assert exchange.tls.chain == ("chain.example", "probe test intermediate", "probe test root")


@pytest.mark.parametrize(
    ("location", "kind", "words"),
    [
        ("http://[x/", "redirect", "not a URL any client can follow"),
        ("http://chain.example:99999/", "http", "is not a URL a client can open"),
    ],
)
def test_a_redirect_to_no_url_is_a_failed_request_not_an_exception(location: str, kind: str, words: str) -> None:
    """What a server puts in Location is the server's: Network.request still never raises."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve_once() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(4096)
            connection.sendall(f"HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n".encode())

    server = threading.Thread(target=serve_once, daemon=True)
    server.start()
    net = Network("127.0.0.1:9", {("chain.example", port): ["127.0.0.1"]})
    try:
        exchange = net.request(f"http://chain.example:{port}/", redirects=Redirects("Thunderbird"))
    finally:
        net.close()
        server.join(timeout=10)
        listener.close()
    assert (exchange.error_kind, exchange.status) == (kind, 302 if kind == "redirect" else None), exchange
    assert words in exchange.error


def test_fixes_first_help_the_most_users() -> None:
    dns = Cause("dns:autoconfig.example.org", "add autoconfig")
    tls = Cause("tls:example.org", "fix the certificate")
    results = [
        FamilyResult("kmail", "KMail", "fail", "", (), causes=(dns,)),
        FamilyResult("apple", "Apple", "fail", "", (), causes=(tls,)),
        FamilyResult("thunderbird", "Thunderbird", "ok", "", (), causes=(dns,)),
        FamilyResult("outlook", "Outlook", "ok", "", (), causes=(Cause("x", "degrades only"),)),
    ]
    ordered = summary.fixes(results)
    assert [(fix.fix, fix.families, fix.blocking) for fix in ordered] == [
        ("fix the certificate", ("apple",), True),  # 25 users
        ("add autoconfig", ("kmail", "thunderbird"), True),  # 3 + 20
        ("degrades only", ("outlook",), False),
    ]


def test_fleet_summary_counts_a_domain_once_per_kind_of_cause() -> None:
    """Three refused connections of one domain are one domain with that cause, and one example."""
    refused = [Cause(f"connect:{host}", f"{host} refuses connections") for host in ("a", "b", "c")]
    failing = FamilyResult("apple", "Apple", "fail", "", (), causes=tuple(refused))
    summary = fleet.FleetSummary()
    for domain in ("one.example", "two.example"):
        fixes = tuple(Fix(cause.fix, ("apple",), 25, True) for cause in refused)
        summary.add(ProbeReport(f"postmaster@{domain}", domain, (failing,), (), fixes, 0.1, 0.05))
    assert summary.causes == {"connect": 2}
    assert summary.examples["connect"] == ["one.example", "two.example"]
    assert summary.failing == 2 and summary.drifting == 0


def test_txt_records_are_read_as_the_service_reads_them() -> None:
    """Zone-file TXT text (several strings, escapes): the probe reads it with deploy/paccdns.txt_text, as the
    service's own digest check does, so the two cannot disagree about one record."""
    from mailautoconf.probe import dav as dav_probe

    assert dav_probe._path(('"path=/dav/\\"team\\"/"',)) == '/dav/"team"/'
    assert dav_probe._path(('"pa" "th=/cal/"',)) == "/cal/"


def test_a_redirected_get_that_gets_the_services_document_is_the_weaker_answer(tmp_path: Path) -> None:
    """Thunderbird's lookup 3 ends at a 2xx GET (docs/clients.md 2.7): the service's GET answer is judged as the
    document Thunderbird then takes, and said to be outranked by the POST, never called broken."""
    from support.app import render_app
    from support.configs import SMALL

    from mailautoconf.probe import outlook as outlook_probe

    app = render_app(tmp_path / "app", SMALL.replace('username = "{address}"', 'username = "{localpart}"'))
    answer = app.get("/autodiscover/autodiscover.xml", host="autodiscover.example.org")
    assert answer.status_code == 200
    final = "https://autodiscover.example.org/autodiscover/autodiscover.xml"
    exchange = Exchange(
        "http://autodiscover.example.org/autodiscover/autodiscover.xml",
        "POST",
        hops=(Hop(final, "GET", 200, "text/xml; charset=utf-8"),),
        status=200,
        content_type="text/xml; charset=utf-8",
        body=answer.data,
    )
    target = Target("fred@example.org", "example.org", Network("127.0.0.1:9"))
    step = outlook_probe._dance(target, exchange, "Thunderbird", lambda e: verdicts.pox_response(e, target.address))
    assert step.verdict is Verdict.WARN
    assert step.reason.startswith("the redirected GET got 200, and Thunderbird takes that as the answer, which names")
    broken = outlook_probe._dance(
        target, Exchange(exchange.url, "POST", hops=exchange.hops, status=200, body=b"<x/>"), "Thunderbird",
        lambda e: verdicts.pox_response(e, target.address),
    )  # fmt: skip
    assert broken.verdict is Verdict.FAIL and broken.reason.startswith("the redirected GET got 200, and Thunderbird")
