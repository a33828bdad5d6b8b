"""Signing Apple profiles: the certificate from ``[signing]``, checked, and CMS SignedData made with it.

A device shows an unsigned profile as "Not Verified"; signed with a
certificate that chains to a root it trusts (the TLS certificate of the
service's own name will do), as "Verified" (docs/clients.md section 3.4).
The signature is DER CMS SignedData with the plist embedded and the chain
included, made with ``cryptography``. The Binary option keeps the plist's
bytes as they are: without it the content is canonicalised to CRLF line
endings, and the embedded plist is no longer the one rendered.

The files are read when the config is applied and again whenever they
change (a renewal), never per request; their dates are looked at again
while the service runs (selfcheck.py), since a certificate expires without
any file changing. A file that cannot be read, a key that does not fit, a
chain that did not issue the certificate, a certificate (or chain
certificate) that is expired or not yet valid is a signing error, reported
by ``check`` and ``/healthz`` naming the file: the last good certificate
keeps signing while it is valid, else profiles go out unsigned.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs7

from mailautoconf import files
from mailautoconf.model import SigningSettings
from mailautoconf.problems import ConfigError
from mailautoconf.problems import Problem
from mailautoconf.problems import Severity

__all__ = ["EXPIRY_WARNING", "FileState", "Signer", "fallback", "file_state", "load", "time_problems"]

# Warn this long before the signing certificate expires: ACME clients renew
# 30 days ahead, so a certificate this close to its end has missed renewals.
EXPIRY_WARNING = timedelta(days=14)
_WHERE = "[signing]"

FileState = tuple[tuple[str, int, int, int, int] | tuple[str, str], ...]


def file_state(settings: SigningSettings) -> FileState:
    """What identifies the signing files' current contents (following symlinks, as renewals swap them)."""
    state: list[tuple[str, int, int, int, int] | tuple[str, str]] = []
    for path in settings.files():
        try:
            status = os.stat(path)
        except OSError as exc:
            state.append((path, exc.strerror or str(exc)))
        else:
            state.append((path, status.st_mtime_ns, status.st_size, status.st_ino, status.st_ctime_ns))
    return tuple(state)


@dataclass(frozen=True)
class Signer:
    certificate: x509.Certificate
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    chain: tuple[x509.Certificate, ...]
    certificate_path: str = ""  # where they were read, for messages
    chain_path: str = ""

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
        return files.read_regular(path)
    except files.FileTrouble as exc:
        raise _error(path, f"cannot read the {what}: {exc.reason}") from None


def _error(path: str, message: str) -> ConfigError:
    return ConfigError([Problem(path, None, _WHERE, message)])


def _certificates(path: str, data: bytes) -> list[x509.Certificate]:
    try:
        found = x509.load_pem_x509_certificates(data)
    except ValueError:
        if not data.strip():
            raise _error(path, "is empty: it holds no PEM certificate") from None
        raise _error(path, "holds no PEM certificate") from None
    # A file cut off in the middle (a copy still being written) reads as the certificates before the cut.
    begun = data.count(b"-----BEGIN CERTIFICATE-----")
    if begun != len(found):
        raise _error(path, f"holds {begun} certificates, of which {begun - len(found)} cut off or damaged")
    return found


def load(settings: SigningSettings, now: datetime | None = None) -> tuple[Signer, list[Problem]]:
    """The signer ``settings`` names, with warnings (expiry close); raises ConfigError naming the file."""
    certificates = _certificates(settings.certificate, _read(settings.certificate, "certificate"))
    chain = [(settings.certificate, certificate) for certificate in certificates[1:]]
    if settings.chain:
        chain += [(settings.chain, found) for found in _certificates(settings.chain, _read(settings.chain, "chain"))]
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
    _check_chain(settings.certificate, certificate, chain)
    signer = Signer(certificate, key, tuple(found for _, found in chain), settings.certificate, settings.chain)
    errors, warnings = _dated(signer, now or datetime.now(UTC))
    if errors:
        raise ConfigError(errors)
    return signer, warnings


def _check_chain(path: str, certificate: x509.Certificate, chain: list[tuple[str, x509.Certificate]]) -> None:
    """Each certificate of the chain must issue the one before it, from the signing certificate on.

    A device builds the path from the certificates the profile carries
    (docs/clients.md section 3.4): an intermediate that did not issue the
    certificate (the usual state after a CA rotated its intermediates and
    only the certificate was renewed) makes it reject the profile, though
    every file reads fine.
    """
    child, child_path = certificate, path
    for chain_path, issuer in chain:
        if child.issuer != issuer.subject or not _signed_by(child, issuer):
            raise _error(
                chain_path,
                f"the chain does not fit: {_name(issuer)} did not issue {_name(child)} (in {child_path}), whose "
                f"issuer is {child.issuer.rfc4514_string()}; take the chain that came with the certificate "
                "(fullchain.pem)",
            )
        child, child_path = issuer, chain_path


def _signed_by(child: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        child.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _name(certificate: x509.Certificate) -> str:
    return certificate.subject.rfc4514_string() or "a certificate without a subject"


def _dated(signer: Signer, now: datetime) -> tuple[list[Problem], list[Problem]]:
    """Errors (a certificate not valid now) and warnings (the end close) for ``signer``'s certificates."""
    errors: list[Problem] = []
    warnings: list[Problem] = []
    named = [(signer.certificate_path, signer.certificate, "the certificate")]
    named += [(signer.chain_path or signer.certificate_path, found, "the chain certificate") for found in signer.chain]
    for path, certificate, what in named:
        subject = certificate.subject.rfc4514_string()
        end = certificate.not_valid_after_utc
        if now >= end:
            errors.append(Problem(path, None, _WHERE, f"{what} ({subject}) expired on {end:%Y-%m-%d}"))
        elif now < certificate.not_valid_before_utc:
            start = certificate.not_valid_before_utc
            errors.append(
                Problem(path, None, _WHERE, f"{what} ({subject}) is valid only from {start:%Y-%m-%d %H:%M} UTC")
            )
        elif end - now < EXPIRY_WARNING:
            warnings.append(
                Problem(
                    path,
                    None,
                    _WHERE,
                    f"{what} ({subject}) expires in {(end - now).days} day(s), on {end:%Y-%m-%d}; profiles "
                    "signed with it show as not verified after that",
                    Severity.WARNING,
                )
            )
    return errors, warnings


def time_problems(signer: Signer, now: datetime | None = None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """What the clock says of ``signer`` now: errors (expired, not yet valid) and warnings (expiring), as lines."""
    errors, warnings = _dated(signer, now or datetime.now(UTC))
    return tuple(str(problem) for problem in errors), tuple(str(problem) for problem in warnings)


def fallback(kept: Signer | None) -> str:
    """What Apple profiles get instead, said as the last line of a signing error."""
    if kept is None:
        return "Apple profiles go out unsigned (shown as not verified) until the [signing] files are right"
    return (
        f"Apple profiles are still signed with the certificate read before ({_name(kept.certificate)}, "
        f"valid until {kept.expires:%Y-%m-%d})"
    )
