"""The settings page for people: ``GET /`` on autoconfig.<d> and autodiscover.<d>, ``/.well-known/autoconfig/`` on <d>.

The page of each domain and language is rendered ahead of time
(render/page.py) and taken from the store like every document. Per request
only the address part is filled in: the tokens of :class:`page.Tokens`
replaced by the address, HTML-escaped in text and attributes and
URL-quoted in links, and the QR code of the profile URL (segno, inline
SVG); sections that do not apply are cut out. The domain is found as the
autoconfig view finds it (autoconfig.py): the address's, when it names a hosted
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

from mailautoconf import endpoints
from mailautoconf import names
from mailautoconf.endpoints import ADDRESS_PARAMETER
from mailautoconf.render import PAGES
from mailautoconf.render import page
from mailautoconf.render.page import Tokens
from mailautoconf.serve import answers
from mailautoconf.serve import wsgi
from mailautoconf.tree.store import Entry
from mailautoconf.tree.store import Store

__all__ = ["bp"]

bp = Blueprint("page", __name__)

_HTML_TYPE = "text/html; charset=utf-8"
_FORM_CACHE = "max-age=300"
_ADDRESS_CACHE = "no-store"  # a page with someone's address in it: kept by no cache
_STYLE = re.compile(rb"<style>(.*?)</style>", re.S)
# Every fill-in point of a page, found in one scan (see _fill).
_TOKEN = re.compile(b"|".join(re.escape(token.encode("ascii")) for token in Tokens.ALL))
_LANG_QUERY = f"&amp;{ADDRESS_PARAMETER}=".encode("ascii")  # after the page's ?lang=, in an attribute


@answers.route(bp, endpoints.PAGE)
@answers.rendered
def settings_page(store: Store) -> Response:
    """The page of the address's domain, else of the Host's; the profile link when an address is given."""
    language = _language()
    address = request.args.get(ADDRESS_PARAMETER, "").strip()
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
    """``?lang=`` when it names one of ours, else the best of Accept-Language (:func:`accepted_language`)."""
    asked = request.args.get("lang", "")
    if asked in page.LANGUAGES:
        return asked
    return accepted_language(request.environ.get("HTTP_ACCEPT_LANGUAGE", ""))


def accepted_language(header: str) -> str:
    """The page's language for an Accept-Language header (RFC 9110 sections 12.4.2 and 12.5.4).

    A language's weight is the one the header gives it by name; else the
    best of its more specific ranges, since who reads ``de-AT`` reads ``de``
    (RFC 4647 section 3.4 truncates a range so); else that of ``*``. A
    weight of 0 means "not acceptable", however it is spelled and also when
    it comes from ``*``. The highest weight wins, equal weights go by the
    header's order (then English first). When no language is acceptable,
    RFC 9110 lets a server disregard the header: a language the header did
    not refuse, else English. An element whose range or weight does not
    parse is left out whole: it neither asks for a language nor refuses one.
    """
    ranges = _weighted_ranges(header)
    verdicts = {language: _verdict(language, ranges) for language in page.LANGUAGES}
    acceptable = [
        (-verdict[0], verdict[1], order, language)
        for order, (language, verdict) in enumerate(verdicts.items())
        if verdict is not None and verdict[0] > 0
    ]
    if acceptable:
        return min(acceptable)[3]
    return next((language for language, verdict in verdicts.items() if verdict is None), page.DEFAULT_LANGUAGE)


def _verdict(language: str, ranges: list[tuple[str, float]]) -> tuple[float, int] | None:
    """The weight the header gives ``language`` and the position it gives it at; None: no range names it."""
    narrower: tuple[float, int] | None = None
    anything: tuple[float, int] | None = None
    for at, (tag, weight) in enumerate(ranges):
        if tag == language:
            return weight, at
        if tag.startswith(language + "-"):
            if narrower is None or weight > narrower[0]:
                narrower = (weight, at)
        elif tag == "*" and anything is None:
            anything = (weight, at)
    return narrower or anything


# RFC 9110 section 12.5.4: a language-range of RFC 4647 section 2.1, and "_"
# (de_DE), which some clients send for "-"; section 12.4.2: the qvalue, at
# most three decimals, "q" in any case (ABNF strings are case-insensitive).
_RANGE = re.compile(r"\*|[a-z]{1,8}(?:[-_][a-z0-9]{1,8})*")
_WEIGHT = re.compile(r"q=(0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)")


def _weighted_ranges(header: str) -> list[tuple[str, float]]:
    """The header's well-formed elements in order: (lower-case range, weight)."""
    ranges = []
    for element in header.split(","):
        tag, *parameters = (part.strip(" \t") for part in element.lower().split(";"))
        weight = _WEIGHT.fullmatch(parameters[0]) if len(parameters) == 1 else None
        if not _RANGE.fullmatch(tag) or len(parameters) > 1 or (parameters and weight is None):
            continue
        ranges.append((tag.replace("_", "-"), float(weight.group(1)) if weight else 1.0))
    return ranges


def _note(domain: str | None, address: str) -> None:
    """The access log's domain and masked address (documents.note's convention, see wsgi.AccessLog)."""
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
    echoed = address if len(address) <= names.MAX_ADDRESS else ""  # longer input is not echoed
    values = {
        Tokens.ADDRESS_VALUE: _escape(echoed),
        Tokens.LANG_QUERY: _LANG_QUERY + _quote(echoed) if echoed else b"",
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
    query = f"{ADDRESS_PARAMETER}={quote(address, safe='@')}"
    return f"https://{_public_host(address)}{endpoints.APPLE_PROFILE.path}?{query}"


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
