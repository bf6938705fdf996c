"""The process owner: starts children and learns of their exit through pidfds.

No polling and no thread per child: each child's pidfd sits in the event loop's selector and becomes
readable when the child exits; it is then reaped with waitid(P_PIDFD) (never waitpid(-1)), and
signalled with pidfd_send_signal, which cannot hit a recycled pid.

Two ways to start a Python target:
- the fresh-interpreter path (`PopenSpawner`): `python -m supervisord_lite.child SPEC_FD STATUS_FD`;
- the zygote path (`ZygoteSpawner`): a pre-imported process forks it (supervisord_lite.zygote). The
  daemon is then a child subreaper: the zygote double-forks, so every target is re-parented to the
  daemon and is watched exactly like a Popen child. Orphans that a supervised program leaves behind
  are re-parented to the daemon too; `Reaper` reaps those, and only those, on SIGCHLD. When the
  zygote is down (it is restarted), Python targets take the fresh-interpreter path.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping

import orjson

from supervisord_lite.core import errors
from supervisord_lite.core.model import ExitCallback, Output, SpawnRequest, Target, TargetKind

log = logging.getLogger(__name__)

# What systemd hands the daemon is the daemon's alone; a child that saw it could answer for us.
PRIVATE_ENV = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID",
               "LISTEN_FDNAMES", "JOURNAL_STREAM", "SUPERVISORD_LITE_PROCESS_ID")  # fmt: skip

# Variables read once when an interpreter (or libc) starts: a forked child cannot honour a change
# of them, so a target that changes one takes the fresh-interpreter path.
STARTUP_ENV_PREFIXES = ("PYTHON", "LD_", "LC_", "LANG", "MALLOC_", "GLIBC_TUNABLES", "TZ")

PR_SET_CHILD_SUBREAPER = 36


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


class StatusReader:
    """Reads a child's status pipe without blocking: its first line, then the rest up to EOF."""

    def __init__(self, fd: int, loop: asyncio.AbstractEventLoop) -> None:
        self._fd: int | None = fd
        self._loop = loop
        self._buf = bytearray()
        self._eof = False
        self._waiter: asyncio.Future[None] | None = None
        os.set_blocking(fd, False)
        loop.add_reader(fd, self._readable)

    def _readable(self) -> None:
        assert self._fd is not None
        try:
            chunk = os.read(self._fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if chunk:
            self._buf += chunk
        else:
            self._eof = True
            self.close()
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def _wait(self) -> None:
        self._waiter = self._loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    async def line(self) -> bytes | None:
        """The first line (without its newline), or None if EOF came first."""
        while (nl := self._buf.find(b"\n")) < 0:
            if self._eof:
                return None
            await self._wait()
        line = bytes(self._buf[:nl])
        del self._buf[: nl + 1]
        return line

    async def rest(self) -> bytes:
        while not self._eof:
            await self._wait()
        data = bytes(self._buf)
        self._buf.clear()
        return data

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            self._loop.remove_reader(fd)
            os.close(fd)


class PidfdChild:
    """One child, watched through its pidfd; `on_exit` is called once, with its exit status."""

    def __init__(
        self,
        pid: int,
        on_exit: ExitCallback,
        loop: asyncio.AbstractEventLoop,
        *,
        status: StatusReader | None = None,
        popen: subprocess.Popen[bytes] | None = None,
        reaper: Reaper | None = None,
        gate: int | None = None,
    ) -> None:
        # A Popen object is kept alive for the child's whole life: a dropped one could let the
        # stdlib reap the child and steal its exit status.
        self.popen = popen
        self._pid = pid
        self._on_exit = on_exit
        self._loop = loop
        self._status = status
        self._reaper = reaper
        self._gate = gate  # closing it lets the child run its target (see child.bootstrap)
        self._pidfd: int | None = os.pidfd_open(pid)
        self._watching = True
        loop.add_reader(self._pidfd, self.reap)
        if reaper is not None:
            reaper.tracked[pid] = self

    @property
    def pid(self) -> int:
        return self._pid

    def reap(self) -> bool:
        """Reap the child if it has exited; True once it has been reaped (now or before)."""
        pidfd = self._pidfd
        if pidfd is None:
            return True
        try:
            result = os.waitid(os.P_PIDFD, pidfd, os.WEXITED | os.WNOHANG)
        except ChildProcessError:
            if self._reaper is not None:
                # Exited but not ours yet: a zygote child whose intermediate has not finished
                # exiting. Its re-parenting raises SIGCHLD, and the reaper comes back to it.
                self._stop_watching()
                self._reaper.unadopted.add(self)
                return False
            result, code = None, -255  # pragma: no cover - someone else reaped it
        else:
            if result is None:  # spurious wake-up: not exited yet
                return False
            code = exitcode_from_waitid(result)
        self._stop_watching()
        self._open_gate()
        os.close(pidfd)
        self._pidfd = None
        if self._reaper is not None:
            self._reaper.tracked.pop(self._pid, None)
            self._reaper.unadopted.discard(self)
        if self.popen is not None:
            self.popen.returncode = code
        self._on_exit(code)
        return True

    def poll(self) -> None:
        if self._pidfd is None or not self._watching:
            return  # reaped, or exited before it was re-parented to us: the reaper has it
        try:
            exited = os.waitid(os.P_PIDFD, self._pidfd, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return  # not our child yet (a zygote child whose intermediate still runs)
        if exited is not None:
            self.reap()

    def _stop_watching(self) -> None:
        if self._watching and self._pidfd is not None:
            self._loop.remove_reader(self._pidfd)
            self._watching = False

    def signal(self, signum: int) -> None:
        if self._pidfd is not None:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self._pidfd, signum)

    def _open_gate(self) -> None:
        gate, self._gate = self._gate, None
        if gate is not None:
            os.close(gate)

    async def loaded(self) -> str | None:
        """Read the bootstrap's status pipe: EOF with nothing written means the target loaded.

        The core calls this once it has recorded the child's pid, so this is where the child is
        let through its gate to run the target."""
        self._open_gate()
        status, self._status = self._status, None
        if status is None:
            return None
        try:
            message = await status.rest()
        finally:
            status.close()
        return message.decode("utf-8", "replace").strip() or None


PopenChild = PidfdChild  # the name the first version had


class Reaper:
    """Makes the daemon a child subreaper and reaps the orphans it adopts, never a tracked child.

    On SIGCHLD: waitid(P_ALL, WNOHANG|WNOWAIT) shows one exited child without reaping it; a tracked
    child is handed to its own PidfdChild (which reports its status), any other pid is an adopted
    orphan and is reaped with waitid(P_PID). While a zygote spawn has not yet told its child's pid,
    that child could be the zombie shown: the scan then waits until every pending spawn is resolved.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(err)}")
        self._loop = loop
        self.tracked: dict[int, PidfdChild] = {}
        self.unadopted: set[PidfdChild] = set()
        self.pending = 0
        self._deferred = False
        self.orphans_reaped = 0
        loop.add_signal_handler(signal.SIGCHLD, self.scan)

    def close(self) -> None:
        self._loop.remove_signal_handler(signal.SIGCHLD)

    def resolved(self) -> None:
        """A pending spawn now knows its child's pid (or knows there is none)."""
        self.pending -= 1
        if self.pending == 0 and self._deferred:
            self._deferred = False
            self._loop.call_soon(self.scan)

    def scan(self) -> None:
        for waiting in list(self.unadopted):
            waiting.reap()
        if self.pending:
            self._deferred = True
            return
        for _ in range(100_000):  # bounded: each round reaps one child or stops
            try:
                shown = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return
            if shown is None:
                return
            tracked = self.tracked.get(shown.si_pid)
            if tracked is not None:
                if not tracked.reap():
                    return
                continue
            with contextlib.suppress(ChildProcessError):
                os.waitid(os.P_PID, shown.si_pid, os.WEXITED | os.WNOHANG)
            self.orphans_reaped += 1
            log.debug("reaped adopted orphan %d", shown.si_pid)


class PopenSpawner:
    """Starts programs directly and Python targets through `python -m supervisord_lite.child`."""

    def __init__(
        self, *, socket_path: str | None, python: str = sys.executable, reaper: Reaper | None = None
    ) -> None:
        self.env = base_environment(socket_path)
        self._python = python
        self._reaper = reaper
        self._devnull: int | None = None

    def close(self) -> None:
        """Children need no stopping (each is watched through its own pidfd); only the /dev/null
        fd kept for programs' stdin is closed."""
        if self._devnull is not None:
            os.close(self._devnull)
            self._devnull = None

    def _spawn_program(self, argv: list[str], env: dict[str, str], stdout: int, stderr: int) -> int:
        """posix_spawn (vfork + exec in libc, the environment encoded in C) skips Popen's ~60 µs of
        Python a start, much of what the daemon added to a short program's run. Popen is
        kept for what posix_spawn cannot do here: a working directory, and Python targets (they
        need pass_fds). No fd leaks without close_fds: the daemon's own fds are all close-on-exec
        (Python's default; received ones come with MSG_CMSG_CLOEXEC; `seal_inherited_fds` marks
        the ones it was started with)."""
        if self._devnull is None:
            self._devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        null = self._devnull
        out = null if stdout == subprocess.DEVNULL else stdout
        err = null if stderr == subprocess.DEVNULL else stderr
        try:
            return os.posix_spawn(
                _find_program(argv[0], env),
                argv,
                env,
                file_actions=[
                    (os.POSIX_SPAWN_DUP2, null, 0),
                    (os.POSIX_SPAWN_DUP2, out, 1),
                    (os.POSIX_SPAWN_DUP2, err, 2),
                ],
                setsid=True,  # as start_new_session: a terminal's Ctrl-C reaches the daemon only
                setsigdef=_RESTORED_SIGNALS,  # as Popen's restore_signals
            )
        except OSError as exc:
            raise _cannot_start(argv[0], exc) from None

    def child_env(self, request: SpawnRequest) -> dict[str, str]:
        env = _merge_env(self.env, request.target.env)
        env["SUPERVISORD_LITE_PROCESS_ID"] = str(request.process_id)
        return env

    async def spawn(self, request: SpawnRequest, on_exit: ExitCallback) -> PidfdChild:
        loop = asyncio.get_running_loop()
        stdout, stderr = _output_fds(request)
        env = self.child_env(request)
        target = request.target
        status_r: int | None = None
        try:
            if target.kind is TargetKind.ARGV:
                argv = [*target.argv, *request.args]
                pass_fds: tuple[int, ...] = ()
                if target.cwd is None:
                    pid = self._spawn_program(argv, env, stdout, stderr)
                    return PidfdChild(pid, on_exit, loop, reaper=self._reaper)
            else:
                spec_fd = _spec_memfd(request, {})
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
                raise _cannot_start(what, exc) from None
            finally:
                for fd in pass_fds:
                    os.close(fd)
            status = None if status_r is None else StatusReader(status_r, loop)
            return PidfdChild(
                popen.pid, on_exit, loop, status=status, popen=popen, reaper=self._reaper
            )
        finally:
            if request.fds is not None:
                for fd in request.fds:
                    os.close(fd)


class _Zygote:
    """The zygote process and the daemon's end of its SOCK_SEQPACKET socket."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        python: str,
        env: Mapping[str, str],
        preload: Iterable[str],
        spares: int,
        reaper: Reaper,
        on_exit: Callable[[_Zygote, int], None],
    ) -> None:
        self._loop = loop
        self.ready = False
        self.started = time.monotonic()
        self._queue: deque[list[int]] = deque()
        self._closed = False
        self._on_exit = on_exit
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            # A fresh interpreter with nothing but its socket: no listening socket, no client
            # connection, no systemd variable reaches it.
            popen = subprocess.Popen(
                [
                    python,
                    "-m",
                    "supervisord_lite.zygote",
                    str(theirs.fileno()),
                    str(spares),
                    *preload,
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=2,
                env=dict(env),
                close_fds=True,
                pass_fds=(theirs.fileno(),),
                start_new_session=True,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self.pid = popen.pid
        self._sock = ours
        ours.setblocking(False)
        self._process = PidfdChild(popen.pid, self._exited, loop, popen=popen, reaper=reaper)
        loop.add_reader(ours.fileno(), self._readable)

    def _readable(self) -> None:
        try:
            data = self._sock.recv(16)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if data == b"R":
            self.ready = True
        elif not data:
            self.close()

    def submit(self, fds: list[int]) -> None:
        """Send one request; the fds are this object's to close (after sending, or if it cannot)."""
        if self._closed:
            _close_all(fds)  # the child's status pipe reaches EOF: the caller falls back
            return
        self._queue.append(fds)
        if len(self._queue) == 1:
            self._flush()

    def _flush(self) -> None:
        while self._queue:
            fds = self._queue[0]
            try:
                socket.send_fds(self._sock, [b"S"], fds)
            except (BlockingIOError, InterruptedError):
                self._loop.add_writer(self._sock.fileno(), self._writable)
                return
            except OSError:
                self.close()
                return
            self._queue.popleft()
            _close_all(fds)

    def _writable(self) -> None:
        self._loop.remove_writer(self._sock.fileno())
        self._flush()

    def _exited(self, code: int) -> None:
        self.close()
        self._on_exit(self, code)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.ready = False
        self._loop.remove_reader(self._sock.fileno())
        self._loop.remove_writer(self._sock.fileno())
        self._sock.close()
        while self._queue:
            _close_all(self._queue.popleft())

    def kill(self) -> None:
        self.close()
        self._process.signal(signal.SIGKILL)


class ZygoteSpawner:
    """Python targets from the zygote, programs (and Python targets while it is down) via Popen."""

    def __init__(
        self,
        *,
        socket_path: str | None,
        preload: Iterable[str] = (),
        spares: int = 2,
        python: str = sys.executable,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._spares = spares
        self.reaper = Reaper(self._loop)
        self._fresh = PopenSpawner(socket_path=socket_path, python=python, reaper=self.reaper)
        self._python = python
        self._preload = tuple(preload)
        self.zygote: _Zygote | None = None
        self._restart_delay = 0.0
        self._restart: asyncio.TimerHandle | None = None
        self._closed = False
        self._start_zygote()

    # -- the zygote's life -----------------------------------------------------------------
    def _start_zygote(self) -> None:
        self._restart = None
        if self._closed:
            return
        try:
            self.zygote = _Zygote(
                self._loop,
                python=self._python,
                env=self._fresh.env,
                preload=self._preload,
                spares=self._spares,
                reaper=self.reaper,
                on_exit=self._zygote_exited,
            )
        except OSError as exc:
            log.error("cannot start the zygote: %s", exc)
            self._schedule_restart(0.0)

    def _zygote_exited(self, zygote: _Zygote, code: int) -> None:
        if self.zygote is zygote:
            self.zygote = None
        if self._closed:
            return
        log.warning(
            "the zygote (pid %d) exited with %d; Python targets start from a fresh interpreter "
            "until it is back",
            zygote.pid,
            code,
        )
        self._schedule_restart(time.monotonic() - zygote.started)

    def _schedule_restart(self, lived: float) -> None:
        # At once after a long life; with a growing delay (up to 10 s) if it keeps dying.
        self._restart_delay = 0.0 if lived > 10 else min(max(0.1, 2 * self._restart_delay), 10.0)
        self._restart = self._loop.call_later(self._restart_delay, self._start_zygote)

    def close(self) -> None:
        """Stop the zygote (the daemon is stopping). Children already started are not touched."""
        self._closed = True
        if self._restart is not None:
            self._restart.cancel()
        if self.zygote is not None:
            self.zygote.kill()
        self._fresh.close()
        # The zygote's death raises a SIGCHLD, maybe after the event loop has closed its wakeup
        # fd: with the handler still there, Python would print "Exception ignored ... EBADF".
        self.reaper.close()

    # -- spawning --------------------------------------------------------------------------
    async def spawn(self, request: SpawnRequest, on_exit: ExitCallback) -> PidfdChild:
        zygote = self.zygote
        if (
            zygote is None
            or not zygote.ready
            or not zygote_can_run(request.target, self._fresh.env)
        ):
            return await self._fresh.spawn(request, on_exit)  # no await before the child exists
        # A request handed to the zygote runs to its end even if the caller gives up meanwhile
        # (a client that hangs up in the middle of a start): the child may exist by then, and it
        # must still be watched and its exit reported.
        task = asyncio.ensure_future(self._spawn_python(zygote, request, on_exit))
        task.add_done_callback(_retrieve)
        return await asyncio.shield(task)

    async def _spawn_python(
        self, zygote: _Zygote, request: SpawnRequest, on_exit: ExitCallback
    ) -> PidfdChild:
        try:
            started = await self._spawn_in_zygote(zygote, request, on_exit)
        except BaseException:
            _close_all(request.fds or ())
            raise
        if started is not None:
            _close_all(request.fds or ())
            return started
        log.info("the zygote did not start process %d; using a fresh interpreter",
                 request.process_id)  # fmt: skip
        return await self._fresh.spawn(request, on_exit)  # closes request.fds

    async def _spawn_in_zygote(
        self, zygote: _Zygote, request: SpawnRequest, on_exit: ExitCallback
    ) -> PidfdChild | None:
        """Start the target in the zygote; None if no process was started there (fall back)."""
        loop = self._loop
        env = self._fresh.child_env(request)
        base = self._fresh.env
        delta: dict[str, str | None] = {k: v for k, v in env.items() if base.get(k) != v}
        delta.update((k, None) for k in base.keys() - env.keys())
        spec_fd = _spec_memfd(request, delta)
        status_r, status_w = os.pipe2(os.O_CLOEXEC)
        status = StatusReader(status_r, loop)
        gate_r, gate_w = os.pipe2(os.O_CLOEXEC)
        out, err = _output_fds(request)
        fds = [spec_fd, _dup_output(out), _dup_output(err), status_w, gate_r]
        self.reaper.pending += 1
        try:
            zygote.submit(fds)
            line = await status.line()
            if line is None:  # no child exists: the zygote died or could not fork
                status.close()
                os.close(gate_w)
                return None
            if line.startswith(b"!cwd "):
                status.close()
                os.close(gate_w)
                code = int(line[5:])
                raise _cannot_start(request.target.cwd, OSError(code, os.strerror(code)))
            return PidfdChild(
                int(line), on_exit, loop, status=status, reaper=self.reaper, gate=gate_w
            )
        except BaseException:
            status.close()
            with contextlib.suppress(OSError):
                os.close(gate_w)
            raise
        finally:
            self.reaper.resolved()


def zygote_can_run(target: Target, base_env: Mapping[str, str]) -> bool:
    """A Python target whose environment changes nothing that is read at interpreter start-up."""
    if not target.is_python:
        return False
    return not any(
        k.startswith(STARTUP_ENV_PREFIXES) and base_env.get(k) != v for k, v in target.env.items()
    )


def make_spawner(
    *, socket_path: str | None, zygote: bool = True, preload: Iterable[str] = ()
) -> PopenSpawner | ZygoteSpawner:
    """The daemon's spawner: with a zygote unless asked not to (or it cannot be had here)."""
    if zygote:
        try:
            return ZygoteSpawner(socket_path=socket_path, preload=preload)
        except (OSError, RuntimeError, ValueError) as exc:
            log.warning("no zygote (%s): Python targets start from a fresh interpreter", exc)
    return PopenSpawner(socket_path=socket_path)


def _retrieve(task: asyncio.Future[PidfdChild]) -> None:
    """Mark a shielded spawn's outcome as seen (its caller may have stopped waiting for it)."""
    if not task.cancelled() and task.exception() is not None:
        log.debug("a spawn whose caller went away failed: %s", task.exception())


def _close_all(fds: Iterable[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


def _dup_output(fd: int) -> int:
    if fd == subprocess.DEVNULL:
        return os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    return os.dup(fd)


# Python ignores SIGPIPE (and SIGXFSZ); an ignored signal stays ignored across exec.
_RESTORED_SIGNALS = (signal.SIGPIPE, signal.SIGXFSZ)


def _find_program(name: str, env: Mapping[str, str]) -> str:
    """What exec*p would run: `name` itself if it has a slash, else the first executable file of
    that name on the child's PATH (Popen searches the child's PATH too)."""
    if "/" in name:
        return name
    for directory in os.get_exec_path(env):
        path = os.path.join(directory, name)
        if os.access(path, os.X_OK) and os.path.isfile(path):
            return path
    raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), name)


def seal_inherited_fds() -> None:
    """Make every fd above 2 that the daemon was started with close-on-exec: programs are started
    without close_fds (see PopenSpawner._spawn_program), so none may be inheritable."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2:
            with contextlib.suppress(OSError):
                os.set_inheritable(fd, False)


def _cannot_start(what: str | None, exc: OSError) -> errors.SpawnFailed:
    """The error for a program (or working directory) that could not be started."""
    return errors.SpawnFailed(f"cannot start {what!r}: {exc.strerror or exc}", errno=exc.errno)


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


def _spec_memfd(request: SpawnRequest, env: Mapping[str, str | None]) -> int:
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
        "env": env,  # what a zygote's child changes in its inherited environment (None: unset)
        "cwd": target.cwd,
    }
    fd = os.memfd_create("supervisord-lite-spec", os.MFD_CLOEXEC)
    data = orjson.dumps(spec)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd
