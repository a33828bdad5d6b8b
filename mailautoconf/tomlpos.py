"""Find the line a TOML key was written on.

``tomllib`` returns plain dicts without positions, yet an admin wants
"line 23" next to "port 99999 is not a port". This module scans the text once
and maps every key path (``("provider", 0, "incoming", 2, "port")``, array
of tables indexed like the parsed data) to its line. It only has to be right
for files tomllib already accepted, so it can be a line scanner; values
inside inline tables and multi-line arrays map to their key's line.
"""

from __future__ import annotations

__all__ = ["KeyLines"]

Path = tuple[str | int, ...]


def _split_key(text: str) -> list[str]:
    """Split a dotted TOML key (``a."b.c".d``) into its parts."""
    parts: list[str] = []
    current = ""
    quote = ""
    for char in text:
        if quote:
            if char == quote:
                quote = ""
            else:
                current += char
        elif char in "\"'":
            quote = char
        elif char == ".":
            parts.append(current.strip())
            current = ""
        else:
            current += char
    parts.append(current.strip())
    return parts


def _key_part(line: str) -> str | None:
    """Return the key of a ``key = value`` line, or None."""
    quote = ""
    for index, char in enumerate(line):
        if quote:
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == "=":
            return line[:index]
    return None


def _bracket_depth(text: str) -> int:
    """Net ``[``/``{`` nesting a value opens, ignoring strings and comments."""
    depth = 0
    quote = ""
    for char in text:
        if quote:
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == "#":
            break
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
    return depth


class KeyLines:
    """Key path → 1-based line number for one TOML document."""

    def __init__(self, text: str) -> None:
        self._lines: dict[Path, int] = {}
        self._scan(text)

    def line_of(self, path: Path) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        path = tuple(path)
        while path:
            if path in self._lines:
                return self._lines[path]
            path = path[:-1]
        return None

    def _scan(self, text: str) -> None:
        table: Path = ()
        array_counts: dict[Path, int] = {}  # concrete array-of-tables path → entries
        depth = 0
        multiline = ""
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if multiline:
                if line.count(multiline) % 2 == 1:
                    multiline = ""
                continue
            if depth > 0:
                depth += _bracket_depth(line)
                continue
            if not line or line.startswith("#"):
                continue
            if line.startswith("[["):
                keys = _split_key(line[2 : line.index("]]")])
                base = self._concrete(keys[:-1], array_counts)
                array_path = (*base, keys[-1])
                array_counts[array_path] = array_counts.get(array_path, 0) + 1
                table = (*array_path, array_counts[array_path] - 1)
                self._lines.setdefault(array_path, number)
                self._lines[table] = number
                continue
            if line.startswith("["):
                keys = _split_key(line[1 : line.index("]")])
                table = self._concrete(keys, array_counts)
                self._lines.setdefault(table, number)
                continue
            key = _key_part(line)
            if key is None:
                continue
            path = table + tuple(_split_key(key))
            self._lines.setdefault(path, number)
            value = line[len(key) + 1 :].strip()
            for marker in ('"""', "'''"):
                if value.startswith(marker) and value.count(marker) == 1:
                    multiline = marker
            depth = _bracket_depth(value) if not multiline else 0

    @staticmethod
    def _concrete(keys: list[str], array_counts: dict[Path, int]) -> Path:
        """Turn header keys into a path, indexing arrays of tables at their last entry."""
        path: Path = ()
        for key in keys:
            path = (*path, key)
            if path in array_counts:
                path = (*path, array_counts[path] - 1)
        return path
