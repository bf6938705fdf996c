"""The asyncio facade: `AsyncClient` and `AsyncProcess`, for asyncio services driving the daemon.

    from supervisord_lite_client.aio import AsyncProcess

    async def main():
        p = AsyncProcess(target=f, args=["Bob"])   # process.create is sent at once
        await p.start(output="null")
        await p.join()
        print(p.exitcode)

The same protocol code as the blocking client (protocol.RpcProtocol, sans-I/O; calls.py for what a
Process sends), the same errors (NoSuchProcess, AlreadyStarted, TargetFailed, ...), the same
targets. A connection has one reader task, which hands replies to their callers by id, so calls on
one connection run concurrently: a `join()` that waits holds up no other call.

What differs from `Process`: methods that ask the daemon are coroutines (`name` and `authkey`
become `await p.getName()` and `await p.authkey_bytes()`); `pid` and `exitcode` are what the last
answer said (every call that returns a ProcessInfo refreshes them; `await p.info()` asks afresh).
An AsyncProcess is made inside a running event loop: its constructor sends `process.create` at
once, so that default names follow construction order, and checks and pickles the target then,
raising as `Process` does. Subclasses that override `run()` are for `Process` only.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import os
import socket
import weakref
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from supervisord_lite_client.calls import (
    create_params,
    decode_key,
    encode_key,
    on_another_python,
    output_fds,
)
from supervisord_lite_client.errors import (
    ConnectionLost,
    DaemonUnavailable,
    GroupNotNull,
    SupervisordLiteError,
    TargetFailed,
)
from supervisord_lite_client.paths import ENV_SOCKET, default_socket_path
from supervisord_lite_client.protocol import (
    DaemonInfo,
    ProcessInfo,
    RpcProtocol,
    check_protocol_version,
    expect_string,
    parse_daemon_info,
    parse_process_info,
)
from supervisord_lite_client.targets import TargetSpec, normalize

__all__ = ["AsyncClient", "AsyncProcess", "default_client"]

Output = Literal["passed", "daemon", "null"]
_RECV_SIZE = 65536


class AsyncClient:
    """A connection to the daemon; make one with `await AsyncClient.connect(path)`."""

    def __init__(self, sock: socket.socket, socket_path: str) -> None:
        self.socket_path = socket_path
        self._sock = sock
        self._loop = asyncio.get_running_loop()
        self._proto = RpcProtocol()
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._write_lock = asyncio.Lock()
        self._broken: SupervisordLiteError | None = None
        self._reader = self._loop.create_task(self._read())

    @classmethod
    async def connect(
        cls, socket_path: str | os.PathLike[str] | None = None, *, check_version: bool = True
    ) -> AsyncClient:
        """Connect (DaemonUnavailable, naming the path, when nobody answers) and, with
        `check_version`, refuse a daemon of another protocol major version."""
        path = default_socket_path() if socket_path is None else os.fspath(socket_path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await asyncio.get_running_loop().sock_connect(sock, path)
        except OSError as exc:
            sock.close()
            raise DaemonUnavailable(
                f"no supervisord-lite daemon answers at {path}: {exc.strerror or exc} (start one "
                f"with `supervisord-lite serve`, or set ${ENV_SOCKET})",
                path,
            ) from exc
        client = cls(sock, path)
        if check_version:
            try:
                check_protocol_version(await client.daemon_info())
            except BaseException:
                await client.close()
                raise
        return client

    @property
    def closed(self) -> bool:
        return self._broken is not None

    async def close(self) -> None:
        """Close the connection; calls still waiting fail with ConnectionLost."""
        self._fail(ConnectionLost(f"the connection to {self.socket_path} was closed by this client",
                                  self.socket_path))  # fmt: skip
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def call(
        self, method: str, params: dict[str, Any] | None = None, *, fds: Sequence[int] = ()
    ) -> Any:
        """Call `method` with params by name; its result, or its error raised."""
        if self._broken is not None:
            raise self._broken
        request_id, line = self._proto.request(method, params)
        future: asyncio.Future[Any] = self._loop.create_future()
        self._waiting[request_id] = future
        try:
            async with self._write_lock:
                await self._send(line, fds)
        except OSError as exc:
            self._fail(ConnectionLost(f"sending {method} failed: {exc.strerror or exc}",
                                      self.socket_path))  # fmt: skip
        try:
            return await future
        finally:
            if self._waiting.pop(request_id, None) is not None:
                self._proto.abandon(request_id)  # cancelled: a late answer is dropped

    async def _send(self, line: bytes, fds: Sequence[int]) -> None:
        if not fds:
            await self._loop.sock_sendall(self._sock, line)
            return
        ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds).tobytes())]
        while True:  # the fds travel with the first byte sent
            try:
                sent = self._sock.sendmsg([line], ancillary)
                break
            except BlockingIOError:
                await self._writable()
        if sent < len(line):
            await self._loop.sock_sendall(self._sock, line[sent:])

    async def _writable(self) -> None:
        ready: asyncio.Future[None] = self._loop.create_future()
        fd = self._sock.fileno()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        self._loop.add_writer(fd, wake)
        try:
            await ready
        finally:
            self._loop.remove_writer(fd)

    async def _read(self) -> None:
        try:
            while True:
                try:
                    data = await self._loop.sock_recv(self._sock, _RECV_SIZE)
                except OSError as exc:
                    data, why = b"", f": {exc.strerror or exc}"
                else:
                    why = ""
                if not data:
                    self._fail(ConnectionLost(
                        f"the daemon at {self.socket_path} closed the connection{why} "
                        "(it stopped or restarted; its processes may be gone)",
                        self.socket_path,
                    ))  # fmt: skip
                    return
                try:
                    replies = self._proto.receive(data)
                except SupervisordLiteError as exc:
                    self._fail(exc)
                    return
                for reply in replies:
                    future = self._waiting.pop(reply.request_id, None)
                    if future is None or future.done():
                        continue
                    if reply.error is not None:
                        future.set_exception(reply.error)
                    else:
                        future.set_result(reply.result)
        finally:
            self._sock.close()

    def _fail(self, error: SupervisordLiteError) -> None:
        if self._broken is None:
            self._broken = error
        for reply in self._proto.fail_all(self._broken):
            future = self._waiting.pop(reply.request_id, None)
            if future is not None and not future.done():
                future.set_exception(self._broken)

    async def daemon_info(self) -> DaemonInfo:
        return parse_daemon_info(await self.call("daemon.info"))

    async def info(self, process_id: int) -> ProcessInfo:
        return parse_process_info(await self.call("process.info", {"id": process_id}))


# One default connection per event loop, made on first use (and again once lost).
_defaults: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task[AsyncClient]] = (
    weakref.WeakKeyDictionary()
)


async def default_client() -> AsyncClient:
    """The connection AsyncProcess uses when given none: to `$SUPERVISORD_LITE_SOCKET`, else the
    daemon's default path; one per event loop, opened on first use and again once lost."""
    loop = asyncio.get_running_loop()
    task = _defaults.get(loop)
    if (
        task is not None
        and task.done()
        and (task.cancelled() or task.exception() is not None or task.result().closed)
    ):
        task = None
    if task is None:
        task = loop.create_task(AsyncClient.connect())
        _defaults[loop] = task
    return await asyncio.shield(task)


class AsyncProcess:
    """A process run by the daemon, with `Process`'s API as coroutines (see the module doc)."""

    def __init__(
        self,
        group: object = None,
        target: TargetSpec = None,
        name: str | None = None,
        args: Iterable[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        client: AsyncClient | None = None,
    ) -> None:
        if group is not None:
            raise GroupNotNull(GroupNotNull.code, "group must be None; it exists for "
                               "compatibility with threading.Thread", None, "AsyncProcess()")  # fmt: skip
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a string, not {type(name).__name__}")
        params = create_params(normalize(target), tuple(args), dict(kwargs or {}), name)
        self._client_arg = client
        self._info: ProcessInfo | None = None
        self._created = asyncio.get_running_loop().create_task(self._create(params))
        self._created.add_done_callback(_retrieve)  # its error is raised by every method

    async def _client(self) -> AsyncClient:
        return self._client_arg if self._client_arg is not None else await default_client()

    async def _create(self, params: dict[str, Any]) -> int:
        info = parse_process_info(await (await self._client()).call("process.create", params))
        self._info = info
        return info.id

    async def _call(self, method: str, params: dict[str, Any] | None = None, **kw: Any) -> Any:
        process_id = await asyncio.shield(self._created)
        return await (await self._client()).call(method, {"id": process_id, **(params or {})}, **kw)

    async def _call_info(self, method: str, params: dict[str, Any] | None = None) -> ProcessInfo:
        self._info = parse_process_info(await self._call(method, params))
        return self._info

    async def ready(self) -> ProcessInfo:
        """Wait for `process.create`; the ProcessInfo it answered (or its error)."""
        await asyncio.shield(self._created)
        assert self._info is not None
        return self._info

    @property
    def id(self) -> int | None:
        """The daemon's id; None until `process.create` has answered."""
        return None if self._info is None else self._info.id

    @property
    def pid(self) -> int | None:
        return None if self._info is None else self._info.pid

    @property
    def exitcode(self) -> int | None:
        return None if self._info is None else self._info.exitcode

    async def start(self, *, output: Output = "passed") -> None:
        """Start the process (at most once), with `Process.start`'s `output` choices."""
        fds: tuple[int, int] | None = None
        if output == "passed":
            fds = output_fds()
            if fds is None:
                output = "daemon"
        try:
            result = await self._call("process.start", {"output": output}, fds=fds or ())
        except TargetFailed as exc:
            raise on_another_python(exc) from None
        self._info = parse_process_info(result)

    async def join(self, timeout: float | None = None) -> None:
        """Wait until the process ends, or `timeout` seconds."""
        if timeout is not None:
            timeout = max(0.0, float(timeout))
        await self._call_info("process.join", {"timeout": timeout})

    async def info(self) -> ProcessInfo:
        return await self._call_info("process.info")

    async def is_alive(self) -> bool:
        return (await self.info()).state == "running"

    async def terminate(self) -> None:
        await self._call_info("process.terminate")

    async def kill(self) -> None:
        await self._call_info("process.kill")

    async def getName(self) -> str:
        return expect_string(await self._call("process.getName"), "name")

    async def setName(self, name: str) -> None:
        if not isinstance(name, str):
            raise TypeError(f"name must be a string, not {type(name).__name__}")
        await self._call("process.setName", {"name": name})

    async def getAuthKey(self) -> str:
        return expect_string(await self._call("process.getAuthKey"), "authkey")

    async def setAuthKey(self, value: str | None) -> None:
        if value is not None and not isinstance(value, str):
            raise TypeError(f"an authkey is a string or None, not {type(value).__name__}")
        await self._call("process.setAuthKey", {"value": value})

    async def authkey_bytes(self) -> bytes:
        """The key's bytes (`Process.authkey`)."""
        text = await self._call("process.getAuthKey", {"encoding": "base64"})
        return decode_key(expect_string(text, "authkey"))

    async def set_authkey_bytes(self, value: bytes) -> None:
        await self._call("process.setAuthKey", {"value": encode_key(value), "encoding": "base64"})

    def __repr__(self) -> str:
        info = self._info
        if info is None:
            return f"<{type(self).__name__} (not created yet)>"
        return f"<{type(self).__name__} name={info.name!r} id={info.id} {info.state}>"


def _retrieve(task: asyncio.Task[int]) -> None:
    if not task.cancelled():
        task.exception()
