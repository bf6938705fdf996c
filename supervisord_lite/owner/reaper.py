"""The child subreaper: orphans a supervised program leaves behind are re-parented to the owner,
and reaped here, never a tracked child."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
from typing import Protocol

log = logging.getLogger(__name__)

PR_SET_CHILD_SUBREAPER = 36


class Tracked(Protocol):
    """A child the owner watches itself (a PidfdChild): it reaps itself and reports its status."""

    def reap(self) -> bool:
        """Reap it if it has exited: True once reaped (now or before), False while it cannot be."""
        ...


class Reaper:
    """Makes the daemon a child subreaper and reaps the orphans it adopts, never a tracked child.

    On SIGCHLD: waitid(P_ALL, WNOHANG|WNOWAIT) shows one exited child without reaping it; a tracked
    child is handed to its own PidfdChild (which reports its status), any other pid is an adopted
    orphan and is reaped with waitid(P_PID). While a zygote spawn has not yet told its child's pid,
    that child could be the zombie shown: the scan then waits until every pending spawn is resolved.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(err)}")
        self._loop = loop
        self.tracked: dict[int, Tracked] = {}
        self.unadopted: set[Tracked] = set()
        self.pending = 0
        self._deferred = False
        self.orphans_reaped = 0
        loop.add_signal_handler(signal.SIGCHLD, self.scan)

    def close(self) -> None:
        self._loop.remove_signal_handler(signal.SIGCHLD)

    def resolved(self) -> None:
        """A pending spawn now knows its child's pid (or knows there is none)."""
        self.pending -= 1
        if self.pending == 0 and self._deferred:
            self._deferred = False
            self._loop.call_soon(self.scan)

    def scan(self) -> None:
        for waiting in list(self.unadopted):
            waiting.reap()
        if self.pending:
            self._deferred = True
            return
        for _ in range(100_000):  # bounded: each round reaps one child or stops
            try:
                shown = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return
            if shown is None:
                return
            tracked = self.tracked.get(shown.si_pid)
            if tracked is not None:
                if not tracked.reap():
                    return
                continue
            with contextlib.suppress(ChildProcessError):
                os.waitid(os.P_PID, shown.si_pid, os.WEXITED | os.WNOHANG)
            self.orphans_reaped += 1
            log.debug("reaped adopted orphan %d", shown.si_pid)
