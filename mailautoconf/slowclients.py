"""A deadline for receiving one whole request, which waitress does not have.

waitress buffers a request (line, headers and body, up to inbuf_overflow in
memory) before it hands it to a worker thread, so a slow client never holds
a worker. But its only timer, channel_timeout, measures inactivity, and every
byte received resets it: a client that sends one byte a second keeps its
connection, and its place under connection_limit, for as long as it likes
(12 days for a 1 MiB body). A few hundred such clients lock everyone out.
Mail clients send their small request at once, so a request that has not
arrived completely within REQUEST_SECONDS is cut off.
"""

from __future__ import annotations

import time
from typing import Any

from waitress.channel import HTTPChannel

__all__ = ["REQUEST_SECONDS", "DeadlineChannel", "install"]

# From the first byte of a request to its last. Thunderbird and Outlook give
# up on an autoconfig URL after a few seconds themselves; 10 s is generous
# for a request of at most a few KiB even on a bad mobile link.
REQUEST_SECONDS = 10.0


class DeadlineChannel(HTTPChannel):
    """waitress's channel, closed when a request takes longer than REQUEST_SECONDS to arrive."""

    request_started: float | None = None

    def received(self, data: bytes) -> bool:
        if self.request is None:
            self.request_started = time.monotonic()  # these bytes begin a request
        result: bool = super().received(data)
        if self.request is None:
            self.request_started = None  # complete (handed to a worker) or nothing begun
        return result

    def readable(self) -> bool:
        # The event loop asks every channel this at least once a second
        # (asyncore_loop_timeout), on its own thread: the place to check a
        # deadline without a timer per connection.
        started = self.request_started
        if started is not None and time.monotonic() - started > REQUEST_SECONDS:
            self.request_started = None
            self.will_close = True  # writable() turns true; handle_write closes the socket
            return False
        return bool(super().readable())


def install(server: Any) -> None:
    """Make every listening server in ``server`` (one, or waitress's MultiSocketServer) use DeadlineChannel."""
    listeners = [server] if hasattr(server, "channel_class") else list(server.map.values())
    for listener in listeners:
        if hasattr(listener, "channel_class"):
            listener.channel_class = DeadlineChannel
