"""The front's side of the keeper link: an `Owner` whose children live in the keeper process.

`KeeperOwner.connect` finds the keeper of a state directory by its socket, or starts one, and
says hello; the welcome lists what the keeper holds from before (`reattach`). Each child is a
`RemoteChild`: its exit comes as a message, its signals go as one. Nothing here waits on a timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from supervisord_lite.core import errors
from supervisord_lite.core.model import ExitCallback, SpawnRequest, Survivor
from supervisord_lite.owner.link import LINK_VERSION, SOCKET_NAME, Link, request_to_dict
from supervisord_lite.owner.spec import PRIVATE_ENV

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 15.0
QUIT_TIMEOUT = 5.0  # a stop waits this long at most for the keeper to end


class KeeperGone(Exception):
    pass


class RemoteChild:
    """A child held by the keeper, as the front sees it."""

    def __init__(self, owner: KeeperOwner, process_id: int, pid: int, gated: bool) -> None:
        self._owner = owner
        self._id = process_id
        self._pid = pid
        self.gated = gated
        self.loaded_future: asyncio.Future[str | None] | None = None

    @property
    def pid(self) -> int:
        return self._pid

    async def loaded(self) -> str | None:
        if not self.gated:
            return None
        owner = self._owner
        owner.unrecorded_pids.pop(self._pid, None)  # the core has it now
        if self._id in owner.loaded_early:
            return owner.loaded_early.pop(self._id)
        self.loaded_future = asyncio.get_running_loop().create_future()
        owner.loading[self._id] = self
        if not owner.early_go:  # a keeper that waits for our go (an older one)
            owner.send({"op": "go", "id": self._id})
        return await self.loaded_future

    def signal(self, signum: int) -> None:
        self._owner.send({"op": "signal", "id": self._id, "signum": signum})

    def poll(self) -> None:
        """Its exit comes from the keeper as soon as the keeper reaps it: nothing to do here."""


class KeeperOwner:
    def __init__(self, link: Link, state_dir: Path) -> None:
        self._loop = asyncio.get_running_loop()
        self._link = link
        self.state_dir = state_dir
        self._welcome: asyncio.Future[dict[str, Any]] = self._loop.create_future()
        self._spawning: dict[int, tuple[asyncio.Future[RemoteChild], ExitCallback]] = {}
        self._children: dict[int, tuple[RemoteChild, ExitCallback]] = {}
        self._exits_before_spawned: dict[int, int] = {}
        # Children whose load report is awaited: their exit may come before it does.
        self.loading: dict[int, RemoteChild] = {}
        self.loaded_early: dict[int, str | None] = {}  # reports that came before anyone asked
        # The keeper lets a Python target run as soon as it has told us its pid (`early_go`,
        # agreed in the hello), not after our go: a round trip less on every start. Such a child
        # may call the daemon before the core has recorded its spawn; `unrecorded` finds it here.
        self.early_go = False
        self.unrecorded_pids: dict[int, int] = {}  # pid -> process id, until the core has it
        self.on_lost: Callable[[list[int]], None] = lambda ids: None
        self.on_output: Callable[[int], None] = lambda process_id: None  # a log grew
        self._closing = False
        self._loop.add_reader(link.fileno(), self._readable)

    # -- connecting ------------------------------------------------------------------------
    @classmethod
    async def connect(
        cls,
        state_dir: Path,
        *,
        socket_path: str | None,
        zygote: bool = True,
        preload: Iterable[str] = (),
        log_dir: Path | None = None,
        cgroup_root: str | None = None,
        python: str = sys.executable,
    ) -> KeeperOwner:
        path = state_dir / SOCKET_NAME
        sock = _connect(path)
        if sock is None:
            _launch(
                state_dir,
                socket_path,
                zygote=zygote,
                preload=preload,
                log_dir=log_dir,
                cgroup_root=cgroup_root,
                python=python,
            )
            sock = _connect(path)
            if sock is None:
                raise KeeperGone(f"the keeper did not start: nothing listens on {path}")
        uid = _peer_uid(sock)
        if uid not in (0, os.geteuid()):
            sock.close()
            raise KeeperGone(f"{path} is served by uid {uid}, not by this daemon's user")
        owner = cls(Link(sock), state_dir)
        owner.send(
            {"op": "hello", "version": LINK_VERSION, "socket": socket_path, "early_go": True}
        )
        welcome = await asyncio.wait_for(owner._welcome, CONNECT_TIMEOUT)
        owner.early_go = bool(welcome.get("early_go"))
        if welcome.get("version") != LINK_VERSION:
            owner.close(quit=False)
            raise KeeperGone(
                f"the keeper in {state_dir} speaks link version {welcome.get('version')}, this "
                f"daemon {LINK_VERSION}: stop the old daemon (and its keeper) first"
            )
        return owner

    # -- the Owner interface ---------------------------------------------------------------
    async def reattach(self, on_exit: Callable[[int], ExitCallback]) -> list[Survivor]:
        welcome = self._welcome.result()
        survivors = []
        for item in welcome.get("running", []):
            child = RemoteChild(self, item["id"], item["pid"], gated=False)
            self._children[item["id"]] = (child, on_exit(item["id"]))
            survivors.append(Survivor(item["id"], item["pid"], None, child, item.get("record")))
        for item in welcome.get("exited", []):
            survivors.append(
                Survivor(item["id"], item["pid"], item["code"], None, item.get("record"))
            )
        return survivors

    async def spawn(self, request: SpawnRequest, on_exit: ExitCallback) -> RemoteChild:
        fds = list(request.fds or ())
        if self._link.broken:
            for fd in fds:
                os.close(fd)
            raise errors.SpawnFailed(
                "the keeper is gone; restart the daemon", id=request.process_id
            )
        try:
            message = {"op": "spawn", "request": request_to_dict(request)}
            waiter: asyncio.Future[RemoteChild] = self._loop.create_future()
            self._spawning[request.process_id] = (waiter, on_exit)
            self.send(message, fds)
        except Exception:
            self._spawning.pop(request.process_id, None)
            raise
        return await waiter

    def acknowledge(self, process_ids: list[int]) -> None:
        self.send({"op": "ack", "ids": process_ids})

    def close(self, *, quit: bool = True) -> None:
        """Let go of the keeper; with `quit`, it ends too (the front's children are stopped)."""
        if self._link.closed:
            return
        self._closing = True
        if quit:
            self._link.send({"op": "quit"})
        self._loop.remove_reader(self._link.fileno())
        with contextlib.suppress(ValueError, OSError):
            self._loop.remove_writer(self._link.fileno())
        self._link.sock.setblocking(True)
        with contextlib.suppress(OSError):
            self._link.flush()
        if quit:
            self._await_end()
        self._link.close()

    def _await_end(self) -> None:
        """Wait (bounded) for the keeper to close its end: it does once it has stopped the zygote
        and killed what the children left behind, so that a stopped daemon leaves nothing."""
        deadline = time.monotonic() + QUIT_TIMEOUT
        while (left := deadline - time.monotonic()) > 0:
            self._link.sock.settimeout(left)
            try:
                got = self._link.receive()  # what it says now (a killed child's exit) is moot
            except (EOFError, ValueError):
                if time.monotonic() < deadline:
                    return  # its end (a timeout is an OSError too: hence the check)
                break
            for fd in got[1] if got is not None else ():
                os.close(fd)
        log.warning("the keeper did not end within %.0f s of quit", QUIT_TIMEOUT)

    # -- messages --------------------------------------------------------------------------
    def send(self, message: dict[str, Any], fds: list[int] | None = None) -> None:
        self._link.send(message, fds)
        if not self._link.flush():
            self._loop.add_writer(self._link.fileno(), self._writable)

    def _writable(self) -> None:
        if self._link.flush():
            self._loop.remove_writer(self._link.fileno())

    def _readable(self) -> None:
        for _ in range(64):  # bounded: the loop gets a turn between bursts
            if not self._receive_one():
                return

    def _receive_one(self) -> bool:
        """Handle one message from the keeper; False if none was waiting (or the link ended)."""
        if self._link.closed:
            return False
        try:
            got = self._link.receive()
        except (EOFError, ValueError) as exc:
            self._gone(str(exc))
            return False
        if got is None:
            return False
        message, fds = got
        for fd in fds:
            os.close(fd)
        self._handle(message)
        return True

    def unrecorded(self, pids: Sequence[int]) -> int | None:
        """The process id of a child among `pids` that the keeper let run before the core
        recorded its spawn. The keeper sent its `spawned` before it let the child through its
        gate, so a call from the child finds that message read, or waiting on the link: what is
        waiting is handled here first."""
        while True:
            for pid in pids:
                process_id = self.unrecorded_pids.get(pid)
                if process_id is not None:
                    return process_id
            if not self._receive_one():
                return None

    def _handle(self, message: dict[str, Any]) -> None:
        op = message.get("op")
        process_id = message.get("id")
        if op == "output":
            self.on_output(int(message["id"]))
        elif op == "exit":
            assert isinstance(process_id, int)
            entry = self._children.pop(process_id, None)
            if entry is not None:
                self.unrecorded_pids.pop(entry[0].pid, None)
                entry[1](int(message["code"]))
            elif process_id in self._spawning:
                self._exits_before_spawned[process_id] = int(message["code"])
        elif op == "spawned":
            assert isinstance(process_id, int)
            waiter, on_exit = self._spawning.pop(process_id)
            child = RemoteChild(self, process_id, int(message["pid"]), bool(message["gated"]))
            code = self._exits_before_spawned.pop(process_id, None)
            if code is None:
                self._children[process_id] = (child, on_exit)
                if child.gated and self.early_go:
                    self.unrecorded_pids[child.pid] = process_id
            if not waiter.done():
                waiter.set_result(child)
            if code is not None:
                self._loop.call_soon(on_exit, code)  # after the core has recorded the start
        elif op == "failed":
            assert isinstance(process_id, int)
            waiter, _ = self._spawning.pop(process_id)
            data = message.get("data") or {}
            if not waiter.done():
                waiter.set_exception(errors.SpawnFailed(message["message"], **data))
        elif op == "loaded":
            assert isinstance(process_id, int)
            loading = self.loading.pop(process_id, None)
            future = None if loading is None else loading.loaded_future
            if future is None:
                self.loaded_early[process_id] = message.get("problem")
            elif not future.done():
                future.set_result(message.get("problem"))
        elif op == "welcome":
            if not self._welcome.done():
                self._welcome.set_result(message)
        else:
            log.warning("unknown message from the keeper: %r", op)

    def _gone(self, why: str) -> None:
        self._loop.remove_reader(self._link.fileno())
        self._link.close()
        if self._closing:
            return
        log.error("the keeper is gone (%s): its %d running process(es) are lost",
                  why, len(self._children))  # fmt: skip
        lost = list(self._children)
        self._children.clear()
        for waiter, _ in self._spawning.values():
            if not waiter.done():
                waiter.set_exception(errors.SpawnFailed("the keeper is gone; restart the daemon"))
        self._spawning.clear()
        for loading in self.loading.values():
            if loading.loaded_future is not None and not loading.loaded_future.done():
                loading.loaded_future.set_result("the keeper went away while it loaded")
        self.loading.clear()
        self.unrecorded_pids.clear()
        if not self._welcome.done():
            self._welcome.set_exception(KeeperGone(why))
        self.on_lost(lost)


def _connect(path: Path) -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    try:
        sock.connect(str(path))
    except OSError as exc:
        sock.close()
        if exc.errno in (errno.ENOENT, errno.ECONNREFUSED):
            return None
        raise
    return sock


def _launch(
    state_dir: Path,
    socket_path: str | None,
    *,
    zygote: bool,
    preload: Iterable[str],
    log_dir: Path | None,
    cgroup_root: str | None,
    python: str,
) -> None:
    """Start a keeper for this state directory; returns once its socket listens."""
    argv = [python, "-m", "supervisord_lite.owner.keeper", str(state_dir), socket_path or ""]
    if not zygote:
        argv.append("--no-zygote")
    for module in preload:
        argv += ["--preload", module]
    if log_dir is not None:
        argv += ["--log-dir", str(log_dir)]
    if cgroup_root is not None:
        argv += ["--cgroup-root", cgroup_root]
    # Not the daemon's systemd variables (the keeper must not answer for it), but JOURNAL_STREAM:
    # the keeper writes to the same stderr, and logs for the journal when it is one.
    env = {k: v for k, v in os.environ.items() if k not in PRIVATE_ENV or k == "JOURNAL_STREAM"}
    # Run in place (it detaches itself): its exit status says whether the socket listens.
    result = subprocess.run(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env=env, check=False
    )
    if result.returncode != 0:
        raise KeeperGone(f"the keeper could not start (exit code {result.returncode})")


def _peer_uid(sock: socket.socket) -> int:
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return int(struct.unpack("3i", raw)[1])
