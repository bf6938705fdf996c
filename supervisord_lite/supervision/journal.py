"""The daemon's own line per start and per exit of a process (one event a line, as logs.py
writes them: journald keeps each whole)."""

from __future__ import annotations

import logging
import signal

from supervisord_lite.core.model import ProcessRecord

log = logging.getLogger("supervisord_lite.processes")


def who(record: ProcessRecord) -> str:
    if record.program is not None:
        return f"program {record.program}"
    return f"process {record.name!r}"


def how(exitcode: int | None) -> str:
    if exitcode is None:
        return "ended"
    if exitcode >= 0:
        return f"exited with code {exitcode}"
    try:
        name = signal.Signals(-exitcode).name
    except ValueError:
        name = f"signal {-exitcode}"
    return f"was killed by {name}"


def line(kind: str, record: ProcessRecord) -> None:
    if not log.isEnabledFor(logging.INFO):
        return
    if kind == "started":
        log.info("%s started (id %d, pid %s)", who(record), record.id, record.pid)
    elif kind == "exited":
        log.info(
            "%s (id %d, pid %s) %s after %.3fs",
            who(record),
            record.id,
            record.pid,
            how(record.exitcode),
            record.run_time or 0.0,
        )
