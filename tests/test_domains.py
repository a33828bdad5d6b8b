"""End-to-end: internationalised domains, per-domain host names, several providers."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from support.configs import HOSTING
from support.pox import pox_request
from support.service import Service

NS = "{http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a}"


IDN = "xn--bcher-kva.example"


@pytest.fixture(scope="module")
def hosting(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    running = Service(tmp_path_factory.mktemp("hosting"), HOSTING).start()
    yield running
    running.stop()


def document(service: Service, host: str, address: str | None = None) -> ET.Element:
    params = {"emailaddress": address} if address else None
    answer = service.get("/mail/config-v1.1.xml", host=host, params=params)
    assert answer.status_code == 200, (host, address)
    return ET.fromstring(answer.content)


@pytest.mark.parametrize(
    "host",
    [f"autoconfig.{IDN}", IDN, f"autoconfig.{IDN.upper()}", f"{IDN}.:443"],
)
def test_idn_domain_by_host(hosting: Service, host: str) -> None:
    root = document(hosting, host)
    assert [element.text for element in root.iter("domain")] == [IDN]
    assert root.find("emailProvider/incomingServer/hostname").text == f"mail.{IDN}"  # type: ignore[union-attr]
    assert root.find("emailProvider/outgoingServer/hostname").text == f"smtp.{IDN}"  # type: ignore[union-attr]
    # {domain} in a username is the domain as the admin wrote it, lower-cased.
    assert root.find("emailProvider/incomingServer/username").text == "%EMAILLOCALPART%@bücher.example"  # type: ignore[union-attr]


@pytest.mark.parametrize("address", ["fred@bücher.example", "fred@BÜCHER.example", f"fred@{IDN}"])
def test_idn_domain_by_address(hosting: Service, address: str) -> None:
    root = document(hosting, "127.0.0.1", address)
    assert [element.text for element in root.iter("domain")] == [IDN]


def test_idn_autodiscover(hosting: Service) -> None:
    answer = hosting.post("/autodiscover/autodiscover.xml", pox_request("fred@bücher.example"))
    assert answer.status_code == 200
    root = ET.fromstring(answer.content)
    assert [p.findtext(f"{NS}Server") for p in root.iter(f"{NS}Protocol")] == [f"mail.{IDN}", f"smtp.{IDN}"]
    assert [p.findtext(f"{NS}LoginName") for p in root.iter(f"{NS}Protocol")] == [
        "fred@bücher.example",
        "fred@bücher.example",
    ]
    json_answer = hosting.get(
        "/autodiscover/autodiscover.json", params={"Email": "fred@bücher.example", "Protocol": "AutodiscoverV1"}
    )
    assert json_answer.json()["Url"] == f"https://autodiscover.{IDN}/autodiscover/autodiscover.xml"


def test_per_domain_template_and_override(hosting: Service) -> None:
    shop = document(hosting, "autoconfig.shop.test")
    assert shop.find("emailProvider/incomingServer/hostname").text == "mail.shop.test"  # type: ignore[union-attr]
    customer = document(hosting, "autoconfig.customer.test")
    assert customer.find("emailProvider/incomingServer/hostname").text == "mx.customer-own.test"  # type: ignore[union-attr]
    assert customer.find("emailProvider/outgoingServer/hostname").text == "out.customer-own.test"  # type: ignore[union-attr]
    assert customer.find("emailProvider/displayName").text == "Customer's Own Mail"  # type: ignore[union-attr]
    assert shop.find("emailProvider/displayName").text == "Hosting Provider"  # type: ignore[union-attr]
    # The customer list stays private by default.
    assert [element.text for element in customer.iter("domain")] == ["customer.test"]


def test_second_provider_and_list_all_domains(hosting: Service) -> None:
    root = document(hosting, "other.test")
    assert root.find("emailProvider").get("id") == "other.test"  # type: ignore[union-attr]
    assert [element.text for element in root.iter("domain")] == ["other.test"]
    incoming = root.find("emailProvider/incomingServer")
    assert [element.text for element in incoming.iter("authentication")] == [  # type: ignore[union-attr]
        "password-encrypted",
        "password-cleartext",
    ]
    answer = hosting.post("/autodiscover/autodiscover.xml", pox_request("a@other.test"))
    encryption = [p.findtext(f"{NS}Encryption") for p in ET.fromstring(answer.content).iter(f"{NS}Protocol")]
    assert encryption == ["TLS", "TLS"]


def test_healthz_counts_every_domain(hosting: Service) -> None:
    assert hosting.health()["domains"] == 4


def test_journald_format(make_service) -> None:  # type: ignore[no-untyped-def]
    service = make_service(start=False)
    service.extra_env = {"JOURNAL_STREAM": "8:12345"}
    service.start()
    service.get("/healthz")
    service.stop()
    lines = [line for line in service.log().splitlines() if line]
    assert lines and all(line.startswith(("<6>", "<4>", "<3>")) for line in lines)
    assert any(line.startswith("<6>mailautoconf.access: ") for line in lines)
