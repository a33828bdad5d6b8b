"""config-v1.1.xml as Evolution reads it as intended.

Evolution (3.46, ``e-mail-autoconfig.c``) keeps the *last*
``incomingServer type="imap"`` (and the last pop3 and smtp) it reads, field
by field: from IMAP 993/SSL then 143/STARTTLS it configures 143/STARTTLS,
and SMTP 587 instead of 465 (docs/clients.md section 1.8). Every other server
hands Evolution the provider's least preferred servers. Evolution gets this
document instead (recognised by its ``User-Agent: Evolution/...``): one
server per type, the provider's first choice, so there is nothing to mix.

The Autoconfig 1.2 ``<calendar>`` and ``<addressbook>`` sections stay in
(render/thunderbird.py): Evolution's GMarkup callbacks act only inside
``incomingServer``/``outgoingServer`` and drop every other element's text
unread, and never read ``version`` (e-mail-autoconfig.c,
``mail_autoconfig_parse_start_element``/``_text``; docs/clients.md section
1.13), so they cannot touch the mail account. This document stays the
standard one minus the extra servers, and an Evolution that learns the
sections finds them. tests/test_evolution.py proves it with Evolution itself.
"""

from __future__ import annotations

from mailautoconf.model import Domain
from mailautoconf.model import Provider
from mailautoconf.render import thunderbird

__all__ = ["render"]


def render(provider: Provider, domain: Domain) -> bytes:
    """Render ``domain``'s document with only the first server of each type."""
    seen: set[str] = set()
    first = []
    for server in provider.resolve_servers(domain):
        if server.type not in seen:
            seen.add(server.type)
            first.append(server)
    return thunderbird.document(provider, domain, tuple(first))
