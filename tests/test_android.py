"""The Thunderbird-for-Android rule checker, and every document we render against it."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.configs import HOSTING as HOSTING_CONFIG
from support.configs import MINIMAL_AUTOCONFIG as MINIMAL
from support.paths import EXAMPLE_CONFIG

from mailautoconf import clientrules
from mailautoconf import config
from mailautoconf import render

ISPDB = Path(__file__).parent / "data" / "ispdb"


@pytest.mark.parametrize(
    "config_text", [EXAMPLE_CONFIG.read_text(encoding="utf-8"), HOSTING_CONFIG], ids=["example", "hosting"]
)
def test_every_rendered_document_passes(config_text: str) -> None:
    tree = render.render(config.loads(config_text).config)
    assert tree
    for domain, documents in tree.items():
        assert clientrules.android_problems(documents[render.THUNDERBIRD], f"fred@{domain}") == [], domain


def test_minimal_document_passes() -> None:
    assert clientrules.android_problems(MINIMAL) == []


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param(b"<socketType>SSL</socketType>", b"<socketType> SSL</socketType>",
                     ["incoming server 1 (imap): socketType ' SSL' is not SSL or STARTTLS"], id="space-in-socket-type"),
        pytest.param(b"<socketType>SSL</socketType>", b"<socketType>plain</socketType>",
                     ["incoming server 1 (imap): socketType 'plain' is not SSL or STARTTLS"], id="plain"),
        pytest.param(b"<socketType>SSL</socketType>", b"<socketType>TLS</socketType>",
                     ["incoming server 1 (imap): socketType 'TLS' is not SSL or STARTTLS"], id="old-tls"),
        pytest.param(b"<port>993</port>", b"<port>993\n</port>",
                     ["incoming server 1 (imap): invalid port '993\\n'"], id="newline-in-port"),
        pytest.param(b"<port>993</port>", b"", ["incoming server 1 (imap): missing <port>"], id="missing-port"),
        pytest.param(b'type="imap"', b'type="pop3"',
                     ["no incoming server of type imap (POP3-only settings are rejected)"], id="pop3-only"),
        pytest.param(b"<hostname>imap.example.org</hostname>", b"<hostname>imap example</hostname>",
                     ["incoming server 1 (imap): invalid hostname 'imap example'"], id="bad-hostname"),
        pytest.param(b'id="example.org"', b'id="example org"',
                     ["emailProvider id 'example org' is not a host name"], id="bad-id"),
        pytest.param(b"<domain>example.org</domain>", b"", ["no <domain> that is a valid host name"], id="no-domain"),
        pytest.param(b"<authentication>password-cleartext</authentication>\n    </incomingServer>",
                     b"<authentication>NTLM</authentication>\n    </incomingServer>",
                     ["incoming server 1 (imap): no usable authentication (password-cleartext, password-encrypted "
                      "or OAuth2)"], id="ntlm-only"),
        pytest.param(b"<username>%EMAILADDRESS%</username>\n      <authentication>password-cleartext</authentication>"
                     b"\n    </outgoingServer>",
                     b"<authentication>password-cleartext</authentication>\n    </outgoingServer>",
                     ["outgoing server 1 (smtp): missing <username>"], id="smtp-without-username"),
        pytest.param(b"<?xml", b"\xef\xbb\xbf<?xml", ["the document starts with a UTF-8 byte order mark"], id="bom"),
    ],
)  # fmt: skip
def test_each_rule_is_named(old: bytes, new: bytes, expected: list[str]) -> None:
    assert old in MINIMAL
    assert clientrules.android_problems(MINIMAL.replace(old, new, 1)) == expected


# What the real Android app does with each file of Mozilla's ISPDB (docs/clients.md section 1.10): it
# accepts 117 of the 163 files; 35 fail on a plain socket type, 10 are POP3-only, 1 lacks an
# SMTP username.
ISPDB_VERDICTS = {
    "126.com.xml": "accepted",
    "163.com.xml": "accepted",
    "1und1.de.xml": "accepted",
    "a1.net.xml": "accepted",
    "active24.com.xml": "accepted",
    "alice.it.xml": "accepted",
    "aol.com.xml": "accepted",
    "arubapec.it.xml": "accepted",
    "att.net.xml": "accepted",
    "bay.wind.ne.jp.xml": "plain",
    "bb-niigata.jp.xml": "plain",
    "bell.net.xml": "accepted",
    "biglobe.ne.jp.xml": "pop3-only",
    "bigpond.com.xml": "accepted",
    "bluewin.ch.xml": "accepted",
    "blueyonder.co.uk.xml": "accepted",
    "bol.com.br.xml": "accepted",
    "broba.cc.xml": "plain",
    "btinternet.com.xml": "accepted",
    "cc9.ne.jp.xml": "accepted",
    "cek.ne.jp.xml": "accepted",
    "centurylink.net.xml": "accepted",
    "centurytel.net.xml": "pop3-only",
    "cgl.ucsf.edu.xml": "accepted",
    "charter.net.xml": "accepted",
    "clio.ne.jp.xml": "plain",
    "clustermail.de.xml": "accepted",
    "co1.wind.ne.jp.xml": "plain",
    "co2.wind.ne.jp.xml": "plain",
    "co3.wind.ne.jp.xml": "plain",
    "comcast.net.xml": "accepted",
    "cty-net.ne.jp.xml": "pop3-only",
    "dan.wind.ne.jp.xml": "plain",
    "daum.net.xml": "accepted",
    "dd.iij4u.or.jp.xml": "pop3-only",
    "df.eu.xml": "accepted",
    "dondominio.com.xml": "accepted",
    "earthlink.net.xml": "accepted",
    "educa.madrid.org.xml": "accepted",
    "elpasotel.net.xml": "accepted",
    "email.it.xml": "accepted",
    "emailsrvr.com.xml": "accepted",
    "fastwebnet.it.xml": "accepted",
    "free.fr.xml": "accepted",
    "gandi.net.xml": "accepted",
    "gigahost.dk.xml": "accepted",
    "gmx.com.xml": "accepted",
    "gmx.net.xml": "accepted",
    "go.tvm.ne.jp.xml": "plain",
    "goo.jp.xml": "plain",
    "googlemail.com.xml": "accepted",
    "gransy.com.xml": "accepted",
    "hal.ne.jp.xml": "plain",
    "hana.or.jp.xml": "plain",
    "hetzner.de.xml": "accepted",
    "hotmail.com.xml": "accepted",
    "i.softbank.jp.xml": "accepted",
    "ic-net.or.jp.xml": "plain",
    "iijmio-mail.jp.xml": "pop3-only",
    "iiyama-catv.ne.jp.xml": "accepted",
    "inbox.lv.xml": "accepted",
    "inet-shibata.or.jp.xml": "plain",
    "ipax.at.xml": "accepted",
    "iwafune.ne.jp.xml": "plain",
    "janis.or.jp.xml": "accepted",
    "jet.ne.jp.xml": "accepted",
    "ji.jet.ne.jp.xml": "plain",
    "kelcom.net.xml": "accepted",
    "kl.wind.ne.jp.xml": "plain",
    "kokuyou.ne.jp.xml": "plain",
    "kpnmail.nl.xml": "accepted",
    "laposte.net.xml": "accepted",
    "libero.it.xml": "accepted",
    "mahoroba.ne.jp.xml": "plain",
    "mail.com.xml": "accepted",
    "mail.dk.xml": "accepted",
    "mail.ee.xml": "accepted",
    "mail.iwafune.ne.jp.xml": "plain",
    "mail.jubii.dk.xml": "accepted",
    "mail.ru.xml": "accepted",
    "mail.wind.ne.jp.xml": "plain",
    "me.com.xml": "accepted",
    "messagingengine.com.xml": "accepted",
    "mit.edu.xml": "accepted",
    "ml.murakami.ne.jp.xml": "plain",
    "mnet.ne.jp.xml": "accepted",
    "mopera.net.xml": "accepted",
    "mx1.tiki.ne.jp.xml": "plain",
    "naver.com.xml": "accepted",
    "nifty.com.xml": "plain",
    "nili.ca.xml": "accepted",
    "nsat.jp.xml": "plain",
    "ntlworld.com.xml": "accepted",
    "o2.pl.xml": "accepted",
    "ocn.ne.jp.xml": "pop3-only",
    "office365.com.xml": "accepted",
    "one.com.xml": "accepted",
    "one.cz.xml": "accepted",
    "onet.pl.xml": "accepted",
    "orange.fr.xml": "accepted",
    "ovh.net.xml": "accepted",
    "oxcloud-eu.xml": "accepted",
    "oxcloud-us.xml": "accepted",
    "parabox.or.jp.xml": "plain",
    "pdx.edu.xml": "accepted",
    "peoplepc.com.xml": "plain",
    "po.wind.ne.jp.xml": "plain",
    "pobox.com.xml": "accepted",
    "pop.shibata.ne.jp.xml": "plain",
    "postecert.it.xml": "accepted",
    "posteo.de.xml": "accepted",
    "ptd.net.xml": "accepted",
    "q.com.xml": "accepted",
    "qq.com.xml": "accepted",
    "rambler.ru.xml": "accepted",
    "rediffmail.com.xml": "plain",
    "rr.com.xml": "accepted",
    "runestone.net.xml": "pop3-only",
    "sapo.pt.xml": "accepted",
    "schwaz.net.xml": "accepted",
    "seznam.cz.xml": "accepted",
    "sfr.fr.xml": "accepted",
    "sky.com.xml": "accepted",
    "skynet.be.xml": "accepted",
    "so.wind.ne.jp.xml": "plain",
    "strato.de.xml": "accepted",
    "studenti.univr.it.xml": "accepted",
    "t-online.de.xml": "accepted",
    "teol.net.xml": "smtp-username",
    "thinline.cz.xml": "accepted",
    "tiki.ne.jp.xml": "plain",
    "tim.it.xml": "accepted",
    "tiscali.cz.xml": "plain",
    "tiscali.it.xml": "accepted",
    "umich.edu.xml": "accepted",
    "uol.com.br.xml": "accepted",
    "verizon.net.xml": "accepted",
    "virgilio.it.xml": "accepted",
    "virgin.net.xml": "accepted",
    "virginmedia.com.xml": "accepted",
    "vm.aikis.or.jp.xml": "pop3-only",
    "vodafonemail.de.xml": "accepted",
    "vp.tiki.ne.jp.xml": "plain",
    "web.de.xml": "accepted",
    "webhuset.no.xml": "accepted",
    "websupport.sk.xml": "accepted",
    "wildwestdomains.com.xml": "accepted",
    "wp.pl.xml": "accepted",
    "xp.wind.jp.xml": "plain",
    "xtra.co.nz.xml": "accepted",
    "yahoo.co.jp.xml": "pop3-only",
    "yahoo.com.xml": "accepted",
    "yandex.ru.xml": "accepted",
    "ybb.ne.jp.xml": "pop3-only",
    "yeah.net.xml": "accepted",
    "zeelandnet.nl.xml": "accepted",
    "ziggo.nl.xml": "accepted",
    "zoho.com.au.xml": "accepted",
    "zoho.com.xml": "accepted",
    "zoho.eu.xml": "accepted",
    "zoho.in.xml": "accepted",
    "zoho.jp.xml": "accepted",
    "zohocloud.ca.xml": "accepted",
}


def verdict(found: list[str]) -> str:
    if not found:
        return "accepted"
    if any("'plain'" in problem for problem in found):
        return "plain"
    if any("POP3-only" in problem for problem in found):
        return "pop3-only"
    if found == ["outgoing server 1 (smtp): missing <username>"]:
        return "smtp-username"
    return f"other: {found}"


def test_the_verdict_table_covers_every_ispdb_file() -> None:
    assert sorted(path.name for path in ISPDB.glob("*.xml")) == sorted(ISPDB_VERDICTS)
    counts = {name: list(ISPDB_VERDICTS.values()).count(name) for name in set(ISPDB_VERDICTS.values())}
    assert counts == {"accepted": 117, "plain": 35, "pop3-only": 10, "smtp-username": 1}


@pytest.mark.parametrize("name", sorted(ISPDB_VERDICTS))
def test_ispdb_verdict_matches_the_real_client(name: str) -> None:
    path = ISPDB / name
    found = clientrules.android_problems(path.read_bytes(), f"fred@{path.stem}")
    assert verdict(found) == ISPDB_VERDICTS[name], found
