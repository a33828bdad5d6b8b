"""Split a TOML file at its ``[[provider]]`` headers, so an edit re-parses one piece.

A hoster's config lists thousands of providers and 100,000 domains; an admin
edits one of them. Parsing the whole file again costs about half a second
at that size, parsing the piece that changed a millisecond. Each piece (the
preamble before the first ``[[provider]]``, then one piece per
``[[provider]]`` header) is parsed on its own and cached by its bytes' hash.

The pieces mean exactly what the whole file means, or the whole file is
parsed instead:
- a header line inside a multi-line string is not a header: files holding
  ``\"\"\"`` or ``'''`` are parsed whole;
- sub-tables (``[[provider.incoming]]``, ``[provider.overrides."d"]``) refer
  to the last ``[[provider]]``, which is the one in their own piece;
- a top-level key defined in two pieces, or a piece that does not parse,
  sends the whole file to tomllib, which then reports the real error (or
  accepts a file that is only unusual, like ``[service]`` and later
  ``[service.x]``).
"""

from __future__ import annotations

import hashlib
import re
import sys
import tomllib
from dataclasses import dataclass
from typing import Any

from mailautoconf.config.positions import long_number

__all__ = ["Segment", "loads", "parse"]

_PROVIDER_HEADER = re.compile(r"^[ \t]*\[\[[ \t]*provider[ \t]*\]\][ \t]*(?:#[^\n]*)?$", re.MULTILINE)


@dataclass(frozen=True)
class Segment:
    """One piece of a TOML file and what tomllib made of it alone."""

    line: int  # the line of the file the piece starts on (1-based)
    text: str
    digest: bytes  # sha256 of the text: the cache key of everything derived from it
    data: dict[str, Any]  # read-only: shared with the cache


def _pieces(text: str) -> list[tuple[int, str]]:
    if '"""' in text or "'''" in text:
        return [(1, text)]
    starts = [match.start() for match in _PROVIDER_HEADER.finditer(text)]
    if not starts:
        return [(1, text)]
    bounds = [0, *starts] if starts[0] > 0 else starts
    pieces = []
    line = 1
    for index, start in enumerate(bounds):
        end = bounds[index + 1] if index + 1 < len(bounds) else len(text)
        piece = text[start:end]
        pieces.append((line, piece))
        line += piece.count("\n")
    return pieces


def parse(text: str, before: dict[bytes, dict[str, Any]], now: dict[bytes, dict[str, Any]]) -> list[Segment]:
    """Parse ``text`` piece by piece; raises tomllib.TOMLDecodeError.

    Pieces found in ``before`` or ``now`` (digest → data) are not parsed
    again; every piece of ``text`` ends up in ``now``. A caller that keeps
    ``now`` for its next call keeps exactly the pieces still in use.
    """
    pieces = _pieces(text)
    segments = []
    seen_keys: set[str] = set()
    try:
        for line, piece in pieces:
            digest = hashlib.sha256(piece.encode("utf-8", "surrogatepass")).digest()
            data = now.get(digest) or before.get(digest)
            if data is None:
                data = loads(piece)
            now[digest] = data
            if _PROVIDER_HEADER.match(piece) is not None:
                if not isinstance(data.get("provider"), list):
                    raise _Whole()
            elif "provider" in data and len(pieces) > 1:
                raise _Whole()  # provider = [...] before [[provider]]: let tomllib say what is wrong
            for key in data:
                if key != "provider" and key in seen_keys:
                    raise _Whole()
                seen_keys.add(key)
            segments.append(Segment(line, piece, digest, data))
    except (tomllib.TOMLDecodeError, _Whole):
        if len(pieces) == 1:
            raise
        data = loads(text)  # the real error, with the file's own line numbers
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
        return [Segment(1, text, digest, data)]
    return segments


def loads(text: str) -> dict[str, Any]:
    """tomllib.loads, with integers too long for int() reported as the syntax errors they are.

    tomllib lets int()'s ValueError out (beyond sys.get_int_max_str_digits()
    digits, 4300 by default) without a place; it became a traceback in
    ``check`` and a dead reload in ``serve``. Raising TOMLDecodeError with
    tomllib's own "(at line N, column M)" lets every caller report it like
    any other syntax error.
    """
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        raise
    except ValueError:
        limit = sys.get_int_max_str_digits()
        place = long_number(text, limit) if limit else None
        if place is None:
            raise
        line, column = place
        raise tomllib.TOMLDecodeError(
            f"a number with more than {limit} digits (at line {line}, column {column})"
        ) from None


class _Whole(Exception):
    """The pieces do not add up to the file: parse it whole."""
