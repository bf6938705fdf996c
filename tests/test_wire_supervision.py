"""Supervision over the wire, on a real daemon with real children: programs and restarts, events,
captured output (process.logs, follow), tree signals and the daemon's own log lines."""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Daemon, start_daemon, stop_daemon
from tests.test_wire_support import assert_error, create, join, pid_gone, start
from tests.wire import RawClient, wait_until

FAST = {"restart_delay": 0.01, "restart_max_delay": 0.05, "healthy_after": 30, "stop_timeout": 5}


def events_until(c: RawClient, since: int, want: Any, timeout: float = 20) -> tuple[list[Any], int]:
    """Read events (server-side waits) until one matches `want(event)`; all read, and next."""
    seen: list[Any] = []
    cursor = since
    while not any(want(e) for e in seen):
        r = c.call("events.read", {"since": cursor, "timeout": timeout})
        assert r["events"], f"no event within {timeout}s after {cursor}; saw {seen}"
        seen += r["events"]
        cursor = r["next"]
    return seen, cursor


def now_seq(c: RawClient) -> int:
    return int(c.call("events.read", {"since": 0, "timeout": 0, "limit": 10000})["next"])


def test_a_crashing_program_restarts_then_fails_and_the_log_says_each_run(
    c: RawClient, daemon: Daemon
) -> None:
    since = now_seq(c)
    argv = ["sh", "-c", "exit 3"]
    st = c.call("program.add", {"name": "crasher", "target": {"argv": argv}, "max_restarts": 2,
                                **FAST})  # fmt: skip
    assert st["name"] == "crasher" and st["state"] in ("starting", "backoff")
    seen, _ = events_until(c, since, lambda e: e["type"] == "program.failed")
    types = [e["type"] for e in seen if e.get("program") == "crasher"]
    assert types.count("process.started") == 3 and types.count("program.restarting") == 2
    seqs = [e["seq"] for e in seen]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    st = c.call("program.status", {"name": "crasher"})
    assert (st["state"], st["runs"], st["restarts"], st["last_exitcode"]) == ("failed", 3, 2, 3)
    proc = st["process"]
    assert proc["program"] == "crasher" and proc["name"] == "crasher" and proc["argv"] == argv
    assert proc["started_at"] <= proc["exited_at"] and proc["exited_at"].endswith("Z")
    # One line per start and per exit: who, id, pid, code, run time.
    log = daemon.stderr()
    for run_ in c.call("process.list"):
        if run_["program"] == "crasher":
            assert f"program crasher started (id {run_['id']}, pid {run_['pid']})" in log
            assert re.search(
                rf"program crasher \(id {run_['id']}, pid {run_['pid']}\) exited with code 3 "
                r"after \d+\.\d{3}s",
                log,
            )
    # Started by hand, it runs again (a fresh window), and a stop disables the restarts.
    c.call("program.start", {"name": "crasher"})
    assert c.call("program.stop", {"name": "crasher"})["state"] == "stopped"


def test_stop_kills_the_tree_and_disables_restarts(c: RawClient) -> None:
    argv = ["sh", "-c", "sleep 1001 & echo $!; sleep 1002 & echo $!; wait"]
    c.call("program.add", {"name": "tree", "target": {"argv": argv}, "restart": "always", **FAST})
    logs = c.call("process.logs", {"program": "tree", "follow": True, "timeout": 20, "limit": 2})
    while len(logs["lines"]) < 2:
        more = c.call("process.logs", {"program": "tree", "cursor": logs["cursor"],
                                       "follow": True, "timeout": 20})  # fmt: skip
        logs["lines"] += more["lines"]
        logs["cursor"] = more["cursor"]
    sleeps = [int(line["text"]) for line in logs["lines"][:2]]
    since = now_seq(c)
    st = c.call("program.stop", {"name": "tree"})
    assert st["state"] == "stopped" and st["process"]["exitcode"] == -15
    wait_until(lambda: all(pid_gone(p) for p in sleeps), timeout=10, what="the sleeps to die")
    r = c.call("events.read", {"since": since, "timeout": 0.2})
    assert not [e for e in r["events"] if e["type"] == "process.started"]  # no restart
    c.call("program.remove", {"name": "tree"})
    assert_error(c.call_raw("program.status", {"name": "tree"}), 1014, c._next_id)


def test_terminate_reaches_the_whole_tree(c: RawClient) -> None:
    argv = ["sh", "-c", "sleep 1001 & echo $!; sleep 1002 & echo $!; wait"]
    p = create(c, target={"argv": argv})
    start(c, p["id"], output="log")
    lines: list[Any] = []
    cursor = 0
    while len(lines) < 2:
        r = c.call("process.logs", {"id": p["id"], "cursor": cursor, "follow": True, "timeout": 20})
        lines += r["lines"]
        cursor = r["cursor"]
    c.call("process.terminate", {"id": p["id"]})
    assert join(c, p["id"])["exitcode"] == -15
    pids = [int(line["text"]) for line in lines]
    wait_until(lambda: all(pid_gone(x) for x in pids), timeout=10, what="the sleeps to die")


def test_terminate_with_a_timeout_escalates_to_sigkill(c: RawClient) -> None:
    p = create(
        c, target={"argv": ["sh", "-c", "trap '' TERM; echo ready; while :; do sleep 1; done"]}
    )
    start(c, p["id"], output="log")
    r = c.call("process.logs", {"id": p["id"], "follow": True, "timeout": 20})
    assert r["lines"][0]["text"] == "ready"  # the trap is set
    info = c.call("process.terminate", {"id": p["id"], "timeout": 0.2})
    assert info["state"] == "exited" and info["exitcode"] == -9


def test_logs_capture_both_streams_binary_and_long_lines(c: RawClient) -> None:
    script = (
        "import sys, os\n"
        "print('out 1', flush=True)\n"
        "print('err 1', file=sys.stderr, flush=True)\n"
        "os.write(1, b'\\xff\\xfebin\\n')\n"
        "os.write(1, b'x' * 70000 + b'\\n')\n"
        "os.write(1, b'tail without newline')\n"
    )
    p = create(c, target={"argv": [os.environ.get("PYTHON", "python3"), "-c", script]})
    start(c, p["id"], output="log")
    join(c, p["id"])
    lines: list[Any] = []
    cursor, done = 0, False
    while not done:
        r = c.call("process.logs", {"id": p["id"], "cursor": cursor, "follow": True, "timeout": 20})
        lines += r["lines"]
        cursor, done = r["cursor"], r["done"]
    by_stream = {s: [x for x in lines if x["stream"] == s] for s in ("stdout", "stderr")}
    assert [x["text"] for x in by_stream["stderr"]] == ["err 1"]
    out = by_stream["stdout"]
    assert out[0]["text"] == "out 1" and out[0]["encoding"] == "utf-8"
    assert out[1]["encoding"] == "base64" and base64.b64decode(out[1]["text"]) == b"\xff\xfebin"
    pieces = [x for x in out[2:] if x["text"].startswith("x")]
    assert [x.get("partial", False) for x in pieces] == [True, False]  # split, not dropped
    assert "".join(x["text"] for x in pieces) == "x" * 70000
    assert out[-1] == {**out[-1], "text": "tail without newline", "partial": True}
    # Filtered by stream, from a cursor: the cursor covers what was skipped.
    r = c.call("process.logs", {"id": p["id"], "stream": "stderr"})
    assert [x["text"] for x in r["lines"]] == ["err 1"] and r["cursor"] == cursor


def test_follow_waits_for_the_next_line_and_resumes_from_its_cursor(
    c: RawClient, daemon: Daemon, tmp_path: Path
) -> None:
    fifo = tmp_path / "go"
    os.mkfifo(fifo)
    p = create(c, target={"argv": ["sh", "-c", f"echo first; read x < {fifo}; echo second"]})
    start(c, p["id"], output="log")
    r = c.call("process.logs", {"id": p["id"], "follow": True, "timeout": 20})
    assert [x["text"] for x in r["lines"]] == ["first"]
    with daemon.client() as other:  # a follow that waits on the server side
        other.send({"jsonrpc": "2.0", "id": 7, "method": "process.logs",
                    "params": {"id": p["id"], "cursor": r["cursor"], "follow": True,
                               "timeout": 20}})  # fmt: skip
        assert c.call("process.info", {"id": p["id"]})["state"] == "running"  # others go on
        with fifo.open("w") as f:
            f.write("go\n")
        got = other.recv()
    assert [x["text"] for x in got["result"]["lines"]] == ["second"]
    short = c.call("process.logs", {"id": p["id"], "cursor": got["result"]["cursor"],
                                    "follow": True, "timeout": 0.05})  # fmt: skip
    assert short["lines"] == [] and short["cursor"] == got["result"]["cursor"]


def test_logs_rotate_by_size_and_an_old_cursor_resumes_from_the_oldest_kept(c: RawClient) -> None:
    argv = ["sh", "-c", "i=0; while [ $i -lt 400 ]; do echo line-$i; i=$((i+1)); done"]
    st = c.call("program.add", {"name": "chatty", "target": {"argv": argv}, "restart": "no",
                                "log_max_bytes": 4096, "log_backups": 1, **FAST})  # fmt: skip
    pid = st["process"]["id"]
    join(c, pid)
    lines: list[Any] = []
    cursor, done = 0, False
    while not done:
        r = c.call("process.logs", {"id": pid, "cursor": cursor, "follow": True, "timeout": 20})
        lines += r["lines"]
        cursor, done = r["cursor"], r["done"]
    texts = [x["text"] for x in lines]
    assert texts[-1] == "line-399" and "line-0" not in texts  # the oldest were rotated away
    numbers = [int(t.split("-")[1]) for t in texts]
    assert numbers == list(range(numbers[0], 400))  # what is kept is whole and in order
    c.call("program.remove", {"name": "chatty"})


def test_logs_of_a_process_without_log_output_is_a_clear_error(c: RawClient) -> None:
    p = create(c, target={"argv": ["true"]})
    start(c, p["id"], output="null")
    err = assert_error(c.call_raw("process.logs", {"id": p["id"]}), -32602, c._next_id)
    assert 'output "log"' in err["message"]
    err = assert_error(c.call_raw("process.logs", {}), -32602, c._next_id)
    assert '"id"' in err["message"] and '"program"' in err["message"]
    c.call("program.add", {"name": "other", "target": {"argv": ["true"]}, "restart": "no"})
    err = assert_error(c.call_raw("process.logs", {"id": p["id"], "program": "other"}), -32602,
                       c._next_id)  # fmt: skip
    assert "not a run of program" in err["message"]


def test_following_a_program_goes_on_across_its_runs(c: RawClient) -> None:
    argv = ["sh", "-c", "echo run-$SUPERVISORD_LITE_PROCESS_ID; exit 1"]
    st = c.call("program.add", {"name": "runs", "target": {"argv": argv}, "max_restarts": 2,
                                **FAST})  # fmt: skip
    first = st["process"]["id"]
    texts, ids = [], []
    # From the first run by its id: without one, reading starts at the current run, which on a
    # loaded machine may already be the second (its restart delay is 10 ms).
    run_id, cursor, done = first, 0, False
    while not done:
        params = {"program": "runs", "id": run_id, "cursor": cursor, "follow": True, "timeout": 20}
        r = c.call("process.logs", params)
        texts += [x["text"] for x in r["lines"]]
        ids.append(r["id"])
        run_id, cursor, done = r["id"], r["cursor"], r["done"]
    assert texts == [f"run-{first}", f"run-{first + 1}", f"run-{first + 2}"]
    assert c.call("program.status", {"name": "runs"})["state"] == "failed"  # so it is done


def test_events_read_waits_on_the_server_for_the_next_event(c: RawClient, daemon: Daemon) -> None:
    since = now_seq(c)
    c.send({"jsonrpc": "2.0", "id": 99, "method": "events.read",
            "params": {"since": since, "timeout": 20}})  # fmt: skip
    with daemon.client() as other:
        p = create(other, target={"argv": ["true"]})
    got = c.recv()
    assert got["id"] == 99
    e = got["result"]["events"][0]
    assert (e["seq"], e["type"], e["id"]) == (since + 1, "process.created", p["id"])
    assert got["result"]["next"] == got["result"]["events"][-1]["seq"]
    err = assert_error(c.call_raw("events.read", {"since": since + 10**6}), -32602, c._next_id)
    assert err["data"] == {"newest": since + 1} or err["data"]["newest"] >= since + 1


def test_a_since_older_than_the_ring_is_events_expired(private_dir: Path) -> None:
    d = start_daemon(private_dir, "--event-ring", "5")
    try:
        with d.client() as c:
            for _ in range(4):
                create(c)  # 4 events (process.created)
            create(c)
            create(c)  # 6 events: seq 1 has left the ring
            err = assert_error(c.call_raw("events.read", {"since": 0}), 1015, c._next_id)
            assert err["data"] == {"oldest": 2}
            r = c.call("events.read", {"since": 1, "timeout": 0})
            assert [e["seq"] for e in r["events"]] == [2, 3, 4, 5, 6]
    finally:
        stop_daemon(d)


@pytest.mark.parametrize("mode", [(), ("--no-zygote",)], ids=["zygote", "no-zygote"])
def test_nothing_a_child_left_behind_outlives_the_daemon(
    private_dir: Path, mode: tuple[str, ...]
) -> None:
    d = start_daemon(private_dir, *mode)
    try:
        with d.client() as c:
            p = create(c, target={"argv": ["sh", "-c", "sleep 1003 & echo $!"]})
            start(c, p["id"], output="log")
            join(c, p["id"])
            r = c.call("process.logs", {"id": p["id"], "follow": True, "timeout": 20})
            orphan = int(r["lines"][0]["text"])
            assert not pid_gone(orphan)  # a natural exit leaves it running, as before
    finally:
        stop_daemon(d)
    wait_until(lambda: pid_gone(orphan), timeout=10, what="the orphan to die with the daemon")


@pytest.mark.parametrize("bad", [
    {"name": "", "target": {"argv": ["true"]}},
    {"name": "x y", "target": {"argv": ["true"]}},
    {"name": "ok", "target": {"argv": ["true"]}, "restart": "sometimes"},
    {"name": "ok", "target": {"argv": ["true"]}, "stop_signal": "SIGNOPE"},
    {"name": "ok", "target": {"argv": ["true"]}, "restart_delay": 5, "restart_max_delay": 1},
    {"name": "ok", "target": {"argv": ["true"]}, "bogus": 1},
])  # fmt: skip
def test_bad_program_specs_are_clear_errors_and_add_nothing(c: RawClient, bad: Any) -> None:
    err = assert_error(c.call_raw("program.add", bad), -32602, c._next_id)
    assert err["message"].startswith("Invalid params")
    assert c.call("program.list") == []


def test_a_reader_that_stops_reading_neither_slows_the_child_nor_the_others(
    c: RawClient, daemon: Daemon
) -> None:
    script = "import sys\nfor i in range(4000):\n    sys.stdout.write(f'{i:06d} ' + 'x' * 1000 + '\\n')\n"
    p = create(c, target={"argv": [os.environ.get("PYTHON", "python3"), "-c", script]})
    with daemon.client() as stalled:
        for i in range(10):  # asks for megabytes of log and never reads an answer
            stalled.send({"jsonrpc": "2.0", "id": i, "method": "process.logs",
                          "params": {"id": p["id"], "limit": 10000, "follow": True,
                                     "timeout": 20}})  # fmt: skip
        start(c, p["id"], output="log")
        assert join(c, p["id"])["exitcode"] == 0  # the child wrote 4 MB and ended
        count, cursor, done = 0, 0, False
        while not done:
            r = c.call("process.logs", {"id": p["id"], "cursor": cursor, "limit": 10000,
                                        "follow": True, "timeout": 20})  # fmt: skip
            count += len(r["lines"])
            cursor, done = r["cursor"], r["done"]
        assert count == 4000


def test_a_python_target_program_runs_as_its_own_process_each_time(c: RawClient) -> None:
    since = now_seq(c)
    st = c.call("program.add", {"name": "pyexit", "target": {"callable": "sys:exit"}, "args": [3],
                                "max_restarts": 1, **FAST})  # fmt: skip
    assert st["process"]["argv"] == ["sys:exit"]
    events_until(c, since, lambda e: e["type"] == "program.failed")
    st = c.call("program.status", {"name": "pyexit"})
    assert (st["state"], st["runs"], st["last_exitcode"]) == ("failed", 2, 3)
    bad = {"name": "argvkw", "target": {"argv": ["true"]}, "kwargs": {"a": 1}}
    assert_error(c.call_raw("program.add", bad), 1005, c._next_id)


def test_the_daemon_stop_escalates_each_program_with_its_own_timeout(private_dir: Path) -> None:
    d = start_daemon(private_dir, "--grace", "60")  # far longer than stop_daemon waits
    argv = ["sh", "-c", "trap '' TERM; echo ready; while :; do sleep 1; done"]
    try:
        with d.client() as c:
            spec = {**FAST, "name": "stubborn", "target": {"argv": argv}, "stop_timeout": 0.2}
            st = c.call("program.add", spec)
            r = c.call("process.logs", {"program": "stubborn", "follow": True, "timeout": 20})
            assert r["lines"][0]["text"] == "ready"
            pid = st["process"]["pid"]
    finally:
        assert stop_daemon(d) == 0  # not killed by stop_daemon's own deadline
    assert pid_gone(pid)
    assert "program stubborn (id 1, pid" in d.stderr() and "was killed by SIGKILL" in d.stderr()
