"""Bytes in an anonymous file (memfd), for what is too large or too private for a socket
packet or an environment variable: the keeper link's large messages, a child's spawn spec."""

from __future__ import annotations

import os


def memfd_holding(data: bytes, name: str, *, cloexec: bool = True) -> int:
    """A memfd with `data` in it, read from its start. Not close-on-exec only for an fd that is
    passed to a child by number (Popen's pass_fds)."""
    fd = os.memfd_create(name, os.MFD_CLOEXEC if cloexec else 0)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.lseek(fd, 0, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_all(fd: int, chunk: int = 1 << 20) -> bytes:
    """Everything from the fd's offset to its end (the fd stays open)."""
    chunks = []
    while data := os.read(fd, chunk):
        chunks.append(data)
    return b"".join(chunks)
