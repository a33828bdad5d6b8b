"""A throwaway certificate authority for TLS tests (cryptography).

Tests trust only this CA, never the system's: a client that succeeds proves
the certificate nginx served is ours, and one signed by another CA must fail.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.oid import NameOID

__all__ = ["CA"]


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@dataclass
class CA:
    """A root certificate and its key; :meth:`issue` signs server certificates."""

    name: str
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    # The PEM of the CAs above this one (an intermediate's root), appended to what it issues.
    parents: bytes = b""

    @classmethod
    def create(cls, name: str = "mailautoconf test CA") -> CA:
        key = _key()
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=60))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )  # key_cert_sign, crl_sign
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(name, key, certificate)

    def intermediate(self, name: str) -> CA:
        """A CA under this one: what it issues chains leaf, ``name``, this CA."""
        key = _key()
        now = datetime.datetime.now(datetime.UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=30))
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
        self, names: list[str], *, days: float = 1, starts: datetime.timedelta = -datetime.timedelta(hours=1)
    ) -> tuple[bytes, bytes]:
        """A server certificate for ``names`` (host names or IP addresses): (chain PEM, key PEM).

        Valid from now + ``starts`` for ``days`` days from now.
        """
        key = _key()
        now = datetime.datetime.now(datetime.UTC)
        alternatives: list[x509.GeneralName] = []
        for name in names:
            try:
                alternatives.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                alternatives.append(x509.DNSName(name))
        certificate = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now + starts)
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )
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
