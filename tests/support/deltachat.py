"""Delta Chat's core as a real mail client: ``deltachat-rpc-server`` from PyPI, driven over JSON-RPC.

Delta Chat sets an account up from nothing but the address and the
password: it fetches autoconfig and Autodiscover documents over https,
then logs in to the IMAP and SMTP servers they name, and keeps the
account only if both logins work (chatmail/core src/configure.rs).
:class:`DeltaChat` runs one ``deltachat-rpc-server`` with its accounts
folder, home and temp folder inside the test's folder and an environment
of our own (no proxy variables, nothing inherited), and
:meth:`DeltaChat.configure` creates a fresh account per call (Delta Chat
caches every https answer per account for an hour, src/net/http.rs, so a
reused account would not ask again), configures it, and reports what it
configured as plain data, or the error it gave.

TLS trust. Delta Chat checks certificates with rustls against the Mozilla
roots compiled into the binary (``webpki-roots``) and ignores
``SSL_CERT_FILE``, so the test CA cannot be added the way Thunderbird's is.
What it has is its own key store (src/net/tls/spki.rs, danger.rs): a table
``tls_spki(host, spki_hash, timestamp)`` in the account's database, written
after every successful strict connection, so that an expired certificate
of a known key is still accepted. For a host whose stored hash (base64 of
the SHA-256 of the certificate's SubjectPublicKeyInfo, RFC 7469's pin
format) equals the presented one, the chain check is skipped; the host
name check (``verify_server_name``) runs for every certificate, pinned or
not. :meth:`DeltaChat.configure` writes these rows for the test hosts,
computed from the certificate files the test gave nginx and Dovecot,
before Delta Chat runs: as if the account had met those keys before. The
binary stays the one users run. tests/test_deltachat.py proves what this
trusts and what not (an unpinned key, a pinned key on a certificate for
another name); docs/testing.md says why this is honest.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import sqlite3
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from queue import Empty
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

__all__ = ["Configured", "DeltaChat", "Outcome", "Server", "rpc_server_path", "spki_hash"]

# One configure of a hosted address takes seconds on loopback; a hung one is a failure, not a wait.
CONFIGURE_TIMEOUT = 90.0
STOP_TIMEOUT = 10.0


def rpc_server_path() -> Path | None:
    """The ``deltachat-rpc-server`` of this virtualenv (requirements-test.txt), None if not installed."""
    path = Path(sys.executable).parent / "deltachat-rpc-server"
    return path if path.exists() else None


def spki_hash(pem: bytes) -> str:
    """Delta Chat's pin of the first certificate in ``pem``: base64(SHA-256(SubjectPublicKeyInfo DER)).

    The same value src/net/tls/spki.rs computes with ``spki_hash`` (RFC 7469's pin-sha256).
    """
    certificate = x509.load_pem_x509_certificate(pem)
    der = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(der).digest()).decode("ascii")


@dataclass(frozen=True)
class Server:
    """One connection candidate Delta Chat saved: ``security`` is "tls", "starttls" or "plain"."""

    host: str
    port: int
    security: str
    user: str


@dataclass(frozen=True)
class Configured:
    """What a successful configure saved (the ``transports`` row's ``configured_param``).

    ``imap`` and ``smtp`` are the candidates in the order Delta Chat keeps
    them (the document's order, each expanded by its rules); ``used_imap``
    and ``used_smtp`` the one it logged in to during the configure.
    """

    addr: str
    imap: tuple[Server, ...]
    smtp: tuple[Server, ...]
    used_imap: Server | None
    used_smtp: Server | None


@dataclass(frozen=True)
class Outcome:
    """A configure's result: ``configured`` on success, else ``error`` (Delta Chat's own message)."""

    configured: Configured | None
    error: str | None
    log: tuple[str, ...]  # Delta Chat's info, warning and error events during the configure

    def log_text(self) -> str:
        return "\n".join(self.log)


def _server(entry: dict[str, Any]) -> Server:
    connection = entry["connection"]
    return Server(connection["host"], int(connection["port"]), str(connection["security"]).lower(), entry["user"])


class DeltaChat:
    """One ``deltachat-rpc-server`` for a test module; :meth:`configure` once per case."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.accounts_dir = workdir / "accounts"
        self.stderr_path = workdir / "rpc-server.log"
        self._rpc: Any = None
        self._stderr: Any = None

    def start(self) -> DeltaChat:
        # Imported here: a machine without requirements-test.txt can still collect (and skip) the tests.
        from deltachat_rpc_client import Rpc

        binary = rpc_server_path()
        if binary is None:
            raise AssertionError("deltachat-rpc-server is not installed (requirements-test.txt)")
        for folder in ("home", "tmp"):
            (self.workdir / folder).mkdir(parents=True, exist_ok=True)
        # Only what the server needs: no proxy variables, no HOME or XDG folders outside the test's.
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(self.workdir / "home"),
            "TMPDIR": str(self.workdir / "tmp"),
            "XDG_CONFIG_HOME": str(self.workdir / "home" / ".config"),
            "XDG_CACHE_HOME": str(self.workdir / "home" / ".cache"),
            "LANG": "C.UTF-8",
            "RUST_LOG": "info",
        }
        self._stderr = open(self.stderr_path, "ab")  # noqa: SIM115 - closed in stop()
        self._rpc = Rpc(accounts_dir=str(self.accounts_dir), rpc_server_path=str(binary), env=env, stderr=self._stderr)
        try:
            self._rpc.start()
        except BaseException:
            self._stderr.close()
            self._rpc = None
            raise
        return self

    def stop(self) -> None:
        """End the server: the client's close (stdin EOF) in a bounded wait, then the process itself."""
        rpc, self._rpc = self._rpc, None
        if rpc is None:
            return
        closer = threading.Thread(target=rpc.close, daemon=True)
        closer.start()
        closer.join(STOP_TIMEOUT)
        if rpc.process.poll() is None:
            rpc.process.kill()
            rpc.process.wait(STOP_TIMEOUT)
        closer.join(STOP_TIMEOUT)
        for pipe in (rpc.process.stdin, rpc.process.stdout):
            with contextlib.suppress(OSError):
                pipe.close()
        if self._stderr is not None:
            self._stderr.close()

    @property
    def rpc(self) -> Any:
        if self._rpc is None:
            raise RuntimeError("DeltaChat is not started")
        return self._rpc

    def version(self) -> str:
        return str(self.rpc.get_system_info().get("deltachat_core_version", "?"))

    # -- one account ------------------------------------------------------------

    def configure(
        self,
        address: str,
        password: str,
        *,
        pins: Mapping[str, str],
        manual: Mapping[str, Any] | None = None,
    ) -> Outcome:
        """A new account, ``pins`` (host -> SPKI hash) in its key store, then Delta Chat's configure.

        ``manual`` are further ``EnteredLoginParam`` fields (``imapServer``,
        ``imapPort``, ``imapSecurity``, ...): with any set, Delta Chat skips
        the lookup and uses them, as when a user types server settings.
        The account is removed afterwards; every call starts from nothing.
        """
        rpc = self.rpc
        account = rpc.add_account()
        try:
            self._pin(account, pins)
            param: dict[str, Any] = {"addr": address, "password": password, **(manual or {})}
            # add_or_update_transport waits for the whole configure; bounded by a timer that cancels it.
            cancel = threading.Timer(CONFIGURE_TIMEOUT, lambda: rpc.stop_ongoing_process(account))
            cancel.start()
            error: str | None = None
            try:
                rpc.add_or_update_transport(account, param)
            except Exception as problem:  # JsonRpcError: Delta Chat's error, as its UI shows it
                error = _message(problem)
            finally:
                cancel.cancel()
            log = self._drain(account, until_done=True)
            configured = None if error is not None else self._configured(account, log)
            if error is None and configured is None:
                error = "configure returned but saved no transport"
            return Outcome(configured, error, log)
        finally:
            with contextlib.suppress(Exception):
                rpc.stop_io(account)
            rpc.remove_account(account)
            self._drain(account)

    def _database(self, account: int) -> Path:
        blobs = self.rpc.get_blob_dir(account)  # <accounts>/<uuid>/dc.db-blobs
        if not blobs:
            raise AssertionError(f"account {account} has no blob folder")
        return Path(str(blobs).removesuffix("-blobs"))

    def _pin(self, account: int, pins: Mapping[str, str]) -> None:
        """Rows of Delta Chat's own key store (src/net/tls/spki.rs), as a strict connection would have left them.

        Written through SQLite while the server has the database open (WAL,
        a busy timeout); the server's in-memory cache keeps only hits, so
        it reads these on its first connection to each host.
        """
        now = int(time.time())
        with contextlib.closing(sqlite3.connect(self._database(account), timeout=10)) as db, db:
            db.executemany(
                "INSERT OR REPLACE INTO tls_spki (host, spki_hash, timestamp) VALUES (?, ?, ?)",
                [(host, value, now) for host, value in pins.items()],
            )

    def _configured(self, account: int, log: tuple[str, ...]) -> Configured | None:
        """The saved transport (read from its database) and the candidates the log says it logged in to."""
        with contextlib.closing(sqlite3.connect(f"file:{self._database(account)}?mode=ro", uri=True, timeout=10)) as db:
            row = db.execute("SELECT configured_param FROM transports ORDER BY id LIMIT 1").fetchone()
        if row is None:
            return None
        saved = json.loads(row[0])
        imap = tuple(_server(x) for x in saved["imap"])
        smtp = tuple(_server(x) for x in saved["smtp"])
        return Configured(
            addr=saved["addr"],
            imap=imap,
            smtp=smtp,
            used_imap=_logged_in(imap, log, "IMAP"),
            used_smtp=_logged_in(smtp, log, "SMTP"),
        )

    def _drain(self, account: int, *, until_done: bool = False) -> tuple[str, ...]:
        """The account's log: info, warning and error events and the two login events, in order.

        Events reach the client on a thread of their own, so the answer to
        the configure call can come before its last events. ``until_done``
        waits (boundedly) for the event that ends every configure,
        ``ConfigureProgress`` 1000 (done) or 0 (failed, src/configure.rs).
        """
        queue = self.rpc.get_queue(account)
        lines: list[str] = []
        deadline = time.monotonic() + STOP_TIMEOUT
        while True:
            try:
                event = queue.get(timeout=max(0.0, deadline - time.monotonic())) if until_done else queue.get_nowait()
            except Empty:
                if until_done:
                    lines.append("(no ConfigureProgress 0 or 1000 event within the wait)")
                return tuple(lines)
            kind = event.get("kind", "")
            if kind in ("Info", "Warning", "Error", "ImapConnected", "SmtpConnected"):
                lines.append(f"{kind}: {event.get('msg', '')}")
            elif kind == "ConfigureProgress" and event.get("progress") in (0, 1000):
                lines.append(f"ConfigureProgress: {event.get('progress')}")
                if until_done:
                    return tuple(lines)


def _logged_in(candidates: tuple[Server, ...], log: tuple[str, ...], protocol: str) -> Server | None:
    """The candidate of the first login, from Delta Chat's own log lines.

    Delta Chat tries its candidates one after the other, logging "IMAP
    trying to connect to host:port:security." (SMTP alike) before each,
    and emits ``ImapConnected`` / ``SmtpConnected`` once logged in
    (src/imap.rs, src/smtp.rs); IMAP and SMTP run at the same time, so
    each is followed by its own prefix. The saved transport does not say
    which candidate worked: it keeps them all, in the document's order.
    """
    trying = f"{protocol} trying to connect to "  # after "Info: src/imap.rs:321: "
    connected = f"{protocol.capitalize()}Connected: "
    last: str | None = None
    for line in log:
        if line.startswith("Info: ") and trying in line:
            last = line.partition(trying)[2].removesuffix(".")
        elif line.startswith(connected) and last is not None:
            host, port, security = last.rsplit(":", 2)
            for candidate in candidates:
                if (candidate.host, str(candidate.port), candidate.security) == (host, port, security):
                    return candidate
            return None
    return None


def _message(problem: Exception) -> str:
    """The text of a JSON-RPC error ({'code': ..., 'message': ...}), else the exception's."""
    argument = problem.args[0] if problem.args else None
    if isinstance(argument, dict) and "message" in argument:
        return str(argument["message"])
    return str(problem)
