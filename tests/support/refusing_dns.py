"""A DNS server on 127.0.0.1 that refuses every query at once (RCODE REFUSED).

The probe tests that give names by ``--resolve`` still have the probe look
up MX, SRV and TXT records. Sent to a port where nothing listens, each
look-up waited for dnspython's timeout, seconds a probe; a server that
says no at once gives the same verdicts (nothing found) without the wait.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import dns.flags
import dns.message
import dns.rcode

__all__ = ["refusing_dns"]


@contextmanager
def refusing_dns() -> Iterator[str]:
    """A refusing server on a free UDP port of 127.0.0.1; yields its ``IP:PORT`` for ``--resolver``."""
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    server.settimeout(0.2)
    stopping = threading.Event()

    def answer() -> None:
        while not stopping.is_set():
            try:
                data, peer = server.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                query = dns.message.from_wire(data)
            except Exception:  # not DNS: nothing to answer
                continue
            reply = dns.message.make_response(query)
            reply.set_rcode(dns.rcode.REFUSED)
            reply.flags &= ~dns.flags.AA
            server.sendto(reply.to_wire(), peer)

    thread = threading.Thread(target=answer, name="refusing-dns", daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.getsockname()[1]}"
    finally:
        stopping.set()
        thread.join(timeout=2)
        server.close()
