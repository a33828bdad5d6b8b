"""Autodiscover: Outlook's POX (2006, POST) and the v2 JSON that points newer Outlook at it.

Asked by Outlook, Windows Mail and Thunderbird's Exchange fallback
(docs/clients.md section 2). Errors are the protocol's own documents:
ErrorCode 600/601/500 for POX, the JSON error object for v2.
"""

from __future__ import annotations

import secrets
from datetime import UTC
from datetime import datetime

from flask import Blueprint
from flask import Response
from flask import request
from werkzeug.exceptions import RequestEntityTooLarge

from mailautoconf import dnsnames
from mailautoconf import endpoints
from mailautoconf import names
from mailautoconf.render import OUTLOOK_JSON
from mailautoconf.render import OUTLOOK_POX
from mailautoconf.render import outlook
from mailautoconf.serve.answers import rendered
from mailautoconf.serve.answers import replacing
from mailautoconf.serve.answers import route
from mailautoconf.serve.answers import text
from mailautoconf.serve.documents import JSON_TYPE
from mailautoconf.serve.documents import note
from mailautoconf.serve.documents import read_content
from mailautoconf.serve.documents import read_document
from mailautoconf.tree.store import Store

__all__ = ["MAX_AUTODISCOVER_BODY", "POX_TYPE", "bp", "pox_error", "takes_post"]

# A real Autodiscover request is about 400 bytes; anything past this is not one.
MAX_AUTODISCOVER_BODY = 8 * 1024
POX_TYPE = "text/xml; charset=utf-8"

bp = Blueprint("autodiscover", __name__)


@route(bp, endpoints.AUTODISCOVER_POX, ("GET",))
@rendered
def autodiscover_get(store: Store) -> Response:
    """Answer a GET on ``autodiscover.<d>`` or ``<d>`` with the domain's servers; 405 on any other name.

    Delta Chat GETs ``https://<d>/autodiscover/autodiscover.xml`` and then
    ``https://autodiscover.<d>/...``, without a body, and reads the servers
    from the answer: it gets the document for any address of the domain
    (outlook.for_any_address). Thunderbird's http→https redirect also
    arrives as a GET, on the name the redirect points at, and only a
    non-2xx answer makes it POST again with the address (docs/clients.md
    section 2.7): that name is a hoster's own (``autoconfig.<provider>``),
    never ``autodiscover.<d>`` or ``<d>`` of a hosted domain, so it keeps
    the 405.
    """
    domain = _autodiscover_domain(request.environ.get("HTTP_HOST", ""))
    found = store.lookup((domain,)) if domain else None
    note(found[0] if found else None)
    if found is None:
        return takes_post()
    document = read_document(found[1], OUTLOOK_POX)
    if document is None:
        return replacing()
    return Response(outlook.for_any_address(document[0]), 200, [("Content-Type", POX_TYPE)])


def _autodiscover_domain(host: str) -> str | None:
    """The domain a GET's Host names as Delta Chat asks it: ``autodiscover.<d>`` or ``<d>`` itself.

    Not ``autoconfig.<d>`` or another service name: those are where a
    redirect for Thunderbird points (see autodiscover_get).
    """
    candidates = names.candidate_domains(host)
    if not candidates:
        return None
    name = candidates[0]
    if name.startswith(f"{dnsnames.AUTODISCOVER}."):
        return candidates[1] if len(candidates) > 1 else None
    if any(name.startswith(prefix) for prefix in names.SERVICE_PREFIXES):
        return None
    return name


def takes_post() -> Response:
    return text(405, "Autodiscover takes POST", Allow="POST")


@route(bp, endpoints.AUTODISCOVER_POX, ("POST",))
@rendered
def autodiscover_xml(store: Store) -> Response:
    """Answer an Outlook 2006 POX request with the 2006a response."""
    fields = outlook.parse_request(_body())
    if fields is None:
        note(None)
        return pox_error(400, 600, "Invalid Request")
    address, schema = fields
    if schema != outlook.OUTLOOK_RESPONSE_SCHEMA:
        note(None, address)
        return pox_error(200, 601, "Provider is not available", schema)
    domain = names.domain_of_address(address)
    note(domain, address)
    if domain is None:
        return pox_error(400, 600, "Invalid Request")
    found = store.lookup((domain,))
    if found is None:
        return pox_error(404, 500, "The e-mail address cannot be found.")
    content = read_content(found[1], OUTLOOK_POX, address.strip())
    if content is None:
        return replacing()
    return Response(content, 200, [("Content-Type", POX_TYPE)])


def _body() -> bytes:
    """The request body, at most MAX_AUTODISCOVER_BODY bytes (413 beyond).

    With a Content-Length (every client we know sends one; waitress also
    sets it for a chunked body it has read whole), read the bytes waitress
    already buffered directly: werkzeug's guarded stream and its header
    parsing cost more than the rest of the request. Anything else takes
    werkzeug's path, which enforces the same limit while reading.
    """
    environ = request.environ
    declared = environ.get("CONTENT_LENGTH", "")
    if not (declared.isascii() and declared.isdigit()) or environ.get("HTTP_TRANSFER_ENCODING"):
        return request.get_data(cache=False)
    length = int(declared)
    if length > MAX_AUTODISCOVER_BODY:
        raise RequestEntityTooLarge()
    return environ["wsgi.input"].read(length)  # type: ignore[no-any-return]


def pox_error(status: int, code: int, message: str, schema: str | None = None) -> Response:
    now = datetime.now(UTC).strftime("%H:%M:%S.%f")
    body = outlook.error_document(code, message, now, secrets.randbelow(2**31), schema)
    return Response(body, status, content_type=POX_TYPE)


@route(bp, endpoints.AUTODISCOVER_JSON)
@rendered
def autodiscover_json(store: Store, address: str | None = None) -> Response:
    """Point Outlook at this domain's POX endpoint (Protocol=AutodiscoverV1 only)."""
    arguments = {key.lower(): value for key, value in request.args.items()}
    protocol = arguments.get("protocol", "")
    # Outlook 2019 sends "Autodiscoverv1": compare without case.
    if protocol.lower() != outlook.AUTODISCOVER_V1.lower():
        note(None)
        message = (
            f"The given protocol value '{protocol[:100]}' is invalid. Supported values are '{outlook.AUTODISCOVER_V1}'"
        )
        return Response(outlook.json_error("InvalidProtocol", message), 400, content_type=JSON_TYPE)
    address = address or arguments.get("email", "")
    domain = names.domain_of_address(address)
    note(domain, address)
    if domain is None:
        message = "The given email address is invalid"
        return Response(outlook.json_error("InvalidUser", message), 400, content_type=JSON_TYPE)
    found = store.lookup((domain,))
    if found is None:
        message = "No settings are known for this email address"
        return Response(outlook.json_error("NotFound", message), 404, content_type=JSON_TYPE)
    content = read_content(found[1], OUTLOOK_JSON)
    if content is None:
        return replacing()
    if not content:  # no own names and no mx: no name to point at (render/outlook.py, render_json)
        message = "No Autodiscover v2 URL for this domain: ask its _autodiscover._tcp SRV record"
        return Response(outlook.json_error("NotFound", message), 404, content_type=JSON_TYPE)
    return Response(content, 200, content_type=JSON_TYPE)
