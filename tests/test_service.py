"""End-to-end: the real service under waitress, every endpoint and error path."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
from support import configs
from support.pox import MOBILESYNC_SCHEMA
from support.pox import pox_request
from support.service import Service

AUTOCONFIG_PATHS = ["/mail/config-v1.1.xml", "/.well-known/autoconfig/mail/config-v1.1.xml"]
HOSTED = ["example.net", "example.org", "example.com"]
NS = "{http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a}"
ENVELOPE = "{http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006}"


def listed_domains(body: bytes) -> list[str]:
    return [element.text or "" for element in ET.fromstring(body).iter("domain")]


def servers(body: bytes) -> list[tuple[str, str, str, str, str, str]]:
    found = []
    for element in ET.fromstring(body).iter():
        if element.tag in ("incomingServer", "outgoingServer"):
            found.append(
                (
                    element.get("type", ""),
                    element.findtext("hostname", ""),
                    element.findtext("port", ""),
                    element.findtext("socketType", ""),
                    element.findtext("authentication", ""),
                    element.findtext("username", ""),
                )
            )
    return found


EXPECTED_SERVERS = [
    ("imap", "mail.example.net", "993", "SSL", "password-cleartext", "%EMAILADDRESS%"),
    ("imap", "mail.example.net", "143", "STARTTLS", "password-cleartext", "%EMAILADDRESS%"),
    ("pop3", "mail.example.net", "995", "SSL", "password-cleartext", "%EMAILADDRESS%"),
    ("pop3", "mail.example.net", "110", "STARTTLS", "password-cleartext", "%EMAILADDRESS%"),
    ("smtp", "mail.example.net", "465", "SSL", "password-cleartext", "%EMAILADDRESS%"),
    ("smtp", "mail.example.net", "587", "STARTTLS", "password-cleartext", "%EMAILADDRESS%"),
]


# -- Thunderbird autoconfig ----------------------------------------------------


@pytest.mark.parametrize("path", AUTOCONFIG_PATHS)
@pytest.mark.parametrize("domain", HOSTED)
def test_autoconfig_by_address(service: Service, path: str, domain: str) -> None:
    answer = service.get(path, host="127.0.0.1", params={"emailaddress": f"fred@{domain}"})
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/xml; charset=utf-8"
    assert not answer.content.startswith(b"\xef\xbb\xbf")
    assert listed_domains(answer.content) == [domain]
    assert servers(answer.content) == EXPECTED_SERVERS


@pytest.mark.parametrize(
    "host",
    [
        "autoconfig.{d}",
        "{d}",
        "AutoConfig.{D}",
        "autoconfig.{d}:443",
        "autoconfig.{d}.",
        "{D}.:8080",
    ],
)
@pytest.mark.parametrize("path", AUTOCONFIG_PATHS)
def test_autoconfig_by_host(service: Service, host: str, path: str) -> None:
    for domain in HOSTED:
        answer = service.get(path, host=host.format(d=domain, D=domain.upper()))
        assert answer.status_code == 200, host
        assert listed_domains(answer.content) == [domain]


def test_unhosted_address_falls_back_to_host(service: Service) -> None:
    answer = service.get(AUTOCONFIG_PATHS[0], host="autoconfig.example.com", params={"emailaddress": "a@other.test"})
    assert answer.status_code == 200
    assert listed_domains(answer.content) == ["example.com"]


def test_address_wins_over_host(service: Service) -> None:
    answer = service.get(AUTOCONFIG_PATHS[0], host="autoconfig.example.com", params={"emailaddress": "a@example.org"})
    assert listed_domains(answer.content) == ["example.org"]


def test_evolution_dummy_address_and_plus_as_space(service: Service) -> None:
    # Evolution sends EVOLUTIONUSER@<d>; an unescaped "+" arrives as a space.
    for address in ["EVOLUTIONUSER@example.org", "fred+tag@example.org", "fred tag@example.org"]:
        answer = service.get(AUTOCONFIG_PATHS[0], host="127.0.0.1", params={"emailaddress": address})
        assert listed_domains(answer.content) == ["example.org"]


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("other.test", 404),
        ("autoconfig.other.test", 404),
        ("127.0.0.1", 404),
        ("[::1]:8080", 404),
        ("", 404),
        ("../../etc/passwd", 404),
        ("autoconfig.example.org/../../x", 404),
        ("example.org%2f..", 404),
        ("<script>.example.org", 404),
        ("current", 404),
        ("gen-000001", 404),
        # Not a host name at all: no domain, as for any odd Host (issue 11.4; werkzeug's bare 400 before).
        ("x" * 400, 404),
        ("autoconfig..example.org", 404),
    ],
)
def test_unhosted_or_odd_host_is_4xx(service: Service, host: str, status: int) -> None:
    answer = service.get(AUTOCONFIG_PATHS[0], host=host)
    assert answer.status_code == status
    assert not answer.content.lstrip().startswith(b"<")  # never XML: Evolution stops at a 2xx that parses


def test_path_traversal_in_address_never_leaves_the_generation(service: Service) -> None:
    for address in ["a@../../manifest.json", "a@..", "a@/etc/passwd", "a@example.org/../example.net", "@", "a@"]:
        answer = service.get(AUTOCONFIG_PATHS[0], host="127.0.0.1", params={"emailaddress": address})
        assert answer.status_code == 404, address


def test_autoconfig_etag_and_last_modified(service: Service) -> None:
    first = service.get(AUTOCONFIG_PATHS[0], host="autoconfig.example.org")
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert etag.startswith('"') and modified.endswith("GMT")
    again = service.get(AUTOCONFIG_PATHS[0], host="autoconfig.example.org", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    since = service.get(AUTOCONFIG_PATHS[0], host="autoconfig.example.org", headers={"If-Modified-Since": modified})
    assert since.status_code == 304
    other = service.get(AUTOCONFIG_PATHS[0], host="autoconfig.example.net", headers={"If-None-Match": etag})
    assert other.status_code == 200  # another domain's document has another ETag


def test_head_request(service: Service) -> None:
    answer = service.http.head(service.base + AUTOCONFIG_PATHS[0], headers={"Host": "example.org"}, timeout=10)
    assert answer.status_code == 200 and answer.content == b""


# -- Autodiscover POX ----------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/autodiscover/autodiscover.xml", "/Autodiscover/Autodiscover.xml", "/AutoDiscover/AutoDiscover.xml"],
)
@pytest.mark.parametrize(
    "content_type",
    ["text/xml; charset=utf-8", "text/xml", "application/xml", "application/xml; charset=UTF-8"],
)
def test_autodiscover_pox(service: Service, path: str, content_type: str) -> None:
    answer = service.post(path, pox_request("fred@example.org"), content_type)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "text/xml; charset=utf-8"
    assert b"<Autodiscover xmlns=" in answer.content and b":Autodiscover" not in answer.content  # no prefixes
    root = ET.fromstring(answer.content)
    protocols = [
        (
            p.findtext(f"{NS}Type"),
            p.findtext(f"{NS}Server"),
            p.findtext(f"{NS}Port"),
            p.findtext(f"{NS}LoginName"),
            p.findtext(f"{NS}SPA"),
            p.findtext(f"{NS}SSL"),
            p.findtext(f"{NS}Encryption"),
            p.findtext(f"{NS}AuthRequired"),
        )
        for p in root.iter(f"{NS}Protocol")
    ]
    login = "fred@example.org"
    assert protocols == [
        ("IMAP", "mail.example.net", "993", login, "off", "on", "SSL", "on"),
        ("IMAP", "mail.example.net", "143", login, "off", "on", "TLS", "on"),
        ("POP3", "mail.example.net", "995", login, "off", "on", "SSL", "on"),
        ("POP3", "mail.example.net", "110", login, "off", "on", "TLS", "on"),
        ("SMTP", "mail.example.net", "465", login, "off", "on", "SSL", "on"),
        ("SMTP", "mail.example.net", "587", login, "off", "on", "TLS", "on"),
    ]


def test_autodiscover_escapes_markup_in_address(service: Service) -> None:
    address = "\"><x y='1'>&amp;fred@example.org"
    escaped = address.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    answer = service.post("/autodiscover/autodiscover.xml", pox_request(escaped))
    assert answer.status_code == 200
    logins = {element.text for element in ET.fromstring(answer.content).iter(f"{NS}LoginName")}
    assert logins == {address}


def error_code(answer) -> str | None:  # type: ignore[no-untyped-def]
    root = ET.fromstring(answer.content)
    return root.findtext(f"{ENVELOPE}Response/{ENVELOPE}Error/{ENVELOPE}ErrorCode") or root.findtext(
        f".//{{{MOBILESYNC_SCHEMA}}}ErrorCode"
    )


XML_BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<Autodiscover><Request><EMailAddress>&lol3;@example.org</EMailAddress></Request></Autodiscover>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Autodiscover><Request><EMailAddress>&xxe;@example.org</EMailAddress></Request></Autodiscover>"""


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"not xml", id="not-xml"),
        pytest.param(b"<Autodiscover><Request>", id="truncated"),
        pytest.param(XML_BOMB, id="billion-laughs"),
        pytest.param(EXTERNAL_ENTITY, id="external-entity"),
        pytest.param(b"<Other><Request><EMailAddress>a@example.org</EMailAddress></Request></Other>", id="wrong-root"),
        pytest.param(b"<Autodiscover><Request></Request></Autodiscover>", id="no-address"),
        pytest.param(pox_request("not-an-address"), id="address-without-at"),
        pytest.param(pox_request("fred@exa mple.org"), id="address-bad-domain"),
        pytest.param(pox_request("fred&lt;@example.org").replace(b"&lt;", b"<"), id="unescaped-markup"),
    ],
)
def test_autodiscover_malformed_is_600(service: Service, body: bytes) -> None:
    answer = service.post("/autodiscover/autodiscover.xml", body)
    assert answer.status_code == 400
    assert answer.headers["Content-Type"] == "text/xml; charset=utf-8"
    assert error_code(answer) == "600"
    assert b"root:" not in answer.content  # no file contents leak


def test_autodiscover_mobilesync_is_601(service: Service) -> None:
    answer = service.post("/autodiscover/autodiscover.xml", pox_request("fred@example.org", MOBILESYNC_SCHEMA))
    assert answer.status_code == 200
    root = ET.fromstring(answer.content)
    response = root.find(f"{{{MOBILESYNC_SCHEMA}}}Response")
    assert response is not None
    assert response.findtext(f".//{{{MOBILESYNC_SCHEMA}}}ErrorCode") == "601"


def test_autodiscover_unknown_schema_is_601_and_not_echoed(service: Service) -> None:
    answer = service.post("/autodiscover/autodiscover.xml", pox_request("fred@example.org", "urn:evil:&lt;x&gt;"))
    assert answer.status_code == 200  # as Exchange answers a 601
    assert answer.headers["Content-Type"] == "text/xml; charset=utf-8"
    assert error_code(answer) == "601"
    assert b"evil" not in answer.content


def test_autodiscover_unhosted_domain_is_404_error_document(service: Service) -> None:
    answer = service.post("/autodiscover/autodiscover.xml", pox_request("fred@other.test"))
    assert answer.status_code == 404
    assert error_code(answer) == "500"


def test_autodiscover_body_cap_is_413(service: Service) -> None:
    padding = b"<!--" + b"x" * 20000 + b"-->"
    answer = service.post("/autodiscover/autodiscover.xml", padding + pox_request("fred@example.org"))
    assert answer.status_code == 413
    assert error_code(answer) == "600"


def test_autodiscover_chunked_body_over_cap_is_413(service: Service) -> None:
    chunks = (b"<!--" + b"x" * 1000 + b"-->" for _ in range(20))
    answer = service.post("/autodiscover/autodiscover.xml", chunks)  # type: ignore[arg-type]
    assert answer.status_code == 413


def pox_servers(content: bytes) -> list[dict[str, str | None]]:
    """Each Protocol of a POX answer: what Delta Chat and Thunderbird read from it."""
    root = ET.fromstring(content)
    fields = ("Type", "Server", "Port", "SSL", "Encryption", "LoginName")
    return [{field: p.findtext(f"{NS}{field}") for field in fields} for p in root.iter(f"{NS}Protocol")]


@pytest.mark.parametrize("path", ["/autodiscover/autodiscover.xml", "/Autodiscover/Autodiscover.xml"])
@pytest.mark.parametrize("host", ["autodiscover.example.org", "example.org", "AUTODISCOVER.Example.ORG:443"])
def test_autodiscover_get_on_a_domains_name_is_its_document_for_any_address(
    service: Service, path: str, host: str
) -> None:
    """Delta Chat GETs https://<d>/autodiscover/... and https://autodiscover.<d>/... (docs/clients.md 2.7).

    The servers are the POST answer's; the login, which the example config
    builds from the address, is left out: a GET names no address.
    """
    answer = service.get(path, host=host)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "text/xml; charset=utf-8"
    posted = service.post("/autodiscover/autodiscover.xml", pox_request("fred@example.org"))
    expected = [server | {"LoginName": None} for server in pox_servers(posted.content)]
    assert [server["LoginName"] for server in pox_servers(posted.content)] == ["fred@example.org"] * len(expected)
    assert pox_servers(answer.content) == expected
    assert b"%EMAIL" not in answer.content and b"this answers a GET" in answer.content


@pytest.mark.parametrize(
    "host",
    [
        "autoconfig.example.net",  # the public host name: where a hoster's http redirect points Thunderbird
        "autoconfig.example.org",
        "autodiscover.unhosted.test",
        "unhosted.test",
        "autodiscover.",
        "",
        "[::1]:443",
    ],
)
def test_autodiscover_get_elsewhere_is_405_with_allow_post(service: Service, host: str) -> None:
    """Thunderbird's http->https redirect dance needs a non-2xx here (docs/clients.md section 2.7)."""
    answer = service.get("/autodiscover/autodiscover.xml", host=host)
    assert answer.status_code == 405
    assert answer.headers["Allow"] == "POST"


def test_autodiscover_get_keeps_a_login_that_names_no_address(make_service) -> None:  # type: ignore[no-untyped-def]
    """Only what depends on the address is left out: a literal login and one from the domain stay."""
    text = (
        configs.service("autoconfig.provider.test")
        + '[[provider]]\nid = "provider.test"\ndisplay_name = "Shop Mail"\ndomains = ["shop.test"]\n\n'
        + configs.server("incoming", "imap", "imap.shop.test", 993, "SSL", "{localpart}")
        + configs.server("incoming", "pop3", "pop.shop.test", 995, "SSL", "mailbox-{domain}")
        + configs.server("outgoing", "smtp", "smtp.shop.test", 465, "SSL", "{localpart}@{domain}")
    )
    service = make_service(text)
    answer = service.get("/autodiscover/autodiscover.xml", host="shop.test")
    assert answer.status_code == 200
    assert [(s["Server"], s["LoginName"]) for s in pox_servers(answer.content)] == [
        ("imap.shop.test", None),
        ("pop.shop.test", "mailbox-shop.test"),
        ("smtp.shop.test", None),
    ]


def test_autodiscover_basic_auth_is_accepted_and_not_logged(service: Service) -> None:
    # Thunderbird sends the password as Basic auth, even over http.
    secret = "s3cret-Passw0rd"
    before = service.log().count('"POST /autodiscover/autodiscover.xml"')
    answer = service.post("/autodiscover/autodiscover.xml", pox_request("fred@example.org"), auth=("fred", secret))
    assert answer.status_code == 200
    log = service.wait_for(
        lambda: (text := service.log()).count('"POST /autodiscover/autodiscover.xml"') > before and text,
        what="the access log line",
    )
    assert secret not in log
    assert "fred@example.org" not in log
    assert "f***@example.org" in log


# -- Autodiscover v2 JSON ------------------------------------------------------


@pytest.mark.parametrize("protocol", ["AutodiscoverV1", "autodiscoverv1", "Autodiscoverv1", "AUTODISCOVERV1"])
@pytest.mark.parametrize("domain", HOSTED)
def test_autodiscover_json(service: Service, protocol: str, domain: str) -> None:
    expected = {"Protocol": "AutodiscoverV1", "Url": f"https://autodiscover.{domain}/autodiscover/autodiscover.xml"}
    query = service.get("/autodiscover/autodiscover.json", params={"Email": f"fred@{domain}", "Protocol": protocol})
    path_form = service.get(f"/autodiscover/autodiscover.json/v1.0/fred@{domain}", params={"Protocol": protocol})
    upper = service.get(f"/Autodiscover/Autodiscover.json/v1.0/Fred@{domain.upper()}", params={"Protocol": protocol})
    for answer in (query, path_form, upper):
        assert answer.status_code == 200
        assert answer.headers["Content-Type"].startswith("application/json")
        assert answer.json() == expected


@pytest.mark.parametrize("protocol", ["ActiveSync", "Ews", "", "<script>"])
def test_autodiscover_json_invalid_protocol(service: Service, protocol: str) -> None:
    answer = service.get("/autodiscover/autodiscover.json", params={"Email": "fred@example.org", "Protocol": protocol})
    assert answer.status_code == 400
    assert answer.json() == {
        "ErrorCode": "InvalidProtocol",
        "ErrorMessage": f"The given protocol value '{protocol}' is invalid. Supported values are 'AutodiscoverV1'",
    }


def test_autodiscover_json_unhosted_and_invalid_address(service: Service) -> None:
    unhosted = service.get("/autodiscover/autodiscover.json/v1.0/a@other.test", params={"Protocol": "AutodiscoverV1"})
    assert unhosted.status_code == 404 and unhosted.json()["ErrorCode"] == "NotFound"
    invalid = service.get("/autodiscover/autodiscover.json", params={"Email": "nobody", "Protocol": "AutodiscoverV1"})
    assert invalid.status_code == 400 and invalid.json()["ErrorCode"] == "InvalidUser"


# -- health, unknown paths, logs -----------------------------------------------


def test_healthz(service: Service) -> None:
    answer = service.get("/healthz")
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "ok"
    assert body["domains"] == 3
    assert body["config_error"] is None
    assert body["generation"].startswith("gen-")
    assert body["rendered_at"].endswith("Z")


@pytest.mark.parametrize(
    "path", ["/static_xml/current/example.org/mail/config-v1.1.xml", "/mail/../manifest.json", "/x" * 300]
)
def test_unknown_paths_are_404(service: Service, path: str) -> None:
    answer = service.get(path, host="autoconfig.example.org")
    assert answer.status_code == 404
    assert b"Traceback" not in answer.content


def test_access_log_masks_addresses_and_omits_query(service: Service) -> None:
    service.get("/mail/config-v1.1.xml", host="127.0.0.1", params={"emailaddress": "wilma.secret@example.org"})
    service.get("/autodiscover/autodiscover.json/v1.0/barney.secret@example.com", params={"Protocol": "x"})
    log = service.wait_for(lambda: "b***@example.com" in (text := service.log()) and text, what="access log")
    assert "secret" not in log
    assert "emailaddress" not in log
    assert "w***@example.org" in log
    access = [line for line in log.splitlines() if "mailautoconf.access" in line]
    assert any('"GET /mail/config-v1.1.xml" 200' in line for line in access)


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/healthz", None, 200),
        ("/autodiscover/autodiscover.json", {"Email": "fred@example.org", "Protocol": "AutodiscoverV1"}, 200),
        ("/autodiscover/autodiscover.json/v1.0/fred@example.org", {"Protocol": "AutodiscoverV1"}, 200),
        ("/Autodiscover/Autodiscover.json/v1.0/Fred@EXAMPLE.org", {"Protocol": "autodiscoverv1"}, 200),
        ("/autodiscover/autodiscover.json", {"Email": "fred@example.org", "Protocol": 'Ews"}'}, 400),
        ("/autodiscover/autodiscover.json", {"Email": "fred@example.org"}, 400),
        ("/autodiscover/autodiscover.json", {"Email": 'no"body', "Protocol": "AutodiscoverV1"}, 400),
        ("/autodiscover/autodiscover.json/v1.0/fred@other.test", {"Protocol": "AutodiscoverV1"}, 404),
    ],
)
def test_json_answers_are_json(service: Service, path: str, params: dict[str, str] | None, status: int) -> None:
    answer = service.get(path, params=params)
    assert answer.status_code == status
    assert answer.headers["Content-Type"] == "application/json; charset=utf-8"
    body = json.loads(answer.content.decode("utf-8"))  # strict: no BOM, no trailing garbage
    assert isinstance(body, dict) and body
    if status >= 400:
        assert set(body) == {"ErrorCode", "ErrorMessage"}


# -- Evolution ------------------------------------------------------------------


@pytest.mark.parametrize("path", AUTOCONFIG_PATHS)
def test_evolution_gets_only_the_first_server_of_each_type(service: Service, path: str) -> None:
    # Evolution keeps the last server of each type it reads (docs/clients.md section 1.8).
    answer = service.get(
        path,
        host="autoconfig.example.org",
        params={"emailaddress": "EVOLUTIONUSER@example.org", "emailmd5": "0" * 32},
        headers={"User-Agent": "Evolution/3.46.4-2+deb12u1"},
    )
    assert answer.status_code == 200
    assert answer.headers["Vary"] == "User-Agent"
    assert servers(answer.content) == [EXPECTED_SERVERS[0], EXPECTED_SERVERS[2], EXPECTED_SERVERS[4]]
    assert listed_domains(answer.content) == ["example.org"]
    others = service.get(path, host="autoconfig.example.org", headers={"User-Agent": "Mozilla/5.0 Thunderbird/153"})
    assert servers(others.content) == EXPECTED_SERVERS
    assert others.headers["ETag"] != answer.headers["ETag"]
