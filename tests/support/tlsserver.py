"""A real TLS web server on loopback that presents a chosen certificate chain per host name (SNI).

The probe's TLS tests need servers whose certificates are odd in one way
each (an expired intermediate, a name in the Common Name only, a malformed
extension): nginx would refuse to load some of them and needs a site per
case, so this is OpenSSL through Python's ``ssl`` module, one context per
name, chosen in the SNI callback before the certificate is sent. Every
connection is verified afresh by the client (no session cache is shared
across names). Answers come from ``answer(host, path, user_agent)``.
"""

from __future__ import annotations

import contextlib
import http.server
import socket
import ssl
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

__all__ = ["Answer", "TlsServer"]

Answer = Callable[[str, str, str], tuple[int, str, bytes]]  # (host, path, User-Agent) -> (status, type, body)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.server.seen.append((self.headers.get("Host") or "", self.command, self.path))
        host = (self.headers.get("Host") or "").split(":")[0].lower()
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        status, content_type, body = self.server.answer(host, self.path.split("?")[0], self.headers["User-Agent"] or "")
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client stopped reading
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)

    do_POST = do_GET
    do_PROPFIND = do_GET


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    answer: Answer
    contexts: dict[str, ssl.SSLContext]
    seen: list[tuple[str, str, str]]

    def finish_request(self, request: socket.socket | tuple[bytes, socket.socket], client_address: object) -> None:
        """The TLS handshake in the request's own thread; a client that refuses the certificate just leaves."""
        assert isinstance(request, socket.socket)
        default = next(iter(self.contexts.values()))
        request.settimeout(10)
        try:
            tls = default.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        with tls:
            super().finish_request(tls, client_address)


class TlsServer:
    """HTTPS on 127.0.0.1:``port`` while in the ``with`` block, one certificate chain per host name."""

    def __init__(self, port: int, answer: Answer) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="mailautoconf-tls-")
        self._server = _Server(("127.0.0.1", port), _Handler, bind_and_activate=True)
        self._server.answer = answer
        self._server.contexts = {}
        self._server.seen = []
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def seen(self) -> list[tuple[str, str, str]]:
        """(Host, method, path) of every request that got past the handshake."""
        return self._server.seen

    def add(self, host: str, chain_pem: bytes, key_pem: bytes) -> None:
        """Present ``chain_pem`` (leaf first) to clients that ask for ``host``; the first one added is the default."""
        path = Path(self._folder.name) / f"{host}.pem"
        path.write_bytes(chain_pem + key_pem)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(path)
        contexts = self._server.contexts
        if not contexts:
            context.sni_callback = self._choose
        contexts[host.lower()] = context

    def _choose(self, sock: ssl.SSLObject | ssl.SSLSocket, name: str | None, _: ssl.SSLContext) -> None:
        chosen = self._server.contexts.get((name or "").lower())
        if chosen is not None:
            sock.context = chosen

    def __enter__(self) -> TlsServer:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._folder.cleanup()
