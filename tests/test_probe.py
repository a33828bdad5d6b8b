"""``service.py probe`` against a real deployment: the service under waitress, the generated nginx site on
ports 80 and 443 with a test CA, dnsmasq serving the records ``dns`` prints (support/probeworld.py).

The healthy domain must pass with exit status 0 and the right servers;
each domain broken on purpose must be reported *as the cause* (the finding
and the fix for it are asserted, not just a non-zero exit). Two breaks are
edits of the nginx site, as a misconfigured proxy would be. Last, nginx's
access log proves the probe never sent an Authorization or Cookie header.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.dns import DNSMASQ
from support.isolation import requires_isolation
from support.nginx import NGINX
from support.probeworld import World
from support.probeworld import world

pytestmark = [
    requires_isolation,
    pytest.mark.skipif(not os.path.exists(NGINX) or DNSMASQ is None, reason="needs nginx and dnsmasq"),
]
MAIL = ["IMAP mail.example.net:993 SSL", "SMTP mail.example.net:465 SSL"]


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with world(tmp_path_factory.mktemp("probe")) as running:
        yield running


def probe_json(deployment: World, *args: str) -> tuple[int, dict[str, Any]]:
    result = deployment.run("--json", *args)
    assert result.returncode in (0, 1), result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, json.loads(result.stdout)


def families(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {family["family"]: family for family in report["families"]}


def fixes(report: dict[str, Any]) -> list[str]:
    return [fix["fix"] for fix in report["fixes"]]


def steps(report: dict[str, Any], family: str) -> list[dict[str, Any]]:
    return families(report)[family]["steps"]


def test_healthy_deployment_passes(deployment: World) -> None:
    human = deployment.run("fred@example.org")
    assert human.returncode == 0, human.stdout + human.stderr
    assert "all selected families configure" in human.stdout
    code, report = probe_json(deployment, "fred@example.org")
    assert code == 0 and report["ok"] is True
    found = families(report)
    assert {name: family["status"] for name, family in found.items()} == dict.fromkeys(
        ("thunderbird", "android", "evolution", "gnome", "kmail", "outlook", "apple", "dav", "pacc"), "ok"
    )
    for name in ("thunderbird", "android", "evolution", "gnome", "kmail", "outlook"):
        assert found[name]["servers"] == MAIL, name
    assert found["thunderbird"]["via"] == "https autoconfig.example.org"
    assert found["android"]["via"] == "https autoconfig.example.org"
    assert found["kmail"]["via"] == "http autoconfig.example.org"  # KMail asks plain http only
    assert found["outlook"]["via"] == "POX https example.org"
    assert found["apple"]["servers"] == ["IMAP mail.example.net:993 SSL/TLS", "SMTP mail.example.net:465 SSL/TLS"]
    assert found["dav"]["servers"] == ["CalDAV dav.example.net:443 https", "CardDAV dav.example.net:443 https"]
    assert found["pacc"]["servers"] == ["IMAP mail.example.net:993 SSL", "SUBMIT mail.example.net:465 SSL"]
    assert report["fixes"] == [] and report["disagreements"] == []
    # The profile: signed by the [signing] certificate, chained to the test CA; the same identifiers twice.
    profile = steps(report, "apple")
    assert "signed by autoconfig.example.net <- mailautoconf test CA" in profile[0]["reason"]
    assert profile[1]["verdict"] == "ok" and "twice" in profile[1]["reason"]
    # Every https step reports the certificate; every step its DNS answers.
    first = steps(report, "thunderbird")[0]
    tls = first["exchange"]["tls"]
    assert tls["verified"] and "autoconfig.example.org" in tls["names"] and tls["days_left"] >= 38
    # ... and the chain OpenSSL verified, leaf first, up to the --ca anchor (probeworld's CA issues directly).
    assert tls["chain"][0] == tls["subject"] and tls["chain"][-1] == "mailautoconf test CA", tls["chain"]
    assert first["exchange"]["dns"][0]["canonical"] == "autoconfig.example.net."
    assert first["exchange"]["dns"][0]["authenticated"] is False  # dnsmasq does not validate
    # The JSON says what the human table says.
    for name, family in found.items():
        assert re.search(rf"│ {re.escape(family['title'])}\s+│ {family['status']}", human.stdout), name


def test_a_healthy_domain_without_an_apex_address(deployment: World) -> None:
    """The .well-known URLs of example.com fail (no address): lower-priority paths, no finding to fix."""
    code, report = probe_json(deployment, "fred@example.com")
    assert code == 0, fixes(report)
    thunderbird = steps(report, "thunderbird")
    assert thunderbird[0]["used"] and thunderbird[1]["verdict"] == "skip"
    assert report["fixes"] == []


def test_only_selected_families(deployment: World) -> None:
    code, report = probe_json(deployment, "fred@plain.example", "--client", "kmail", "--client", "outlook")
    assert code == 0 and list(families(report)) == ["kmail", "outlook"]


def test_missing_cname(deployment: World) -> None:
    code, report = probe_json(deployment, "fred@nocname.example")
    assert code == 1
    # autoconfig.<d> first: it helps five families (Apple's profile fails without it), autodiscover.<d> one.
    assert fixes(report)[:2] == [
        "autoconfig.nocname.example does not exist in DNS: add it (a CNAME to the autoconfig service, "
        "or A/AAAA records)",
        "autodiscover.nocname.example does not exist in DNS: add it (a CNAME to the autoconfig service, "
        "or A/AAAA records)",
    ]
    first = steps(report, "thunderbird")[0]
    assert first["verdict"] == "fail"
    assert first["reason"] == "autoconfig.nocname.example: no such name in DNS (NXDOMAIN)"
    assert first["exchange"]["dns"][0]["status"] == "nxdomain"
    assert families(report)["apple"]["status"] == "fail"
    assert report["fixes"][0]["families"] == ["thunderbird", "android", "evolution", "gnome", "kmail", "apple"]
    assert report["fixes"][1]["families"] == ["outlook"]


def test_plain_socket_rejected_by_android(deployment: World) -> None:
    code, report = probe_json(deployment, "fred@plain.example")
    assert code == 1
    found = families(report)
    assert found["android"]["status"] == "fail"
    assert found["thunderbird"]["status"] == "ok"  # it warns the user, but sets the account up
    android, gnome = fixes(report)
    assert android == (
        "autoconfig.plain.example/mail/config-v1.1.xml: Thunderbird for Android rejects the whole document: "
        "incoming server 1 (imap): socketType 'plain' is not SSL or STARTTLS"
    )
    # GNOME has no plain mode: it sets up SSL on 993 (docs/clients.md 1.15); it degrades, so it comes second.
    assert gnome.startswith("autoconfig.plain.example/.well-known/mail-v1.xml: GNOME sets up part of it")


def test_stale_pacc_digest(deployment: World) -> None:
    code, report = probe_json(deployment, "fred@stale.example", "--client", "pacc")
    assert code == 1
    step = steps(report, "pacc")[0]
    assert step["reason"].startswith("stale digest: the document's SHA-256 is ")
    digest = re.search(r"SHA-256 is (\S+),", step["reason"]).group(1)  # type: ignore[union-attr]
    assert fixes(report) == [
        f'update the TXT record _ua-auto-config.stale.example to "v=UAAC1; a=sha256; d={digest}" '
        "(service.py dns prints it)"
    ]


def test_dav_srv_without_txt_path(deployment: World) -> None:
    code, report = probe_json(deployment, "fred@notxt.example", "--client", "dav")
    assert code == 1
    assert fixes(report) == [
        'add the TXT record _caldavs._tcp.notxt.example "path=<the CalDAV context path>" beside the SRV record '
        "(service.py dns prints it)"
    ]
    card = next(step for step in steps(report, "dav") if step["label"] == "CardDAV SRV+TXT")
    assert card["verdict"] == "ok"  # only CalDAV lacks its path


def test_expired_certificate(deployment: World) -> None:
    code, report = probe_json(deployment, "fred@expired.example")
    assert code == 1
    first = steps(report, "thunderbird")[0]
    assert first["exchange"]["tls"]["problem_kind"] == "expired"
    expired = r"autoconfig\.expired\.example: the certificate expired 1 day\(s\) ago \(.+ UTC\)"
    assert re.fullmatch(expired, first["reason"])
    assert any(fix.startswith("renew the certificate of autoconfig.expired.example: ") for fix in fixes(report))
    # Thunderbird falls back to plain http; Android too, but asks the user to confirm.
    assert families(report)["thunderbird"]["via"] == "http autoconfig.expired.example"
    assert any("asks the user" in note for note in families(report)["android"]["notes"])
    assert families(report)["apple"]["status"] == "fail"


def test_certificate_without_the_name(deployment: World) -> None:
    code, report = probe_json(deployment, "fred@wrongname.example")
    assert code == 1
    first = steps(report, "thunderbird")[0]
    assert first["exchange"]["tls"]["problem_kind"] == "name"
    assert "autodiscover.wrongname.example" in first["exchange"]["tls"]["names"]
    assert first["reason"].startswith("autoconfig.wrongname.example: the certificate does not cover ")
    assert fixes(report)[0] == (
        "the certificate served for autoconfig.wrongname.example does not cover it: "
        "add autoconfig.wrongname.example to a certificate"
    )


def test_proxy_with_the_wrong_content_type(deployment: World) -> None:
    wrong = 'types { } default_type "text/plain";'
    with deployment.edited_site('types { } default_type "application/xml; charset=utf-8";', wrong):
        code, report = probe_json(deployment, "fred@example.org", "--client", "thunderbird", "--client", "android")
    first = steps(report, "thunderbird")[0]
    assert first["verdict"] == "fail" and first["exchange"]["content_type"] == "text/plain"
    assert "Content-Type 'text/plain'" in first["reason"]
    # The first 2xx answer decides the provider step: the rest is not asked (docs/clients.md 1.1).
    assert steps(report, "thunderbird")[1]["verdict"] == "skip"
    assert report["fixes"][0]["fix"] == (
        "autoconfig.example.org serves /mail/config-v1.1.xml with the wrong Content-Type (text/plain): "
        "serve application/xml (is a proxy in front rewriting it?)"
    )
    # Thunderbird still ends up configured, through Exchange Autodiscover; Android reads any type.
    thunderbird = families(report)["thunderbird"]
    assert thunderbird["status"] == "ok" and thunderbird["via"].startswith("Autodiscover https autodiscover.")
    assert families(report)["android"]["status"] == "ok" and code == 0


def test_evolution_unaware_server(deployment: World) -> None:
    line = '    "~^Evolution/" "mail/config-v1.1.evolution.xml";\n'
    with deployment.edited_site(line, ""):
        code, report = probe_json(deployment, "fred@example.org", "--client", "evolution")
    assert code == 1
    first = steps(report, "evolution")[0]
    assert first["verdict"] == "fail"
    assert first["reason"].startswith(
        "Evolution keeps the last server of each type: it would set up IMAP mail.example.net:143 STARTTLS instead "
        "of IMAP mail.example.net:993 SSL; SMTP mail.example.net:587 STARTTLS instead of SMTP mail.example.net:465 SSL"
    )
    assert steps(report, "evolution")[1]["verdict"] == "skip"  # it stops at that well-formed answer


def test_fleet_sample(deployment: World) -> None:
    config = str(deployment.service.config_path)
    result = deployment.run("--config", config, "--sample", "3", "--json", "--client", "kmail")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 4 and "summary" in lines[-1], result.stdout + result.stderr
    assert lines[-1]["summary"]["domains"] == 3
    assert all(set(line["families"]) == {"kmail"} for line in lines[:-1])
    everything = deployment.run("--config", config, "--client", "apple", "--parallel", "3")
    domains = [line.split()[1] for line in everything.stdout.splitlines()]
    assert sorted(domains) == sorted(
        ["example.org", "example.com", "nocname.example", "stale.example", "notxt.example", "expired.example",
         "wrongname.example", "plain.example"]
    )  # fmt: skip
    failing = sorted(line.split()[1] for line in everything.stdout.splitlines() if line.startswith("FAIL"))
    assert failing == ["expired.example", "nocname.example", "wrongname.example"]
    assert everything.returncode == 1
    assert "probe: 8 domain(s), 3 failing" in everything.stderr
    assert "cause tls-expired: 1 domain(s), e.g. expired.example" in everything.stderr
    assert "differ from the config" not in everything.stderr  # what is served is what the config says


def test_fleet_reports_what_differs_from_the_config(deployment: World, tmp_path: Path) -> None:
    """The operator's config moved IMAP to another host; the live service still hands out the old one."""
    text = deployment.service.config_path.read_text(encoding="utf-8")
    assert text.count('hostname = "mail.example.net"\nport = 993') == 1, text
    moved = tmp_path / "moved.toml"
    moved.write_text(
        text.replace('hostname = "mail.example.net"\nport = 993', 'hostname = "imap.example.net"\nport = 993')
    )
    result = deployment.run("--config", str(moved), "--client", "kmail", "--json")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    *domains, summary = lines
    by_name = {line["domain"]: line for line in domains}
    # The provider whose IMAP host moved: KMail still gets mail.example.net:993 for each of its working domains.
    assert by_name["example.org"]["differs_from_config"] == ["kmail: IMAP mail.example.net:993 SSL"]
    assert by_name["example.org"]["ok"] is False and result.returncode == 1
    assert by_name["plain.example"]["differs_from_config"] == []  # another provider, unchanged
    assert summary["summary"]["differ_from_config"]["domains"] == sum(bool(d["differs_from_config"]) for d in domains)


def test_never_sent_credentials(deployment: World) -> None:
    """Last in the module: every request the probe made reached nginx without Authorization or Cookie."""
    log = deployment.access_log().splitlines()
    assert len(log) > 200
    assert all(line.endswith("auth=[-] cookie=[-]") for line in log), [
        line for line in log if not line.endswith("auth=[-] cookie=[-]")
    ][:5]
    assert any(" POST /autodiscover/autodiscover.xml " in line for line in log)
