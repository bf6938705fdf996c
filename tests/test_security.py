"""The security model beyond one uid (docs/security.md), with a second user made for the test:
--allow-group lets a group member connect; it sees and controls only its own processes, unless it
proves a key (daemon.authenticate); keys go to no other uid; its children run as itself."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, Daemon, OtherUser, launch_daemon
from tests.wire import RawClient, terminate, wait_until

SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin:/bin")  # readable by any user


@pytest.fixture
def shared(private_dir: Path, other_user: OtherUser) -> Iterator[Path]:
    """A root daemon with --allow-group of the other user's group; its socket."""
    if SYSTEM_PYTHON is None:
        pytest.skip("needs a python3 in /usr/bin that another user may run")
    os.chmod(private_dir, 0o755)
    sock = private_dir / "d" / "sock"
    proc = launch_daemon(
        ["--socket", str(sock), "--allow-group", str(other_user.gid)], sock, private_dir / "err"
    )
    try:
        yield sock
    finally:
        terminate(proc)
    log = (private_dir / "err").read_text()
    assert "internal error" not in log, log


def as_member(sock: Path, user: OtherUser, *steps: dict[str, Any]) -> list[dict[str, Any]]:
    assert SYSTEM_PYTHON is not None
    done = subprocess.run(
        [SYSTEM_PYTHON, str(REPO / "tests" / "as_user.py"), str(sock), "0", json.dumps(steps)],
        user=user.uid,
        group=user.gid,
        extra_groups=[],
        env={"PYTHONPATH": str(REPO / "clients" / "python"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    result: list[dict[str, Any]] = json.loads(done.stdout)
    return result


def test_the_socket_is_open_to_the_group_only(shared: Path, other_user: OtherUser) -> None:
    st = os.stat(shared)
    assert (st.st_mode & 0o777, st.st_gid) == (0o660, other_user.gid)
    st = os.stat(shared.parent)
    assert (st.st_mode & 0o777, st.st_gid) == (0o750, other_user.gid)


def test_a_member_sees_and_controls_only_its_own_until_it_proves_a_key(
    shared: Path, other_user: OtherUser
) -> None:
    with RawClient(shared) as root:
        theirs = root.call("process.create", {"name": "root's"})
        key = root.call("process.getAuthKey", {"id": theirs["id"]})
        pa = theirs["id"]
        got = as_member(
            shared,
            other_user,
            {"call": "process.list"},
            {"call": "process.create", "params": {"name": "member's"}},
            {"call": "process.info", "params": {"id": pa}},
            {"call": "process.getName", "params": {"id": pa}},
            {"call": "process.setName", "params": {"id": pa, "name": "x"}},
            {"call": "process.getAuthKey", "params": {"id": pa}},
            {"call": "process.setAuthKey", "params": {"id": pa, "value": "mine"}},
            {"call": "process.terminate", "params": {"id": pa}},
            {"call": "process.start", "params": {"id": pa}},
            {"authenticate": pa, "key": "not-the-key"},
            {"call": "process.info", "params": {"id": pa}},
            {"authenticate": pa, "key": key},
            {"call": "process.getName", "params": {"id": pa}},
            {"call": "process.list"},
        )
        listed, created, *refused, wrong, still, proven, name, after = got
        assert listed == {"result": []}  # root's process is not shown to the member
        mine = created["result"]["id"]
        assert [r.get("error") for r in refused] == [1016] * 7, refused
        assert "belongs to another user" in refused[0]["message"]
        assert wrong["error"] == 1017
        assert still["error"] == 1016
        assert proven == {"result": None}
        assert name == {"result": "root's"}  # the key is a capability: it controls it now
        assert {p["id"] for p in after["result"]} == {pa, mine}
        # Root sees everything, but is never given another uid's key.
        assert {p["id"] for p in root.call("process.list")} >= {pa, mine}
        resp = root.call_raw("process.getAuthKey", {"id": mine})
        assert resp["error"]["code"] == 1016, resp
        assert root.call("process.getName", {"id": mine}) == "member's"


def _ids_of(pid: int) -> tuple[int, int, set[int]]:
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    fields = {line.split(":")[0]: line.split(":")[1].split() for line in status}
    return int(fields["Uid"][0]), int(fields["Gid"][0]), {int(g) for g in fields["Groups"]}


def test_a_members_child_runs_as_that_member(shared: Path, other_user: OtherUser) -> None:
    sleep = {"target": {"argv": ["/bin/sleep", "30"]}}
    created, denied = as_member(
        shared,
        other_user,
        {"call": "process.create", "params": sleep},
        {"call": "process.create", "params": {"target": {"argv": ["/bin/true"], "user": "root"}}},
    )
    assert denied["error"] == 1016 and "name another user" in denied["message"], denied
    pid = as_member(
        shared, other_user, {"call": "process.start", "params": {"id": created["result"]["id"]}}
    )[0]["result"]["pid"]
    try:
        uid, gid, _groups = _ids_of(pid)
        assert (uid, gid) == (other_user.uid, other_user.gid)  # not root's: no escalation
    finally:
        got = as_member(
            shared, other_user, {"call": "process.kill", "params": {"id": created["result"]["id"]}}
        )
        assert "result" in got[0], got


def test_root_may_name_the_user_a_child_runs_as(shared: Path, other_user: OtherUser) -> None:
    with RawClient(shared) as root:
        target = {"argv": ["/bin/sleep", "30"], "user": other_user.name}
        p = root.call("process.create", {"target": target})
        pid = root.call("process.start", {"id": p["id"]})["pid"]
        try:
            wait_until(lambda: _ids_of(pid)[0] == other_user.uid, timeout=5, what="the setuid")
            uid, gid, groups = _ids_of(pid)
            assert (uid, gid) == (other_user.uid, other_user.gid)
            assert 0 not in groups  # root's groups are not kept
        finally:
            root.call("process.kill", {"id": p["id"]})
            root.call("process.join", {"id": p["id"]})


def test_no_reply_and_no_log_line_carries_a_key_but_get_auth_key(daemon: Daemon) -> None:
    with daemon.client() as c:
        p = c.call("process.create", {"target": {"argv": ["/bin/true"]}})
        key = c.call("process.getAuthKey", {"id": p["id"]})
        c.call("process.setAuthKey", {"id": p["id"], "value": "s3cret-key-value"})
        replies = [
            c.call_raw("process.info", {"id": p["id"]}),
            c.call_raw("process.start", {"id": p["id"]}),
            c.call_raw("process.join", {"id": p["id"]}),
            c.call_raw("process.list"),
            c.call_raw("process.create", {}),
            c.call_raw("daemon.authenticate", {"id": p["id"]}),
            c.call_raw("daemon.authenticate", {"id": p["id"], "response": "00"}),
            c.call_raw("daemon.info"),
        ]
        text = json.dumps(replies)
        assert key not in text and "s3cret-key-value" not in text, text
        assert c.call("process.getAuthKey", {"id": p["id"]}) == "s3cret-key-value"
    log = daemon.stderr()
    assert key not in log and "s3cret-key-value" not in log
