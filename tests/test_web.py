"""The web layer's branches, in process: conditional requests, HEAD, the starting state, vanished files, errors.

The app runs on a store filled by a real render (support/app.py). What the
real service under waitress answers end to end stays in test_service.py.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from support.app import App
from support.pox import MOBILESYNC_SCHEMA
from support.pox import pox_request
from werkzeug.wrappers import Request

from mailautoconf.render import OUTLOOK_POX
from mailautoconf.render import PACC
from mailautoconf.render import THUNDERBIRD
from mailautoconf.render.templates import Template
from mailautoconf.serve.documents import query_argument
from mailautoconf.serve.web import create_app
from mailautoconf.tree.store import Store
from mailautoconf.tree.store import TemplateEntry
from mailautoconf.tree.store import http_date
from mailautoconf.tree.store import load_generation

PATH = "/mail/config-v1.1.xml"
POX_PATH = "/autodiscover/autodiscover.xml"
JSON_PATH = "/autodiscover/autodiscover.json"
ENVELOPE = "{http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006}"
OUTLOOK = "{http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a}"


def current_etag(app: App) -> str:
    answer = app.get(PATH)
    assert answer.status_code == 200
    return answer.headers["ETag"]


def post_pox(app: App, body: bytes):  # type: ignore[no-untyped-def]
    return app.client.post(POX_PATH, data=body, headers={"Content-Type": "text/xml; charset=utf-8"})


# -- If-None-Match ---------------------------------------------------------------


def test_star_matches_any_current_document(app: App) -> None:
    answer = app.get(PATH, **{"If-None-Match": "*"})
    assert answer.status_code == 304
    assert answer.data == b""


@pytest.mark.parametrize("spelling", ['"a", {tag}', '"a",{tag}', '{tag} , "b"', '"a", "b",  {tag}  '])
def test_a_list_containing_the_etag_is_304(app: App, spelling: str) -> None:
    tag = current_etag(app)
    answer = app.get(PATH, **{"If-None-Match": spelling.format(tag=tag)})
    assert answer.status_code == 304
    assert answer.headers["ETag"] == tag


@pytest.mark.parametrize("spelling", ['"a", "b"', '"a"', '""', "{bare}", '"{bare}x"'])
def test_a_list_without_the_etag_is_200(app: App, spelling: str) -> None:
    tag = current_etag(app)
    answer = app.get(PATH, **{"If-None-Match": spelling.format(bare=tag.strip('"'))})
    assert answer.status_code == 200
    assert answer.data.startswith(b"<?xml")


@pytest.mark.parametrize("spelling", ["W/{tag}", '"a", W/{tag}'])
def test_a_weak_tag_matches_by_weak_comparison(app: App, spelling: str) -> None:
    # RFC 9110 section 13.1.2: If-None-Match uses the weak comparison, W/"x" matches "x".
    tag = current_etag(app)
    assert app.get(PATH, **{"If-None-Match": spelling.format(tag=tag)}).status_code == 304


def test_a_weak_tag_of_another_document_is_200(app: App) -> None:
    assert app.get(PATH, **{"If-None-Match": 'W/"0123"'}).status_code == 200


def test_etag_of_another_domain_is_200(app: App) -> None:
    tag = current_etag(app)
    assert app.get(PATH, host="autoconfig.example.net", **{"If-None-Match": tag}).status_code == 200


def test_304_carries_etag_cache_control_vary_and_no_body(app: App) -> None:
    full = app.get(PATH)
    answer = app.get(PATH, **{"If-None-Match": full.headers["ETag"]})
    assert answer.status_code == 304
    assert answer.data == b""
    # RFC 9110 section 15.4.5: what a 200 would carry of ETag, Cache-Control and Vary.
    for header in ("ETag", "Cache-Control", "Vary"):
        assert answer.headers[header] == full.headers[header], header
    assert "Content-Type" not in answer.headers


# -- Last-Modified / If-Modified-Since --------------------------------------------


def test_last_modified_is_the_mtime_of_the_published_file(app: App) -> None:
    # nginx serves the same file with its own mtime: both must say the same.
    on_disk = app.output / "current" / "example.org" / THUNDERBIRD
    answer = app.get(PATH)
    assert answer.headers["Last-Modified"] == http_date(int(os.stat(on_disk).st_mtime))
    assert answer.data == on_disk.read_bytes()


def test_if_modified_since_equal_is_304_and_other_dates_200(app: App) -> None:
    modified = app.get(PATH).headers["Last-Modified"]
    assert app.get(PATH, **{"If-Modified-Since": modified}).status_code == 304
    assert app.get(PATH, **{"If-Modified-Since": "Thu, 01 Jan 1970 00:00:00 GMT"}).status_code == 200
    assert app.get(PATH, **{"If-Modified-Since": "not a date"}).status_code == 200


def test_if_none_match_wins_over_if_modified_since(app: App) -> None:
    # RFC 9110 section 13.1.3: a server that evaluates If-None-Match ignores If-Modified-Since.
    modified = app.get(PATH).headers["Last-Modified"]
    answer = app.get(PATH, **{"If-None-Match": '"stale"', "If-Modified-Since": modified})
    assert answer.status_code == 200


# -- HEAD ------------------------------------------------------------------------


def test_head_has_the_headers_of_get_and_no_body(app: App) -> None:
    full = app.get(PATH)
    head = app.client.head(PATH, headers={"Host": "autoconfig.example.org"})
    assert head.status_code == 200
    assert head.data == b""
    for header in ("ETag", "Last-Modified", "Content-Type", "Content-Length", "Vary"):
        assert head.headers[header] == full.headers[header], header
    assert int(head.headers["Content-Length"]) == len(full.data)


def test_conditional_head_is_304(app: App) -> None:
    tag = current_etag(app)
    head = app.client.head(PATH, headers={"Host": "autoconfig.example.org", "If-None-Match": tag})
    assert head.status_code == 304


# -- before the first render -----------------------------------------------------


@pytest.fixture
def starting() -> App:
    store = Store()
    return App(Path("/nonexistent"), Path("/nonexistent"), store, create_app(store).test_client())


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", PATH), ("GET", "/.well-known/autoconfig/mail/config-v1.1.xml"), ("POST", POX_PATH),
     ("GET", JSON_PATH + "?Email=fred@example.org&Protocol=AutodiscoverV1")],
)  # fmt: skip
def test_nothing_rendered_yet_is_503_with_retry_after(starting: App, method: str, path: str) -> None:
    answer = starting.client.open(
        path, method=method, data=pox_request("fred@example.org"), headers={"Host": "autoconfig.example.org"}
    )
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "1"
    assert answer.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert answer.text == "starting: no configuration rendered yet\n"


def test_healthz_while_starting(starting: App) -> None:
    answer = starting.get("/healthz")
    assert answer.status_code == 503
    body = answer.get_json()
    assert body["status"] == "starting"
    assert body["generation"] is None and body["domains"] == 0


def test_autodiscover_get_is_not_2xx_while_starting(starting: App) -> None:
    """Thunderbird's redirect dance must not end on a GET (docs/clients.md section 2.7), not even now."""
    for host in ("autodiscover.example.org", "autoconfig.example.org"):
        answer = starting.get(POX_PATH, host=host)
        assert answer.status_code == 503


# -- the last good tree on disk: files that vanish -----------------------------


@pytest.fixture
def from_disk(app: App) -> App:
    """The same render, answered from disk as after a start with a broken config."""
    generation = load_generation(str(app.output))
    assert generation is not None and set(generation.domains) == {"example.net", "example.org"}
    store = Store(generation)
    return App(app.config_path, app.output, store, create_app(store).test_client())


def test_disk_answers_equal_template_answers(app: App, from_disk: App) -> None:
    for path in (PATH, JSON_PATH + "?Email=fred@example.org&Protocol=AutodiscoverV1"):
        assert from_disk.get(path).data == app.get(path).data, path
    address = "f&red<x>@example.org"
    escaped = address.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    disk, templates = post_pox(from_disk, pox_request(escaped)), post_pox(app, pox_request(escaped))
    assert disk.status_code == templates.status_code == 200
    assert disk.data == templates.data
    assert {element.text for element in ET.fromstring(disk.data).iter(f"{OUTLOOK}LoginName")} == {address}


@pytest.mark.parametrize(
    ("document", "method", "path"),
    [
        (THUNDERBIRD, "GET", PATH),
        (OUTLOOK_POX, "POST", POX_PATH),
        ("autodiscover/autodiscover.json", "GET", JSON_PATH + "?Email=fred@example.org&Protocol=AutodiscoverV1"),
    ],
)
def test_a_vanished_file_is_503_not_500(from_disk: App, document: str, method: str, path: str) -> None:
    (from_disk.output / "current" / "example.org" / document).unlink()
    answer = from_disk.client.open(
        path, method=method, data=pox_request("fred@example.org"), headers={"Host": "autoconfig.example.org"}
    )
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "1"
    assert answer.text == "these settings are being replaced; try again\n"
    # Only the domain whose file vanished: another domain is still answered.
    other = path.replace("fred@example.org", "fred@example.net")
    still = from_disk.client.open(
        other, method=method, data=pox_request("fred@example.net"), headers={"Host": "autoconfig.example.net"}
    )
    assert still.status_code == 200


# -- Autodiscover POX: the request forms and the error documents ----------------


def pox_error(answer) -> tuple[str | None, str | None, str | None]:  # type: ignore[no-untyped-def]
    error = ET.fromstring(answer.data).find(f"{ENVELOPE}Response/{ENVELOPE}Error")
    assert error is not None, answer.data
    return error.findtext(f"{ENVELOPE}ErrorCode"), error.findtext(f"{ENVELOPE}Message"), error.get("Id")


def test_request_without_schema_is_answered_as_outlook(app: App) -> None:
    body = b"<Autodiscover><Request><EMailAddress> fred@example.org </EMailAddress></Request></Autodiscover>"
    answer = post_pox(app, body)
    assert answer.status_code == 200
    assert [element.text for element in ET.fromstring(answer.data).iter(f"{OUTLOOK}LoginName")] == [
        "fred@example.org",
        "fred@example.org",
    ]


@pytest.mark.parametrize(
    ("body", "status", "code", "message"),
    [
        (b"not xml", 400, "600", "Invalid Request"),
        (b"<Autodiscover><Request/></Autodiscover>", 400, "600", "Invalid Request"),
        (pox_request("fred@"), 400, "600", "Invalid Request"),
        (pox_request("fred@other.test"), 404, "500", "The e-mail address cannot be found."),
    ],
)
def test_error_documents(app: App, body: bytes, status: int, code: str, message: str) -> None:
    answer = post_pox(app, body)
    assert answer.status_code == status
    assert answer.headers["Content-Type"] == "text/xml; charset=utf-8"
    found_code, found_message, error_id = pox_error(answer)
    assert (found_code, found_message) == (code, message)
    assert error_id is not None and error_id.isdigit()


def test_mobilesync_601_names_the_schema_asked_for(app: App) -> None:
    answer = post_pox(app, pox_request("fred@example.org", MOBILESYNC_SCHEMA))
    assert answer.status_code == 200
    response = ET.fromstring(answer.data).find(f"{{{MOBILESYNC_SCHEMA}}}Response")
    assert response is not None
    assert response.findtext(f"{{{MOBILESYNC_SCHEMA}}}Error/{{{MOBILESYNC_SCHEMA}}}ErrorCode") == "601"


# -- errors ----------------------------------------------------------------------


def test_an_unexpected_error_is_a_plain_500(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(candidates: object) -> None:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(app.store, "lookup", broken)
    answer = app.get(PATH)
    assert answer.status_code == 500
    assert answer.text == "500 Internal Server Error\n"
    assert answer.headers["Content-Type"] == "text/plain; charset=utf-8"


def test_unknown_method_is_a_plain_405(app: App) -> None:
    answer = app.client.delete(PATH, headers={"Host": "autoconfig.example.org"})
    assert answer.status_code == 405
    assert answer.text == "405 Method Not Allowed\n"
    assert "GET" in answer.headers["Allow"]


# -- the query string, read without request.args -------------------------------------

_QUERY_PIECES = st.sampled_from(
    [
        "emailaddress",
        "EmailAddress",
        "email%61ddress",
        "=",
        "&",
        "+",
        ";",
        "%",
        "%2",
        "%zz",
        "%40",
        "%C3%A9",
        "%ff",
        *"fred@example.org x",
    ]
)


@settings(max_examples=2000, derandomize=True, deadline=None)
@given(st.lists(_QUERY_PIECES, max_size=24).map("".join))
def test_query_argument_reads_the_query_as_request_args_does(query: str) -> None:
    """documents.query_argument replaces request.args on the hot path: it must find the same first value."""
    environ = {"QUERY_STRING": query, "REQUEST_METHOD": "GET", "SERVER_NAME": "x", "SERVER_PORT": "80"}
    environ |= {"wsgi.url_scheme": "http"}
    assert query_argument(query, "emailaddress") == Request(environ).args.get("emailaddress", "")


def test_template_etags_follow_the_filled_bytes() -> None:
    """A TemplateEntry's ETag comes from the template's digest and the names: equal bytes, equal tags."""
    template = Template.split(b"<d>domain-stand-in.mailautoconf.invalid</d>")
    edited = Template.split(b"<d>domain-stand-in.mailautoconf.invalid </d>")
    entry = TemplateEntry({PATH: template}, b"example.org", b"example.org", 0)
    content, tag = entry.document(PATH)
    assert content == b"<d>example.org</d>"
    assert TemplateEntry({PATH: Template(template.parts)}, b"example.org", b"example.org", 1).document(PATH)[1] == tag
    others = [
        TemplateEntry({PATH: edited}, b"example.org", b"example.org", 0),
        TemplateEntry({PATH: template}, b"example.net", b"example.net", 0),
        TemplateEntry({PATH: template}, b"example.or", b"gexample.org", 0),
    ]
    tags = {other.document(PATH)[1] for other in others}
    assert len(tags) == 3 and tag not in tags
    assert tag.startswith('"') and tag.endswith('"')


def test_a_tree_from_an_older_release_is_still_served(app: App) -> None:
    """Folders without the documents a newer release added (PACC, say) are served from disk; those documents 503."""
    for domain in ("example.net", "example.org"):
        (app.output / "current" / domain / PACC).unlink()
    generation = load_generation(str(app.output))
    assert generation is not None and set(generation.domains) == {"example.net", "example.org"}
    client = create_app(Store(generation)).test_client()
    assert client.get(PATH, headers={"Host": "autoconfig.example.org"}).status_code == 200
    answer = client.get("/.well-known/user-agent-configuration.json", headers={"Host": "ua-auto-config.example.org"})
    assert answer.status_code == 503
