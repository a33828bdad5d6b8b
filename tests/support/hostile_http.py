"""A hostile HTTP server on loopback for the probe's tests: it answers by Host name with what no client should get.

- ``huge``: 200 text/xml, 20 MiB, sent as fast as the reader takes it;
- ``bomb``: a well-formed "billion laughs" document;
- ``markup``: a config whose fields hold XML-escaped markup and rich's own
  ``[bold red]`` markup, and a Content-Type with a terminal escape;
- ``slow``: a status line, then a byte every half second;
- ``loop``: a redirect to itself.
- ``split``: a valid document whose IMAP host depends on whether the
  address was sent (``imap.with-address.example`` or
  ``imap.without-address.example``): clients end up on different servers.

Every request's header names are kept in ``headers_seen``.
"""

from __future__ import annotations

import contextlib
import http.server
import threading
import time
from types import TracebackType

__all__ = ["HostileServer"]

BOMB = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + b"".join(
        f' <!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n'.encode() for i in range(1, 10)
    )
    + b']>\n<clientConfig><emailProvider id="&lol9;"/></clientConfig>\n'
)
MARKUP = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<clientConfig version="1.1">\n'
    b'<emailProvider id="[bold red]x[/bold red]&lt;b&gt;"><domain>markup.example</domain>\n'
    b'<incomingServer type="imap"><hostname>&lt;script&gt;</hostname><port>993</port>'
    b"<socketType>SSL</socketType><authentication>password-cleartext</authentication>"
    b"<username>%EMAILADDRESS%</username></incomingServer>\n"
    b"</emailProvider></clientConfig>\n"
)

SPLIT = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<clientConfig version="1.1">\n'
    b'<emailProvider id="split.example"><domain>split.example</domain>\n'
    b'<incomingServer type="imap"><hostname>IMAP_HOST</hostname><port>993</port>'
    b"<socketType>SSL</socketType><authentication>password-cleartext</authentication>"
    b"<username>%EMAILADDRESS%</username></incomingServer>\n"
    b'<outgoingServer type="smtp"><hostname>smtp.split.example</hostname><port>465</port>'
    b"<socketType>SSL</socketType><authentication>password-cleartext</authentication>"
    b"<username>%EMAILADDRESS%</username></outgoingServer>\n"
    b"</emailProvider></clientConfig>\n"
)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.server.headers_seen.extend(self.headers.keys())
        host = (self.headers.get("Host") or "").split(":")[0]
        kind = host.removeprefix("autoconfig.").split(".")[0]
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the probe stopped reading, as it should
            getattr(self, f"_{kind}", self._missing)()

    def _send(self, body: bytes, content_type: str = "text/xml") -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _missing(self) -> None:
        self.send_error(404)

    def _huge(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(20 * 1024 * 1024))
        self.end_headers()
        chunk = b"<a>" + b"x" * 65530 + b"</a>"[:3]
        for _ in range(320):
            self.wfile.write(chunk[:65536])

    def _bomb(self) -> None:
        self._send(BOMB)

    def _markup(self) -> None:
        self._send(MARKUP, "text/xml; charset=utf-8; x=\x1b[31mred")

    def _slow(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", "1000")
        self.end_headers()
        for _ in range(60):
            self.wfile.write(b"<")
            self.wfile.flush()
            time.sleep(0.5)

    def _loop(self) -> None:
        self.send_response(302)
        self.send_header("Location", self.path)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _split(self) -> None:
        host = "imap.with-address.example" if "emailaddress=" in self.path else "imap.without-address.example"
        self._send(SPLIT.replace(b"IMAP_HOST", host.encode()))

    do_POST = do_GET
    do_PROPFIND = do_GET


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    headers_seen: list[str]


class HostileServer:
    """The server on 127.0.0.1:``port`` while in the ``with`` block."""

    def __init__(self, port: int) -> None:
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.headers_seen = []
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def headers_seen(self) -> list[str]:
        return self._server.headers_seen

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
