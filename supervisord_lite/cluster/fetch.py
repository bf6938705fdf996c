"""Output "log" of a process on the cluster: fetched from its actor into the daemon's own log.

The actor keeps what the child writes in files on its node (capture.py) and answers "what follows
offset N" once something does. The front asks, for each stream, and feeds what comes to the same
LogWriter the keeper uses for a local child, so `process.logs`, `follow`, rotation and retention
are the local ones, and the log outlives the actor (which deletes its node files when released).

How far each stream has been fetched is saved beside the log (`fetched`, 0600, replaced
atomically after every chunk), so that a front started again resumes where the last one stopped.
A kill -9 between a chunk's write and the save repeats that one chunk; nothing is lost.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from dataclasses import asdict, dataclass

from supervisord_lite import logfiles
from supervisord_lite.cluster.capture import CHUNK
from supervisord_lite.cluster.ray_child import RayChild, first_line
from supervisord_lite.owner.output import LogWriter

log = logging.getLogger(__name__)

PROGRESS = "fetched"
STREAMS = ("stdout", "stderr")


@dataclass
class Progress:
    """Offsets in the node's files up to which each stream is in the log, and the log's limits
    (so that a later front writes the log as the first one did)."""

    stdout: int
    stderr: int
    max_bytes: int
    backups: int

    @classmethod
    def load(cls, directory: str) -> Progress | None:
        """The saved progress of the log in `directory`, or None if it has none, or it is closed
        (fetched to its end)."""
        if logfiles.ended(directory):
            return None
        try:
            with open(os.path.join(directory, PROGRESS), "rb") as f:
                saved = json.loads(f.read())
            return cls(
                **{key: int(saved[key]) for key in ("stdout", "stderr", "max_bytes", "backups")}
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def save(self, directory: str) -> None:
        temp = os.path.join(directory, f".{PROGRESS}.tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, json.dumps(asdict(self)).encode())
        finally:
            os.close(fd)
        os.replace(temp, os.path.join(directory, PROGRESS))


async def fetch(child: RayChild, writer: LogWriter, directory: str, progress: Progress) -> None:
    """Both streams of `child` into `writer`, until each has ended (or the actor is gone)."""
    await asyncio.gather(*(_stream(child, writer, directory, progress, s) for s in STREAMS))


async def _stream(
    child: RayChild, writer: LogWriter, directory: str, progress: Progress, stream: str
) -> None:
    exceptions = child.ray.exceptions
    offset: int = getattr(progress, stream)
    delay = 0.1
    while True:
        try:
            chunk = await child.read(stream, offset, CHUNK, wait=True)
            delay = 0.1
        except exceptions.ActorUnavailableError:
            # Unreachable for now, not dead (as in RayChild._watch): ask again, less and less often.
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
            continue
        except exceptions.RayError as exc:
            # The actor is gone (its node died, or it was released): what it had is all there is.
            log.warning(
                "process %d: its %s cannot be fetched any more: %s",
                child.process_id,
                stream,
                first_line(exc),
            )
            writer.feed(stream, b"")
            return
        if chunk.data and not writer.feed(stream, chunk.data):
            return  # the log cannot be written (the writer has said why)
        offset = chunk.next_offset
        # The part of a line held for its newline is not in the log yet: fetched again if the
        # front stops before it comes.
        setattr(progress, stream, offset - writer.unwritten(stream))
        if chunk.ended:
            setattr(progress, stream, offset)
            writer.feed(stream, b"")
        try:
            progress.save(directory)
        except OSError as exc:
            log.warning("process %d: cannot save how far its log is fetched: %s",
                        child.process_id, exc)  # fmt: skip
        if chunk.ended:
            return
