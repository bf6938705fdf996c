"""The whole tree of a child: what it started is stopped with it, and nothing it left behind
outlives the owner.

Two ways to hold a tree, the better one where the system allows it:
- a cgroup v2 of its own under the owner's cgroup, when that cgroup is delegated to us (systemd's
  `Delegate=yes`) and writable: every descendant stays in it whatever it does (setsid, double
  fork), and `cgroup.kill` (Linux 5.14) kills them all at once. See owner/cgroups.py.
- else its own process group: every child is started as a session leader (setsid), so its pid is
  its group's id, and a signal to the group reaches what it started unless that left the group
  (setsid, setpgid). Such escapees, and anything left once its child was reaped, are re-parented
  to the owner (a child subreaper): `kill_adopted` ends them when the owner stops.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal

log = logging.getLogger(__name__)

CGROUP_ROOT = "/sys/fs/cgroup"


def kill_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def children(pid: int | None = None) -> list[int]:
    """The direct children of a process (this one by default), from /proc."""
    pid = os.getpid() if pid is None else pid
    found: list[int] = []
    with contextlib.suppress(FileNotFoundError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            with (
                contextlib.suppress(FileNotFoundError),
                open(f"/proc/{pid}/task/{tid}/children") as f,
            ):
                found.extend(int(p) for p in f.read().split())
    return found


def kill_adopted(keep: frozenset[int] = frozenset()) -> int:
    """SIGKILL and reap every child of this process but `keep`; again for what their deaths
    re-parent to us (bounded). Called when the owner stops, after its tracked children were
    stopped. Returns how many were killed. Each pid is our unreaped child when it is signalled,
    so it cannot be another process's."""
    killed = 0
    for _ in range(64):
        pids = [p for p in children() if p not in keep]
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                killed += 1
        for pid in pids:
            with contextlib.suppress(ChildProcessError):
                os.waitid(os.P_PID, pid, os.WEXITED)
    if killed:
        log.debug("killed %d process(es) left behind (a zygote's spares, or orphans)", killed)
    return killed


def delegated_cgroup(
    proc_cgroup: str = "/proc/self/cgroup",
    root: str = CGROUP_ROOT,
    *,
    require_delegation: bool = False,
) -> str | None:
    """The directory of this process's cgroup v2 if children's cgroups can be made under it
    (cgroup v2 mounted at `root`, our cgroup's directory writable), else None: then every tree is
    held by its process group. With `require_delegation`, only a cgroup that systemd marked as
    delegated to us (Delegate=yes sets the `trusted.delegate` or `user.delegate` xattr): a root
    daemon can write the cgroup of a service that was not delegated, and must not."""
    try:
        with open(proc_cgroup) as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    unified = [line[3:] for line in lines if line.startswith("0::")]
    if len(unified) != 1 or not os.path.exists(os.path.join(root, "cgroup.controllers")):
        return None  # cgroup v1, or hybrid with no v2 at `root`
    directory = os.path.join(root, unified[0].lstrip("/"))
    if not os.path.isdir(directory) or not os.access(directory, os.W_OK | os.X_OK):
        return None
    if require_delegation and not _marked_delegated(directory):
        return None
    return directory


def _marked_delegated(directory: str) -> bool:
    for name in ("trusted.delegate", "user.delegate"):
        with contextlib.suppress(OSError):
            if os.getxattr(directory, name) == b"1":
                return True
    return False


def tree_mode() -> str:
    """ "cgroup" where a delegated cgroup v2 could hold each tree, else "process-group"."""
    return "process-group" if delegated_cgroup() is None else "cgroup"
