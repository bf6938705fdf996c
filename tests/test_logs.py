"""The log writer (owner side) and reader (front side) on plain pipes: records, rotation,
cursors across rotations, the on_output callback and a follower woken by it."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from supervisord_lite import logfiles
from supervisord_lite.owner.output import LogSink, LogWriter
from supervisord_lite.supervision.logs import LogReader
from tests.wire import poll_until


def test_lines_rotate_and_a_follower_is_woken_by_on_output(tmp_path: Path) -> None:
    async def main() -> None:
        notified: list[int] = []
        reader = LogReader(tmp_path)

        def on_output(process_id: int) -> None:
            notified.append(process_id)
            reader.notify(process_id)

        directory = tmp_path / "7"
        directory.mkdir()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        LogWriter(str(directory), 7, (out_r, err_r), max_bytes=300, backups=1,
                  on_output=on_output)  # fmt: skip
        follow = asyncio.ensure_future(
            reader.read(7, cursor=0, limit=100, stream=None, follow=True, timeout=10)
        )
        await poll_until(
            lambda: bool(reader._waiters.get(7)), timeout=5, what="the follower to wait"
        )
        assert not follow.done()
        os.write(out_w, b"one\ntwo\n")
        batch = await asyncio.wait_for(follow, 5)
        assert [x["text"] for x in batch.lines] == ["one", "two"] and not batch.done
        assert notified == [7]  # one wake-up for one read of the pipe
        for i in range(20):
            os.write(err_w, f"err {i:02d}\n".encode())
            seen = len(notified)
            await poll_until(
                lambda seen=seen: len(notified) > seen, timeout=5, what="the line to be read"
            )
        os.close(out_w)
        os.close(err_w)
        await poll_until(
            (directory / logfiles.CLOSED).exists, timeout=10, what="the writer to see both EOFs"
        )
        assert len(logfiles.segments(str(directory))) == 2  # the current one and one backup
        cursor, texts, done = 0, [], False
        while not done:
            b = await reader.read(7, cursor=cursor, limit=3, stream=None, follow=True, timeout=5)
            texts += [x["text"] for x in b.lines]
            cursor, done = b.cursor, b.done
        assert texts[-1] == "err 19" and "one" not in texts  # rotated away: from the oldest kept
        numbers = [int(t.split()[1]) for t in texts]
        assert numbers == list(range(numbers[0], 20))

    asyncio.run(main())


def test_split_points_keep_utf8_characters_whole() -> None:
    data = "é".encode() * 10  # 2 bytes each
    assert logfiles.split_point(data, 5) == 4
    assert logfiles.split_point(b"x" * 10, 5) == 5
    assert logfiles.record("stdout", b"\xff", "t") == (
        b'{"stream":"stdout","text":"/w==","encoding":"base64","ts":"t"}\n'
    )


def test_log_directories_are_0700_and_files_0600(tmp_path: Path) -> None:
    async def main() -> None:
        from supervisord_lite.core.model import Output, SpawnRequest, Target

        sink = LogSink(str(tmp_path / "logs"))
        request = SpawnRequest(3, "p", "k", Target(), (), {}, Output.LOG, None)
        passed = sink.redirect(request)
        assert passed.output is Output.PASSED and passed.fds is not None
        for fd in passed.fds:
            os.write(fd, b"x\n")
            os.close(fd)
        directory = tmp_path / "logs" / "3"
        await poll_until(
            (directory / logfiles.CLOSED).exists, timeout=10, what="the writer to see both EOFs"
        )
        for d in (tmp_path / "logs", directory):
            assert d.stat().st_mode & 0o777 == 0o700, d
        for f in directory.iterdir():
            assert f.stat().st_mode & 0o777 == 0o600, f

    asyncio.run(main())


def test_a_fed_writer_holds_half_lines_and_closes_when_both_streams_end(tmp_path: Path) -> None:
    """The writer without pipes (what cluster/fetch.py feeds): the same records as from pipes."""

    async def main() -> None:
        woken: list[int] = []
        first = asyncio.get_running_loop().create_future()

        def on_output(process_id: int) -> None:
            woken.append(process_id)
            if not first.done():
                first.set_result(None)

        writer = LogSink(str(tmp_path), on_output).writer(4, max_bytes=1 << 20, backups=1)
        directory = tmp_path / "4"
        assert writer.feed("stdout", b"one\ntw") and writer.unwritten("stdout") == 2
        assert writer.feed("stderr", b"err\n") and writer.unwritten("stderr") == 0
        assert writer.feed("stdout", b"o\nthr") and writer.unwritten("stdout") == 3
        assert writer.feed("stdout", b"")  # stdout ends: its half line is written, marked partial
        assert writer.unwritten("stdout") == 0 and not (directory / logfiles.CLOSED).exists()
        assert writer.feed("stdout", b"late")  # after its end: nothing is written
        assert writer.feed("stderr", b"")
        assert (directory / logfiles.CLOSED).exists()
        batch = LogReader(tmp_path).read_now(4, 0, 100, None)
        assert [(x["stream"], x["text"], x.get("partial", False)) for x in batch.lines] == [
            ("stdout", "one", False),
            ("stderr", "err", False),
            ("stdout", "two", False),
            ("stdout", "thr", True),
        ]
        assert batch.done
        await asyncio.wait_for(first, 5)
        assert woken == [4]  # everything fed in one loop turn: one notification

    asyncio.run(main())


def test_a_released_log_goes_once_its_output_has_ended(tmp_path: Path) -> None:
    reader = LogReader(tmp_path)
    ended, open_, other = tmp_path / "3", tmp_path / "4", tmp_path / "9"
    for directory in (ended, open_, other):
        directory.mkdir()
        (directory / logfiles.segment_name(0)).write_bytes(b"")
    (ended / logfiles.CLOSED).write_bytes(b"")
    reader.remove(3)
    reader.remove(4)  # released while its writer still drains a pipe: kept for now
    reader.remove(5)  # never had a log: nothing to do, nothing pending
    assert not ended.exists() and open_.exists() and reader._doomed == {4}
    reader.notify(4)  # more output: still open, still kept
    assert open_.exists()
    (open_ / logfiles.CLOSED).write_bytes(b"")
    reader.notify(4)  # the writer's last notification: its output has ended
    assert not open_.exists() and not reader._doomed
    assert other.exists()  # never released: untouched


def test_a_start_sweeps_the_ended_logs_no_record_names(tmp_path: Path) -> None:
    for name, closed in (("1", True), ("2", True), ("3", False), ("notes", True)):
        (tmp_path / name).mkdir()
        if closed:
            (tmp_path / name / logfiles.CLOSED).write_bytes(b"")
    assert LogReader(tmp_path).sweep(kept={2}) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2", "3", "notes"]
    assert LogReader(tmp_path / "none").sweep(kept=()) == 0
    assert LogReader(None).sweep(kept=()) == 0
