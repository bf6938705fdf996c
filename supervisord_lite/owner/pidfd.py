"""One child watched through its pidfd, and the reader of a Python child's status pipe.

No polling and no thread per child: each child's pidfd sits in the event loop's selector and becomes
readable when the child exits; it is then reaped with waitid(P_PIDFD) (never waitpid(-1)), and
signalled with pidfd_send_signal, which cannot hit a recycled pid.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from typing import TYPE_CHECKING, NoReturn

from supervisord_lite.core.model import ExitCallback
from supervisord_lite.owner import tree
from supervisord_lite.owner.spec import cannot_start

if TYPE_CHECKING:
    from collections.abc import Callable

    from supervisord_lite.owner.cgroups import ChildCgroup
    from supervisord_lite.owner.reaper import Reaper


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
        kill_leftovers: bool = False,
        cgroup: ChildCgroup | None = None,
        on_reaped: Callable[[], None] | None = None,
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
        self._kill_leftovers = kill_leftovers  # its process group dies with it (programs)
        self._cgroup = cgroup  # its tree's cgroup v2, where the owner has one for it
        self._on_reaped = on_reaped
        try:
            self._pidfd: int | None = os.pidfd_open(pid)
        except OSError as exc:  # EMFILE, say: a child that cannot be watched must not run on
            self._abandon(exc)
        self._watching = True
        loop.add_reader(self._pidfd, self.reap)
        if reaper is not None:
            reaper.tracked[pid] = self

    def _abandon(self, exc: OSError) -> NoReturn:
        """The child exists but cannot be watched: kill it (it has not been reaped, so its pid is
        still its own), let it be reaped, and fail the start as if it never ran."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self._pid, signal.SIGKILL)
        if self._status is not None:
            self._status.close()
        self._open_gate()
        if self.popen is not None:
            self.popen.wait()  # at once: it was just sent SIGKILL
        else:
            # A zygote child not re-parented to the owner yet is reaped later, as an orphan.
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self._pid, 0)
        raise cannot_start(f"process (pid {self._pid})", exc) from None

    @property
    def pid(self) -> int:
        return self._pid

    @property
    def gated(self) -> bool:
        """Whether it waits at its gate for `loaded()` (a Python target) before it runs."""
        return self._status is not None or self._gate is not None

    def reap(self) -> bool:
        """Reap the child if it has exited; True once it has been reaped (now or before)."""
        pidfd = self._pidfd
        if pidfd is None:
            return True
        try:
            if self._kill_leftovers:
                if os.waitid(os.P_PIDFD, pidfd, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
                    return False
                # Still a zombie, so its pid (its group's id) cannot have been reused yet.
                tree.kill_group(self._pid, signal.SIGKILL)
                if self._cgroup is not None:
                    self._cgroup.signal(signal.SIGKILL)
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
        if self._on_reaped is not None:
            self._on_reaped()
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
        """Signal the child and its whole tree: the child through its pidfd (no recycled pid can
        be hit), and its process group (every child leads one: setsid at start), whose id cannot
        be reused while the child is not reaped."""
        if self._pidfd is not None:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self._pidfd, signum)
            tree.kill_group(self._pid, signum)
            if self._cgroup is not None:  # what left the group is in the cgroup still
                self._cgroup.signal(signum)

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
