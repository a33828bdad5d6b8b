"""Signing Apple profiles: the certificate from ``[signing]``, checked, and CMS SignedData made with it.

A device shows an unsigned profile as "Not Verified"; signed with a
certificate that chains to a root it trusts (the TLS certificate of the
service's own name will do), as "Verified" (docs/clients.md section 3.4).
The signature is DER CMS SignedData with the plist embedded and the chain
included, made with ``cryptography``. The Binary option keeps the plist's
bytes as they are: without it the content is canonicalised to CRLF line
endings, and the embedded plist is no longer the one rendered.

The files are read when the config is applied and again whenever they
change (a renewal), never per request. A file that cannot be read, a key
that does not fit, a certificate that is expired or not yet valid is an
error like any config error: the last good state keeps serving.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs7

from mailautoconf.model import SigningSettings
from mailautoconf.problems import ConfigError
from mailautoconf.problems import Problem
from mailautoconf.problems import Severity

__all__ = ["EXPIRY_WARNING", "FileState", "Signer", "file_state", "load"]

# Warn this long before the signing certificate expires: ACME clients renew
# 30 days ahead, so a certificate this close to its end has missed renewals.
EXPIRY_WARNING = timedelta(days=14)
_WHERE = "[signing]"

FileState = tuple[tuple[str, int, int, int] | tuple[str, str], ...]


def file_state(settings: SigningSettings) -> FileState:
    """What identifies the signing files' current contents (following symlinks, as renewals swap them)."""
    state: list[tuple[str, int, int, int] | tuple[str, str]] = []
    for path in settings.files():
        try:
            status = os.stat(path)
        except OSError as exc:
            state.append((path, exc.strerror or str(exc)))
        else:
            state.append((path, status.st_mtime_ns, status.st_size, status.st_ino))
    return tuple(state)


@dataclass(frozen=True)
class Signer:
    certificate: x509.Certificate
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    chain: tuple[x509.Certificate, ...]

    @property
    def expires(self) -> datetime:
        return self.certificate.not_valid_after_utc

    def sign(self, content: bytes) -> bytes:
        """``content`` as DER CMS SignedData: embedded, SHA-256, the chain included."""
        builder = (
            pkcs7.PKCS7SignatureBuilder().set_data(content).add_signer(self.certificate, self.key, hashes.SHA256())
        )
        for certificate in self.chain:
            builder = builder.add_certificate(certificate)
        return builder.sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])


def _read(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise _error(path, f"cannot read the {what}: {exc.strerror or exc}") from None


def _error(path: str, message: str) -> ConfigError:
    return ConfigError([Problem(path, None, _WHERE, message)])


def _certificates(path: str, data: bytes) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError:
        raise _error(path, "holds no PEM certificate") from None


def load(settings: SigningSettings, now: datetime | None = None) -> tuple[Signer, list[Problem]]:
    """The signer ``settings`` names, with warnings (expiry close); raises ConfigError naming the file."""
    now = now or datetime.now(UTC)
    certificates = _certificates(settings.certificate, _read(settings.certificate, "certificate"))
    chain = certificates[1:]
    if settings.chain:
        chain += _certificates(settings.chain, _read(settings.chain, "chain"))
    key_data = _read(settings.key, "private key")
    try:
        key = serialization.load_pem_private_key(key_data, password=None)
    except (ValueError, TypeError):
        raise _error(settings.key, "is not an unencrypted PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise _error(settings.key, "is not an RSA or EC key (profiles are signed with one of those)")
    certificate = certificates[0]
    public = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*public) != certificate.public_key().public_bytes(*public):
        raise _error(settings.key, f"does not belong to the certificate in {settings.certificate}")
    subject = certificate.subject.rfc4514_string()
    if now >= certificate.not_valid_after_utc:
        raise _error(
            settings.certificate, f"the certificate ({subject}) expired on {certificate.not_valid_after_utc:%Y-%m-%d}"
        )
    if now < certificate.not_valid_before_utc:
        raise _error(
            settings.certificate,
            f"the certificate ({subject}) is valid only from {certificate.not_valid_before_utc:%Y-%m-%d %H:%M} UTC",
        )
    warnings = []
    if certificate.not_valid_after_utc - now < EXPIRY_WARNING:
        days = (certificate.not_valid_after_utc - now).days
        warnings.append(
            Problem(
                settings.certificate,
                None,
                _WHERE,
                f"the certificate ({subject}) expires in {days} day(s), on "
                f"{certificate.not_valid_after_utc:%Y-%m-%d}; profiles signed with it show as not verified after that",
                Severity.WARNING,
            )
        )
    return Signer(certificate, key, tuple(chain)), warnings
