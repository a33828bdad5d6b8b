"""The few DER operations the probe needs where ``cryptography`` reads all or nothing.

``cryptography`` parses a structure whole: one malformed extension makes a
certificate's every extension unreadable, and a serial number that is not
positive is warned about (and will be refused) before anything else is
read. The probe must still say what such a certificate is, so it reads the
parts it needs with this reader (X.690 definite-length DER; what it cannot
read raises ValueError) and can build a certificate that differs from a
server's in one part, to ask ``cryptography`` about that part alone.
"""

from __future__ import annotations

__all__ = ["Element", "children", "encode", "read"]

Element = tuple[int, int, int, int]  # (tag, element start, value start, value end)


def read(data: bytes, at: int = 0) -> tuple[int, int, int]:
    """(tag, start of value, end of value) of the DER element at ``at``; ValueError if malformed."""
    if at + 2 > len(data):
        raise ValueError("truncated")
    tag = data[at]
    length = data[at + 1]
    at += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or at + count > len(data):
            raise ValueError("bad length")
        length = int.from_bytes(data[at : at + count], "big")
        at += count
    if at + length > len(data):
        raise ValueError("truncated")
    return tag, at, at + length


def children(data: bytes, start: int, end: int) -> list[Element]:
    """Each element in ``data[start:end]``."""
    found = []
    at = start
    while at < end:
        tag, value_start, value_end = read(data, at)
        if value_end > end:
            raise ValueError("an element runs past its parent")
        found.append((tag, at, value_start, value_end))
        at = value_end
    return found


def encode(tag: int, value: bytes) -> bytes:
    """One DER element: ``tag``, the definite length of ``value``, ``value``."""
    size = len(value)
    if size < 0x80:
        return bytes([tag, size]) + value
    octets = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(octets)]) + octets + value
