"""Wires the layers together and runs the daemon until SIGTERM/SIGINT (or the end of stdin)."""

from __future__ import annotations

import asyncio
import grp
import logging
import os
import signal
import socket
from dataclasses import dataclass
from pathlib import Path

from supervisord_lite import systemd
from supervisord_lite.core.supervisor import Supervisor
from supervisord_lite.owner import make_spawner, seal_inherited_fds
from supervisord_lite.paths import parent_of
from supervisord_lite.rpc.dispatch import Dispatcher
from supervisord_lite.rpc.methods import Api
from supervisord_lite.transport.connection import BufferBudget
from supervisord_lite.transport.framing import DEFAULT_BUFFER_BUDGET, DEFAULT_LIMIT
from supervisord_lite.transport.stdio import serve_stdio
from supervisord_lite.transport.unix import Admission, UnixServer, bind_socket

log = logging.getLogger("supervisord_lite")


@dataclass(frozen=True)
class Options:
    socket_path: Path
    stdio: bool = False
    grace: float = 5.0
    max_message: int = DEFAULT_LIMIT
    max_buffered: int = DEFAULT_BUFFER_BUDGET
    allow_group: str | None = None  # a group whose members may connect (docs/security.md)
    zygote: bool = True
    preload: tuple[str, ...] = ()


def _discover() -> object:
    from supervisord_lite.rpc import openrpc  # generated on demand: start-up stays lean

    return openrpc.document_json()


async def serve(options: Options) -> int:
    loop = asyncio.get_running_loop()
    seal_inherited_fds()
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
    dispatcher = Dispatcher(Api(supervisor, discover=_discover))

    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

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


def _version() -> str:
    from supervisord_lite import __version__

    return __version__
