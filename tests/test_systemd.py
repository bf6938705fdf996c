"""Running under systemd: sd_notify, the watchdog, socket activation, journald logging, unit files.

Unit tests drive supervisord_lite.systemd / .logs directly; integration tests run the real daemon
with the variables systemd would set, and check the shipped unit files with systemd-analyze.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from supervisord_lite import logs, systemd
from tests.conftest import start_daemon, stop_daemon
from tests.test_wire_support import listed_fds
from tests.wire import RawClient, socket_accepts, terminate, wait_until

REPO = Path(__file__).resolve().parent.parent
UNITS = REPO / "packaging" / "systemd"
PY = sys.executable
SYSTEMD_ENV = (*systemd.NOTIFY_ENV, *systemd.LISTEN_ENV)


# ---------------------------------------------------------------------------------------- helpers


@pytest.fixture(autouse=True)
def _clean_systemd_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test starts with systemd variables, and none leaks them to the next."""
    for name in (*SYSTEMD_ENV, "JOURNAL_STREAM"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def notify_sock(private_dir: Path) -> Iterator[tuple[socket.socket, str]]:
    """A datagram socket standing for systemd's notify socket: (socket, $NOTIFY_SOCKET value)."""
    path = private_dir / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.bind(str(path))
        s.settimeout(15)
        yield s, str(path)


def recv_until(
    sock: socket.socket, pred: Callable[[str], bool], *, timeout: float = 15.0
) -> list[str]:
    """Datagrams received until one satisfies `pred` (included); fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    got: list[str] = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no matching notification within {timeout}s; got {got}")
        sock.settimeout(left)
        try:
            msg = sock.recv(4096).decode()
        except TimeoutError:
            raise AssertionError(f"no matching notification within {timeout}s; got {got}") from None
        got.append(msg)
        if pred(msg):
            return got


def fields(msg: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in msg.split("\n") if line)


def listening_unix_socket(path: Path) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.listen(16)
    return s


# As systemd does it: the passed fd becomes fd 3, LISTEN_PID is the pid that runs the program
# (exec keeps the pid), LISTEN_FDS/LISTEN_FDNAMES say how many and their names.
ACTIVATE = textwrap.dedent(
    """
    import fcntl, os, sys
    sources = [int(fd) for fd in sys.argv[1].split(",")]
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in sources]  # out of the targets' way
    for fd in sources:
        os.close(fd)
    for i, fd in enumerate(high):
        os.dup2(fd, 3 + i)
        os.close(fd)
    os.environ["LISTEN_FDS"] = str(len(high))
    os.environ["LISTEN_PID"] = str(os.getpid())
    os.execv(sys.executable, [sys.executable, *sys.argv[2:]])
    """
)


def state_args(directory: Path) -> list[str]:
    """A state directory of the test's own (the default one is shared by every daemon)."""
    return ["--state-dir", str(directory / "state")]


def spawn(argv: list[str], err: Path | None = None, **kw: Any) -> subprocess.Popen[bytes]:
    """Popen with stdin from /dev/null and stderr to the file `err` (kept for a failure report)."""
    with open(os.devnull if err is None else err, "wb") as stderr:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stderr=stderr, cwd=REPO, **kw)


def activated(
    socks: socket.socket | list[socket.socket],
    argv: list[str],
    env: dict[str, str],
    **kw: Any,
) -> subprocess.Popen[bytes]:
    """Run `python argv...` with `socks` as fds 3, 4... and LISTEN_* set for that process."""
    fds = [s.fileno() for s in (socks if isinstance(socks, list) else [socks])]
    full_env = {**os.environ, **env}
    full_env.pop("SUPERVISORD_LITE_SOCKET", None)
    return spawn(
        [PY, "-c", ACTIVATE, ",".join(map(str, fds)), *argv],
        pass_fds=fds,
        env=full_env,
        **kw,
    )


stop = terminate


def run_to_exit(client: RawClient, argv: list[str] | None = None, **create: Any) -> dict[str, Any]:
    """Create, start and join a process (an `argv` target, or what `create` says); exit code 0."""
    params = {"target": {"argv": argv}} if argv is not None else create
    info = client.call("process.create", params)
    client.call("process.start", {"id": info["id"]})
    done: dict[str, Any] = client.call("process.join", {"id": info["id"], "timeout": 20})
    assert done["exitcode"] == 0, done
    return done


# ------------------------------------------------------------------------- Notifier (unit tests)


def test_notify_address_forms() -> None:
    assert systemd.notify_address("/run/systemd/notify") == "/run/systemd/notify"
    assert systemd.notify_address("@abstract/name") == b"\0abstract/name"
    assert systemd.notify_address(None) is None
    assert systemd.notify_address("") is None
    assert systemd.notify_address("relative/path") is None


def test_watchdog_usec_rules() -> None:
    assert systemd.watchdog_usec("200000", None, own_pid=42) == 200000
    assert systemd.watchdog_usec("200000", "42", own_pid=42) == 200000
    assert systemd.watchdog_usec("200000", "43", own_pid=42) is None  # for another process
    assert systemd.watchdog_usec(None, None, own_pid=42) is None
    assert systemd.watchdog_usec("0", None, own_pid=42) is None
    assert systemd.watchdog_usec("soon", None, own_pid=42) is None
    assert systemd.watchdog_usec("1000", "pid", own_pid=42) is None


def test_notifier_on_a_path_socket(
    notify_sock: tuple[socket.socket, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sock, address = notify_sock
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    n = systemd.Notifier.from_environment()
    assert "NOTIFY_SOCKET" not in os.environ
    assert n.enabled and n.watchdog_interval is None
    n.ready("serving on x,\n0 running")
    assert sock.recv(4096) == b"READY=1\nSTATUS=serving on x, 0 running"
    n.status("2 running")
    assert sock.recv(4096) == b"STATUS=2 running"
    n.stopping()
    assert sock.recv(4096) == b"STOPPING=1"
    n.close()
    n.close()  # twice is fine
    n.status("after close")  # and sends nothing, raising nothing
    assert not n.enabled


def test_notifier_on_an_abstract_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"supervisord-lite-test-{uuid.uuid4().hex[:12]}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(b"\0" + name.encode())
        sock.settimeout(15)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        n = systemd.Notifier.from_environment()
        n.ready("ok")
        assert sock.recv(4096) == b"READY=1\nSTATUS=ok"
        n.stopping()
        assert sock.recv(4096) == b"STOPPING=1"
        n.close()


def test_notifier_without_notify_socket_does_nothing() -> None:
    n = systemd.Notifier.from_environment()
    assert not n.enabled
    n.ready("x")
    n.status("y")
    n.stopping()
    assert n.send("READY=1") is False
    n.close()


def test_notifier_survives_a_vanished_manager(
    private_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    n = systemd.Notifier(str(private_dir / "nobody-listens"))
    assert n.send("READY=1") is False
    assert n.send("STATUS=x") is False
    n.close()
    warnings = [r for r in caplog.records if "could not notify" in r.getMessage()]
    assert len(warnings) == 1  # logged once, not per message


def test_status_bursts_are_coalesced_and_repeats_dropped(
    notify_sock: tuple[socket.socket, str],
) -> None:
    sock, address = notify_sock

    async def main() -> None:
        n = systemd.Notifier(address)
        n.attach(asyncio.get_running_loop())
        n.ready("0 running")
        for i in range(1, 50):
            n.status(f"{i} running")  # one loop iteration: only the last is worth sending
        # The coalesced STATUS= goes out in a callback already queued; one queued after it runs
        # strictly later (the loop's FIFO), so this waits for exactly that, not for time.
        flushed = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_soon(flushed.set_result, None)
        await flushed
        n.status("49 running")  # unchanged: nothing sent
        n.stopping()
        n.close()

    asyncio.run(main())
    got = recv_until(sock, lambda m: m == "STOPPING=1")
    assert got == ["READY=1\nSTATUS=0 running", "STATUS=49 running", "STOPPING=1"]


def test_watchdog_pings_come_from_the_running_loop(
    notify_sock: tuple[socket.socket, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sock, address = notify_sock
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    monkeypatch.setenv("WATCHDOG_USEC", "40000")  # pings every 20 ms
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    n = systemd.Notifier.from_environment()
    assert "WATCHDOG_USEC" not in os.environ and "WATCHDOG_PID" not in os.environ
    assert n.watchdog_interval == pytest.approx(0.02)
    sock.setblocking(False)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        n.attach(loop)
        for _ in range(3):
            msg = await asyncio.wait_for(loop.sock_recv(sock, 4096), timeout=15)
            assert msg == b"WATCHDOG=1"
        # A stuck loop stops the pings: block the loop on a read (from the notify socket itself)
        # for ten intervals; nothing may arrive meanwhile but what was already queued.
        while True:
            try:
                sock.recv(4096)
            except BlockingIOError:
                break
        sock.settimeout(0.2)
        with pytest.raises(TimeoutError):
            sock.recv(4096)
        sock.setblocking(False)
        # Unblocked, the loop pings again.
        msg = await asyncio.wait_for(loop.sock_recv(sock, 4096), timeout=15)
        assert msg == b"WATCHDOG=1"
        n.close()

    asyncio.run(main())


def test_watchdog_for_another_pid_is_off(
    notify_sock: tuple[socket.socket, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, address = notify_sock
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    monkeypatch.setenv("WATCHDOG_USEC", "40000")
    monkeypatch.setenv("WATCHDOG_PID", "1")
    n = systemd.Notifier.from_environment()
    assert n.watchdog_interval is None
    assert "WATCHDOG_USEC" not in os.environ and "WATCHDOG_PID" not in os.environ
    n.close()


# ------------------------------------------------------------------- listen_sockets (unit tests)


def test_listen_sockets_for_another_pid_are_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LISTEN_PID", "1")
    monkeypatch.setenv("LISTEN_FDS", "1")
    monkeypatch.setenv("LISTEN_FDNAMES", "x")
    assert systemd.listen_sockets() == []
    assert not any(name in os.environ for name in systemd.LISTEN_ENV)


def test_listen_sockets_without_activation() -> None:
    assert systemd.listen_sockets() == []


PROBE = textwrap.dedent(
    """
    import json, os, socket, sys
    from supervisord_lite import systemd
    pairs = systemd.listen_sockets_with_names()
    report = {
        "names": [n for n, _ in pairs],
        "fds": [s.fileno() for _, s in pairs],
        "inheritable": [os.get_inheritable(s.fileno()) for _, s in pairs],
        "env": sorted(k for k in os.environ if k.startswith("LISTEN_")),
        "fd3": os.path.exists("/proc/self/fd/3"),
    }
    print(json.dumps(report), flush=True)
    if pairs:
        conn, _ = pairs[0][1].accept()
        conn.sendall(b"hello from fd 3\\n")
        conn.close()
    """
)


def test_listen_sockets_serves_fd_3(private_dir: Path) -> None:
    path = private_dir / "act.sock"
    with listening_unix_socket(path) as lsock:
        proc = activated(lsock, ["-c", PROBE], {"LISTEN_FDNAMES": "api"}, stdout=subprocess.PIPE)
        assert proc.stdout is not None
        report = json.loads(proc.stdout.readline())
        assert report["names"] == ["api"]
        assert report["fds"] == [3]
        assert report["inheritable"] == [False]  # close-on-exec: no child inherits it
        assert report["env"] == []
        with socket.socket(socket.AF_UNIX) as c:
            c.settimeout(15)
            c.connect(str(path))
            assert c.recv(100) == b"hello from fd 3\n"
        assert proc.wait(timeout=15) == 0
        proc.stdout.close()


def test_listen_sockets_takes_every_passed_socket(private_dir: Path) -> None:
    with (
        listening_unix_socket(private_dir / "a.sock") as a,
        listening_unix_socket(private_dir / "b.sock") as b,
    ):
        proc = activated([a, b], ["-c", PROBE], {"LISTEN_FDNAMES": "a:b"}, stdout=subprocess.PIPE)
        with socket.socket(socket.AF_UNIX) as c:  # the probe serves only the first one
            c.settimeout(15)
            c.connect(str(private_dir / "a.sock"))
            assert c.recv(100) == b"hello from fd 3\n"
        out, _ = proc.communicate(timeout=30)
    report = json.loads(out)
    assert (report["names"], report["fds"], report["inheritable"]) == (
        ["a", "b"],
        [3, 4],
        [False, False],
    )


@pytest.mark.parametrize("kind", ["datagram", "connected", "pipe"])
def test_listen_sockets_refuses_what_cannot_be_served(private_dir: Path, kind: str) -> None:
    keep: list[Any] = []
    if kind == "datagram":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(str(private_dir / "d.sock"))
        fd = s.fileno()
        keep.append(s)
    elif kind == "connected":
        a, b = socket.socketpair()
        fd = a.fileno()
        keep += [a, b]
    else:
        r, w = os.pipe()
        fd = r
        keep += [r, w]
    proc = subprocess.Popen(
        [PY, "-c", ACTIVATE, str(fd), "-c", PROBE],
        pass_fds=(fd,),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = proc.communicate(timeout=30)
    report = json.loads(out)
    assert report["names"] == [] and report["env"] == []
    assert report["fd3"] is False  # refused and closed, so no child can inherit it
    assert b"socket activation: fd 3" in err
    for k in keep:
        if isinstance(k, int):
            os.close(k)
        else:
            k.close()


# ------------------------------------------------------------------------------ logs (unit tests)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_plain_log_lines(restore_logging: None) -> None:
    out = io.StringIO()
    logs.setup(logging.DEBUG, stream=out)
    log = logging.getLogger("supervisord_lite.test")
    log.info("two\nlines")
    log.debug("fine detail")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("it failed")
    lines = out.getvalue().splitlines()
    assert lines[0] == "INFO supervisord_lite.test: two\\nlines"
    assert lines[1] == "DEBUG supervisord_lite.test: fine detail"
    assert lines[2].startswith("ERROR supervisord_lite.test: it failed\\nTraceback")
    assert "ValueError: boom" in lines[2]
    assert len(lines) == 3  # one event a line, tracebacks included


def test_journal_log_lines(
    restore_logging: None, private_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = private_dir / "journal"
    with path.open("w") as stream:
        st = os.fstat(stream.fileno())
        monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
        logs.setup(logging.DEBUG, stream=stream)
        log = logging.getLogger("sl")
        log.debug("d")
        log.info("i")
        log.warning("w")
        log.error("e\nmore")
        log.critical("c")
    assert path.read_text().splitlines() == [
        "<7>sl: d",
        "<6>sl: i",
        "<4>sl: w",
        "<3>sl: e\\nmore",
        "<2>sl: c",
    ]


def test_journal_stream_of_another_file_means_plain(
    restore_logging: None, private_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = os.stat(private_dir)
    monkeypatch.setenv("JOURNAL_STREAM", f"{other.st_dev}:{other.st_ino}")
    path = private_dir / "stderr"
    with path.open("w") as stream:
        assert not logs.stream_is_journal(stream)
        logs.setup(stream=stream)
        logging.getLogger("sl").info("hi")
    assert path.read_text() == "INFO sl: hi\n"
    for bad in ("", "garbage", "1:x"):
        with path.open("w") as stream:
            assert not logs.stream_is_journal(stream, bad)


def test_authkeys_are_never_logged(restore_logging: None) -> None:
    out = io.StringIO()
    logs.setup(stream=out)
    key = os.urandom(32).hex()
    log = logging.getLogger("sl")
    log.info("authkey %s set", key)
    log.info("upper %s", key.upper())
    try:
        raise RuntimeError(f"bad key {key}")
    except RuntimeError:
        log.exception("failed")
    text = out.getvalue()
    assert key not in text and key.upper() not in text
    assert text.count(logs.REDACTED) == 3  # two messages and the traceback's last line
    assert "pid 12345" in logs.redact("pid 12345")  # ordinary numbers stay


# ------------------------------------------------------------------ the real daemon (integration)


def test_daemon_notifies_ready_status_and_stopping(
    private_dir: Path, notify_sock: tuple[socket.socket, str]
) -> None:
    sock, address = notify_sock
    path = private_dir / "sl.sock"
    err = private_dir / "daemon.stderr"
    env = {**os.environ, "NOTIFY_SOCKET": address}
    env.pop("SUPERVISORD_LITE_SOCKET", None)
    proc = spawn(
        [PY, "-m", "supervisord_lite", "serve", "--socket", str(path), *state_args(private_dir)],
        err,
        env=env,
    )
    try:
        ready = recv_until(sock, lambda m: "READY=1" in m.split("\n"))[-1]
        assert socket_accepts(path), "READY=1 was sent before the socket accepted connections"
        assert "running" in fields(ready)["STATUS"]
        with RawClient(path) as c:
            info = c.call("process.create", {"target": {"argv": ["sleep", "60"]}})
            c.call("process.start", {"id": info["id"]})
            recv_until(sock, lambda m: fields(m).get("STATUS", "").startswith("1 running"))
            c.call("process.terminate", {"id": info["id"]})
            c.call("process.join", {"id": info["id"], "timeout": 20})
            recv_until(sock, lambda m: fields(m).get("STATUS", "").startswith("0 running"))
        proc.send_signal(signal.SIGTERM)
        recv_until(sock, lambda m: "STOPPING=1" in m.split("\n"))
        assert proc.wait(timeout=15) == 0
    finally:
        stop(proc)


def test_daemon_watchdog_pings(private_dir: Path, notify_sock: tuple[socket.socket, str]) -> None:
    sock, address = notify_sock
    d = start_daemon(private_dir, env={"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "200000"})
    try:
        for _ in range(4):  # every 100 ms: half of WATCHDOG_USEC
            recv_until(sock, lambda m: m == "WATCHDOG=1")
        assert d.proc.poll() is None
    finally:
        assert stop_daemon(d) == 0


@pytest.mark.parametrize("kind", ["argv", "python"])
def test_children_inherit_no_systemd_variable_nor_fd(
    private_dir: Path, notify_sock: tuple[socket.socket, str], kind: str
) -> None:
    _, address = notify_sock
    path = private_dir / "act.sock"
    env_file, fd_file = private_dir / "env", private_dir / "fds"
    with listening_unix_socket(path) as lsock:
        proc = activated(
            lsock,
            [
                "-m",
                "supervisord_lite",
                "serve",
                "--socket",
                str(private_dir / "unused.sock"),
                *state_args(private_dir),
            ],
            {
                "NOTIFY_SOCKET": address,
                "WATCHDOG_USEC": "10000000",
                "LISTEN_FDNAMES": "supervisord-lite.socket",
            },
        )
    try:
        script = f"env > {env_file}; ls -l /proc/self/fd > {fd_file}"
        with RawClient(path) as c:
            if kind == "argv":
                run_to_exit(c, ["sh", "-c", script])
            else:  # a Python target, whose shell sees what the Python child could pass on
                run_to_exit(c, target={"callable": "os:system"}, args=[script])
        names = {line.split("=", 1)[0] for line in env_file.read_text().splitlines()}
        assert not names & set(SYSTEMD_ENV), names & set(SYSTEMD_ENV)
        assert "SUPERVISORD_LITE_SOCKET" in names
        fds = listed_fds(fd_file)
        extra = {fd: target for fd, target in fds.items() if fd > 2}
        # Only the directory ls itself opened to list /proc/self/fd.
        assert all(t.startswith("/proc/") for t in extra.values()), fds
        assert not any("socket:" in t for t in fds.values()), fds
    finally:
        assert stop(proc) == 0


def test_socket_activation_serves_the_passed_socket(private_dir: Path) -> None:
    path = private_dir / "act.sock"
    own = private_dir / "own.sock"
    err = private_dir / "daemon.stderr"
    with listening_unix_socket(path) as lsock:
        proc = activated(
            lsock,
            ["-m", "supervisord_lite", "serve", "--socket", str(own), *state_args(private_dir)],
            {"LISTEN_FDNAMES": "supervisord-lite.socket"},
            err=err,
        )
    try:
        with RawClient(path) as c:  # the connection waits in the backlog until the daemon serves
            info = c.call("daemon.info")
            assert info["pid"] == proc.pid
            run_to_exit(c, ["true"])
        assert not own.exists(), "the daemon bound its own socket although one was passed"
    finally:
        assert stop(proc) == 0
    assert "Traceback" not in err.read_text()


def test_children_are_told_the_activated_socket(private_dir: Path) -> None:
    path = private_dir / "act.sock"
    out = private_dir / "sock-var"
    with listening_unix_socket(path) as lsock:
        proc = activated(
            lsock,
            [
                "-m",
                "supervisord_lite",
                "serve",
                "--socket",
                str(private_dir / "own.sock"),
                *state_args(private_dir),
            ],
            {"LISTEN_FDNAMES": "supervisord-lite.socket"},
        )
    try:
        with RawClient(path) as c:
            run_to_exit(c, ["sh", "-c", f'printf %s "$SUPERVISORD_LITE_SOCKET" > {out}'])
        assert out.read_text() == str(path)
    finally:
        assert stop(proc) == 0


def test_socket_activation_serves_every_passed_socket(private_dir: Path) -> None:
    with (
        listening_unix_socket(private_dir / "a.sock") as a,
        listening_unix_socket(private_dir / "b.sock") as b,
    ):
        proc = activated(
            [a, b],
            [
                "-m",
                "supervisord_lite",
                "serve",
                "--socket",
                str(private_dir / "own.sock"),
                *state_args(private_dir),
            ],
            {"LISTEN_FDNAMES": "a:b"},
        )
    try:
        for name in ("a.sock", "b.sock"):
            with RawClient(private_dir / name, timeout=5) as c:
                assert c.call("daemon.info")["pid"] == proc.pid
    finally:
        assert stop(proc) == 0


def test_systemd_socket_activate(private_dir: Path) -> None:
    tool = shutil.which("systemd-socket-activate") or "/usr/bin/systemd-socket-activate"
    if not os.access(tool, os.X_OK):
        pytest.skip("systemd-socket-activate is not installed (make test installs systemd)")
    path = private_dir / "ssa.sock"
    err = private_dir / "daemon.stderr"
    proc = spawn(
        [
            tool,
            "-l",
            str(path),
            PY,
            "-m",
            "supervisord_lite",
            "serve",
            "--socket",
            str(private_dir / "own.sock"),
            *state_args(private_dir),
        ],
        err,
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_until(path.exists, timeout=15, what="systemd-socket-activate to listen")
        with RawClient(path) as c:  # this connection makes it exec the daemon
            assert c.call("daemon.info")["pid"] == proc.pid
            run_to_exit(c, ["true"])
        assert not (private_dir / "own.sock").exists()
    finally:
        assert stop(proc) == 0, err.read_text()


def test_daemon_logs_for_the_journal_without_authkeys(private_dir: Path) -> None:
    err = private_dir / "daemon.stderr"
    err.touch()
    st = os.stat(err)  # start_daemon reopens this file with O_TRUNC: same inode
    d = start_daemon(private_dir, env={"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"})
    try:
        with d.client() as c:
            info = c.call("process.create", {"target": None})
            key = c.call("process.getAuthKey", {"id": info["id"]})
            c.call("process.setAuthKey", {"id": info["id"], "value": None})
            key2 = c.call("process.getAuthKey", {"id": info["id"]})
    finally:
        assert stop_daemon(d) == 0
    lines = d.stderr().splitlines()
    assert lines, "the daemon logged nothing"
    assert all(re.match(r"<[0-7]>", line) for line in lines), lines
    assert any(line.startswith("<6>") for line in lines)
    assert key not in d.stderr() and key2 not in d.stderr()


# --------------------------------------------------------------------------- unit files (systemd)

SYSTEM_UNITS = ["supervisord-lite.service", "supervisord-lite.socket"]
USER_UNITS = ["user/supervisord-lite.service", "user/supervisord-lite.socket"]


def systemd_analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed (`make test` installs it: mk/systemd.mk)")
    return tool


def systemd_unit_dir() -> Path:
    for d in ("/usr/lib/systemd/system", "/lib/systemd/system"):
        if Path(d, "sysinit.target").exists():
            return Path(d)
    pytest.skip("systemd's own units (sysinit.target...) are not installed")


def console_script(directory: Path) -> Path:
    """An executable standing for the installed `supervisord-lite` console script."""
    script = directory / "supervisord-lite"
    script.write_text(f'#!/bin/sh\nexec {PY} -m supervisord_lite "$@"\n')
    script.chmod(0o755)
    return script


def test_unit_files_say_what_the_issue_asks() -> None:
    service = (UNITS / "supervisord-lite.service").read_text()
    for line in ("Type=notify", "Restart=on-failure", "KillMode=process", "StateDirectory=supervisord-lite", "NoNewPrivileges=yes",
                 "ProtectSystem=strict", "RuntimeDirectory=supervisord-lite", "PrivateTmp=yes",
                 "ProtectHome=read-only"):  # fmt: skip
        assert re.search(rf"^{re.escape(line)}$", service, re.M), line
    assert re.search(r"^WatchdogSec=\d+", service, re.M)
    for unit in ("supervisord-lite.service", "user/supervisord-lite.service"):
        text = (UNITS / unit).read_text()
        assert re.search(r"^ExecStart=supervisord-lite serve\b", text, re.M), unit
        assert re.search(r"^Type=notify$", text, re.M), unit
    for unit in ("supervisord-lite.socket", "user/supervisord-lite.socket"):
        text = (UNITS / unit).read_text()
        for line in ("ListenStream=%t/supervisord-lite/sock", "SocketMode=0600",
                     "DirectoryMode=0700"):  # fmt: skip
            assert re.search(rf"^{re.escape(line)}$", text, re.M), (unit, line)


def test_system_units_verify(tmp_path: Path) -> None:
    """`systemd-analyze verify` on the unit files exactly as shipped, in a scratch root whose
    /usr/local/bin holds the console script (verify checks that ExecStart= can be executed)."""
    tool = systemd_analyze()
    root = tmp_path / "root"
    shutil.copytree(systemd_unit_dir(), root / "usr/lib/systemd/system", symlinks=True)
    (root / "usr/local/bin").mkdir(parents=True)
    console_script(root / "usr/local/bin")
    (root / "etc/systemd/system").mkdir(parents=True)
    for unit in SYSTEM_UNITS:
        shutil.copy(UNITS / unit, root / "etc/systemd/system")
    r = subprocess.run(
        [tool, "verify", f"--root={root}", *SYSTEM_UNITS],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")


def test_user_units_verify(tmp_path: Path) -> None:
    """`systemd-analyze --user verify` (which cannot take --root): the one change is the program
    of ExecStart= and ExecReload=, made an absolute path to an executable that exists here."""
    tool = systemd_analyze()
    runtime = tmp_path / "xdg"
    runtime.mkdir(mode=0o700)
    units = tmp_path / "units"
    units.mkdir()
    script = console_script(tmp_path)
    for unit in USER_UNITS:
        text = (UNITS / unit).read_text()
        text = re.sub(r"^(ExecStart|ExecReload)=supervisord-lite ", rf"\1={script} ", text,
                      flags=re.M)  # fmt: skip
        (units / Path(unit).name).write_text(text)
    r = subprocess.run(
        [tool, "--user", "verify", *(str(units / Path(u).name) for u in USER_UNITS)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "XDG_RUNTIME_DIR": str(runtime)},
    )
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")


def exposure(tool: str, unit: Path, *extra: str, env: dict[str, str] | None = None) -> float:
    r = subprocess.run(
        [tool, *extra, "security", "--offline=true", "--no-pager", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )
    assert r.returncode == 0, r.stderr
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", r.stdout)
    assert m, r.stdout
    return float(m[1])


def test_security_exposure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tool = systemd_analyze()
    runtime = tmp_path / "xdg"
    runtime.mkdir(mode=0o700)
    system = exposure(tool, UNITS / "supervisord-lite.service")
    user = exposure(
        tool,
        UNITS / "user/supervisord-lite.service",
        "--user",
        env={"XDG_RUNTIME_DIR": str(runtime)},
    )
    with capsys.disabled():
        print(
            f"\nsystemd-analyze security --offline=true: system unit {system:.1f}, "
            f"user unit {user:.1f} (0 = safest, 10 = unsafe)"
        )
    assert system <= 2.5  # a regression in the sandbox shows here
    assert user <= 7.0
