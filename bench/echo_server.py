"""The anchor server: raw NDJSON echo over a Unix socket (asyncio, one thread), no JSON-RPC at all.

`python -m bench.echo_server PATH`: every complete line received is written back as it is.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys


class Echo(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data
        end = buf.rfind(b"\n") + 1
        if end:
            self.transport.write(buf[:end])
        self.buf = buf[end:]


async def serve(path: str) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    server = await loop.create_unix_server(Echo, path)
    print("ready", flush=True)
    await stop.wait()
    server.close()
    os.unlink(path)


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1]))
