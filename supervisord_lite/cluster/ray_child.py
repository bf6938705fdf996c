"""A process run by its actor, as the daemon sees it: pid, node, its exit awaited, signals, output.

One `wait` call per child is awaited in the daemon's event loop (Ray completes the future from its
own thread); an actor that dies instead (its node did) makes the process lost, with Ray's reason.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Coroutine
from typing import Any

from supervisord_lite.cluster.capture import CHUNK, Chunk
from supervisord_lite.core.model import ExitCallback

log = logging.getLogger(__name__)

# What `on_exit` gets for a child whose actor died with its node, when nobody handles `on_lost`:
# no exit status exists (the same value the local owner uses for a status it could not read).
LOST_EXITCODE = -255

LostCallback = Callable[[int, str], None]


class RayChild:
    """A process run by its actor; `node` is the Ray node id it runs on."""

    def __init__(self, ray: Any, process_id: int, handle: Any, pid: int, node: str) -> None:
        self.ray = ray  # the module
        self.process_id = process_id
        self.handle = handle
        self._pid = pid
        self.node = node
        self.exitcode: int | None = None
        self.lost_reason: str | None = None
        self.reported = False  # on_exit (or on_lost) has run
        self._watcher: asyncio.Task[None] | None = None
        self._relays: list[asyncio.Task[None]] = []

    @property
    def pid(self) -> int:
        return self._pid

    async def loaded(self) -> str | None:
        try:
            problem: str | None = await self.handle.go.remote()
        except self.ray.exceptions.RayError as exc:
            return f"its Ray actor failed: {first_line(exc)}"
        return problem

    def signal(self, signum: int) -> None:
        """Sent to the child's process group by its actor (fire and forget, as a kill is)."""
        if self.exitcode is None and self.lost_reason is None:
            self.handle.signal.remote(signum)

    def poll(self) -> None:
        """Nothing to do: an exit is known only when the actor's answer arrives."""

    def watch(self, on_exit: ExitCallback, on_lost: LostCallback | None) -> None:
        self._watcher = asyncio.ensure_future(self._watch(on_exit, on_lost))

    def relay(self, stream: str, fd: int) -> None:
        """Copy the stream, from its start, to `fd` (the caller's own, for output "passed")."""
        self.follow_with(self._relay(stream, fd))

    def follow_with(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` (the copy of its output somewhere) beside the watch: the exit is reported
        once it is done (or 2 s after the exit, whichever comes first)."""
        self._relays.append(asyncio.ensure_future(work))

    async def followed(self, timeout: float) -> None:
        """Wait (at most `timeout`) until every copy of its output is done."""
        if self._relays:
            await asyncio.wait(self._relays, timeout=timeout)

    def all_followed(self) -> bool:
        return all(task.done() for task in self._relays)

    async def _watch(self, on_exit: ExitCallback, on_lost: LostCallback | None) -> None:
        exceptions = self.ray.exceptions
        delay = 0.1
        while True:
            try:
                code: int = await self.handle.wait.remote()
                break
            except exceptions.ActorUnavailableError as exc:
                # Unreachable for now (a network blip), not dead: ask again, less and less often.
                log.info("process %d: its actor is unreachable (%s); asking again in %.1f s",
                         self.process_id, first_line(exc), delay)  # fmt: skip
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            except Exception as exc:  # ActorDiedError, mostly; whatever it is, no exit will come
                self.lost_reason = f"its Ray actor died: {first_line(exc)}"
                self.reported = True
                log.warning("process %d is lost: %s", self.process_id, self.lost_reason)
                if on_lost is not None:
                    on_lost(self.process_id, self.lost_reason)
                else:
                    on_exit(LOST_EXITCODE)
                return
        await self.followed(timeout=2)  # what it wrote reaches the caller before its exit does
        self.exitcode = code
        self.reported = True
        on_exit(code)

    async def _relay(self, stream: str, fd: int) -> None:
        loop = asyncio.get_running_loop()
        offset = 0
        try:
            while True:
                chunk = await self.read(stream, offset, CHUNK, wait=True)
                if chunk.data:  # the caller's fd may block (a pipe, a terminal): not in the loop
                    await loop.run_in_executor(None, _write_all, fd, chunk.data)
                offset = chunk.next_offset
                if chunk.ended:
                    return
        except (OSError, self.ray.exceptions.RayError):
            return  # the caller went away, or the actor did
        finally:
            os.close(fd)

    async def read(self, stream: str, offset: int, limit: int, wait: bool) -> Chunk:
        """Output from `offset` (bytes of the stream), as kept on the node; with `wait`, answered
        when something follows it or the stream ends (server-side, in the actor)."""
        data, next_offset, ended = await self.handle.read.remote(stream, offset, limit, wait)
        return Chunk(data, next_offset, ended)

    def stop_watching(self) -> None:
        for task in (self._watcher, *self._relays):
            if task is not None:
                task.cancel()


def first_line(exc: BaseException) -> str:
    """A Ray error's gist: its messages run to many lines (tracebacks, ids)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    for line in lines:
        if "died" in line or "node" in line.lower():
            return line[:300]
    return (lines[0] if lines else type(exc).__name__)[:300]


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
