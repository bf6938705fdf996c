"""The zygote path and the fresh-interpreter path give the same results, and no exit status is lost.

Every Python target here runs in two daemons side by side: one with the zygote (the default) and one
started with --no-zygote. Targets are stdlib callables (`builtins:exec` runs a line of code), so the
children import nothing from the test suite.
"""

from __future__ import annotations

import array
import contextlib
import json
import os
import signal
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Daemon, start_daemon, stop_daemon
from tests.wire import RawClient, wait_until

PATHS = ("zygote", "fresh")


@pytest.fixture(scope="module")
def daemons() -> Iterator[dict[str, Daemon]]:
    with (
        tempfile.TemporaryDirectory(prefix="sl-z") as a,
        tempfile.TemporaryDirectory(prefix="sl-f") as b,
    ):
        pair = {"zygote": start_daemon(Path(a)), "fresh": start_daemon(Path(b), "--no-zygote")}
        try:
            wait_until(lambda: zygote_pid(pair["zygote"]) is not None, timeout=15, what="zygote")
            yield pair
        finally:
            for d in pair.values():
                stop_daemon(d)


def children_of(pid: int) -> list[int]:
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    found: list[int] = []
    for tid in tasks:
        with contextlib.suppress(OSError):
            found += [int(p) for p in Path(f"/proc/{pid}/task/{tid}/children").read_text().split()]
    return found


def comm(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None


def state(pid: int) -> str | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rfind(")") + 2]


def zygote_pid(d: Daemon) -> int | None:
    found = [p for p in children_of(d.owner_pid()) if comm(p) == "sl-zygote" and state(p) != "Z"]
    return found[0] if found else None


@dataclass
class Outcome:
    start: dict[str, Any]  # the whole start response (result or error)
    info: dict[str, Any] | None  # ProcessInfo after join (None if start failed with 1006)
    out: str
    err: str

    @property
    def exitcode(self) -> int | None:
        return None if self.info is None else self.info["exitcode"]


def send_with_fds(c: RawClient, obj: Any, fds: list[int]) -> None:
    line = json.dumps(obj, separators=(",", ":")).encode() + b"\n"
    c.sock.sendmsg([line], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])


def read_to_eof(fd: int) -> str:
    chunks = []
    os.set_blocking(fd, True)
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks).decode(errors="replace")


def run(d: Daemon, target: Any, **create: Any) -> Outcome:
    with d.client() as c:
        p = c.call("process.create", {"target": target, **create})
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        send_with_fds(
            c,
            {
                "jsonrpc": "2.0",
                "id": "s",
                "method": "process.start",
                "params": {"id": p["id"], "output": "passed"},
            },
            [out_w, err_w],
        )
        os.close(out_w)
        os.close(err_w)
        started = c.recv()
        info = None
        if not ("error" in started and started["error"]["code"] == 1006):
            info = c.call("process.join", {"id": p["id"], "timeout": 30})
        return Outcome(started, info, read_to_eof(out_r), read_to_eof(err_r))


def py(line: str, **extra: Any) -> dict[str, Any]:
    """A target that runs one line of Python (exec) in the child."""
    return {"callable": "builtins:exec", **extra}


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    ("source", "exitcode", "in_err"),
    [
        ("pass", 0, ""),
        ("raise SystemExit(7)", 7, ""),
        ("raise SystemExit(None)", 0, ""),
        ("raise SystemExit('bye')", 1, "bye"),
        ("raise SystemExit(256 + 3)", 3, ""),
        ("raise ValueError('boom')", 1, "ValueError: boom"),
        ("import os; os._exit(9)", 9, ""),
        ("import os, signal; os.kill(os.getpid(), signal.SIGTERM)", -signal.SIGTERM, ""),
        ("import atexit, sys; atexit.register(lambda: print('atexit ran'))", 0, ""),
    ],
)
def test_exit_codes_and_tracebacks(
    daemons: dict[str, Daemon], path: str, source: str, exitcode: int, in_err: str
) -> None:
    o = run(daemons[path], py(source), args=[source])
    assert "result" in o.start, o.start
    assert o.exitcode == exitcode, (o, path)
    assert in_err in o.err
    if exitcode == 1 and "Error" in in_err:
        assert "Traceback (most recent call last)" in o.err
    if "atexit" in source:
        assert o.out == "atexit ran\n"


@pytest.mark.parametrize("path", PATHS)
def test_keyboard_interrupt_is_exit_code_1(daemons: dict[str, Daemon], path: str) -> None:
    # (Not via exec of a string: in `python -m` CPython then turns any exit into a SIGINT death.)
    o = run(daemons[path], {"callable": "signal:raise_signal"}, args=[int(signal.SIGINT)])
    assert o.exitcode == 1 and "KeyboardInterrupt" in o.err and "Traceback" in o.err


@pytest.mark.parametrize("path", PATHS)
def test_null_target_and_callable_with_args(daemons: dict[str, Daemon], path: str) -> None:
    assert run(daemons[path], None).exitcode == 0
    o = run(daemons[path], {"callable": "builtins:print"}, args=["a", 1], kwargs={"sep": "-"})
    assert (o.exitcode, o.out) == (0, "a-1\n")


@pytest.mark.parametrize("path", PATHS)
def test_load_failure_is_1007_with_traceback(daemons: dict[str, Daemon], path: str) -> None:
    o = run(daemons[path], {"callable": "no_such_module_zz:f"})
    assert o.start["error"]["code"] == 1007, o.start
    assert "No module named 'no_such_module_zz'" in o.start["error"]["message"]
    assert o.exitcode == 1
    assert "ModuleNotFoundError" in o.err and "Traceback" in o.err
    o = run(daemons[path], {"pickle": "bm90IGEgcGlja2xl", "main_path": None})
    assert o.start["error"]["code"] == 1007 and o.exitcode == 1


@pytest.mark.parametrize("path", PATHS)
def test_name_and_authkey_in_the_child(daemons: dict[str, Daemon], path: str) -> None:
    src = (
        "import multiprocessing as m; p = m.current_process(); "
        "print(p.name); print(p.authkey.decode())"
    )
    d = daemons[path]
    o = run(d, py(src), args=[src], name="custom name")
    name, authkey = o.out.splitlines()
    assert name == "custom name"
    with d.client() as c:
        pid = c.call("process.list")[-1]["id"]
        assert authkey == c.call("process.getAuthKey", {"id": pid})


@pytest.mark.parametrize("path", PATHS)
def test_environment_cwd_and_sys_path(
    daemons: dict[str, Daemon], path: str, tmp_path: Path
) -> None:
    src = (
        "import os, sys; print(os.environ.get('SL_FOO')); print('HOME' in os.environ); "
        "print(os.environ['SUPERVISORD_LITE_PROCESS_ID']); "
        "print(os.getcwd()); print(sys.path[0]); print(sys.path[1]); print(sys.argv[1:]); "
        "print(os.getsid(0) == os.getpid()); print('NOTIFY_SOCKET' in os.environ)"
    )
    extra = tmp_path / "extra"
    target = py(src, env={"SL_FOO": "bar", "HOME": None}, cwd=str(tmp_path),
                sys_path=[str(extra)])  # fmt: skip
    o = run(daemons[path], target, args=[src])
    lines = o.out.splitlines()
    assert lines[0] == "bar"
    assert lines[1] == "False"
    with daemons[path].client() as c:
        assert lines[2] == str(c.call("process.list")[-1]["id"])
    assert lines[3] == str(tmp_path)
    assert lines[4] == str(extra)  # sys_path is prepended ...
    assert lines[5] == str(tmp_path)  # ... to the working directory, as `python -m` puts it
    assert lines[6] == "[]"
    assert lines[7] == "True"  # a session of its own
    assert lines[8] == "False"


@pytest.mark.parametrize("path", PATHS)
def test_missing_cwd_is_1006_and_the_process_stays_created(
    daemons: dict[str, Daemon], path: str, tmp_path: Path
) -> None:
    missing = str(tmp_path / "missing")
    o = run(daemons[path], py("pass", cwd=missing), args=["pass"])
    assert o.start["error"]["code"] == 1006, o.start
    assert missing in o.start["error"]["message"]
    with daemons[path].client() as c:
        last = c.call("process.list")[-1]
        assert last["state"] == "created" and last["pid"] is None


@pytest.mark.parametrize("path", PATHS)
def test_output_daemon_and_null(daemons: dict[str, Daemon], path: str) -> None:
    d = daemons[path]
    with d.client() as c:
        for output in ("daemon", "null"):
            src = f"print('to {output} via {path}')"
            p = c.call("process.create", {"target": py(src), "args": [src]})
            c.call("process.start", {"id": p["id"], "output": output})
            assert c.call("process.join", {"id": p["id"], "timeout": 30})["exitcode"] == 0
    wait_until(lambda: f"to daemon via {path}" in d.stderr(), timeout=10, what="child output")
    assert f"to null via {path}" not in d.stderr()


def test_targets_run_in_the_zygote_unless_told_otherwise(daemons: dict[str, Daemon]) -> None:
    src = "import sys; print(sys.modules['__main__'].__spec__.name)"
    assert run(daemons["zygote"], py(src), args=[src]).out == "supervisord_lite.owner.zygote\n"
    assert run(daemons["fresh"], py(src), args=[src]).out == "supervisord_lite.owner.child\n"
    # A change of a variable read at interpreter start-up needs a fresh interpreter.
    o = run(daemons["zygote"], py(src, env={"PYTHONHASHSEED": "3"}), args=[src])
    assert o.out == "supervisord_lite.owner.child\n"


def test_the_zygote_holds_only_its_own_socket(daemons: dict[str, Daemon]) -> None:
    d = daemons["zygote"]
    zpid = zygote_pid(d)
    assert zpid is not None
    spares = [p for p in children_of(d.owner_pid()) if comm(p) == "sl-spare"]
    assert spares
    for pid in (zpid, *spares):
        links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
        assert sum(link.startswith("socket:") for link in links) == 1, links
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        assert not any(v.startswith((b"LISTEN_", b"NOTIFY_SOCKET=")) for v in env)


@pytest.mark.timeout(60)
def test_many_concurrent_children_each_get_their_own_exit_code(daemons: dict[str, Daemon]) -> None:
    d = daemons["zygote"]
    with d.client() as c:
        ids = []
        for i in range(40):
            src = f"raise SystemExit({i})"
            ids.append(c.call("process.create", {"target": py(src), "args": [src]})["id"])
        for n, pid in enumerate(ids):
            c.send({"jsonrpc": "2.0", "id": n, "method": "process.start",
                    "params": {"id": pid, "output": "null"}})  # fmt: skip
        started = [c.recv() for _ in ids]
        assert all("result" in r for r in started), started
        codes = [c.call("process.join", {"id": pid, "timeout": 30})["exitcode"] for pid in ids]
    assert codes == list(range(40))


def _blocking_child(fifo: Path) -> tuple[dict[str, Any], list[str]]:
    """A target that exits with the number it reads from `fifo` (opening it blocks until a writer)."""
    src = f"import sys; sys.exit(int(open({str(fifo)!r}).read()))"
    return py(src), [src]


def _release(fifo: Path, value: int) -> None:
    fd: list[int] = []

    def opened() -> bool:
        try:
            fd.append(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:  # ENXIO: the child has not opened it for reading yet
            return False
        return True

    wait_until(opened, timeout=20, what="the child to open its fifo")
    os.write(fd[0], str(value).encode())
    os.close(fd[0])


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    """A named pipe: a child blocks reading it until the test writes (see _release)."""
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return path


@pytest.mark.timeout(60)
def test_zygote_killed_while_its_child_runs_loses_nothing(
    daemons: dict[str, Daemon], fifo: Path
) -> None:
    d = daemons["zygote"]
    target, args = _blocking_child(fifo)
    with d.client() as c:
        p = c.call("process.create", {"target": target, "args": args})
        child_pid = c.call("process.start", {"id": p["id"], "output": "null"})["pid"]
        old = zygote_pid(d)
        assert old is not None
        os.kill(old, signal.SIGKILL)
        # Python targets still start while the zygote is down (or already back).
        assert run(d, None).exitcode == 0
        _release(fifo, 5)
        info = c.call("process.join", {"id": p["id"], "timeout": 30})
        assert (info["pid"], info["exitcode"]) == (child_pid, 5)
        # The zygote comes back, and serves again.
        wait_until(lambda: zygote_pid(d) not in (None, old), timeout=20, what="a new zygote")
    src = "import sys; print(sys.modules['__main__'].__spec__.name)"
    wait_until(
        lambda: run(d, py(src), args=[src]).out == "supervisord_lite.owner.zygote\n",
        timeout=20,
        what="targets to start from the new zygote",
    )
    assert "the zygote (pid" in d.stderr()


@pytest.mark.timeout(60)
def test_zygote_and_spares_all_killed_python_targets_still_start(
    daemons: dict[str, Daemon],
) -> None:
    d = daemons["zygote"]
    wait_until(lambda: zygote_pid(d) is not None, timeout=20, what="a zygote")
    helpers = [p for p in children_of(d.owner_pid()) if comm(p) in ("sl-zygote", "sl-spare")]
    for pid in helpers:
        os.kill(pid, signal.SIGKILL)
    for i in range(5):  # whichever path serves them (fresh interpreter, or a new zygote)
        src = f"raise SystemExit({10 + i})"
        assert run(d, py(src), args=[src]).exitcode == 10 + i
    wait_until(lambda: all(state(p) is None for p in helpers), timeout=20, what="reaping")
    wait_until(lambda: zygote_pid(d) is not None, timeout=20, what="a new zygote")


@pytest.mark.timeout(60)
def test_a_zygote_that_cannot_start_leaves_python_targets_working(tmp_path: Path) -> None:
    (tmp_path / "sl_dies_on_import.py").write_text("import os\nos._exit(3)\n")
    d = start_daemon(tmp_path, "--preload", "sl_dies_on_import", env={"PYTHONPATH": str(tmp_path)})
    try:
        wait_until(lambda: d.stderr().count("the zygote (pid") >= 2, timeout=20, what="retries")
        src = "import sys; print(sys.modules['__main__'].__spec__.name)"
        o = run(d, py(src), args=[src])
        assert (o.exitcode, o.out) == (0, "supervisord_lite.owner.child\n")
        assert run(d, py("raise SystemExit(4)"), args=["raise SystemExit(4)"]).exitcode == 4
    finally:
        stop_daemon(d)


@pytest.mark.timeout(60)
def test_orphans_adopted_by_the_daemon_are_reaped(daemons: dict[str, Daemon], fifo: Path) -> None:
    d = daemons["zygote"]
    # A program that leaves a child behind and exits: the child is re-parented to the daemon.
    argv = ["sh", "-c", f"cat {fifo} >/dev/null 2>&1 & echo $!; exit 3"]
    o = run(d, {"argv": argv})
    assert o.exitcode == 3
    orphan = int(o.out)
    try:
        assert orphan in children_of(d.owner_pid())
        fd = os.open(fifo, os.O_WRONLY)  # cat opens it for reading: this does not block for long
        os.close(fd)  # cat reads EOF and exits
        wait_until(lambda: state(orphan) is None, timeout=20, what="the orphan to be reaped")
    finally:
        if state(orphan) not in (None, "Z"):
            os.kill(orphan, signal.SIGKILL)
    # Tracked children are unaffected.
    assert run(d, py("raise SystemExit(6)"), args=["raise SystemExit(6)"]).exitcode == 6


def test_preload_is_imported_by_the_zygote_only(tmp_path: Path) -> None:
    (tmp_path / "sl_preloaded.py").write_text("import os\nLOADED_IN = os.getpid()\n")
    d = start_daemon(tmp_path, "--preload", "sl_preloaded", env={"PYTHONPATH": str(tmp_path)})
    try:
        wait_until(lambda: zygote_pid(d) is not None, timeout=15, what="zygote")
        zpid = zygote_pid(d)
        src = "import sys, os; m = sys.modules.get('sl_preloaded'); print(m.LOADED_IN)"
        wait_until(lambda: run(d, py(src), args=[src]).out == f"{zpid}\n", timeout=20,
                   what="a child of the zygote")  # fmt: skip
    finally:
        stop_daemon(d)


@pytest.mark.timeout(60)
def test_where_clone_parent_is_refused_the_double_fork_gives_the_same_children(
    tmp_path: Path,
) -> None:
    # A preloaded module (imported by the zygote only) makes the zygote take the path it takes
    # where the kernel refuses CLONE_PARENT (a seccomp filter, another architecture): a double
    # fork whose intermediate exits at once. Nothing else forces that path on this kernel.
    (tmp_path / "sl_no_clone_parent.py").write_text(
        "from supervisord_lite.owner import sibling_fork\nsibling_fork._refused = True\n"
    )
    d = start_daemon(tmp_path, "--preload", "sl_no_clone_parent", env={"PYTHONPATH": str(tmp_path)})
    try:
        wait_until(lambda: zygote_pid(d) is not None, timeout=15, what="zygote")
        zpid = zygote_pid(d)
        keeper = d.owner_pid()
        src = (
            "import os, sys; f = sys.modules['supervisord_lite.owner.sibling_fork']; "
            "print(sys.modules['__main__'].__spec__.name, f.available(), os.getppid()); "
            "raise SystemExit(5)"
        )
        for _ in range(3):  # the spare taken first was forked before the first request
            o = run(d, py(src), args=[src])
            assert (o.exitcode, o.out) == (5, f"supervisord_lite.owner.zygote False {keeper}\n")
        # Spares are the keeper's children, as with CLONE_PARENT; the intermediates are reaped.
        spares = [p for p in children_of(keeper) if comm(p) == "sl-spare"]
        assert spares
        wait_until(lambda: children_of(zpid) == [], timeout=15, what="intermediates reaped")
        assert zygote_pid(d) == zpid
    finally:
        stop_daemon(d)
