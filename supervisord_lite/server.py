"""Wires the layers together and runs the daemon until SIGTERM/SIGINT (or the end of stdin)."""

from __future__ import annotations

import asyncio
import contextlib
import grp
import logging
import os
import signal
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from supervisord_lite import systemd
from supervisord_lite.config.apply import Reloader
from supervisord_lite.config.load import BadConfig, Config
from supervisord_lite.core.model import Spawner
from supervisord_lite.core.store import StoreWriteFailed
from supervisord_lite.core.supervisor import Supervisor
from supervisord_lite.options import Options
from supervisord_lite.owner.factory import close_trees, make_spawner
from supervisord_lite.owner.keeper_client import KeeperOwner
from supervisord_lite.owner.output import LogSink
from supervisord_lite.owner.programs import PopenSpawner
from supervisord_lite.owner.python_targets import ZygoteSpawner
from supervisord_lite.owner.spec import reset_inherited_signals, seal_inherited_fds
from supervisord_lite.paths import parent_of
from supervisord_lite.rpc.dispatch import Dispatcher
from supervisord_lite.rpc.errors import ErrorCode as E
from supervisord_lite.rpc.errors import RpcError
from supervisord_lite.rpc.methods import Api, info
from supervisord_lite.state import directory as state_directory
from supervisord_lite.state.sqlite import SqliteStore
from supervisord_lite.supervision.service import Supervision
from supervisord_lite.transport.connection import BufferBudget
from supervisord_lite.transport.stdio import serve_stdio
from supervisord_lite.transport.unix import Admission, UnixServer, bind_socket

if TYPE_CHECKING:
    from supervisord_lite.cluster.ray_owner import RayOwner

log = logging.getLogger("supervisord_lite")


def _discover() -> object:
    from supervisord_lite.rpc import openrpc  # generated on demand: start-up stays lean

    return openrpc.document_json()


async def serve(options: Options) -> int:
    loop = asyncio.get_running_loop()
    seal_inherited_fds()
    reset_inherited_signals()  # nothing this daemon was started with ignored reaches a child
    # Before anything is bound or started: a stop (a unit's, a Ctrl-C) while the daemon starts is
    # then a clean stop once the start is over, never SIGTERM's default death of the front alone.
    stop = asyncio.Event()
    api: Api | None = None
    hup_early: list[int] = []  # SIGHUP is a reload (ExecReload=), never the default's death

    def hup() -> None:
        if api is None or api.reload is None:
            hup_early.append(signal.SIGHUP)
        else:
            _reload_in_background(api)

    def handle_signals() -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        loop.add_signal_handler(signal.SIGHUP, hup)

    handle_signals()
    notifier = systemd.Notifier.from_environment()
    activated = systemd.listen_sockets()  # read in every mode: it scrubs LISTEN_* from os.environ
    if options.stdio:
        for unused in activated:
            unused.close()
        activated = []

    group = None if options.allow_group is None else group_id(options.allow_group)

    # Own the socket path first: a second daemon on a live path must stop before it starts anything.
    lock_fd: int | None = None
    socks: list[socket.socket] = []
    socket_path: Path | None = None
    if options.stdio:
        where = "stdin/stdout"
    elif activated:
        socks = activated
        where = "the socket(s) passed by systemd ({})".format(
            ", ".join(str(s.getsockname() or "unnamed") for s in socks)
        )
        name = socks[0].getsockname()
        if isinstance(name, str) and name:
            socket_path = Path(name)  # children reach us where systemd listens
    else:
        sock, lock_fd = bind_socket(options.socket_path, group=group)
        socks = [sock]
        socket_path = options.socket_path
        where = str(options.socket_path)

    supervisor: Supervisor

    def changed() -> None:
        notifier.status(f"{supervisor.running} running")

    socket_str = str(socket_path) if socket_path else None
    spawner: Spawner
    keeper: KeeperOwner | None = None
    local: PopenSpawner | ZygoteSpawner | None = None
    store: SqliteStore | None = None
    front_lock: int | None = None
    temp_logs: tempfile.TemporaryDirectory[str] | None = None
    supervision: Supervision | None = None

    def output_arrived(process_id: int) -> None:
        if supervision is not None:
            supervision.logs.notify(process_id)

    cgroup_root = None if options.cgroup_root is None else str(options.cgroup_root)
    ray: RayOwner | None = None
    if options.backend == "ray":
        # Processes run as actors of a Ray cluster (docs/cluster.md): the records are kept here
        # as with the keeper, and a restarted front takes back the actors by their names.
        from supervisord_lite.cluster.wiring import ray_owner

        state_dir, front_lock = _own_state_dir(options)
        log_dir = options.log_dir or state_dir / "logs"
        try:
            sink = LogSink(str(log_dir), output_arrived)  # output "log" is fetched to here
            spawner = ray = ray_owner(options, socket_str, sink)
        except BaseException:
            for sock in socks:
                sock.close()
            if lock_fd is not None:
                options.socket_path.unlink(missing_ok=True)
                os.close(lock_fd)
            raise
        store = SqliteStore(state_dir)
        supervisor = _durable(store, ray, ray.acknowledge_all, changed, options)
    elif options.ephemeral:
        if options.log_dir is None:
            temp_logs = tempfile.TemporaryDirectory(prefix="supervisord-lite-logs-")
            log_dir = Path(temp_logs.name)  # mkdtemp makes it 0700
        else:
            log_dir = options.log_dir
        spawner = local = make_spawner(
            socket_path=socket_str,
            zygote=options.zygote,
            preload=options.preload,
            log_dir=str(log_dir),
            on_output=output_arrived,
            cgroup_root=cgroup_root,
        )
        supervisor = Supervisor(
            spawner, parent_of=parent_of, on_change=changed, keep_exited=options.keep_exited
        )
    else:
        state_dir, front_lock = _own_state_dir(options)
        # Output "log" is kept with the records it belongs to, and outlives the front as they do.
        log_dir = options.log_dir or state_dir / "logs"
        store = SqliteStore(state_dir)
        keeper = await KeeperOwner.connect(
            state_dir,
            socket_path=socket_str,
            zygote=options.zygote,
            preload=options.preload,
            log_dir=log_dir,
            cgroup_root=cgroup_root,
        )
        keeper.on_output = output_arrived
        spawner = keeper
        supervisor = _durable(store, keeper, keeper.acknowledge, changed, options)
    # Again, once the owner exists: ray.init installs its own SIGTERM handler (a crash reporter
    # that exits 15), which would otherwise replace ours and turn a stop into a kill.
    handle_signals()
    supervision = Supervision(
        supervisor,
        store=store,
        log_dir=log_dir,
        info=info,
        events_capacity=options.event_ring,
    )
    owner = keeper or ray
    if owner is not None:
        running, exited, lost = supervisor.reattach(await owner.reattach(supervisor.on_exit_of))
        supervisor.persist()
        swept = supervision.logs.sweep({r.id for r in supervisor.records()})
        if swept:
            log.info("removed the logs of %d released process(es)", swept)

        def keeper_gone(ids: list[int]) -> None:
            for process_id in ids:
                supervisor.mark_lost(process_id, "the keeper went away")

        if keeper is not None:
            keeper.on_lost = keeper_gone
        if ray is not None:

            def node_gone(process_id: int, reason: str) -> None:
                supervisor.mark_lost(process_id, reason)

            ray.on_lost = node_gone
        log.info(
            "state in %s: %d record(s); from the keeper: %d running, %d exited while away, %d lost",
            state_dir,
            len(list(supervisor.records())),
            running,
            exited,
            lost,
        )
    api = Api(supervisor, discover=_discover, supervision=supervision)
    dispatcher = Dispatcher(api)

    if options.stdio:
        connection = serve_stdio(dispatcher.handle, limit=options.max_message)
        connection.done.add_done_callback(lambda _: stop.set())
    budget = BufferBudget(max(options.max_buffered, options.max_message))  # shared by all
    admit = Admission(
        group=group,
        group_name=options.allow_group,
        supervised=lambda pid: supervisor.caller_of(pid) is not None,
    )
    servers = [
        UnixServer(s, dispatcher.handle, limit=options.max_message, budget=budget, admit=admit)
        for s in socks
    ]

    notifier.attach(loop)
    notifier.ready(f"serving on {where}, 0 running")
    log.info("supervisord-lite %s serving on %s (pid %d)", _version(), where, os.getpid())
    log.info(
        'each child\'s tree is held by %s; output "log" goes to %s',
        "the keeper (its own log line says how)"
        if local is None
        else "a cgroup v2 of its own"
        if local.cgroups is not None
        else "its process group",
        log_dir,
    )
    if lock_fd is not None:
        log.info(
            'try: echo \'{"jsonrpc":"2.0","id":1,"method":"daemon.info"}\' | socat - UNIX-CONNECT:%s',
            options.socket_path,
        )

    await supervision.programs.resume()
    memory = None if store is None else state_dir / "declared-programs.json"
    reloader = Reloader(options.config or Config(None), supervision.programs, memory=memory)
    # Wired first: a reload asked meanwhile waits for the start's application (one lock).
    api.reload = lambda: reload_config(reloader, notifier, supervisor)
    await reloader.start()  # after resume: an unchanged program's adopted run goes on untouched
    if hup_early:  # a SIGHUP during the start: the file may have changed since it was read
        _reload_in_background(api)
    await stop.wait()

    log.info("stopping: terminating %d running process(es)", supervisor.running)
    notifier.stopping()
    for server in servers:
        server.close()
    if ray is None:
        await supervision.programs.shutdown()  # each program with its own stop signal and timeout
        await supervisor.shutdown(options.grace)  # records are written, exits acknowledged
    else:
        # On a cluster the processes outlive the daemon (issue 18): a stop leaves them running,
        # for the next front of this name to take back; only the records are written.
        supervisor.persist(clean=True)
        await ray.drain()  # the actors of the exits just stored go
    supervision.close()
    if keeper is not None and supervisor.unwritten:
        # The last exit statuses are not on disk: the keeper keeps them for the next daemon.
        log.error("the state could not be written: the keeper stays, holding the exit statuses")
        keeper.close(quit=False)
    elif keeper is not None:
        keeper.close(quit=True)  # the keeper ends too (the zygote, and what children left)
    elif local is not None:
        local.close()  # the zygote and its spares go too
        close_trees(local)  # nothing a child left behind outlives the daemon
    if ray is not None:
        ray.close()  # stop watching; the actors of stored exits go
    if store is not None:
        supervisor.seal()  # what the owner's end changed is written, and nothing is left scheduled
        try:
            store.close()
        except StoreWriteFailed as exc:
            log.error("%s; the changes since the last write are not on disk", exc)
    if front_lock is not None:
        os.close(front_lock)
    if temp_logs is not None:
        temp_logs.cleanup()
    if lock_fd is not None:
        options.socket_path.unlink(missing_ok=True)
        os.close(lock_fd)
    notifier.close()
    log.info("stopped")
    return 0


async def reload_config(
    reloader: Reloader, notifier: systemd.Notifier, supervisor: Supervisor
) -> dict[str, Any]:
    """daemon.reload and SIGHUP (ExecReload=): RELOADING=1 with MONOTONIC_USEC, as sd_notify(3)
    asks of Type=notify-reload, then READY=1 again whatever the outcome (the old config stays
    in force when the new file is bad)."""
    usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    notifier.send(f"RELOADING=1\nMONOTONIC_USEC={usec}")
    try:
        applied = await reloader.reload()
    except BadConfig as exc:
        log.warning("reload refused, the config in force is unchanged: %s", exc)
        raise RpcError(
            E.BAD_CONFIG,
            f"{exc}\n(nothing was changed: fix the file, then reload again)",
            {"path": None if reloader.path is None else str(reloader.path)},
        ) from None
    finally:
        notifier.ready(f"{supervisor.running} running")
    path = reloader.config.path
    return {"config": None if path is None else str(path), **applied.as_dict()}


_reloads: set[asyncio.Task[Any]] = set()


def _reload_in_background(api: Api) -> None:
    """SIGHUP: the same reload, its outcome logged (a bad file is, by reload_config)."""
    reload = api.reload
    if reload is None:  # pragma: no cover - wired before the handler is
        return

    async def run() -> None:
        with contextlib.suppress(RpcError):
            await reload()

    task = asyncio.get_running_loop().create_task(run())
    _reloads.add(task)
    task.add_done_callback(_reloads.discard)


class UnknownGroup(Exception):
    pass


def group_id(name: str) -> int:
    """A group's id, from its name (or a number)."""
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        if name.isdigit():
            return int(name)
        raise UnknownGroup(f"--allow-group {name}: no such group") from None


def _durable(
    store: SqliteStore,
    owner: Spawner,
    acknowledge: Callable[[list[int]], None],
    changed: Callable[[], None],
    options: Options,
) -> Supervisor:
    """A Supervisor whose records live in `store`, telling `owner` which exits are stored."""
    supervisor = Supervisor(
        owner,
        parent_of=parent_of,
        on_change=changed,
        store=store,
        acknowledge=acknowledge,
        keep_exited=options.keep_exited,
    )
    store.on_pending = supervisor.persist_soon  # supervision's writes go with the next batch
    return supervisor


def _own_state_dir(options: Options) -> tuple[Path, int]:
    """The state directory, checked (ours alone), and the lock that makes this its only front."""
    state_dir = state_directory.prepare(options.state_dir or state_directory.default_state_dir())
    return state_dir, state_directory.lock_front(state_dir)


def _version() -> str:
    from supervisord_lite import __version__

    return __version__
