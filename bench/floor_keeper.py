"""The floor with a keeper: the least any design pays whose children belong to a second Python
process, as issue 12 asks of the daemon (a keeper apart from the API front).

`python -m bench.floor_keeper PATH` serves create, start and join as `bench/floor_server.py` does,
with one change: a start is a message to a bare keeper (this module run with `--keeper FD`, the
server's child), over a SOCK_SEQPACKET socketpair as the daemon's keeper link is. The keeper
spawns the child as the floor does, and sends its pid, then its exit code from the pidfd's
wake-up. The server answers a start when the pid comes back, and a join when the exit does.

Nothing else is there: no state on disk, no acknowledgement of exits, no JSON-RPC, no checks, no
events or log lines. What this figure pays above the floor's is the hop itself: two messages each
way and two more processes' wake-ups for each child.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import orjson

from bench.bare_server import main
from bench.floor_server import PROCESSES, Floor, Process, spawn, watch


class Keeper:
    """The server's end of the link: spawn requests out, pids and exit codes back."""

    def __init__(self) -> None:
        self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        fd = theirs.fileno()
        cmd = [sys.executable, "-m", "bench.floor_keeper", "--keeper", str(fd)]
        self.proc = subprocess.Popen(cmd, pass_fds=(fd,))
        theirs.close()
        self.sock.setblocking(False)
        self.started: dict[int, Callable[[], None]] = {}
        self.watching = False

    def start(self, id_: int, process: Process, started: Callable[[], None]) -> None:
        if not self.watching:  # the loop runs only once the server serves
            asyncio.get_running_loop().add_reader(self.sock.fileno(), self.readable)
            self.watching = True
        self.started[id_] = started
        self.sock.send(orjson.dumps({"id": id_, "argv": process.argv}))

    def readable(self) -> None:
        while True:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                return
            if not data:  # the keeper is gone: its children's starts and joins go unanswered
                asyncio.get_running_loop().remove_reader(self.sock.fileno())
                return
            msg = orjson.loads(data)
            process = PROCESSES[msg["id"]]
            if "pid" in msg:
                process.pid = msg["pid"]
                self.started.pop(msg["id"])()
            else:
                process.exited(msg["code"])


KEEPER: Keeper | None = None


class FloorWithKeeper(Floor):
    def handle(self, msg: dict[str, Any]) -> None:
        if msg["method"] != "process.start":
            super().handle(msg)
            return
        id_, pid = msg["id"], msg["params"]["id"]
        process = PROCESSES[pid]
        assert KEEPER is not None
        KEEPER.start(pid, process, lambda: self.answer(id_, process.info("running")))


def keeper(fd: int) -> None:
    """The keeper's side: spawn what is asked, report the pid at once and the exit code later."""
    sock = socket.socket(fileno=fd)
    sock.setblocking(False)
    loop = asyncio.new_event_loop()

    def readable() -> None:
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            return
        if not data:  # the server is gone
            loop.stop()
            return
        msg = orjson.loads(data)
        id_ = msg["id"]
        pid = watch(loop, spawn(msg["argv"]), lambda code: report({"id": id_, "code": code}))
        report({"id": id_, "pid": pid})

    def report(msg: dict[str, int]) -> None:
        sock.send(orjson.dumps(msg))

    loop.add_reader(fd, readable)
    loop.run_forever()


if __name__ == "__main__":
    if sys.argv[1] == "--keeper":
        keeper(int(sys.argv[2]))
    else:
        KEEPER = Keeper()
        main(FloorWithKeeper)  # the keeper ends on the link's EOF
