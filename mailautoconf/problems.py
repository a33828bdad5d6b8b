"""What is wrong with a config, and how every command says it.

A :class:`Problem` names the file, the line and the place in words
(``provider "example.net", incoming server 3``), so an admin fixes a file
in one pass. ``check``, the deployment commands, ``import``, the watcher's
log and ``/healthz`` all print problems through :func:`report` or
``str(problem)``: one wording everywhere.
"""

from __future__ import annotations

import enum
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TextIO

__all__ = ["ConfigError", "Problem", "Severity", "in_file_order", "report", "shown"]


def shown(text: str) -> str:
    """``text`` with every character that is not printable escaped the way repr() does (``\\x1b``, ``\\n``).

    Messages echo what the file says (keys, ids, values, file names) to a
    terminal, a log and /healthz. A key holding an escape sequence could
    recolour or rewrite the admin's terminal, a newline could forge a log
    line, a lone surrogate could make printing fail. The wording of every
    message is printable, so escaping the whole message escapes exactly
    the echoed values, wherever a message is made.
    """
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


class Severity(enum.Enum):
    ERROR = "error"  # the config cannot be used
    WARNING = "warning"  # valid, but a client or a CA will not do what the admin expects


@dataclass(frozen=True)
class Problem:
    """One thing wrong (or doubtful) in a config file."""

    file: str
    line: int | None
    where: str  # the place in words, e.g. 'provider "example.net", incoming server 3'
    message: str
    severity: Severity = Severity.ERROR

    def __post_init__(self) -> None:
        # Every problem is shown safely, whoever made it (see shown()).
        for name in ("file", "where", "message"):
            value = getattr(self, name)
            if not value.isprintable():
                object.__setattr__(self, name, shown(value))

    def __str__(self) -> str:
        location = f"{self.file}, line {self.line}" if self.line else self.file
        prefix = "warning: " if self.severity is Severity.WARNING else ""
        where = f"{self.where}: " if self.where else ""
        return f"{location}: {prefix}{where}{self.message}"


def in_file_order(problems: Iterable[Problem], files: tuple[str, ...] = ()) -> list[Problem]:
    """Problems by file (``files`` first, in that order) and line."""
    order = {file: index for index, file in enumerate(files)}
    return sorted(problems, key=lambda p: (order.get(p.file, len(order)), p.file, p.line or 0))


class ConfigError(Exception):
    """The config cannot be used; ``problems`` says why, all of it."""

    def __init__(self, problems: list[Problem], files: tuple[str, ...] = ()) -> None:
        ordered = in_file_order(problems, files)
        self.problems = [p for p in ordered if p.severity is Severity.ERROR]
        self.warnings = [p for p in ordered if p.severity is Severity.WARNING]
        self.fingerprint = b""  # of the bytes that gave these problems (config.LoadResult.fingerprint)
        super().__init__("\n".join(str(p) for p in self.problems))


def report(path: str, error: ConfigError, stream: TextIO | None = None) -> None:
    """Print every error and warning of an unusable config, then one line saying so."""
    out = stream or sys.stderr
    for problem in error.problems + error.warnings:
        print(problem, file=out)
    print(f"{path}: {len(error.problems)} error(s); not usable", file=out)
