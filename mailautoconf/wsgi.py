"""WSGI middleware around the Flask app: what must happen before routing and after the answer.

Kept apart from the views (web.py): the access log must see every request,
also those Flask answers itself (404, 405, 413), and path spellings must be
folded before Flask routes them.

Privacy: Thunderbird sends the user's password as HTTP Basic to Autodiscover
URLs (docs/clients.md section 6.1), and addresses travel in query strings.
The access log therefore records no headers, no bodies, no query strings
and only masked addresses.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from collections.abc import Iterable
from typing import Any

from mailautoconf import logs
from mailautoconf import names

__all__ = ["LOG_KEY", "AccessLog", "CaseInsensitiveAutodiscover"]

# The environ key where views leave what the access log may say (domain, masked address).
LOG_KEY = "mailautoconf.log"

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class CaseInsensitiveAutodiscover:
    """Route /Autodiscover/Autodiscover.xml and other spellings to one view.

    Microsoft's connectivity analyzer asks /Autodiscover/Autodiscover.xml,
    Windows 10 Mail /AutoDiscover/AutoDiscover.xml (docs/clients.md section 2.3).
    """

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path[:14].lower() == "/autodiscover/" and not path.startswith("/autodiscover/autodiscover."):
            environ["PATH_INFO"] = path.lower()
        return self.app(environ, start_response)


class AccessLog:
    """One line per request: method, path, status, size, time, domain, masked address.

    Never the query string (it carries addresses), never a header (it
    carries passwords), never a body.
    """

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        seen: dict[str, str] = {}

        def logging_start_response(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            seen["status"] = status.split(" ", 1)[0]
            seen["size"] = next((value for key, value in headers if key.lower() == "content-length"), "-")
            return start_response(status, headers, *args)

        result = self.app(environ, logging_start_response)
        path = environ.get("PATH_INFO", "")
        if len(path) > 200 or not path.isprintable():
            path = repr(path[:200])
        if "@" in path:  # the v2 path form carries the address
            head, _, tail = path.rpartition("/")
            path = f"{head}/{names.mask_address(tail)}"
        logs.access(
            (
                time.time(),
                environ.get("REMOTE_ADDR", "-"),
                environ.get("REQUEST_METHOD", "-")[:10],
                path,
                seen.get("status", "-"),
                seen.get("size", "-"),
                (time.perf_counter() - started) * 1000,
                environ.get(LOG_KEY, "domain=-"),
            )
        )
        return result
