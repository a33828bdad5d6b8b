"""Thunderbird's autoconfig: config-v1.1.xml for the address's domain, else the Host's, else the MX domain's.

Asked by Thunderbird, Thunderbird for Android (K-9), Evolution and KMail
(docs/clients.md section 1), on autoconfig.<d> and on <d>/.well-known/.
GNOME Online Accounts asks the same document under its own name first,
``/.well-known/mail-v1.xml`` on autoconfig.<d> (docs/clients.md section
1.15): it reads the config-v1.1.xml format, so it is answered the same
view, the same rendered bytes (no file more per domain in the tree).
"""

from __future__ import annotations

from flask import Blueprint
from flask import Response
from flask import request

from mailautoconf import endpoints
from mailautoconf import names
from mailautoconf.endpoints import ADDRESS_PARAMETER
from mailautoconf.render import EVOLUTION
from mailautoconf.render import THUNDERBIRD
from mailautoconf.serve.answers import rendered
from mailautoconf.serve.answers import route
from mailautoconf.serve.answers import text
from mailautoconf.serve.documents import XML_TYPE
from mailautoconf.serve.documents import conditional
from mailautoconf.serve.documents import note
from mailautoconf.serve.documents import query_argument
from mailautoconf.tree.store import Store

__all__ = ["bp"]

bp = Blueprint("autoconfig", __name__)


@route(bp, endpoints.AUTOCONFIG)
@route(bp, endpoints.GNOME_AUTOCONFIG)
@rendered
def autoconfig(store: Store) -> Response:
    """Serve config-v1.1.xml for the address's domain, else the Host's.

    ``emailaddress`` is only a hint: K-9 and KMail never send it, Evolution
    sends a dummy local part, GNOME sends it not URL-encoded (a "+" arrives
    as a space, which changes no domain). Only a real document is ever
    answered 2xx: Evolution stops looking at any well-formed 2xx answer.
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
    note(found[0] if found else None, address)
    if found is None:
        return text(404, "no mail settings for this domain")
    # Evolution keeps the last server of each type it reads: it gets a
    # document listing only the first (render/evolution.py).
    is_evolution = environ.get("HTTP_USER_AGENT", "").startswith("Evolution/")
    return conditional(found[1], EVOLUTION if is_evolution else THUNDERBIRD, XML_TYPE)
