"""Shared fixtures: a real daemon on a temporary socket, and a raw NDJSON client for it."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.wire import RawClient, socket_accepts, terminate, wait_until


class Daemon:
    """A supervisord-lite daemon process serving on its own socket in a private directory."""

    def __init__(self, socket_path: Path, proc: subprocess.Popen[bytes], stderr_path: Path) -> None:
        self.socket_path = socket_path
        self.proc = proc
        self.stderr_path = stderr_path

    def client(self) -> RawClient:
        return RawClient(self.socket_path)

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    @property
    def state_dir(self) -> Path:
        return state_dir_of(self.socket_path)

    def owner_pid(self) -> int:
        """The parent of its children: the keeper of its state directory (the daemon itself when
        it runs --ephemeral)."""
        pid = keeper_pid(self.state_dir)
        return self.proc.pid if pid is None else pid


def state_dir_of(sock: Path) -> Path:
    return sock.parent / f"{sock.name}.state"


def keeper_pid(state_dir: Path) -> int | None:
    """The pid of the keeper serving `state_dir` (None if there is none)."""
    try:
        pid = int((state_dir / "keeper.pid").read_text())
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    return pid if os.fsencode(state_dir) in argv else None


# The keepers of this session's daemons, by pid (and no other session's: test sessions may run
# side by side on one machine). By pid: a test's directory, pid file included, is gone by the end.
_KEEPERS: set[int] = set()


@pytest.fixture(autouse=True, scope="session")
def _no_keeper_outlives_the_tests() -> Iterator[None]:
    """A test that kills a front with -9 while a child runs leaves its keeper holding that exit,
    as it should; at the end of the session the keepers of this session's daemons are stopped."""
    yield
    for pid in _KEEPERS:
        try:
            still_a_keeper = (
                b"supervisord_lite.owner.keeper" in Path(f"/proc/{pid}/cmdline").read_bytes()
            )
        except OSError:
            continue  # gone, as it should be
        if still_a_keeper:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)


REPO = Path(__file__).resolve().parent.parent


def launch_daemon(
    args: list[str],
    sock: Path,
    stderr: Path,
    *,
    env: dict[str, str] | None = None,
    umask: int = -1,
    pass_fds: tuple[int, ...] = (),
    prefix: str | None = None,
) -> subprocess.Popen[bytes]:
    """`python -m supervisord_lite serve ARGS` from the repository root, with exactly this
    environment (None: ours); returns once `sock` accepts, and stops a daemon that fails to."""
    if "--ephemeral" not in args and "--state-dir" not in args:
        args = [*args, "--state-dir", str(state_dir_of(sock))]  # one each
    with stderr.open("wb") as err_file:  # the child keeps its own copy of the fd
        # `prefix`: Python code run first, which execs the daemon (sys.argv[1:]) when done.
        front = [sys.executable, "-c", prefix, sys.executable] if prefix else [sys.executable]
        proc = subprocess.Popen(
            [*front, "-m", "supervisord_lite", "serve", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err_file,
            env=env,
            cwd=REPO,
            umask=umask,
            pass_fds=pass_fds,
        )

    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"daemon exited with {proc.returncode}: {stderr.read_text()}")
        return socket_accepts(sock)

    try:
        wait_until(up, timeout=15, what=f"the daemon to accept on {sock}")
        # Accepting is the kernel's doing (the backlog) and comes first; serving needs the
        # keeper too. One answered request says the daemon is all there.
        with RawClient(sock, timeout=30) as probe:
            probe.call("daemon.info")
        if "--state-dir" in args:
            keeper = keeper_pid(Path(args[args.index("--state-dir") + 1]))
            if keeper is not None:
                _KEEPERS.add(keeper)
    except BaseException:
        terminate(proc)
        raise
    return proc


def start_daemon(
    directory: Path, *extra: str, env: dict[str, str] | None = None, pass_fds: tuple[int, ...] = ()
) -> Daemon:
    """Serve on `directory`/sl.sock; return once the socket accepts."""
    sock = directory / "sl.sock"
    err = directory / "daemon.stderr"
    full_env = {**os.environ, **(env or {})}
    full_env.pop("SUPERVISORD_LITE_SOCKET", None)
    proc = launch_daemon(
        ["--socket", str(sock), *extra], sock, err, env=full_env, pass_fds=pass_fds
    )
    return Daemon(sock, proc, err)


def stop_daemon(d: Daemon) -> int:
    return terminate(d.proc)


@pytest.fixture
def private_dir() -> Iterator[Path]:
    # Short paths: a Unix socket path must fit in 108 bytes.
    with tempfile.TemporaryDirectory(prefix="sl-") as d:
        yield Path(d)


@pytest.fixture
def daemon(private_dir: Path) -> Iterator[Daemon]:
    d = start_daemon(private_dir)
    yield d
    stop_daemon(d)


@pytest.fixture
def c(daemon: Daemon) -> Iterator[RawClient]:
    """A raw wire client on the test's daemon."""
    with daemon.client() as client:
        yield client


@dataclass(frozen=True)
class OtherUser:
    name: str
    uid: int
    gid: int


@pytest.fixture(scope="session")
def other_user() -> Iterator[OtherUser]:
    """A second user, made for the session with useradd (root only) and removed after it."""
    if os.geteuid() != 0:
        pytest.skip("needs root, to create a second user with useradd")
    if shutil.which("useradd") is None:
        pytest.skip("needs useradd, to create a second user")
    name = f"sltest{os.getpid()}"
    subprocess.run(["useradd", "--no-create-home", "--shell", "/bin/false", name], check=True)
    try:
        record = pwd.getpwnam(name)
        yield OtherUser(name, record.pw_uid, record.pw_gid)
    finally:
        subprocess.run(["userdel", name], check=False)
