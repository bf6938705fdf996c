"""The anchor server: raw NDJSON echo over a Unix socket (asyncio, one thread), no JSON-RPC at all.

`python -m bench.echo_server PATH`: every complete line received is written back as it is.
"""

from __future__ import annotations

from bench.bare_server import Stream, main


class Echo(Stream):
    def data_received(self, data: bytes) -> None:
        buf = self.buf + data
        end = buf.rfind(b"\n") + 1
        if end:
            self.transport.write(buf[:end])
        self.buf = buf[end:]


if __name__ == "__main__":
    main(Echo)
