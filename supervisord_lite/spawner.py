"""The process owner: starts children with Popen and learns of their exit through pidfds.

No polling and no thread per child: each child's pidfd sits in the event loop's selector and becomes
readable when the child exits; it is then reaped with waitid(P_PIDFD) (never waitpid(-1)), and
signalled with pidfd_send_signal, which cannot hit a recycled pid.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Mapping

from supervisord_lite.core import errors
from supervisord_lite.core.model import ExitCallback, Output, SpawnRequest, TargetKind

# What systemd hands the daemon is the daemon's alone; a child that saw it could answer for us.
PRIVATE_ENV = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID",
               "LISTEN_FDNAMES", "JOURNAL_STREAM", "SUPERVISORD_LITE_PROCESS_ID")  # fmt: skip


def base_environment(socket_path: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in PRIVATE_ENV}
    if socket_path is not None:
        env["SUPERVISORD_LITE_SOCKET"] = socket_path
    else:
        env.pop("SUPERVISORD_LITE_SOCKET", None)
    return env


def exitcode_from_waitid(result: os.waitid_result) -> int:
    if result.si_code == os.CLD_EXITED:
        return result.si_status
    return -result.si_status  # killed or dumped: minus the signal number, like multiprocessing


class PopenChild:
    def __init__(
        self,
        popen: subprocess.Popen[bytes],
        on_exit: ExitCallback,
        loop: asyncio.AbstractEventLoop,
        status_fd: int | None,
    ) -> None:
        # The Popen object is kept alive for the child's whole life: a dropped one could let the
        # stdlib reap the child and steal its exit status.
        self.popen = popen
        self._on_exit = on_exit
        self._loop = loop
        self._pidfd: int | None = os.pidfd_open(popen.pid)
        loop.add_reader(self._pidfd, self._reap)
        self._status_fd = status_fd

    @property
    def pid(self) -> int:
        return self.popen.pid

    def _reap(self) -> None:
        pidfd = self._pidfd
        if pidfd is None:
            return
        try:
            result = os.waitid(os.P_PIDFD, pidfd, os.WEXITED | os.WNOHANG)
        except ChildProcessError:  # pragma: no cover - someone else reaped it; say so loudly
            result = None
            code = -255
        else:
            if result is None:  # spurious wake-up: not exited yet
                return
            code = exitcode_from_waitid(result)
        self._loop.remove_reader(pidfd)
        os.close(pidfd)
        self._pidfd = None
        self.popen.returncode = code
        self._on_exit(code)

    def signal(self, signum: int) -> None:
        if self._pidfd is not None:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self._pidfd, signum)

    async def loaded(self) -> str | None:
        """Read the bootstrap's status pipe: EOF with nothing written means the target loaded."""
        fd = self._status_fd
        if fd is None:
            return None
        self._status_fd = None
        done: asyncio.Future[bytes] = self._loop.create_future()
        chunks: list[bytes] = []

        def readable() -> None:
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                return
            if chunk:
                chunks.append(chunk)
            elif not done.done():
                done.set_result(b"".join(chunks))

        os.set_blocking(fd, False)
        self._loop.add_reader(fd, readable)
        try:
            message = await done
        finally:
            self._loop.remove_reader(fd)
            os.close(fd)
        return message.decode("utf-8", "replace").strip() or None


class PopenSpawner:
    """Starts programs directly and Python targets through `python -m supervisord_lite.child`."""

    def __init__(self, *, socket_path: str | None, python: str = sys.executable) -> None:
        self._env = base_environment(socket_path)
        self._python = python

    async def spawn(self, request: SpawnRequest, on_exit: ExitCallback) -> PopenChild:
        loop = asyncio.get_running_loop()
        stdout, stderr = _output_fds(request)
        env = _merge_env(self._env, request.target.env)
        env["SUPERVISORD_LITE_PROCESS_ID"] = str(request.process_id)
        target = request.target
        status_r: int | None = None
        try:
            if target.kind is TargetKind.ARGV:
                argv = [*target.argv, *request.args]
                pass_fds: tuple[int, ...] = ()
            else:
                spec_fd = _spec_memfd(request)
                status_r, status_w = os.pipe()
                argv = [self._python, "-m", "supervisord_lite.child", str(spec_fd), str(status_w)]
                pass_fds = (spec_fd, status_w)
            try:
                popen = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=stdout,
                    stderr=stderr,
                    env=env,
                    cwd=target.cwd,
                    close_fds=True,
                    pass_fds=pass_fds,
                    start_new_session=True,  # a terminal's Ctrl-C reaches the daemon, not children
                )
            except OSError as exc:
                if status_r is not None:
                    os.close(status_r)
                what = target.cwd if _is_cwd_error(exc, target.cwd) else argv[0]
                raise errors.SpawnFailed(
                    f"cannot start {what!r}: {exc.strerror or exc}", errno=exc.errno
                ) from None
            finally:
                for fd in pass_fds:
                    os.close(fd)
            return PopenChild(popen, on_exit, loop, status_r)
        finally:
            if request.fds is not None:
                for fd in request.fds:
                    os.close(fd)


def _is_cwd_error(exc: OSError, cwd: str | None) -> bool:
    return cwd is not None and (exc.filename == cwd or not os.path.isdir(cwd))


def _output_fds(request: SpawnRequest) -> tuple[int, int]:
    if request.output is Output.PASSED and request.fds is not None:
        return request.fds
    if request.output is Output.NULL:
        return subprocess.DEVNULL, subprocess.DEVNULL
    # The daemon's stderr, for stdout too: in --stdio mode fd 1 carries the protocol.
    return 2, 2


def _merge_env(base: Mapping[str, str], extra: Mapping[str, str | None]) -> dict[str, str]:
    env = dict(base)
    for key, value in extra.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def _spec_memfd(request: SpawnRequest) -> int:
    """The child's instructions, in an anonymous file: no size limit, no blocking, no trace in env."""
    target = request.target
    spec = {
        "name": request.name,
        "authkey": request.authkey,
        "kind": target.kind.value,
        "ref": target.ref,
        "payload": target.payload,
        "main_path": target.main_path,
        "sys_path": list(target.sys_path),
        "args": list(request.args),
        "kwargs": dict(request.kwargs),
    }
    fd = os.memfd_create("supervisord-lite-spec", os.MFD_CLOEXEC)
    data = json.dumps(spec).encode()
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd
