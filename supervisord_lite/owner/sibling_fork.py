"""A fork whose child is born the caller's sibling: `clone(CLONE_PARENT)`, as `os.fork()` does it.

The zygote's spares must be children of the keeper (the subreaper that watches them with pidfds and
reaps them), not of the zygote, so that the zygote never holds an exit status. A double fork gets
there by having an intermediate exit at once, but that is a second copy of the zygote's page tables
and a second address space torn down for every child: measured on the `__main__`-script bench, the
intermediates took ~1 ms of CPU per start, as much as the child itself. `CLONE_PARENT` makes the
child the keeper's child from birth, with one copy.

Python has no `os.clone`, so this does what `os.fork()` does around the system call:
`PyOS_BeforeFork()`, the raw `clone` (flags `CLONE_PARENT | SIGCHLD`, no new stack: a fork), then
`PyOS_AfterFork_Child()` or `PyOS_AfterFork_Parent()`. Sound for a single-threaded caller only
(the zygote is one: it warns when a preloaded module starts a thread, and a script whose import
starts one gets no zygote): no other thread can hold a libc or interpreter lock at the clone.
glibc's own fork work is skipped; what it fixes matters with other threads, except the thread id
cached in the thread's descriptor, which stays the parent's: tests/test_early_go.py shows a child
signalling itself and starting a thread all the same. Where the raw call is not known (another
architecture) or refused (a seccomp filter, a pid namespace's init), `available()` says so and the
zygote keeps its double fork.
"""

from __future__ import annotations

import ctypes
import errno
import os
import signal

_CLONE_PARENT = 0x00008000
# clone's number per architecture; its arguments after the flags are all zero here, so their
# order (which differs between these) does not matter.
_SYS_CLONE = {"x86_64": 56, "aarch64": 220}.get(os.uname().machine)

_libc = ctypes.PyDLL(None, use_errno=True)  # PyDLL: the GIL is held across the call
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long
_syscall.argtypes = [ctypes.c_long] * 6
_api = ctypes.pythonapi

_refused = False


def available() -> bool:
    return _SYS_CLONE is not None and not _refused


def fork_as_sibling() -> int:
    """Fork; the child's parent is the caller's parent. 0 in the child, its pid in the caller.
    OSError if it fails; if the kernel refuses CLONE_PARENT itself, `available()` is False from
    then on."""
    global _refused
    assert _SYS_CLONE is not None
    _api.PyOS_BeforeFork()
    pid = _syscall(_SYS_CLONE, _CLONE_PARENT | signal.SIGCHLD, 0, 0, 0, 0)
    if pid == 0:
        _api.PyOS_AfterFork_Child()
        return 0
    err = ctypes.get_errno()
    _api.PyOS_AfterFork_Parent()
    if pid < 0:
        if err in (errno.EINVAL, errno.EPERM, errno.ENOSYS):  # never here: fork the old way
            _refused = True
        raise OSError(err, os.strerror(err))
    return int(pid)
