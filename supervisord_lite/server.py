"""Wires the layers together and runs the daemon until SIGTERM/SIGINT (or the end of stdin)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path

from supervisord_lite import systemd
from supervisord_lite.core.supervisor import Supervisor
from supervisord_lite.owner import close_trees, make_spawner, seal_inherited_fds
from supervisord_lite.paths import parent_of
from supervisord_lite.rpc.dispatch import Dispatcher
from supervisord_lite.rpc.methods import Api, info
from supervisord_lite.supervision.service import Supervision
from supervisord_lite.transport.framing import DEFAULT_LIMIT
from supervisord_lite.transport.stdio import serve_stdio
from supervisord_lite.transport.unix import UnixServer, bind_socket

log = logging.getLogger("supervisord_lite")


@dataclass(frozen=True)
class Options:
    socket_path: Path
    stdio: bool = False
    grace: float = 5.0
    max_message: int = DEFAULT_LIMIT
    zygote: bool = True
    preload: tuple[str, ...] = ()
    log_dir: Path | None = None  # output "log" (None: a private temporary directory)
    event_ring: int = 10_000
    cgroup_root: Path | None = None  # where cgroup v2 is mounted, to use it without systemd's mark


def _discover() -> object:
    from supervisord_lite.rpc import openrpc  # generated on demand: start-up stays lean

    return openrpc.document()


async def serve(options: Options) -> int:
    loop = asyncio.get_running_loop()
    seal_inherited_fds()
    notifier = systemd.Notifier.from_environment()
    activated = systemd.listen_sockets()  # read in every mode: it scrubs LISTEN_* from os.environ
    if options.stdio:
        for unused in activated:
            unused.close()
        activated = []

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
        sock, lock_fd = bind_socket(options.socket_path)
        socks = [sock]
        socket_path = options.socket_path
        where = str(options.socket_path)

    supervisor: Supervisor

    def changed() -> None:
        notifier.status(f"{supervisor.running} running")

    temp_logs: tempfile.TemporaryDirectory[str] | None = None
    if options.log_dir is None:
        temp_logs = tempfile.TemporaryDirectory(prefix="supervisord-lite-logs-")
        log_dir = Path(temp_logs.name)  # mkdtemp makes it 0700
    else:
        log_dir = options.log_dir
    supervision: Supervision | None = None

    def output_arrived(process_id: int) -> None:
        if supervision is not None:
            supervision.logs.notify(process_id)

    spawner = make_spawner(
        socket_path=str(socket_path) if socket_path else None,
        zygote=options.zygote,
        preload=options.preload,
        log_dir=str(log_dir),
        on_output=output_arrived,
        cgroup_root=None if options.cgroup_root is None else str(options.cgroup_root),
    )
    supervisor = Supervisor(
        spawner,
        parent_of=parent_of,
        on_change=changed,
    )
    supervision = Supervision(
        supervisor, log_dir=log_dir, info=info, events_capacity=options.event_ring
    )
    dispatcher = Dispatcher(Api(supervisor, discover=_discover, supervision=supervision))

    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    if options.stdio:
        connection = serve_stdio(dispatcher.handle, limit=options.max_message)
        connection.done.add_done_callback(lambda _: stop.set())
    servers = [UnixServer(s, dispatcher.handle, limit=options.max_message) for s in socks]

    notifier.attach(loop)
    notifier.ready(f"serving on {where}, 0 running")
    log.info("supervisord-lite %s serving on %s (pid %d)", _version(), where, os.getpid())
    log.info(
        'each child\'s tree is held by %s; output "log" goes to %s',
        "a cgroup v2 of its own" if spawner.cgroups is not None else "its process group",
        log_dir,
    )
    if lock_fd is not None:
        log.info(
            'try: echo \'{"jsonrpc":"2.0","id":1,"method":"daemon.info"}\' | socat - UNIX-CONNECT:%s',
            options.socket_path,
        )

    await supervision.programs.resume()
    await stop.wait()

    log.info("stopping: terminating %d running process(es)", supervisor.running)
    notifier.stopping()
    for server in servers:
        server.close()
    await supervision.programs.shutdown()  # each program with its own stop signal and timeout
    await supervisor.shutdown(options.grace)
    supervision.close()
    spawner.close()  # the zygote and its spares go too
    close_trees(spawner)  # nothing a child left behind outlives the daemon
    if temp_logs is not None:
        temp_logs.cleanup()
    if lock_fd is not None:
        options.socket_path.unlink(missing_ok=True)
        os.close(lock_fd)
    notifier.close()
    log.info("stopped")
    return 0


def _version() -> str:
    from supervisord_lite import __version__

    return __version__
