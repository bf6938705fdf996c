"""The first code a Python target's child runs: `python -m supervisord_lite.owner.child SPEC_FD STATUS_FD`.

It loads the target, reports on STATUS_FD whether that worked (nothing written and the fd closed
means yes), then runs it with multiprocessing's exit-code rules. The daemon never unpickles a
payload: this, in the child, is the only place that does.

The zygote's children (supervisord_lite.owner.zygote) run the same `bootstrap()` after a fork, so the two
paths cannot drift apart: same load report, same exit codes, same tracebacks.
"""

from __future__ import annotations

import base64
import contextlib
import importlib
import json
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any


def read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)


def load(spec: dict[str, Any]) -> Callable[[], Any] | None:
    """The zero-argument callable that is the process's run(), or None for the default run()."""
    args, kwargs = spec["args"], spec["kwargs"]
    kind = spec["kind"]
    if kind == "callable":
        module_name, _, qualname = spec["ref"].partition(":")
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
        if not callable(obj):
            raise TypeError(f"{spec['ref']} is not callable")
        fn = obj
        return lambda: fn(*args, **kwargs)
    if kind == "pickle":
        import pickle

        if spec["main_path"]:
            # Run the caller's script as __mp_main__, as multiprocessing's spawn does, so that
            # functions pickled as __main__.f are found.
            from multiprocessing import spawn

            spawn._fixup_main_from_path(spec["main_path"])  # type: ignore[attr-defined]
        obj = pickle.loads(base64.b64decode(spec["payload"]))
        if not callable(obj):
            raise TypeError("the pickled target is not callable")
        return obj  # type: ignore[no-any-return]
    return None


def _exitcode(exc: SystemExit) -> int:
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    sys.stderr.write(str(code) + "\n")
    return 1


def _wait_for_eof(fd: int) -> None:
    while os.read(fd, 64):
        pass
    os.close(fd)


def bootstrap(spec: dict[str, Any], status_fd: int, gate_fd: int | None = None) -> int:
    """Load the target (reporting on `status_fd`, which this closes), run it, return the exit code.

    With `gate_fd` (the zygote's children, whose pid the daemon learns from the status pipe), the
    target runs only once the daemon has closed the gate's other end: by then the daemon knows
    this pid, so a Process the target creates gets its parent right, and so does a join of itself.
    """
    sys.path[0:0] = spec["sys_path"]
    try:
        import multiprocessing

        me = multiprocessing.current_process()
        me.name = spec["name"]
        me.authkey = base64.b64decode(spec["authkey"])
        if spec.get("parent") is not None:
            set_parent_process(spec["parent"]["name"], spec["parent"]["pid"])
        run = load(spec)
    except BaseException as exc:
        traceback.print_exc()
        os.write(status_fd, f"{type(exc).__name__}: {exc}".encode()[:4000])
        os.close(status_fd)
        return 1
    os.close(status_fd)
    if gate_fd is not None:
        _wait_for_eof(gate_fd)
    try:
        if run is not None:
            run()
        return 0
    except SystemExit as exc:
        return _exitcode(exc)
    except BaseException:
        traceback.print_exc()
        return 1
    finally:
        flush_std_streams()


def flush_std_streams() -> None:
    """Flush what the target left of sys.stdout and sys.stderr: it may have set them to None or
    closed them, as multiprocessing.util._flush_std_streams allows."""
    for name in ("stdout", "stderr"):
        with contextlib.suppress(AttributeError, ValueError):
            getattr(sys, name).flush()


def set_parent_process(name: str, pid: int) -> None:
    """What `multiprocessing.parent_process()` answers in the child (3.8+): its creator, with a
    pidfd as the sentinel (readable once the creator has exited), so that its `is_alive()` and
    `join()` work as they do for multiprocessing's children."""
    from multiprocessing import process

    try:
        sentinel = os.pidfd_open(pid)
    except OSError:  # gone already: a sentinel that is readable at once says so
        sentinel, w = os.pipe2(os.O_CLOEXEC)
        os.close(w)
    process._parent_process = process._ParentProcess(name, pid, sentinel)  # type: ignore[attr-defined]


def main(argv: list[str]) -> int:
    spec_fd, status_fd = int(argv[1]), int(argv[2])
    spec = json.loads(read_all(spec_fd))
    del sys.argv[1:]  # the target sees the same sys.argv on both paths
    return bootstrap(spec, status_fd)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
