"""What the bench's own servers share: a protocol base, and serving on a Unix socket until SIGTERM.

`python -m bench.echo_server PATH`, `python -m bench.floor_server PATH` and
`python -m bench.floor_keeper PATH` print "ready" once they listen, and remove their socket when
stopped.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable


class Stream(asyncio.Protocol):
    """A connection's transport and the bytes of its line not yet complete (`buf`)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buf = b""


async def serve(path: str, protocol: Callable[[], asyncio.Protocol]) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    server = await loop.create_unix_server(protocol, path)
    print("ready", flush=True)
    await stop.wait()
    server.close()
    os.unlink(path)


def main(protocol: Callable[[], asyncio.Protocol]) -> None:
    asyncio.run(serve(sys.argv[1], protocol))
