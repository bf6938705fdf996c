"""Caller identity: a supervised child (or a program it runs) that calls the daemon is that child —
its processes are its children (`Process-K:j`, parent K, K's authkey), and it cannot join itself."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import Daemon
from tests.test_wire_support import (
    PY,
    REPO,
    assert_error,
    assert_info,
    assert_nothing_lost,
    create,
    ctarget,
    join,
    start,
)
from tests.wire import RawClient

KEY = "5eed" * 8


def argv_rpc(out: Path, calls: list[list[Any]]) -> dict[str, Any]:
    """An argv target: a Python program (not a callable) that calls the daemon."""
    return {
        "argv": [PY, "-m", "tests.targets_for_tests", "rpc", str(out), json.dumps(calls)],
        "cwd": REPO,
    }


def run_caller(c: RawClient, target: dict[str, Any], args: list[Any] | None = None) -> Any:
    """Create the calling process as the daemon's third child (so K=3, under another name and
    authkey), run it, and return (its info, the responses it got)."""
    create(c)
    create(c)
    p = create(c, target=target, args=args or [])
    assert p["name"] == "Process-3"
    c.call("process.setName", {"id": p["id"], "name": "renamed"})
    c.call("process.setAuthKey", {"id": p["id"], "value": KEY})
    start(c, p["id"])
    done = join(c, p["id"])
    return done


CALLS: list[list[Any]] = [
    ["process.create", {}],
    ["process.getAuthKey", {"id": "$LAST"}],
    ["process.create", {"name": "mine"}],
    ["process.create", [None, [], {}, None, None]],
    ["process.join", {"id": "$SELF", "timeout": 0}],
    ["process.join", {"id": "$SELF", "timeout": None}],
    ["process.join", {"id": "$SELF"}],
    ["daemon.info", {}],
]


def check_caller_results(c: RawClient, p: dict[str, Any], responses: list[Any]) -> None:
    assert p["exitcode"] == 0, p
    assert len(responses) == len(CALLS), responses
    first, key, named, third, *joins, di = responses
    for r in (first, named, third):
        info = assert_info(r["result"])
        assert info["parent"] == p["id"], info
        assert info["state"] == "created", info
    # Numbering follows identity (Process-3), not the current name ("renamed").
    assert first["result"]["name"] == "Process-3:1"
    assert named["result"]["name"] == "mine"
    assert third["result"]["name"] == "Process-3:3"
    # Inherited the creator's key at creation (set after P was created, before it ran).
    assert key["result"] == KEY, key
    for j in joins:
        assert_error(j, 1008, j["id"])
    assert di["result"]["protocol_version"] == "1.1"
    # The daemon agrees on who is whose.
    listed = {i["id"]: i for i in c.call("process.list")}
    assert listed[first["result"]["id"]]["parent"] == p["id"]
    assert c.call("process.getAuthKey", {"id": third["result"]["id"]}) == KEY
    # The daemon's own numbering and key went on undisturbed.
    mine = create(c)
    assert mine["name"] == "Process-4" and mine["parent"] is None
    assert c.call("process.getAuthKey", {"id": mine["id"]}) != KEY


def test_argv_child_creating_processes(daemon: Daemon, c: RawClient, private_dir: Path) -> None:
    out = private_dir / "calls.json"
    p = run_caller(c, argv_rpc(out, CALLS))
    check_caller_results(c, p, json.loads(out.read_text()))
    assert_nothing_lost(daemon, c)


def test_callable_child_creating_processes(daemon: Daemon, c: RawClient, private_dir: Path) -> None:
    out = private_dir / "calls.json"
    p = run_caller(c, ctarget("rpc_calls"), [str(out), CALLS])
    check_caller_results(c, p, json.loads(out.read_text()))


def test_a_program_run_by_a_child_calls_as_that_child(c: RawClient, private_dir: Path) -> None:
    # The caller is an unsupervised subprocess of the supervised child: it acts as the child.
    out = private_dir / "calls.json"
    calls: list[list[Any]] = [
        ["process.create", {}],
        ["process.getAuthKey", {"id": "$LAST"}],
        ["process.join", {"id": "$PARENT", "timeout": 0}],  # the supervised child: itself
        ["process.join", {"id": "$PARENT"}],
    ]
    p = run_caller(c, ctarget("rpc_calls_from_grandchild"), [str(out), calls])
    assert p["exitcode"] == 0, p
    created, key, *joins = json.loads(out.read_text())
    info = assert_info(created["result"])
    assert info["parent"] == p["id"] and info["name"] == "Process-3:1", info
    assert key["result"] == KEY
    for j in joins:
        assert_error(j, 1008, j["id"])


def test_grandchildren_numbering_and_a_child_joining_its_parent(
    c: RawClient, private_dir: Path
) -> None:
    """P (Process-3) creates and starts Q (Process-3:1), which creates R (Process-3:1:1) and may
    join its parent P (no deadlock: it is another process) but not itself."""
    q_out, p_out = private_dir / "q.json", private_dir / "p.json"
    q_calls: list[list[Any]] = [
        ["process.create", {}],
        ["process.join", {"id": "$SUPER", "timeout": 0}],
        ["process.join", {"id": "$SELF", "timeout": 0}],
        ["process.info", {"id": "$SELF"}],
    ]
    p_calls: list[list[Any]] = [
        ["process.create", {"target": ctarget("rpc_calls"), "args": [str(q_out), q_calls]}],
        ["process.start", {"id": "$LAST"}],
        ["process.join", {"id": "$LAST", "timeout": 20}],
    ]
    p = run_caller(c, ctarget("rpc_calls"), [str(p_out), p_calls])
    assert p["exitcode"] == 0
    created_q, started_q, joined_q = json.loads(p_out.read_text())
    q = assert_info(created_q["result"])
    assert q["name"] == "Process-3:1" and q["parent"] == p["id"], q
    assert assert_info(started_q["result"])["state"] in ("running", "exited")
    assert assert_info(joined_q["result"])["exitcode"] == 0, joined_q

    created_r, q_joins_p, q_joins_q, q_self = json.loads(q_out.read_text())
    r = assert_info(created_r["result"])
    assert r["name"] == "Process-3:1:1" and r["parent"] == q["id"], r
    assert assert_info(q_self["result"])["id"] == q["id"]
    parent_now = assert_info(q_joins_p["result"])  # allowed: P is still running
    assert parent_now["id"] == p["id"] and parent_now["exitcode"] is None, parent_now
    assert_error(q_joins_q, 1008, q_joins_q["id"])
    # R inherited the key through P and Q.
    assert c.call("process.getAuthKey", {"id": r["id"]}) == KEY


def test_the_daemons_other_clients_are_not_children(daemon: Daemon, c: RawClient) -> None:
    with daemon.client() as other:
        a = create(other)
        b = create(c)
    assert a["parent"] is None and b["parent"] is None
    assert (a["name"], b["name"]) == ("Process-1", "Process-2")
