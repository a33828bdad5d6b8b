"""The plain answers every blueprint gives alike, the store they answer from, and how they are routed.

The document views, the settings page and the DAV redirects serve from the same store and fail
alike: before the first render (``starting``, which :func:`rendered` answers
for every view that serves documents) and while a folder of the last good
tree vanishes under a request (``replacing``) a client gets a 503 with
``Retry-After: 1`` (RFC 9110 section 10.2.3), so it tries again in a second
instead of giving up on the domain. Their paths and methods come from
:mod:`mailautoconf.endpoints` (:func:`route`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Concatenate
from typing import ParamSpec

from flask import Blueprint
from flask import Response
from flask import current_app

from mailautoconf.endpoints import Endpoint
from mailautoconf.tree.store import Store

__all__ = ["STORE_KEY", "TEXT_TYPE", "rendered", "replacing", "route", "starting", "store", "text"]

TEXT_TYPE = "text/plain; charset=utf-8"
_RETRY_SOON = {"Retry-After": "1"}
STORE_KEY = "mailautoconf.tree.store"  # where create_app (web.py) puts the store

Arguments = ParamSpec("Arguments")
View = Callable[..., Response]


def store() -> Store:
    """The app's store (web.create_app puts it there)."""
    return current_app.extensions[STORE_KEY]  # type: ignore[no-any-return]


def text(status: int, message: str, **headers: str) -> Response:
    """A one-line plain-text answer."""
    return Response(message + "\n", status, headers, content_type=TEXT_TYPE)


def starting() -> Response:
    """Nothing rendered yet."""
    return text(503, "starting: no configuration rendered yet", **_RETRY_SOON)


def replacing() -> Response:
    """The domain's documents vanished under this request: the next one finds the new tree."""
    return text(503, "these settings are being replaced; try again", **_RETRY_SOON)


def rendered(view: Callable[Concatenate[Store, Arguments], Response]) -> Callable[Arguments, Response]:
    """Give ``view`` the store once it serves a generation; until then answer :func:`starting`.

    The one home of every document view's first answer, which each used to
    write itself. /healthz and /metrics are not wrapped: they answer while
    starting too, and say so.
    """

    @functools.wraps(view)
    def answer(*args: Arguments.args, **kwargs: Arguments.kwargs) -> Response:
        found = store()
        if found.generation is None:
            return starting()
        return view(found, *args, **kwargs)

    return answer


def route(bp: Blueprint, endpoint: Endpoint, methods: tuple[str, ...] | None = None) -> Callable[[View], View]:
    """Route every path of ``endpoint`` to the view, with the endpoint's methods (or ``methods`` of them).

    An address prefix becomes a rule whose ``address`` argument is the rest
    of the path. No automatic OPTIONS: create_app says why.
    """
    taken = endpoint.methods if methods is None else methods
    if not set(taken) <= set(endpoint.methods):
        raise ValueError(f"{endpoint.label}: {taken} are not all among its methods {endpoint.methods}")
    rules = list(endpoint.paths)
    if endpoint.address_prefix:
        rules.append(endpoint.address_prefix + "<path:address>")

    def register(view: View) -> View:
        for rule in rules:
            bp.add_url_rule(rule, view_func=view, methods=list(taken), provide_automatic_options=False)
        return view

    return register
