"""Limits: a burst of connects waits in the listen backlog (SOMAXCONN) instead of being refused,
and clients retry a full backlog (EAGAIN) or a daemon between two lives (ECONNREFUSED)."""

from __future__ import annotations

import errno
import socket
import threading
from pathlib import Path

import pytest
from supervisord_lite_client import Client
from supervisord_lite_client import connect as connect_module
from supervisord_lite_client.connect import connect_unix

from tests.conftest import Daemon


def test_two_thousand_simultaneous_connects_are_all_queued(daemon: Daemon) -> None:
    socks = []
    refused = 0
    try:
        for _ in range(2000):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.setblocking(False)
            socks.append(s)
            try:
                s.connect(str(daemon.socket_path))
            except BlockingIOError:  # EAGAIN: the backlog is full
                refused += 1
    finally:
        for s in socks:
            s.close()
    assert refused == 0
    with daemon.client() as c:
        assert c.call("process.list") == []


def test_three_hundred_clients_at_once_all_connect(daemon: Daemon) -> None:
    failures: list[BaseException] = []
    clients: list[Client] = []
    lock = threading.Lock()
    go = threading.Barrier(300)

    def one() -> None:
        go.wait()
        try:
            c = Client(daemon.socket_path)
        except BaseException as exc:
            with lock:
                failures.append(exc)
            return
        with lock:
            clients.append(c)

    threads = [threading.Thread(target=one) for _ in range(300)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for c in clients:
        c.close()
    assert failures == []
    assert len(clients) == 300


def test_a_refused_connect_is_retried_briefly(
    private_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sock = private_dir / "sl.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(sock))  # bound, not listening: connects are refused (ECONNREFUSED)
        with pytest.raises(OSError) as caught:
            connect_unix(str(sock), timeout=0.05)  # a stale socket is reported, not waited on
        assert caught.value.errno == errno.ECONNREFUSED
        retrying = threading.Event()
        real_sleep = connect_module.time.sleep

        def sleep(seconds: float) -> None:
            retrying.set()  # a connect was refused, and is about to be tried again
            real_sleep(seconds)

        monkeypatch.setattr(connect_module.time, "sleep", sleep)
        connected: list[socket.socket] = []
        t = threading.Thread(target=lambda: connected.append(connect_unix(str(sock), 10)))
        t.start()
        assert retrying.wait(10)
        server.listen(1)  # the daemon is back
        t.join(10)
        assert len(connected) == 1
        connected[0].close()
