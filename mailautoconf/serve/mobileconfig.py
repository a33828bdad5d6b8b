"""Apple configuration profiles: one per address, signed when ``[signing]`` names a certificate (docs/apple.md)."""

from __future__ import annotations

from flask import Blueprint
from flask import Response
from flask import request

from mailautoconf import endpoints
from mailautoconf import names
from mailautoconf.endpoints import ADDRESS_PARAMETER
from mailautoconf.render import APPLE_PROFILE
from mailautoconf.render import apple
from mailautoconf.serve.answers import rendered
from mailautoconf.serve.answers import replacing
from mailautoconf.serve.answers import route
from mailautoconf.serve.answers import text
from mailautoconf.serve.documents import note
from mailautoconf.serve.documents import read_content
from mailautoconf.tree.store import Store

__all__ = ["bp"]

bp = Blueprint("mobileconfig", __name__)


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
        note(None)
        return text(400, f"a profile needs ?{ADDRESS_PARAMETER}=<your address>, a valid mail address")
    found = store.lookup((domain, *names.candidate_domains(request.environ.get("HTTP_HOST", ""))))
    note(found[0] if found else None, address)
    if found is None:
        return text(404, "no mail settings for this domain")
    content = read_content(found[1], APPLE_PROFILE, address)
    if content is None:
        return replacing()
    if not content:
        return text(404, "no profile for this domain: none of its servers can be described in one")
    signer = store.signer
    body = signer.sign(content) if signer is not None else content
    filename = found[0] + ".mobileconfig"
    headers = [
        ("Content-Disposition", f'attachment; filename="{filename}"'),
        ("Cache-Control", "no-store"),  # it names the address
    ]
    return Response(body, 200, headers, content_type=apple.CONTENT_TYPE)
