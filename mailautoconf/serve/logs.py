"""Logging to stderr, in a form journald reads well, off the request threads.

Every request logs a line. Written directly, the handler's lock and the
write(2) per line serialise waitress's worker threads (py-spy showed 15% of
request time there), and building a LogRecord per request costs more than
the rest of an autoconfig answer. So request threads only put a record, or
for access lines a bare tuple, on a queue; one writer thread formats them
and writes whatever has queued up in one write. This is the logging
cookbook's "Dealing with handlers that block", with the writes batched.

Every line written is one line: what a client can put in a message (a path,
an address, a forwarded address) cannot start a forged line or send terminal
escapes, because line breaks and control characters are written escaped.
And when stderr stalls, the queue stops growing: access lines are dropped
first, counted, and the count written once stderr moves again.
"""

from __future__ import annotations

import atexit
import logging
import logging.handlers
import os
import queue
import re
import sys
import threading
import time
from typing import Any
from typing import ClassVar
from typing import TextIO

__all__ = ["access", "setup_logging"]

_BATCH = 1024  # records per write at most
_GATHER_SECONDS = 0.05  # a log line reaches stderr at most this much later
# Bounds on the queue while stderr is stalled; an access line costs about 560
# bytes queued, so the access bound is about 6 MiB. Ordinary records have a
# reserve above it, so warnings still get through a flood of requests.
MAX_QUEUED_ACCESS = 10_000
MAX_QUEUED = 11_000
_writer: _Writer | None = None
ACCESS_LOGGER = "mailautoconf.access"
_access = logging.getLogger(ACCESS_LOGGER)
# One access line: created (time.time()), then the values for _ACCESS_FORMAT.
AccessLine = tuple[float, str, str, str, str, str, float, str]
_ACCESS_FORMAT = '%s "%s %s" %s %s %.1fms %s'


# What would end a line, or drive a terminal: every break str.splitlines()
# splits on (journald splits on them too), C0 and C1 controls, DEL.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_UNSAFE_BUT_NEWLINE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape(text: str) -> str:
    """``text`` as one line: line breaks and controls written as ``\\x1b``, ``\\u2028``."""
    if text.isprintable():  # the common case, checked in C
        return text
    return _UNSAFE.sub(_escape_char, text)


def _escape_block(text: str) -> str:
    """A traceback or stack: its own newlines kept, every line indented so none reads as a record."""
    return "\n".join("  " + line for line in _UNSAFE_BUT_NEWLINE.sub(_escape_char, text).split("\n"))


class _SafeFormatter(logging.Formatter):
    """Escapes the message; tracebacks keep their lines, indented, with everything else escaped."""

    def format(self, record: logging.LogRecord) -> str:
        # logging.Formatter.format, but the message escaped and the
        # traceback formatted here: record.exc_text may hold another
        # handler's unescaped text.
        record.message = escape(record.getMessage())
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        text = self.formatMessage(record)
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        elif record.exc_text:
            text += "\n" + _escape_block(record.exc_text)
        if record.stack_info:
            text += "\n" + self.formatStack(record.stack_info)
        return text

    def formatException(self, ei: Any) -> str:
        return _escape_block(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return _escape_block(super().formatStack(stack_info))


class _Formatter(_SafeFormatter):
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


class _JournalFormatter(_SafeFormatter):
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

    def __init__(self, writer: _Writer) -> None:
        super().__init__(writer.records)
        self.writer = writer

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        return record

    def enqueue(self, record: logging.LogRecord) -> None:
        if self.writer.records.qsize() >= MAX_QUEUED:
            self.writer.drop()
        else:
            self.writer.records.put(record)


class _Writer(threading.Thread):
    """Formats queued records and writes each batch with one write and flush."""

    def __init__(self, records: queue.SimpleQueue[logging.LogRecord | AccessLine | None], formatter: logging.Formatter,
                 stream: TextIO) -> None:  # fmt: skip
        super().__init__(name="log-writer", daemon=True)
        self.records = records
        self.formatter = formatter
        self.stream = stream
        self.dropped = 0
        self._dropped_lock = threading.Lock()

    def drop(self) -> None:
        """Count a line not queued; only taken when the queue is full, so the lock costs nothing usually."""
        with self._dropped_lock:
            self.dropped += 1

    def _take_dropped(self) -> int:
        with self._dropped_lock:
            dropped, self.dropped = self.dropped, 0
        return dropped

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
                    lines.append(escape(f"logging error: {exc!r} formatting {what!r}"))
            dropped = self._take_dropped()
            if dropped:
                lines.append(self._dropped_text(dropped))
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
        message = escape(_ACCESS_FORMAT % line[1:])
        if isinstance(self.formatter, _Formatter):
            return f"{self.formatter.time_text(line[0])} INFO {ACCESS_LOGGER}: {message}"
        record = logging.LogRecord(ACCESS_LOGGER, logging.INFO, "", 0, message, None, None)
        record.created = line[0]
        return self.formatter.format(record)

    def _dropped_text(self, dropped: int) -> str:
        record = logging.LogRecord(
            "mailautoconf.logs",
            logging.WARNING,
            "",
            0,
            "%d log lines dropped: stderr did not keep up",
            (dropped,),
            None,
        )
        record.created = time.time()
        return self.formatter.format(record)

    def stop(self) -> None:
        """Write what is queued, then end."""
        self.records.put(None)
        self.join(timeout=5)


def access(line: AccessLine) -> None:
    """Log one request (see documents.note); a tuple on the queue costs the request thread least.

    Without setup_logging (a WSGI server with its own logging), it goes
    through the ordinary ``mailautoconf.access`` logger.
    """
    writer = _writer
    if not _access.isEnabledFor(logging.INFO):
        return
    if writer is not None:
        if writer.records.qsize() >= MAX_QUEUED_ACCESS:
            writer.drop()  # never wait: the request is worth more than its log line
        else:
            writer.records.put(line)
    else:
        _access.info(_ACCESS_FORMAT, *line[1:])


def setup_logging(level: int = logging.INFO, stream: TextIO | None = None) -> None:
    """Log to stderr (or ``stream``) through a writer thread; under systemd, with priority prefixes."""
    global _writer
    if _writer is not None:
        _writer.stop()
    if os.environ.get("JOURNAL_STREAM"):
        formatter: logging.Formatter = _JournalFormatter("%(name)s: %(message)s")
    else:
        formatter = _Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    records: queue.SimpleQueue[logging.LogRecord | AccessLine | None] = queue.SimpleQueue()
    _writer = _Writer(records, formatter, sys.stderr if stream is None else stream)
    _writer.start()
    atexit.register(_writer.stop)
    root = logging.getLogger()
    root.handlers[:] = [_Enqueue(_writer)]
    root.setLevel(level)
    # Skip what the format never prints: the caller's file and line (a stack
    # walk per record), thread and process names (logging HOWTO, "Optimization").
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
