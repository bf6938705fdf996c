"""The daemon as a program: where it listens and with which modes, a stale or live socket, --stdio,
shutdown on SIGTERM/SIGINT (children terminated, then killed after the grace period), and who may
connect (peer credentials)."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Daemon
from tests.test_wire_support import (
    PY,
    REPO,
    assert_error,
    assert_info,
    assert_result,
    base_env,
    create,
    ctarget,
    join,
    kill_pid,
    own_daemon,
    pid_gone,
    request,
    running_daemon,
    sleeper,
)
from tests.wire import RawClient, socket_accepts, wait_until


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def child_env_socket(c: RawClient, out: Path) -> str:
    code = "import os, sys; open(sys.argv[1], 'w').write(os.environ['SUPERVISORD_LITE_SOCKET'])"
    p = create(c, target={"argv": [PY, "-c", code, str(out)]})
    c.call("process.start", {"id": p["id"]})
    assert join(c, p["id"])["exitcode"] == 0
    return out.read_text()


# ---------------------------------------------------------------- where it listens


def test_help_names_the_options() -> None:
    r = subprocess.run(
        [PY, "-m", "supervisord_lite", "serve", "--help"], capture_output=True, text=True, cwd=REPO
    )
    assert r.returncode == 0
    for opt in ("--socket", "--stdio", "--grace"):
        assert opt in r.stdout, r.stdout


def test_socket_option_creates_dir_0700_and_socket_0600(private_dir: Path) -> None:
    sock = private_dir / "made" / "by-daemon" / "sl.sock"
    # umask 0: the modes must be set on purpose, not left to a friendly umask.
    with own_daemon(
        ["--socket", str(sock)], sock, private_dir / "err", env=base_env(), umask=0
    ) as proc:
        assert stat.S_ISSOCK(sock.stat().st_mode)
        assert mode(sock.parent) == 0o700, oct(mode(sock.parent))
        assert mode(sock) == 0o600, oct(mode(sock))
        with RawClient(sock) as c:
            assert c.call("daemon.info")["pid"] == proc.pid
            assert child_env_socket(c, private_dir / "env.txt") == str(sock)


def test_socket_from_environment(private_dir: Path) -> None:
    sock = private_dir / "env" / "sl.sock"
    env = base_env(SUPERVISORD_LITE_SOCKET=str(sock), XDG_RUNTIME_DIR=str(private_dir))
    with own_daemon([], sock, private_dir / "err", env=env, umask=0) as proc:
        assert mode(sock.parent) == 0o700 and mode(sock) == 0o600
        assert not (private_dir / "supervisord-lite").exists()  # env beats XDG
        with RawClient(sock) as c:
            assert c.call("daemon.info")["pid"] == proc.pid
            assert child_env_socket(c, private_dir / "env.txt") == str(sock)


def test_socket_option_beats_environment(private_dir: Path) -> None:
    sock = private_dir / "opt.sock"
    not_used = private_dir / "env.sock"
    env = base_env(SUPERVISORD_LITE_SOCKET=str(not_used))
    with own_daemon(["--socket", str(sock)], sock, private_dir / "err", env=env) as proc:
        assert not not_used.exists()
        with RawClient(sock) as c:
            assert c.call("daemon.info")["pid"] == proc.pid
            # Children are told where the daemon really is.
            assert child_env_socket(c, private_dir / "env.txt") == str(sock)


def test_socket_default_under_xdg_runtime_dir(private_dir: Path) -> None:
    xdg = private_dir / "xdg"
    xdg.mkdir(mode=0o700)
    sock = xdg / "supervisord-lite" / "sock"
    with own_daemon([], sock, private_dir / "err", env=base_env(XDG_RUNTIME_DIR=str(xdg)), umask=0):
        assert mode(sock.parent) == 0o700, oct(mode(sock.parent))
        assert mode(sock) == 0o600, oct(mode(sock))
        with RawClient(sock) as c:
            assert c.call("daemon.info")["protocol_version"] == "1.1"


@pytest.mark.skipif(
    os.geteuid() == 0,
    reason="as root the default is /run/supervisord-lite/sock, shared with `make run` on this "
    "machine; the non-root default is tested when the suite runs as another user",
)
def test_socket_default_without_xdg(private_dir: Path) -> None:
    sock = Path(f"/tmp/supervisord-lite-{os.getuid()}/sock")
    if socket_accepts(sock):
        pytest.skip(f"a daemon already serves on {sock}")
    with own_daemon([], sock, private_dir / "err", env=base_env(), umask=0):
        assert mode(sock.parent) == 0o700 and mode(sock) == 0o600


def test_a_stale_socket_file_is_replaced(private_dir: Path) -> None:
    sock = private_dir / "sl.sock"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(sock))  # bound, never listening, then closed: a dead daemon's leftover
    assert stat.S_ISSOCK(sock.stat().st_mode) and not socket_accepts(sock)
    with running_daemon(private_dir) as d, d.client() as c:
        assert c.call("daemon.info")["pid"] == d.proc.pid


def test_a_second_daemon_on_a_live_socket_exits_with_a_message(
    private_dir: Path,
) -> None:
    with running_daemon(private_dir) as first:
        inode = first.socket_path.stat().st_ino
        with first.client() as c:
            s = sleeper(c)
        try:
            r = subprocess.run(
                [
                    *(PY, "-m", "supervisord_lite", "serve", "--socket", str(first.socket_path)),
                    *("--state-dir", str(private_dir / "second.state")),
                ],
                capture_output=True,
                text=True,
                timeout=30,
                cwd=REPO,
                env=base_env(),
            )
            assert r.returncode != 0, r
            assert str(first.socket_path) in r.stderr, f"message does not say where: {r.stderr!r}"
            assert "Traceback" not in r.stderr, r.stderr
            # The first daemon still owns its socket and still serves, its children untouched.
            assert first.socket_path.stat().st_ino == inode
            with first.client() as c:
                assert c.call("daemon.info")["pid"] == first.proc.pid
                assert c.call("process.info", {"id": s["id"]})["state"] == "running"
        finally:
            kill_pid(s["pid"])


# ---------------------------------------------------------------- --stdio


class StdioDaemon:
    def __init__(self, private_dir: Path) -> None:
        self.err = private_dir / "stdio.stderr"
        state = private_dir / "stdio.state"
        with self.err.open("wb") as err:
            self.proc = subprocess.Popen(
                [PY, "-m", "supervisord_lite", "serve", "--stdio", "--state-dir", str(state)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                cwd=REPO,
                env=base_env(SUPERVISORD_LITE_SOCKET=str(private_dir / "unused.sock")),
            )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.stdin, self.stdout = self.proc.stdin, self.proc.stdout

    def send(self, obj: Any) -> None:
        self.stdin.write(json.dumps(obj).encode() + b"\n")
        self.stdin.flush()

    def recv(self) -> Any:
        line = self.stdout.readline()
        assert line.endswith(b"\n"), f"stdout ended: {line!r}; stderr: {self.err.read_text()}"
        return json.loads(line)  # stdout carries protocol lines and nothing else

    def call(self, method: str, params: Any = None, id: Any = 1) -> Any:
        self.send(request(method, params, id))
        return assert_result(self.recv(), id)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.stdin.close()
        self.stdout.close()


@pytest.fixture
def stdio(private_dir: Path) -> Iterator[StdioDaemon]:
    d = StdioDaemon(private_dir)
    yield d
    d.close()


def test_stdio_serves_one_client(stdio: StdioDaemon) -> None:
    assert stdio.call("daemon.info")["pid"] == stdio.proc.pid
    p = assert_info(stdio.call("process.create", {"target": {"argv": ["sleep", "1000"]}}))
    started = assert_info(stdio.call("process.start", {"id": p["id"]}))
    try:
        # Concurrency and framing are the same as on the socket.
        stdio.send(request("process.join", {"id": p["id"], "timeout": None}, id="join"))
        stdio.send(request("process.getName", {"id": p["id"]}, id="name"))
        assert assert_result(stdio.recv(), "name") == p["name"]
        stdio.stdin.write(b"{oops\n")
        stdio.stdin.flush()
        assert_error(stdio.recv(), -32700, None)
        stdio.send(request("process.kill", {"id": p["id"]}, id="kill"))
        got = {r["id"]: r for r in (stdio.recv(), stdio.recv())}
        assert assert_result(got["join"], "join")["exitcode"] == -9
    finally:
        kill_pid(started["pid"])
    # The one client leaves: the daemon ends, cleanly.
    stdio.stdin.close()
    assert stdio.proc.wait(timeout=30) == 0


def test_stdio_child_output_never_reaches_the_protocol_stream(stdio: StdioDaemon) -> None:
    marker = uuid.uuid4().hex
    p = assert_info(stdio.call("process.create", {"target": ctarget("say"), "args": [marker]}))
    stdio.call("process.start", {"id": p["id"]})  # output "daemon": the daemon's stderr
    done = assert_info(stdio.call("process.join", {"id": p["id"], "timeout": 20}))
    assert done["exitcode"] == 0
    assert stdio.call("daemon.info", id=2)["protocol_version"] == "1.1"
    stdio.stdin.close()
    assert stdio.proc.wait(timeout=30) == 0
    rest = stdio.stdout.read()
    assert marker.encode() not in rest, rest
    wait_until(
        lambda: f"stdout:{marker}" in stdio.err.read_text(),
        timeout=10,
        what="the child's output on the daemon's stderr",
    )


# ---------------------------------------------------------------- shutdown


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_the_daemon_and_its_children(private_dir: Path, signum: int) -> None:
    # A long grace: children that end on SIGTERM must not make the daemon wait it out.
    with running_daemon(private_dir, "--grace", "1000") as d:
        with d.client() as c:
            a, b = sleeper(c), sleeper(c)
            # A Python target goes as well as programs.
            created = create(c, target=ctarget("sleep_forever"), args=[str(private_dir / "ready")])
            c.call("process.start", {"id": created["id"]})
            wait_until((private_dir / "ready").exists, timeout=20, what="the python child")
            pc = c.call("process.info", {"id": created["id"]})
        try:
            d.proc.send_signal(signum)
            assert d.proc.wait(timeout=30) == 0, d.stderr()
            for pid in (a["pid"], b["pid"], pc["pid"]):
                assert pid_gone(pid), f"child {pid} outlived the daemon"
            assert not d.socket_path.exists(), "the socket file was left behind"
        finally:
            for pid in (a["pid"], b["pid"], pc["pid"]):
                kill_pid(pid)


def test_a_child_ignoring_sigterm_is_killed_after_the_grace_period(private_dir: Path) -> None:
    ready = private_dir / "trap-ready"
    with running_daemon(private_dir, "--grace", "1") as d, d.client() as c:
        p = create(
            c,
            target={"argv": ["sh", "-c", f'trap "" TERM; touch "{ready}"; exec sleep 1000']},
        )
        later = create(c)
        stubborn = c.call("process.start", {"id": p["id"]})
        wait_until(ready.exists, timeout=20, what="the child to ignore SIGTERM")
        try:
            d.proc.send_signal(signal.SIGTERM)
            # While it waits for the stubborn child: no new connections...
            wait_until(
                lambda: d.proc.poll() is not None or not socket_accepts(d.socket_path),
                timeout=20,
                what="the daemon to stop accepting",
            )
            # ...and nothing new starts (if it still answers at all).
            try:
                resp = c.call_raw("process.start", {"id": later["id"]})
                assert_error(resp, 1009, c._next_id)
            except (EOFError, ConnectionError):
                pass
            assert d.proc.wait(timeout=30) == 0, d.stderr()
            assert pid_gone(stubborn["pid"]), "the child ignoring SIGTERM outlived the daemon"
        finally:
            kill_pid(stubborn["pid"])


# ---------------------------------------------------------------- who may connect


def _connect_as(uid: int, path: Path, send: bool = True) -> dict[str, Any]:
    """Fork; the child drops to `uid`, connects, sends a request (if `send`), and reports every
    line it got before EOF (or the error it hit)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: only already-imported modules, and always _exit
        report: dict[str, Any] = {"lines": [], "eof": False}
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(15)
            s.connect(str(path))
            if send:
                s.sendall(json.dumps(request("daemon.info")).encode() + b"\n")
            buf = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    report["eof"] = True
                    break
                buf += chunk
            report["lines"] = [json.loads(x) for x in buf.splitlines() if x.strip()]
        except BaseException as e:
            report["exception"] = repr(e)
        finally:
            os.write(w, json.dumps(report).encode())
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    result: dict[str, Any] = json.loads(data)
    return result


@pytest.mark.skipif(os.geteuid() != 0, reason="connecting as another uid needs root")
def test_another_user_is_refused(private_dir: Path) -> None:
    """The socket is 0600 in a 0700 dir, so another user cannot even reach it. To test the
    daemon's own SO_PEERCRED check as well, the test (root) opens both up, then connects as
    nobody: one 1010 error with id null, then the connection is closed."""
    sock = private_dir / "d" / "sl.sock"
    with own_daemon(["--socket", str(sock)], sock, private_dir / "err", env=base_env()) as proc:
        assert mode(sock.parent) == 0o700 and mode(sock) == 0o600
        assert sock.stat().st_uid == 0
        # Mode alone keeps nobody out:
        blocked = _connect_as(65534, sock)
        assert "PermissionError" in blocked.get("exception", ""), blocked
        os.chmod(private_dir, 0o711)
        os.chmod(sock.parent, 0o711)
        os.chmod(sock, 0o666)
        # A client that only listens, and one that sends a request as any client would: each
        # reads one 1010 error, then EOF (not a reset that loses the error).
        for send in (False, True):
            got = _connect_as(65534, sock, send=send)
            assert "exception" not in got, (send, got)
            assert got["eof"] is True, got
            assert len(got["lines"]) == 1, got
            assert_error(got["lines"][0], 1010, None)
        # Its own user (root here) is still served.
        with RawClient(sock) as c:
            assert c.call("daemon.info")["pid"] == proc.pid


def test_the_fixture_daemon_runs_as_us(daemon: Daemon) -> None:
    # The same user as the daemon is served (the refused case is above).
    with daemon.client() as c:
        assert c.call("daemon.info")["pid"] == daemon.proc.pid


@pytest.fixture
def daemon(private_dir: Path) -> Iterator[Daemon]:
    with running_daemon(private_dir) as d:
        yield d
