"""The keeper link: the private protocol between the front and the keeper.

One SOCK_SEQPACKET connection in the state directory (0600, the keeper's uid checked by the front
and the front's by the keeper). Each message is one packet: a compact JSON object with an `op`,
and the file descriptors that go with it (a child's stdout and stderr, when the caller passed
them). A message too large for one packet travels in a memfd, sent as the packet `M` with that
fd first. Versioned by `LINK_VERSION` in the hello; a front and a keeper of different versions do
not talk (the front then says so and starts nothing).

front → keeper: hello{version, socket, early_go} · spawn{request} (+fds) · go{id} (the front has
recorded the child: let it run its target) · signal{id, signum} · ack{ids} (these exits are
stored) · quit{}
keeper → front: welcome{version, running: [{id, pid, record}], exited: [{id, pid, code, record}],
early_go} · spawned{id, pid, gated} · failed{id, message, errno} · loaded{id, problem} · exit{id,
code}

`early_go` (both ways: the front offers it, the keeper's welcome says it took it): a front that can
find a child whose `spawned` it has not handled yet (KeeperOwner.unrecorded) needs no go; the
keeper lets a Python target through its gate as soon as its `spawned` is in the kernel's hands,
which saves a round trip per start. Either side without it keeps the go, so a front and a keeper
of neighbouring releases still work together.
"""

from __future__ import annotations

import array
import contextlib
import enum
import logging
import os
import socket
from collections import deque
from dataclasses import fields
from typing import Any

import orjson

from supervisord_lite.core.model import Output, RunAs, SpawnRequest
from supervisord_lite.core.persistence import (
    key_from_text,
    key_to_text,
    run_as_from_dict,
    target_from_dict,
    target_to_dict,
)
from supervisord_lite.memfd import memfd_holding, read_all

LINK_VERSION = 1
SOCKET_NAME = "keeper.sock"
_INLINE_MAX = 64 * 1024  # below a SEQPACKET socket's default send buffer
_MAX_FDS = 8
_MEMFD = b"M"
log = logging.getLogger(__name__)
_FDS_SPACE = socket.CMSG_SPACE(_MAX_FDS * array.array("i").itemsize)
# Plain ints: socket's MSG_* are IntFlag members, and an operator on them costs ~0.8 µs (enum's
# Python code), on every message both ways.
_CLOEXEC = int(socket.MSG_CMSG_CLOEXEC)
_CUT = int(socket.MSG_TRUNC | socket.MSG_CTRUNC)


# Field by field (a field added to SpawnRequest travels too), worked out once.
_REQUEST_FIELDS = tuple(f.name for f in fields(SpawnRequest) if f.name != "fds")


def request_to_dict(request: SpawnRequest) -> dict[str, Any]:
    """A spawn request as plain data (its fds travel beside it)."""
    out: dict[str, Any] = {}
    for name in _REQUEST_FIELDS:
        value = getattr(request, name)
        if name == "target":
            value = target_to_dict(value)
        elif name == "authkey":
            value = key_to_text(value)
        elif isinstance(value, RunAs):
            value = {"uid": value.uid, "gid": value.gid, "groups": list(value.groups)}
        elif isinstance(value, enum.Enum):
            value = value.value
        out[name] = value
    return out


def request_from_dict(data: dict[str, Any], fds: list[int]) -> SpawnRequest:
    values = dict(data)
    values["target"] = target_from_dict(data["target"])
    values["output"] = Output(data["output"])
    values["authkey"] = key_from_text(data["authkey"])
    run_as = data.get("run_as")
    values["run_as"] = None if run_as is None else run_as_from_dict(run_as)
    values["fds"] = (fds[0], fds[1]) if len(fds) >= 2 else None
    return SpawnRequest(**values)


def encode(message: dict[str, Any]) -> bytes:
    return orjson.dumps(message)


class Link:
    """One end of the keeper link, non-blocking: messages are queued and sent in order."""

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self.sock = sock
        self._queue: deque[tuple[bytes, list[int]]] = deque()
        self.closed = False
        self.broken = False  # nothing more can be sent (closed, or a send failed)

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, message: dict[str, Any], fds: list[int] | None = None) -> bool:
        """Queue one message; the fds are this object's to close once sent. False if the link
        is closed or broken (the fds are closed all the same)."""
        fds = list(fds or ())
        if self.broken:
            _close_all(fds)
            return False
        data = encode(message)
        if len(data) > _INLINE_MAX:
            fds.insert(0, memfd_holding(data, "supervisord-lite-link"))
            data = _MEMFD
        self._queue.append((data, fds))
        return True

    @property
    def pending(self) -> bool:
        return bool(self._queue)

    def flush(self) -> bool:
        """Send what is queued; True once all is sent, False if the socket is full."""
        while self._queue:
            data, fds = self._queue[0]
            try:
                if fds:
                    socket.send_fds(self.sock, [data], fds)
                else:
                    self.sock.send(data)
            except (BlockingIOError, InterruptedError):
                return False
            except OSError as exc:
                # Not closed here: its owner still has the socket registered with its loop, and
                # what the other end sent before it went (a front's last ack and quit) must still
                # be read. Shut for writing instead: the other end reads to its end, and so do we.
                log.error("the keeper link failed to send (%s); shutting it", exc)
                self._shut()
                return True
            self._queue.popleft()
            _close_all(fds)
        return True

    def receive(self) -> tuple[dict[str, Any], list[int]] | None:
        """One message and its fds; None when nothing is waiting. Raises EOFError at the end."""
        try:
            # recvmsg, not socket.recv_fds: that one drops its flags (3.11), and received fds
            # must be close-on-exec, or every child started after them would inherit them.
            data, ancdata, flags, _ = self.sock.recvmsg(_INLINE_MAX, _FDS_SPACE, _CLOEXEC)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError as exc:
            raise EOFError(f"receiving failed: {exc}") from None
        fds = _fds_of(ancdata)
        if not data and not fds:
            raise EOFError("the other end closed the link")
        if flags & _CUT:
            _close_all(fds)
            raise EOFError("a message on the keeper link was cut short")
        if data == _MEMFD and fds:
            memfd = fds.pop(0)
            try:
                data = read_all(memfd)
            finally:
                os.close(memfd)
        message = orjson.loads(data)
        if not isinstance(message, dict):
            _close_all(fds)
            raise EOFError("a message on the keeper link was not an object")
        return message, fds

    def _shut(self) -> None:
        self.broken = True
        while self._queue:
            _close_all(self._queue.popleft()[1])
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = self.broken = True
        while self._queue:
            _close_all(self._queue.popleft()[1])
        self.sock.close()


def _fds_of(ancdata: list[tuple[int, int, bytes]]) -> list[int]:
    fds = array.array("i")
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
    return list(fds)


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)
