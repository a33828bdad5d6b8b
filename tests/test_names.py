"""names: what a Host header or an address stands for, and what a log may show of an address."""

from __future__ import annotations

import pytest

from mailautoconf import names

# -- candidate_domains (the Host header) -------------------------------------


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        pytest.param("example.org", ("example.org",), id="plain"),
        pytest.param("Example.ORG", ("example.org",), id="letter-case"),
        pytest.param("example.org:443", ("example.org",), id="port"),
        pytest.param("example.org:8080", ("example.org",), id="other-port"),
        pytest.param("example.org.", ("example.org",), id="trailing-dot"),
        pytest.param("example.org.:443", ("example.org",), id="trailing-dot-and-port"),
        pytest.param("autoconfig.example.org", ("autoconfig.example.org", "example.org"), id="autoconfig-prefix"),
        pytest.param("autodiscover.example.org", ("autodiscover.example.org", "example.org"), id="autodiscover-prefix"),
        pytest.param(
            "AUTOCONFIG.Example.ORG.:443", ("autoconfig.example.org", "example.org"), id="prefix-case-dot-port"
        ),
        pytest.param(
            "AutoDiscover.example.org:80", ("autodiscover.example.org", "example.org"), id="autodiscover-mixed-case"
        ),
        pytest.param(
            "autoconfig.autodiscover.example.org",
            ("autoconfig.autodiscover.example.org", "autodiscover.example.org"),
            id="one-prefix-stripped",
        ),
        pytest.param("mail.autoconfig.example.org", ("mail.autoconfig.example.org",), id="prefix-not-at-start"),
        pytest.param("autoconfigexample.org", ("autoconfigexample.org",), id="prefix-without-dot"),
        pytest.param("autoconfig.org", ("autoconfig.org",), id="prefix-leaves-single-label"),  # BUG: adds "org"
        pytest.param("autodiscover.com:443", ("autodiscover.com",), id="prefix-leaves-tld"),  # BUG: adds "com"
        pytest.param("sub.example.org", ("sub.example.org",), id="subdomain"),
        pytest.param("bücher.example", ("xn--bcher-kva.example",), id="unicode"),
        pytest.param("BÜCHER.Example:443", ("xn--bcher-kva.example",), id="unicode-upper-case-port"),
        pytest.param(
            "autoconfig.bücher.example",
            ("autoconfig.xn--bcher-kva.example", "xn--bcher-kva.example"),
            id="unicode-with-prefix",
        ),
        pytest.param("xn--bcher-kva.example", ("xn--bcher-kva.example",), id="punycode"),
        pytest.param("\uff25\uff38\uff21\uff2d\uff30\uff2c\uff25.org", ("example.org",), id="fullwidth-letters"),
    ],
)
def test_candidate_domains(host: str, expected: tuple[str, ...]) -> None:
    assert names.candidate_domains(host) == expected


@pytest.mark.parametrize(
    "host",
    [
        pytest.param("", id="empty"),
        pytest.param(" ", id="blank"),
        pytest.param(".", id="dot"),
        pytest.param("localhost", id="single-label"),
        pytest.param("localhost:80", id="single-label-port"),
        pytest.param("autoconfig.", id="prefix-only"),
        pytest.param("[::1]", id="ipv6-literal"),
        pytest.param("[::1]:443", id="ipv6-literal-port"),
        pytest.param("[2001:db8::1]:8443", id="ipv6-literal-documentation"),
        pytest.param("::1", id="ipv6-bare"),
        pytest.param("2001:db8::1", id="ipv6-bare-documentation"),
        pytest.param("192.0.2.1", id="ipv4"),
        pytest.param("192.0.2.1:443", id="ipv4-port"),
        pytest.param("example.org:443:1", id="two-colons"),
        pytest.param("a/b/../c.example", id="slashes"),
        pytest.param("../etc/passwd", id="dot-dot-path"),
        pytest.param("example.org/../../etc", id="path-after-name"),
        pytest.param("..", id="dot-dot"),
        pytest.param("example..org", id="empty-label"),
        pytest.param(".example.org", id="leading-dot"),
        pytest.param("exa mple.org", id="space"),
        pytest.param("ex_ample.org", id="underscore"),
        pytest.param("*.example.org", id="wildcard"),
        pytest.param("-example.org", id="leading-hyphen"),
        pytest.param("example-.org", id="trailing-hyphen"),
        pytest.param("example.org\x00", id="nul"),
        pytest.param("\x00example.org", id="leading-nul"),
        pytest.param("exa\nmple.org", id="newline-inside"),
        pytest.param("example.org%2F..", id="percent-encoded"),
        pytest.param("example.org\\..\\x", id="backslashes"),
        pytest.param("user@example.org", id="userinfo"),
        pytest.param("xn--zz.example", id="bad-punycode"),
        pytest.param("☃.example", id="disallowed-code-point"),
        pytest.param("a" * 64 + ".example", id="label-64"),
        pytest.param(".".join(["a" * 63] * 4) + ".org", id="name-over-253"),
        pytest.param("a." * 150 + "org", id="name-301"),
        pytest.param("x" * 300, id="300-characters"),
        pytest.param("example.org" + " " * 300, id="long-with-spaces"),
        pytest.param("a" * 1_000_000, id="a-million-characters"),
        pytest.param("ü" * 100_000 + ".example", id="long-unicode"),
    ],
)
def test_candidate_domains_of_garbage(host: str) -> None:
    assert names.candidate_domains(host) == ()


def test_candidate_domains_are_host_names() -> None:
    hosts = ["autoconfig.example.org", "autodiscover.xn--bcher-kva.example", "autoconfig.org", "autodiscover.io:443"]
    for host in hosts:
        for candidate in names.candidate_domains(host):
            assert names.is_hostname(candidate), (host, candidate)


def test_longest_valid_name() -> None:
    name = ".".join(["a" * 63] * 3) + "." + "b" * 61  # 253 characters
    assert len(name) == 253
    assert names.candidate_domains(name.upper() + ".:443") == (name,)
    assert names.candidate_domains(name + "b") == ()


# -- host_without_port --------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        pytest.param("example.org", "example.org", id="no-port"),
        pytest.param("example.org:443", "example.org", id="port"),
        pytest.param("[::1]:443", "[::1]", id="ipv6-port"),
        pytest.param("[::1]", "[::1]", id="ipv6"),
        pytest.param("::1", "::1", id="ipv6-bare"),
    ],
)
def test_host_without_port(host: str, expected: str) -> None:
    assert names.host_without_port(host) == expected


# -- domain_of_address ---------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        pytest.param("fred@example.org", "example.org", id="plain"),
        pytest.param("Fred@Example.ORG", "example.org", id="letter-case"),
        pytest.param("fred@example.org.", "example.org", id="trailing-dot"),
        pytest.param(" fred@example.org ", "example.org", id="surrounding-space"),
        pytest.param("fred+tag@example.org", "example.org", id="plus"),
        pytest.param("fred tag@example.org", "example.org", id="plus-decoded-as-space"),
        pytest.param("fred.o'neil@example.org", "example.org", id="quote-and-dot"),
        pytest.param('"fred@home"@example.org', "example.org", id="quoted-local-part-with-at"),
        pytest.param("a@b@example.org", "example.org", id="two-ats-last-wins"),
        pytest.param("fred@bücher.example", "xn--bcher-kva.example", id="unicode-domain"),
        pytest.param("fred@BÜCHER.example", "xn--bcher-kva.example", id="unicode-domain-upper-case"),
        pytest.param("fred@xn--bcher-kva.example", "xn--bcher-kva.example", id="punycode-domain"),
        pytest.param("jürgen@example.org", "example.org", id="unicode-local-part"),
        pytest.param("fred@autoconfig.example.org", "autoconfig.example.org", id="prefix-kept"),
        pytest.param("<script>@example.org", "example.org", id="markup-in-local-part"),
        pytest.param("fred@", None, id="no-domain"),
        pytest.param("@example.org", None, id="no-local-part"),
        pytest.param("fred", None, id="no-at"),
        pytest.param("", None, id="empty"),
        pytest.param("fred%40example.org", None, id="percent-encoded-at"),
        pytest.param("fred@example.org@", None, id="trailing-at"),
        pytest.param("<fred@example.org>", None, id="angle-brackets"),
        pytest.param("fred@<b>example.org</b>", None, id="markup-in-domain"),
        pytest.param("fred@example.org/../x", None, id="path-in-domain"),
        pytest.param("fred@localhost", None, id="single-label"),
        pytest.param("fred@[192.0.2.1]", None, id="address-literal"),
        pytest.param("fred@192.0.2.1", None, id="ipv4"),
        pytest.param("fred@exa mple.org", None, id="space-in-domain"),
        pytest.param("fred@example.org:443", None, id="port-in-domain"),
        pytest.param("fred@example..org", None, id="empty-label"),
        pytest.param("a" * 400 + "@example.org", None, id="very-long"),
        pytest.param("fred@" + "a" * 100_000 + ".org", None, id="very-long-domain"),
    ],
)
def test_domain_of_address(address: str, expected: str | None) -> None:
    assert names.domain_of_address(address) == expected


# -- to_ascii / to_unicode -------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("example.org", "example.org", id="plain"),
        pytest.param("Example.ORG.", "example.org", id="case-and-dot"),
        pytest.param("  example.org  ", "example.org", id="spaces"),
        pytest.param("bücher.example", "xn--bcher-kva.example", id="unicode"),
        pytest.param("Bücher.Example", "xn--bcher-kva.example", id="unicode-mixed-case"),
        pytest.param("XN--BCHER-KVA.example", "xn--bcher-kva.example", id="punycode-upper-case"),
        pytest.param("faß.de", "xn--fa-hia.de", id="sharp-s-idna2008"),
        pytest.param("ΑΒΓ.example", "xn--mxacd.example", id="greek-upper-case"),
        pytest.param("1.2.3.a", "1.2.3.a", id="digits-but-letter-tld"),
        pytest.param("a" * 63 + ".org", "a" * 63 + ".org", id="label-63"),
    ],
)
def test_to_ascii(name: str, expected: str) -> None:
    assert names.to_ascii(name) == expected


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("", id="empty"),
        pytest.param(".", id="dot"),
        pytest.param("org", id="single-label"),
        pytest.param("a..b", id="empty-label"),
        pytest.param("a_b.org", id="underscore"),
        pytest.param("-a.org", id="leading-hyphen"),
        pytest.param("1.2.3.4", id="ipv4"),
        pytest.param("a.123", id="numeric-tld"),
        pytest.param("a" * 64 + ".org", id="label-64"),
        pytest.param("xn--zz.example", id="bad-punycode"),
        pytest.param("☃.example", id="disallowed"),
        pytest.param("a/b.org", id="slash"),
        pytest.param("example.org\x00", id="nul"),
    ],
)
def test_to_ascii_rejects(name: str) -> None:
    with pytest.raises(ValueError):
        names.to_ascii(name)


def test_to_unicode() -> None:
    assert names.to_unicode("xn--bcher-kva.example") == "bücher.example"
    assert names.to_unicode("example.org") == "example.org"
    assert names.to_unicode("xn--zz.example") == "xn--zz.example"  # undecodable: left alone


# -- mask_address ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        pytest.param("fred@example.org", "f***@example.org", id="plain"),
        pytest.param("Fred@Example.ORG", "F***@Example.ORG", id="case-kept"),
        pytest.param("f@example.org", "f***@example.org", id="one-character"),
        pytest.param("fred+secret@example.org", "f***@example.org", id="plus"),
        pytest.param("a@b@example.org", "a***@example.org", id="two-ats"),
        pytest.param("jürgen@bücher.example", "j***@bücher.example", id="unicode"),
        pytest.param("éric@example.org", "é***@example.org", id="unicode-first-letter"),
        pytest.param("@example.org", "***@example.org", id="empty-local-part"),
        pytest.param("fred@", "f***@", id="empty-domain"),
        pytest.param("fred", "***", id="no-at"),
        pytest.param("", "***", id="empty"),
        pytest.param("<fred@example.org", "***@example.org", id="markup-first"),
        pytest.param(".fred@example.org", "***@example.org", id="punctuation-first"),
        pytest.param("\x1b[31mfred@example.org", "***@example.org", id="escape-sequence-first"),
        pytest.param("\u202efred@example.org", "***@example.org", id="bidi-override-first"),
        pytest.param("\nfred@example.org", "***@example.org", id="newline-first"),
        pytest.param("fred@exa\nmple.org", "f***@***", id="newline-in-domain"),
        pytest.param("fred@example.org\r\n", "f***@***", id="crlf-after-domain"),
        pytest.param("fred@exa\x1bmple.org", "f***@***", id="escape-in-domain"),
        pytest.param("fred@exa\u2028mple.org", "f***@***", id="line-separator-in-domain"),
        pytest.param("fred@exa\u202emple.org", "f***@***", id="bidi-in-domain"),
        pytest.param("fred@" + "a" * 254, "f***@***", id="domain-too-long"),
    ],
)
def test_mask_address(address: str, expected: str) -> None:
    assert names.mask_address(address) == expected


MASK_INPUTS = [
    "fred@example.org",
    "frederick.secret.name@example.org",
    "password123@example.org",
    "a@b@c@example.org",
    "x" * 10_000 + "@example.org",
    "ab\x00cd@example.org",
    "a\x1b]0;title\x07@example.org",
    "a\r\nInjected: header@example.org",
    "secret\u2028line@exa\u0085mple.org",
    "s\ud800@example.org",
    "\x7fdel@example.org",
    "fred@\x00",
    "fred@ex\tample.org",
    "\U0001d523red@example.org",
    "f\u0301red@example.org",
    "\u200bfred@example.org",
    "fred",
    "fred\x00",
    "@",
    "@@",
]


@pytest.mark.parametrize("address", MASK_INPUTS)
def test_mask_address_reveals_at_most_one_character(address: str) -> None:
    masked = names.mask_address(address)
    local = address.rpartition("@")[0]
    head, sep, domain = masked.partition("***")
    assert sep == "***"
    assert head in ("", local[:1])
    assert len(head) <= 1
    assert domain in ("", "@***", "@" + address.rpartition("@")[2])
    assert masked.isprintable(), repr(masked)
