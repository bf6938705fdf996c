"""The daemon's spawner, made as this machine allows (a zygote, a subreaper, cgroups), and what
is left of its children's trees ended at the owner's stop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable

from supervisord_lite.owner import tree
from supervisord_lite.owner.cgroups import Cgroups
from supervisord_lite.owner.output import LogSink
from supervisord_lite.owner.programs import PopenSpawner
from supervisord_lite.owner.python_targets import ZygoteSpawner
from supervisord_lite.owner.reaper import Reaper

log = logging.getLogger(__name__)

__all__ = ["close_trees", "make_spawner"]


def make_spawner(
    *,
    socket_path: str | None,
    zygote: bool = True,
    preload: Iterable[str] = (),
    log_dir: str | None = None,
    on_output: Callable[[int], None] | None = None,
    cgroup_root: str | None = None,
) -> PopenSpawner | ZygoteSpawner:
    """The daemon's spawner: with a zygote unless asked not to (or it cannot be had here).
    Output "log" is written under `log_dir`; `on_output(process_id)` says a log grew. Each child
    gets a cgroup v2 of its own where ours is delegated (see tree.delegated_cgroup; `cgroup_root`
    names where cgroup v2 is mounted, and trusts a writable cgroup there without systemd's mark)."""
    logs = None if log_dir is None else LogSink(log_dir, on_output)
    cgroups = _cgroups(cgroup_root)
    if zygote:
        try:
            return ZygoteSpawner(
                socket_path=socket_path, preload=preload, logs=logs, cgroups=cgroups
            )
        except (OSError, RuntimeError, ValueError) as exc:
            log.warning("no zygote (%s): Python targets start from a fresh interpreter", exc)
    spawner = PopenSpawner(socket_path=socket_path, logs=logs, cgroups=cgroups)
    try:  # a child subreaper without a zygote too: what children leave behind is ours to end
        spawner.own_reaper(Reaper(asyncio.get_running_loop()))
    except (OSError, RuntimeError) as exc:  # RuntimeError: no event loop runs (a unit test)
        log.warning("not a child subreaper (%s): orphans go to init", exc)
    return spawner


def _cgroups(root: str | None) -> Cgroups | None:
    if root is None:
        base = tree.delegated_cgroup(require_delegation=True)
    else:
        base = tree.delegated_cgroup(root=root)
    if base is None:
        return None
    try:
        return Cgroups(base)
    except OSError as exc:
        log.warning("no cgroup per child (%s): trees are held by process groups", exc)
        return None


def close_trees(spawner: PopenSpawner | ZygoteSpawner) -> None:
    """At the owner's stop, once its children were stopped and the spawner closed: kill whatever
    is left in the children's cgroups and whatever was re-parented to us, then remove the
    cgroups."""
    cgroups = spawner.cgroups
    if cgroups is not None:
        cgroups.kill_all()
    tree.kill_adopted()
    if cgroups is not None:
        cgroups.close()
