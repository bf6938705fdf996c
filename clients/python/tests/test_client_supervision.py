"""Programs, events and log following through the Python client, against a real daemon."""

from __future__ import annotations

import itertools

import pytest
from slc_daemon import Daemon
from supervisord_lite_client import (
    Command,
    EventsExpired,
    InvalidParams,
    NoSuchProgram,
    ProgramExists,
    ProgramStatus,
)
from supervisord_lite_client.errors import remote_error

FAST = {"restart_delay": 0.01, "restart_max_delay": 0.05, "healthy_after": 30, "stop_timeout": 5}


def test_programs_restart_and_fail_and_events_say_so(daemon: Daemon) -> None:
    with daemon.client() as c:
        since = c.events(timeout=0).batch()  # drain what happened before
        stream = c.events(since[-1].seq if since else 0, timeout=20)
        st = c.add_program("py-crash", Command(["sh", "-c", "exit 4"]), max_restarts=1, **FAST)
        assert isinstance(st, ProgramStatus) and st.name == "py-crash"
        assert st.process is not None and st.process.program == "py-crash"
        assert st.process.argv == ("sh", "-c", "exit 4") and st.process.started_at
        seen = []
        for event in itertools.islice(stream, 200):  # bounded; ends at program.failed
            seen.append(event)
            if event.type == "program.failed":
                break
        assert [e.seq for e in seen] == sorted({e.seq for e in seen})
        assert any(e.type == "program.restarting" for e in seen)
        status = c.program("status", "py-crash")
        assert (status.state, status.runs, status.restarts, status.last_exitcode) == (
            "failed", 2, 1, 4)  # fmt: skip
        with pytest.raises(ProgramExists):
            c.add_program("py-crash", Command(["true"]))
        c.remove_program("py-crash")
        with pytest.raises(NoSuchProgram):
            c.program("status", "py-crash")
        assert "py-crash" not in [p.name for p in c.list_programs()]


def test_follow_logs_iterates_until_the_output_ends_and_resumes_by_cursor(daemon: Daemon) -> None:
    script = "for i in 1 2 3; do echo line-$i; done; printf '\\377\\n' >&2"
    with daemon.client() as c:
        c.add_program("py-logs", Command(["sh", "-c", script]), restart="no", **FAST)
        follower = c.follow_logs(program="py-logs", timeout=20)
        lines = list(follower)  # ends: the program exited and every line was read
        assert [x.text for x in lines if x.stream == "stdout"] == ["line-1", "line-2", "line-3"]
        err = [x for x in lines if x.stream == "stderr"]
        assert err[0].encoding == "base64" and err[0].data == b"\xff"
        again = c.follow_logs(program="py-logs", cursor=follower.cursor, timeout=1)
        assert list(again) == [] and again.cursor == follower.cursor
        c.remove_program("py-logs")


def test_event_errors_are_typed(daemon: Daemon) -> None:
    error = remote_error(1015, "gone", {"oldest": 5}, "events.read")
    assert isinstance(error, EventsExpired) and error.oldest == 5
    with daemon.client() as c:
        newest = c.events(0, timeout=0)
        newest.batch()
        with pytest.raises(InvalidParams):  # a seq from no history of this daemon
            c.events(newest.next + 10**6, timeout=0).batch()


def test_a_program_follower_goes_on_across_runs(daemon: Daemon) -> None:
    argv = ["sh", "-c", "echo run-$SUPERVISORD_LITE_PROCESS_ID; exit 1"]
    with daemon.client() as c:
        st = c.add_program("py-runs", Command(argv), max_restarts=1, **FAST)
        assert st.process is not None
        # From the first run by its id (the current run may already be the next one).
        follower = c.follow_logs(st.process.id, program="py-runs", timeout=20)
        texts = [line.text for line in follower]  # ends: the program failed, all runs read
        assert len(texts) == 2 and texts[0] == f"run-{st.process.id}"
        assert follower.run_id is not None and follower.run_id > st.process.id
        c.remove_program("py-runs")
