"""``service.py probe --client gnome`` against the real deployment (support/probeworld.py).

GNOME Online Accounts walks its URLs one after the other (goamailclient.c,
docs/clients.md section 1.15): GNOME's own ``/.well-known/mail-v1.xml`` on
``autoconfig.<d>`` first, then config-v1.1.xml on ``autoconfig.<d>`` and
``<d>/.well-known`` over https, then ``autoconfig.<d>`` over plain http; the
MX host's URLs last. Each broken domain of the world must be reported by
its cause, and what GNOME ignores (``plain``) as a finding that degrades.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from support.dns import DNSMASQ
from support.isolation import requires_isolation
from support.nginx import NGINX
from support.probeworld import World
from support.probeworld import world

from mailautoconf.probe import gnome
from mailautoconf.probe.steps import Target

MAIL = ["IMAP mail.example.net:993 SSL", "SMTP mail.example.net:465 SSL"]
needs_world = pytest.mark.skipif(not os.path.exists(NGINX) or DNSMASQ is None, reason="needs nginx and dnsmasq")


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with world(tmp_path_factory.mktemp("probe-gnome")) as running:
        yield running


def gnome_report(deployment: World, address: str) -> tuple[int, dict[str, Any]]:
    result = deployment.run("--json", "--client", "gnome", address)
    assert result.returncode in (0, 1), result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    report = json.loads(result.stdout)
    assert [family["family"] for family in report["families"]] == ["gnome"]
    return result.returncode, report


def labels(family: dict[str, Any]) -> list[str]:
    return [step["label"] for step in family["steps"]]


@requires_isolation
@needs_world
def test_healthy_domain_is_set_up_from_gnomes_own_url(deployment: World) -> None:
    code, report = gnome_report(deployment, "fred@example.org")
    assert code == 0, report["fixes"]
    (family,) = report["families"]
    assert family["status"] == "ok" and family["title"] == "GNOME Online Accounts"
    assert family["servers"] == MAIL
    assert family["via"] == "https autoconfig.example.org mail-v1.xml"
    assert labels(family)[:4] == [
        "https autoconfig.example.org mail-v1.xml",
        "https autoconfig.example.org",
        "https example.org .well-known",
        "http autoconfig.example.org",
    ]
    first = family["steps"][0]
    # GNOME does not encode the address: the URL carries it as it is.
    assert first["url"] == "https://autoconfig.example.org/.well-known/mail-v1.xml?emailaddress=fred@example.org"
    assert all(step["verdict"] == "skip" for step in family["steps"][1:4])
    assert report["fixes"] == []
    # The human report names the family too.
    human = deployment.run("--client", "gnome", "fred@example.org")
    assert human.returncode == 0 and "GNOME Online Accounts" in human.stdout


@requires_isolation
@needs_world
def test_plain_is_set_up_as_ssl_on_993(deployment: World) -> None:
    """The document says IMAP plain on 143; GNOME's dialog has no plain mode: SSL on the default port."""
    code, report = gnome_report(deployment, "fred@plain.example")
    assert code == 0  # it degrades, does not block
    (family,) = report["families"]
    assert family["status"] == "ok"  # it sets the account up, with another server than meant
    assert family["servers"] == ["IMAP mail.plain.example:993 SSL", "SMTP mail.plain.example:465 SSL"]
    assert any("socketType plain: GNOME has no such mode and sets up SSL" in note for note in family["notes"])
    (fix,) = [entry["fix"] for entry in report["fixes"]]
    assert fix.startswith("autoconfig.plain.example/.well-known/mail-v1.xml: GNOME sets up part of it")
    assert report["fixes"][0]["blocking"] is False


@requires_isolation
@needs_world
def test_missing_cname_falls_back_to_the_apex(deployment: World) -> None:
    code, report = gnome_report(deployment, "fred@nocname.example")
    assert code == 0
    (family,) = report["families"]
    first = family["steps"][0]
    assert first["verdict"] == "fail"
    assert first["reason"] == "autoconfig.nocname.example: no such name in DNS (NXDOMAIN)"
    assert family["status"] == "ok" and family["via"] == "https nocname.example .well-known"
    assert report["fixes"][0]["fix"].startswith("autoconfig.nocname.example does not exist in DNS")


@requires_isolation
@needs_world
def test_expired_certificate_then_plain_http(deployment: World) -> None:
    code, report = gnome_report(deployment, "fred@expired.example")
    assert code == 0  # GNOME gets its settings over plain http: it works, the certificate is still a fix
    (family,) = report["families"]
    assert family["steps"][0]["exchange"]["tls"]["problem_kind"] == "expired"
    # GNOME asks plain http last of the domain's URLs, and takes what it gets there.
    assert family["via"] == "http autoconfig.expired.example"
    said = [fix["fix"] for fix in report["fixes"]]
    assert any(fix.startswith("renew the certificate of autoconfig.expired.example: ") for fix in said), said


# -- GNOME's URLs for an MX host: no world needed ---------------------------------------------------------


def test_mx_urls_take_the_whole_mx_host_then_its_base_domain() -> None:
    """goa_mail_client_mx_domain_cb: the MX host itself (not without its first label), then its
    registrable domain when that differs; both with GNOME's own path and the user's address."""
    target = Target("fred+x@customer.example", "customer.example", None)  # type: ignore[arg-type]
    asked = gnome.urls(target, "mx1.eu.hoster.co.uk")
    assert asked[4:] == [
        (
            "MX https autoconfig.mx1.eu.hoster.co.uk mail-v1.xml",
            "https://autoconfig.mx1.eu.hoster.co.uk/.well-known/mail-v1.xml?emailaddress=fred+x@customer.example",
        ),
        (
            "MX https autoconfig.hoster.co.uk mail-v1.xml",
            "https://autoconfig.hoster.co.uk/.well-known/mail-v1.xml?emailaddress=fred+x@customer.example",
        ),
    ]
    assert [label for label, _ in gnome.urls(target, "hoster.net")[4:]] == [
        "MX https autoconfig.hoster.net mail-v1.xml"
    ]
    assert len(gnome.urls(target, None)) == 4
    # The third and fourth carry no address: GNOME sends none there.
    plain = [url for _, url in gnome.urls(target, None)]
    assert plain[2] == "https://customer.example/.well-known/autoconfig/mail/config-v1.1.xml"
    assert plain[3] == "http://autoconfig.customer.example/mail/config-v1.1.xml"


def test_an_address_a_url_cannot_hold_is_encoded() -> None:
    target = Target("a b&c\u00e9@customer.example", "customer.example", None)  # type: ignore[arg-type]
    url = gnome.urls(target, None)[0][1]
    assert url.endswith("?emailaddress=a%20b%26c%C3%A9@customer.example")
