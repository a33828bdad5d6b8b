"""Apple configuration profiles, end to end: the real service, the plist Apple reads, the signature openssl checks.

A profile must install (the right Content-Type, a well-formed plist with
no empty host or port), replace itself on a second download (identifiers
stable per address, UUIDs distinct per payload), carry no password, and,
with [signing], verify against the CA with its plist byte for byte the
unsigned one. A bad certificate is a config error and the last good
state keeps serving; a renewed one is used without a restart.
"""

from __future__ import annotations

import datetime
import os
import plistlib
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from support.configs import HEAD
from support.configs import provider
from support.pki import CA

from mailautoconf import config
from mailautoconf.render import apple

DAV = (
    '[provider.caldav]\nurl = "https://dav.{domain}/cal/"\nusername = "{address}"\n\n'
    '[provider.carddav]\nurl = "https://contacts.alpha.example:8443/card/"\n'
)
CONFIG = (
    HEAD
    + provider("alpha.example", ["alpha.example", "bücher.example"], "mail.alpha.example", extra=DAV)
    + provider("beta.example", ["beta.example"], "mail.{domain}")
)
PROFILE = "/email.mobileconfig?emailaddress="


def _plist(content: bytes) -> dict[str, Any]:
    parsed = plistlib.loads(content)
    assert isinstance(parsed, dict)
    return parsed


def _payloads(profile: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {payload["PayloadType"]: payload for payload in profile["PayloadContent"]}


@pytest.fixture
def service(make_service):  # type: ignore[no-untyped-def]
    return make_service(CONFIG)


@pytest.mark.parametrize("path", ["/email.mobileconfig", "/mobileconfig", "/apple.mobileconfig"])
def test_a_profile_for_the_address(service, path: str) -> None:  # type: ignore[no-untyped-def]
    answer = service.get(f"{path}?emailaddress=fred@alpha.example", host="autoconfig.alpha.example")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/x-apple-aspen-config"
    assert answer.headers["Content-Disposition"] == 'attachment; filename="alpha.example.mobileconfig"'
    assert answer.headers["Cache-Control"] == "no-store"
    profile = _plist(answer.content)
    assert profile["PayloadType"] == "Configuration"
    mail = _payloads(profile)["com.apple.mail.managed"]
    loaded = config.loads(CONFIG).config.providers[0]
    incoming, outgoing = loaded.incoming[0], loaded.outgoing[0]
    assert mail["EmailAddress"] == "fred@alpha.example"
    assert mail["EmailAccountType"] == "EmailTypeIMAP"
    assert (mail["IncomingMailServerHostName"], mail["IncomingMailServerPortNumber"]) == (
        incoming.hostname,
        incoming.port,
    )
    assert (mail["OutgoingMailServerHostName"], mail["OutgoingMailServerPortNumber"]) == (
        outgoing.hostname,
        outgoing.port,
    )
    assert mail["IncomingMailServerUseSSL"] is True and mail["OutgoingMailServerUseSSL"] is True
    assert mail["IncomingMailServerUsername"] == mail["OutgoingMailServerUsername"] == "fred@alpha.example"
    assert mail["IncomingMailServerAuthentication"] == "EmailAuthPassword"
    assert not [key for key in answer.text.split("<key>") if key.startswith(("IncomingPassword", "OutgoingPassword<"))]
    assert all(value not in ("", None) for value in mail.values())


def test_calendar_and_contacts_payloads(service) -> None:  # type: ignore[no-untyped-def]
    answer = service.get(PROFILE + "fred@alpha.example", host="autoconfig.alpha.example")
    payloads = _payloads(_plist(answer.content))
    caldav, carddav = payloads["com.apple.caldav.account"], payloads["com.apple.carddav.account"]
    assert caldav["CalDAVHostName"] == "dav.alpha.example"
    assert caldav["CalDAVPort"] == 443
    assert caldav["CalDAVPrincipalURL"] == "https://dav.alpha.example/cal/"
    assert caldav["CalDAVUsername"] == "fred@alpha.example"
    assert caldav["CalDAVUseSSL"] is True
    assert carddav["CardDAVHostName"] == "contacts.alpha.example"
    assert carddav["CardDAVPort"] == 8443
    assert "CardDAVUsername" not in carddav  # none configured: the device asks
    beta = _payloads(_plist(service.get(PROFILE + "fred@beta.example").content))
    assert set(beta) == {"com.apple.mail.managed"}


def _identifiers(profile: dict[str, Any]) -> tuple[str, list[str]]:
    uuids = [profile["PayloadUUID"]] + [payload["PayloadUUID"] for payload in profile["PayloadContent"]]
    return profile["PayloadIdentifier"], uuids


def test_identifiers_are_stable_per_address_and_distinct_per_payload(service) -> None:  # type: ignore[no-untyped-def]
    first = _identifiers(_plist(service.get(PROFILE + "fred@alpha.example").content))
    again = _identifiers(_plist(service.get(PROFILE + "Fred@alpha.example", host="alpha.example").content))
    other = _identifiers(_plist(service.get(PROFILE + "wilma@alpha.example").content))
    identifier, uuids = first
    assert again == first  # a second download replaces the installed profile
    assert len(set(uuids)) == len(uuids) == 4  # profile, mail, CalDAV, CardDAV
    assert all(str(uuid.UUID(value)).upper() == value for value in uuids)
    assert identifier.startswith("example.alpha.mailautoconf.")  # reverse-DNS of the provider
    assert other[0] != identifier and not set(other[1]) & set(uuids)


def test_domain_from_the_address_else_the_host(service) -> None:  # type: ignore[no-untyped-def]
    idn = service.get(PROFILE + "jörg@Bücher.example", host="autoconfig.beta.example")
    assert idn.status_code == 200
    assert idn.headers["Content-Disposition"] == 'attachment; filename="xn--bcher-kva.example.mobileconfig"'
    assert _payloads(_plist(idn.content))["com.apple.mail.managed"]["EmailAddress"] == "jörg@Bücher.example"
    stranger = service.get(PROFILE + "fred@elsewhere.example", host="autoconfig.beta.example")
    assert stranger.status_code == 200
    assert _payloads(_plist(stranger.content))["com.apple.mail.managed"]["IncomingMailServerHostName"] == (
        "mail.beta.example"
    )
    nowhere = service.get(PROFILE + "fred@elsewhere.example", host="autoconfig.elsewhere.example")
    assert nowhere.status_code == 404


@pytest.mark.parametrize(
    "address",
    [
        "",
        "fred",
        "@alpha.example",
        "fred@",
        "fred smith@alpha.example",
        "fred\x07@alpha.example",
        "a" * 65 + "@alpha.example",
        "fred@" + "a" * 250 + ".example",
    ],
)
def test_a_bad_address_gets_400_never_a_profile(service, address: str) -> None:  # type: ignore[no-untyped-def]
    answer = service.get("/email.mobileconfig", host="autoconfig.alpha.example", params={"emailaddress": address})
    assert answer.status_code == 400
    assert answer.headers["Content-Type"].startswith("text/plain")
    assert "emailaddress" in answer.text
    assert service.get("/email.mobileconfig", host="autoconfig.alpha.example").status_code == 400


@pytest.mark.parametrize("address", ['<script>"x"&</script>@alpha.example', "o'brien+tag@alpha.example"])
def test_markup_in_the_address_is_escaped(service, address: str) -> None:  # type: ignore[no-untyped-def]
    answer = service.get("/email.mobileconfig", host="alpha.example", params={"emailaddress": address})
    assert answer.status_code == 200
    assert b"<script>" not in answer.content
    assert _payloads(_plist(answer.content))["com.apple.mail.managed"]["EmailAddress"] == address


def test_no_profile_when_no_server_can_be_described(make_service) -> None:  # type: ignore[no-untyped-def]
    text = HEAD + provider("alpha.example", ["alpha.example"], "mail.alpha.example").replace(
        '["password-cleartext"]', '["OAuth2"]'
    )
    service = make_service(text)
    answer = service.get(PROFILE + "fred@alpha.example")
    assert answer.status_code == 404
    assert "none of its servers" in answer.text


# -- signing ------------------------------------------------------------------


def _signing_config(folder: Path) -> str:
    return CONFIG + f'\n[signing]\ncertificate = "{folder}/fullchain.pem"\nkey = "{folder}/privkey.pem"\n'


def _verify(signed: bytes, ca: CA, tmp_path: Path) -> bytes:
    """openssl's verdict on a signed profile: the embedded content when the signature and chain hold."""
    (tmp_path / "profile.der").write_bytes(signed)
    ca.write(tmp_path / "ca.pem")
    result = subprocess.run(
        [
            "openssl", "cms", "-verify", "-inform", "DER", "-in", str(tmp_path / "profile.der"),
            "-CAfile", str(tmp_path / "ca.pem"), "-purpose", "any", "-binary", "-out", str(tmp_path / "content"),
        ],
        capture_output=True,
        timeout=30,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()
    return (tmp_path / "content").read_bytes()


def _signer_serial(signed: bytes) -> int:
    """The serial number of the leaf among the certificates a signed profile carries."""
    from cryptography.hazmat.primitives.serialization import pkcs7

    (leaf,) = [
        c for c in pkcs7.load_der_pkcs7_certificates(signed) if "autoconfig.alpha.example" in c.subject.rfc4514_string()
    ]
    return leaf.serial_number


def test_signed_profile_verifies_and_embeds_the_unsigned_plist(make_service, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ca = CA.create()
    ca.issue_files(["autoconfig.alpha.example"], tmp_path / "certs", days=60)
    service = make_service(_signing_config(tmp_path / "certs"))
    signed = service.get(PROFILE + "fred@alpha.example")
    assert signed.status_code == 200
    assert signed.headers["Content-Type"] == "application/x-apple-aspen-config"
    assert signed.content[:1] == b"\x30"  # DER SEQUENCE, not a plist
    embedded = _verify(signed.content, ca, tmp_path)
    assert b"\r\n" not in embedded  # the Binary option: no CRLF canonicalisation
    assert service.health()["config_warnings"] == []
    # The same config without [signing]: the very bytes that were embedded.
    service.config_path.write_text(CONFIG, encoding="utf-8")
    service.wait_for(lambda: service.get(PROFILE + "fred@alpha.example").content.startswith(b"<?xml"), what="unsigned")
    assert service.get(PROFILE + "fred@alpha.example").content == embedded
    (tmp_path / "other").mkdir()
    with pytest.raises(AssertionError):  # a CA that did not issue the certificate: openssl refuses
        _verify(signed.content, CA.create("another CA"), tmp_path / "other")


def test_a_renewed_certificate_is_used_without_restart(make_service, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ca = CA.create()
    folder = tmp_path / "certs"
    ca.issue_files(["autoconfig.alpha.example"], folder, days=60)
    service = make_service(_signing_config(folder))
    before = _signer_serial(service.get(PROFILE + "fred@alpha.example").content)
    # Like dehydrated: the new files are written beside, then switched into place.
    chain, key = ca.issue(["autoconfig.alpha.example"], days=90)
    (folder / "fullchain.new").write_bytes(chain)
    (folder / "privkey.new").write_bytes(key)
    os.replace(folder / "privkey.new", folder / "privkey.pem")
    os.replace(folder / "fullchain.new", folder / "fullchain.pem")
    after = service.wait_for(
        lambda: (lambda s: s if s != before else None)(
            _signer_serial(service.get(PROFILE + "fred@alpha.example").content)
        ),
        what="the renewed certificate",
    )
    assert after != before
    _verify(service.get(PROFILE + "fred@alpha.example").content, ca, tmp_path)


def _broken(folder: Path, ca: CA, how: str) -> None:
    if how == "expired":
        ca.issue_files(["a.example"], folder, days=-1, starts=-datetime.timedelta(days=30))
    elif how == "not yet valid":
        ca.issue_files(["a.example"], folder, days=60, starts=datetime.timedelta(days=2))
    elif how == "wrong key":
        ca.issue_files(["a.example"], folder, days=60)
        _, other_key = ca.issue(["b.example"], days=60)
        (folder / "privkey.pem").write_bytes(other_key)
    elif how == "unreadable":
        ca.issue_files(["a.example"], folder, days=60)
        (folder / "fullchain.pem").unlink()
    elif how == "not a certificate":
        ca.issue_files(["a.example"], folder, days=60)
        (folder / "fullchain.pem").write_text("hello\n")


BAD_CERTIFICATES = [
    ("expired", "the certificate (CN=a.example) expired on"),
    ("not yet valid", "the certificate (CN=a.example) is valid only from"),
    ("wrong key", "privkey.pem: [signing]: does not belong to the certificate in"),
    ("unreadable", "fullchain.pem: [signing]: cannot read the certificate: it does not exist"),
    ("not a certificate", "fullchain.pem: [signing]: holds no PEM certificate"),
]


@pytest.mark.parametrize(("how", "message"), BAD_CERTIFICATES)
def test_a_bad_certificate_is_a_signing_error_and_the_config_still_applies(
    make_service, tmp_path: Path, how: str, message: str
) -> None:  # type: ignore[no-untyped-def]
    """A signing problem does not hold the config back; profiles go out unsigned, and /healthz says so."""
    service = make_service(CONFIG)
    unsigned = service.get(PROFILE + "fred@alpha.example").content
    folder = tmp_path / "certs"
    _broken(folder, CA.create(), how)
    # The same edit adds a domain: it is served although the signing files are broken.
    edited = _signing_config(folder).replace(
        'domains = ["alpha.example"', 'domains = ["gamma.example", "alpha.example"'
    )
    assert edited != _signing_config(folder)
    service.config_path.write_text(edited, encoding="utf-8")
    health = service.wait_for(lambda: (h := service.health())["signing_error"] and h, what="the certificate error")
    errors = health["signing_error"]
    assert len(errors) == 2 and message in errors[0], errors
    assert errors[0].startswith(str(folder))
    assert "Apple profiles go out unsigned" in errors[1], errors
    assert health["status"] == "signing error" and health["troubles"] == ["signing"], health
    assert health["config_error"] is None and health["signing"] == "error" and not health["profiles_signed"]
    assert service.get("/mail/config-v1.1.xml", host="autoconfig.gamma.example").status_code == 200
    assert service.get(PROFILE + "fred@alpha.example").content == unsigned
    scraped = service.metrics()
    assert scraped[("mailautoconf_signing_error", ())] == 1
    assert scraped[("mailautoconf_trouble_file", (("file", errors[0].split(": ")[0]), ("kind", "signing")))] == 1
    check = subprocess.run(
        [sys.executable, "service.py", "check", "--config", str(service.config_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert check.returncode == 1 and message in check.stderr


def test_a_broken_renewal_keeps_signing_with_the_last_good_certificate(make_service, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ca = CA.create()
    folder = tmp_path / "certs"
    ca.issue_files(["autoconfig.alpha.example"], folder, days=60)
    service = make_service(_signing_config(folder))
    before = _signer_serial(service.get(PROFILE + "fred@alpha.example").content)
    (folder / "fullchain.pem").write_text("hello\n")
    health = service.wait_for(lambda: (h := service.health())["signing_error"] and h, what="the signing error")
    assert "holds no PEM certificate" in health["signing_error"][0], health
    assert "still signed with the certificate read before" in health["signing_error"][-1], health
    assert health["profiles_signed"] is True
    assert _signer_serial(service.get(PROFILE + "fred@alpha.example").content) == before
    assert _verify(service.get(PROFILE + "fred@alpha.example").content, ca, tmp_path)


def test_a_certificate_close_to_expiry_is_a_warning(make_service, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ca = CA.create()
    ca.issue_files(["autoconfig.alpha.example"], tmp_path / "certs", days=5)
    service = make_service(_signing_config(tmp_path / "certs"))
    health = service.health()
    warnings = health["signing_warnings"]
    assert len(warnings) == 1 and "expires in 4 day(s)" in warnings[0], warnings
    assert health["signing"] == "expiring" and health["status"] == "ok", health
    assert _verify(service.get(PROFILE + "fred@alpha.example").content, ca, tmp_path)


def test_profile_values_are_uuid5_of_domain_address_and_payload() -> None:
    values = apple.profile_values("alpha.example", "Fred@Alpha.example")
    assert values == apple.profile_values("alpha.example", "fred@alpha.example")
    assert len(set(values.values())) == 4
    assert all(uuid.UUID(value.decode()).version == 5 for value in values.values())


def test_a_chain_that_did_not_issue_the_certificate_is_a_signing_error(make_service, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """After a CA rotates its intermediates, the old chain file no longer fits a renewed certificate."""
    root = CA.create()
    issuing, rotated_away = root.intermediate("Issuing CA 2"), root.intermediate("Issuing CA 1")
    folder = tmp_path / "certs"
    folder.mkdir()
    chain, key = issuing.issue(["autoconfig.alpha.example"], days=30)
    (folder / "cert.pem").write_bytes(chain.split(b"-----END CERTIFICATE-----\n")[0] + b"-----END CERTIFICATE-----\n")
    (folder / "key.pem").write_bytes(key)
    (folder / "chain.pem").write_bytes(rotated_away.pem)
    signing = (
        f'\n[signing]\ncertificate = "{folder}/cert.pem"\nkey = "{folder}/key.pem"\nchain = "{folder}/chain.pem"\n'
    )
    service = make_service(CONFIG + signing)
    health = service.health()
    assert health["status"] == "signing error" and not health["profiles_signed"], health
    assert health["signing_error"][0].startswith(f"{folder}/chain.pem: [signing]: the chain does not fit: "), health
    assert "CN=Issuing CA 1 did not issue CN=autoconfig.alpha.example" in health["signing_error"][0], health
    assert service.get(PROFILE + "fred@alpha.example").content.startswith(b"<?xml")  # unsigned, and said so
    # The chain that came with the certificate fits.
    (folder / "chain.new").write_bytes(issuing.pem)
    os.replace(folder / "chain.new", folder / "chain.pem")
    service.wait_for(lambda: service.health()["status"] == "ok", what="the right chain")
    assert _verify(service.get(PROFILE + "fred@alpha.example").content, root, tmp_path)


def test_a_service_started_with_an_expired_certificate_says_so(make_service, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "certs"
    _broken(folder, CA.create(), "expired")
    service = make_service(_signing_config(folder))
    health = service.health()
    assert health["status"] == "signing error" and health["config_error"] is None, health
    assert "expired on" in health["signing_error"][0] and "go out unsigned" in health["signing_error"][-1], health
    assert health["profiles_signed"] is False and health["signing_expires_at"] is None
    assert service.get(PROFILE + "fred@alpha.example").content.startswith(b"<?xml")
    assert service.get("/mail/config-v1.1.xml", host="autoconfig.alpha.example").status_code == 200
