"""A signed Apple profile taken apart: the embedded plist, the signer, its chain, the signature checked.

A signed ``.mobileconfig`` is DER CMS SignedData with the plist embedded
(RFC 5652; docs/clients.md section 3.4). ``cryptography`` reads the
certificates of such a structure but does not verify one, so the few
fields a verification needs are read here with a small DER reader, and the
signature is checked as RFC 5652 section 5.4 says: the ``messageDigest``
signed attribute must be the SHA-256 of the content, and the signature
must verify over the DER of the signed attributes (as a SET). The
certificates are taken out one by one and loaded as every certificate of
the probe is (:func:`mailautoconf.probe.certs.load_der`: one that cannot be
read is left out, none prints a warning). Pure functions of bytes; a
malformed structure gives a reason, never an exception.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric import rsa

from mailautoconf.probe import certs
from mailautoconf.probe import der

__all__ = ["Signed", "open_signed"]

_SIGNED_DATA = bytes.fromhex("2a864886f70d010702")  # 1.2.840.113549.1.7.2
_MESSAGE_DIGEST = bytes.fromhex("2a864886f70d010904")  # 1.2.840.113549.1.9.4


@dataclass(frozen=True)
class Signed:
    content: bytes  # the embedded plist
    signer: str
    chain: tuple[str, ...]  # subjects from the signer up to the anchor, as far as it goes
    trusted: bool  # the chain ends at a trust anchor
    signature_ok: bool
    days_left: int | None
    problem: str  # "" when all is well


def _certificates(body: bytes, signed_data: list[der.Element]) -> list[x509.Certificate]:
    """The ``certificates [0] IMPLICIT`` of SignedData (RFC 5652 section 5.1), those that can be read."""
    listed = next((element for element in signed_data[3:-1] if element[0] == 0xA0), None)
    if listed is None:
        return []
    try:
        found = [certs.load_der(body[start:end]) for _, start, _, end in der.children(body, listed[2], listed[3])]
    except ValueError:
        return []
    return [certificate for certificate in found if certificate is not None]


def _issuer(certificate: x509.Certificate) -> str:
    """The issuer's whole name; a damaged name is read only when asked for, and may not be readable."""
    try:
        return certificate.issuer.rfc4514_string()
    except ValueError:
        return "an issuer whose name cannot be read"


def _issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _verify(certificate: x509.Certificate, signature: bytes, data: bytes) -> bool:
    try:
        key = certificate.public_key()  # a damaged key is a certificate that signed nothing
    except (ValueError, UnsupportedAlgorithm):
        return False
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        else:
            return False
    except InvalidSignature:
        return False
    return True


def open_signed(body: bytes, anchors: list[x509.Certificate]) -> Signed | str:
    """The signed profile in ``body``, or why it is not one that can be read."""
    try:
        tag, start, end = der.read(body, 0)
        content_info = der.children(body, start, end)
        if tag != 0x30 or len(content_info) < 2 or body[content_info[0][2] : content_info[0][3]] != _SIGNED_DATA:
            return "not CMS SignedData"
        explicit_start = content_info[1][2]
        _, sd_start, sd_end = der.read(body, explicit_start)
        signed_data = der.children(body, sd_start, sd_end)
        encap = der.children(body, signed_data[2][2], signed_data[2][3])
        if len(encap) < 2:
            return "the signature carries no content (a detached signature: Apple needs the plist embedded)"
        _, content_start, content_end = der.read(body, encap[1][2])  # the OCTET STRING inside [0] EXPLICIT
        content = body[content_start:content_end]
        signer_infos = der.children(body, signed_data[-1][2], signed_data[-1][3])
        if not signer_infos:
            return "no signer"
        signer = der.children(body, signer_infos[0][2], signer_infos[0][3])
        attributes = next((element for element in signer if element[0] == 0xA0), None)
        signature_element = signer[-1] if signer[-1][0] == 0x04 else signer[-2]
        signature = body[signature_element[2] : signature_element[3]]
    except (ValueError, IndexError):
        return "not a well-formed CMS structure"
    certificates = _certificates(body, signed_data)
    if not certificates:
        return "signed, but without the signing certificate"
    signed_bytes = content
    digest_ok = True
    if attributes is not None:
        _, attr_start, value_start, value_end = attributes
        digest_ok = False
        try:
            for _, _, a_start, a_end in der.children(body, value_start, value_end):
                parts = der.children(body, a_start, a_end)
                if body[parts[0][2] : parts[0][3]] == _MESSAGE_DIGEST:
                    values = der.children(body, parts[1][2], parts[1][3])
                    digest_ok = body[values[0][2] : values[0][3]] == hashlib.sha256(content).digest()
        except (ValueError, IndexError):  # an attribute without its type or value, as the structure above
            return "not a well-formed CMS structure"
        signed_bytes = b"\x31" + body[attr_start + 1 : value_end]  # [0] IMPLICIT -> SET OF (RFC 5652 5.4)
    leaf = next((c for c in certificates if _verify(c, signature, signed_bytes)), None)
    problem = ""
    if leaf is None or not digest_ok:
        problem = "the signature does not verify (the profile was changed after signing, or signed wrongly)"
        leaf = leaf or certificates[0]
    chain = [leaf]
    pool = [c for c in certificates if c is not leaf]
    trusted = False
    while len(chain) < 8:
        current = chain[-1]
        anchor = next((a for a in anchors if _issued_by(current, a)), None)
        if anchor is not None:
            if anchor.fingerprint(hashes.SHA256()) != current.fingerprint(hashes.SHA256()):
                chain.append(anchor)
            trusted = True
            break
        parent = next((c for c in pool if _issued_by(current, c)), None)
        if parent is None:
            break
        chain.append(parent)
        pool.remove(parent)
    now = datetime.now(UTC)
    days = (leaf.not_valid_after_utc - now).days
    if not problem and leaf.not_valid_after_utc < now:
        problem = f"the signing certificate expired on {leaf.not_valid_after_utc:%Y-%m-%d}: devices show it unverified"
    if not problem and not trusted:
        problem = f"the signing certificate does not chain to a trusted CA (issued by {_issuer(chain[-1])})"
    return Signed(
        content=content,
        signer=certs.name_of(leaf),
        chain=tuple(certs.name_of(c) for c in chain),
        trusted=trusted,
        signature_ok=leaf is not None and digest_ok and not problem.startswith("the signature"),
        days_left=days,
        problem=problem,
    )
