"""Logging to stderr, in a form journald reads well, off the request threads.

Every request logs a line. Written directly, the handler's lock and the
write(2) per line serialise waitress's worker threads (py-spy showed 15% of
request time there), and building a LogRecord per request costs more than
the rest of an autoconfig answer. So request threads only put a record, or
for access lines a bare tuple, on a queue; one writer thread formats them
and writes whatever has queued up in one write. This is the logging
cookbook's "Dealing with handlers that block", with the writes batched.
"""

from __future__ import annotations

import atexit
import logging
import logging.handlers
import os
import queue
import sys
import threading
import time
from typing import ClassVar
from typing import TextIO

__all__ = ["access", "setup_logging"]

_BATCH = 1024  # records per write at most
_GATHER_SECONDS = 0.05  # a log line reaches stderr at most this much later
_writer: _Writer | None = None
ACCESS_LOGGER = "mailautoconf.access"
_access = logging.getLogger(ACCESS_LOGGER)
# One access line: created (time.time()), then the values for _ACCESS_FORMAT.
AccessLine = tuple[float, str, str, str, str, str, float, str]
_ACCESS_FORMAT = '%s "%s %s" %s %s %.1fms %s'


class _Formatter(logging.Formatter):
    """The standard format, with the time text computed once per second."""

    def __init__(self, fmt: str) -> None:
        super().__init__(fmt)
        self._second = -1
        self._second_text = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return self.time_text(record.created)

    def time_text(self, created: float) -> str:
        second = int(created)
        if second != self._second:
            self._second_text = time.strftime("%Y-%m-%d %H:%M:%S", self.converter(created))
            self._second = second
        return f"{self._second_text},{int((created - second) * 1000):03d}"


class _JournalFormatter(logging.Formatter):
    """Prefix each line with its syslog priority ("<3>"); journald adds the time."""

    _PRIORITY: ClassVar[dict[int, int]] = {
        logging.DEBUG: 7,
        logging.INFO: 6,
        logging.WARNING: 4,
        logging.ERROR: 3,
        logging.CRITICAL: 2,
    }

    def format(self, record: logging.LogRecord) -> str:
        priority = self._PRIORITY.get(record.levelno, 6)
        text = super().format(record)
        return "\n".join(f"<{priority}>{line}" for line in text.splitlines())


class _Enqueue(logging.handlers.QueueHandler):
    """Hand the record over as it is; the writer thread formats it.

    The stock ``prepare`` formats and copies every record in the calling
    thread, which is the work this handler exists to move.
    """

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        return record


class _Writer(threading.Thread):
    """Formats queued records and writes each batch with one write and flush."""

    def __init__(self, records: queue.SimpleQueue[logging.LogRecord | AccessLine | None], formatter: logging.Formatter,
                 stream: TextIO) -> None:  # fmt: skip
        super().__init__(name="log-writer", daemon=True)
        self.records = records
        self.formatter = formatter
        self.stream = stream

    def run(self) -> None:
        while True:
            batch = [self.records.get()]
            # Let lines gather: waking this thread for every request costs the
            # request threads more (GIL hand-offs) than formatting does.
            time.sleep(_GATHER_SECONDS)
            while len(batch) < _BATCH:
                try:
                    batch.append(self.records.get_nowait())
                except queue.Empty:
                    break
            lines = []
            for record in batch:
                if record is None:
                    continue
                try:
                    if isinstance(record, tuple):
                        lines.append(self._access_text(record))
                    else:
                        lines.append(self.formatter.format(record))
                except Exception as exc:  # a bad record must not stop all logging
                    what = record[3] if isinstance(record, tuple) else record.msg
                    lines.append(f"logging error: {exc!r} formatting {what!r}")
            if lines:
                try:
                    self.stream.write("\n".join(lines) + "\n")
                    self.stream.flush()
                except (OSError, ValueError):
                    pass  # stderr is gone (closed pipe); nothing left to tell
            if None in batch:
                return

    def _access_text(self, line: AccessLine) -> str:
        """Format an access line as the formatter would, without a LogRecord per request."""
        message = _ACCESS_FORMAT % line[1:]
        if isinstance(self.formatter, _Formatter):
            return f"{self.formatter.time_text(line[0])} INFO {ACCESS_LOGGER}: {message}"
        record = logging.LogRecord(ACCESS_LOGGER, logging.INFO, "", 0, message, None, None)
        record.created = line[0]
        return self.formatter.format(record)

    def stop(self) -> None:
        """Write what is queued, then end."""
        self.records.put(None)
        self.join(timeout=5)


def access(line: AccessLine) -> None:
    """Log one request (see web.py); a tuple on the queue costs the request thread least.

    Without setup_logging (a WSGI server with its own logging), it goes
    through the ordinary ``mailautoconf.access`` logger.
    """
    writer = _writer
    if not _access.isEnabledFor(logging.INFO):
        return
    if writer is not None:
        writer.records.put(line)
    else:
        _access.info(_ACCESS_FORMAT, *line[1:])


def setup_logging(level: int = logging.INFO) -> None:
    """Log to stderr through a writer thread; under systemd, with priority prefixes."""
    global _writer
    if _writer is not None:
        _writer.stop()
    if os.environ.get("JOURNAL_STREAM"):
        formatter: logging.Formatter = _JournalFormatter("%(name)s: %(message)s")
    else:
        formatter = _Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    records: queue.SimpleQueue[logging.LogRecord | AccessLine | None] = queue.SimpleQueue()
    _writer = _Writer(records, formatter, sys.stderr)
    _writer.start()
    atexit.register(_writer.stop)
    root = logging.getLogger()
    root.handlers[:] = [_Enqueue(records)]
    root.setLevel(level)
    # Skip what the format never prints: the caller's file and line (a stack
    # walk per record), thread and process names (logging HOWTO, "Optimization").
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
