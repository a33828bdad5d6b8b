"""WSGI middleware around the Flask app: what must happen before routing and after the answer.

Kept apart from the views (web.py and its blueprints): the access log must see every request,
also those Flask answers itself (404, 405, 413), and path spellings must be
folded before Flask routes them.

Privacy: Thunderbird sends the user's password as HTTP Basic to Autodiscover
URLs (docs/clients.md section 6.1), and addresses travel in query strings.
The access log therefore records no headers, no bodies, no query strings
and only masked addresses.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import time
import urllib.parse
from collections.abc import Callable
from collections.abc import Iterable
from typing import Any

from mailautoconf import names
from mailautoconf.endpoints import AUTODISCOVER_JSON
from mailautoconf.endpoints import CASE_FOLDED
from mailautoconf.serve import logs

__all__ = ["LOG_KEY", "AccessLog", "AsciiQueryString", "CaseInsensitiveAutodiscover"]

# The environ key where views leave what the access log may say (domain, masked address).
LOG_KEY = "mailautoconf.log"

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class CaseInsensitiveAutodiscover:
    """Route /Autodiscover/Autodiscover.xml and other spellings to one view.

    Microsoft's connectivity analyzer asks /Autodiscover/Autodiscover.xml,
    Windows 10 Mail /AutoDiscover/AutoDiscover.xml (docs/clients.md section 2.3);
    docs/urls.md promises any letter case, the extension's included. In the v2 path
    form only the fixed part is folded: the address after it is the client's.
    """

    _FOLDED = CASE_FOLDED
    _FOLDED_LENGTH = len(CASE_FOLDED)
    _V2_PREFIX = AUTODISCOVER_JSON.address_prefix

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path[: self._FOLDED_LENGTH].lower() == self._FOLDED:
            prefix = len(self._V2_PREFIX)
            if path[:prefix].lower() == self._V2_PREFIX:
                environ["PATH_INFO"] = self._V2_PREFIX + path[prefix:]
            else:
                environ["PATH_INFO"] = path.lower()
        return self.app(environ, start_response)


class AsciiQueryString:
    """Percent-encode the raw non-ASCII bytes of the query string before Flask reads it.

    A client may send bytes past ASCII in the query unencoded
    (``GET /?\\x80``); the server passes them on as latin-1 (PEP 3333), and
    werkzeug decodes the query string as strict UTF-8 before it unquotes it:
    ``request.args`` raised UnicodeDecodeError, a 500 on every view that
    reads the query (found by tests/test_fuzz.py). Spelled ``%80``, the same
    byte is decoded as any percent-encoded one, invalid UTF-8 becoming
    U+FFFD; valid UTF-8 sent raw reads as it did.
    """

    _RAW = re.compile("[\x80-\U0010ffff]")

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        query = environ.get("QUERY_STRING", "")
        if not query.isascii():
            environ["QUERY_STRING"] = self._RAW.sub(_percent_encode, query)
        return self.app(environ, start_response)


def _percent_encode(match: re.Match[str]) -> str:
    # latin-1 holds one byte a character; "replace" stands for anything past it, which no server sends.
    return "".join(f"%{byte:02X}" for byte in match.group().encode("latin-1", "replace"))


class AccessLog:
    """One line per request: method, path, status, size, time, domain, masked address.

    Never the query string (it carries addresses), never a header (it
    carries passwords), never a body. Every field a client chooses is
    checked or escaped, so it cannot forge fields or lines: the path is
    percent-encoded past a safe set, the client address (which may come
    from X-Forwarded-For) must be an IP address or is written as "-".
    logs.py escapes line breaks and controls in every line besides.
    """

    def __init__(self, app: WSGIApp, count: Callable[[dict[str, Any], str], None] | None = None) -> None:
        self.app = app
        # Told (environ, status) of every request too: the metrics (metrics.RequestCounts) ride on
        # this wrapper rather than add their own around every request.
        self.count = count

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        seen: dict[str, str] = {}

        def logging_start_response(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            seen["status"] = status.split(" ", 1)[0]
            for key, value in headers:
                if len(key) == 14 and key.lower() == "content-length":
                    seen["size"] = value
                    break
            return start_response(status, headers, *args)

        result = self.app(environ, logging_start_response)
        if self.count is not None:
            self.count(environ, seen.get("status", "-"))
        logs.access(
            (
                time.time(),
                _client_address(environ.get("REMOTE_ADDR", "")),
                _log_method(environ.get("REQUEST_METHOD", "-")),
                _log_path(environ.get("PATH_INFO", "")),
                seen.get("status", "-"),
                seen.get("size", "-"),
                (time.perf_counter() - started) * 1000,
                environ.get(LOG_KEY, "domain=-"),
            )
        )
        return result


# What stays as it is in a logged path: RFC 3986 pchar without the quote,
# space and backslash that could pass for the line's own delimiters.
_PATH_SAFE = "/-._~!$&'()*+,;=:@%"
_TOKEN = "!#$&'*+-.^_`|~"  # RFC 9110 tchar, the letters and digits aside


def _log_method(method: str) -> str:
    return method if method in _COMMON_METHODS else urllib.parse.quote(method[:10], safe=_TOKEN)


_COMMON_METHODS = frozenset(("GET", "POST", "HEAD"))


@functools.lru_cache(maxsize=1024)
def _log_path(path: str) -> str:
    """The path as the access log may show it: at most 200 characters, the address masked, nothing raw."""
    path = path[:200]
    if "@" in path:  # the v2 path form carries the address
        head, _, tail = path.rpartition("/")
        path = f"{head}/{names.mask_address(tail)}"
    # PATH_INFO holds the request's bytes decoded as latin-1 (PEP 3333):
    # encoded back, the log shows the percent-encoding the client sent.
    return urllib.parse.quote(path.encode("latin-1", "replace"), safe=_PATH_SAFE)


@functools.lru_cache(maxsize=1024)
def _client_address(value: str) -> str:
    """REMOTE_ADDR if it is an IP address: through X-Forwarded-For it is whatever the header said."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return "-"
    return value
