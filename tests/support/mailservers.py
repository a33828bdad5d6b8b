"""Real mail servers for the test world: Dovecot (IMAP, POP3, submission) and Postfix (submission).

Issue 21: a client that read our settings must also *log in* with them, to
the host names, ports, TLS modes, usernames and methods the document names.
The servers are Debian's own programs, run as root inside the test namespace
(tests/isolated.sh) with config files of their own in a work folder; nothing
in /etc is read or changed:

- :class:`Dovecot`: ``dovecot -F -c <workdir>/dovecot.conf``. One listener per
  :class:`Listener` on ``address`` (the whole 127.0.0.0/8 answers on ``lo``, so
  a second instance with other settings runs on 127.0.0.2, ...), accounts in a
  passwd-file with plain passwords (CRAM-MD5 needs the plain secret), TLS
  from :class:`support.pki.CA` with one certificate for all ``names`` and, per
  host name, another one through Dovecot's SNI ``local_name`` blocks (a
  certificate that lacks the name, an expired one, an untrusted one).
- :class:`Postfix`: ``postfix -c <workdir>/etc start-fg`` with its own
  config_directory, queue_directory and data_directory, chroot off; SMTP
  submission (587 STARTTLS, 465 implicit TLS) whose AUTH asks the Dovecot's
  auth service over TCP (``smtpd_sasl_type = dovecot``), and a relay port
  without AUTH for the Dovecot's own submission service to hand mail to.

Mail is never delivered anywhere: Postfix discards what it accepts. What
the tests need is the connection, TLS, the capabilities and the login.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from support.pki import CA
from support.service import free_port
from support.tlsnet import log_tail
from support.tlsnet import stop_process
from support.tlsnet import wait_for_ports

__all__ = [
    "DEFAULT_LISTENERS",
    "SUBMISSION_LISTENERS",
    "Account",
    "Dovecot",
    "Listener",
    "Postfix",
    "missing_programs",
]

# Bounds for everything that waits: a start that takes longer is broken.
START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0

PROTOCOLS = ("imap", "pop3", "submission")
SOCKET_TYPES = ("SSL", "STARTTLS", "plain")
# The user Dovecot's mail processes run as; Debian's dovecot package creates it.
_MAIL_USER = "dovecot"
# Dovecot's built-in listeners (its compiled-in defaults), switched off so that only ours listen.
_BUILTIN_LISTENERS = {
    "imap": ("imap", "imaps"),
    "pop3": ("pop3", "pop3s"),
    "submission": ("submission", "submissions"),
}


@dataclass(frozen=True)
class Account:
    """One mailbox: ``login`` is the username the server accepts, e.g. "fred@example.org" or "fred"."""

    login: str
    password: str

    def __post_init__(self) -> None:
        # passwd-file fields are colon-separated, one account a line.
        for value in (self.login, self.password):
            if not value or any(c in value for c in ":\n\r\0"):
                raise ValueError("an account's login and password must be non-empty, without ':' or line breaks")

    def __repr__(self) -> str:  # never show the password in a test report
        return f"Account(login={self.login!r}, password=***)"


@dataclass(frozen=True)
class Listener:
    """One port: ``protocol`` "imap" | "pop3" | "submission"; ``socket_type`` "SSL" | "STARTTLS" | "plain".

    "SSL" is implicit TLS (RFC 8314). "STARTTLS" and "plain" are the same
    port without TLS at connect; the server offers STARTTLS there unless
    the instance was made with ``starttls=False``.
    """

    protocol: str
    port: int
    socket_type: str

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {PROTOCOLS}, not {self.protocol!r}")
        if self.socket_type not in SOCKET_TYPES:
            raise ValueError(f"socket_type must be one of {SOCKET_TYPES}, not {self.socket_type!r}")
        if not 0 < self.port < 65536:
            raise ValueError(f"port out of range: {self.port}")

    @property
    def implicit_tls(self) -> bool:
        return self.socket_type == "SSL"


DEFAULT_LISTENERS: tuple[Listener, ...] = (
    Listener("imap", 993, "SSL"),
    Listener("imap", 143, "STARTTLS"),
    Listener("pop3", 995, "SSL"),
    Listener("pop3", 110, "STARTTLS"),
    Listener("submission", 465, "SSL"),
    Listener("submission", 587, "STARTTLS"),
)
SUBMISSION_LISTENERS: tuple[Listener, ...] = tuple(x for x in DEFAULT_LISTENERS if x.protocol == "submission")


def missing_programs() -> list[str]:
    """What of Dovecot and Postfix is not installed (tests skip naming it; tests/run.sh installs them)."""
    missing = [program for program in ("dovecot", "postfix") if shutil.which(program) is None]
    for protocol in PROTOCOLS:
        if not Path(f"/usr/lib/dovecot/{protocol}-login").exists():
            missing.append(f"dovecot-{protocol}d")
    return missing


def greeting(address: str, listener: Listener, timeout: float = 2.0) -> bytes:
    """The server's first line on ``listener`` (after the TLS handshake on implicit-TLS ports).

    Only to tell that a login process answers: the certificate is not checked here.
    """
    with socket.create_connection((address, listener.port), timeout=timeout) as raw:
        if not listener.implicit_tls:
            return raw.recv(512)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        with context.wrap_socket(raw) as tls:
            return tls.recv(512)


def _wait_for_greetings(process: subprocess.Popen[bytes], server: Dovecot | Postfix, what: str) -> None:
    """Until every listener greets: a master accepts on its ports before its login processes run."""
    deadline = time.monotonic() + START_TIMEOUT
    for listener in server.listeners:
        while True:
            try:
                if greeting(server.address, listener).strip():
                    break
            except OSError:
                pass
            if process.poll() is not None:
                raise AssertionError(f"{what} exited with {process.returncode}:\n{log_tail(server.log)}")
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{what} did not greet on {listener} within {START_TIMEOUT}s:\n{log_tail(server.log)}"
                )
            time.sleep(0.1)


def split_pem(pem: bytes) -> tuple[bytes, bytes]:
    """(certificates, private key) of one PEM holding a chain and its key, in any order."""
    certificates = b""
    key = b""
    for match in re.finditer(rb"-----BEGIN ([A-Z ]+)-----.*?-----END \1-----\n?", pem, flags=re.DOTALL):
        block = match.group(0).rstrip(b"\n") + b"\n"
        if match.group(1).endswith(b"PRIVATE KEY"):
            key += block
        else:
            certificates += block
    if not certificates or not key:
        raise ValueError("a server PEM needs a certificate chain and its private key")
    return certificates, key


def _quote(value: str) -> str:
    """A Dovecot config value in double quotes (paths and names here have no quote or backslash)."""
    if any(c in value for c in '"\\\n'):
        raise ValueError(f"cannot quote {value!r} for dovecot.conf")
    return f'"{value}"'


class Dovecot:
    """One Dovecot master with its own config, listeners on ``address``, TLS from ``ca``.

    ``names`` are the host names clients connect with: the default
    certificate names them all. ``certificates`` maps a host name to a PEM
    (chain and key) that Dovecot presents instead when a client asks for
    that name (SNI, Dovecot's ``local_name``). ``auth_mechanisms`` are
    Dovecot's (``plain``, ``login``, ``cram-md5``, ...). ``starttls=False``
    runs the instance without TLS (``ssl = no``): no STARTTLS anywhere,
    which Dovecot can switch only per address, so it cannot be combined
    with implicit-TLS listeners; run a second instance on another address.

    Plain-text logins over a connection without TLS follow Dovecot's
    default (``disable_plaintext_auth = yes``): refused, with
    LOGINDISABLED, unless the client connects from the server's own
    address, which Dovecot counts as secure.

    The submission service hands mail on to ``relay`` (host, port), the
    Postfix's relay port when a :class:`Postfix` is made with this Dovecot;
    without one nothing listens there, and a client that logged in and
    then sends a message gets a temporary error.
    """

    def __init__(
        self,
        workdir: Path,
        ca: CA,
        *,
        names: Sequence[str],
        accounts: Sequence[Account],
        address: str = "127.0.0.1",
        listeners: Sequence[Listener] = DEFAULT_LISTENERS,
        certificates: Mapping[str, bytes] | None = None,
        auth_mechanisms: Sequence[str] = ("plain", "login"),
        starttls: bool = True,
    ) -> None:
        if not names:
            raise ValueError("Dovecot needs at least one host name for its certificate")
        if not accounts:
            raise ValueError("Dovecot needs at least one account")
        if not listeners:
            raise ValueError("Dovecot needs at least one listener")
        ports = [x.port for x in listeners]
        if len(set(ports)) != len(ports):
            raise ValueError(f"two listeners on one port: {sorted(ports)}")
        if not starttls and any(x.implicit_tls for x in listeners):
            raise ValueError(
                "starttls=False turns TLS off for the whole address (Dovecot's ssl setting is per address, "
                "not per port): give this instance no SSL listener, and run those on another address"
            )
        self.workdir = workdir
        self.ca = ca
        self.names = tuple(names)
        self.accounts = tuple(accounts)
        self.address = address
        self.listeners = tuple(listeners)
        self.certificates = dict(certificates or {})
        self.auth_mechanisms = tuple(auth_mechanisms)
        self.starttls = starttls
        self.conf = workdir / "dovecot.conf"
        self.log = workdir / "dovecot.log"
        self.passwd = workdir / "passwd"
        self.certs = workdir / "certs"
        # Postfix asks this port for SASL (smtpd_sasl_path = inet:...); see Postfix.
        self.auth_port = free_port(address)
        self.relay: tuple[str, int] = (address, free_port(address))
        self.process: subprocess.Popen[bytes] | None = None

    def listener(self, protocol: str, socket_type: str) -> Listener:
        """The first listener of ``protocol`` with ``socket_type`` (KeyError if none)."""
        for candidate in self.listeners:
            if (candidate.protocol, candidate.socket_type) == (protocol, socket_type):
                return candidate
        raise KeyError(f"no {protocol} {socket_type} listener")

    def log_text(self) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def log_position(self) -> int:
        """Where the log ends now; pass to :meth:`log_since`."""
        try:
            return self.log.stat().st_size
        except FileNotFoundError:
            return 0

    def log_since(self, position: int, expected: str = "", timeout: float = 5.0) -> str:
        """The log written after ``position``, once it contains ``expected`` or after ``timeout``.

        Dovecot's processes log through the master, a moment after the client got its answer.
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                with open(self.log, "rb") as log:
                    log.seek(position)
                    text = log.read().decode("utf-8", errors="replace")
            except FileNotFoundError:
                text = ""
            if expected in text or time.monotonic() > deadline:
                return text
            time.sleep(0.05)

    # -- config ----------------------------------------------------------------

    def _write_certificate(self, stem: str, pem: bytes) -> tuple[Path, Path]:
        chain, key = split_pem(pem)
        cert_path, key_path = self.certs / f"{stem}.crt", self.certs / f"{stem}.key"
        cert_path.write_bytes(chain)
        key_path.write_bytes(key)
        key_path.chmod(0o600)
        return cert_path, key_path

    def config_text(self, default: tuple[Path, Path], by_name: Mapping[str, tuple[Path, Path]]) -> str:
        """The whole dovecot.conf; nothing of /etc/dovecot is included."""
        d = self.workdir
        protocols = [p for p in PROTOCOLS if any(x.protocol == p for x in self.listeners)]
        lines = [
            "# Generated by tests/support/mailservers.py for one test run.",
            f"base_dir = {d}/run",
            f"state_dir = {d}/state",
            f"instance_name = mailautoconf-{self.address}",
            f"protocols = {' '.join(protocols)}",
            f"listen = {self.address}",
            f"hostname = {self.names[0]}",
            f"log_path = {self.log}",
            f"info_log_path = {self.log}",
            # Failed logins are logged (their username, never the password: auth_verbose_passwords stays no).
            "auth_verbose = yes",
            # Dovecot waits 2 s before it answers a failed login, and anvil's auth penalty adds
            # up to 15 s per failure from one IP address (all of ours are 127.0.0.1): both off,
            # the answers are the same, sooner. The penalty is off when the auth process cannot
            # reach anvil's socket (src/auth/auth-penalty.c), so that socket gets another name.
            "auth_failure_delay = 0",
            "service anvil {\n  unix_listener anvil-auth-penalty {\n    path = anvil-auth-penalty-off\n  }\n}",
            # Root runs the services that read the work folder (it lives in root's private temp
            # folder); the login processes refuse root and keep Dovecot's dovenull, chrooted.
            "default_internal_user = root",
            "first_valid_uid = 0",
            f"auth_mechanisms = {' '.join(self.auth_mechanisms)}",
            # Any character in a username: a hoster's login database keeps an IDN domain as the
            # admin wrote it (U-labels), which is what a config's {domain} login names; Dovecot's
            # default list is ASCII only ("Username character disallowed").
            "auth_username_chars =",
            f"passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {self.passwd}\n}}",
            # Dovecot runs no mail process as root (uid 0 is refused): each user's process runs as
            # the dovecot user, chrooted (as root, before it drops privileges) into its own folder
            # below the work folder, whose parents that user could not enter.
            f"valid_chroot_dirs = {d}/home",
            f"userdb {{\n  driver = static\n  args = uid={_MAIL_USER} gid={_MAIL_USER} home=/ chroot={d}/home/%u\n}}",
            "mail_location = maildir:/Maildir",
            "namespace inbox {\n  inbox = yes\n}",
            f"submission_relay_host = {self.relay[0]}",
            f"submission_relay_port = {self.relay[1]}",
            "submission_relay_ssl = no",
        ]
        if self.starttls:
            lines += [
                "ssl = yes",
                "ssl_min_protocol = TLSv1.2",
                f"ssl_cert = <{default[0]}",
                f"ssl_key = <{default[1]}",
            ]
            for name, (cert, key) in by_name.items():
                lines.append(f"local_name {_quote(name)} {{\n  ssl_cert = <{cert}\n  ssl_key = <{key}\n}}")
        else:
            lines.append("ssl = no")
        for protocol in protocols:
            body = [f"  inet_listener {name} {{\n    port = 0\n  }}" for name in _BUILTIN_LISTENERS[protocol]]
            for listener in self.listeners:
                if listener.protocol != protocol:
                    continue
                body.append(
                    f"  inet_listener {protocol}_{listener.port} {{\n"
                    f"    address = {self.address}\n"
                    f"    port = {listener.port}\n"
                    f"    ssl = {'yes' if listener.implicit_tls else 'no'}\n"
                    "  }"
                )
            lines.append(f"service {protocol}-login {{\n" + "\n".join(body) + "\n}")
        # Postfix's smtpd asks this socket whether a SASL login is right (smtpd_sasl_type = dovecot).
        lines.append(
            "service auth {\n"
            f"  inet_listener auth_postfix {{\n    address = {self.address}\n    port = {self.auth_port}\n  }}\n"
            "}"
        )
        return "\n".join(lines) + "\n"

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> Dovecot:
        for folder in ("run", "state", "home", "certs"):
            (self.workdir / folder).mkdir(parents=True, exist_ok=True)
        self.passwd.write_text(
            "".join(f"{a.login}:{{PLAIN}}{a.password}::::::\n" for a in self.accounts), encoding="utf-8"
        )
        self.passwd.chmod(0o600)
        owner = pwd.getpwnam(_MAIL_USER)
        for account in self.accounts:
            home = self.workdir / "home" / account.login
            home.mkdir(exist_ok=True)
            os.chown(home, owner.pw_uid, owner.pw_gid)
        default = self._write_certificate("default", b"".join(self.ca.issue(list(self.names))))
        by_name = {
            name: self._write_certificate(f"sni-{index}", pem)
            for index, (name, pem) in enumerate(sorted(self.certificates.items()))
        }
        self.conf.write_text(self.config_text(default, by_name), encoding="utf-8")
        check = subprocess.run(
            ["doveconf", "-c", str(self.conf), "-n"], capture_output=True, text=True, timeout=STOP_TIMEOUT
        )
        if check.returncode != 0:
            raise AssertionError(f"doveconf refused {self.conf}:\n{check.stderr}")
        with open(self.workdir / "dovecot.out", "wb") as out:
            self.process = subprocess.Popen(["dovecot", "-F", "-c", str(self.conf)], stdout=out, stderr=out)
        try:
            ports = [x.port for x in self.listeners] + [self.auth_port]
            wait_for_ports(self.process, ports, "dovecot", self.log, self.address)
            _wait_for_greetings(self.process, self, "dovecot")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        # SIGTERM: the master ends its services and removes its sockets.
        stop_process(self.process)
        self.process = None

    def __enter__(self) -> Dovecot:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Postfix:
    """Postfix's SMTP submission on ``address``, AUTH through ``dovecot``'s auth service.

    ``listeners`` are submission listeners ("SSL": ``smtpd_tls_wrappermode``,
    RFC 8314; "STARTTLS": TLS offered, and required before AUTH; "plain":
    neither TLS nor, then, AUTH). ``tls=False`` offers no STARTTLS on
    any of them (implicit-TLS listeners are then refused, as for Dovecot).
    The certificate names ``names``; ``certificates`` replaces it for
    the whole instance (Postfix chooses no certificate by SNI without a
    lookup table: run one instance per certificate).

    It also listens on ``dovecot.relay`` without TLS or AUTH, for mail
    from that address only: Dovecot's submission service hands on what
    its logged-in clients send. Postfix discards all mail it accepts.
    """

    def __init__(
        self,
        workdir: Path,
        ca: CA,
        *,
        names: Sequence[str],
        dovecot: Dovecot,
        address: str = "127.0.0.1",
        listeners: Sequence[Listener] = SUBMISSION_LISTENERS,
        tls: bool = True,
        certificate: bytes | None = None,
        auth_mechanisms: Sequence[str] | None = None,
    ) -> None:
        if not names:
            raise ValueError("Postfix needs at least one host name for its certificate")
        if any(x.protocol != "submission" for x in listeners):
            raise ValueError("Postfix serves submission listeners only")
        if not tls and any(x.implicit_tls for x in listeners):
            raise ValueError("tls=False and an implicit-TLS listener contradict each other")
        self.workdir = workdir
        self.ca = ca
        self.names = tuple(names)
        self.dovecot = dovecot
        self.address = address
        self.listeners = tuple(listeners)
        self.tls = tls
        self.certificate = certificate
        # Postfix offers what the Dovecot auth service offers unless told otherwise (smtpd_sasl_mechanism_filter).
        self.auth_mechanisms = None if auth_mechanisms is None else tuple(auth_mechanisms)
        self.config_directory = workdir / "etc"
        self.queue_directory = workdir / "queue"
        # Postfix's master opens its lock in data_directory as the mail_owner, by absolute
        # path: a folder the postfix user can reach, outside root's private temp folder;
        # made by start(), removed by stop().
        self.data_directory: Path | None = None
        self.log = workdir / "postfix.log"
        self.process: subprocess.Popen[bytes] | None = None

    def log_text(self) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def main_cf(self, cert: Path, key: Path) -> str:
        relay_address = self.dovecot.relay[0]
        lines = [
            "# Generated by tests/support/mailservers.py for one test run.",
            "compatibility_level = 3.6",
            f"queue_directory = {self.queue_directory}",
            f"data_directory = {self.data_directory}",
            "mail_owner = postfix",
            "setgid_group = postdrop",
            f"myhostname = {self.names[0]}",
            "mydomain = test",
            "mydestination =",
            "inet_protocols = ipv4",
            # Postfix refuses an inet_interfaces address that no interface has (lo holds 127.0.0.1/8
            # only); master.cf binds each service to its address:port itself.
            "inet_interfaces = all",
            f"mynetworks = {relay_address}/32",
            # Nothing leaves the test world: every accepted message is dropped.
            "default_transport = discard:test world",
            "local_transport = discard:test world",
            "relay_transport = discard:test world",
            "virtual_transport = discard:test world",
            "smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject",
            "maillog_file = /dev/stdout",  # postlogd writes it; start-fg's stdout is self.log
            "biff = no",
            "alias_maps =",  # Debian's default names NIS, which warns on every smtpd start
            "alias_database =",
            "smtputf8_enable = yes",
            "smtpd_sasl_type = dovecot",
            f"smtpd_sasl_path = inet:{self.dovecot.address}:{self.dovecot.auth_port}",
            "smtpd_sasl_auth_enable = no",  # per listener in master.cf
            "smtpd_tls_security_level = none",
        ]
        if self.tls:
            lines += [f"smtpd_tls_chain_files = {key}, {cert}", "smtpd_tls_mandatory_protocols = >=TLSv1.2"]
        if self.auth_mechanisms is not None:
            lines.append(f"smtpd_sasl_mechanism_filter = {', '.join(self.auth_mechanisms)}")
        return "\n".join(lines) + "\n"

    def master_cf(self) -> str:
        """Postfix's services, chroot off (column 5 "n"): submission listeners, relay port, helpers."""
        lines = ["# Generated by tests/support/mailservers.py for one test run."]
        for listener in self.listeners:
            options = [f"-o syslog_name=postfix/submission-{listener.port}", "-o smtpd_sasl_auth_enable=yes"]
            if listener.implicit_tls:
                options += ["-o smtpd_tls_wrappermode=yes", "-o smtpd_tls_security_level=encrypt"]
            elif listener.socket_type == "STARTTLS" and self.tls:
                # RFC 3207 with AUTH only after TLS (smtpd_tls_auth_only), as a real submission port is set up.
                options += ["-o smtpd_tls_security_level=encrypt", "-o smtpd_tls_auth_only=yes"]
            else:
                options += ["-o smtpd_tls_security_level=none"]
            lines.append(f"{self.address}:{listener.port} inet n - n - - smtpd " + " ".join(options))
        relay_host, relay_port = self.dovecot.relay
        lines.append(
            f"{relay_host}:{relay_port} inet n - n - - smtpd -o syslog_name=postfix/relay "
            "-o smtpd_tls_security_level=none -o smtpd_sasl_auth_enable=no"
        )
        services = [
            ("pickup", "unix", "n", "60", "1", "pickup"),
            ("cleanup", "unix", "n", "-", "0", "cleanup"),
            ("qmgr", "unix", "n", "300", "1", "qmgr"),
            ("tlsmgr", "unix", "-", "1000?", "1", "tlsmgr"),
            ("rewrite", "unix", "-", "-", "-", "trivial-rewrite"),
            ("bounce", "unix", "-", "-", "0", "bounce"),
            ("defer", "unix", "-", "-", "0", "bounce"),
            ("trace", "unix", "-", "-", "0", "bounce"),
            ("verify", "unix", "-", "-", "1", "verify"),
            ("flush", "unix", "n", "1000?", "0", "flush"),
            ("proxymap", "unix", "-", "-", "-", "proxymap"),
            ("error", "unix", "-", "-", "-", "error"),
            ("retry", "unix", "-", "-", "-", "error"),
            ("discard", "unix", "-", "-", "-", "discard"),
            ("anvil", "unix", "-", "-", "1", "anvil"),
            ("scache", "unix", "-", "-", "1", "scache"),
        ]
        for name, kind, private, wakeup, limit, command in services:
            lines.append(f"{name} {kind} {private} - n {wakeup} {limit} {command}")
        lines.append("postlog unix-dgram n - n - 1 postlogd")
        return "\n".join(lines) + "\n"

    def start(self) -> Postfix:
        for folder in (self.config_directory, self.queue_directory):
            folder.mkdir(parents=True, exist_ok=True)
        owner = pwd.getpwnam("postfix")
        self.data_directory = Path(tempfile.mkdtemp(prefix="mailautoconf-postfix-"))
        os.chown(self.data_directory, owner.pw_uid, owner.pw_gid)
        pem = self.certificate if self.certificate is not None else b"".join(self.ca.issue(list(self.names)))
        chain, key = split_pem(pem)
        cert_path, key_path = self.config_directory / "cert.pem", self.config_directory / "key.pem"
        cert_path.write_bytes(chain)
        key_path.write_bytes(key)
        key_path.chmod(0o600)
        (self.config_directory / "main.cf").write_text(self.main_cf(cert_path, key_path), encoding="utf-8")
        (self.config_directory / "master.cf").write_text(self.master_cf(), encoding="utf-8")
        # The queue folder must belong to root with folders of the mail_owner inside; postfix makes those.
        os.chmod(self.queue_directory, 0o755)
        command = ["postfix", "-c", str(self.config_directory)]
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen([*command, "start-fg"], stdout=out, stderr=out)
        try:
            ports = [x.port for x in self.listeners] + [self.dovecot.relay[1]]
            wait_for_ports(self.process, ports[:-1], "postfix", self.log, self.address)
            wait_for_ports(self.process, ports[-1:], "postfix", self.log, self.dovecot.relay[0])
            _wait_for_greetings(self.process, self, "postfix")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        # `postfix stop` tells the master (start-fg's process) to end its children and exit.
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            if self.process is not None and self.process.poll() is None:
                subprocess.run(
                    ["postfix", "-c", str(self.config_directory), "stop"], capture_output=True, timeout=STOP_TIMEOUT
                )
        stop_process(self.process)
        self.process = None
        if self.data_directory is not None:
            shutil.rmtree(self.data_directory, ignore_errors=True)
            self.data_directory = None

    def __enter__(self) -> Postfix:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def running(*servers: Dovecot | Postfix) -> Iterator[None]:
    """Start ``servers`` in order; stop them in reverse, also when a later start fails."""
    with contextlib.ExitStack() as stack:
        for server in servers:
            stack.callback(server.stop)
            server.start()
        yield
