"""A throwaway certificate authority for TLS tests (cryptography).

Tests trust only this CA, never the system's: a client that succeeds proves
the certificate nginx served is ours, and one signed by another CA must fail.

It also makes the odd certificates real servers present and TLS stacks
judge differently: an intermediate that expired (``intermediate(days=-1)``),
a server certificate that names its host in the Common Name only, without a
subjectAltName (``issue(san=False)``), one with an extra extension whose
value is not what its OID says (``issue(extensions=...)``), and a root whose
serial number is not positive (``create(serial=0)``), which RFC 5280 section
4.1.2.2 forbids and ``cryptography`` refuses to build: its DER is patched and
signed again here.
"""

from __future__ import annotations

import datetime
import ipaddress
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.oid import NameOID

__all__ = ["CA", "malformed"]


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def malformed(oid: x509.ObjectIdentifier) -> x509.UnrecognizedExtension:
    """An extension with a known OID whose value is not well-formed DER (a SEQUENCE cut short)."""
    return x509.UnrecognizedExtension(oid, b"\x30\x03\x02\x01")


def _der_length(size: int) -> bytes:
    if size < 0x80:
        return bytes([size])
    octets = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(octets)]) + octets


def _with_serial(certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey, serial: int) -> x509.Certificate:
    """``certificate`` (built with serial 1) with ``serial`` (-128..0) instead, signed again by ``key``."""
    tbs = certificate.tbs_certificate_bytes
    at = tbs.index(b"\x02\x01\x01")  # the first INTEGER 1 after the version: the serial number
    tbs = tbs[:at] + b"\x02\x01" + serial.to_bytes(1, "big", signed=True) + tbs[at + 3 :]
    der = certificate.public_bytes(serialization.Encoding.DER)
    algorithm = der[der.index(certificate.tbs_certificate_bytes) + len(certificate.tbs_certificate_bytes) :]
    algorithm = algorithm[: 2 + algorithm[1]]  # the signatureAlgorithm SEQUENCE (short form)
    signature = key.sign(tbs, ec.ECDSA(hashes.SHA256()))
    bits = b"\x03" + _der_length(len(signature) + 1) + b"\x00" + signature
    body = tbs + algorithm + bits
    with warnings.catch_warnings():  # the very warning the probe must not print
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        return x509.load_der_x509_certificate(b"\x30" + _der_length(len(body)) + body)


@dataclass
class CA:
    """A root certificate and its key; :meth:`issue` signs server certificates."""

    name: str
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    # The PEM of the CAs above this one (an intermediate's root), appended to what it issues.
    parents: bytes = b""

    @classmethod
    def create(cls, name: str = "mailautoconf test CA", *, serial: int | None = None) -> CA:
        """A root; ``serial`` from -128 to 0 makes one RFC 5280 forbids (and ``cryptography`` warns of)."""
        key = _key()
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number() if serial is None else 1)
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=60))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )  # key_cert_sign, crl_sign
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        if serial is not None:
            certificate = _with_serial(certificate, key, serial)
        return cls(name, key, certificate)

    def intermediate(
        self, name: str, *, days: float = 30, starts: datetime.timedelta = -datetime.timedelta(hours=1)
    ) -> CA:
        """A CA under this one: what it issues chains leaf, ``name``, this CA.

        Valid from now + ``starts`` for ``days`` days from now (``days=-1``: it expired yesterday).
        """
        key = _key()
        now = datetime.datetime.now(datetime.UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now + starts)
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )  # key_cert_sign, crl_sign
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        return CA(name, key, certificate, self.pem + self.parents)

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def issue(
        self,
        names: list[str],
        *,
        days: float = 1,
        starts: datetime.timedelta = -datetime.timedelta(hours=1),
        san: bool = True,
        extensions: Sequence[x509.ExtensionType] = (),
        serial: int | None = None,
    ) -> tuple[bytes, bytes]:
        """A server certificate for ``names`` (host names or IP addresses): (chain PEM, key PEM).

        Valid from now + ``starts`` for ``days`` days from now. ``san=False``:
        ``names[0]`` in the Common Name only, no subjectAltName; ``extensions``
        are added too, none of them critical; ``serial`` from -128 to 0: one
        RFC 5280 forbids.
        """
        key = _key()
        now = datetime.datetime.now(datetime.UTC)
        alternatives: list[x509.GeneralName] = []
        for name in names:
            try:
                alternatives.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                alternatives.append(x509.DNSName(name))
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number() if serial is None else 1)
            .not_valid_before(now + starts)
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
        )
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
        for extension in extensions:
            builder = builder.add_extension(extension, critical=False)
        certificate = builder.sign(self.key, hashes.SHA256())
        if serial is not None:
            certificate = _with_serial(certificate, self.key, serial)
        chain = certificate.public_bytes(serialization.Encoding.PEM) + self.pem + self.parents
        return chain, _pem_key(key)

    def issue_files(
        self,
        names: list[str],
        folder: Path,
        *,
        days: float = 1,
        starts: datetime.timedelta = -datetime.timedelta(hours=1),
    ) -> tuple[Path, Path]:
        """Write ``fullchain.pem`` and ``privkey.pem`` for ``names`` into ``folder`` (dehydrated's layout)."""
        folder.mkdir(parents=True, exist_ok=True)
        chain, key = self.issue(names, days=days, starts=starts)
        (folder / "fullchain.pem").write_bytes(chain)
        (folder / "privkey.pem").write_bytes(key)
        return folder / "fullchain.pem", folder / "privkey.pem"

    def write(self, path: Path) -> Path:
        path.write_bytes(self.pem)
        return path
