"""Programs (argv targets) with posix_spawn, and Python targets in a fresh interpreter
(`python -m supervisord_lite.owner.child SPEC_FD STATUS_FD`)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

from supervisord_lite.core.model import ExitCallback, SpawnRequest, TargetKind
from supervisord_lite.owner.cgroups import Cgroups, ChildCgroup
from supervisord_lite.owner.output import LogSink, redirect
from supervisord_lite.owner.pidfd import PidfdChild, StatusReader
from supervisord_lite.owner.reaper import Reaper
from supervisord_lite.owner.spec import (
    RESTORED_SIGNALS,
    base_environment,
    cannot_start,
    find_program,
    is_cwd_error,
    merge_env,
    output_fds,
    spec_memfd,
    user_env,
)


class PopenSpawner:
    """Starts programs directly and Python targets through `python -m supervisord_lite.owner.child`."""

    def __init__(
        self,
        *,
        socket_path: str | None,
        python: str = sys.executable,
        reaper: Reaper | None = None,
        logs: LogSink | None = None,
        cgroups: Cgroups | None = None,
    ) -> None:
        self.env = base_environment(socket_path)
        self.logs = logs
        self.cgroups = cgroups
        self._python = python
        self._reaper = reaper
        self._owned_reaper: Reaper | None = None
        self._devnull: int | None = None

    def own_reaper(self, reaper: Reaper) -> None:
        """Reap through `reaper` (made for this spawner alone: closed with it)."""
        self._reaper = reaper
        self._owned_reaper = reaper

    def close(self) -> None:
        """Children need no stopping (each is watched through its own pidfd); only the /dev/null
        fd kept for programs' stdin is closed (and a reaper of our own let go)."""
        if self._devnull is not None:
            os.close(self._devnull)
            self._devnull = None
        owned, self._owned_reaper = self._owned_reaper, None
        if owned is not None:
            owned.close()

    def _spawn_program(self, argv: list[str], env: dict[str, str], stdout: int, stderr: int) -> int:
        """posix_spawn (vfork + exec in libc, the environment encoded in C) skips Popen's ~60 µs of
        Python a start, much of what the daemon added to a short program's run. Popen is
        kept for what posix_spawn cannot do here: a working directory, and Python targets (they
        need pass_fds). No fd leaks without close_fds: the daemon's own fds are all close-on-exec
        (Python's default; received ones come with MSG_CMSG_CLOEXEC; `seal_inherited_fds` marks
        the ones it was started with)."""
        try:
            if self._devnull is None:  # inside the try: with no fd left (EMFILE) it fails too
                self._devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
            null = self._devnull
            out = null if stdout == subprocess.DEVNULL else stdout
            err = null if stderr == subprocess.DEVNULL else stderr
            return os.posix_spawn(
                find_program(argv[0], env),
                argv,
                env,
                file_actions=[
                    (os.POSIX_SPAWN_DUP2, null, 0),
                    (os.POSIX_SPAWN_DUP2, out, 1),
                    (os.POSIX_SPAWN_DUP2, err, 2),
                ],
                setsid=True,  # as start_new_session: a terminal's Ctrl-C reaches the daemon only
                setsigdef=RESTORED_SIGNALS,  # as Popen's restore_signals
            )
        except OSError as exc:
            raise cannot_start(argv[0], exc) from None

    def tree(self, process_id: int, pid: int) -> dict[str, Any]:
        """A started child moved into a cgroup of its own (where the owner has them), as
        PidfdChild arguments. Only for a child that runs nothing yet (a zygote child at its gate)."""
        cgroups = self.cgroups
        if cgroups is None:
            return {}
        return self._child_args(cgroups, process_id, cgroups.place(process_id, pid))

    @contextlib.contextmanager
    def born_in(self, process_id: int) -> Iterator[dict[str, Any]]:
        """Around a spawn: the child is born in a cgroup of its own (where the owner has them);
        yields the PidfdChild arguments for it, filled once the body has run."""
        cgroups = self.cgroups
        if cgroups is None:
            yield {}
            return
        args: dict[str, Any] = {}
        with cgroups.born_in(process_id) as group:
            yield args
        args.update(self._child_args(cgroups, process_id, group))

    @staticmethod
    def _child_args(cgroups: Cgroups, process_id: int, group: ChildCgroup | None) -> dict[str, Any]:
        if group is None:
            return {}
        return {"cgroup": group, "on_reaped": lambda: cgroups.exited(process_id)}

    def child_env(self, request: SpawnRequest) -> dict[str, str]:
        env = merge_env(self.env, user_env(request.run_as))
        env = merge_env(env, request.target.env)
        env["SUPERVISORD_LITE_PROCESS_ID"] = str(request.process_id)
        return env

    async def spawn(self, request: SpawnRequest, on_exit: ExitCallback) -> PidfdChild:
        loop = asyncio.get_running_loop()
        request = redirect(self.logs, request)
        stdout, stderr = output_fds(request)
        env = self.child_env(request)
        target = request.target
        status_r: int | None = None
        try:
            if target.kind is TargetKind.ARGV:
                argv = [*target.argv, *request.args]
                pass_fds: tuple[int, ...] = ()
                if target.cwd is None and request.run_as is None:
                    with self.born_in(request.process_id) as tree:
                        pid = self._spawn_program(argv, env, stdout, stderr)
                    return PidfdChild(
                        pid,
                        on_exit,
                        loop,
                        reaper=self._reaper,
                        kill_leftovers=request.kill_leftovers,
                        **tree,
                    )
            else:
                spec_fd, status_r, status_w = _python_fds(request)
                argv = [
                    self._python,
                    "-m",
                    "supervisord_lite.owner.child",
                    str(spec_fd),
                    str(status_w),
                ]
                pass_fds = (spec_fd, status_w)
            try:
                with self.born_in(request.process_id) as tree:
                    popen = subprocess.Popen(
                        argv,
                        stdin=subprocess.DEVNULL,
                        stdout=stdout,
                        stderr=stderr,
                        env=env,
                        cwd=target.cwd,
                        close_fds=True,
                        pass_fds=pass_fds,
                        start_new_session=True,  # a terminal's Ctrl-C reaches the daemon only
                        **_credentials(request),
                    )
            except OSError as exc:
                if status_r is not None:
                    os.close(status_r)
                what = target.cwd if is_cwd_error(exc, target.cwd) else argv[0]
                raise cannot_start(what, exc) from None
            finally:
                for fd in pass_fds:
                    os.close(fd)
            status = None if status_r is None else StatusReader(status_r, loop)
            return PidfdChild(
                popen.pid,
                on_exit,
                loop,
                status=status,
                popen=popen,
                reaper=self._reaper,
                kill_leftovers=request.kill_leftovers,
                **tree,
            )
        finally:
            if request.fds is not None:
                for fd in request.fds:
                    os.close(fd)


def _python_fds(request: SpawnRequest) -> tuple[int, int, int]:
    """The spec memfd and the status pipe of a fresh interpreter; SpawnFailed (nothing left
    open) when the daemon is out of fds."""
    spec_fd = None
    try:
        spec_fd = spec_memfd(request, {})
        status_r, status_w = os.pipe()
    except OSError as exc:
        if spec_fd is not None:
            os.close(spec_fd)
        raise cannot_start(sys.executable, exc) from None
    return spec_fd, status_r, status_w


def _credentials(request: SpawnRequest) -> dict[str, Any]:
    """Popen's user, group and supplementary groups for a child that runs as another user (as
    supervisord's `user=`: set in the child between fork and exec)."""
    run_as = request.run_as
    if run_as is None:
        return {}
    return {"user": run_as.uid, "group": run_as.gid, "extra_groups": list(run_as.groups)}
