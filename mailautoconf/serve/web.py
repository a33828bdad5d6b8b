"""The HTTP face: routes, domain resolution, status codes. No business rules.

Every answer comes from the store's current generation; per request only
the domain is looked up and, for Autodiscover POX, the address is filled in
(XML-escaped). Which client asks for which URL: docs/clients.md sections
1.2 and 2.1-2.3. What the access log may say is left in the environ for
the middleware of :mod:`mailautoconf.serve.wsgi`, which never logs more.
"""

from __future__ import annotations

import secrets
import urllib.parse
from datetime import UTC
from datetime import datetime

from flask import Blueprint
from flask import Flask
from flask import Request
from flask import Response
from flask import current_app
from flask import request
from werkzeug.exceptions import BadHost
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.routing import MapAdapter

from mailautoconf import endpoints
from mailautoconf import names
from mailautoconf.endpoints import ADDRESS_PARAMETER
from mailautoconf.render import APPLE_PROFILE
from mailautoconf.render import EVOLUTION
from mailautoconf.render import OUTLOOK_JSON
from mailautoconf.render import OUTLOOK_POX
from mailautoconf.render import PACC
from mailautoconf.render import THUNDERBIRD
from mailautoconf.render import apple
from mailautoconf.render import outlook
from mailautoconf.render import pacc
from mailautoconf.serve import answers
from mailautoconf.serve import davredirect
from mailautoconf.serve import metrics
from mailautoconf.serve import webpage
from mailautoconf.serve import wsgi
from mailautoconf.serve.answers import rendered
from mailautoconf.serve.answers import replacing as _unavailable
from mailautoconf.serve.answers import route
from mailautoconf.serve.answers import store as _store
from mailautoconf.serve.answers import text as _text
from mailautoconf.tree.store import Entry
from mailautoconf.tree.store import Store
from mailautoconf.tree.store import http_date

__all__ = ["MAX_AUTODISCOVER_BODY", "create_app", "query_argument"]

# A real Autodiscover request is about 400 bytes; anything past this is not one.
MAX_AUTODISCOVER_BODY = 8 * 1024
_XML_TYPE = "application/xml; charset=utf-8"
_POX_TYPE = "text/xml; charset=utf-8"
_JSON_TYPE = "application/json; charset=utf-8"

bp = Blueprint("clients", __name__)


class _AnyHostFlask(Flask):
    """Flask that routes a request whatever its Host says.

    werkzeug IDNA-encodes the Host to bind its URL map, and a name with an
    empty label (``autoconfig..example.org``, ``.``) or a label over 63
    octets fails that: its BadHost became a bare 400 before any view ran.
    No route here depends on the Host (no host or subdomain matching); the
    views read the raw header through names.candidate_domains, which
    finds no domain in such a name, so the request is answered from the
    address it carries, as for any other odd Host, or gets the view's
    own 404 or protocol error.
    """

    def create_url_adapter(self, request: Request | None) -> MapAdapter | None:
        try:
            return super().create_url_adapter(request)
        except BadHost:
            if request is None:
                raise
            # "invalid" is reserved never to resolve (RFC 6761 section 6.4): only URLs built
            # for this request could show it, and no view builds one.
            return self.url_map.bind_to_environ(request.environ, server_name="invalid", subdomain="")


def create_app(store: Store) -> Flask:
    """Build the WSGI app serving ``store``'s current generation.

    OPTIONS gets 405 with Allow on every route, for every Host, as nginx
    answers it for static files: no client of these documents sends it,
    there is no CORS to negotiate (no browser script reads them, and the
    settings page uses plain forms), and Flask's automatic 200 answered it
    for any Host, also for domains not hosted. Allow still says what the
    resource takes (RFC 9110 section 15.5.6); ``OPTIONS *`` is a 404.
    """
    # No static folder: Flask routes /static/<path> whether the folder exists or not, a path
    # outside the endpoints table that answered OPTIONS with its automatic 200.
    app = _AnyHostFlask(__name__, static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = MAX_AUTODISCOVER_BODY
    # Read when each rule is added, so before the blueprints are registered.
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False
    app.extensions[answers.STORE_KEY] = store
    requests = metrics.RequestCounts()
    app.extensions["mailautoconf.serve.metrics"] = metrics.registry(store, requests)
    app.register_blueprint(bp)
    app.register_blueprint(webpage.bp)
    app.register_blueprint(metrics.bp)
    app.register_blueprint(davredirect.bp)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
    app.after_request(_no_sniffing)
    routed = wsgi.AsciiQueryString(wsgi.CaseInsensitiveAutodiscover(app.wsgi_app))
    app.wsgi_app = wsgi.AccessLog(routed, count=requests.count)  # type: ignore[method-assign]
    return app


def _no_sniffing(response: Response) -> Response:
    """Forbid content sniffing on every answer: documents, errors, 304s, the page.

    A browser that sniffs may run a document that echoes request input as
    HTML; ``nosniff`` makes it keep to the declared type (Fetch standard,
    "X-Content-Type-Options"). Flask runs after_request functions also for
    the answers of the error handlers, so werkzeug's own 404/405/413 and
    the 500 of :func:`_unexpected_error` carry it too.
    """
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _note(domain: str | None, address: str | None = None) -> None:
    """Leave the domain and masked address for the access log line."""
    text = f"domain={domain or '-'}"
    if address:
        text += f" address={names.mask_address(address)}"
    request.environ[wsgi.LOG_KEY] = text


# -- Thunderbird autoconfig --------------------------------------------------


@route(bp, endpoints.AUTOCONFIG)
@rendered
def autoconfig(store: Store) -> Response:
    """Serve config-v1.1.xml for the address's domain, else the Host's.

    ``emailaddress`` is only a hint: K-9 and KMail never send it, Evolution
    sends a dummy local part. Only a real document is ever answered 2xx:
    Evolution stops looking at any well-formed 2xx answer.
    """
    environ = request.environ
    address = query_argument(environ.get("QUERY_STRING", ""), ADDRESS_PARAMETER)
    found = store.lookup((names.domain_of_address(address),)) if address else None
    host_names = names.candidate_domains(environ.get("HTTP_HOST", ""))
    if found is None:
        found = store.lookup(host_names)
    if found is None:
        # A client that found no autoconfig.<d> asks autoconfig.<MX domain>
        # (draft-ietf-mailmaint-autoconfig, "domain hosters"): the provider's
        # document for all its domains, the domain left to the client.
        found = store.lookup_mx(host_names)
    _note(found[0] if found else None, address)
    if found is None:
        return _text(404, "no mail settings for this domain")
    # Evolution keeps the last server of each type it reads: it gets a
    # document listing only the first (render/evolution.py).
    is_evolution = environ.get("HTTP_USER_AGENT", "").startswith("Evolution/")
    return _conditional(found[1], EVOLUTION if is_evolution else THUNDERBIRD, _XML_TYPE)


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


def _content(entry: Entry, path: str, address: str | None = None) -> bytes | None:
    """A document's bytes, or None when its file vanished under the last good tree on disk."""
    try:
        return entry.content(path, address)
    except OSError:
        return None


def _document(entry: Entry, path: str) -> tuple[bytes, str] | None:
    """A document's bytes and ETag, or None when its file vanished under the last good tree on disk."""
    try:
        return entry.document(path)
    except OSError:
        return None


def _conditional(entry: Entry, path: str, content_type: str, document: tuple[bytes, str] | None = None) -> Response:
    """Answer a static document, or 304 when the client's copy is current.

    Last-Modified is the mtime of the domain's file, which nginx sends too
    when it serves the same file itself. ``document``: its bytes and ETag,
    when the caller has read them already.
    """
    if document is None:
        document = _document(entry, path)
    if document is None:
        return _unavailable()
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


# -- Apple configuration profiles ---------------------------------------------


@route(bp, endpoints.APPLE_PROFILE)
@rendered
def apple_profile(store: Store) -> Response:
    """A configuration profile for ``emailaddress``, signed when [signing] names a certificate.

    The domain comes from the address when it is hosted, else from the Host,
    as for autoconfig. The profile names the address, so without a valid
    one there is no profile: 400 says why (docs/clients.md section 3).
    """
    address = names.profile_address(request.args.get(ADDRESS_PARAMETER, ""))
    domain = names.domain_of_address(address) if address else None
    if address is None or domain is None:
        _note(None)
        return _text(400, f"a profile needs ?{ADDRESS_PARAMETER}=<your address>, a valid mail address")
    found = store.lookup((domain, *names.candidate_domains(request.environ.get("HTTP_HOST", ""))))
    _note(found[0] if found else None, address)
    if found is None:
        return _text(404, "no mail settings for this domain")
    content = _content(found[1], APPLE_PROFILE, address)
    if content is None:
        return _unavailable()
    if not content:
        return _text(404, "no profile for this domain: none of its servers can be described in one")
    signer = store.signer
    body = signer.sign(content) if signer is not None else content
    filename = found[0] + ".mobileconfig"
    headers = [
        ("Content-Disposition", f'attachment; filename="{filename}"'),
        ("Cache-Control", "no-store"),  # it names the address
    ]
    return Response(body, 200, headers, content_type=apple.CONTENT_TYPE)


# -- Autodiscover POX (Outlook, Windows Mail, Thunderbird's Exchange fallback) --


@route(bp, endpoints.AUTODISCOVER_POX, ("GET",))
def autodiscover_get() -> Response:
    """Answer 405, also while starting: Autodiscover takes POST.

    After Thunderbird follows the http→https redirect it re-issues a GET
    without body, and only a non-2xx answer makes it POST again
    (docs/clients.md section 2.7).
    """
    return _autodiscover_takes_post()


def _autodiscover_takes_post() -> Response:
    return _text(405, "Autodiscover takes POST", Allow="POST")


@route(bp, endpoints.AUTODISCOVER_POX, ("POST",))
@rendered
def autodiscover_xml(store: Store) -> Response:
    """Answer an Outlook 2006 POX request with the 2006a response."""
    fields = outlook.parse_request(_body())
    if fields is None:
        _note(None)
        return _pox_error(400, 600, "Invalid Request")
    address, schema = fields
    if schema != outlook.OUTLOOK_RESPONSE_SCHEMA:
        _note(None, address)
        return _pox_error(200, 601, "Provider is not available", schema)
    domain = names.domain_of_address(address)
    _note(domain, address)
    if domain is None:
        return _pox_error(400, 600, "Invalid Request")
    found = store.lookup((domain,))
    if found is None:
        return _pox_error(404, 500, "The e-mail address cannot be found.")
    content = _content(found[1], OUTLOOK_POX, address.strip())
    if content is None:
        return _unavailable()
    return Response(content, 200, [("Content-Type", _POX_TYPE)])


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


def _pox_error(status: int, code: int, message: str, schema: str | None = None) -> Response:
    now = datetime.now(UTC).strftime("%H:%M:%S.%f")
    body = outlook.error_document(code, message, now, secrets.randbelow(2**31), schema)
    return Response(body, status, content_type=_POX_TYPE)


# -- Autodiscover v2 JSON (newer Outlook) ------------------------------------


@route(bp, endpoints.AUTODISCOVER_JSON)
@rendered
def autodiscover_json(store: Store, address: str | None = None) -> Response:
    """Point Outlook at this domain's POX endpoint (Protocol=AutodiscoverV1 only)."""
    arguments = {key.lower(): value for key, value in request.args.items()}
    protocol = arguments.get("protocol", "")
    # Outlook 2019 sends "Autodiscoverv1": compare without case.
    if protocol.lower() != outlook.AUTODISCOVER_V1.lower():
        _note(None)
        message = (
            f"The given protocol value '{protocol[:100]}' is invalid. Supported values are '{outlook.AUTODISCOVER_V1}'"
        )
        return Response(outlook.json_error("InvalidProtocol", message), 400, content_type=_JSON_TYPE)
    address = address or arguments.get("email", "")
    domain = names.domain_of_address(address)
    _note(domain, address)
    if domain is None:
        message = "The given email address is invalid"
        return Response(outlook.json_error("InvalidUser", message), 400, content_type=_JSON_TYPE)
    found = store.lookup((domain,))
    if found is None:
        message = "No settings are known for this email address"
        return Response(outlook.json_error("NotFound", message), 404, content_type=_JSON_TYPE)
    content = _content(found[1], OUTLOOK_JSON)
    if content is None:
        return _unavailable()
    if not content:  # no own names and no mx: no name to point at (render/outlook.py, render_json)
        message = "No Autodiscover v2 URL for this domain: ask its _autodiscover._tcp SRV record"
        return Response(outlook.json_error("NotFound", message), 404, content_type=_JSON_TYPE)
    return Response(content, 200, content_type=_JSON_TYPE)


# -- PACC (draft-ietf-mailmaint-pacc) ----------------------------------------


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
    _note(found[0] if found else None)
    if found is None:
        return _text(404, "no mail settings for this domain")
    document = _document(found[1], PACC)
    if document is None:
        return _unavailable()
    if not document[0]:
        return _text(404, "no PACC document for this domain: it does not opt in, or PACC cannot describe its servers")
    return _conditional(found[1], PACC, pacc.CONTENT_TYPE, document)  # read once: the same bytes as checked


# -- health ------------------------------------------------------------------


@route(bp, endpoints.HEALTHZ)
def healthz() -> Response:
    """Report what is served and each kind of trouble, naming the file; 503 until something is served.

    One field per kind, for a monitor to alert on: ``config_error`` (the
    last config read was rejected: an older one is served), ``tree_error``
    (the tree nginx serves from does not match what is served, and could
    not be repaired yet), ``signing_error`` (Apple profiles are not signed
    as ``[signing]`` says). ``status`` is "ok" only when all three are null.
    """
    store = _store()
    generation, health, tree, signing = store.generation, store.health, store.tree, store.signing
    troubles = [kind for kind, _ in store.troubles()]
    body = {
        "status": f"{troubles[0]} error" if troubles else "ok",
        "troubles": troubles,
        "generation": generation.name if generation else None,
        "rendered_at": generation.rendered_at if generation else None,
        "domains": len(generation.domains) if generation else 0,
        "config_error": list(health.config_errors) if health.config_errors is not None else None,
        "config_warnings": list(health.config_warnings),
        "checked_at": health.checked_at,
        # The tree on disk (selfcheck.py): damage it could not repair, and what it repaired.
        "tree_error": list(tree.errors) if tree.errors is not None else None,
        "tree_checked_at": tree.checked_at,
        "tree_repairs": tree.repairs,
        "tree_repaired_at": tree.repaired_at,
        "tree_repaired": list(tree.repaired),
        # Apple profile signing: "off" (no [signing]), "ok", "expiring" (within 14 days), "error".
        "signing": signing.state,
        "signing_error": list(signing.errors) if signing.errors is not None else None,
        "signing_warnings": list(signing.warnings),
        "signing_expires_at": signing.expires_at,
        "profiles_signed": signing.signing,
        # Domains whose PACC document the last applied reload changed: their TXT records need updating.
        "pacc_digests_changed": health.pacc_digests_changed,
        # What the live _ua-auto-config TXT records hold (pacc/watch.py): "off" unless some provider opts in.
        "pacc_dns_check": store.pacc_dns.state,
        "pacc_digests_stale": store.pacc_dns.stale,
        "pacc_digests_stale_domains": list(store.pacc_dns.stale_domains),
        "pacc_digests_unknown": store.pacc_dns.unknown,
        "pacc_digests_unchecked": store.pacc_dns.unchecked,
    }
    if generation is None:
        body["status"] = "starting"
    status = 200 if generation is not None else 503
    # Config errors quote the config file, which may hold markup: escaped like every JSON answer.
    return Response(outlook.json_bytes(body, indent=2) + b"\n", status, content_type=_JSON_TYPE)


# -- errors ------------------------------------------------


def _http_error(error: HTTPException) -> Response:
    """Short plain-text answers; Autodiscover POX paths get the protocol's document."""
    status = error.code or 500
    if request.path == endpoints.AUTODISCOVER_POX.path:
        if status == 413:
            return _pox_error(413, 600, "Invalid Request")
        if status == 405:  # OPTIONS, PUT...: say what the GET answer says
            return _autodiscover_takes_post()
    headers = dict(error.get_headers())
    headers.pop("Content-Type", None)
    return _text(status, f"{status} {error.name}", **headers)


def _unexpected_error(error: Exception) -> Response:
    current_app.logger.exception("unexpected error answering a request")
    return _text(500, "500 Internal Server Error")
