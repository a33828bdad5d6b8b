"""The address placeholders renderers leave for the client or the request.

Thunderbird replaces ``%EMAILADDRESS%`` and ``%EMAILLOCALPART%`` itself
(docs/clients.md section 1.5); the Outlook POX template uses the same tokens, filled
in per request by the store. Config validation rejects ``%`` in usernames and
host names, so these tokens occur in rendered documents only where put here.
"""

from __future__ import annotations

from mailautoconf.model import THUNDERBIRD_PLACEHOLDERS
from mailautoconf.model import Domain

__all__ = [
    "ADDRESS",
    "CALDAV_UUID",
    "CARDDAV_UUID",
    "DOMAIN",
    "LOCALPART",
    "MAIL_UUID",
    "PROFILE_TOKENS",
    "PROFILE_UUID",
    "username",
]

ADDRESS = THUNDERBIRD_PLACEHOLDERS["{address}"]
LOCALPART = THUNDERBIRD_PLACEHOLDERS["{localpart}"]
# Only in the MX lookup document (render/templates.py), which serves every
# domain of a provider: Thunderbird and Thunderbird for Android replace it
# in host names and usernames with the domain the user typed.
DOMAIN = THUNDERBIRD_PLACEHOLDERS["{domain}"]


def username(template: str, domain: Domain) -> str:
    """Turn a config username template into a rendered one for ``domain``.

    Only what the server cannot know stays a placeholder; ``{domain}`` is the
    domain as the admin wrote it (U-labels), which is what a login database
    stores.
    """
    return template.replace("{address}", ADDRESS).replace("{localpart}", LOCALPART).replace("{domain}", domain.unicode)


# Apple profiles: identifiers that depend on the address, filled per request
# (render/apple.py, profile_values). Plain tokens, never in a config value.
PROFILE_UUID = "%PROFILE-UUID%"
MAIL_UUID = "%MAIL-UUID%"
CALDAV_UUID = "%CALDAV-UUID%"
CARDDAV_UUID = "%CARDDAV-UUID%"
PROFILE_TOKENS = (PROFILE_UUID, MAIL_UUID, CALDAV_UUID, CARDDAV_UUID)
