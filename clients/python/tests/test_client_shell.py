"""The blocking socket shell against a scripted fake daemon: concurrency, fds, lost connections."""

from __future__ import annotations

import json
import os
import re
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from supervisord_lite_client import (
    Client,
    ConnectionLost,
    DaemonUnavailable,
    NoSuchProcess,
    Process,
    ProtocolError,
    ProtocolVersionError,
)

Handler = Callable[["FakeConn"], None]


class FakeConn:
    """The server end of one accepted connection."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""
        self.fds: list[int] = []

    def request(self) -> dict[str, Any]:
        while b"\n" not in self.buf:
            msg, fds, _flags, _addr = socket.recv_fds(self.sock, 65536, 4)
            self.fds += fds
            if not msg:
                raise EOFError
            self.buf += msg
        line, _, self.buf = self.buf.partition(b"\n")
        req: dict[str, Any] = json.loads(line)
        return req

    def reply(self, req: dict[str, Any], result: Any) -> None:
        self.send({"jsonrpc": "2.0", "id": req["id"], "result": result})

    def send(self, obj: Any) -> None:
        self.sock.sendall(json.dumps(obj).encode() + b"\n")


class FakeDaemon:
    def __init__(self, path: Path, handler: Handler) -> None:
        self.path = path
        self.listener = socket.socket(socket.AF_UNIX)
        self.listener.bind(str(path))
        self.listener.listen()
        self.handler = handler
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        sock, _ = self.listener.accept()
        conn = FakeConn(sock)
        try:
            self.handler(conn)
        except EOFError:
            pass
        except BaseException as exc:
            self.errors.append(exc)
        finally:
            sock.close()
            for fd in conn.fds:
                os.close(fd)

    def close(self) -> None:
        self.listener.close()
        self.thread.join(timeout=10)
        assert not self.errors, self.errors


@pytest.fixture
def fake(short_dir: Path) -> Iterator[Callable[[Handler], FakeDaemon]]:
    made: list[FakeDaemon] = []

    def make(handler: Handler) -> FakeDaemon:
        made.append(FakeDaemon(short_dir / "fake.sock", handler))
        return made[-1]

    yield make
    for d in made:
        d.close()


def test_a_missing_daemon_names_the_path(short_dir: Path) -> None:
    path = short_dir / "nobody.sock"
    with pytest.raises(DaemonUnavailable) as info:
        Client(path)
    assert str(path) in str(info.value) and info.value.socket_path == str(path)
    assert isinstance(info.value, ConnectionError)


def test_the_version_is_checked_on_connect(fake: Callable[[Handler], FakeDaemon]) -> None:
    def serve(conn: FakeConn) -> None:
        req = conn.request()
        assert req["method"] == "daemon.info"
        conn.reply(req, {"version": "9.9", "protocol_version": "2.0", "pid": 1})

    d = fake(serve)
    with pytest.raises(ProtocolVersionError, match=r"2\.0"):
        Client(d.path)


def test_calls_from_threads_are_answered_out_of_order(
    fake: Callable[[Handler], FakeDaemon],
) -> None:
    n = 8

    def serve(conn: FakeConn) -> None:
        reqs = [conn.request() for _ in range(n)]  # all in flight at once
        for req in reversed(reqs):
            conn.reply(req, req["params"]["id"] * 10)

    d = fake(serve)
    c = Client(d.path, check_version=False)
    results: dict[int, Any] = {}

    def call(i: int) -> None:
        results[i] = c.call("process.getName", {"id": i})

    threads = [threading.Thread(target=call, args=(i,)) for i in range(1, n + 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert results == {i: i * 10 for i in range(1, n + 1)}
    c.close()


def test_errors_are_raised_in_the_calling_thread(fake: Callable[[Handler], FakeDaemon]) -> None:
    def serve(conn: FakeConn) -> None:
        req = conn.request()
        conn.send(
            {
                "jsonrpc": "2.0",
                "id": req["id"],
                "error": {"code": 1001, "message": "no process 9", "data": {"id": 9}},
            }
        )
        conn.request()

    d = fake(serve)
    with Client(d.path, check_version=False) as c, pytest.raises(NoSuchProcess) as info:
        c.call("process.info", {"id": 9})
    assert info.value.data == {"id": 9}


def test_fds_travel_with_their_request(
    fake: Callable[[Handler], FakeDaemon], tmp_path: Path
) -> None:
    seen: list[bytes] = []

    def serve(conn: FakeConn) -> None:
        req = conn.request()
        assert len(conn.fds) == 2
        for fd, text in zip(conn.fds, (b"out", b"err"), strict=True):
            os.write(fd, text)
        seen.append(json.dumps(req["params"]).encode())
        conn.reply(req, None)
        conn.request()

    d = fake(serve)
    out, err = tmp_path / "out", tmp_path / "err"
    with out.open("wb") as o, err.open("wb") as e, Client(d.path, check_version=False) as c:
        c.call("process.start", {"id": 1, "output": "passed"}, fds=[o.fileno(), e.fileno()])
    assert (out.read_bytes(), err.read_bytes()) == (b"out", b"err")
    assert seen == [b'{"id": 1, "output": "passed"}']


def test_a_lost_connection_fails_waiting_and_later_calls(
    fake: Callable[[Handler], FakeDaemon],
) -> None:
    got_request = threading.Event()

    def serve(conn: FakeConn) -> None:
        conn.request()
        got_request.set()
        # return without answering: the connection closes

    d = fake(serve)
    c = Client(d.path, check_version=False)
    with pytest.raises(ConnectionLost, match=re.escape(str(d.path))):
        c.call("process.join", {"id": 1})
    assert got_request.is_set() and c.closed
    with pytest.raises(ConnectionLost):
        c.call("process.getName", {"id": 1})


def test_close_wakes_a_waiting_call(fake: Callable[[Handler], FakeDaemon]) -> None:
    release = threading.Event()

    def serve(conn: FakeConn) -> None:
        conn.request()
        release.wait(20)

    d = fake(serve)
    c = Client(d.path, check_version=False)
    outcome: list[BaseException] = []

    def join() -> None:
        try:
            c.call("process.join", {"id": 1})
        except BaseException as exc:
            outcome.append(exc)

    t = threading.Thread(target=join)
    t.start()
    from slc_helpers import wait_until

    wait_until(lambda: bool(c._proto.pending), timeout=10, what="the join to be sent")
    c.close()
    t.join(timeout=10)
    release.set()
    assert len(outcome) == 1 and isinstance(outcome[0], ConnectionLost)


def test_garbage_from_the_daemon_is_a_protocol_error(fake: Callable[[Handler], FakeDaemon]) -> None:
    def serve(conn: FakeConn) -> None:
        conn.request()
        conn.sock.sendall(b"<html>\n")
        conn.request()

    d = fake(serve)
    with Client(d.path, check_version=False) as c, pytest.raises(ProtocolError):
        c.call("daemon.info")


def test_a_lost_process_is_ended_with_no_exit_code(fake: Callable[[Handler], FakeDaemon]) -> None:
    """Protocol 1.1's `lost` (a daemon only reports it after losing a child, so a fake serves
    it): not alive, exitcode None, and a join returns at once with it."""
    lost = {"id": 4, "name": "Process-4", "parent": None, "state": "lost", "pid": 77,
            "exitcode": None}  # fmt: skip
    asked: list[str] = []

    def serve(conn: FakeConn) -> None:
        while True:
            req = conn.request()
            asked.append(req["method"])
            conn.reply(req, lost)

    d = fake(serve)
    with Client(d.path, check_version=False) as c:
        p = Process.attach(4, client=c)
        assert p.is_alive() is False and p.exitcode is None
        p.join()
        assert p.exitcode is None and not p.is_alive() and p.pid == 77
        assert "lost" in repr(p)
        assert asked == ["process.info", "process.join"]  # ended: nothing more to ask
        assert [i.state for i in c.list_processes(state="lost")] == ["lost"]
