"""What makes a zygote a script's own: the caller's `__main__` script, imported as `__mp_main__`.

A pickled target defined in a `__main__` script needs that script imported in the child before it
can be unpickled (multiprocessing's spawn re-runs it as `__mp_main__`, and so does our child,
child.load). That import is most of what such a start costs (~35 ms for a script that imports the
client and multiprocessing). A zygote given `--script=JSON` does it once, after its preloads, the way
multiprocessing's forkserver imports its preload list (`__main__` among them): its children find
`__mp_main__` already there (child.load's `_fixup_main_from_path` sees the same `__file__` and
stops) and unpickle at once.

The import is done as the fresh path does it: in the target's working directory, with the target's
`sys.path` first and `sys.argv` as the child has it. What it prints goes to /dev/null: it runs once
here instead of once per child, as a forked child (multiprocessing's default on Linux) does not
re-run the script either. If it fails, or leaves a thread running (a fork would copy a process with
a thread stopped halfway), the zygote exits before it is ready and the daemon does not ask again
for that version of the script: its processes start as before.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any

CANNOT_IMPORT = 3  # the zygote's exit code when the script cannot be its main module
THREADED = 4  # ... when importing it started a thread


def _open_fds() -> set[int]:
    fds = set()
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        with contextlib.suppress(OSError):
            os.fstat(fd)  # the listing's own directory fd is closed by now
            fds.add(fd)
    return fds


def import_main(script: dict[str, Any], child_file: str) -> tuple[int, ...]:
    """Import `script["main_path"]` as `__mp_main__` (and `__main__`), as the child would.

    Returns the fds the import left open (a log file, say): the zygote's children keep them, as a
    forked child keeps its parent's, since objects of the imported modules own them. Exits the
    process (CANNOT_IMPORT or THREADED) when the script cannot serve as a zygote's main module.
    """
    from multiprocessing import spawn

    main_path: str = script["main_path"]
    devnull = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
    saved_out, saved_err = os.dup(1), os.dup(2)
    saved_cwd, saved_path, saved_argv = os.getcwd(), list(sys.path), list(sys.argv)
    before = _open_fds()
    failure: str | None = None
    try:
        if script.get("cwd"):
            os.chdir(script["cwd"])
        sys.path[:] = [*script.get("sys_path", ()), os.getcwd(), *saved_path[1:]]
        sys.argv[:] = [child_file]
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        spawn._fixup_main_from_path(main_path)  # type: ignore[attr-defined]
    except BaseException as exc:  # whatever the script raises, SystemExit too
        failure = f"{type(exc).__name__}: {exc}"
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        for fd, saved in ((1, saved_out), (2, saved_err)):
            os.dup2(saved, fd)
            os.close(saved)
        os.close(devnull)
        os.chdir(saved_cwd)
        sys.path[:] = saved_path
        sys.argv[:] = saved_argv
    if failure is not None:
        sys.stderr.write(
            f"supervisord-lite zygote: cannot import {main_path} as __mp_main__ ({failure[:300]}); "
            "its processes start without a zygote of their own\n"
        )
        os._exit(CANNOT_IMPORT)
    if len(os.listdir("/proc/self/task")) > 1:
        sys.stderr.write(
            f"supervisord-lite zygote: importing {main_path} started a thread; its processes "
            "start without a zygote of their own\n"
        )
        os._exit(THREADED)
    return tuple(sorted(_open_fds() - before - {0, 1, 2}))
