"""The floor for `/bin/true`: the least any Python asyncio server pays for create, start and join.

`python -m bench.floor_server PATH`: the three methods over NDJSON, with none of the daemon's work
(no JSON-RPC engine, no validation, no errors, no records beyond a dict). A start is posix_spawn
(with the daemon's stdio, session and signal settings) and a pidfd in the event loop; a join is
answered from the pidfd's wake-up, in the same loop turn. What the daemon pays above this figure is
its own code; what this figure pays above `subprocess.run` is the round trips and the event loop.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from typing import Any

import orjson

from bench.bare_server import Stream, main

DEVNULL = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
ENV = dict(os.environ)


def spawn(argv: list[str]) -> int:
    """A child as the daemon starts a program: posix_spawn, its own session, stdio on /dev/null."""
    return os.posix_spawn(
        argv[0],
        argv,
        ENV,
        file_actions=[(os.POSIX_SPAWN_DUP2, DEVNULL, fd) for fd in (0, 1, 2)],
        setsid=True,
        setsigdef=(signal.SIGPIPE, signal.SIGXFSZ),
    )


def watch(loop: asyncio.AbstractEventLoop, pid: int, exited: Callable[[int], None]) -> int:
    """Reap `pid` from its pidfd's wake-up in the loop, and pass on its exit code."""
    pidfd = os.pidfd_open(pid)

    def reap() -> None:
        loop.remove_reader(pidfd)
        status = os.waitid(os.P_PIDFD, pidfd, os.WEXITED)
        os.close(pidfd)
        assert status is not None
        exited(status.si_status)

    loop.add_reader(pidfd, reap)
    return pid


class Process:
    def __init__(self, argv: list[str]) -> None:
        self.argv = argv
        self.pid: int | None = None
        self.exitcode: int | None = None
        self.waiters: list[Callable[[], None]] = []

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.pid = watch(loop, spawn(self.argv), self.exited)

    def exited(self, code: int) -> None:
        self.exitcode = code
        for answer in self.waiters:
            answer()

    def info(self, state: str) -> dict[str, Any]:
        return {"pid": self.pid, "state": state, "exitcode": self.exitcode}


PROCESSES: dict[int, Process] = {}


class Floor(Stream):
    def data_received(self, data: bytes) -> None:
        lines = (self.buf + data).split(b"\n")
        self.buf = lines.pop()
        for line in lines:
            self.handle(orjson.loads(line))

    def answer(self, id_: Any, result: Any) -> None:
        reply = {"jsonrpc": "2.0", "result": result, "id": id_}
        self.transport.write(orjson.dumps(reply, option=orjson.OPT_APPEND_NEWLINE))

    def handle(self, msg: dict[str, Any]) -> None:
        method, params, id_ = msg["method"], msg["params"], msg["id"]
        if method == "process.create":
            PROCESSES[len(PROCESSES) + 1] = Process(params["target"]["argv"])
            self.answer(id_, {"id": len(PROCESSES), "state": "created"})
        elif method == "process.start":
            process = PROCESSES[params["id"]]
            process.start(asyncio.get_running_loop())
            self.answer(id_, process.info("running"))
        elif method == "process.join":
            process = PROCESSES[params["id"]]
            if process.exitcode is not None:
                self.answer(id_, process.info("exited"))
            else:
                process.waiters.append(lambda: self.answer(id_, process.info("exited")))


if __name__ == "__main__":
    main(Floor)
