"""The keeper: the process that owns every child, apart from the API front.

`python -m supervisord_lite.owner.keeper STATE_DIR SOCKET_PATH [--no-zygote] [--preload M ...]`
binds `STATE_DIR/keeper.sock`, detaches (the command returns once the socket listens) and from
then on is the parent and child subreaper of every child: it holds their pidfds and the zygote,
and keeps each exit status until the front says it has stored it. The front can crash, be killed
or be upgraded; a new front connects to the same socket and takes back what the keeper holds
(containerd's shims work this way; one keeper for all children, since a Python process each would
cost ~10 MB a child).

It is small on purpose and does only what the owner must: spawn, signal, report exits. Policy,
records and the API are the front's.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import signal
import socket
import struct
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from supervisord_lite.core import errors
from supervisord_lite.core.model import Child
from supervisord_lite.eager import resume
from supervisord_lite.owner.factory import close_trees, make_spawner
from supervisord_lite.owner.link import LINK_VERSION, SOCKET_NAME, Link, request_from_dict
from supervisord_lite.owner.programs import PopenSpawner
from supervisord_lite.owner.python_targets import ZygoteSpawner
from supervisord_lite.owner.spec import reset_inherited_signals

log = logging.getLogger("supervisord_lite.keeper")

PID_FILE = "keeper.pid"  # for an operator (and a test) to find it; the lock, not this, is the truth


@dataclass
class Kept:
    """One child the keeper owns, and what it knows of it."""

    pid: int
    record: dict[str, Any] | None
    child: Child | None = None
    exitcode: int | None = None  # set once it exited; kept until the front acknowledges it


class Keeper:
    def __init__(self, listener: socket.socket, spawner: PopenSpawner | ZygoteSpawner) -> None:
        self._loop = asyncio.get_running_loop()
        self._listener = listener
        self._spawner = spawner
        self._kept: dict[int, Kept] = {}
        # Spawns whose child waits at its gate for the front's go. Apart from `_kept`: an exit
        # can be reported, stored and acknowledged before the go comes.
        self._gates: dict[int, asyncio.Event] = {}
        self._link: Link | None = None
        # The front said in its hello that it finds a child whose `spawned` it has not handled
        # yet: a Python target may then run once that message is on its way, without a go.
        self._early_go = False
        self._flushed: asyncio.Future[None] | None = None  # while the link is full
        self.done = asyncio.Event()
        listener.setblocking(False)
        self._loop.add_reader(listener.fileno(), self._accept)

    # -- the front's connection ------------------------------------------------------------
    def _accept(self) -> None:
        try:
            sock, _ = self._listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            log.warning("accept failed: %s", exc)
            return
        uid = _peer_uid(sock)
        if uid not in (0, os.geteuid()):
            log.warning("refused a connection from uid %d", uid)
            sock.close()
            return
        if self._link is not None:
            log.warning("a front is already attached; refused a second one")
            sock.close()
            return
        self._link = Link(sock)
        self._loop.add_reader(sock.fileno(), self._readable)

    def _detach(self) -> None:
        link, self._link = self._link, None
        self._early_go = False
        self._wake_flushed()
        for gate in self._gates.values():
            gate.set()  # no front will say go: children waiting at their gate run now
        if link is not None:
            self._loop.remove_reader(link.fileno())
            with contextlib.suppress(ValueError, OSError):
                self._loop.remove_writer(link.fileno())
            link.close()
            if not self._kept:
                self.done.set()  # nothing to keep and nobody to tell: a new front starts anew
                return
            log.info("the front went away; holding %d process(es)", len(self._kept))

    def _send(self, message: dict[str, Any]) -> None:
        link = self._link
        if link is None:
            return  # no front: the state is kept, and told in the next welcome
        link.send(message)
        if not link.flush():
            self._loop.add_writer(link.fileno(), self._writable)

    def _writable(self) -> None:
        link = self._link
        if link is not None and link.flush():
            self._loop.remove_writer(link.fileno())
            self._wake_flushed()

    def _wake_flushed(self) -> None:
        flushed, self._flushed = self._flushed, None
        if flushed is not None and not flushed.done():
            flushed.set_result(None)

    async def _sent(self) -> bool:
        """Wait until what is queued for the front is in the kernel's hands; False if the
        front went away meanwhile."""
        while (link := self._link) is not None and link.pending:
            if self._flushed is None:
                self._flushed = self._loop.create_future()
            await self._flushed
        return self._link is not None

    def _readable(self) -> None:
        link = self._link
        if link is None:
            return
        for _ in range(64):  # bounded: the loop gets a turn between bursts
            try:
                got = link.receive()
            except EOFError:
                self._detach()
                return
            except ValueError as exc:  # not JSON: a front of another kind; drop it
                log.error("a message it cannot read (%s); dropping the front", exc)
                self._detach()
                return
            if got is None:
                return
            self._handle(*got)

    def _handle(self, message: dict[str, Any], fds: list[int]) -> None:
        op = message.get("op")
        if op == "spawn":
            # Run at once, up to its first wait: a program's spawn has none, so it costs no task
            # and no loop turn (a Python target's waits for its gate, then goes on in a task).
            spawn = self._spawn(message["request"], fds)
            try:
                waiting = spawn.send(None)
            except StopIteration:
                return
            task = asyncio.ensure_future(resume(spawn, waiting))
            task.add_done_callback(_retrieve)
            return
        for fd in fds:  # only a spawn carries fds
            os.close(fd)
        if op == "hello":
            self._hello(message)
        elif op == "go":
            gate = self._gates.get(message["id"])
            if gate is not None:
                gate.set()
        elif op == "signal":
            kept = self._kept.get(message["id"])
            if kept is not None and kept.child is not None and kept.exitcode is None:
                kept.child.signal(int(message["signum"]))
        elif op == "ack":
            for process_id in message["ids"]:
                kept = self._kept.get(process_id)
                if kept is not None and kept.exitcode is not None:
                    del self._kept[process_id]
        elif op == "quit":
            self.done.set()
        else:
            log.warning("unknown op %r", op)

    def _hello(self, message: dict[str, Any]) -> None:
        if message.get("version") != LINK_VERSION:
            log.error(
                "the front speaks link version %r, this keeper %d; restart them together",
                message.get("version"),
                LINK_VERSION,
            )
            self._send({"op": "welcome", "version": LINK_VERSION, "running": [], "exited": []})
            return
        self._early_go = bool(message.get("early_go"))
        env = getattr(self._spawner, "env", None)
        if isinstance(env, dict) and message.get("socket"):
            env["SUPERVISORD_LITE_SOCKET"] = message["socket"]
        running = [
            {"id": i, "pid": k.pid, "record": k.record}
            for i, k in self._kept.items()
            if k.exitcode is None
        ]
        exited = [
            {"id": i, "pid": k.pid, "code": k.exitcode, "record": k.record}
            for i, k in self._kept.items()
            if k.exitcode is not None
        ]
        welcome = {"op": "welcome", "version": LINK_VERSION, "running": running, "exited": exited}
        self._send({**welcome, "early_go": self._early_go})

    # -- children --------------------------------------------------------------------------
    async def _spawn(self, data: dict[str, Any], fds: list[int]) -> None:
        process_id = int(data["process_id"])
        try:
            request = request_from_dict(data, fds)
        except (KeyError, TypeError, ValueError) as exc:
            for fd in fds:
                os.close(fd)
            self._send({"op": "failed", "id": process_id, "message": f"bad request: {exc}"})
            return
        try:
            child = await self._spawner.spawn(request, lambda code: self._exited(process_id, code))
        except errors.SpawnFailed as exc:
            self._send({"op": "failed", "id": process_id, "message": exc.message, "data": exc.data})
            return
        except Exception as exc:  # the front must hear of it, or the start hangs there
            log.exception("process %d could not be started", process_id)
            self._send({"op": "failed", "id": process_id, "message": f"cannot start it: {exc}"})
            return
        kept = self._kept.get(process_id)
        if kept is None:  # not exited already (on_exit can come before spawn returns)
            # The whole request: a front that crashed before writing the record rebuilds it.
            kept = self._kept[process_id] = Kept(pid=child.pid, record=data)
        kept.child = child if kept.exitcode is None else None
        gated = _has_gate(child)
        if gated:
            gate = self._gates[process_id] = asyncio.Event()
        self._send({"op": "spawned", "id": process_id, "pid": child.pid, "gated": gated})
        if gated:
            try:
                if self._link is None:
                    pass  # the front went away during the spawn: no go will come, it runs now
                elif not (self._early_go and await self._sent()):
                    await gate.wait()  # the front has recorded its pid: callers from it are known
            finally:
                del self._gates[process_id]
            problem = await child.loaded()
            self._send({"op": "loaded", "id": process_id, "problem": problem})

    def _exited(self, process_id: int, code: int) -> None:
        kept = self._kept.get(process_id)
        if kept is None:
            kept = self._kept[process_id] = Kept(pid=-1, record=None)
        kept.exitcode = code
        kept.child = None
        self._send({"op": "exit", "id": process_id, "code": code})

    def output(self, process_id: int) -> None:
        self._send({"op": "output", "id": process_id})

    def close(self) -> None:
        self._loop.remove_reader(self._listener.fileno())
        self._listener.close()
        self._spawner.close()
        close_trees(self._spawner)  # nothing a child left behind outlives a real stop
        # Last: a front that said quit waits for the link's end, which now means all is gone.
        self._detach()


def _has_gate(child: Child) -> bool:
    return bool(getattr(child, "gated", False))


def _peer_uid(sock: socket.socket) -> int:
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return int(struct.unpack("3i", raw)[1])


def _retrieve(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("a spawn failed: %s", task.exception())


def bind(state_dir: Path) -> tuple[socket.socket, int]:
    """The keeper's socket, and a lock that makes it the only keeper of this state directory."""
    lock_fd = os.open(state_dir / "keeper.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(lock_fd)
        raise SystemExit(
            "supervisord-lite keeper: another keeper holds this state directory"
        ) from None
    path = state_dir / SOCKET_NAME
    path.unlink(missing_ok=True)  # ours to replace: we hold the lock
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    old = os.umask(0o177)
    try:
        sock.bind(str(path))
    finally:
        os.umask(old)
    sock.listen(16)
    return sock, lock_fd


async def _serve(listener: socket.socket, args: list[str]) -> None:
    socket_path = args[0] or None
    zygote = "--no-zygote" not in args

    def values(flag: str) -> list[str]:
        return [args[i + 1] for i, a in enumerate(args) if a == flag and i + 1 < len(args)]

    def last(flag: str) -> str | None:
        given = values(flag)
        return given[-1] if given else None

    log_dir = last("--log-dir")
    if log_dir is not None:
        Path(log_dir).mkdir(mode=0o700, parents=True, exist_ok=True)
    keeper: Keeper | None = None

    def output(process_id: int) -> None:  # a log grew: the front wakes its followers
        if keeper is not None:
            keeper.output(process_id)

    spawner = make_spawner(
        socket_path=socket_path,
        zygote=zygote,
        preload=values("--preload"),
        log_dir=log_dir,
        on_output=output,
        cgroup_root=last("--cgroup-root"),
    )
    log.info(
        "each child's tree is held by %s",
        "a cgroup v2 of its own" if spawner.cgroups is not None else "its process group",
    )
    keeper = Keeper(listener, spawner)
    loop = asyncio.get_running_loop()
    # The keeper outlives the front's crashes; the front's quit ends it, and SIGTERM too, for an
    # operator who means it (or a unit's stop reaching the whole cgroup): either way it kills
    # what it holds and what they left behind, as a front's stop would.
    loop.add_signal_handler(signal.SIGTERM, keeper.done.set)
    for ignored in (signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(ignored, lambda: None)
    await keeper.done.wait()
    keeper.close()


def main(argv: list[str]) -> int:
    from supervisord_lite import logs

    reset_inherited_signals()
    state_dir = Path(argv[1])
    listener, lock_fd = bind(state_dir)
    # Detach: the command returns once the socket listens (the front then connects), and the
    # keeper lives on in a session of its own, re-parented away from the front that started it.
    if os.fork() != 0:
        os._exit(0)
    os.setsid()
    pid_file = state_dir / PID_FILE
    fd = os.open(pid_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    os.write(fd, f"{os.getpid()}\n".encode())
    os.close(fd)
    logs.setup(logging.INFO)
    with contextlib.suppress(OSError), open("/proc/self/comm", "wb") as f:
        f.write(b"sl-keeper")
    try:
        asyncio.run(_serve(listener, argv[2:]))
    finally:
        (state_dir / SOCKET_NAME).unlink(missing_ok=True)
        pid_file.unlink(missing_ok=True)
        os.close(lock_fd)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
