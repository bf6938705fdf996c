"""The asyncio facade (supervisord_lite_client.aio) against a real daemon: the seed flow, the same
errors as the blocking client, concurrency on one connection, a lost daemon."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import slc_helpers
from slc_daemon import Daemon
from supervisord_lite_client import (
    AlreadyStarted,
    ConnectionLost,
    DaemonUnavailable,
    GroupNotNull,
    NoSuchProcess,
    NotStarted,
    TargetFailed,
    TargetNotPicklable,
)
from supervisord_lite_client.aio import AsyncClient, AsyncProcess, default_client

T = TypeVar("T")


def run(daemon: Daemon, body: Callable[[AsyncClient], Awaitable[T]]) -> T:
    async def main() -> T:
        async with await AsyncClient.connect(daemon.socket_path) as c:
            return await body(c)

    return asyncio.run(main())


def test_the_seed_flow(daemon: Daemon, tmp_path: Path) -> None:
    out = tmp_path / "out"

    async def body(c: AsyncClient) -> None:
        p = AsyncProcess(target=slc_helpers.write_text, args=[str(out), "async"], client=c)
        assert p.id is None  # create is on its way
        info = await p.ready()
        assert info.state == "created" and p.id == info.id and p.pid is None
        assert (await p.getName()) == info.name
        await p.start()
        await p.join()
        assert p.exitcode == 0 and p.pid is not None and not await p.is_alive()
        by_reference = AsyncProcess(target="slc_helpers:write_text", args=[str(out), "ref"],
                                    kwargs={"suffix": "!"}, client=c)  # fmt: skip
        await by_reference.start(output="null")
        await by_reference.join()
        assert by_reference.exitcode == 0

    run(daemon, body)
    assert out.read_text() == "ref!"


def test_output_is_passed_as_by_the_blocking_client(
    daemon: Daemon, capfd: pytest.CaptureFixture[str]
) -> None:
    async def body(c: AsyncClient) -> None:
        p = AsyncProcess(target=slc_helpers.hello, args=["async Bob"], client=c)
        await p.start()
        await p.join()

    run(daemon, body)
    assert capfd.readouterr().out == "Hello async Bob\n"


def test_the_same_errors(daemon: Daemon) -> None:
    async def body(c: AsyncClient) -> None:
        p = AsyncProcess(client=c)
        with pytest.raises(NotStarted):
            await p.join()
        await p.start()
        with pytest.raises(AlreadyStarted):
            await p.start()
        await p.join()
        bad = AsyncProcess(target="slc_no_such_module:f", client=c)
        with pytest.raises(TargetFailed):
            await bad.start(output="null")
        assert (await bad.info()).exitcode == 1
        with pytest.raises(NoSuchProcess):
            await c.info(10**9)
        # Refused before anything is sent, as Process refuses them.
        with pytest.raises(GroupNotNull):
            AsyncProcess(group="g", client=c)
        with pytest.raises(TargetNotPicklable):
            AsyncProcess(target=lambda: None, client=c)
        assert (await c.daemon_info()).protocol_version.startswith("1.")

    run(daemon, body)


def test_a_waiting_join_holds_up_no_other_call(daemon: Daemon, tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)

    async def body(c: AsyncClient) -> None:
        p = AsyncProcess(target=slc_helpers.block_on_fifo, args=[str(fifo)], client=c)
        await p.start()
        join = asyncio.ensure_future(p.join())
        await p.setName("renamed while joined")
        assert await p.getName() == "renamed while joined"
        await p.join(timeout=0)
        assert await p.is_alive() and not join.done()
        await p.terminate()
        await join
        assert p.exitcode == -15

    run(daemon, body)


def test_keys_inherit_the_callers_and_can_be_bytes(daemon: Daemon) -> None:
    async def body(c: AsyncClient) -> None:
        p = AsyncProcess(client=c)
        assert await p.authkey_bytes() == bytes(multiprocessing.current_process().authkey)
        await p.setAuthKey("text key")
        assert await p.getAuthKey() == "text key"
        await p.set_authkey_bytes(b"\xff\x00")
        assert await p.authkey_bytes() == b"\xff\x00"

    run(daemon, body)


def test_the_default_client_and_its_errors(
    daemon: Daemon, short_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUPERVISORD_LITE_SOCKET", str(daemon.socket_path))

    async def main() -> Any:
        p = AsyncProcess()
        await p.start(output="null")
        await p.join()
        assert p.exitcode == 0
        first = await default_client()
        assert await default_client() is first  # one per event loop
        await first.close()
        q = AsyncProcess()  # a new connection, the old one being closed
        await q.ready()
        assert (await default_client()) is not first
        await (await default_client()).close()

    asyncio.run(main())
    monkeypatch.setenv("SUPERVISORD_LITE_SOCKET", str(short_dir / "nobody.sock"))
    with pytest.raises(DaemonUnavailable, match=r"nobody\.sock"):
        asyncio.run(AsyncClient.connect())


def test_a_lost_daemon_fails_the_waiting_calls(own_daemon: Daemon, tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)

    async def body(c: AsyncClient) -> None:
        p = AsyncProcess(target=slc_helpers.block_on_fifo, args=[str(fifo)], client=c)
        await p.start(output="null")
        join = asyncio.ensure_future(p.join())
        await p.getName()  # the join has been sent and waits
        own_daemon.stop()
        with pytest.raises(ConnectionLost):
            await join
        with pytest.raises(ConnectionLost):
            await p.getName()
        assert c.closed

    run(own_daemon, body)


def test_a_child_of_an_async_caller_uses_the_client_itself(daemon: Daemon) -> None:
    async def body(c: AsyncClient) -> None:
        p = AsyncProcess(target=slc_helpers.join_self, client=c)
        await p.start()
        await p.join()
        assert p.exitcode == 0  # the child's own join of itself got JoinSelf

    run(daemon, body)
