"""The settings page for people: ``GET /`` on autoconfig.<d> and autodiscover.<d>, ``/.well-known/autoconfig/`` on <d>.

The page of each domain and language is rendered ahead of time
(render/page.py) and taken from the store like every document. Per request
only the address part is filled in: the tokens of :class:`page.Tokens`
replaced by the address, HTML-escaped in text and attributes and
URL-quoted in links, and the QR code of the profile URL (segno, inline
SVG); sections that do not apply are cut out. The domain is found as the
autoconfig view finds it (web.py): the address's, when it names a hosted
domain, else the Host's.

No script, one inline style allowed by its hash: the Content-Security-Policy
allows nothing else. ``X-Content-Type-Options`` is set for every answer by
web.py's create_app.
"""

from __future__ import annotations

import functools
import html
import re
from urllib.parse import quote

import segno
from flask import Blueprint
from flask import Response
from flask import request

from mailautoconf import answers
from mailautoconf import names
from mailautoconf import wsgi
from mailautoconf.render import PAGES
from mailautoconf.render import page
from mailautoconf.render.page import Tokens
from mailautoconf.store import Entry

__all__ = ["bp"]

bp = Blueprint("page", __name__)

_HTML_TYPE = "text/html; charset=utf-8"
_FORM_CACHE = "max-age=300"
_ADDRESS_CACHE = "no-store"  # a page with someone's address in it: kept by no cache
_MAX_ADDRESS = 320  # RFC 5321's longest path; longer input is not echoed
_STYLE = re.compile(rb"<style>(.*?)</style>", re.S)
# Every fill-in point of a page, found in one scan (see _fill).
_TOKEN = re.compile(b"|".join(re.escape(token.encode("ascii")) for token in Tokens.ALL))


@bp.get("/")
@bp.get("/.well-known/autoconfig/")
def settings_page() -> Response:
    """The page of the address's domain, else of the Host's; the profile link when an address is given."""
    store = answers.store()
    language = _language()
    if store.generation is None:
        return answers.starting()
    address = request.args.get("emailaddress", "").strip()
    address_domain = names.domain_of_address(address) if address else None
    found = store.lookup((address_domain,)) if address_domain else None
    if found is None:
        found = store.lookup(names.candidate_domains(request.environ.get("HTTP_HOST", "")))
    _note(found[0] if found else None, address)
    if found is None:
        return _answer(page.not_found(language), 404, bool(address))
    content = _content(found[1], PAGES[language])
    if content is None:
        return answers.replacing()
    if not address:
        shown = "none"
    elif address_domain is None:
        shown = "invalid"
    elif address_domain != found[0]:
        shown = "unknown"  # an address of a domain not hosted: the Host's page, without a profile
    else:
        shown = "address"
    return _answer(_fill(content, address, shown), 200, bool(address))


def _language() -> str:
    """``?lang=`` when it names one of ours, else the best of Accept-Language (q-values count), else English."""
    asked = request.args.get("lang", "")
    if asked in page.LANGUAGES:
        return asked
    # By quality, highest first (werkzeug sorts; q=0 is dropped), comparing primary tags:
    # "de-AT, en;q=0.5" is German, which werkzeug's best_match would answer in English.
    for tag, _quality in request.accept_languages:
        primary = tag.split("-", 1)[0].split("_", 1)[0].lower()
        if primary in page.LANGUAGES:
            return primary
        if primary == "*":
            break
    return page.DEFAULT_LANGUAGE


def _note(domain: str | None, address: str) -> None:
    """The access log's domain and masked address (web.py's convention, see wsgi.AccessLog)."""
    text = f"domain={domain or '-'}"
    if address:
        text += f" address={names.mask_address(address)}"
    request.environ[wsgi.LOG_KEY] = text


def _content(entry: Entry, path: str) -> bytes | None:
    try:
        return entry.content(path)
    except OSError:  # the last good tree on disk lost its file
        return None


def _fill(content: bytes, address: str, shown: str) -> bytes:
    """The pre-rendered page with the request's part filled in: ``shown`` is the one section kept."""
    echoed = address if len(address) <= _MAX_ADDRESS else ""
    values = {
        Tokens.ADDRESS_VALUE: _escape(echoed),
        Tokens.LANG_QUERY: b"&amp;emailaddress=" + _quote(echoed) if echoed else b"",
    }
    if shown == "address":
        url = _profile_url(address)
        values |= {
            Tokens.ADDRESS_TEXT: _escape(address),
            Tokens.ADDRESS_QUERY: _quote(address),
            Tokens.PROFILE_URL: _escape(url),
            Tokens.QR: _qr(url),
        }
    for name in page.SECTIONS:
        content = _section(content, name, keep=name == shown)
    # One pass: a value is never searched again, so an address that spells a
    # token stays the text it is (replaced one after another, the QR code's
    # markup landed in the input's value attribute). A token without a value
    # (the address part of a page without a profile, cut above) stays as it is.
    return _TOKEN.sub(lambda found: values.get(found[0].decode("ascii"), found[0]), content)


def _section(content: bytes, name: str, *, keep: bool) -> bytes:
    """``content`` with section ``name``'s markers removed, and with it its body unless ``keep``."""
    begin, end = (marker.encode("ascii") for marker in page.section_markers(name))
    start = content.find(begin)
    stop = content.find(end, start)
    if start < 0 or stop < 0:
        return content
    body = content[start + len(begin) : stop] if keep else b""
    return content[:start] + body + content[stop + len(end) :]


def _escape(text: str) -> bytes:
    return html.escape(text, quote=True).encode("utf-8", "replace")


def _quote(text: str) -> bytes:
    """``text`` for a query value: percent-encoded UTF-8, nothing left that HTML would read."""
    return quote(text, safe="@").encode("ascii")


def _profile_url(address: str) -> str:
    """The absolute profile URL for the QR code: the Host asked, over https; autoconfig.<d> if the Host is odd."""
    return f"https://{_public_host(address)}{page.PROFILE_PATH}?emailaddress={quote(address, safe='@')}"


def _public_host(address: str) -> str:
    raw = request.environ.get("HTTP_HOST", "")
    candidates = names.candidate_domains(raw)
    if not candidates:
        return f"autoconfig.{names.domain_of_address(address)}"
    port = raw.rpartition(":")[2] if raw.count(":") == 1 else ""
    return candidates[0] + (f":{port}" if port.isdigit() and port != "443" else "")


def _qr(url: str) -> bytes:
    """The QR code of ``url`` as inline SVG (no style attributes: the CSP allows none)."""
    code = segno.make(url, error="m")
    return code.svg_inline(scale=5, border=4, dark="#000", light="#fff", svgclass="qr").encode("ascii")


@functools.lru_cache(maxsize=16)
def _policy(css: bytes) -> str:
    """The Content-Security-Policy of a page whose inline style is ``css``: that style, the own forms, nothing else."""
    return (
        f"default-src 'none'; style-src {page.style_hash(css.decode('utf-8'))}; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )


def _answer(body: bytes, status: int, personal: bool) -> Response:
    style = _STYLE.search(body)
    policy = _policy(style.group(1) if style else b"")
    headers = {
        "Content-Security-Policy": policy,
        "Referrer-Policy": "no-referrer",  # the address is in the URL
        "Vary": "Accept-Language",
        "Cache-Control": _ADDRESS_CACHE if personal else _FORM_CACHE,
    }
    return Response(body, status, headers, content_type=_HTML_TYPE)
