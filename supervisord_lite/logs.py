"""Logging to stderr in a form journald keeps well.

- One event a line: newlines inside a message or a traceback are written as ``\\n``, so journald
  (which makes one entry of each line) keeps an event, and its priority, whole.
- When stderr is the journal (``$JOURNAL_STREAM`` is the "dev:ino" of our stderr, see
  systemd.exec(5)), each line starts with a syslog priority such as ``<6>`` and carries no level
  name or time: journald records both. Otherwise: ``LEVEL name: message``.
- Secrets never reach the log: any run of 32 or more hex digits (an authkey is 64) is redacted.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from typing import TextIO

# syslog priorities (sd-daemon.h): SD_CRIT 2, SD_ERR 3, SD_WARNING 4, SD_INFO 6, SD_DEBUG 7.
_PRIORITIES = (
    (logging.CRITICAL, 2),
    (logging.ERROR, 3),
    (logging.WARNING, 4),
    (logging.INFO, 6),
)
_HEX_SECRET = re.compile(r"(?<![0-9A-Fa-f])[0-9A-Fa-f]{32,}(?![0-9A-Fa-f])")
REDACTED = "[redacted]"


def syslog_priority(levelno: int) -> int:
    """The syslog priority of a logging level (levels in between take the one below them)."""
    for threshold, priority in _PRIORITIES:
        if levelno >= threshold:
            return priority
    return 7


def redact(text: str) -> str:
    """Hide anything that looks like a key: a run of 32 or more hex digits."""
    return _HEX_SECRET.sub(REDACTED, text)


def stream_is_journal(stream: TextIO, journal_stream: str | None = None) -> bool:
    """True when `stream` is connected to journald, as $JOURNAL_STREAM ("dev:ino") says."""
    if journal_stream is None:
        journal_stream = os.environ.get("JOURNAL_STREAM", "")
    dev, sep, ino = journal_stream.partition(":")
    if not sep:
        return False
    try:
        st = os.fstat(stream.fileno())
        return (st.st_dev, st.st_ino) == (int(dev), int(ino))
    except (OSError, ValueError, AttributeError):
        return False


class LineFormatter(logging.Formatter):
    """One event a line, secrets redacted; a syslog priority prefix for the journal."""

    def __init__(self, *, journal: bool) -> None:
        super().__init__("%(message)s")
        self.journal = journal

    def format(self, record: logging.LogRecord) -> str:
        text = redact(super().format(record))
        text = text.replace("\r\n", "\n").replace("\r", "\\r").replace("\n", "\\n")
        if self.journal:
            return f"<{syslog_priority(record.levelno)}>{record.name}: {text}"
        return f"{record.levelname} {record.name}: {text}"


def setup(level: int = logging.INFO, stream: TextIO | None = None) -> None:
    """One event a line on stderr (or `stream`), in the journal's form when stderr is the journal."""
    stream = sys.stderr if stream is None else stream
    handler = logging.StreamHandler(stream)
    handler.setFormatter(LineFormatter(journal=stream_is_journal(stream)))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Nothing the lines show needs the thread, process or caller of a record: not gathering them
    # takes about a sixth of a line's cost (the daemon logs each start and exit of a child).
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging._srcfile = None
