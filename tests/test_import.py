"""``service.py import`` and ``init``, proven over Mozilla's whole ISPDB (tests/data/ispdb).

Every one of the 163 real documents is imported, loaded, rendered for each of
its domains and compared with the original *semantically*: servers in order
with type, host name, port, socket type, authentication and username, pop3
options, documentation, names. Every difference is listed; only those in
:data:`DELIBERATE` (also in docs/import.md, "Deliberate differences") are allowed, each by a rule that
checks the difference is exactly the documented one.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from defusedxml import ElementTree
from support.paths import ROOT

from mailautoconf import clientrules
from mailautoconf import config
from mailautoconf import names
from mailautoconf.authoring import importer
from mailautoconf.render import thunderbird

ISPDB = ROOT / "tests" / "data" / "ispdb"
FILES = sorted(ISPDB.glob("*.xml"))


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "service.py", *args], cwd=ROOT, capture_output=True, input=stdin, timeout=60, check=False
    )


# -- an independent reading of a config-v1.1.xml: what a client takes from it ----------------------


def semantic(data: bytes, domain: str) -> dict[str, Any]:
    """What a client sees in a document for ``domain``: placeholders for the domain filled in."""
    provider = ElementTree.fromstring(data).find("emailProvider")
    assert provider is not None

    def text(element: Any) -> str | None:
        return None if element is None else " ".join((element.text or "").split())

    servers = []
    for element in provider:
        if element.tag not in ("incomingServer", "outgoingServer"):
            continue
        hostname = text(element.find("hostname"))
        username = text(element.find("username"))
        pop3 = {}
        for option in element.find("pop3") if element.find("pop3") is not None else []:
            pop3[option.tag] = option.get("minutes") if option.tag == "checkInterval" else text(option)
        servers.append(
            {
                "direction": element.tag,
                "type": element.get("type"),
                "hostname": hostname.replace("%EMAILDOMAIN%", domain).lower() if hostname else None,
                "port": text(element.find("port")),
                "socketType": text(element.find("socketType")),
                "authentication": [text(method) for method in element.findall("authentication")],
                "username": username.replace("%EMAILDOMAIN%", domain) if username else None,
                "pop3": pop3,
            }
        )
    documentation = [
        (item.get("url"), {descr.get("lang"): text(descr) for descr in item.findall("descr")})
        for item in provider.findall("documentation")
    ]
    return {
        "id": provider.get("id"),
        "domains": [(text(item) or "").lower() for item in provider.findall("domain")],
        "displayName": text(provider.find("displayName")),
        "displayShortName": text(provider.find("displayShortName")),
        "servers": servers,
        "documentation": documentation,
    }


@dataclass(frozen=True)
class Difference:
    file: str
    domain: str
    what: str
    original: Any
    rendered: Any

    def __str__(self) -> str:
        return f"{self.file} ({self.domain}): {self.what}: {self.original!r} -> {self.rendered!r}"


def differences(file: str, domain: str, original: dict[str, Any], rendered: dict[str, Any]) -> list[Difference]:
    """Every way the rendered document says something else than the original."""
    found = []
    for key in ("id", "domains", "displayName", "displayShortName"):
        if original[key] != rendered[key]:
            found.append(Difference(file, domain, key, original[key], rendered[key]))
    kept = list(rendered["servers"])
    for index, server in enumerate(original["servers"], 1):
        match = next((i for i, other in enumerate(kept) if _same_endpoint(server, other)), None)
        if match is None:
            found.append(Difference(file, domain, f"server {index} missing", server, None))
            continue
        if match != 0:
            found.append(Difference(file, domain, f"server {index} out of order", server, kept[0]))
        other = kept.pop(match)
        for key in ("authentication", "username", "pop3"):
            if server[key] != other[key]:
                found.append(Difference(file, domain, f"server {index} {key}", server[key], other[key]))
    found.extend(Difference(file, domain, "server added", None, server) for server in kept)
    if len(original["documentation"]) != len(rendered["documentation"]):
        found.append(Difference(file, domain, "documentation", original["documentation"], rendered["documentation"]))
    else:
        for index, (old, new) in enumerate(zip(original["documentation"], rendered["documentation"], strict=True), 1):
            if old != new:
                found.append(Difference(file, domain, f"documentation {index}", old, new))
    return found


def _same_endpoint(one: dict[str, Any], other: dict[str, Any]) -> bool:
    keys = ("direction", "type", "hostname", "port", "socketType")
    return all(one[key] == other[key] for key in keys)


# -- the deliberate differences (docs/import.md has the same table) -------------------------------

RAW: dict[str, bytes] = {path.name: path.read_bytes() for path in FILES}


def _domain_list(d: Difference) -> bool:
    return d.what == "domains" and d.rendered == [d.domain] and d.domain in d.original


def _provider_id(d: Difference) -> bool:
    if d.what != "id":
        return False
    first = semantic(RAW[d.file], d.domain)["domains"][0]
    return d.rendered == first and not _is_hostname(d.original)


def _short_name_spelling(d: Difference) -> bool:
    misspelled = re.search(rb"<displayNameShort>([^<]*)</displayNameShort>", RAW[d.file])
    return (
        d.what == "displayShortName"
        and d.original is None
        and misspelled is not None
        and d.rendered == misspelled.group(1).decode().strip()
    )


def _server_type(d: Difference) -> bool:
    return (
        d.what.startswith("server ")
        and d.what.endswith(" missing")
        and d.original["type"] not in ("imap", "pop3", "smtp")
    )


def _username_typo(d: Difference) -> bool:
    if not d.what.endswith(" username") or d.original is None:
        return False
    fixed = re.sub(r"%EMAIL(ADDRESS|LOCALPART|DOMAIN)(?!%)", r"%EMAIL\1%", d.original)
    return d.original != fixed and fixed == d.rendered


def _username_missing(d: Difference) -> bool:
    if not d.what.endswith(" username") or d.original is not None:
        return False
    incoming = [s["username"] for s in semantic(RAW[d.file], d.domain)["servers"] if s["username"]]
    return d.rendered == incoming[0]


def _documentation_without_descr(d: Difference) -> bool:
    if not d.what.startswith("documentation "):
        return False
    url, texts = d.original
    return texts == {} and d.rendered == (url, {"en": url})


def _descr_without_lang(d: Difference) -> bool:
    if not d.what.startswith("documentation ") or None not in d.original[1]:
        return False
    texts = {("en" if lang is None else lang): text for lang, text in d.original[1].items()}
    return d.rendered == (d.original[0], texts)


def _is_hostname(text: str | None) -> bool:
    try:
        names.to_ascii(text or "")
    except ValueError:
        return False
    return True


DELIBERATE: dict[str, tuple[str, Callable[[Difference], bool]]] = {
    "domain list": ("each domain's document lists only that domain (list_all_domains = false)", _domain_list),
    "provider id": ("an emailProvider id that is not a host name is replaced by the first domain", _provider_id),
    "short name spelling": ("displayNameShort is read as displayShortName", _short_name_spelling),
    "server type": ("servers of types the model lacks (exchange, ews, owa, graph) are left out", _server_type),
    "username typo": ("%EMAILADDRESS without its closing % is read as %EMAILADDRESS%", _username_typo),
    "username missing": (
        "a server without <username> whose authentication takes credentials gets the first incoming server's",
        _username_missing,
    ),
    "documentation without descr": (
        "a link without <descr> gets its URL as English text",
        _documentation_without_descr,
    ),
    "descr without lang": ("a <descr> without lang is English", _descr_without_lang),
}


def classify(difference: Difference) -> str | None:
    for category, (_, rule) in DELIBERATE.items():
        if rule(difference):
            return category
    return None


# -- the round trip --------------------------------------------------------------------------------


def import_one(name: str) -> tuple[importer.Imported, str]:
    item = importer.parse_document(RAW[name], name)
    return item, importer.build_document([item], None)


def test_round_trip_over_the_whole_ispdb() -> None:
    imported = 0
    allowed: Counter[str] = Counter()
    remaining: list[str] = []
    for name in RAW:
        _, text = import_one(name)
        loaded = config.loads(text, name).config
        imported += 1
        provider = loaded.providers[0]
        for domain in provider.domains:
            original = semantic(RAW[name], domain.name)
            rendered = semantic(thunderbird.render(provider, domain), domain.name)
            for difference in differences(name, domain.name, original, rendered):
                category = classify(difference)
                if category is None:
                    remaining.append(str(difference))
                else:
                    allowed[category] += 1
    assert imported == 163
    assert remaining == []
    # Each category is used by real data (the typo only occurs in servers left out for their type).
    assert set(allowed) == set(DELIBERATE) - {"username typo"}, dict(allowed)


def test_username_typo_is_fixed_and_reported() -> None:
    data = (ISPDB / "teol.net.xml").read_bytes().replace(b"%EMAILADDRESS%</username>", b"%EMAILADDRESS</username>", 1)
    item = importer.parse_document(data, "typo.xml")
    assert item.provider["incoming"][0]["username"] == "{address}"
    assert "typo.xml: /clientConfig/emailProvider/incomingServer[1]/username: " in "\n".join(item.notes)
    difference = Difference("teol.net.xml", "teol.net", "server 1 username", "%EMAILADDRESS", "%EMAILADDRESS%")
    assert classify(difference) == "username typo"


def test_files_with_plain_warn_but_load() -> None:
    plain = [name for name, data in RAW.items() if b"<socketType>plain</socketType>" in data]
    assert len(plain) == 35  # 36 incoming and 34 outgoing sections (SOURCE.md), in 35 files
    for name in plain:
        result = config.loads(import_one(name)[1], name)
        assert any('socket_type "plain"' in warning.message for warning in clientrules.warnings(result)), name


def test_cli_matches_the_module_for_a_sample() -> None:
    for name in ("gmx.net.xml", "office365.com.xml", "nili.ca.xml", "kokuyou.ne.jp.xml", "googlemail.com.xml"):
        item, text = import_one(name)
        result = run("import", str(ISPDB / name))
        assert result.returncode == 0, result.stderr
        assert result.stdout.decode() == text
        notes = [line.replace(str(ISPDB / name), name) for line in result.stderr.decode().splitlines()]
        assert notes[: len(item.notes)] == item.notes


def test_unrepresentable_elements_are_listed_with_their_paths() -> None:
    result = run("import", "tests/data/ispdb/office365.com.xml", "tests/data/ispdb/gmx.net.xml")
    assert result.returncode == 0
    lines = result.stderr.decode().splitlines()
    office = "tests/data/ispdb/office365.com.xml: /clientConfig"
    gmx = "tests/data/ispdb/gmx.net.xml: /clientConfig"
    for line in (
        f"{office}/oAuth2/authURL: not imported (clients read it from the issuer's RFC 8414 metadata)",
        f'{office}/emailProvider/incomingServer[6]: not imported (server type "exchange": the model has imap, pop3)',
        f"{gmx}/emailProvider/enable: not imported (the model has no 'enable this first' instructions)",
        f"{gmx}/emailProvider/documentation: has no <descr>: the URL is imported as its English description",
    ):
        assert line in lines
    # ... while <oAuth2>'s <issuer>, a host name in this format, becomes the issuer URL.
    assert 'oauth_issuer = "https://login.microsoftonline.com"' in result.stdout.decode().splitlines()
    webmail = run("import", "tests/data/ispdb/googlemail.com.xml").stderr.decode().splitlines()
    google = "tests/data/ispdb/googlemail.com.xml: /clientConfig"
    assert f"{google}/webMail: not imported (the model has no web mail links)" in webmail


def test_every_file_reports_what_it_leaves_out() -> None:
    """Each element the importer does not map shows up in its notes (nothing silently dropped)."""
    mapped = {"domain", "displayName", "displayShortName", "incomingServer", "outgoingServer", "documentation"}
    for name, data in RAW.items():
        notes = "\n".join(import_one(name)[0].notes)
        root = ElementTree.fromstring(data)
        for child in root:
            if child.tag != "emailProvider":
                assert f"/clientConfig/{child.tag}" in notes, (name, child.tag)
        for child in root.find("emailProvider"):
            if child.tag not in mapped:
                assert f"/clientConfig/emailProvider/{child.tag}" in notes, (name, child.tag)


def test_malformed_xml_names_file_and_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.xml"
    broken.write_bytes(b'<?xml version="1.0"?>\n<clientConfig>\n  <emailProvider id="a.example"><</emailProvider>\n')
    result = run("import", str(broken), "--output", str(tmp_path / "out.toml"))
    assert result.returncode == 1
    assert result.stderr.decode().startswith(f"{broken}, line 3: not well-formed XML: ")
    assert not (tmp_path / "out.toml").exists()


def test_xml_bomb_and_external_entity_are_refused(tmp_path: Path) -> None:
    bomb = (
        b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>\n'
        b"<clientConfig><emailProvider id='a.example'><domain>&lol2;</domain></emailProvider></clientConfig>\n"
    )
    external = (
        b'<?xml version="1.0"?>\n<!DOCTYPE c [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
        b"<clientConfig><emailProvider id='a.example'><domain>&x;</domain></emailProvider></clientConfig>\n"
    )
    for name, data in (("bomb.xml", bomb), ("external.xml", external)):
        path = tmp_path / name
        path.write_bytes(data)
        result = run("import", str(path))
        assert result.returncode == 1
        assert result.stdout == b""
        assert result.stderr.decode().startswith(f"{path}: refused: DTDs and entities are not allowed")


def test_import_from_stdin() -> None:
    result = run("import", "-", "--public-hostname", "autoconfig.example.net", stdin=RAW["gmx.net.xml"])
    assert result.returncode == 0
    loaded = config.loads(result.stdout, "stdout").config
    assert loaded.service.public_hostname == "autoconfig.example.net"
    assert loaded.providers[0].id == "gmx.net"
    assert "<stdin>: /clientConfig/emailProvider/enable: not imported" in result.stderr.decode()


def test_default_public_hostname_and_shared_ids() -> None:
    """Several ISPDB files share id zoho.com: later ones get their first domain as id."""
    items = [importer.parse_document(RAW[name], name) for name in ("zoho.com.xml", "zoho.eu.xml")]
    loaded = config.loads(importer.build_document(items, None)).config
    assert loaded.service.public_hostname == "autoconfig.zoho.com"
    assert [provider.id for provider in loaded.providers] == ["zoho.com", "zoho.eu"]
    assert "zoho.eu.xml: /clientConfig/emailProvider/@id: " in "\n".join(items[1].notes)


def test_init_then_merge(tmp_path: Path) -> None:
    target = tmp_path / "autoconfig.toml"
    result = run("init", "--output", str(target), "--domain", "example.org", "--mail-host", "mail.example.org")
    assert result.returncode == 0, result.stderr
    loaded = config.load(str(target)).config
    servers = loaded.providers[0].incoming + loaded.providers[0].outgoing
    assert [(s.type, s.port, s.socket_type.value) for s in servers] == [
        ("imap", 993, "SSL"),
        ("imap", 143, "STARTTLS"),
        ("smtp", 465, "SSL"),
        ("smtp", 587, "STARTTLS"),
    ]
    assert run("check", "--config", str(target)).returncode == 0
    target.write_text(target.read_text() + '\n[dns]\naddresses = ["192.0.2.1"]  # kept\n')
    before = target.read_text()

    result = run("import", "--merge", str(target), str(ISPDB / "posteo.de.xml"))
    assert result.returncode == 0, result.stderr
    after = target.read_text()
    assert after.startswith(before)
    loaded = config.load(str(target)).config
    assert [provider.id for provider in loaded.providers] == ["example.org", "posteo.de"]
    assert loaded.service.public_hostname == "autoconfig.example.org"
    assert loaded.dns.addresses == ("192.0.2.1",)

    # --output naming an existing file merges too, and says so
    result = run("import", "--output", str(target), str(ISPDB / "teol.net.xml"))
    assert result.returncode == 0
    assert f"{target} exists: merging" in result.stderr.decode()
    assert [p.id for p in config.load(str(target)).config.providers] == ["example.org", "posteo.de", "teol.net"]


def test_merge_refuses_a_domain_of_another_provider(tmp_path: Path) -> None:
    target = tmp_path / "autoconfig.toml"
    assert run("init", "--output", str(target), "--domain", "gmx.de", "--mail-host", "mail.example.org").returncode == 0
    before = target.read_bytes()
    result = run("import", "--merge", str(target), str(ISPDB / "gmx.net.xml"))
    assert result.returncode == 1
    assert 'provider "gmx.net": domain "gmx.de" is already hosted by provider "gmx.de"' in result.stderr.decode()
    assert target.read_bytes() == before


@pytest.mark.parametrize(
    ("domain", "name", "short"),
    [
        ("example.org", None, None),  # the domain as display name: short enough to be the short name too
        ("mail.example-hosting.co.uk", "Example Hosting Services GmbH", "example-hosting"),
        ("averyveryverylongcompanyname.example", None, "averyveryverylongcom"),
    ],
)
def test_init_writes_a_config_check_takes_without_a_word(
    tmp_path: Path, domain: str, name: str | None, short: str | None
) -> None:
    """A display name too long to be the short one (Autoconfig 1.2: 20 characters) gets a short_name."""
    target = tmp_path / "autoconfig.toml"
    extra = ("--provider-name", name) if name else ()
    assert (
        run("init", "--output", str(target), "--domain", domain, "--mail-host", f"mail.{domain}", *extra).returncode
        == 0
    )
    assert tomllib.loads(target.read_text())["provider"][0].get("short_name") == short
    checked = run("check", "--config", str(target))
    assert checked.returncode == 0 and b", 0 warning(s)\n" in checked.stdout, checked.stdout + checked.stderr


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "autoconfig.toml"
    target.write_text("# mine\n")
    args = ("init", "--output", str(target), "--domain", "bücher.example", "--mail-host", "mail.example.net")
    result = run(*args)
    assert result.returncode == 1
    assert "not overwritten (use --force)" in result.stderr.decode()
    assert target.read_text() == "# mine\n"
    assert run(*args, "--force").returncode == 0
    data = tomllib.loads(target.read_text())
    assert data["provider"][0]["domains"] == ["xn--bcher-kva.example"]
    assert config.load(str(target)).warnings == ()
