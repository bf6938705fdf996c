"""Each child in a cgroup v2 of its own, where the owner's cgroup is delegated to it: what the
child starts stays in that cgroup whatever it does (setsid, double fork), so a stop reaches all of
it and `cgroup.kill` (Linux 5.14) ends all of it at once.

Layout: `<our cgroup>/supervisord-lite-<owner pid>/<process id>/`, all removed when the owner
stops. A child must be in its cgroup before it runs, or what it forks at once escapes (a shell's
first fork comes well within a millisecond of its exec). Python offers no clone3 with
CLONE_INTO_CGROUP, so the owner steps into the child's cgroup for the spawn and back out after it
(`born_in`: two writes to cgroup.procs; the child is born there, as fork puts a child in its
parent's cgroup). A Python target from the zygote is moved in after its fork instead (`place`):
it is held at its gate until then, so nothing of it runs outside.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
from collections.abc import Iterator

log = logging.getLogger(__name__)


class ChildCgroup:
    """One child's cgroup."""

    def __init__(self, path: str) -> None:
        self.path = path

    def _write(self, name: str, value: str) -> None:
        with open(os.path.join(self.path, name), "w") as f:
            f.write(value)

    def attach(self, pid: int) -> None:
        self._write("cgroup.procs", str(pid))

    def pids(self) -> list[int]:
        try:
            with open(os.path.join(self.path, "cgroup.procs")) as f:
                return [int(p) for p in f.read().split()]
        except FileNotFoundError:
            return []

    def signal(self, signum: int) -> None:
        """Send `signum` to every process in the cgroup (SIGKILL: cgroup.kill, where it exists)."""
        if signum == signal.SIGKILL:
            try:
                self._write("cgroup.kill", "1")
                return
            except FileNotFoundError:
                pass  # before Linux 5.14: one by one
            except OSError:
                return  # the cgroup is gone
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signum)

    def remove(self) -> bool:
        """Remove the cgroup if nothing is left in it; True once it is gone."""
        try:
            os.rmdir(self.path)
        except FileNotFoundError:
            return True
        except OSError as exc:
            if exc.errno == errno.EBUSY:
                return False
            raise
        return True


class Cgroups:
    """The owner's cgroups for its children, under `base` (our own, delegated, cgroup)."""

    def __init__(self, base: str) -> None:
        self._home = ChildCgroup(base)  # where the owner itself lives
        self.root = os.path.join(base, f"supervisord-lite-{os.getpid()}")
        os.makedirs(self.root, exist_ok=True)
        self._live: dict[int, ChildCgroup] = {}

    @contextlib.contextmanager
    def born_in(self, process_id: int) -> Iterator[ChildCgroup | None]:
        """Run the body (a spawn) with the owner inside a new cgroup for `process_id`, then step
        back out; yields None (and the child is held by its process group alone) if that failed.
        The cgroup is removed if the body raises."""
        path = os.path.join(self.root, str(process_id))
        try:
            os.mkdir(path)
            group = ChildCgroup(path)
            group.attach(0)  # 0: the writer, all its threads
        except OSError as exc:
            log.warning("process %d stays out of a cgroup of its own: %s", process_id, exc)
            with contextlib.suppress(OSError):
                os.rmdir(path)
            yield None
            return
        try:
            yield group
        except BaseException:
            self._home.attach(0)
            with contextlib.suppress(OSError):
                group.remove()
            raise
        self._home.attach(0)
        self._live[process_id] = group

    def place(self, process_id: int, pid: int) -> ChildCgroup | None:
        """Move a just-started child into a cgroup of its own; None if that failed (the child
        is then held by its process group alone, and the log says why)."""
        path = os.path.join(self.root, str(process_id))
        try:
            os.mkdir(path)
            group = ChildCgroup(path)
            group.attach(pid)
        except OSError as exc:
            log.warning("process %d stays out of a cgroup of its own: %s", process_id, exc)
            with contextlib.suppress(OSError):
                os.rmdir(path)
            return None
        self._live[process_id] = group
        return group

    def exited(self, process_id: int) -> None:
        """A child has been reaped: its cgroup goes once empty (else at close)."""
        group = self._live.get(process_id)
        if group is not None and group.remove():
            del self._live[process_id]

    def kill_all(self) -> None:
        for group in self._live.values():
            group.signal(signal.SIGKILL)

    def close(self) -> None:
        """Remove what is left (after kill_all, and once the killed have been reaped)."""
        for process_id in list(self._live):
            with contextlib.suppress(OSError):
                if self._live[process_id].remove():
                    del self._live[process_id]
        with contextlib.suppress(OSError):
            os.rmdir(self.root)
