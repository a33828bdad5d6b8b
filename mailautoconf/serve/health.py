"""``/healthz``: what is served and each kind of trouble, naming the file (docs/monitoring.md)."""

from __future__ import annotations

from flask import Blueprint
from flask import Response

from mailautoconf import endpoints
from mailautoconf.render import outlook
from mailautoconf.serve import answers
from mailautoconf.serve.answers import route
from mailautoconf.serve.documents import JSON_TYPE

__all__ = ["bp"]

bp = Blueprint("health", __name__)


@route(bp, endpoints.HEALTHZ)
def healthz() -> Response:
    """Report what is served and each kind of trouble, naming the file; 503 until something is served.

    One field per kind, for a monitor to alert on: ``config_error`` (the
    last config read was rejected: an older one is served), ``tree_error``
    (the tree nginx serves from does not match what is served, and could
    not be repaired yet), ``signing_error`` (Apple profiles are not signed
    as ``[signing]`` says). ``status`` is "ok" only when all three are null.
    """
    store = answers.store()
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
    return Response(outlook.json_bytes(body, indent=2) + b"\n", status, content_type=JSON_TYPE)
