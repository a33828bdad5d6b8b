"""Certificates as the probe reports them: loaded without a warning, read without trusting them to be well-formed.

Servers present certificates that ``cryptography`` reads all or nothing:

- One malformed extension, critical or not, makes ``.extensions`` raise
  ValueError, so the names a certificate covers could not be shown at all
  (and the walks that met it failed as "could not judge this"). OpenSSL
  and mozilla::pkix read only the extensions they need: a malformed
  certificatePolicies is never parsed by a domain-validated check
  (pkixcheck.cpp CheckCertificatePolicies returns at anyPolicy). So
  :func:`facts` reads each extension on its own and names the ones that
  cannot be read, as a finding.
- A serial number that is not positive (RFC 5280 section 4.1.2.2 forbids
  it, and says in the same breath that users "SHOULD be prepared to
  gracefully handle such certificates"; OpenSSL and mozilla::pkix accept them)
  makes ``cryptography`` print a CryptographyDeprecationWarning, and a later
  release will refuse to load it. Every certificate the probe loads (from a
  server, a signed profile, ``--ca`` or the system's store) goes through
  :func:`load_der`: no warning above the report, and None, not a
  traceback, once it is refused.

The host-name rule of the clients that read only the subjectAltName
(:func:`covers`) is here too: RFC 6125 section 6.4.4 lets a client fall
back to the Common Name when there is no subjectAltName, and Python's
OpenSSL does, but Thunderbird (mozilla::pkix), OkHttp and Apple do not.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
import ssl
import threading
import warnings
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import NameOID

from mailautoconf.probe import der

__all__ = [
    "Facts",
    "anchors",
    "covers",
    "facts",
    "first_out_of_date",
    "issued_by",
    "load_der",
    "load_pem",
    "name_of",
]

_SAN = "2.5.29.17"
# The extensions a server certificate commonly carries, by the names RFC 5280 and RFC 6962 give them.
_EXTENSION_NAMES = {
    "2.5.29.14": "subjectKeyIdentifier",
    "2.5.29.15": "keyUsage",
    _SAN: "subjectAltName",
    "2.5.29.19": "basicConstraints",
    "2.5.29.30": "nameConstraints",
    "2.5.29.31": "cRLDistributionPoints",
    "2.5.29.32": "certificatePolicies",
    "2.5.29.35": "authorityKeyIdentifier",
    "2.5.29.37": "extKeyUsage",
    "1.3.6.1.5.5.7.1.1": "authorityInfoAccess",
    "1.3.6.1.5.5.7.1.24": "tlsFeature",
    "1.3.6.1.4.1.11129.2.4.2": "signedCertificateTimestampList",
}
# What reading extensions raises besides ValueError: two of one OID (RFC 5280 section 4.2 forbids it), a name type
# cryptography does not know.
_UNREADABLE = (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType)
_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", re.S)
# warnings.catch_warnings() swaps the process's filter list: the probe's threads take turns.
_QUIET = threading.Lock()


@dataclass(frozen=True)
class Facts:
    """What the report says of one certificate."""

    subject: str  # its Common Name, else the whole subject
    issuer: str
    dns_names: tuple[str, ...]  # of its subjectAltName
    alt_names: bool  # it has a readable subjectAltName with DNS names or IP addresses (then the CN is never read)
    common_names: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    unreadable: tuple[str, ...] = ()  # extensions that are not well-formed, by name (or OID)


def _fields(data: bytes) -> tuple[list[der.Element], list[der.Element]]:
    """(Certificate's parts: tbsCertificate, signatureAlgorithm, signature; the tbsCertificate's fields)."""
    _, start, end = der.read(data)
    parts = der.children(data, start, end)
    if len(parts) != 3 or parts[0][0] != 0x30:
        raise ValueError("not a certificate")
    return parts, der.children(data, parts[0][2], parts[0][3])


def _serial_positive(data: bytes) -> bool:
    _, fields = _fields(data)
    tag, _, start, end = fields[1] if fields and fields[0][0] == 0xA0 else fields[0]  # after [0] version
    if tag != 0x02 or start == end:
        raise ValueError("no serial number")
    value = data[start:end]
    return not value[0] & 0x80 and any(value)


def load_der(data: bytes) -> x509.Certificate | None:
    """The certificate, or None when it cannot be read; never a warning on standard error."""
    try:
        if _serial_positive(data):
            return x509.load_der_x509_certificate(data)
        with _QUIET, warnings.catch_warnings():
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            return x509.load_der_x509_certificate(data)
    except (ValueError, x509.InvalidVersion):
        return None


def load_pem(data: bytes) -> list[x509.Certificate]:
    """Every certificate of a PEM bundle that can be read, the others left out."""
    found = []
    for block in _PEM.finditer(data):
        try:
            certificate = load_der(base64.b64decode(b"".join(block.group(1).split()), validate=True))
        except (binascii.Error, ValueError):
            continue
        if certificate is not None:
            found.append(certificate)
    return found


@functools.lru_cache(maxsize=4)
def anchors(ca: str | None) -> tuple[x509.Certificate, ...]:
    """The trust anchors: ``--ca``, else the system's store file (read once per process: a fleet asks per domain)."""
    path = ca or ssl.get_default_verify_paths().cafile
    if not path:
        return ()
    try:
        with open(path, "rb") as file:
            return tuple(load_pem(file.read()))
    except OSError:
        return ()


def _text(read: Callable[[], x509.Name]) -> tuple[str, tuple[str, ...]]:
    """(a name for people: its CN, else the whole name; its CNs) of a certificate's subject or issuer."""
    try:
        name = read()
        common = tuple(str(attribute.value) for attribute in name.get_attributes_for_oid(NameOID.COMMON_NAME))
        return (common[0] if common else name.rfc4514_string()), common
    except ValueError:
        return "(a name that cannot be read)", ()


def name_of(certificate: x509.Certificate) -> str:
    return _text(lambda: certificate.subject)[0]


def _oid(value: bytes) -> str:
    """An OBJECT IDENTIFIER's content octets in dotted form (X.690 section 8.19)."""
    numbers: list[int] = []
    current = 0
    for octet in value:
        current = (current << 7) | (octet & 0x7F)
        if not octet & 0x80:
            numbers.append(current)
            current = 0
    if not numbers:
        return "?"
    first = min(numbers[0] // 40, 2)
    return ".".join(map(str, [first, numbers[0] - 40 * first, *numbers[1:]]))


def _alt_names(extensions: x509.Extensions) -> tuple[tuple[str, ...], bool]:
    try:
        san = extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return (), False
    names = tuple(str(name) for name in san.get_values_for_type(x509.DNSName))
    return names, bool(names or san.get_values_for_type(x509.IPAddress))


def _one_by_one(certificate: x509.Certificate) -> tuple[tuple[str, ...], tuple[tuple[str, ...], bool]]:
    """(the extensions ``cryptography`` cannot read, each tried alone; the subjectAltName's names if readable).

    Each extension is put alone into a copy of the certificate (the signature
    no longer matches; nothing here checks it) and read there.
    """
    from cryptography.hazmat.primitives.serialization import Encoding

    data = certificate.public_bytes(Encoding.DER)
    parts, fields = _fields(data)
    listed = next((field for field in fields if field[0] == 0xA3), None)
    if listed is None:
        return (), ((), False)
    _, sequence_start, sequence_end = der.read(data, listed[2])
    others = b"".join(data[field[1] : field[3]] for field in fields if field[0] != 0xA3)
    signature = data[parts[1][1] : parts[2][3]]
    unreadable: list[str] = []
    alt: tuple[tuple[str, ...], bool] = ((), False)
    seen: set[str] = set()
    for _, start, value_start, value_end in der.children(data, sequence_start, sequence_end):
        inner = der.children(data, value_start, value_end)
        oid = _oid(data[inner[0][2] : inner[0][3]]) if inner and inner[0][0] == 0x06 else "?"
        if oid in seen:
            unreadable.append(f"second {_EXTENSION_NAMES.get(oid, oid)}")
            continue
        seen.add(oid)
        tbs = der.encode(0x30, others + der.encode(0xA3, der.encode(0x30, data[start:value_end])))
        alone = load_der(der.encode(0x30, tbs + signature))
        try:
            if alone is None:
                raise ValueError("unreadable")
            if oid == _SAN:
                alt = _alt_names(alone.extensions)
            else:
                alone.extensions  # noqa: B018 - reading it is the test
        except _UNREADABLE:
            unreadable.append(_EXTENSION_NAMES.get(oid, oid))
    return tuple(unreadable), alt


def facts(certificate: x509.Certificate) -> Facts:
    """The certificate's names and dates; its extensions one by one when they cannot be read together."""
    subject, common = _text(lambda: certificate.subject)
    issuer, _ = _text(lambda: certificate.issuer)
    unreadable: tuple[str, ...] = ()
    try:
        dns_names, alt = _alt_names(certificate.extensions)
    except _UNREADABLE:
        try:
            unreadable, (dns_names, alt) = _one_by_one(certificate)
        except (ValueError, IndexError):
            unreadable, dns_names, alt = ("(the extensions as a whole)",), (), False
    return Facts(
        subject, issuer, dns_names, alt, common, certificate.not_valid_before_utc, certificate.not_valid_after_utc,
        unreadable,
    )  # fmt: skip


def covers(host: str, pattern: str) -> bool:
    """RFC 6125 section 6.4.3 as the clients apply it: exact, or ``*`` as the whole left-most label."""
    host, pattern = host.lower().rstrip("."), pattern.lower().rstrip(".")
    if pattern.startswith("*."):
        first, _, rest = host.partition(".")
        return bool(first) and "*" not in pattern[2:] and rest == pattern[2:] and "." in rest
    return host == pattern


def issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether ``issuer``'s subject is ``certificate``'s issuer (names only; a name that cannot be read: no)."""
    try:
        return certificate.issuer == issuer.subject
    except ValueError:
        return False


def first_out_of_date(chain: Sequence[x509.Certificate], now: datetime) -> x509.Certificate | None:
    """The first certificate of ``chain`` (leaf first) that has expired or is not valid yet."""
    return next((c for c in chain if c.not_valid_after_utc < now or c.not_valid_before_utc > now), None)
