"""One table checked alone, outside a config file: for the importer, which must accept exactly what a file would."""

from __future__ import annotations

from typing import Any

from mailautoconf.config import schema
from mailautoconf.config.checker import Checker
from mailautoconf.config.checker import Messages
from mailautoconf.config.checker import Where
from mailautoconf.model import DavService
from mailautoconf.model import Direction
from mailautoconf.model import Documentation
from mailautoconf.model import Server

__all__ = ["check_dav", "check_documentation", "check_oauth_issuer", "check_server"]


def check_server(raw: dict[str, Any], direction: Direction) -> tuple[Server | None, Messages]:
    """One ``[[provider.incoming]]`` or ``[[provider.outgoing]]`` table checked alone.

    For the importer, which builds tables from XML and must accept exactly
    what a config file would: the server (None when it has an error) and
    every message, by the key it is about.
    """
    checker = Checker(lambda path: ("", None), record=[])
    server = checker.server(raw, direction, Where((), ""))
    return server, checker.messages()


def check_documentation(raw: dict[str, Any]) -> tuple[Documentation | None, Messages]:
    """One ``[[provider.documentation]]`` table checked alone (see :func:`check_server`)."""
    checker = Checker(lambda path: ("", None), record=[])
    found = checker.documentation([raw], Where((), ""))
    return (found[0] if found else None), checker.messages()


def check_dav(raw: dict[str, Any], key: str) -> tuple[DavService | None, Messages]:
    """One ``caldav`` or ``carddav`` table (``key``) checked alone (see :func:`check_server`)."""
    checker = Checker(lambda path: ("", None), record=[])
    found = checker.dav({key: raw}, key, Where((), ""))
    return found, checker.messages()


def check_oauth_issuer(url: str) -> tuple[str | None, Messages]:
    """One ``oauth_issuer`` value checked alone (see :func:`check_server`): the normalised URL, or None."""
    checker = Checker(lambda path: ("", None), record=[])
    found = checker.value({"oauth_issuer": url}, schema.PROVIDER.key("oauth_issuer"), Where((), ""))
    return found, checker.messages()
