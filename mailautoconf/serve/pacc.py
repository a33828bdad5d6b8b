"""PACC: the domain's user-agent-configuration.json on ua-auto-config.<d>, bytes exactly as published (docs/pacc.md)."""

from __future__ import annotations

from flask import Blueprint
from flask import Response
from flask import request

from mailautoconf import endpoints
from mailautoconf import names
from mailautoconf.render import PACC
from mailautoconf.render.pacc import CONTENT_TYPE
from mailautoconf.serve.answers import rendered
from mailautoconf.serve.answers import replacing
from mailautoconf.serve.answers import route
from mailautoconf.serve.answers import text
from mailautoconf.serve.documents import conditional
from mailautoconf.serve.documents import note
from mailautoconf.serve.documents import read_document
from mailautoconf.tree.store import Store

__all__ = ["bp"]

bp = Blueprint("pacc", __name__)


@route(bp, endpoints.PACC)
@rendered
def user_agent_configuration(store: Store) -> Response:
    """The Host's domain's PACC document, on ``ua-auto-config.<d>``.

    Clients send nothing about the user (no query) and accept the body only
    if its SHA-256 is in the ``_ua-auto-config.<d>`` TXT record, so the
    answer is the pre-rendered bytes exactly as publish wrote them, and the
    domain comes from the Host alone (names.candidate_domains strips
    ``ua-auto-config.``). A domain that does not opt in, or whose servers
    PACC cannot describe, has an empty document and gets a 404.
    """
    found = store.lookup(names.candidate_domains(request.environ.get("HTTP_HOST", "")))
    note(found[0] if found else None)
    if found is None:
        return text(404, "no mail settings for this domain")
    document = read_document(found[1], PACC)
    if document is None:
        return replacing()
    if not document[0]:
        return text(404, "no PACC document for this domain: it does not opt in, or PACC cannot describe its servers")
    return conditional(found[1], PACC, CONTENT_TYPE, document)  # read once: the same bytes as checked
