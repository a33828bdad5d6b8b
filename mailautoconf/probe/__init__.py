"""``service.py probe``: walk a live deployment the way each mail client does, and say what to fix first.

The rules of the package:

- Only :mod:`~mailautoconf.probe.net` touches the network (dnspython, the
  standard library's sockets, ssl and http.client); everything else is a
  pure function of what it returned, so every verdict can be unit-tested on
  bytes.
- Nothing is ever sent that a client would not send without the user's
  password: no ``Authorization`` or ``Cookie`` header at all (``net``
  refuses to build one), the Autodiscover POX body carries the address only.
- A redirect is followed only as the client in question follows it
  (:class:`~mailautoconf.probe.net.Redirects`): Outlook never leaves https,
  KMail never goes from https to http, Thunderbird's Autodiscover turns a
  redirected POST into a GET, ...
- Each client family's path walk is one module (``thunderbird``, ``android``,
  ``evolution``, ``kmail``, ``outlook``, ``apple``, ``dav``, ``pacc``), in the
  order docs/clients.md gives, with the client's own parser rules
  (:mod:`~mailautoconf.probe.verdicts`, which uses
  :mod:`mailautoconf.clientrules` for Thunderbird for Android).
- The walks ask for every URL at once (the network layer runs requests in
  parallel and asks each exact request once), so a probe takes about as long
  as its slowest path.

May import: everything but cli; nothing imports the probe but cli.
"""

from __future__ import annotations
