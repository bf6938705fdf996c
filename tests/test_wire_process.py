"""Process objects over the wire: the methods table, ProcessInfo, targets, and the `processing`
rules (names, authkeys, start/join/terminate/kill), each error followed by proof nothing was lost."""

from __future__ import annotations

import array
import json
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Daemon
from tests.test_wire_support import (
    HEX,
    PY,
    REPO,
    assert_error,
    assert_info,
    assert_nothing_lost,
    assert_result,
    create,
    ctarget,
    join,
    kill_pid,
    pid_exists,
    recv_by_id,
    request,
    run,
    running_daemon,
    sleeper,
    start,
)
from tests.wire import RawClient, wait_until

METHODS = {
    "process.create",
    "process.start",
    "process.join",
    "process.getName",
    "process.setName",
    "process.getAuthKey",
    "process.setAuthKey",
    "process.info",
    "process.list",
    "process.terminate",
    "process.kill",
    "process.release",
    "daemon.info",
    "rpc.discover",
}


@pytest.fixture
def bystander(c: RawClient) -> Iterator[dict[str, Any]]:
    info = sleeper(c)
    yield info
    kill_pid(info["pid"])


def err_of(c: RawClient, method: str, params: Any) -> dict[str, Any]:
    resp = c.call_raw(method, params)
    assert "error" in resp, resp
    return resp


# ---------------------------------------------------------------- daemon.info, rpc.discover, info


def test_daemon_info(daemon: Daemon, c: RawClient) -> None:
    di = c.call("daemon.info")
    assert set(di) == {"version", "protocol_version", "pid"}, di
    assert di["protocol_version"] == "1.1"
    assert isinstance(di["version"], str) and di["version"]
    assert di["pid"] == daemon.proc.pid


def test_rpc_discover_lists_every_method(c: RawClient) -> None:
    doc = c.call("rpc.discover")
    assert isinstance(doc, dict) and "openrpc" in doc, doc
    names = {m["name"] for m in doc["methods"]}
    assert METHODS - {"rpc.discover"} <= names, METHODS - names


def test_process_info_fields_through_a_life(c: RawClient) -> None:
    p = create(c)
    assert p == {
        "id": p["id"],
        "name": p["name"],
        "parent": None,
        "state": "created",
        "pid": None,
        "exitcode": None,
        "program": None,
        "argv": [],
        "started_at": None,
        "exited_at": None,
    }
    assert c.call("process.info", {"id": p["id"]}) == p
    s = sleeper(c)
    assert s["argv"] == ["sleep", "1000"] and s["started_at"] and s["exited_at"] is None
    try:
        assert s["exitcode"] is None and pid_exists(s["pid"])
        # The pid is the program's own. start answers once the child's exec has begun (vfork
        # returns there); the kernel fills /proc/PID/cmdline a moment later, as the new image
        # is set up, so a read in that window sees it empty: wait for it, then check it.
        cmdline = Path(f"/proc/{s['pid']}/cmdline")
        wait_until(lambda: cmdline.read_bytes() != b"", timeout=10, what="the program's cmdline")
        assert b"1000" in cmdline.read_bytes().split(b"\0"), cmdline.read_bytes()
        running = assert_info(c.call("process.info", {"id": s["id"]}))
        assert running["state"] == "running" and running["pid"] == s["pid"]
    finally:
        killed = assert_info(c.call("process.kill", {"id": s["id"]}))
        assert killed["id"] == s["id"]
    done = join(c, s["id"])
    assert done["pid"] == s["pid"] and done["exitcode"] == -9
    assert done["started_at"] == s["started_at"] and done["exited_at"] >= done["started_at"]
    assert c.call("process.info", {"id": s["id"]}) == done


def test_list_is_every_process_by_id(c: RawClient) -> None:
    assert c.call("process.list") == []
    made = [create(c, name=f"n{i}") for i in range(4)]
    listed = c.call("process.list")
    assert [assert_info(i)["id"] for i in listed] == sorted(p["id"] for p in made)
    assert {i["name"] for i in listed} == {"n0", "n1", "n2", "n3"}


def test_authkey_never_appears_in_process_info(c: RawClient) -> None:
    p = create(c)
    key = c.call("process.getAuthKey", {"id": p["id"]})
    c.call("process.start", {"id": p["id"], "output": "null"})
    texts = [
        json.dumps(c.call_raw(m, {"id": p["id"]}))
        for m in ("process.info", "process.join", "process.terminate", "process.kill")
    ]
    texts.append(json.dumps(c.call_raw("process.list")))
    texts.append(json.dumps(c.call_raw("process.create", {"name": "x"})))
    for t in texts:
        assert key not in t and "authkey" not in t.lower(), t


# ---------------------------------------------------------------- ids and names


def test_ids_are_positive_distinct_and_never_reused(c: RawClient) -> None:
    seen: set[int] = set()
    for _ in range(3):
        p = run(c, target=None)  # created, started, ended
        assert p["id"] > 0 and p["id"] not in seen, (p, seen)
        seen.add(p["id"])
    for _ in range(3):
        p = create(c)
        assert p["id"] > 0 and p["id"] not in seen, (p, seen)
        seen.add(p["id"])
    assert {i["id"] for i in c.call("process.list")} == seen


def test_default_names_follow_creation_order(c: RawClient) -> None:
    made = [create(c) for _ in range(3)]
    assert [p["name"] for p in made] == ["Process-1", "Process-2", "Process-3"]
    # A named process still takes its number (numbering follows identity, not the name).
    assert create(c, name="custom")["name"] == "custom"
    assert create(c, name=None)["name"] == "Process-5"
    # Renaming does not change the numbering either.
    c.call("process.setName", {"id": made[0]["id"], "name": "Process-9"})
    assert create(c)["name"] == "Process-6"


def test_a_failed_create_takes_no_number(c: RawClient) -> None:
    assert create(c)["name"] == "Process-1"
    assert_error(err_of(c, "process.create", {"group": "g"}), 1004, c._next_id)
    assert_error(err_of(c, "process.create", {"target": {"bogus": 1}}), 1005, c._next_id)
    assert create(c)["name"] == "Process-2"
    assert len(c.call("process.list")) == 2


def test_set_and_get_name(c: RawClient) -> None:
    p = create(c)
    q = create(c)
    assert c.call("process.setName", {"id": p["id"], "name": "worker"}) is None
    assert c.call("process.getName", {"id": p["id"]}) == "worker"
    assert c.call("process.info", {"id": p["id"]})["name"] == "worker"
    assert c.call("process.getName", {"id": q["id"]}) == q["name"]  # only that one changed
    # Names are not unique, and any string goes.
    assert c.call("process.setName", {"id": q["id"], "name": "worker"}) is None
    assert [i["name"] for i in c.call("process.list")] == ["worker", "worker"]
    assert c.call("process.setName", {"id": q["id"], "name": ""}) is None
    assert c.call("process.getName", {"id": q["id"]}) == ""
    assert create(c, name="worker")["name"] == "worker"


def test_group_must_be_null(daemon: Daemon, c: RawClient, bystander: dict[str, Any]) -> None:
    before = c.call("process.list")
    for group in ("g", 0, {}, [], False):
        assert_error(err_of(c, "process.create", {"group": group}), 1004, c._next_id)
    assert c.call("process.list") == before
    assert create(c, group=None)["state"] == "created"
    assert_nothing_lost(daemon, c, bystander=bystander)


# ---------------------------------------------------------------- authkeys


def test_authkeys(daemon: Daemon, c: RawClient, private_dir: Path) -> None:
    p, q = create(c), create(c)
    kp = c.call("process.getAuthKey", {"id": p["id"]})
    kq = c.call("process.getAuthKey", {"id": q["id"]})
    # The daemon's key, inherited by both: random lowercase hex from os.urandom.
    assert kp == kq
    assert isinstance(kp, str) and HEX.match(kp) and len(kp) >= 32, kp
    # setAuthKey(string) sets that one process's key only.
    assert c.call("process.setAuthKey", {"id": p["id"], "value": "00ff00ff"}) is None
    assert c.call("process.getAuthKey", {"id": p["id"]}) == "00ff00ff"
    assert c.call("process.getAuthKey", {"id": q["id"]}) == kq
    # New processes of the daemon still get the daemon's key.
    assert c.call("process.getAuthKey", {"id": create(c)["id"]}) == kq
    # setAuthKey(null) draws a new random key.
    assert c.call("process.setAuthKey", {"id": q["id"], "value": None}) is None
    new = c.call("process.getAuthKey", {"id": q["id"]})
    assert isinstance(new, str) and HEX.match(new) and new != kq, (new, kq)
    assert c.call("process.setAuthKey", [q["id"], None]) is None
    assert c.call("process.getAuthKey", {"id": q["id"]}) not in (new, kq)
    assert c.call("process.getAuthKey", {"id": create(c)["id"]}) == kq
    # Another daemon draws another key.
    other_dir = private_dir / "other"
    other_dir.mkdir()
    with running_daemon(other_dir) as d2, d2.client() as c2:
        k2 = c2.call("process.getAuthKey", {"id": create(c2)["id"]})
    assert HEX.match(k2) and k2 != kq


def test_child_sees_its_name_and_authkey(c: RawClient, private_dir: Path) -> None:
    out = private_dir / "rec.json"
    p = create(c, target=ctarget("record"), args=[str(out)])
    c.call("process.setName", {"id": p["id"], "name": "renamed-before-start"})
    c.call("process.setAuthKey", {"id": p["id"], "value": "a1b2c3d4"})
    start(c, p["id"], "null")
    assert join(c, p["id"])["exitcode"] == 0
    rec = json.loads(out.read_text())
    assert rec["name"] == "renamed-before-start"
    # The key as bytes: either the hex decoded, or the hex string's own bytes.
    assert "a1b2c3d4" in (rec["authkey_hex"], rec["authkey_text"]), rec


# ---------------------------------------------------------------- start and join


def test_start_twice(daemon: Daemon, c: RawClient) -> None:
    s = sleeper(c)
    try:
        assert_error(err_of(c, "process.start", {"id": s["id"]}), 1002, c._next_id)
        now = c.call("process.info", {"id": s["id"]})
        assert now["state"] == "running" and now["pid"] == s["pid"], now
        assert pid_exists(s["pid"])
    finally:
        c.call("process.kill", {"id": s["id"]})
    join(c, s["id"])
    assert_error(err_of(c, "process.start", {"id": s["id"]}), 1002, c._next_id)
    assert c.call("process.info", {"id": s["id"]})["exitcode"] == -9
    assert_nothing_lost(daemon, c)


@pytest.mark.parametrize(
    ("target", "start_code", "exitcode"),
    [
        ({"argv": ["sh", "-c", "exit 3"]}, None, 3),  # a program: start never waits
        (ctarget("exit_with"), None, 4),  # a Python target: start waits for its load report
        ({"argv": ["/nonexistent/program-xyz"]}, 1006, None),  # fails: the join sees it fail
    ],
    ids=["program", "python", "spawn-failed"],
)
def test_start_and_join_sent_together_are_taken_in_order(
    c: RawClient, target: dict[str, Any], start_code: int | None, exitcode: int | None
) -> None:
    """PROTOCOL.md: requests on one connection are taken in arrival order, each up to its first
    wait, so a join pipelined right behind a start sees that start."""
    args = [4] if "callable" in target else []
    p = create(c, target=target, args=args)
    c.send_raw(
        json.dumps(request("process.start", {"id": p["id"]}, id="s")).encode()
        + b"\n"
        + json.dumps(request("process.join", {"id": p["id"], "timeout": 20}, id="j")).encode()
        + b"\n"
    )
    replies = recv_by_id(c, 2)
    if start_code is None:
        started = assert_result(replies["s"], "s")
        assert started["state"] in ("running", "exited"), started
        joined = assert_result(replies["j"], "j")
        assert joined["state"] == "exited" and joined["exitcode"] == exitcode, joined
    else:
        assert_error(replies["s"], start_code, "s")
        assert_error(replies["j"], 1003, "j")  # not started: the start had failed


def test_join_before_start(daemon: Daemon, c: RawClient, bystander: dict[str, Any]) -> None:
    p = create(c)
    assert_error(err_of(c, "process.join", {"id": p["id"]}), 1003, c._next_id)
    assert_error(err_of(c, "process.join", {"id": p["id"], "timeout": 0}), 1003, c._next_id)
    assert c.call("process.info", {"id": p["id"]})["state"] == "created"
    start(c, p["id"])  # still startable
    assert join(c, p["id"])["exitcode"] == 0
    assert_nothing_lost(daemon, c, bystander=bystander)


def test_join_many_times(c: RawClient) -> None:
    p = run(c, target=ctarget("exit_with"), args=[3])
    assert p["exitcode"] == 3
    for timeout in (None, 0, 5):
        again = assert_info(c.call("process.join", {"id": p["id"], "timeout": timeout}))
        assert again == p


def test_join_with_timeout_while_running(c: RawClient) -> None:
    s = sleeper(c)
    try:
        for timeout in (0, 0.05):
            info = assert_info(c.call("process.join", {"id": s["id"], "timeout": timeout}))
            assert info["exitcode"] is None and info["state"] == "running", info
            assert info["pid"] == s["pid"]
    finally:
        c.call("process.kill", {"id": s["id"]})
    assert join(c, s["id"])["exitcode"] == -9


def _pending_join(conn: RawClient, pid: int, tag: str) -> None:
    """Send a join without timeout and prove the daemon has it and is holding it: a request sent
    after it on the same connection is answered while the join is not."""
    conn.send(request("process.join", {"id": pid, "timeout": None}, id=f"join-{tag}"))
    conn.send(request("process.getName", {"id": pid}, id=f"probe-{tag}"))
    first = conn.recv()
    assert first.get("id") == f"probe-{tag}", f"join answered before the process ended: {first}"


@pytest.mark.parametrize(("method", "code"), [("process.kill", -9), ("process.terminate", -15)])
def test_many_clients_join_one_process(daemon: Daemon, method: str, code: int) -> None:
    conns = [daemon.client() for _ in range(4)]
    try:
        s = sleeper(conns[0])
        for i, conn in enumerate(conns[1:]):
            _pending_join(conn, s["id"], str(i))
        # Two joins pending on one connection as well.
        _pending_join(conns[1], s["id"], "again")
        info = assert_info(conns[0].call(method, {"id": s["id"]}))
        assert info["id"] == s["id"]
        for i, conn in enumerate(conns[1:]):
            ids = [f"join-{i}"] + (["join-again"] if i == 0 else [])
            got = recv_by_id(conn, len(ids))
            for rid in ids:
                done = assert_info(assert_result(got[rid], rid))
                assert done["exitcode"] == code and done["state"] == "exited", done
        assert join(conns[0], s["id"])["exitcode"] == code
        wait_until(lambda: not pid_exists(s["pid"]), timeout=10, what="the child to be reaped")
    finally:
        for conn in conns:
            conn.close()


def test_client_disconnecting_while_its_join_waits(daemon: Daemon, c: RawClient) -> None:
    s = sleeper(c)
    try:
        leaver = daemon.client()
        _pending_join(leaver, s["id"], "leaver")
        leaver.close()
        # The process is untouched by the client leaving; another client joins it.
        still = assert_info(c.call("process.join", {"id": s["id"], "timeout": 0}))
        assert still["state"] == "running" and still["exitcode"] is None, still
        with daemon.client() as other:
            _pending_join(other, s["id"], "other")
            c.call("process.terminate", {"id": s["id"]})
            done = assert_info(assert_result(other.recv(), "join-other"))
            assert done["exitcode"] == -15
            assert other.call("daemon.info")["pid"] == daemon.proc.pid
    finally:
        kill_pid(s["pid"])
    assert_nothing_lost(daemon, c)


def test_terminate_and_kill_leave_an_ended_process_alone(c: RawClient) -> None:
    p = run(c, target=None)
    assert p["exitcode"] == 0
    for method in ("process.terminate", "process.kill"):
        info = assert_info(c.call(method, {"id": p["id"]}))
        assert info == p, info
    assert c.call("process.info", {"id": p["id"]}) == p


def test_signal_exit_codes(c: RawClient) -> None:
    a, b = sleeper(c), sleeper(c)
    try:
        c.call("process.kill", {"id": a["id"]})
        c.call("process.terminate", {"id": b["id"]})
        assert join(c, a["id"])["exitcode"] == -9
        assert join(c, b["id"])["exitcode"] == -15
    finally:
        kill_pid(a["pid"])
        kill_pid(b["pid"])


@pytest.mark.parametrize(
    ("method", "extra"),
    [
        ("process.start", {}),
        ("process.join", {}),
        ("process.join", {"timeout": 0}),
        ("process.getName", {}),
        ("process.setName", {"name": "x"}),
        ("process.getAuthKey", {}),
        ("process.setAuthKey", {"value": "ab"}),
        ("process.setAuthKey", {"value": None}),
        ("process.info", {}),
        ("process.terminate", {}),
        ("process.kill", {}),
    ],
)
def test_unknown_id(
    daemon: Daemon, c: RawClient, bystander: dict[str, Any], method: str, extra: dict[str, Any]
) -> None:
    missing = bystander["id"] + 1000
    err = assert_error(err_of(c, method, {"id": missing, **extra}), 1001, c._next_id)
    assert err.get("data") == {"id": missing}, err
    assert_nothing_lost(daemon, c, bystander=bystander)


# ---------------------------------------------------------------- targets


def test_null_and_absent_target_exit_0(c: RawClient) -> None:
    assert run(c, target=None)["exitcode"] == 0
    assert run(c)["exitcode"] == 0


def test_callable_with_args_and_kwargs(c: RawClient, private_dir: Path) -> None:
    out = private_dir / "rec.json"
    p = run(
        c,
        target=ctarget("record"),
        args=[str(out), 1, "two", [3], {"four": 4}, None],
        kwargs={"k": "v", "n": 2.5, "nested": {"a": [True, False]}},
    )
    assert p["exitcode"] == 0
    rec = json.loads(out.read_text())
    assert rec["args"] == [1, "two", [3], {"four": 4}, None]
    assert rec["kwargs"] == {"k": "v", "n": 2.5, "nested": {"a": [True, False]}}
    assert rec["stdin"] == "/dev/null"


def test_callable_exception_exit_1_and_traceback_on_stderr(daemon: Daemon, c: RawClient) -> None:
    marker = uuid.uuid4().hex
    p = run(c, output="daemon", target=ctarget("fail"), args=[marker])
    assert p["exitcode"] == 1

    def traceback_logged() -> bool:
        err = daemon.stderr()
        return "Traceback" in err and f"ValueError: target failed on purpose: {marker}" in err

    wait_until(traceback_logged, timeout=10, what="the child's traceback on the daemon's stderr")


@pytest.mark.parametrize("code", [0, 3, 42, 255])
def test_callable_system_exit(c: RawClient, code: int) -> None:
    assert run(c, target=ctarget("exit_with"), args=[code])["exitcode"] == code


def test_argv_args_appended(c: RawClient, private_dir: Path) -> None:
    out = private_dir / "argv.json"
    code = "import sys, json; open(sys.argv[1], 'w').write(json.dumps(sys.argv[2:]))"
    p = run(c, target={"argv": [PY, "-c", code, str(out)]}, args=["a", "b c", "-x", ""])
    assert p["exitcode"] == 0
    assert json.loads(out.read_text()) == ["a", "b c", "-x", ""]


def test_argv_exit_status(c: RawClient) -> None:
    assert run(c, target={"argv": ["sh", "-c", "exit 7"]})["exitcode"] == 7
    assert run(c, target={"argv": ["true"]})["exitcode"] == 0  # found in PATH


def test_argv_with_kwargs_is_bad_target(
    daemon: Daemon, c: RawClient, bystander: dict[str, Any]
) -> None:
    before = c.call("process.list")
    resp = err_of(c, "process.create", {"target": {"argv": ["true"]}, "kwargs": {"a": 1}})
    assert_error(resp, 1005, c._next_id)
    assert c.call("process.list") == before
    assert_nothing_lost(daemon, c, bystander=bystander)


@pytest.mark.parametrize(
    "target",
    [
        {"argv": []},
        {"callable": "no_colon_here"},
        {"callable": "tests.targets_for_tests:"},
        {"callable": ":fail"},
        {"shell": "true"},
        {},
        {"argv": ["true"], "callable": "tests.targets_for_tests:fail"},
    ],
    ids=lambda t: json.dumps(t),
)
def test_malformed_targets(
    daemon: Daemon, c: RawClient, bystander: dict[str, Any], target: dict[str, Any]
) -> None:
    before = c.call("process.list")
    assert_error(err_of(c, "process.create", {"target": target}), 1005, c._next_id)
    assert c.call("process.list") == before
    assert_nothing_lost(daemon, c, bystander=bystander)


def test_pickle_that_cannot_be_loaded(
    daemon: Daemon, c: RawClient, bystander: dict[str, Any]
) -> None:
    # Not base64 at all: malformed at create (1005), or unloadable in the child at start (1007).
    resp = c.call_raw("process.create", {"target": {"pickle": "not base64 !!!", "main_path": None}})
    if "error" in resp:
        assert_error(resp, 1005, c._next_id)
    else:
        pid = assert_info(resp["result"])["id"]
        assert_error(err_of(c, "process.start", {"id": pid}), 1007, c._next_id)
        assert join(c, pid)["exitcode"] == 1
    # Base64 of bytes that are not a pickle: fails in the child, never in the daemon.
    p = create(c, target={"pickle": "bm90IGEgcGlja2xl", "main_path": None})
    assert_error(err_of(c, "process.start", {"id": p["id"]}), 1007, c._next_id)
    assert join(c, p["id"])["exitcode"] == 1
    assert_nothing_lost(daemon, c, bystander=bystander)


def test_pickle_target_with_args_is_bad_target(c: RawClient) -> None:
    resp = err_of(
        c,
        "process.create",
        {"target": {"pickle": "gASVAAAAAAAAAAAu", "main_path": None}, "args": [1]},
    )
    assert_error(resp, 1005, c._next_id)


def test_env_and_cwd_for_argv(daemon: Daemon, c: RawClient, private_dir: Path) -> None:
    out = private_dir / "env.json"
    work = private_dir / "work dir"
    work.mkdir()
    code = (
        "import os, sys, json; open(sys.argv[1], 'w').write(json.dumps("
        "{'cwd': os.getcwd(), 'env': dict(os.environ), 'stdin': os.readlink('/proc/self/fd/0')}))"
    )
    target = {
        "argv": [PY, "-c", code, str(out)],
        "env": {"SL_TEST_VAR": "välue with spaces", "HOME": None},
        "cwd": str(work),
    }
    assert run(c, target=target)["exitcode"] == 0
    rec = json.loads(out.read_text())
    assert rec["cwd"] == str(work)
    assert rec["env"]["SL_TEST_VAR"] == "välue with spaces"
    assert "HOME" not in rec["env"]
    assert "PATH" in rec["env"]  # merged into the daemon's environment, not replacing it
    assert rec["env"]["SUPERVISORD_LITE_SOCKET"] == str(daemon.socket_path)
    assert rec["stdin"] == "/dev/null"


def test_env_and_cwd_for_callable(daemon: Daemon, c: RawClient, private_dir: Path) -> None:
    out = private_dir / "rec.json"
    work = private_dir / "elsewhere"
    work.mkdir()
    target = ctarget("record", env={"SL_TEST_VAR": "x=y", "HOME": None}, cwd=str(work))
    assert run(c, target=target, args=[str(out)])["exitcode"] == 0
    rec = json.loads(out.read_text())
    assert rec["cwd"] == str(work)
    assert rec["env"]["SL_TEST_VAR"] == "x=y"
    assert "HOME" not in rec["env"] and "PATH" in rec["env"]
    assert rec["env"]["SUPERVISORD_LITE_SOCKET"] == str(daemon.socket_path)


def test_sys_path_is_prepended_for_python_targets(c: RawClient, private_dir: Path) -> None:
    # From a cwd where `tests` is not importable, sys_path makes the target loadable.
    out = private_dir / "rec.json"
    target = {"callable": "tests.targets_for_tests:record", "sys_path": [REPO], "cwd": "/"}
    assert run(c, target=target, args=[str(out)])["exitcode"] == 0
    assert json.loads(out.read_text())["cwd"] == "/"


@pytest.mark.parametrize(
    "target",
    [
        {"argv": ["/nonexistent/program-xyz"]},
        {"argv": ["no-such-program-in-path-xyz"]},
        {"argv": ["/etc/hostname"]},  # exists, not executable
        {"argv": ["true"], "cwd": "/nonexistent/dir"},
        {"callable": "tests.targets_for_tests:record", "cwd": "/nonexistent/dir"},
    ],
    ids=["missing", "not-in-path", "not-executable", "argv-bad-cwd", "callable-bad-cwd"],
)
def test_spawn_failed(
    daemon: Daemon, c: RawClient, bystander: dict[str, Any], target: dict[str, Any]
) -> None:
    p = create(c, target=target)
    assert_error(err_of(c, "process.start", {"id": p["id"]}), 1006, c._next_id)
    info = c.call("process.info", {"id": p["id"]})
    assert info["state"] == "created" and info["pid"] is None and info["exitcode"] is None, info
    # Still `created`: starting again is tried again (not AlreadyStarted).
    assert_error(err_of(c, "process.start", {"id": p["id"]}), 1006, c._next_id)
    assert_error(err_of(c, "process.join", {"id": p["id"]}), 1003, c._next_id)
    # The daemon goes on: other processes still start and run.
    assert run(c, target={"argv": ["true"]})["exitcode"] == 0
    assert_nothing_lost(daemon, c, bystander=bystander)


@pytest.mark.parametrize(
    "ref",
    ["no_such_module_xyz:f", "tests.targets_for_tests:no_such_function", "tests.no_such_mod:f"],
)
def test_target_that_cannot_be_imported(
    daemon: Daemon, c: RawClient, bystander: dict[str, Any], ref: str
) -> None:
    p = create(c, target={"callable": ref, "sys_path": [REPO]})
    assert_error(err_of(c, "process.start", {"id": p["id"]}), 1007, c._next_id)
    info = join(c, p["id"], timeout=20)
    assert info["state"] == "exited" and info["exitcode"] == 1, info
    wait_until(
        lambda: "Traceback" in daemon.stderr(),
        timeout=10,
        what="the import traceback on the child's stderr",
    )
    assert_error(err_of(c, "process.start", {"id": p["id"]}), 1002, c._next_id)
    assert run(c, target=ctarget("exit_with"), args=[5])["exitcode"] == 5
    assert_nothing_lost(daemon, c, bystander=bystander)


# ---------------------------------------------------------------- output


def test_output_daemon_and_null(daemon: Daemon, c: RawClient) -> None:
    shown, hidden = uuid.uuid4().hex, uuid.uuid4().hex
    assert run(c, output="null", target=ctarget("say"), args=[hidden])["exitcode"] == 0
    assert run(c, output="daemon", target=ctarget("say"), args=[shown])["exitcode"] == 0
    wait_until(
        lambda: f"stdout:{shown}" in daemon.stderr() and f"stderr:{shown}" in daemon.stderr(),
        timeout=10,
        what="the child's stdout and stderr on the daemon's stderr",
    )
    assert hidden not in daemon.stderr()


def _send_with_fds(c: RawClient, req: dict[str, Any], fds: list[int]) -> None:
    data = json.dumps(req).encode() + b"\n"
    anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds).tobytes())]
    assert c.sock.sendmsg([data], anc) == len(data)


def test_output_passed(daemon: Daemon, c: RawClient) -> None:
    marker = uuid.uuid4().hex
    p = create(c, target=ctarget("say"), args=[marker])
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        _send_with_fds(
            c, request("process.start", {"id": p["id"], "output": "passed"}, id="s"), [out_w, err_w]
        )
        assert assert_info(assert_result(c.recv(), "s"))["id"] == p["id"]
        os.close(out_w)
        os.close(err_w)
        out_w = err_w = -1
        assert join(c, p["id"])["exitcode"] == 0
        # The daemon closed its copies too, so the pipes reach EOF once the child has ended.
        with os.fdopen(out_r, "rb") as fo, os.fdopen(err_r, "rb") as fe:
            out_r = err_r = -1
            assert fo.read().decode() == f"stdout:{marker}\n"
            assert fe.read().decode() == f"stderr:{marker}\n"
    finally:
        for fd in (out_r, out_w, err_r, err_w):
            if fd >= 0:
                os.close(fd)


def test_output_passed_without_fds(daemon: Daemon, c: RawClient, bystander: dict[str, Any]) -> None:
    p = create(c, target=None)
    assert_error(err_of(c, "process.start", {"id": p["id"], "output": "passed"}), 1011, c._next_id)
    assert c.call("process.info", {"id": p["id"]})["state"] == "created"
    # One fd is not two either.
    r, w = os.pipe()
    try:
        _send_with_fds(
            c, request("process.start", {"id": p["id"], "output": "passed"}, id="one"), [w]
        )
        assert_error(c.recv(), 1011, "one")
    finally:
        os.close(r)
        os.close(w)
    assert c.call("process.info", {"id": p["id"]})["state"] == "created"
    start(c, p["id"], "null")
    assert join(c, p["id"])["exitcode"] == 0
    assert_nothing_lost(daemon, c, bystander=bystander)
