"""An XML document's bytes as UTF-8 for expat, its encoding found as XML 1.0 says (4.3.3, Appendix F).

expat (through defusedxml) reads UTF-8, UTF-16, ISO-8859-1 and US-ASCII,
each only under the names it spells itself. Any other name goes to
pyexpat's fallback, which takes single-byte codecs only and raises a bare
ValueError ("multi-byte encodings are not supported") for the rest:
Shift_JIS and Big5, which Japanese and Chinese providers publish, but also
UTF-16 declared under another of its names ("utf16", "u16",
"UnicodeLittleUnmarked"). UTF-32 it does not read at all. So ``import`` finds the encoding itself and hands
expat UTF-8 with the declaration's ``encoding`` left out, lines unchanged,
so expat's messages still point into the file as it is.

First the bytes: a byte order mark, or "<?" in UTF-16 or UTF-32 (Appendix
F.1); otherwise 8-bit text whose declaration is in ASCII. Then the
declared name, looked up among Python's codecs (and so every alias of
each). The two must agree, as 4.3.3 makes a document in another encoding
than it declares a fatal error: one that declares UTF-16 but is 8-bit
text, or that starts with a UTF-8 byte order mark and declares Shift_JIS,
is refused with both named, rather than read one way or the other.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

__all__ = ["EncodingError", "as_utf8"]

# (mark, codec, how messages name it): UTF-32LE's mark starts with UTF-16LE's, so it is tried first.
_BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF32_LE, "utf-32-le", "UTF-32LE"),
    (codecs.BOM_UTF32_BE, "utf-32-be", "UTF-32BE"),
    (codecs.BOM_UTF8, "utf-8", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16LE"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16BE"),
)
# "<?" without a byte order mark (Appendix F.1, the 4-byte orders that occur).
_FIRST_BYTES = (
    (b"<\0\0\0", "utf-32-le", "UTF-32LE"),
    (b"\0\0\0<", "utf-32-be", "UTF-32BE"),
    (b"<\0?\0", "utf-16-le", "UTF-16LE"),
    (b"\0<\0?", "utf-16-be", "UTF-16BE"),
)
# The Python codecs each wide encoding may be declared as: with or without its byte order.
_DECLARABLE = {
    "utf-16-le": ("utf-16-le", "utf-16"),
    "utf-16-be": ("utf-16-be", "utf-16"),
    "utf-32-le": ("utf-32-le", "utf-32"),
    "utf-32-be": ("utf-32-be", "utf-32"),
}
_WIDE = {"utf-16": "UTF-16", "utf-16-le": "UTF-16", "utf-16-be": "UTF-16"} | {
    "utf-32": "UTF-32",
    "utf-32-le": "UTF-32",
    "utf-32-be": "UTF-32",
}
_UTF_8 = ("utf-8", "utf-8-sig")
# XMLDecl up to its EncodingDecl (XML 1.0 [23], [80]); group 1 is what is left out for expat.
_DECLARATION = re.compile(
    r"""\A<\?xml(?:\s+version\s*=\s*(?:"[^"<>]*"|'[^'<>]*'))?(\s+encoding\s*=\s*(["'])([^"'<>]*)\2)"""
)
# EncName (XML 1.0 [81]): Python would also look up "utf 16" or "utf_16!" and find UTF-16.
_ENCODING_NAME = re.compile(r"[A-Za-z][A-Za-z0-9._-]*")


class EncodingError(Exception):
    """The document cannot be read in the encoding it declares or its bytes show; ``line`` is where."""

    def __init__(self, line: int, reason: str) -> None:
        self.line = line
        self.reason = reason
        super().__init__(f"line {line}: {reason}")


@dataclass(frozen=True)
class _Start:
    """What the first bytes say: the codec, the byte order mark's length, and how it is known (for messages)."""

    codec: str
    mark: int
    label: str = ""
    by_mark: bool = False

    @property
    def evidence(self) -> str:
        if self.by_mark:
            return f"it starts with a {self.label} byte order mark"
        return f'its first bytes are "<?" in {self.label}'


def _start(data: bytes) -> _Start:
    for mark, codec, label in _BYTE_ORDER_MARKS:
        if data.startswith(mark):
            return _Start(codec, len(mark), label, by_mark=True)
    for first, codec, label in _FIRST_BYTES:
        if data.startswith(first):
            return _Start(codec, 0, label)
    return _Start("8-bit", 0)


def as_utf8(data: bytes) -> bytes:
    """``data`` as UTF-8 for expat, unchanged when expat reads it as it is; EncodingError when it cannot be read."""
    start = _start(data)
    body = data[start.mark :]
    if start.codec in _DECLARABLE:
        shown_by = "its byte order mark says" if start.by_mark else "its first bytes say"
        text = _decode(body, start.codec, f"{start.label} text, as {shown_by}")
        declared = _DECLARATION.match(text)
        if declared is not None:
            name, codec = _declared(declared)
            if codec not in _DECLARABLE[start.codec]:
                raise EncodingError(1, f'declares encoding "{name}", but {start.evidence}')
            text = text[: declared.start(1)] + text[declared.end(1) :]
        return text.encode("utf-8")
    # 8-bit text (UTF-8 with its mark): the declaration is ASCII, each byte one character here.
    declared = _DECLARATION.match(body.decode("latin-1"))
    if declared is None:
        return data  # no encoding declared: UTF-8, which expat reads (and its byte order mark)
    name, codec = _declared(declared)
    if start.mark and codec not in _UTF_8:
        raise EncodingError(1, f'declares encoding "{name}", but it starts with a UTF-8 byte order mark')
    if codec in _WIDE:
        raise EncodingError(
            1, f'declares encoding "{name}", but its first bytes are "<?xml" in ASCII, not {_WIDE[codec]}'
        )
    text = _decode(body, codec, f"{name} text as declared")
    if not text.startswith(declared.group(0)):
        # EBCDIC and the like: the declaration itself would read otherwise in the declared encoding.
        raise EncodingError(1, f'declares encoding "{name}", but the declaration is not {name} text')
    return (text[: declared.start(1)] + text[declared.end(1) :]).encode("utf-8")


def _declared(declaration: re.Match[str]) -> tuple[str, str]:
    """The declared encoding's name as written and its Python codec; EncodingError if there is none."""
    name = declaration.group(3)
    if not _ENCODING_NAME.fullmatch(name):
        raise EncodingError(1, f'the declared encoding "{name}" is not an encoding name')
    try:
        codec = codecs.lookup(name)
    except LookupError:
        raise EncodingError(1, f'the declared encoding "{name}" is not known') from None
    if not getattr(codec, "_is_text_encoding", True):
        raise EncodingError(1, f'"{name}" is not a text encoding')
    return name, codec.name


def _decode(body: bytes, codec: str, what: str) -> str:
    """``body`` decoded; EncodingError naming the line and the first byte that is not ``what`` it should be."""
    try:
        return body.decode(codec)
    except UnicodeDecodeError as exc:
        line = body[: exc.start].decode(codec, errors="replace").count("\n") + 1
        raise EncodingError(line, f"not {what} (byte 0x{body[exc.start]:02x})") from None
    except UnicodeError:  # codecs that fail without a position: "undefined", "punycode"
        raise EncodingError(1, f"not {what}") from None
