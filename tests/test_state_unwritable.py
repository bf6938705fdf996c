"""A state directory that cannot be written (a full disk) loses nothing and hands out no id twice;
one that cannot be read is a clear refusal to start.

The unit tests use the real SQLite store, its writes refused with `PRAGMA query_only` (SQLite's
own refusal), under the core with a fake owner. The daemon test fills a
real filesystem (a small tmpfs; it needs root, and is skipped where mounting is not allowed).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from supervisord_lite.core import errors
from supervisord_lite.core.journal import ID_BLOCK
from supervisord_lite.core.model import State, Target, TargetKind
from supervisord_lite.core.supervisor import Supervisor
from supervisord_lite.rpc.methods import info
from supervisord_lite.state.sqlite import SqliteStore
from supervisord_lite.supervision.service import Supervision
from tests.conftest import REPO, Daemon, keeper_pid, start_daemon, stop_daemon
from tests.test_core import FakeSpawner
from tests.test_supervision_programs import spec, until
from tests.test_wire_support import kill_pid, pid_gone, sleeper
from tests.wire import RawClient, wait_until

JOURNAL = "supervisord_lite.core.journal"


def front(store: SqliteStore, acks: list[int]) -> tuple[Supervisor, FakeSpawner]:
    spawner = FakeSpawner()
    sv = Supervisor(
        spawner, parent_of=lambda pid: None, daemon_pid=1, store=store, acknowledge=acks.extend
    )
    return sv, spawner


def fill(store: SqliteStore) -> None:
    """Every write refused by SQLite itself (SQLITE_READONLY, as a state directory remounted
    read-only gives it); the daemon test below fills a real disk."""
    store._db.execute("PRAGMA query_only = 1")


def unfill(store: SqliteStore) -> None:
    store._db.execute("PRAGMA query_only = 0")


@pytest.mark.timeout(60)
def test_a_failed_write_keeps_the_batch_and_the_exits_until_one_succeeds(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def go() -> None:
        store = SqliteStore(tmp_path)
        acks: list[int] = []
        sv, spawner = front(store, acks)
        first = sv.create(caller=None, target=Target(TargetKind.ARGV, argv=("true",)))
        await sv.start(first.id)
        spawner.children[-1].exit(0)
        sv.persist()
        assert acks == [first.id]

        fill(store)
        during = []
        for i in range(40):
            record = sv.create(caller=None, target=Target(TargetKind.ARGV, argv=("true",)))
            await sv.start(record.id)
            spawner.children[-1].exit(i % 7)
            during.append(record)
        sv.release(first.id)
        sv.persist()
        sv.persist()  # a second failure in a row: still one line in the log
        assert sv.unwritten
        assert acks == [first.id], "an exit is acknowledged to the owner only once it is stored"
        failures = [r for r in caplog.records if r.name == JOURNAL and r.levelno == logging.ERROR]
        assert len(failures) == 1, [r.getMessage() for r in failures]
        assert "readonly" in failures[0].getMessage(), failures[0].getMessage()

        unfill(store)
        sv.persist()
        assert not sv.unwritten
        assert sorted(acks) == sorted([first.id, *(r.id for r in during)])
        assert any("works again" in r.getMessage() for r in caplog.records if r.name == JOURNAL)
        store.close()

        # What changed while nothing could be written is all on disk now.
        again = SqliteStore(tmp_path)
        sv2, _ = front(again, [])
        got = {r.id: r for r in sv2.records()}
        assert first.id not in got, "the release made during the failure is not undone"
        for i, record in enumerate(during):
            assert (got[record.id].state, got[record.id].exitcode) == (State.EXITED, i % 7)
        again.close()

    asyncio.run(go())


@pytest.mark.timeout(60)
def test_a_create_that_needs_new_ids_waits_for_the_disk_and_costs_nothing(
    tmp_path: Path,
) -> None:
    async def go() -> None:
        store = SqliteStore(tmp_path)
        sv, _ = front(store, [])
        sv.create(caller=None, target=Target())
        sv.persist()
        fill(store)
        last = None
        with pytest.raises(errors.StateUnwritable) as refused:
            for _ in range(ID_BLOCK + 1):  # past the block of ids reserved at the first create
                last = sv.create(caller=None, target=Target())
        assert last is not None
        assert "free space in the state directory" in refused.value.message
        assert len(sv.records()) == last.id, "the refused create left no record"
        unfill(store)
        after = sv.create(caller=None, target=Target())
        assert after.id == last.id + 1, "the refusal used no id"
        assert after.name == f"Process-{after.id}", "nor a name"
        store.close()
        assert SqliteStore(tmp_path).reserved_ids() > after.id

    asyncio.run(go())


@pytest.mark.timeout(60)
def test_a_program_whose_run_cannot_get_an_id_waits_in_backoff_then_runs(tmp_path: Path) -> None:
    async def go() -> None:
        store = SqliteStore(tmp_path)
        sv, _ = front(store, [])
        sup = Supervision(sv, store=store, info=info)
        for _ in range(ID_BLOCK + 1):  # the block reserved at the first create is used up
            sv.create(caller=None, target=Target())
        fill(store)
        with pytest.raises(errors.StateUnwritable):
            await sup.programs.add(spec())
        assert sup.programs.get("svc").state == "backoff", "it is tried again, not forgotten"
        unfill(store)
        await until(sup, lambda e: e.get("state") == "running" and e.get("name") == "svc")
        assert sup.programs.get("svc").record is not None
        store.close()

    asyncio.run(go())


# ---------------------------------------------------------------- a real full disk, a real daemon


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "fs"
    mount.mkdir(mode=0o700)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def serve_on(private_dir: Path, small_fs: Path) -> tuple[Path, Daemon]:
    """A daemon whose state directory is on the small filesystem; that directory, and it."""
    state = small_fs / "state"
    return state, start_daemon(private_dir, "--state-dir", str(state))


def fill_disk(path: Path) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"\0" * 65536)
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"\0")
    finally:
        os.close(fd)


def stored(state: Path) -> dict[int, dict[str, Any]]:
    """The process records as the state file has them now (read beside the running daemon)."""
    with sqlite3.connect(state / "state.sqlite3") as db:
        rows = db.execute("SELECT key, doc FROM process").fetchall()
    return {int(k): json.loads(v) for k, v in rows}


def run_to_end(c: RawClient, code: int) -> dict[str, Any]:
    p = c.call("process.create", {"target": {"argv": ["sh", "-c", f"exit {code}"]}})
    c.call("process.start", {"id": p["id"], "output": "null"})
    joined: dict[str, Any] = c.call("process.join", {"id": p["id"]})
    return joined


@pytest.mark.timeout(120)
def test_a_full_disk_loses_nothing_and_the_daemon_goes_on(
    private_dir: Path, small_fs: Path
) -> None:
    state, d = serve_on(private_dir, small_fs)
    d2: Daemon | None = None
    try:
        with d.client() as c:
            early = [run_to_end(c, 1) for _ in range(3)]
            wait_until(
                lambda: {p["id"] for p in early} <= set(stored(state)),
                timeout=15,
                what="the first records on disk",
            )
            fill_disk(small_fs / "filler")
            ran = [run_to_end(c, i % 5) for i in range(30)]
            for p in early:
                assert c.call("process.release", {"id": p["id"]}) is None
            # Ids run out: the create waits for space, clearly, and everything else goes on.
            refused = None
            for _ in range(ID_BLOCK + 1):
                answer = c.call_raw("process.create", {"target": None})
                if "error" in answer:
                    refused = answer["error"]
                    break
            assert refused is not None and refused["code"] == 1022, refused
            assert "free space in the state directory" in refused["message"]
            assert c.call("process.getName", {"id": ran[0]["id"]}) == ran[0]["name"]
            wait_until(
                lambda: "cannot write" in d.stderr(), timeout=15, what="the failure in the log"
            )
            assert d.stderr().count("cannot write") == 1, d.stderr()
            assert "Traceback" not in d.stderr()

            os.unlink(small_fs / "filler")
            wait_until(lambda: "works again" in d.stderr(), timeout=15, what="a write that works")
            fresh = c.call("process.create", {"target": None})
            wait_until(lambda: fresh["id"] in stored(state), timeout=15, what="the next batch")
            assert d.stderr().count("works again") == 1, d.stderr()
        d.proc.kill()  # kill -9: what comes back is what is on disk (the keeper holds nothing)
        d.proc.wait(timeout=15)
        d2 = start_daemon(private_dir, "--state-dir", str(state))
        with d2.client() as c:
            listed = {p["id"]: p for p in c.call("process.list")}
            for i, p in enumerate(ran):
                assert (listed[p["id"]]["state"], listed[p["id"]]["exitcode"]) == ("exited", i % 5)
            for p in early:
                assert p["id"] not in listed, "a release made while the disk was full holds"
            assert fresh["id"] in listed
            assert c.call("process.create", {"target": None})["id"] > fresh["id"]
    finally:
        for daemon in (d, d2):
            if daemon is not None and daemon.proc.poll() is None:
                stop_daemon(daemon)


@pytest.mark.timeout(120)
def test_a_stop_that_cannot_write_leaves_the_exits_with_the_keeper(
    private_dir: Path, small_fs: Path
) -> None:
    state, d = serve_on(private_dir, small_fs)
    d2: Daemon | None = None
    keeper = None
    try:
        with d.client() as c:
            s = sleeper(c)
            wait_until(lambda: s["id"] in stored(state), timeout=15, what="the record on disk")
        keeper = keeper_pid(state)
        assert keeper is not None
        fill_disk(small_fs / "filler")
        assert stop_daemon(d) == 0, d.stderr()
        assert pid_gone(s["pid"]), "a stop stops the children, disk or no disk"
        assert "the keeper stays" in d.stderr()
        assert keeper_pid(state) == keeper, "the keeper holds the exit status the disk could not"
        os.unlink(small_fs / "filler")
        d2 = start_daemon(private_dir, "--state-dir", str(state))
        with d2.client() as c:
            got = c.call("process.join", {"id": s["id"]})
            assert (got["state"], got["exitcode"]) == ("exited", -signal.SIGTERM), got
    finally:
        if d2 is not None:
            stop_daemon(d2)
        if d.proc.poll() is None:
            stop_daemon(d)
        if keeper is not None and keeper_pid(state) == keeper:
            kill_pid(keeper)


# ---------------------------------------------------------------- a state file that cannot be read


def serve_once(private_dir: Path, state: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "supervisord_lite", "serve", "--socket", str(private_dir / "s"),
         "--state-dir", str(state)],
        capture_output=True, text=True, timeout=30, cwd=REPO, stdin=subprocess.DEVNULL,
        check=False,
    )  # fmt: skip


@pytest.mark.timeout(90)
@pytest.mark.parametrize("damage", ["not-a-database", "a-garbled-row"])
def test_a_state_file_that_cannot_be_read_is_a_clear_refusal(
    private_dir: Path, damage: str
) -> None:
    state = private_dir / "state"
    state.mkdir(mode=0o700)
    db = state / "state.sqlite3"
    if damage == "not-a-database":
        db.write_bytes(os.urandom(8192))
    else:
        SqliteStore(state).close()
        with sqlite3.connect(db) as conn:
            conn.execute("INSERT INTO process (key, doc) VALUES ('1', x'7b7b7b')")  # "{{{"
    db.chmod(0o600)
    done = serve_once(private_dir, state)
    assert done.returncode == 1, done
    assert f"the state file {db} cannot be used" in done.stderr, done.stderr
    assert "move it aside" in done.stderr and "Traceback" not in done.stderr
    wait_until(lambda: keeper_pid(state) is None, timeout=15, what="no keeper left running")
    # Moved aside, as the message says: the daemon starts with no records.
    for path in state.glob("state.sqlite3*"):
        path.rename(path.with_name("damaged-" + path.name))
    d = start_daemon(private_dir, "--state-dir", str(state))
    try:
        with d.client() as c:
            assert c.call("process.list") == []
    finally:
        stop_daemon(d)
