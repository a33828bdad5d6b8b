"""What draft-ietf-mailmaint-pacc fixes, in one place: URL, revisions, ports, limits, the DNS digest.

PACC ("provider automatic configuration for clients") is a JSON document at
a fixed https URL, ``https://ua-auto-config.<d>/.well-known/user-agent-configuration.json``,
whose integrity is anchored in DNS: the TXT record of ``_ua-auto-config.<d>``
holds ``v=UAAC1; a=sha256; d=<base64 of the SHA-256 of the exact body>``
(draft section "DNS records"). A client hashes the raw body and accepts it if
any TXT record there matches; several may coexist while one is replaced,
and tag order and unknown tags do not matter.

Every module that names these (the renderer, the web view, ``dns``,
``check-dns``, ``nginx``, ``certs``) takes them from here, so they cannot
disagree (docs/style: the "autoconfig." literal in four places is the
counter-example); the path itself is written in :mod:`mailautoconf.endpoints`
with every other public path.
"""

from __future__ import annotations

import base64
import hashlib

from mailautoconf import endpoints

__all__ = [
    "DEFAULT_REVISION",
    "HOST_LABEL",
    "MAX_NAME",
    "MAX_SHORT_NAME",
    "PATH",
    "PORTS",
    "REVISIONS",
    "TXT_LABEL",
    "digest",
    "parse_txt",
    "txt_record",
]

# The host clients ask (draft section "Discovery"), and the TXT record's owner name.
HOST_LABEL = "ua-auto-config"
TXT_LABEL = "_ua-auto-config"
PATH = endpoints.PACC.path

# Revisions served, and how each names message submission in "protocols":
# -02 says "smtp" (what Stalwart serves), -03 "submit" (what automx 3 pins).
REVISIONS = {"02": "smtp", "03": "submit"}
DEFAULT_REVISION = "03"  # the latest; docs/pacc.md says why

# PACC has no port or TLS field: every protocol is implicit TLS on its
# default port (draft section "Protocols"; RFC 8314 for 993, 995 and 465).
PORTS = {"imap": 993, "pop3": 995, "smtp": 465}

# info.provider limits (draft section "Information"): characters, not bytes.
MAX_NAME = 60
MAX_SHORT_NAME = 20


def digest(body: bytes) -> str:
    """The ``d=`` value for ``body``: base64 (with padding) of its SHA-256."""
    return base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")


def txt_record(body: bytes) -> str:
    """The TXT record text for ``body`` (draft section "DNS records"), without zone-file quoting."""
    return f"v=UAAC1; a=sha256; d={digest(body)}"


def parse_txt(text: str) -> str | None:
    """The ``d=`` digest of a UAAC1 TXT record with ``a=sha256``; None for any other record.

    Tags are ``name=value`` separated by ``;``, in any order, with optional
    spaces; unknown tags are ignored (draft section "DNS records").
    """
    tags: dict[str, str] = {}
    for part in text.split(";"):
        name, sep, value = part.partition("=")
        if sep:
            tags.setdefault(name.strip().lower(), value.strip())
    if tags.get("v") != "UAAC1" or tags.get("a", "").lower() != "sha256":
        return None
    return tags.get("d") or None
