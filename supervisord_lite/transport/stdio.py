"""Serve one client on stdin/stdout, for a parent that embeds the daemon."""

from __future__ import annotations

import os

from supervisord_lite.rpc.methods import Peer
from supervisord_lite.transport.connection import Connection, Handler


def serve_stdio(handler: Handler, *, limit: int) -> Connection:
    """The connection ends when stdin does; its `done` future says so."""
    # The parent that started us is trusted as our own user; it could not be anyone else.
    os.set_blocking(0, False)
    os.set_blocking(1, False)

    def read() -> tuple[bytes, list[int]]:
        return os.read(0, 262144), []

    return Connection(
        read_fd=0,
        write_fd=1,
        reader=read,
        writer=lambda data: os.write(1, data),
        handler=handler,
        peer=Peer(pid=os.getppid(), uid=os.getuid()),
        limit=limit,
    )
