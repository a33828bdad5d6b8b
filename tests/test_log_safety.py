"""Log lines clients cannot forge, a log queue that stays bounded, Autodiscover paths in any case (issue 11)."""

from __future__ import annotations

import io
import logging
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import pytest
from support.app import App

from mailautoconf.serve import logs
from mailautoconf.serve import wsgi

BREAKS = ["\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]


class Blocking(io.StringIO):
    """A stderr nobody reads: write waits until released."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def write(self, text: str) -> int:
        self.release.wait(30)
        return super().write(text)


def start_logging(stream: io.StringIO) -> Iterator[io.StringIO]:
    """logs.setup_logging onto ``stream``; pytest's own handlers and level restored after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    logs.setup_logging(stream=stream)
    try:
        yield stream
    finally:
        if isinstance(stream, Blocking):
            stream.release.set()
        if logs._writer is not None:
            logs._writer.stop()
            logs._writer = None
        root.handlers[:] = handlers
        root.setLevel(level)


@pytest.fixture
def written() -> Iterator[io.StringIO]:
    yield from start_logging(io.StringIO())


def flushed(stream: io.StringIO) -> list[str]:
    """Every line written so far: the writer is stopped (it writes what is queued first)."""
    assert logs._writer is not None
    logs._writer.stop()
    logs._writer = None
    return stream.getvalue().split("\n")[:-1]


def request(path: str, remote: str = "127.0.0.1", method: str = "GET") -> None:
    """One request through AccessLog to an app that answers 200."""

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    environ = {"PATH_INFO": path, "REMOTE_ADDR": remote, "REQUEST_METHOD": method}
    list(wsgi.AccessLog(app)(environ, lambda status, headers, *args: None))


# -- forged fields and lines -----------------------------------------------------


def test_the_v2_address_cannot_add_fields(written: io.StringIO) -> None:
    request('/autodiscover/autodiscover.json/v1.0/fred@example.org" 200 0 evil x')
    [line] = flushed(written)
    assert '"' not in line.split('"GET ', 1)[1].split('" 200 2 ', 1)[0]
    assert line.count('"') == 2 and " evil" not in line, line
    assert " 200 2 " in line


@pytest.mark.parametrize("forged", ['1.2.3.4" 200 0 evil', "1.2.3.4\nforged line", "1.2.3.4\u2028x", "localhost"])
def test_a_forwarded_address_must_be_an_address(written: io.StringIO, forged: str) -> None:
    request("/mail/config-v1.1.xml", remote=forged)
    [line] = flushed(written)
    assert ' - "GET /mail/config-v1.1.xml" 200 2 ' in line, line


@pytest.mark.parametrize("address", ["192.0.2.7", "2001:db8::1"])
def test_real_addresses_are_logged(written: io.StringIO, address: str) -> None:
    request("/mail/config-v1.1.xml", remote=address)
    [line] = flushed(written)
    assert f" {address} " in line


@pytest.mark.parametrize("char", [*BREAKS, "\x1b", "\x00", "\x7f", "\x9b"])
def test_no_break_or_control_reaches_the_log(written: io.StringIO, char: str) -> None:
    request(f"/x{char}y", method=f"G{char}T")
    logging.getLogger("mailautoconf").warning("bad name %s in config", f"a{char}b")
    logging.getLogger("mailautoconf").warning(f"message itself a{char}b")
    lines = flushed(written)
    assert len(lines) == 3, lines
    for line in lines:
        assert line.isprintable(), repr(line)
        assert len(line.splitlines()) == 1
    assert "a\\x" in lines[1] or "a\\u" in lines[1]


def test_escape_spells_what_it_removed() -> None:
    assert logs.escape("a\rb\u2028c\x1b[31md") == "a\\x0db\\u2028c\\x1b[31md"
    assert logs.escape("fred@bücher.example") == "fred@bücher.example"


def test_a_traceback_keeps_its_lines_indented(written: io.StringIO) -> None:
    try:
        raise ValueError("line one\n2026-01-01 00:00:00,000 INFO mailautoconf.access: forged\rx")
    except ValueError:
        logging.getLogger("mailautoconf").exception("boom")
    lines = flushed(written)
    assert lines[0].endswith("ERROR mailautoconf: boom")
    assert all(line.startswith("  ") for line in lines[1:]), lines
    assert all(line.isprintable() for line in lines), lines


def test_journal_lines_are_split_on_newlines_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOURNAL_STREAM", "8:1")
    for stream in start_logging(io.StringIO()):
        logging.getLogger("mailautoconf").warning("a\u2028b\x85c\rd")
        lines = flushed(stream)
    assert lines == ["<4>mailautoconf: a\\u2028b\\x85c\\x0dd"]


# -- a stalled stderr ------------------------------------------------------------


def test_the_queue_stays_bounded_when_stderr_stalls() -> None:
    stream = Blocking()
    for _ in start_logging(stream):
        writer = logs._writer
        assert writer is not None
        for n in range(3 * logs.MAX_QUEUED):
            request(f"/mail/config-v1.1.xml/{n}")
            assert writer.records.qsize() <= logs.MAX_QUEUED_ACCESS + 1
        for _n in range(2 * logs.MAX_QUEUED):
            logging.getLogger("mailautoconf").warning("still here")
        assert writer.records.qsize() <= logs.MAX_QUEUED + 1
        assert writer.dropped > 0
        stream.release.set()
        lines = flushed(stream)
    dropped = [line for line in lines if "log lines dropped" in line]
    # Usually one report; two when the writer took its first batch (and the count so far)
    # before it blocked, which a loaded machine makes likely.
    assert 1 <= len(dropped) <= 2, dropped[:3]
    assert all("WARNING mailautoconf.logs:" in line for line in dropped)
    written = len(lines) - len(dropped)
    counted = sum(int(line.split("WARNING mailautoconf.logs: ")[1].split()[0]) for line in dropped)
    assert written + counted == 5 * logs.MAX_QUEUED
    assert any("still here" in line for line in lines)  # warnings had room beyond the access lines


# -- Autodiscover in any letter case ---------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/autodiscover/autodiscover.xml",
        "/autodiscover/autodiscover.XML",
        "/Autodiscover/Autodiscover.xml",
        "/AUTODISCOVER/AUTODISCOVER.XML",
        "/autodiscover/AutoDiscover.Xml",
    ],
)
def test_autodiscover_xml_in_any_case(app: App, path: str) -> None:
    answer = app.client.post(path, data=b"not xml", content_type="text/xml")
    # Reached the Autodiscover view in every spelling: a body not XML is its 400 with ErrorCode 600 (README).
    assert answer.status_code == 400, path
    assert ET.fromstring(answer.data).findtext(".//{*}ErrorCode") == "600", answer.data


@pytest.mark.parametrize(
    "path", ["/autodiscover/autodiscover.JSON", "/AutoDiscover/AutoDiscover.json", "/autodiscover/Autodiscover.Json"]
)
def test_autodiscover_json_in_any_case(app: App, path: str) -> None:
    answer = app.client.get(path, query_string={"Email": "fred@example.org", "Protocol": "AutodiscoverV1"})
    assert answer.status_code == 200, path


@pytest.mark.parametrize("path", ["/autodiscover/autodiscover.json/v1.0/", "/AutoDiscover/AutoDiscover.JSON/V1.0/"])
def test_the_v2_path_form_folds_only_its_fixed_part(path: str) -> None:
    seen: list[str] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.append(environ["PATH_INFO"])
        return []

    wsgi.CaseInsensitiveAutodiscover(app)({"PATH_INFO": path + "Fred@Example.ORG"}, lambda *args: None)
    assert seen == ["/autodiscover/autodiscover.json/v1.0/Fred@Example.ORG"]
