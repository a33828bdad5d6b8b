"""The web layer as an attacker sees it (issue 11): reflected input, sniffing, odd encodings, odd Hosts, OPTIONS.

In process with the ``app`` fixture where Flask alone decides; end to end
under waitress where the answer depends on what waitress passes on (the Host
header) or on what the service logs.
"""

from __future__ import annotations

import codecs
import json
import socket
import xml.etree.ElementTree as ET

import pytest
from support.app import App
from support.pox import pox_request

PATH = "/mail/config-v1.1.xml"
POX_PATH = "/autodiscover/autodiscover.xml"
JSON_PATH = "/autodiscover/autodiscover.json"
ENVELOPE = "{http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006}"
OUTLOOK = "{http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a}"
INNER = "<Autodiscover><Request><EMailAddress>fred@example.org</EMailAddress></Request></Autodiscover>"


def post_pox(app: App, body: bytes, host: str = "autodiscover.example.org"):  # type: ignore[no-untyped-def]
    return app.client.post(POX_PATH, data=body, headers={"Host": host, "Content-Type": "text/xml; charset=utf-8"})


def error_code(body: bytes) -> str | None:
    return ET.fromstring(body).findtext(f"{ENVELOPE}Response/{ENVELOPE}Error/{ENVELOPE}ErrorCode")


# -- 1. reflected input is escaped for its format ----------------------------------


@pytest.mark.parametrize("protocol", ["<script>alert(1)</script>", "a&b", "</x><img src=x>", "\u2028"])
def test_json_error_escapes_markup_characters(app: App, protocol: str) -> None:
    answer = app.get(JSON_PATH + "?Protocol=" + protocol.replace("&", "%26"))
    assert answer.status_code == 400
    for raw in (b"<", b">", b"&"):
        assert raw not in answer.data, answer.data
    assert protocol in answer.json["ErrorMessage"]  # still the same JSON once parsed
    assert answer.data.isascii()


def test_v2_and_healthz_json_hold_no_markup_characters(app: App) -> None:
    for path in ("/autodiscover/autodiscover.json/v1.0/a<b>@example.org?Protocol=AutodiscoverV1", "/healthz"):
        answer = app.get(path)
        assert not {b"<", b">", b"&"} & {bytes([byte]) for byte in answer.data}, answer.data
        json.loads(answer.data)


def test_the_escaped_json_decodes_to_the_same_value() -> None:
    from mailautoconf.render import outlook

    body = outlook.json_error("InvalidProtocol", "<&>'\"\u2028")
    assert body == b'{"ErrorCode":"InvalidProtocol","ErrorMessage":"\\u003c\\u0026\\u003e\'\\"\\u2028"}'
    assert json.loads(body)["ErrorMessage"] == "<&>'\"\u2028"


def test_the_settings_page_escapes_the_address_and_the_host(app: App) -> None:
    answer = app.get('/?emailaddress="><script>x</script>@example.org', host='autoconfig.example.org"><b>')
    assert b"<script>x" not in answer.data and b'"><b>' not in answer.data


# -- 2. X-Content-Type-Options: nosniff on every answer -----------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", PATH, 200),
        ("GET", PATH + "?emailaddress=fred@other.test", 200),  # the Host's document
        ("GET", "/mail/config-v1.1.xml", 200),
        ("GET", "/email.mobileconfig?emailaddress=fred@example.org", 200),
        ("GET", "/email.mobileconfig", 400),
        ("GET", "/", 200),
        ("GET", "/?emailaddress=fred@example.org", 200),
        ("GET", "/healthz", 200),
        ("GET", JSON_PATH + "?Protocol=AutodiscoverV1&Email=fred@example.org", 200),
        ("GET", JSON_PATH + "?Protocol=x", 400),
        ("GET", POX_PATH, 405),
        ("GET", "/nothing-here", 404),  # werkzeug's NotFound
        ("DELETE", PATH, 405),  # werkzeug's MethodNotAllowed
        ("OPTIONS", PATH, 405),
        ("HEAD", PATH, 200),
        ("POST", POX_PATH, 400),
    ],
)
def test_every_answer_says_nosniff(app: App, method: str, path: str, status: int) -> None:
    answer = app.client.open(path, method=method, headers={"Host": "autoconfig.example.org"})
    assert answer.status_code == status
    assert answer.headers.get("X-Content-Type-Options") == "nosniff"
    assert answer.headers.getlist("X-Content-Type-Options") == ["nosniff"]  # once, also on the page


def test_304_413_and_500_say_nosniff(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    tag = app.get(PATH).headers["ETag"]
    not_modified = app.get(PATH, **{"If-None-Match": tag})
    assert not_modified.status_code == 304
    too_large = post_pox(app, b"x" * 9000)
    assert too_large.status_code == 413

    def broken(candidates: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(app.store, "lookup", broken)
    failed = app.get(PATH)
    assert failed.status_code == 500
    for answer in (not_modified, too_large, failed):
        assert answer.headers.get("X-Content-Type-Options") == "nosniff"


# -- 3. Autodiscover bodies in encodings expat or Python cannot read ----------------


@pytest.mark.parametrize(
    "body",
    [
        f'<?xml version="1.0" encoding="x-nonsense"?>{INNER}'.encode(),
        f'<?xml version="1.0" encoding="rot13"?>{INNER}'.encode(),  # a codec, not a text encoding
        f'<?xml version="1.0" encoding="base64"?>{INNER}'.encode(),
        f'<?xml version="1.0" encoding="mbcs"?>{INNER}'.encode(),  # Windows only
        f'<?xml version="1.0" encoding="Shift_JIS"?>{INNER}'.encode("shift_jis"),  # multi-byte: expat refuses
        f'<?xml version="1.0" encoding="EUC-JP"?>{INNER}'.encode(),
        f'<?xml version="1.0" encoding="UTF-32"?>{INNER}'.encode(),
        codecs.BOM_UTF8 + f'<?xml version="1.0" encoding="utf-16"?>{INNER}'.encode(),  # BOM contradicts
        codecs.BOM_UTF16_LE + f'<?xml version="1.0" encoding="utf-8"?>{INNER}'.encode("utf-16-le"),
        codecs.BOM_UTF32_LE + INNER.encode("utf-32-le"),
        b'<?xml version="1.0"?>\xff\xfe\xfd' + INNER.encode(),
    ],
)
def test_unreadable_encodings_are_600(app: App, body: bytes) -> None:
    answer = post_pox(app, body)
    assert answer.status_code == 400
    assert error_code(answer.data) == "600"


@pytest.mark.parametrize(
    "body",
    [
        f'<?xml version="1.0" encoding="utf-16"?>{INNER}'.encode("utf-16"),  # with BOM
        f'<?xml version="1.0" encoding="utf-16"?>{INNER}'.encode("utf-16-le"),  # no BOM: expat sees "<\0"
        f'<?xml version="1.0" encoding="ISO-8859-1"?>{INNER}'.encode("latin-1"),
        f'<?xml version="1.0" encoding="windows-1252"?>{INNER}'.encode("cp1252"),
    ],
)
def test_readable_encodings_get_the_settings(app: App, body: bytes) -> None:
    answer = post_pox(app, body)
    assert answer.status_code == 200
    names = [element.text for element in ET.fromstring(answer.data).iter(f"{OUTLOOK}LoginName")]
    assert names[0] == "fred@example.org"


def test_an_unknown_encoding_is_600_without_traceback_end_to_end(make_service) -> None:  # type: ignore[no-untyped-def]
    service = make_service()
    answer = service.post(POX_PATH, f'<?xml version="1.0" encoding="x-nonsense"?>{INNER}'.encode())
    assert answer.status_code == 400
    assert error_code(answer.content) == "600"
    service.stop()
    log = service.log()
    assert "Traceback" not in log and "ERROR" not in log and "LookupError" not in log


# -- 4. a Host with an empty label --------------------------------------------------

ODD_HOSTS = ["autoconfig..example.org", ".", "..", "autoconfig.example.org..", "x" * 64 + ".example.org", "a" * 400]


@pytest.mark.parametrize("host", ODD_HOSTS)
def test_odd_host_is_answered_from_the_address(app: App, host: str) -> None:
    answer = app.get(PATH + "?emailaddress=fred@example.org", host=host)
    assert answer.status_code == 200
    assert b"<domain>example.org</domain>" in answer.data


@pytest.mark.parametrize("host", [host for host in ODD_HOSTS if host != "autoconfig.example.org.."])
def test_odd_host_without_address_is_the_normal_404(app: App, host: str) -> None:
    answer = app.get(PATH, host=host)
    assert answer.status_code == 404
    assert answer.text == "no mail settings for this domain\n"


def test_trailing_dots_still_name_the_domain(app: App) -> None:
    # names.candidate_domains drops the root label's dots, so werkzeug's BadHost hid a hosted domain.
    answer = app.get(PATH, host="autoconfig.example.org..")
    assert answer.status_code == 200
    assert b"<domain>example.org</domain>" in answer.data


@pytest.mark.parametrize("host", ODD_HOSTS)
def test_odd_host_pox_is_answered_from_the_body(app: App, host: str) -> None:
    assert post_pox(app, pox_request("fred@example.org"), host).status_code == 200
    bad = post_pox(app, b"not xml", host)
    assert bad.status_code == 400 and error_code(bad.data) == "600"


def test_odd_host_page_json_and_profile(app: App) -> None:
    host = "autoconfig..example.org"
    assert app.get("/?emailaddress=fred@example.org", host=host).status_code == 200
    assert app.get(JSON_PATH + "?Protocol=AutodiscoverV1&Email=fred@example.org", host=host).status_code == 200
    profile = app.get("/email.mobileconfig?emailaddress=fred@example.org", host=host)
    assert profile.status_code == 200


def raw_request(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(request)
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize("host", ["autoconfig..example.org", ".", "x" * 64 + ".example.org"])
def test_odd_host_end_to_end(make_service, host: str) -> None:  # type: ignore[no-untyped-def]
    service = make_service()
    by_address = service.get(PATH, host=host, params={"emailaddress": "fred@example.org"})
    assert by_address.status_code == 200
    assert b"<domain>example.org</domain>" in by_address.content
    assert service.get(PATH, host=host).status_code == 404
    assert service.post(POX_PATH, pox_request("fred@example.org"), headers={"Host": host}).status_code == 200
    # Sent by hand: the Host exactly as written, with nothing normalised on the way.
    raw = raw_request(
        service.port,
        f"GET {PATH}?emailaddress=fred@example.org HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode(),
    )
    assert raw.startswith(b"HTTP/1.1 200 "), raw[:200]
    assert b"\r\nx-content-type-options: nosniff\r\n" in raw.lower()


# -- 5. OPTIONS ----------------------------------------------------------------------


@pytest.mark.parametrize("path", [PATH, "/", "/healthz", JSON_PATH, POX_PATH, "/email.mobileconfig"])
@pytest.mark.parametrize("host", ["autoconfig.example.org", "evil.test", "autoconfig..example.org"])
def test_options_is_405_with_allow(app: App, path: str, host: str) -> None:
    answer = app.client.options(path, headers={"Host": host})
    assert answer.status_code == 405
    allowed = {method.strip() for method in answer.headers["Allow"].split(",")}
    assert "OPTIONS" not in allowed
    assert allowed <= {"GET", "HEAD", "POST"} and allowed


def test_options_star_and_unknown_paths_are_not_200(app: App) -> None:
    assert app.client.options("/nothing", headers={"Host": "evil.test"}).status_code == 404
    star = app.client.open("*", method="OPTIONS", headers={"Host": "evil.test"})
    assert (star.status_code, star.data) == (404, b"404 Not Found\n")  # an odd Host: 404 plain text (README)


def test_options_end_to_end(make_service) -> None:  # type: ignore[no-untyped-def]
    service = make_service()
    for host in ("autoconfig.example.org", "evil.test"):
        answer = service.http.options(service.base + PATH, headers={"Host": host}, timeout=10)
        assert answer.status_code == 405 and "GET" in answer.headers["Allow"]
    star = raw_request(service.port, b"OPTIONS * HTTP/1.1\r\nHost: evil.test\r\nConnection: close\r\n\r\n")
    assert not star.startswith(b"HTTP/1.1 2"), star[:200]


# -- 6. If-None-Match compares weakly ----------------------------------------------


@pytest.mark.parametrize(
    ("spelling", "status"), [("W/{tag}", 304), (" W/{tag} ", 304), ("w/{tag}", 200), ("W/W/{tag}", 200)]
)
def test_weak_prefix_is_case_sensitive_and_single(app: App, spelling: str, status: int) -> None:
    # RFC 9110 section 8.8.3: weak = %s"W/", case-sensitive, once.
    tag = app.get(PATH).headers["ETag"]
    assert app.get(PATH, **{"If-None-Match": spelling.format(tag=tag)}).status_code == status
