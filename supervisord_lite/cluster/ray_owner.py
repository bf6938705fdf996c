"""The Ray backend: every process is a detached, named actor (actor.py) on a node of the cluster.

The daemon is a Ray driver. `spawn` creates the actor (placed as asked), has it start the child
held at its gate, and returns once the pid is known; `loaded` opens the gate. One `wait` call per
child is awaited in the daemon's event loop (Ray completes the future from its own thread): exits
arrive as events, nothing polls. Actors outlive the daemon: a daemon started again with the same
name finds them by name (`reattach`) with the pid and, if it has exited meanwhile, the exit status.
An actor goes only when the front has stored the exit (`acknowledge`), or at a clean stop.

Ray itself is imported by the constructor (`import_ray`), so only a daemon with `--backend ray`
imports it, and one without it installed says which extra to install.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import socket
from collections.abc import Callable
from typing import Any

from supervisord_lite.cluster import RAY_EXTRA
from supervisord_lite.cluster.actor import ProcessActor
from supervisord_lite.cluster.capture import CHUNK, Chunk
from supervisord_lite.cluster.fetch import Progress, fetch
from supervisord_lite.cluster.placement import Node, actor_options, nodes_from_ray, resolve
from supervisord_lite.cluster.ray_child import LostCallback, RayChild, first_line
from supervisord_lite.core import errors
from supervisord_lite.core.model import (
    ExitCallback,
    Output,
    Placement,
    SpawnRequest,
    Survivor,
    TargetKind,
)
from supervisord_lite.owner.output import LogSink, no_log_directory
from supervisord_lite.owner.spec import child_spec

log = logging.getLogger(__name__)


def import_ray() -> Any:
    """The `ray` module, or BackendUnavailable naming the extra to install."""
    try:
        return importlib.import_module("ray")
    except ImportError as exc:
        raise errors.BackendUnavailable(
            f"the Ray backend needs Ray, which is not installed here ({exc}); "
            f"install it with: {RAY_EXTRA}"
        ) from None


class RayOwner:
    """Owns processes as actors of the Ray cluster at `address`, under the daemon's `name`."""

    def __init__(
        self,
        *,
        address: str,
        name: str,
        socket_path: str | None,
        log_dir: str | None = None,
        sink: LogSink | None = None,
        on_lost: LostCallback | None = None,
        release_on_close: bool = True,
    ) -> None:
        self.ray = import_ray()
        self.name = name
        self.namespace = f"supervisord-lite-{name}"
        self._socket_path = socket_path
        self._log_dir = log_dir  # on the nodes: where actors keep output until it is fetched
        self._sink = sink  # here: where output "log" is fetched to (cluster/fetch.py)
        self.on_lost = on_lost
        self._releasing: set[asyncio.Future[None]] = set()
        self._release_on_close = release_on_close
        # One driver per process: a second owner in it (tests, tools) shares the connection, so
        # every call below names the namespace instead of relying on the driver's.
        self._connected_here = not self.ray.is_initialized()
        if self._connected_here:
            _check_reachable(address)  # Ray itself retries for minutes before it gives up
        try:
            if self._connected_here:
                self.ray.init(
                    address=address,
                    namespace=self.namespace,
                    log_to_driver=False,  # workers' output must not reach our stdout (--stdio)
                    logging_level=logging.WARNING,
                )
        except Exception as exc:  # Ray raises many kinds here; each means "not connected"
            raise errors.BackendUnavailable(
                f"cannot connect to the Ray cluster at {address} ({first_line(exc)}); if it "
                "uses token authentication (RAY_AUTH_MODE=token), the daemon needs the same "
                "RAY_AUTH_MODE and its token (RAY_AUTH_TOKEN_PATH, or ~/.ray/auth_token)"
            ) from None
        self._actor_class = self.ray.remote(ProcessActor)
        self._affinity = importlib.import_module("ray.util.scheduling_strategies")
        self._nodes: list[Node] = []
        self.children: dict[int, RayChild] = {}

    # -- placement --------------------------------------------------------------------------
    def nodes(self, refresh: bool = False) -> list[Node]:
        if refresh or not self._nodes:
            self._nodes = nodes_from_ray(self.ray.nodes())
        return self._nodes

    def check_placement(self, placement: Placement) -> None:
        self._resolve(placement)

    def _resolve(self, placement: Placement) -> str | None:
        try:
            return resolve(placement, self.nodes())
        except errors.BadPlacement:  # the cached table may be old: one fresh look before refusing
            return resolve(placement, self.nodes(refresh=True))

    # -- spawning ---------------------------------------------------------------------------
    def actor_name(self, process_id: int) -> str:
        return f"{self.name}:{process_id}"

    async def spawn(self, request: SpawnRequest, on_exit: ExitCallback) -> RayChild:
        relay = request.fds if request.output is Output.PASSED else None
        if request.output is Output.LOG and self._sink is None:
            raise no_log_directory(request.process_id)
        try:
            child = await self._start(request)
        except BaseException:
            for fd in request.fds or ():
                os.close(fd)
            raise
        if request.fds is not None and relay is None:
            for fd in request.fds:
                os.close(fd)
        if relay is not None:
            child.relay("stdout", relay[0])
            child.relay("stderr", relay[1])
        if request.output is Output.LOG:
            progress = Progress(0, 0, request.log_max_bytes, request.log_backups)
            try:
                self._fetch(child, progress)
            except OSError as exc:
                self._kill(child.handle)
                raise errors.SpawnFailed(
                    f"cannot open the log of process {request.process_id}: {exc.strerror or exc}",
                    id=request.process_id,
                ) from None
        child.watch(on_exit, self.on_lost)
        self.children[request.process_id] = child
        return child

    async def _start(self, request: SpawnRequest) -> RayChild:
        exceptions = self.ray.exceptions
        options = actor_options(request.placement)
        if request.placement is not None and (node_id := self._resolve(request.placement)):
            options["scheduling_strategy"] = self._affinity.NodeAffinitySchedulingStrategy(
                node_id, soft=False
            )
        name = self.actor_name(request.process_id)
        try:
            handle = self._actor_class.options(
                name=name,
                namespace=self.namespace,
                lifetime="detached",  # outlives this driver: the daemon may go, the process not
                max_restarts=0,  # a restarted actor would have lost its child
                max_concurrency=1000,  # joins, output follows and signals all at once
                **options,
            ).remote(self.name, request.process_id, self._log_dir)
        except ValueError as exc:  # the name is taken
            raise errors.SpawnFailed(
                f"cannot start process {request.process_id} on the cluster: {exc}; an actor of an "
                "earlier run of this daemon still holds it"
            ) from None
        try:
            started: dict[str, Any] = await handle.start.remote(self._spec(request))
        except exceptions.RayError as exc:
            self._kill(handle)
            raise errors.SpawnFailed(
                f"cannot start process {request.process_id} on the cluster: {first_line(exc)}"
            ) from None
        if "error" in started:
            self._kill(handle)
            raise errors.SpawnFailed(started["error"], errno=started.get("errno"))
        return RayChild(self.ray, request.process_id, handle, started["pid"], started["node"])

    def _fetch(self, child: RayChild, progress: Progress) -> None:
        """Output "log": the actor's copy is fetched into the daemon's log, from `progress` on
        (OSError if the log cannot be opened)."""
        assert self._sink is not None
        writer = self._sink.writer(
            child.process_id, max_bytes=progress.max_bytes, backups=progress.backups
        )
        directory = self._sink.directory(child.process_id)
        progress.save(directory)
        child.follow_with(fetch(child, writer, directory, progress))

    def _spec(self, request: SpawnRequest) -> dict[str, Any]:
        target = request.target
        env: dict[str, str | None] = {"SUPERVISORD_LITE_SOCKET": self._socket_path}
        env.update(target.env)
        env["SUPERVISORD_LITE_PROCESS_ID"] = str(request.process_id)
        spec: dict[str, Any] = {
            "kind": "argv" if target.kind is TargetKind.ARGV else "python",
            "argv": [*target.argv, *request.args],
            "env": env,
            "cwd": target.cwd,
            "output": "null" if request.output is Output.NULL else "keep",
            "child": None,
        }
        if target.is_python:  # what the local owner gives owner.child.bootstrap, to the letter
            spec["child"] = child_spec(request, {})
        return spec

    # -- an earlier front's processes --------------------------------------------------------
    async def reattach(self, on_exit: Callable[[int], ExitCallback]) -> list[Survivor]:
        """The actors of this daemon's name still in the cluster: running ones are watched again
        (their exits go to `on_exit(process_id)`), exited ones come with their exit status."""
        listed: list[dict[str, str]] = await asyncio.to_thread(
            self.ray.util.list_named_actors, all_namespaces=True
        )
        names = [a["name"] for a in listed if a["namespace"] == self.namespace]
        survivors: list[Survivor] = []
        prefix = f"{self.name}:"
        for name in names:
            if not name.startswith(prefix) or not name[len(prefix) :].isdigit():
                continue
            process_id = int(name[len(prefix) :])
            try:
                handle = await asyncio.to_thread(self.ray.get_actor, name, self.namespace)
                # Bounded: an actor on a node that is dying must not hold up the daemon's start.
                status: dict[str, Any] = await asyncio.wait_for(handle.status.remote(), 30)
            except (ValueError, TimeoutError, self.ray.exceptions.RayError) as exc:
                log.warning("cannot reattach to process %d: %s", process_id, first_line(exc))
                continue
            if status["pid"] is None:  # its start was cut off: nothing ran, nothing to keep
                self._kill(handle)
                continue
            child = RayChild(self.ray, process_id, handle, status["pid"], status["node"])
            self.children[process_id] = child
            self._resume_fetch(child)
            if status["exitcode"] is None:
                child.watch(on_exit(process_id), self.on_lost)
                survivors.append(Survivor(process_id, child.pid, None, child))
            else:
                child.exitcode = status["exitcode"]
                survivors.append(Survivor(process_id, child.pid, child.exitcode, None))
        found = {s.process_id for s in survivors}
        for process_id, reason in (await asyncio.to_thread(self._dead_actors)).items():
            if process_id not in found:
                survivors.append(Survivor(process_id, None, None, None, lost_reason=reason))
        return sorted(survivors, key=lambda s: s.process_id)

    def _resume_fetch(self, child: RayChild) -> None:
        """A log an earlier front was fetching, and did not finish: fetched on from where it was."""
        if self._sink is None:
            return
        progress = Progress.load(self._sink.directory(child.process_id))
        if progress is None:
            return
        try:
            self._fetch(child, progress)
        except OSError as exc:
            log.error("process %d: cannot open its log again: %s", child.process_id, exc)

    def _dead_actors(self) -> dict[int, str]:
        """Our actors that died while no front watched them, and how: a node that died, a
        worker that crashed. Those this daemon killed itself (released ones) are left out.
        From Ray's state API (the head's dashboard); without it, none are known."""
        try:
            state = importlib.import_module("ray.util.state")
            actors = state.list_actors(
                filters=[("ray_namespace", "=", self.namespace), ("state", "=", "DEAD")],
                detail=True,
                limit=10_000,
                raise_on_missing_output=False,
            )
        except Exception as exc:  # no dashboard, or it is down: a lost process stays unknown
            log.warning("cannot list the actors that died meanwhile: %s", first_line(exc))
            return {}
        dead: dict[int, str] = {}
        prefix = f"{self.name}:"
        for actor in actors:
            name = actor.name or ""
            if not name.startswith(prefix) or not name[len(prefix) :].isdigit():
                continue
            context = (actor.death_cause or {}).get("actor_died_error_context") or {}
            if context.get("reason") == "RAY_KILL":
                continue  # released by a front (or a start that failed): nothing is lost
            message = context.get("error_message") or context.get("reason") or "no cause given"
            dead[int(name[len(prefix) :])] = f"its Ray actor died: {first_line(Exception(message))}"
        return dead

    async def read_output(
        self, process_id: int, stream: str, offset: int = 0, limit: int = CHUNK, wait: bool = False
    ) -> Chunk:
        """`process.logs` / follow for a process of this owner (also one reattached to)."""
        child = self.children.get(process_id)
        if child is None:
            raise errors.NoSuchProcess(f"no process {process_id} on the cluster", id=process_id)
        return await child.read(stream, offset, limit, wait)

    def acknowledge_all(self, process_ids: list[int]) -> None:
        """The Owner interface: these exits are stored."""
        for process_id in process_ids:
            self.acknowledge(process_id)

    def acknowledge(self, process_id: int) -> None:
        """The front has stored this exit: the actor and its output files go."""
        task = asyncio.ensure_future(self.release(process_id))
        self._releasing.add(task)
        task.add_done_callback(self._released)

    def _released(self, task: asyncio.Future[None]) -> None:
        self._releasing.discard(task)
        if not task.cancelled():
            task.exception()  # seen: a release that failed leaves the actor to a later front

    async def drain(self) -> None:
        """Wait for the releases under way (at a stop: stored exits' actors must not linger)."""
        if self._releasing:
            await asyncio.wait(list(self._releasing), timeout=30)

    async def release(self, process_id: int) -> None:
        """`acknowledge`, awaited: done once the actor has removed the output and is killed."""
        child = self.children.pop(process_id, None)
        if child is None:
            return
        await child.followed(timeout=30)  # its output is in the log before the actor goes
        child.stop_watching()
        with contextlib.suppress(self.ray.exceptions.RayError):
            await child.handle.release.remote()
        self._kill(child.handle)

    def _kill(self, handle: Any) -> None:
        with contextlib.suppress(Exception):  # already gone: nothing to kill
            self.ray.kill(handle, no_restart=True)

    def close(self) -> None:
        """Stop watching. Running processes go on (a later front reattaches); with
        `release_on_close`, the actors of exits this front has reported go."""
        for process_id, child in list(self.children.items()):
            fetched = child.all_followed()
            child.stop_watching()
            # A log not fetched to its end yet is left with its actor: the next front resumes it.
            if self._release_on_close and child.reported and fetched:
                with contextlib.suppress(Exception):
                    self.ray.get(child.handle.release.remote(), timeout=10)
                self._kill(child.handle)
                del self.children[process_id]
        if self._connected_here:
            self.ray.shutdown()


def _check_reachable(address: str) -> None:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise errors.BackendUnavailable(f"--ray-address must be HOST:PORT, not {address!r}")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as exc:
        raise errors.BackendUnavailable(
            f"cannot reach the Ray cluster at {address} ({exc.strerror or exc}); start it "
            "(ray start --head ...) or give its head's address with --ray-address HOST:PORT"
        ) from None
