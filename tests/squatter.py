"""A fake daemon, run as another user by tests/test_squatting.py: it listens where a client expects
the real one and reports how many bytes and fds a client sent it before hanging up."""

from __future__ import annotations

import array
import os
import socket
import sys


def main() -> None:
    path = sys.argv[1]
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(path)
        os.chmod(path, 0o777)
        server.listen(8)
        print("ready", flush=True)
        conn, _ = server.accept()
        conn.settimeout(10)
        got, fds = 0, 0
        while True:
            data, anc, _, _ = conn.recvmsg(65536, socket.CMSG_SPACE(64))
            for _level, _kind, payload in anc:
                fds += len(payload) // array.array("i").itemsize
            if not data:
                break
            got += len(data)
            conn.sendall(b'{"jsonrpc":"2.0","id":1,"result":{"pid":1,"exitcode":0}}\n')
        print(f"received {got} bytes, {fds} fds", flush=True)


if __name__ == "__main__":
    main()
