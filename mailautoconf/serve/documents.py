"""A rendered document on the wire: its bytes (the address filled in), its ETag, a 304, the log's note.

What every document view does once it has found the domain's entry: read
the bytes from the store (None when the file vanished under the last good
tree on disk: the view answers 503 "being replaced"), answer conditional
GETs as nginx does for the same file, and leave the domain and the masked
address for the access log. ``query_argument`` reads the address from the
query on the hot path.
"""

from __future__ import annotations

import urllib.parse

from flask import Response
from flask import request

from mailautoconf import names
from mailautoconf.serve import wsgi
from mailautoconf.serve.answers import replacing
from mailautoconf.tree.store import Entry
from mailautoconf.tree.store import http_date

__all__ = ["JSON_TYPE", "XML_TYPE", "conditional", "note", "query_argument", "read_content", "read_document"]

XML_TYPE = "application/xml; charset=utf-8"
JSON_TYPE = "application/json; charset=utf-8"


def note(domain: str | None, address: str | None = None) -> None:
    """Leave the domain and masked address for the access log line."""
    text = f"domain={domain or '-'}"
    if address:
        text += f" address={names.mask_address(address)}"
    request.environ[wsgi.LOG_KEY] = text


def query_argument(query: str, name: str) -> str:
    """The first value of ``name`` in ``query``, decoded as ``request.args`` decodes it; "" if absent.

    ``request.args`` parses the whole query string into a MultiDict, which
    cost the autoconfig answer a tenth of its time (cProfile); this finds one
    key. The same rules: pairs split at "&", "+" is a space, percent-escapes
    are UTF-8 with invalid sequences replaced, a key without "=" has the
    value "". wsgi.AsciiQueryString has made the query ASCII.
    """
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        if key == name or (("%" in key or "+" in key) and _unquoted(key) == name):
            return _unquoted(value)
    return ""


def _unquoted(text: str) -> str:
    return urllib.parse.unquote(text.replace("+", " ")) if "%" in text or "+" in text else text


def read_content(entry: Entry, path: str, address: str | None = None) -> bytes | None:
    """A document's bytes, or None when its file vanished under the last good tree on disk."""
    try:
        return entry.content(path, address)
    except OSError:
        return None


def read_document(entry: Entry, path: str) -> tuple[bytes, str] | None:
    """A document's bytes and ETag, or None when its file vanished under the last good tree on disk."""
    try:
        return entry.document(path)
    except OSError:
        return None


def conditional(entry: Entry, path: str, content_type: str, document: tuple[bytes, str] | None = None) -> Response:
    """Answer a static document, or 304 when the client's copy is current.

    Last-Modified is the mtime of the domain's file, which nginx sends too
    when it serves the same file itself. ``document``: its bytes and ETag,
    when the caller has read them already.
    """
    if document is None:
        document = read_document(entry, path)
    if document is None:
        return replacing()
    content, tag = document
    last_modified = http_date(entry.mtime)
    headers = [
        ("ETag", tag),
        ("Last-Modified", last_modified),
        ("Cache-Control", "no-cache"),
        ("Vary", "User-Agent"),  # Evolution gets its own document
    ]
    environ = request.environ
    if_none_match = environ.get("HTTP_IF_NONE_MATCH")
    if if_none_match is not None:
        fresh = if_none_match.strip() == "*" or any(
            _weakly_equal(candidate, tag) for candidate in if_none_match.split(",")
        )
    else:
        fresh = environ.get("HTTP_IF_MODIFIED_SINCE") == last_modified
    if fresh:
        return Response(status=304, headers=headers)
    headers.append(("Content-Type", content_type))
    return Response(content, 200, headers)


def _weakly_equal(candidate: str, tag: str) -> bool:
    """Whether an If-None-Match entry matches ``tag`` by the weak comparison.

    If-None-Match compares weakly (RFC 9110 section 13.1.2): ``W/"x"``
    matches ``"x"``, the weak prefix being case-sensitive (section 8.8.3).
    Only the quoted form counts: a bare ``x`` is no entity tag.
    """
    candidate = candidate.strip()
    return candidate.removeprefix("W/") == tag
