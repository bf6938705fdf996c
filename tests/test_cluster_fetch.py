"""cluster/fetch.py with a fake actor (the real one: tests/test_cluster_ray.py): where a fetch
resumes, and what an actor that goes away mid-stream leaves in the log."""

from __future__ import annotations

import asyncio
import json
import types
from pathlib import Path
from typing import Any, cast

import pytest

from supervisord_lite import logfiles
from supervisord_lite.cluster.capture import Chunk
from supervisord_lite.cluster.fetch import PROGRESS, Progress, fetch
from supervisord_lite.cluster.ray_child import RayChild
from supervisord_lite.owner.output import LogSink
from supervisord_lite.supervision.logs import LogReader

pytestmark = pytest.mark.timeout(30)


class RayError(Exception):
    pass


class ActorUnavailableError(RayError):
    pass


class FakeChild:
    """Serves each stream's bytes in chunks of `size`; past `fail_at` bytes, the actor is gone."""

    def __init__(self, streams: dict[str, bytes], size: int, fail_at: int | None = None) -> None:
        self.ray = types.SimpleNamespace(
            exceptions=types.SimpleNamespace(
                RayError=RayError, ActorUnavailableError=ActorUnavailableError
            )
        )
        self.process_id = 9
        self._streams, self._size, self._fail_at = streams, size, fail_at
        self.asked: list[tuple[str, int]] = []
        self.blips = 0  # this many reads answer "unreachable for now" first

    async def read(self, stream: str, offset: int, limit: int, wait: bool) -> Chunk:
        self.asked.append((stream, offset))
        if self.blips:
            self.blips -= 1
            raise ActorUnavailableError("The actor is temporarily unavailable.")
        if self._fail_at is not None and offset >= self._fail_at:
            raise RayError("The actor died unexpectedly before finishing this task.")
        data = self._streams[stream][offset : offset + min(limit, self._size)]
        end = offset + len(data)
        return Chunk(data, end, end >= len(self._streams[stream]))


def run_fetch(tmp_path: Path, child: FakeChild, progress: Progress) -> list[tuple[str, str]]:
    async def main() -> None:
        writer = LogSink(str(tmp_path)).writer(9, max_bytes=1 << 20, backups=1)
        await fetch(cast(RayChild, child), writer, str(tmp_path / "9"), progress)

    asyncio.run(main())
    batch = LogReader(tmp_path).read_now(9, 0, 100, None)
    return [(x["stream"], x["text"]) for x in batch.lines]


def saved(tmp_path: Path) -> Any:
    return json.loads((tmp_path / "9" / PROGRESS).read_text())


def test_progress_counts_only_what_is_in_the_log_and_a_resume_starts_there(tmp_path: Path) -> None:
    out = b"alpha\nbeta\ngamma\n"
    # The actor goes at byte 8: "alpha" is in the log, "be" was held for its newline.
    first = FakeChild({"stdout": out, "stderr": b""}, size=4, fail_at=8)
    lines = run_fetch(tmp_path, first, Progress(0, 0, 1 << 20, 1))
    # Gone mid-stream: the log is closed with what there was, "be" marked as a partial line.
    assert lines == [("stdout", "alpha"), ("stdout", "be")]
    assert saved(tmp_path)["stdout"] == 6  # after "alpha\n": "be" was not whole yet
    assert Progress.load(str(tmp_path / "9")) is None  # closed: nothing to resume

    # Had the front stopped instead, the next one would go on from the saved offset.
    (tmp_path / "9" / logfiles.CLOSED).unlink()
    for segment in logfiles.segments(str(tmp_path / "9")):
        (tmp_path / "9" / logfiles.segment_name(segment)).unlink()
    progress = Progress.load(str(tmp_path / "9"))
    assert progress == Progress(6, 0, 1 << 20, 1)
    again = FakeChild({"stdout": out, "stderr": b""}, size=4)
    again.blips = 2  # a network blip is not the end of the stream: asked again
    assert run_fetch(tmp_path, again, progress) == [("stdout", "beta"), ("stdout", "gamma")]
    assert again.asked[0] in {("stdout", 6), ("stderr", 0)} and ("stdout", 6) in again.asked
    assert (tmp_path / "9" / PROGRESS).stat().st_mode & 0o777 == 0o600


def test_a_damaged_progress_file_is_no_progress(tmp_path: Path) -> None:
    (tmp_path / "9").mkdir()
    for text in (
        "",
        "{",
        '{"stdout": 1}',
        '{"stdout": "x", "stderr": 0, "max_bytes": 1, "backups": 1}',
    ):
        (tmp_path / "9" / PROGRESS).write_text(text)
        assert Progress.load(str(tmp_path / "9")) is None
