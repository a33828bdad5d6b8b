"""The WSGI app: the blueprints of every protocol registered, the middleware, the error answers.

Every answer comes from the store's current generation; per request only
the domain is looked up and, for Autodiscover POX, the address is filled in
(XML-escaped). One module per protocol family holds its views
(autoconfig, autodiscover, mobileconfig, pacc, davredirect, webpage,
health, metrics); which client asks for which URL: docs/clients.md. What
the access log may say is left in the environ for the middleware of
:mod:`mailautoconf.serve.wsgi`, which never logs more.
"""

from __future__ import annotations

from flask import Flask
from flask import Request
from flask import Response
from flask import current_app
from flask import request
from werkzeug.exceptions import BadHost
from werkzeug.exceptions import HTTPException
from werkzeug.routing import MapAdapter

from mailautoconf import endpoints
from mailautoconf.serve import answers
from mailautoconf.serve import autoconfig
from mailautoconf.serve import autodiscover
from mailautoconf.serve import davredirect
from mailautoconf.serve import health
from mailautoconf.serve import metrics
from mailautoconf.serve import mobileconfig
from mailautoconf.serve import pacc
from mailautoconf.serve import webpage
from mailautoconf.serve import wsgi
from mailautoconf.serve.answers import text
from mailautoconf.serve.autodiscover import MAX_AUTODISCOVER_BODY
from mailautoconf.serve.autodiscover import pox_error
from mailautoconf.serve.autodiscover import takes_post
from mailautoconf.tree.store import Store

__all__ = ["create_app"]


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
    for blueprint in (autoconfig.bp, mobileconfig.bp, autodiscover.bp, pacc.bp, health.bp):
        app.register_blueprint(blueprint)
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


def _http_error(error: HTTPException) -> Response:
    """Short plain-text answers; Autodiscover POX paths get the protocol's document."""
    status = error.code or 500
    if request.path == endpoints.AUTODISCOVER_POX.path:
        if status == 413:
            return pox_error(413, 600, "Invalid Request")
        if status == 405:  # OPTIONS, PUT...: say what the GET answer says
            return takes_post()
    headers = dict(error.get_headers())
    headers.pop("Content-Type", None)
    return text(status, f"{status} {error.name}", **headers)


def _unexpected_error(error: Exception) -> Response:
    current_app.logger.exception("unexpected error answering a request")
    return text(500, "500 Internal Server Error")
