"""The plain answers every blueprint gives alike, and the store they answer from.

web.py, webpage.py and davredirect.py serve from the same store and fail
alike: before the first render (``starting``) and while a folder of the
last good tree vanishes under a request (``replacing``) a client gets a 503
with ``Retry-After: 1`` (RFC 9110 section 10.2.3), so it tries again in a
second instead of giving up on the domain.
"""

from __future__ import annotations

from flask import Response
from flask import current_app

from mailautoconf.tree.store import Store

__all__ = ["TEXT_TYPE", "replacing", "starting", "store", "text"]

TEXT_TYPE = "text/plain; charset=utf-8"
_RETRY_SOON = {"Retry-After": "1"}


def store() -> Store:
    """The app's store (web.create_app puts it there)."""
    return current_app.extensions["mailautoconf.tree.store"]  # type: ignore[no-any-return]


def text(status: int, message: str, **headers: str) -> Response:
    """A one-line plain-text answer."""
    return Response(message + "\n", status, headers, content_type=TEXT_TYPE)


def starting() -> Response:
    """Nothing rendered yet."""
    return text(503, "starting: no configuration rendered yet", **_RETRY_SOON)


def replacing() -> Response:
    """The domain's documents vanished under this request: the next one finds the new tree."""
    return text(503, "these settings are being replaced; try again", **_RETRY_SOON)
