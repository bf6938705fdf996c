"""What a Process sends and how it reads the answers, for the blocking `Process` and the asyncio
`AsyncProcess` alike: no I/O here (the sans-I/O part of a Process, as protocol.py is the
connection's)."""

from __future__ import annotations

import base64
import contextlib
import os
import platform
import sys
from typing import TYPE_CHECKING, Any

from supervisord_lite_client.errors import ProtocolError, TargetFailed
from supervisord_lite_client.targets import Normalized, wire_target

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess


def create_params(target: Normalized, args: tuple[Any, ...], kwargs: dict[str, Any],
                  name: str | None) -> dict[str, Any]:  # fmt: skip
    """`process.create`'s params for a target (RuntimeError while the script is re-run as
    `__mp_main__`; TargetNotPicklable, TypeError for a bad target)."""
    check_not_bootstrapping()
    wire, wire_args, wire_kwargs = wire_target(target, args, kwargs)
    return with_creator({"target": wire, "args": wire_args, "kwargs": wire_kwargs, "name": name})


def with_creator(params: dict[str, Any]) -> dict[str, Any]:
    """The params with the creator's authkey, which the process inherits (as the seed says)."""
    params["authkey"] = encode_key(mp_current().authkey)
    return params


def on_another_python(exc: TargetFailed) -> TargetFailed:
    """The TargetFailed as it came, or, when the daemon runs Python targets on another version of
    Python than this caller's (its SyntaxError or unpickling error is then no mystery), one that
    says so, naming both versions."""
    data = exc.data if isinstance(exc.data, dict) else {}
    theirs = data.get("python")
    ours = platform.python_version()
    if not isinstance(theirs, str) or theirs.split(".")[:2] == ours.split(".")[:2]:
        return exc
    message = (
        f"{exc.message} -- Python targets run on the daemon's interpreter, Python {theirs}, and "
        f"this caller runs Python {ours}: use the daemon's version, or a daemon run by this one"
    )
    return TargetFailed(exc.code, message, exc.data, exc.method)


def encode_key(key: bytes | bytearray) -> str:
    """A key's bytes as `process.create` and `setAuthKey` take them: standard base64."""
    return base64.b64encode(bytes(key)).decode("ascii")


def decode_key(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise ProtocolError(
            f"the daemon sent an authkey that is not base64: {text[:20]!r}"
        ) from None


def mp_current() -> BaseProcess:
    """`multiprocessing.current_process()` (imported on use: most callers never need it)."""
    import multiprocessing

    return multiprocessing.current_process()


def check_not_bootstrapping() -> None:
    """RuntimeError while a child runs the caller's script as `__mp_main__`, as multiprocessing
    raises it when a process is started before the child's "bootstrapping phase" is over (the
    same class, so that what is printed and caught is what multiprocessing users know)."""
    mp_main = sys.modules.get("__mp_main__")
    if mp_main is not None and sys.modules.get("__main__") is not mp_main:
        raise RuntimeError(
            "An attempt has been made to start a new process before the current process has "
            "finished its bootstrapping phase: a Process was created while this child was running "
            "the parent's script as __mp_main__ to find the target's functions. Protect the "
            "script's main code with `if __name__ == '__main__':` (as multiprocessing requires)"
        )


def output_fds() -> tuple[int, int] | None:
    """The caller's stdout and stderr fds (buffers flushed first), falling back to fds 1 and 2;
    None when there are none to send."""
    fds: list[int] = []
    for stream, original, fallback in (
        (sys.stdout, sys.__stdout__, 1),
        (sys.stderr, sys.__stderr__, 2),
    ):
        for s in (stream, original):
            if s is not None:
                with contextlib.suppress(Exception):
                    s.flush()
        fd: int | None = None
        if stream is not None:
            with contextlib.suppress(AttributeError, OSError, ValueError):
                fd = stream.fileno()
        if fd is None or not is_open(fd):
            if not is_open(fallback):
                return None
            fd = fallback
        fds.append(fd)
    return fds[0], fds[1]


def is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True
