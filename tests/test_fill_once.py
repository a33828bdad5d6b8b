"""Addresses that spell a fill-in point: every answer holds the address as typed, filled in once.

The POX response and the Apple profile are templates holding tokens
(``%EMAILADDRESS%``, ``%EMAILLOCALPART%``, the profile's ``%MAIL-UUID%`` ...),
filled per request. An address may spell a token; filled one token after
another, a later token was replaced inside the address already filled in.
Both ways of serving are checked against the real service: from the
templates in memory, and from the last good tree on disk, which ``serve``
answers from when it starts on a broken config.
"""

from __future__ import annotations

import plistlib
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

from support.configs import PAGE as CONFIG
from support.pox import pox_request
from support.service import Service

from mailautoconf.render import placeholders

POX_PATH = "/autodiscover/autodiscover.xml"
LOGIN_NAME = "{http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a}LoginName"
TOKENS = (placeholders.ADDRESS, placeholders.LOCALPART, *placeholders.PROFILE_TOKENS)
# Each token as the local part, inside one, twice, beside markup.
ADDRESSES = [
    address
    for token in TOKENS
    for address in (f"{token}@example.org", f"x{token}y@example.org", f"{token}{token}@example.org")
] + [f"<b>{placeholders.LOCALPART}</b>&@example.org"]


def answers(service: Service) -> list[tuple[bytes, bytes]]:
    """The POX response and the profile for each address."""
    found = []
    for address in ADDRESSES:
        pox = service.post(POX_PATH, pox_request(escape(address)))
        profile = service.get("/email.mobileconfig", params={"emailaddress": address}, host="autoconfig.example.org")
        assert pox.status_code == 200 and profile.status_code == 200, address
        found.append((pox.content, profile.content))
    return found


def test_addresses_spelling_tokens_are_filled_in_once(make_service) -> None:  # type: ignore[no-untyped-def]
    service = make_service(CONFIG)
    from_templates = answers(service)
    for address, (pox, profile) in zip(ADDRESSES, from_templates, strict=True):
        localpart = address.rpartition("@")[0]
        # The config's usernames: {address}, {localpart} and mx-{localpart}.{domain}.
        login_names = {element.text for element in ET.fromstring(pox).iter(LOGIN_NAME)}
        assert login_names == {address, localpart, f"mx-{localpart}.example.org"}, address
        (mail,) = (p for p in plistlib.loads(profile)["PayloadContent"] if p["PayloadType"] == "com.apple.mail.managed")
        assert mail["EmailAddress"] == address and mail["IncomingMailServerUsername"] == address
    # The last good tree on disk: the same answers, byte for byte.
    assert service.stop() == 0
    broken = CONFIG.replace("port = 993", 'port = "993"')
    service.config_path.write_text(broken, encoding="utf-8")
    service.start()
    line = broken.splitlines().index('port = "993"') + 1
    assert service.health()["config_error"] == [
        f'{service.config_path}, line {line}: provider "example.net", incoming server 1: '
        '"port" must be a whole number, not a string'
    ]
    for address, on_disk, in_memory in zip(ADDRESSES, answers(service), from_templates, strict=True):
        assert on_disk == in_memory, address
