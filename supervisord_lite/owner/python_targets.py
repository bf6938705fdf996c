"""Python targets from the zygote (supervisord_lite.owner.zygote), a pre-imported process that forks
them. The owner is a child subreaper: the zygote double-forks, so every target is re-parented to
the owner and is watched exactly like a Popen child. When the zygote is down (it is restarted),
Python targets take the fresh-interpreter path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping

from supervisord_lite.core.model import ExitCallback, SpawnRequest, Target
from supervisord_lite.owner.cgroups import Cgroups
from supervisord_lite.owner.output import LogSink, redirect
from supervisord_lite.owner.pidfd import PidfdChild, StatusReader
from supervisord_lite.owner.programs import PopenSpawner
from supervisord_lite.owner.reaper import Reaper
from supervisord_lite.owner.script_zygotes import ScriptZygotes
from supervisord_lite.owner.spec import (
    STARTUP_ENV_PREFIXES,
    cannot_start,
    close_all,
    dup_output,
    output_fds,
    spec_memfd,
)
from supervisord_lite.owner.zygote_process import ZygoteProcess

log = logging.getLogger(__name__)


class ZygoteSpawner:
    """Python targets from the zygote, programs (and Python targets while it is down) via Popen."""

    def __init__(
        self,
        *,
        socket_path: str | None,
        preload: Iterable[str] = (),
        spares: int = 2,
        python: str = sys.executable,
        logs: LogSink | None = None,
        cgroups: Cgroups | None = None,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._spares = spares
        self.reaper = Reaper(self._loop)
        self._fresh = PopenSpawner(
            socket_path=socket_path, python=python, reaper=self.reaper, logs=logs, cgroups=cgroups
        )
        self.cgroups = cgroups
        self.logs = logs
        self._python = python
        self._preload = tuple(preload)
        self.zygote: ZygoteProcess | None = None
        self.scripts = ScriptZygotes(self._start_script_zygote)
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
            self.zygote = ZygoteProcess(
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

    def _start_script_zygote(
        self, script: dict[str, object], on_exit: Callable[[ZygoteProcess, int], None]
    ) -> ZygoteProcess:
        zygote = self.zygote
        if zygote is not None and zygote.ready:  # a few ms of the script's own imports
            return ZygoteProcess.forked(
                zygote, script=script, spares=self._spares, reaper=self.reaper, on_exit=on_exit
            )
        return ZygoteProcess(  # a new interpreter, ~50 ms
            self._loop,
            python=self._python,
            env=self._fresh.env,
            preload=self._preload,
            spares=self._spares,
            reaper=self.reaper,
            on_exit=on_exit,
            script=script,
        )

    def _zygote_exited(self, zygote: ZygoteProcess, code: int) -> None:
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
        self.scripts.close()
        self._fresh.close()
        # The zygote's death raises a SIGCHLD, maybe after the event loop has closed its wakeup
        # fd: with the handler still there, Python would print "Exception ignored ... EBADF".
        self.reaper.close()

    # -- spawning --------------------------------------------------------------------------
    async def spawn(self, request: SpawnRequest, on_exit: ExitCallback) -> PidfdChild:
        request = redirect(self.logs, request)
        # The zygote's children are the daemon's user: another user takes a fresh interpreter.
        zygote = None if request.run_as is not None else self._zygote_for(request.target)
        if zygote is None:
            return await self._fresh.spawn(request, on_exit)  # no await before the child exists
        # A request handed to the zygote runs to its end even if the caller gives up meanwhile
        # (a client that hangs up in the middle of a start): the child may exist by then, and it
        # must still be watched and its exit reported.
        task = asyncio.ensure_future(self._spawn_python(zygote, request, on_exit))
        task.add_done_callback(_retrieve)
        return await asyncio.shield(task)

    def _zygote_for(self, target: Target) -> ZygoteProcess | None:
        """The zygote to fork this target from: its script's own if it has one ready, else the
        zygote; None for a fresh interpreter."""
        if not zygote_can_run(target, self._fresh.env):
            return None
        if target.main_path is not None:
            own = self.scripts.zygote_for(target)
            if own is not None:
                return own
        zygote = self.zygote
        return zygote if zygote is not None and zygote.ready else None

    async def _spawn_python(
        self, zygote: ZygoteProcess, request: SpawnRequest, on_exit: ExitCallback
    ) -> PidfdChild:
        try:
            started = await self._spawn_in_zygote(zygote, request, on_exit)
        except BaseException:
            close_all(request.fds or ())
            raise
        if started is not None:
            close_all(request.fds or ())
            return started
        log.info("the zygote did not start process %d; using a fresh interpreter",
                 request.process_id)  # fmt: skip
        return await self._fresh.spawn(request, on_exit)  # closes request.fds

    async def _spawn_in_zygote(
        self, zygote: ZygoteProcess, request: SpawnRequest, on_exit: ExitCallback
    ) -> PidfdChild | None:
        """Start the target in the zygote; None if no process was started there (fall back)."""
        loop = self._loop
        env = self._fresh.child_env(request)
        base = self._fresh.env
        delta: dict[str, str | None] = {k: v for k, v in env.items() if base.get(k) != v}
        delta.update((k, None) for k in base.keys() - env.keys())
        opened: list[int] = []  # closed again if the daemon runs out of fds (EMFILE) midway
        try:
            opened.append(spec_memfd(request, delta))
            opened.extend(os.pipe2(os.O_CLOEXEC))
            opened.extend(os.pipe2(os.O_CLOEXEC))
            out, err = output_fds(request)
            opened.append(dup_output(out))
            opened.append(dup_output(err))
        except OSError as exc:
            close_all(opened)
            raise cannot_start(request.target.ref or "the Python target", exc) from None
        spec_fd, status_r, status_w, gate_r, gate_w, out_fd, err_fd = opened
        status = StatusReader(status_r, loop)
        fds = [spec_fd, out_fd, err_fd, status_w, gate_r]
        handed = False  # once PidfdChild has them, status and gate are its to close
        self.reaper.pending += 1
        try:
            zygote.submit(fds)
            line = await status.line()
            if line is None:  # no child exists: the zygote died or could not fork
                status.close()
                os.close(gate_w)
                return None
            if line.startswith(b"!cwd "):  # status and gate are closed below, as it raises
                code = int(line[5:])
                raise cannot_start(request.target.cwd, OSError(code, os.strerror(code)))
            handed = True
            pid = int(line)
            return PidfdChild(  # its gate is still shut: it is in its cgroup before it runs
                pid,
                on_exit,
                loop,
                status=status,
                reaper=self.reaper,
                gate=gate_w,
                kill_leftovers=request.kill_leftovers,
                **self._fresh.tree(request.process_id, pid),
            )
        except BaseException:
            if not handed:
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


def _retrieve(task: asyncio.Future[PidfdChild]) -> None:
    """Mark a shielded spawn's outcome as seen (its caller may have stopped waiting for it)."""
    if not task.cancelled() and task.exception() is not None:
        log.debug("a spawn whose caller went away failed: %s", task.exception())
