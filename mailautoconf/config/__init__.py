"""TOML → validated :class:`~mailautoconf.model.Config`: what every caller imports, from where it lives.

- :mod:`~mailautoconf.config.loader`: reading the main file and its
  includes, again and again at the cost of what changed (:class:`Loader`);
- :mod:`~mailautoconf.config.includes`: which files ``[service] include`` names;
- :mod:`~mailautoconf.config.schema`: what each table may hold, as data;
- :mod:`~mailautoconf.config.checker`: tables → the model, every problem collected;
- :mod:`~mailautoconf.config.fragments`: one table checked alone, for the importer;
- :mod:`~mailautoconf.config.segments`, :mod:`~mailautoconf.config.positions`:
  a file parsed in pieces, and the line each key was written on.

Validation collects every problem instead of stopping at the first, so an
admin fixes a file in one pass; each names the file, the line and the place
in words (``provider "example.net", incoming server 3``). What a client does
with a valid config is :mod:`mailautoconf.clientrules`', not this package's.

May import: the vocabulary only (dnslookup for the resolver setting).
"""

from __future__ import annotations

from mailautoconf.config.checker import Messages
from mailautoconf.config.fragments import check_dav
from mailautoconf.config.fragments import check_documentation
from mailautoconf.config.fragments import check_oauth_issuer
from mailautoconf.config.fragments import check_server
from mailautoconf.config.loader import Loader
from mailautoconf.config.loader import LoadResult
from mailautoconf.config.loader import load
from mailautoconf.config.loader import loads
from mailautoconf.config.positions import Path
from mailautoconf.problems import ConfigError
from mailautoconf.problems import Problem

__all__ = [
    "ConfigError",
    "LoadResult",
    "Loader",
    "Messages",
    "Path",
    "Problem",
    "check_dav",
    "check_documentation",
    "check_oauth_issuer",
    "check_server",
    "load",
    "loads",
]
