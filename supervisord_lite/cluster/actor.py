"""What runs on a Ray node: one actor per process, which starts, watches and signals its child.

The daemon creates it detached and named (ray_owner.py), so it outlives the daemon's connection to
the cluster; it holds the child's exit status and output until the daemon releases it. It is an
asyncio actor: `wait` and output reads with `wait` are answered when the child exits or writes,
through the pidfd and the pipes in the actor's own event loop, never by polling.

The child runs in a session of its own (its pid is its process group), so a signal reaches the
whole tree it started in that group. Until the daemon has recorded its pid, the child waits at a
gate (a pipe the actor closes in `go`), so the daemon knows it before it can create a process.
Plain Python with no import of Ray: `ray.remote(ProcessActor)` is applied by the daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
from typing import Any

from supervisord_lite.cluster.capture import Capture
from supervisord_lite.memfd import memfd_holding, read_all

# Holds argv targets at the gate: a shell whose stdin is the gate waits for its EOF, then execs the
# program in its own place with stdin from /dev/null (same pid: the one the daemon recorded).
_GATE_SH = 'read -r _; exec "$0" "$@" </dev/null'

# Variables Ray sets in its workers: the child gets the node's environment, not the actor's.
_RAY_ENV_PREFIXES = ("RAY_",)
_RAY_ENV = ("SPT_NOENV", "PYTHONBREAKPOINT", "OMP_NUM_THREADS")
_PRIVATE_ENV = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID",
                "LISTEN_FDNAMES", "JOURNAL_STREAM")  # fmt: skip


def node_environment() -> dict[str, str]:
    env = dict(os.environ)
    for key in list(env):
        if key.startswith(_RAY_ENV_PREFIXES) or key in _RAY_ENV or key in _PRIVATE_ENV:
            del env[key]
    return env


class ProcessActor:
    """One supervised process on this node. Its methods are called by the daemon through Ray."""

    def __init__(self, daemon: str, process_id: int, log_dir: str | None) -> None:
        self.process_id = process_id
        self.node = _node_id()
        self._base_dir = log_dir or default_log_dir()
        self._log_dir = os.path.join(self._base_dir, daemon, str(process_id))
        self.pid: int | None = None
        self.exitcode: int | None = None
        self._popen: subprocess.Popen[bytes] | None = None
        self._pidfd: int | None = None
        self._gate: int | None = None
        self._status: int | None = None
        self._exited = asyncio.Event()
        self._captures: dict[str, Capture] = {}

    # -- start ------------------------------------------------------------------------------
    async def start(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Start the child, held at its gate. {"pid", "node"} or {"error", "errno"}."""
        loop = asyncio.get_running_loop()
        env = node_environment()
        for key, value in spec["env"].items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        cwd = spec["cwd"]
        if cwd is not None and not os.path.isdir(cwd):
            return {"error": f"cannot start {cwd!r}: No such file or directory", "errno": 2}
        gate_r, gate_w = os.pipe()
        fds: list[int] = [gate_r]
        if spec["kind"] == "argv":
            argv = spec["argv"]
            if shutil.which(argv[0], path=env.get("PATH", os.defpath)) is None and not (
                "/" in argv[0] and os.access(os.path.join(cwd or ".", argv[0]), os.X_OK)
            ):
                _close(gate_r, gate_w)
                return {"error": f"cannot start {argv[0]!r}: No such file or directory",
                        "errno": 2}  # fmt: skip
            command = ["/bin/sh", "-c", _GATE_SH, *argv]
            stdin = gate_r
            pass_fds: tuple[int, ...] = ()
        else:
            spec_fd = _memfd(spec["child"])
            self._status, status_w = os.pipe2(os.O_CLOEXEC)
            command = [sys.executable, "-m", "supervisord_lite.cluster.child",
                       str(spec_fd), str(status_w), str(gate_r)]  # fmt: skip
            pass_fds = (spec_fd, status_w, gate_r)
            stdin = subprocess.DEVNULL
            fds += [spec_fd, status_w]
        problem = _private_dir(self._base_dir)
        if problem is None:
            for path in (os.path.dirname(self._log_dir), self._log_dir):  # each 0700 (makedirs
                with contextlib.suppress(FileExistsError):  # makes parents 0777 - umask)
                    os.mkdir(path, 0o700)
        else:
            _close(gate_w, *fds, *([] if self._status is None else [self._status]))
            self._status = None
            return {"error": problem, "errno": None}
        keep = spec["output"] != "null"
        for stream in ("stdout", "stderr"):
            kept = os.path.join(self._log_dir, stream) if keep else None
            self._captures[stream] = Capture(kept, loop)
        out = self._captures["stdout"].write_end
        err = self._captures["stderr"].write_end
        try:
            self._popen = subprocess.Popen(
                command,
                stdin=stdin,
                stdout=subprocess.DEVNULL if out is None else out,
                stderr=subprocess.DEVNULL if err is None else err,
                env=env,
                cwd=cwd,
                close_fds=True,
                pass_fds=pass_fds,
                start_new_session=True,  # its own session and process group: the tree to signal
            )
        except OSError as exc:
            _close(gate_w, *fds)
            if self._status is not None:
                os.close(self._status)
                self._status = None
            return {"error": f"cannot start {command[0]!r}: {exc.strerror or exc}",
                    "errno": exc.errno}  # fmt: skip
        for fd in fds:
            os.close(fd)
        for capture in self._captures.values():
            capture.writer_passed()
        self._gate = gate_w
        self.pid = self._popen.pid
        self._pidfd = os.pidfd_open(self.pid)
        loop.add_reader(self._pidfd, self._reap)
        return {"pid": self.pid, "node": self.node}

    async def go(self) -> str | None:
        """Let the child through its gate; None once its target is loaded, else why it failed."""
        gate, self._gate = self._gate, None
        if gate is not None:
            os.close(gate)
        status, self._status = self._status, None
        if status is None:
            return None
        loop = asyncio.get_running_loop()
        message = await loop.run_in_executor(None, _read_all, status)
        return message.decode("utf-8", "replace").strip() or None

    # -- exit -------------------------------------------------------------------------------
    def _reap(self) -> None:
        assert self._popen is not None and self._pidfd is not None
        code = self._popen.poll()
        if code is None:
            return
        asyncio.get_running_loop().remove_reader(self._pidfd)
        os.close(self._pidfd)
        self._pidfd = None
        gate, self._gate = self._gate, None
        if gate is not None:
            os.close(gate)
        self.exitcode = code  # Popen's convention is ours: minus the signal number if killed
        self._exited.set()

    async def wait(self) -> int:
        await self._exited.wait()
        assert self.exitcode is not None
        return self.exitcode

    def status(self) -> dict[str, Any]:
        return {"pid": self.pid, "exitcode": self.exitcode, "node": self.node}

    def signal(self, signum: int) -> None:
        """To the child's whole process group; nothing once it has exited."""
        if self.pid is not None and self.exitcode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signum)

    # -- output -----------------------------------------------------------------------------
    async def read(
        self, stream: str, offset: int, limit: int, wait: bool
    ) -> tuple[bytes, int, bool]:
        capture = self._captures.get(stream)
        if capture is None:
            return b"", 0, True
        chunk = await capture.read(offset, limit, wait)
        return chunk.data, chunk.next_offset, chunk.ended

    def release(self) -> None:
        """The daemon has stored the exit: the output files go (the actor is killed next)."""
        if self.exitcode is None and self.pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)
        for capture in self._captures.values():
            capture.remove()
        with contextlib.suppress(OSError):
            os.rmdir(self._log_dir)
            os.rmdir(os.path.dirname(self._log_dir))  # the daemon's, once it is empty


def default_log_dir() -> str:
    """Where output is kept on a node: the node's temp dir, one directory per user."""
    import tempfile

    return os.path.join(tempfile.gettempdir(), f"supervisord-lite-ray-{os.getuid()}")


def _private_dir(path: str) -> str | None:
    """None once `path` exists, is ours and no one else's to read; else why not."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    st = os.lstat(path)
    if st.st_uid != os.getuid() or st.st_mode & 0o077 or not os.path.isdir(path):
        return f"the log directory {path} is not private to uid {os.getuid()} (mode 0700)"
    return None


def _node_id() -> str:
    ray = sys.modules.get("ray")  # imported already in a Ray worker; never imported here
    if ray is not None and ray.is_initialized():
        return str(ray.get_runtime_context().get_node_id())
    return os.uname().nodename  # outside Ray: the actor's own unit tests


def _memfd(spec: dict[str, Any]) -> int:
    import json

    # Passed to the child by number (pass_fds), so not close-on-exec.
    return memfd_holding(json.dumps(spec).encode(), "supervisord-lite-spec", cloexec=False)


def _read_all(fd: int) -> bytes:
    try:
        return read_all(fd, 1 << 16)
    finally:
        os.close(fd)


def _close(*fds: int) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)
