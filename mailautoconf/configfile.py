"""Writing a config file, as ``import`` and ``init`` do: validated first, then atomically.

The watcher reloads on every change to the file, so a half-written config
must never be on disk where it looks: the text is written beside it and
renamed into place. And a command that writes a config must never leave one
``check`` refuses, so it is loaded (and judged by the client rules) first.
"""

from __future__ import annotations

import os
import sys
import tempfile

from mailautoconf import clientrules
from mailautoconf import config

__all__ = ["validate", "write"]


def validate(text: str, source: str) -> list[str]:
    """The warnings ``check`` would print for ``text``; raises config.ConfigError when it would refuse it."""
    return [str(warning) for warning in clientrules.warnings(config.loads(text, source))]


def write(path: str | None, text: str) -> None:
    """Write ``text`` to ``path`` atomically, or to stdout when ``path`` is None."""
    if path is None:
        sys.stdout.write(text)
        return
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".write-", suffix=".toml")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
