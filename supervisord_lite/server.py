"""Wires the layers together and runs the daemon until SIGTERM/SIGINT (or the end of stdin)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from supervisord_lite import systemd
from supervisord_lite.core.supervisor import Supervisor
from supervisord_lite.paths import parent_of
from supervisord_lite.rpc.dispatch import Dispatcher
from supervisord_lite.rpc.methods import Api
from supervisord_lite.spawner import PopenSpawner, ZygoteSpawner, make_spawner, seal_inherited_fds
from supervisord_lite.transport.framing import DEFAULT_LIMIT
from supervisord_lite.transport.stdio import serve_stdio
from supervisord_lite.transport.unix import UnixServer, bind_socket

if TYPE_CHECKING:
    from supervisord_lite.cluster.ray_owner import RayOwner

log = logging.getLogger("supervisord_lite")


@dataclass(frozen=True)
class Options:
    socket_path: Path
    stdio: bool = False
    grace: float = 5.0
    max_message: int = DEFAULT_LIMIT
    zygote: bool = True
    preload: tuple[str, ...] = ()
    backend: str = "local"  # or "ray" (supervisord_lite/cluster)
    ray_address: str | None = None
    ray_name: str | None = None


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

    spawner: PopenSpawner | ZygoteSpawner | RayOwner
    owner: RayOwner | None = None
    if options.backend == "ray":
        from supervisord_lite.cluster.wiring import ray_owner

        try:
            spawner = owner = ray_owner(options, str(socket_path) if socket_path else None)
        except BaseException:
            for sock in socks:
                sock.close()
            if lock_fd is not None:
                options.socket_path.unlink(missing_ok=True)
                os.close(lock_fd)
            raise
    else:
        spawner = make_spawner(
            socket_path=str(socket_path) if socket_path else None,
            zygote=options.zygote,
            preload=options.preload,
        )
    supervisor = Supervisor(
        spawner,
        parent_of=parent_of,
        on_change=changed,
    )
    if owner is not None:
        from supervisord_lite.cluster.wiring import adopt

        await adopt(owner, supervisor)
    dispatcher = Dispatcher(Api(supervisor, discover=_discover))

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
    if lock_fd is not None:
        log.info(
            'try: echo \'{"jsonrpc":"2.0","id":1,"method":"daemon.info"}\' | socat - UNIX-CONNECT:%s',
            options.socket_path,
        )

    await stop.wait()

    log.info("stopping: terminating %d running process(es)", supervisor.running)
    notifier.stopping()
    for server in servers:
        server.close()
    await supervisor.shutdown(options.grace)
    spawner.close()  # the zygote and its spares go too
    if lock_fd is not None:
        options.socket_path.unlink(missing_ok=True)
        os.close(lock_fd)
    notifier.close()
    log.info("stopped")
    return 0


def _version() -> str:
    from supervisord_lite import __version__

    return __version__
