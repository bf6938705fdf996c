"""The process owner: starts children, watches them through pidfds and reaps them.

The way a child is started is split by concept: `programs` (posix_spawn, and the fresh-interpreter
path for Python targets), `python_targets` (the zygote), `pidfd` (one watched child), `reaper`
(the child subreaper), `spec` (environment, output fds, the child's spec). `child` and `zygote`
are the code that runs in the child and in the zygote.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from supervisord_lite.owner.output import LogSink
from supervisord_lite.owner.pidfd import PidfdChild, StatusReader, exitcode_from_waitid
from supervisord_lite.owner.programs import PopenSpawner
from supervisord_lite.owner.python_targets import ZygoteSpawner, zygote_can_run
from supervisord_lite.owner.spec import seal_inherited_fds

log = logging.getLogger(__name__)

__all__ = [
    "LogSink",
    "PidfdChild",
    "PopenSpawner",
    "StatusReader",
    "ZygoteSpawner",
    "exitcode_from_waitid",
    "make_spawner",
    "seal_inherited_fds",
    "zygote_can_run",
]


def make_spawner(
    *,
    socket_path: str | None,
    zygote: bool = True,
    preload: Iterable[str] = (),
    log_dir: str | None = None,
    on_output: Callable[[int], None] | None = None,
) -> PopenSpawner | ZygoteSpawner:
    """The daemon's spawner: with a zygote unless asked not to (or it cannot be had here).
    Output "log" is written under `log_dir`; `on_output(process_id)` says a log grew."""
    logs = None if log_dir is None else LogSink(log_dir, on_output)
    if zygote:
        try:
            return ZygoteSpawner(socket_path=socket_path, preload=preload, logs=logs)
        except (OSError, RuntimeError, ValueError) as exc:
            log.warning("no zygote (%s): Python targets start from a fresh interpreter", exc)
    return PopenSpawner(socket_path=socket_path, logs=logs)
