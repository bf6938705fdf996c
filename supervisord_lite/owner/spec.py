"""What a child is started with: its environment, its output fds, its spec file, and the errors
of a start that could not happen. Shared by every way of starting a child."""

from __future__ import annotations

import base64
import contextlib
import errno
import os
import pwd
import signal
import subprocess
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from supervisord_lite.core import errors
from supervisord_lite.core.model import Output, RunAs, SpawnRequest, authkey_bytes
from supervisord_lite.memfd import memfd_holding

# What systemd hands the daemon is the daemon's alone; a child that saw it could answer for us.
PRIVATE_ENV = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID",
               "LISTEN_FDNAMES", "JOURNAL_STREAM", "SUPERVISORD_LITE_PROCESS_ID")  # fmt: skip

# Variables read once when an interpreter (or libc) starts: a forked child cannot honour a change
# of them, so a target that changes one takes the fresh-interpreter path.
STARTUP_ENV_PREFIXES = ("PYTHON", "LD_", "LC_", "LANG", "MALLOC_", "GLIBC_TUNABLES", "TZ")


def base_environment(socket_path: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in PRIVATE_ENV}
    if socket_path is not None:
        env["SUPERVISORD_LITE_SOCKET"] = socket_path
    else:
        env.pop("SUPERVISORD_LITE_SOCKET", None)
    return env


def close_all(fds: Iterable[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


def dup_output(fd: int) -> int:
    if fd == subprocess.DEVNULL:
        return os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    return os.dup(fd)


# Python ignores SIGPIPE (and SIGXFSZ); an ignored signal stays ignored across exec.
RESTORED_SIGNALS = (signal.SIGPIPE, signal.SIGXFSZ)


def find_program(name: str, env: Mapping[str, str]) -> str:
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


def cannot_start(what: str | None, exc: OSError) -> errors.SpawnFailed:
    """The error for a program (or working directory) that could not be started."""
    why = exc.strerror or str(exc)
    if exc.errno in (errno.EMFILE, errno.ENFILE):
        why += (
            " (the daemon has run out of file descriptors: retry later, or raise its RLIMIT_NOFILE)"
        )
    return errors.SpawnFailed(f"cannot start {what!r}: {why}", errno=exc.errno)


def is_cwd_error(exc: OSError, cwd: str | None) -> bool:
    return cwd is not None and (exc.filename == cwd or not os.path.isdir(cwd))


def output_fds(request: SpawnRequest) -> tuple[int, int]:
    if request.output is Output.PASSED and request.fds is not None:
        return request.fds
    if request.output is Output.NULL:
        return subprocess.DEVNULL, subprocess.DEVNULL
    # The daemon's stderr, for stdout too: in --stdio mode fd 1 carries the protocol.
    return 2, 2


def user_env(run_as: RunAs | None) -> dict[str, str | None]:
    """HOME, USER and LOGNAME of the user a child runs as (the daemon's otherwise)."""
    if run_as is None:
        return {}
    try:
        entry = pwd.getpwuid(run_as.uid)
    except KeyError:
        return {"HOME": None, "USER": None, "LOGNAME": None}
    return {"HOME": entry.pw_dir, "USER": entry.pw_name, "LOGNAME": entry.pw_name}


def merge_env(base: Mapping[str, str], extra: Mapping[str, str | None]) -> dict[str, str]:
    env = dict(base)
    for key, value in extra.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def child_spec(request: SpawnRequest, env: Mapping[str, str | None]) -> dict[str, Any]:
    """What `owner.child.bootstrap` reads: the same for every owner (local, or a cluster's)."""
    target = request.target
    return {
        "name": request.name,
        "authkey": base64.b64encode(authkey_bytes(request.authkey)).decode("ascii"),
        "parent": None
        if request.parent_pid is None
        else {"pid": request.parent_pid, "name": request.parent_name},
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


def spec_memfd(request: SpawnRequest, env: Mapping[str, str | None]) -> int:
    """The child's instructions, in an anonymous file: no size limit, no blocking, no trace in env."""
    return memfd_holding(orjson.dumps(child_spec(request, env)), "supervisord-lite-spec")


def reset_inherited_signals() -> None:
    """Every signal at its default and an empty mask, whatever this process was started with: a
    daemon started by `cmd &` or nohup has SIGINT/SIGQUIT/SIGHUP ignored, and an ignored signal
    stays ignored across fork and exec, into every child and into the zygote."""
    signal.pthread_sigmask(signal.SIG_SETMASK, ())
    for signum in signal.valid_signals():
        if signum in (signal.SIGKILL, signal.SIGSTOP):
            continue
        with contextlib.suppress(OSError, ValueError):
            if signal.getsignal(signum) is signal.SIG_IGN and signum not in _PYTHON_IGNORES:
                signal.signal(signum, signal.SIG_DFL)


# Python itself ignores these at start-up; every spawn path restores them for children.
_PYTHON_IGNORES = frozenset({signal.SIGPIPE, signal.SIGXFSZ})
