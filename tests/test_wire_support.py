"""Helpers shared by the tests/test_wire_*.py integration tests (this module holds no tests)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from tests.conftest import Daemon, launch_daemon, start_daemon, stop_daemon
from tests.wire import RawClient, terminate

REPO = str(Path(__file__).resolve().parent.parent)
PY = sys.executable
MIB4 = 4 * 1024 * 1024
INFO_KEYS = {"id", "name", "parent", "state", "pid", "exitcode", "program", "argv", "started_at",
             "exited_at"}  # fmt: skip
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
HEX = re.compile(r"^[0-9a-f]+$")
# A Python traceback or a source location: what the daemon's own exceptions would show.
LEAK = re.compile(r'Traceback|File "|, line \d+|site-packages|supervisord_lite[./]')
# An internal error's message says nothing of the exception at all.
INTERNAL_LEAK = re.compile(r"Error|Exception|Traceback|\bat 0x|<|>")


def ctarget(fn: str, **extra: Any) -> dict[str, Any]:
    """A `callable` target in tests/targets_for_tests.py, importable whatever the cwd."""
    return {"callable": f"tests.targets_for_tests:{fn}", "sys_path": [REPO], **extra}


def request(method: str, params: Any = None, id: Any = 1) -> dict[str, Any]:
    req: dict[str, Any] = {"jsonrpc": "2.0", "id": id, "method": method}
    if params is not None:
        req["params"] = params
    return req


def assert_clean(resp: dict[str, Any]) -> None:
    """An error response never carries internal exception text (a traceback, a file, a class)."""
    if "error" in resp:
        text = json.dumps(resp["error"])
        assert not LEAK.search(text), f"internal detail leaked: {resp}"
        if resp["error"].get("code") == -32603:
            assert not INTERNAL_LEAK.search(text), f"internal error text leaked: {resp}"


def assert_error(resp: Any, code: int, id: Any = None) -> dict[str, Any]:
    """A well-formed JSON-RPC error response with this code and id; returns `error`."""
    assert isinstance(resp, dict), resp
    assert set(resp) == {"jsonrpc", "id", "error"}, resp
    assert resp["jsonrpc"] == "2.0", resp
    assert resp["id"] == id and type(resp["id"]) is type(id), resp
    err = resp["error"]
    assert err["code"] == code, resp
    assert isinstance(err["message"], str) and err["message"].strip(), resp
    assert set(err) <= {"code", "message", "data"}, resp
    if "data" in err:
        assert isinstance(err["data"], dict), resp
    assert_clean(resp)
    return dict(err)


def assert_result(resp: Any, id: Any = 1) -> Any:
    assert isinstance(resp, dict), resp
    assert set(resp) == {"jsonrpc", "id", "result"}, resp
    assert resp["jsonrpc"] == "2.0" and resp["id"] == id, resp
    return resp["result"]


def assert_info(info: Any) -> dict[str, Any]:
    assert isinstance(info, dict) and set(info) == INFO_KEYS, info
    assert type(info["id"]) is int and info["id"] > 0, info
    assert isinstance(info["name"], str), info
    assert info["state"] in ("created", "running", "exited", "lost"), info
    assert isinstance(info["argv"], list) and all(isinstance(a, str) for a in info["argv"]), info
    assert info["program"] is None or isinstance(info["program"], str), info
    for stamp in ("started_at", "exited_at"):
        assert info[stamp] is None or RFC3339.match(info[stamp]), info
    assert (info["started_at"] is None) == (info["pid"] is None), info
    return info


def create(c: RawClient, **params: Any) -> dict[str, Any]:
    return assert_info(c.call("process.create", params))


def start(c: RawClient, pid: int, output: str | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {"id": pid}
    if output is not None:
        params["output"] = output
    return assert_info(c.call("process.start", params))


def join(c: RawClient, pid: int, timeout: float | None = 20) -> dict[str, Any]:
    """Join with a generous deadline; fail (rather than hang) if the process did not end."""
    info = assert_info(c.call("process.join", {"id": pid, "timeout": timeout}))
    assert info["exitcode"] is not None, f"process {pid} still running after {timeout}s: {info}"
    assert info["state"] == "exited", info
    return info


def run(c: RawClient, output: str | None = None, **params: Any) -> dict[str, Any]:
    """create + start + join; returns the final ProcessInfo."""
    p = create(c, **params)
    start(c, p["id"], output)
    return join(c, p["id"])


def sleeper(c: RawClient, **extra: Any) -> dict[str, Any]:
    """A started `sleep 1000` child (the test kills it)."""
    p = create(c, target={"argv": ["sleep", "1000"]}, **extra)
    info = start(c, p["id"])
    assert info["state"] == "running" and isinstance(info["pid"], int), info
    return info


def pid_gone(pid: int) -> bool:
    """True when no such process exists (a zombie counts as gone: it no longer runs)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def kill_pid(pid: int | None) -> None:
    if pid is not None and not pid_gone(pid):
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def assert_nothing_lost(
    daemon: Daemon, *conns: RawClient, bystander: dict[str, Any] | None = None
) -> None:
    """The daemon still serves: on the given connections, on a new one, and a running bystander
    process is unaffected (same pid, still running)."""
    assert daemon.proc.poll() is None, "the daemon died"
    with daemon.client() as fresh:
        for c in (*conns, fresh):
            di = c.call("daemon.info")
            assert di["pid"] == daemon.proc.pid, di
            if bystander is not None:
                now = assert_info(c.call("process.info", {"id": bystander["id"]}))
                assert now["state"] == "running" and now["pid"] == bystander["pid"], now
    if bystander is not None:
        assert pid_exists(bystander["pid"])


def recv_by_id(c: RawClient, n: int) -> dict[Any, dict[str, Any]]:
    """Read n responses and index them by id (responses may come in any order)."""
    out: dict[Any, dict[str, Any]] = {}
    for _ in range(n):
        resp = c.recv()
        assert isinstance(resp, dict), resp
        assert resp.get("id") not in out, f"two responses with id {resp.get('id')}"
        out[resp.get("id")] = resp
    return out


def prove_silence(c: RawClient, tag: str = "after") -> None:
    """Show that nothing was sent for what came before: two requests sent now are answered
    first, each in turn, with nothing in between."""
    for k in (1, 2):
        c.send(request("daemon.info", id=f"{tag}-{k}"))
        resp = c.recv()
        assert isinstance(resp, dict) and resp.get("id") == f"{tag}-{k}", (
            f"got a response for something that must not be answered: {resp}"
        )


@contextmanager
def running_daemon(directory: Path, *extra: str) -> Iterator[Daemon]:
    d = start_daemon(directory, *extra)
    try:
        yield d
    finally:
        stop_daemon(d)


@contextmanager
def own_daemon(
    args: list[str],
    sock: Path,
    stderr: Path,
    env: dict[str, str] | None = None,
    umask: int = -1,
) -> Iterator[subprocess.Popen[bytes]]:
    """A daemon started with exactly these `serve` args and this environment (the shared fixture
    always passes --socket); waits until `sock` accepts, stops it with SIGTERM afterwards."""
    proc = launch_daemon(args, sock, stderr, env=env, umask=umask)
    try:
        yield proc
    finally:
        terminate(proc)


def listed_fds(listing: Path) -> dict[int, str]:
    """fd -> target, from what `ls -l /proc/self/fd > listing` wrote (run by a child)."""
    return {int(m[1]): m[2] for m in re.finditer(r" (\d+) -> (.*)$", listing.read_text(), re.M)}


def base_env(**changes: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("SUPERVISORD_LITE_SOCKET", None)
    env.pop("XDG_RUNTIME_DIR", None)
    for k, v in changes.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env
