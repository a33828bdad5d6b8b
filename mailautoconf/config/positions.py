"""Find the line a TOML key was written on.

``tomllib`` returns plain dicts without positions, yet an admin wants
"line 23" next to "port 99999 is not a port". This module scans the text once
and maps every key path (``("provider", 0, "incoming", 2, "port")``, arrays
of tables indexed like the parsed data) to its line. It only has to be right
for files tomllib already accepted: a character scanner that knows strings,
escapes, comments and brackets splits the text into statements (a table
header or one ``key = value``, however many lines its value spans); values
inside inline tables and arrays map to their key's line.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from collections.abc import Iterator

__all__ = ["KeyLines", "Locate", "Path", "long_number"]

Path = tuple[str | int, ...]  # keys into the parsed TOML, e.g. ("provider", 0, "incoming", 1, "port")
Locate = Callable[[Path], tuple[str, int | None]]  # a key path -> its file and line
_QUOTES = ('"""', "'''", '"', "'")
# Paths are recorded up to this many elements. Recording every prefix of a
# path costs memory quadratic in its length: one header of 30,000 dotted parts
# (130 KB of text) took 1.6 GB. The schema is about 6 keys deep, so deeper
# keys only ever need the line of their prefix at this depth.
MAX_DEPTH = 32
_DIGITS = re.compile(r"[0-9_]+")


def _statements(text: str) -> Iterator[tuple[int, str]]:
    """Yield ``(line, text)`` of each top-level statement, comments removed.

    Lines are counted at ``\\n`` only: TOML allows U+2028 and friends in
    comments and strings, and they do not start a new line in an editor's
    status bar either.
    """
    line = 1
    start = 0
    parts: list[str] = []
    depth = 0
    index = 0
    length = len(text)
    while index < length:
        char = text[index]
        if char == "\n":
            line += 1
            if depth <= 0:
                statement = "".join(parts).strip()
                if statement:
                    yield start, statement
                parts = []
                depth = 0
            index += 1
            continue
        if char == "#":
            end = text.find("\n", index)
            index = length if end < 0 else end
            continue
        if not parts and not char.isspace():
            start = line
        quote = next((q for q in _QUOTES if text.startswith(q, index)), None)
        if quote is not None:
            end, newlines = _string_end(text, index, quote)
            parts.append(text[index:end])
            line += newlines
            index = end
            continue
        if char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        parts.append(char)
        index += 1
    statement = "".join(parts).strip()
    if statement:
        yield start, statement


def long_number(text: str, limit: int) -> tuple[int, int] | None:
    """The line and column of the first number outside strings and comments with more than ``limit`` digits.

    tomllib turns integers into ints with int(), which refuses more than
    sys.get_int_max_str_digits() digits with a bare ValueError that names no
    place; this finds the place. Underscores do not count, as for int().
    """
    line = 1
    line_start = 0
    index = 0
    length = len(text)
    while index < length:
        char = text[index]
        if char == "\n":
            line += 1
            line_start = index + 1
            index += 1
            continue
        if char == "#":
            end = text.find("\n", index)
            index = length if end < 0 else end
            continue
        quote = next((q for q in _QUOTES if text.startswith(q, index)), None)
        if quote is not None:
            end, newlines = _string_end(text, index, quote)
            if newlines:
                line += newlines
                line_start = text.rfind("\n", index, end) + 1
            index = end
            continue
        if "0" <= char <= "9":
            match = _DIGITS.match(text, index)
            assert match is not None
            run = match.group()
            if len(run) - run.count("_") > limit:
                return line, index - line_start + 1
            index = match.end()
            continue
        index += 1
    return None


def _string_end(text: str, index: int, quote: str) -> tuple[int, int]:
    """Return the index after the string opening at ``index``, and the newlines it spans."""
    basic = quote[0] == '"'
    position = index + len(quote)
    newlines = 0
    while position < len(text):
        char = text[position]
        if basic and char == "\\":
            if text[position + 1 : position + 2] == "\n":
                newlines += 1
            position += 2
            continue
        if char == "\n":
            newlines += 1
        if text.startswith(quote, position):
            position += len(quote)
            if len(quote) == 3:  # up to two quotes may directly precede the closing three
                extra = 0
                while extra < 2 and text[position : position + 1] == quote[0]:
                    position += 1
                    extra += 1
            return position, newlines
        position += 1
    return position, newlines


def _split_key(text: str) -> list[str]:
    """Split a dotted TOML key (``a."b.c".d``) into its parts.

    Characters are collected in a list: adding them to a string one by one
    took 18 s for a 1 MB quoted key (tests/test_hostile_config.py, mega-key).
    """
    parts: list[str] = []
    current: list[str] = []
    quote = ""
    index = 0
    while index < len(text):
        char = text[index]
        if quote:
            if quote == '"' and char == "\\" and index + 1 < len(text):
                decoded, index = _escape(text, index)
                current.append(decoded)
                continue
            if char == quote:
                quote = ""
            else:
                current.append(char)
        elif char in "\"'":
            quote = char
        elif char == ".":
            parts.append("".join(current))
            current = []
        elif not char.isspace():  # blanks outside quotes only surround the dots; inside they are the key's
            current.append(char)
        index += 1
    parts.append("".join(current))
    return parts


_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\"}


def _escape(text: str, index: int) -> tuple[str, int]:
    """Decode the escape at ``text[index]`` (a backslash) in a basic-string key; return it and the index after.

    Keys must match the parsed data: ``"\\u001b[31m" = 1`` is the key ESC[31m,
    and its message belongs on its own line, not on its table's.
    """
    kind = text[index + 1]
    width = {"u": 4, "U": 8}.get(kind)
    if width is not None:
        digits = text[index + 2 : index + 2 + width]
        try:
            return chr(int(digits, 16)), index + 2 + width
        except ValueError:  # not a valid escape: tomllib refused the file already
            return kind, index + 2
    return _ESCAPES.get(kind, kind), index + 2


def _key_part(statement: str) -> str | None:
    """Return the key of a ``key = value`` statement, or None."""
    quote = ""
    index = 0
    while index < len(statement):
        char = statement[index]
        if quote:
            if quote == '"' and char == "\\":
                index += 2
                continue
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == "=":
            return statement[:index]
        index += 1
    return None


class KeyLines:
    """Key path → 1-based line number for one TOML document."""

    def __init__(self, text: str) -> None:
        self._lines: dict[Path, int] = {}
        self._scan(text)

    def line_of(self, path: Path) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        path = tuple(path)[:MAX_DEPTH]  # deeper paths were recorded by this prefix
        while path:
            if path in self._lines:
                return self._lines[path]
            path = path[:-1]
        return None

    def _record(self, path: Path, line: int) -> None:
        """Note ``path`` and every prefix not seen before at ``line`` (up to MAX_DEPTH elements)."""
        for end in range(1, min(len(path), MAX_DEPTH) + 1):
            self._lines.setdefault(path[:end], line)

    def _scan(self, text: str) -> None:
        table: Path = ()
        array_counts: dict[Path, int] = {}  # concrete array-of-tables path → entries so far
        for line, statement in _statements(text):
            if statement.startswith("[["):
                keys = _split_key(statement[2 : statement.rindex("]]")])[:MAX_DEPTH]
                array_path = (*self._concrete(keys[:-1], array_counts), keys[-1])
                array_counts[array_path] = array_counts.get(array_path, 0) + 1
                table = (*array_path, array_counts[array_path] - 1)
                self._record(table, line)
            elif statement.startswith("["):
                table = self._concrete(_split_key(statement[1 : statement.rindex("]")])[:MAX_DEPTH], array_counts)
                self._record(table, line)
            else:
                key = _key_part(statement)
                if key is not None:
                    self._record((table + tuple(_split_key(key)[:MAX_DEPTH]))[:MAX_DEPTH], line)

    @staticmethod
    def _concrete(keys: list[str], array_counts: dict[Path, int]) -> Path:
        """Turn header keys into a path, indexing arrays of tables at their last entry.

        Callers pass at most MAX_DEPTH keys: each step copies the path so far.
        """
        path: Path = ()
        for key in keys:
            path = (*path, key)
            if path in array_counts:
                path = (*path, array_counts[path] - 1)
        return path
