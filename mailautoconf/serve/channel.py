"""The service's waitress channel: a deadline per request, and a main loop that stays out of a task's way.

Two things stock waitress does that mail clients pay for, fixed in one
HTTPChannel subclass that serve installs (and bench/baseline_app.py too,
so the throughput bench compares like for like).

**A deadline for receiving one whole request**, which waitress does not have.
waitress buffers a request (line, headers and body, up to inbuf_overflow in
memory) before it hands it to a worker thread, so a slow client never holds
a worker. But its only timer, channel_timeout, measures inactivity, and every
byte received resets it: a client that sends one byte a second keeps its
connection, and its place under connection_limit, for as long as it likes
(12 days for a 1 MiB body). A few hundred such clients lock everyone out.
Mail clients send their small request at once, so a request that has not
arrived completely within REQUEST_SECONDS is cut off.

**No busy loop while a task writes its answer.** A worker thread sends
what the app writes itself (``write_soon`` flushes at once), holding the
channel's output lock. Meanwhile stock ``writable()`` says yes, because the
output buffer is not empty, so the event loop finds the socket writable,
fails to take the lock, and polls again at once, holding the GIL all the
while: the worker that returned from send() waits for the GIL, up to the
interpreter's 5 ms switch interval per write. Under load every worker
waited in send() (py-spy), and the service answered 250 to 700 requests a
second where the same app with this fixed answers 1,500 (bench/throughput.py).
While a task runs, the loop now leaves its output to it; once the task ends,
waitress wakes the loop (``pull_trigger``) and it sends whatever is left.
It still flushes for a task that waits for it (output past the high
watermark) and for a channel that is to be closed.
"""

from __future__ import annotations

import time
from typing import Any

from waitress.channel import HTTPChannel

__all__ = ["REQUEST_SECONDS", "ServiceChannel", "install"]

# From the first byte of a request to its last. Thunderbird and Outlook give
# up on an autoconfig URL after a few seconds themselves; 10 s is generous
# for a request of at most a few KiB even on a bad mobile link.
REQUEST_SECONDS = 10.0


class ServiceChannel(HTTPChannel):
    """waitress's channel: cut off when a request takes over REQUEST_SECONDS to arrive; quiet while a task writes."""

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

    def writable(self) -> bool:
        if (
            self.requests
            and not (self.will_close or self.close_when_flushed)
            and self.total_outbufs_len < self.adj.outbuf_high_watermark
        ):
            return False  # the running task flushes what it writes; the loop takes over when it ends
        return bool(super().writable())


def install(server: Any) -> None:
    """Make every listening server in ``server`` (one, or waitress's MultiSocketServer) use ServiceChannel."""
    listeners = [server] if hasattr(server, "channel_class") else list(server.map.values())
    for listener in listeners:
        if hasattr(listener, "channel_class"):
            listener.channel_class = ServiceChannel
