"""Reading captured output back (`process.logs`): by cursor, straight from the log files, and
waiting on the server side for more (`follow`), woken by the owner's `on_output` callback.

A reader holds nothing but its cursor: a client that stops reading costs no memory, and the
child writing the log never waits for anyone.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import os
import shutil
from collections.abc import Container
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from supervisord_lite import logfiles

MAX_BYTES = 1024 * 1024  # a reply carries about this much log at most


@dataclass
class Batch:
    lines: list[dict[str, Any]] = field(default_factory=list)
    cursor: int = 0
    done: bool = False  # the output has ended and the cursor is at its end


class LogReader:
    def __init__(self, log_dir: Path | None) -> None:
        self.log_dir = log_dir
        self._waiters: dict[int, set[asyncio.Future[None]]] = {}
        self._doomed: set[int] = set()  # released while their output was still open

    def notify(self, process_id: int) -> None:
        """A process's log grew or closed (the owner's on_output), or the process exited."""
        for waiter in self._waiters.pop(process_id, ()):
            if not waiter.done():
                waiter.set_result(None)
        if process_id in self._doomed and self._remove_closed(process_id):
            self._doomed.discard(process_id)

    def remove(self, process_id: int) -> None:
        """A released process's log goes with its record, so the disk follows `--keep-exited` as
        memory does. Not while the owner still writes it (the exit can come before the pipes'
        end, and a grandchild can hold them longer): then once its output has ended."""
        if self.log_dir is not None and not self._remove_closed(process_id):
            self._doomed.add(process_id)

    def sweep(self, kept: Container[int]) -> int:
        """At a start: remove the ended logs of processes no record names (released by a front
        that stopped before their output ended). Returns how many went."""
        if self.log_dir is None:
            return 0
        try:
            names = os.listdir(self.log_dir)
        except FileNotFoundError:
            return 0
        gone = [n for n in names if n.isdigit() and int(n) not in kept]
        return sum(self._remove_closed(int(n)) for n in gone)

    def _remove_closed(self, process_id: int) -> bool:
        directory = self.directory(process_id)
        if not logfiles.ended(directory):
            return not os.path.isdir(directory)  # no log at all: nothing to wait for
        shutil.rmtree(directory, ignore_errors=True)
        return True

    def directory(self, process_id: int) -> str:
        assert self.log_dir is not None
        return os.path.join(self.log_dir, str(process_id))

    def read_now(self, process_id: int, cursor: int, limit: int, stream: str | None) -> Batch:
        directory = self.directory(process_id)
        closed = logfiles.ended(directory)  # before reading
        batch = Batch(cursor=cursor)
        for _ in range(8):  # a rotation between listing and opening: list again (bounded)
            try:
                at_end = self._scan(directory, batch, limit, stream)
            except FileNotFoundError:
                continue
            batch.done = closed and at_end
            return batch
        return batch

    def _scan(self, directory: str, batch: Batch, limit: int, stream: str | None) -> bool:
        """Append lines from batch.cursor on; True if the end of the log was reached."""
        starts = logfiles.segments(directory)
        if not starts:
            return True
        if batch.cursor < starts[0]:
            batch.cursor = starts[0]  # rotated away: resume from the oldest kept
        index = max(0, bisect.bisect_right(starts, batch.cursor) - 1)
        budget = MAX_BYTES
        for start in starts[index:]:
            if batch.cursor < start:
                batch.cursor = start
            path = os.path.join(directory, logfiles.segment_name(start))
            with open(path, "rb") as f:
                f.seek(batch.cursor - start)
                for raw in f:
                    if not raw.endswith(b"\n"):
                        return True  # a record being written: the end, for now
                    if len(batch.lines) >= limit or budget <= 0:
                        return False
                    batch.cursor += len(raw)
                    budget -= len(raw)
                    line = orjson.loads(raw)
                    if stream is None or line["stream"] == stream:
                        batch.lines.append(line)
        return True

    async def read(
        self,
        process_id: int,
        *,
        cursor: int,
        limit: int,
        stream: str | None,
        follow: bool,
        timeout: float | None,
    ) -> Batch:
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            # Registered before reading: a line written after the read still wakes us.
            waiter = loop.create_future()
            self._waiters.setdefault(process_id, set()).add(waiter)
            try:
                batch = self.read_now(process_id, cursor, limit, stream)
                if batch.lines or batch.done or not follow:
                    return batch
                cursor = batch.cursor
                remaining = None if deadline is None else deadline - loop.time()
                if remaining is not None and remaining <= 0:
                    return batch
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(waiter, remaining)
                if deadline is not None and loop.time() >= deadline:
                    return self.read_now(process_id, cursor, limit, stream)
            finally:
                waiters = self._waiters.get(process_id)
                if waiters is not None:
                    waiters.discard(waiter)
                    if not waiters:
                        del self._waiters[process_id]
