"""PACC's document: ``GET /.well-known/user-agent-configuration.json`` on ``ua-auto-config.<d>``.

draft-ietf-mailmaint-pacc: clients ask
``https://ua-auto-config.<d>/.well-known/user-agent-configuration.json``,
with no query (nothing about the user is sent), and accept the body only if
its SHA-256 is in the ``_ua-auto-config.<d>`` TXT record. So the answer is
the pre-rendered bytes exactly as ``publish`` wrote them (render/pacc.py),
never re-encoded; the domain comes from the Host alone
(names.candidate_domains strips ``ua-auto-config.``). A domain that does
not opt in, or whose servers PACC cannot describe, has an empty document
and gets a 404.
"""

from __future__ import annotations

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import request

from mailautoconf import names
from mailautoconf import paccspec
from mailautoconf import web
from mailautoconf.render import PACC
from mailautoconf.render import pacc
from mailautoconf.store import Store

__all__ = ["bp"]

bp = Blueprint("pacc", __name__)


@bp.get(paccspec.PATH)
def user_agent_configuration() -> Response:
    """The Host's domain's PACC document, with ETag and Last-Modified as every static document (web.py)."""
    store: Store = current_app.extensions["mailautoconf.store"]
    if store.generation is None:
        return web._starting()
    found = store.lookup(names.candidate_domains(request.environ.get("HTTP_HOST", "")))
    web._note(found[0] if found else None)
    if found is None:
        return web._text(404, "no mail settings for this domain")
    document = web._document(found[1], PACC)
    if document is None:
        return web._unavailable()
    if not document[0]:
        return web._text(
            404, "no PACC document for this domain: it does not opt in, or PACC cannot describe its servers"
        )
    return web._conditional(found[1], PACC, pacc.CONTENT_TYPE)
