"""Bad input that used to wedge a process (a record stuck `starting`, a -32603) is refused at the
edge with a clear error, and the daemon goes on serving; a start that runs out of fds fails
cleanly and leaves no child behind."""

from __future__ import annotations

import os
import resource
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Daemon
from tests.wire import RawClient, wait_until

NUL = "a\x00b"


def _deep(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


BAD_CREATES: list[tuple[str, dict[str, Any], int, str]] = [
    ("nul-argv", {"target": {"argv": ["/bin/echo", NUL]}}, 1005, "NUL byte"),
    ("nul-argv-args", {"target": {"argv": ["/bin/echo"]}, "args": [NUL]}, 1005, "NUL bytes"),
    ("nul-env-value", {"target": {"argv": ["/bin/true"], "env": {"A": NUL}}}, 1005, "NUL byte"),
    ("nul-env-name", {"target": {"argv": ["/bin/true"], "env": {NUL: "x"}}}, 1005, "name"),
    ("eq-env-name", {"target": {"argv": ["/bin/true"], "env": {"A=B": "x"}}}, 1005, '"="'),
    ("empty-env-name", {"target": {"argv": ["/bin/true"], "env": {"": "x"}}}, 1005, "name"),
    ("nul-cwd", {"target": {"argv": ["/bin/true"], "cwd": NUL}}, 1005, "NUL byte"),
    ("long-cwd", {"target": {"argv": ["/bin/true"], "cwd": "/" + "a" * 5000}}, 1005, "4095"),
    ("nul-sys-path", {"target": {"callable": "m:f", "sys_path": [NUL]}}, 1005, "NUL byte"),
    ("deep-args", {"target": {"callable": "m:f"}, "args": _deep(300)}, -32602, "deeper"),
    ("deep-kwargs", {"target": {"callable": "m:f"}, "kwargs": {"a": _deep(100)}}, -32602, "deeper"),
    ("many-args", {"target": {"callable": "m:f"}, "args": [[0] * 60_000] * 2}, -32602, "values"),
]


@pytest.mark.parametrize(
    ("params", "code", "needle"),
    [pytest.param(p, code, needle, id=name) for name, p, code, needle in BAD_CREATES],
)
def test_bad_input_is_refused_with_a_clear_error(
    c: RawClient, params: dict[str, Any], code: int, needle: str
) -> None:
    before = c.call("process.list")
    resp = c.call_raw("process.create", params)
    assert resp["error"]["code"] == code, resp
    assert needle in resp["error"]["message"], resp
    assert c.call("process.list") == before  # nothing was created
    assert c.call("daemon.info")["pid"] > 0  # and the daemon goes on


def test_args_just_inside_the_bounds_still_work(c: RawClient) -> None:
    p = c.call("process.create", {"target": {"callable": "m:f"}, "args": _deep(63)})
    assert p["state"] == "created"


def _free_fds(pid: int) -> int:
    """Set the process's fd limit so that the next fd it opens fails. The kernel gives the lowest
    free number, so the limit is that number (counting the open fds is not enough when there is a
    gap below the highest)."""
    open_fds = {int(fd) for fd in os.listdir(f"/proc/{pid}/fd")}
    lowest_free = next(n for n in range(len(open_fds) + 1) if n not in open_fds)
    hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)[1]
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (lowest_free, hard))
    return lowest_free


def _alive_with(marker: str) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{name}/cmdline").read_bytes()
            state = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in cmdline and state != "Z":
            found.append(int(name))
    return found


def test_a_start_out_of_fds_fails_cleanly_and_leaves_no_child(daemon: Daemon) -> None:
    pid = daemon.owner_pid()  # the process that spawns (the keeper) is the one out of fds
    soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    marker = "3600.4242"
    with daemon.client() as c:
        warm = c.call("process.create", {"target": {"argv": ["/bin/true"]}})
        c.call("process.start", {"id": warm["id"]})  # the /dev/null fd for programs is open now
        c.call("process.join", {"id": warm["id"]})
        wait_until(lambda: len(_alive_with(marker)) == 0, timeout=5, what="a clean slate")
        sleeper = c.call("process.create", {"target": {"argv": ["/bin/sleep", marker]}})
        func = c.call("process.create", {"target": {"callable": "os:getpid"}})
        try:
            _free_fds(pid)
            resp = c.call_raw("process.start", {"id": sleeper["id"]})  # pidfd_open fails
            assert resp["error"]["code"] == 1006, resp
            assert "file descriptors" in resp["error"]["message"]
            assert _alive_with(marker) == []  # the child that was made is gone
            _free_fds(pid)  # again: the failed start may have freed an fd below the limit
            resp = c.call_raw("process.start", {"id": func["id"]})  # the spec memfd fails
            assert resp["error"]["code"] == 1006, resp
            assert c.call("process.info", {"id": sleeper["id"]})["state"] == "created"
            assert c.call("process.info", {"id": func["id"]})["state"] == "created"
        finally:
            resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))
        # Nothing is stuck: both start now, and are joined.
        c.call("process.start", {"id": sleeper["id"]})
        c.call("process.kill", {"id": sleeper["id"]})
        assert c.call("process.join", {"id": sleeper["id"]})["exitcode"] == -9
        c.call("process.start", {"id": func["id"]})
        assert c.call("process.join", {"id": func["id"]})["exitcode"] == 0


def test_accept_out_of_fds_pauses_instead_of_spinning(daemon: Daemon) -> None:
    pid = daemon.proc.pid
    soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    with daemon.client() as c:
        assert c.call("process.list") == []  # accepted (not still queued) before fds run out
        try:
            _free_fds(pid)
            waiting = RawClient(daemon.socket_path)  # queued by the kernel, not accepted yet
            for _ in range(200):  # time in which a spinning accept would log thousands of lines
                assert c.call("process.list") == []
        finally:
            resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))
        with waiting:
            assert waiting.call("daemon.info")["pid"] == pid  # accepted once fds are free
    log = daemon.stderr()
    assert log.count("cannot accept connections") == 1, log
    assert "accept failed" not in log
    assert "accepting connections again" in log


def test_the_first_program_start_out_of_fds_fails_cleanly(daemon: Daemon) -> None:
    """Before any program ran, the owner has no /dev/null fd yet: opening it is what fails."""
    pid = daemon.owner_pid()  # the keeper opens it
    soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    with daemon.client() as c:
        p = c.call("process.create", {"target": {"argv": ["/bin/true"]}})
        try:
            _free_fds(pid)
            resp = c.call_raw("process.start", {"id": p["id"]})
            assert resp["error"]["code"] == 1006, resp
            assert "file descriptors" in resp["error"]["message"]
        finally:
            resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))
        assert c.call("process.start", {"id": p["id"]})["state"] in ("running", "exited")
        assert c.call("process.join", {"id": p["id"]})["exitcode"] == 0
