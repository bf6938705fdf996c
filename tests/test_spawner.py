"""The spawner's parts on their own: the status pipe reader, pidfd children, the rule for which
targets the zygote may run, and the zygote's own protocol (run here as a plain subprocess: the
test process is no subreaper, so exits are seen through pidfds, not reaped)."""

from __future__ import annotations

import asyncio
import json
import os
import select
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from supervisord_lite.core.model import Output, SpawnRequest, Target, TargetKind
from supervisord_lite.owner.factory import make_spawner
from supervisord_lite.owner.pidfd import PidfdChild, StatusReader
from supervisord_lite.owner.programs import PopenSpawner
from supervisord_lite.owner.python_targets import zygote_can_run

REPO = Path(__file__).resolve().parent.parent


def test_which_targets_the_zygote_runs() -> None:
    base = {"PATH": "/bin", "PYTHONPATH": "/x", "LANG": "C.UTF-8"}
    assert zygote_can_run(Target(), base)
    assert zygote_can_run(Target(kind=TargetKind.CALLABLE, ref="m:f", env={"FOO": "1"}), base)
    assert zygote_can_run(Target(env={"PYTHONPATH": "/x", "LANG": "C.UTF-8"}), base)  # unchanged
    assert not zygote_can_run(Target(kind=TargetKind.ARGV, argv=("true",)), base)
    for changed in ({"PYTHONPATH": "/y"}, {"PYTHONHASHSEED": "0"}, {"LANG": None},
                    {"LD_PRELOAD": "x.so"}, {"LC_ALL": "C"}, {"TZ": "UTC"}):  # fmt: skip
        assert not zygote_can_run(Target(env=changed), base), changed


def test_no_zygote_means_the_popen_spawner() -> None:
    assert isinstance(make_spawner(socket_path=None, zygote=False), PopenSpawner)


def test_status_reader_line_then_rest() -> None:
    async def go() -> tuple[bytes | None, bytes, bytes | None]:
        loop = asyncio.get_running_loop()
        r, w = os.pipe()
        reader = StatusReader(r, loop)
        os.write(w, b"123\nModuleNotFoundError: x")
        os.close(w)
        line = await reader.line()
        rest = await reader.rest()
        r2, w2 = os.pipe()
        os.close(w2)
        empty = await StatusReader(r2, loop).line()
        return line, rest, empty

    assert asyncio.run(go()) == (b"123", b"ModuleNotFoundError: x", None)


def test_pidfd_child_reports_its_exit_once_and_ignores_signals_after() -> None:
    async def go() -> list[int]:
        loop = asyncio.get_running_loop()
        codes: list[int] = []
        done = asyncio.Event()
        proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(5)"])
        child = PidfdChild(proc.pid, lambda c: (codes.append(c), done.set()), loop, popen=proc)
        await asyncio.wait_for(done.wait(), 30)
        child.signal(signal.SIGKILL)  # reaped: a no-op, never a recycled pid
        assert child.reap() and proc.returncode == 5
        return codes

    assert asyncio.run(go()) == [5]


def test_pidfd_child_poll_reaps_an_exit_before_the_loop_sees_it() -> None:
    async def go() -> list[int]:
        loop = asyncio.get_running_loop()
        codes: list[int] = []
        code = "import sys; sys.exit(int(sys.stdin.read()))"
        proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE)
        child = PidfdChild(proc.pid, codes.append, loop, popen=proc)
        child.poll()  # it waits for its stdin: nothing to reap
        assert codes == []
        assert proc.stdin is not None
        proc.stdin.write(b"4")
        proc.stdin.close()
        os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped; no loop turn
        child.poll()
        assert codes == [4] and proc.returncode == 4  # reported before poll returned
        child.poll()  # reaped: nothing more to report
        return codes

    assert asyncio.run(go()) == [4]


def test_pidfd_child_poll_leaves_a_process_that_is_not_its_child_alone() -> None:
    """As a zygote child is until its intermediate has exited: waitid on its pidfd fails whether it
    runs or not, so polling it must not take that for an exit."""

    async def go() -> list[int]:
        codes: list[int] = []
        child = PidfdChild(os.getppid(), codes.append, asyncio.get_running_loop())
        child.poll()
        child.poll()
        fd = child._pidfd  # still watched: let it go
        assert fd is not None
        asyncio.get_running_loop().remove_reader(fd)
        os.close(fd)
        return codes

    assert asyncio.run(go()) == []


def test_popen_spawner_python_target_and_load_failure(tmp_path: Path) -> None:
    async def go(target: Target) -> tuple[str | None, int]:
        spawner = PopenSpawner(socket_path=None)
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        request = SpawnRequest(1, "Process-1", "ab", target, (), {}, Output.NULL, None)
        child = await spawner.spawn(request, done.set_result)
        problem = await child.loaded()
        return problem, await asyncio.wait_for(done, 30)

    ok = Target(kind=TargetKind.CALLABLE, ref="os:getpid")
    assert asyncio.run(go(ok)) == (None, 0)
    problem, code = asyncio.run(go(Target(kind=TargetKind.CALLABLE, ref="no_such_zz:f")))
    assert problem is not None and "No module named 'no_such_zz'" in problem and code == 1


# -- the zygote process on its own ----------------------------------------------------------
class Zygote:
    def __init__(self, spares: int, *extra: str) -> None:
        self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "supervisord_lite.owner.zygote",
                str(theirs.fileno()),
                str(spares),
                *extra,
            ],
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
            cwd=REPO,
        )
        theirs.close()
        self.sock.settimeout(30)
        assert self.sock.recv(16) == b"R"

    def request(
        self, spec: dict[str, object], out: int, gate_w: int | None = None
    ) -> tuple[int, bytes]:
        """Send a request; returns the child's pid and what its status pipe said after it.

        The child runs its target once `gate_w` is closed (at once when none is given)."""
        spec_fd = os.memfd_create("spec")
        os.write(spec_fd, json.dumps(spec).encode())
        os.lseek(spec_fd, 0, os.SEEK_SET)
        status_r, status_w = os.pipe()
        gate_r, gate = os.pipe()
        if gate_w is not None:
            os.dup2(gate, gate_w)
        socket.send_fds(self.sock, [b"S"], [spec_fd, out, out, status_w, gate_r])
        for fd in (spec_fd, status_w, gate_r, gate):
            os.close(fd)
        with os.fdopen(status_r, "rb") as status:
            data = status.read()
        first, _, rest = data.partition(b"\n")
        return int(first), rest


def spec(**extra: object) -> dict[str, object]:
    base: dict[str, object] = {
        "name": "P-1", "authkey": "YWI=", "kind": "none", "ref": None, "payload": None,
        "main_path": None, "sys_path": [], "args": [], "kwargs": {}, "env": {}, "cwd": None,
    }  # fmt: skip
    return {**base, **extra}


def wait_exit(pid: int) -> None:
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        assert select.select([fd], [], [], 30)[0], f"{pid} did not exit"
    finally:
        os.close(fd)


@pytest.fixture
def zygote() -> Iterator[Zygote]:
    z = Zygote(spares=1)
    yield z
    z.sock.close()
    z.proc.wait(timeout=30)


def test_zygote_child_waits_at_its_gate_until_the_daemon_knows_its_pid(zygote: Zygote) -> None:
    r, w = os.pipe()
    keep_r, gate_w = os.pipe()  # gate_w is replaced by the request's own gate end
    pid, rest = zygote.request(spec(kind="callable", ref="builtins:print", args=["ran"]), w, gate_w)
    os.close(w)
    assert rest == b""  # loaded (the status pipe ended)...
    os.set_blocking(r, False)
    with pytest.raises(BlockingIOError):
        os.read(r, 100)  # ...but not yet run: the gate is still shut
    os.close(gate_w)
    os.set_blocking(r, True)
    with os.fdopen(r) as out:
        assert out.read() == "ran\n"
    os.close(keep_r)
    wait_exit(pid)


def test_zygote_child_runs_the_target_and_is_replaced(zygote: Zygote) -> None:
    r, w = os.pipe()
    src = "import os, multiprocessing as m; print(os.getpid(), m.current_process().name)"
    pid, rest = zygote.request(
        spec(kind="callable", ref="builtins:exec", args=[src], env={"SL_X": "1"}), w
    )
    os.close(w)
    with os.fdopen(r) as out:
        assert out.read() == f"{pid} P-1\n"
    assert rest == b""
    assert pid != zygote.proc.pid
    wait_exit(pid)
    # The spare that was taken has been replaced: a second request is served too.
    null = os.open(os.devnull, os.O_WRONLY)
    pid2, _ = zygote.request(spec(), null)
    os.close(null)
    assert pid2 not in (pid, zygote.proc.pid)


def test_zygote_ignores_malformed_requests_and_stops_when_the_daemon_goes(zygote: Zygote) -> None:
    socket.send_fds(zygote.sock, [b"S"], [0])  # one fd instead of five: a spare drops it
    null = os.open(os.devnull, os.O_WRONLY)
    pid, _ = zygote.request(spec(), null)
    os.close(null)
    assert pid > 0
    zygote.sock.close()
    assert zygote.proc.wait(timeout=30) == 0


def test_zygote_child_reports_a_missing_cwd(zygote: Zygote, tmp_path: Path) -> None:
    null = os.open(os.devnull, os.O_WRONLY)
    spec_fd = os.memfd_create("spec")
    os.write(spec_fd, json.dumps(spec(cwd=str(tmp_path / "gone"))).encode())
    os.lseek(spec_fd, 0, os.SEEK_SET)
    status_r, status_w = os.pipe()
    gate_r, gate_w = os.pipe()
    socket.send_fds(zygote.sock, [b"S"], [spec_fd, null, null, status_w, gate_r])
    for fd in (spec_fd, status_w, null, gate_r, gate_w):
        os.close(fd)
    with os.fdopen(status_r, "rb") as status:
        assert status.read() == b"!cwd 2\n"  # ENOENT, and nothing ran


# A process of its own: a ZygoteSpawner makes its process a child subreaper for good.
_CLOSE_ZYGOTE_SPAWNER = """
import asyncio, signal
from supervisord_lite.owner.python_targets import ZygoteSpawner

async def main():
    spawner = ZygoteSpawner(socket_path=None)  # the zygote starts, its SIGCHLD is watched
    watched = signal.getsignal(signal.SIGCHLD) is not signal.SIG_DFL
    spawner.close()
    print(watched, signal.getsignal(signal.SIGCHLD) is signal.SIG_DFL)

asyncio.run(main())
"""


@pytest.mark.timeout(30)
def test_a_closed_zygote_spawner_stops_watching_sigchld() -> None:
    # The daemon closes its event loop right after: a SIGCHLD handler left behind (the zygote's
    # death raises one) could write to the loop's closed wakeup fd ("Exception ignored ... EBADF").
    done = subprocess.run(
        [sys.executable, "-c", _CLOSE_ZYGOTE_SPAWNER],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=25,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True"], done.stdout + done.stderr
    assert "Exception ignored" not in done.stderr, done.stderr
