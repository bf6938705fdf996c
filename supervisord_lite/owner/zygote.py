"""The zygote: a pre-imported, single-threaded Python process that forks Python targets.

`python -m supervisord_lite.owner.zygote SOCK_FD SPARES [--script=JSON] [MODULE ...]` imports the
modules to preload (and, with `--script`, a caller's `__main__` script: see zygote_script), then
keeps SPARES "spare" children ready: processes forked from it that wait on SOCK_FD (a SOCK_SEQPACKET
socket whose other end is the daemon's) for a request, like Android's pre-forked app processes. The
fork is thus done before the request comes. The zygote says "R" (ready) on SOCK_FD once it has its
spares, and never reads from it: each request is taken by exactly one spare (a SEQPACKET message
goes to one reader), which tells the zygote (by closing a pipe) so that it forks a replacement.

A request is one message `S` carrying these file descriptors (SCM_RIGHTS): the spec (a memfd
holding the JSON the fresh-interpreter path reads too), the child's stdout, its stderr, and the
write end of its status pipe (and the gate's read end: five in all). Nothing is sent back on the
socket: the daemon learns everything from the child itself, on its status pipe. The other message,
`Z` followed by a script's JSON with two fds (a new SOCK_SEQPACKET socket and a status pipe), turns
the spare that takes it into that script's own zygote (see zygote_script), serving on the new socket.

Each spare is born a child of the daemon's (the keeper's, a child subreaper), not of the zygote:
forked with CLONE_PARENT (sibling_fork), or where the kernel refuses that, through a double fork
whose intermediate exits at once (the zygote reaps the intermediate). The daemon watches the target
like any other child (pidfd + waitid(P_PIDFD)). So the zygote never holds an exit status: if it
dies, no child and no status goes with it (the spares then see the daemon close its end, serve
what was already queued, and exit).

The status pipe protocol: once its environment and working directory are set, the child writes its
own pid in decimal and a newline, then what the fresh path writes: nothing if the target loaded,
else why it failed to load. If the working directory cannot be entered it writes `!cwd ERRNO` and a
newline instead and exits with 127 (nothing ran). EOF with no pid means that no target ran: the
daemon falls back to the fresh-interpreter path.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import select
import signal
import socket
import sys
import traceback
from typing import Any, ClassVar, NoReturn

from supervisord_lite.owner import sibling_fork

# What a fresh interpreter starts with, taken before any preloaded module can change it.
_FRESH_HANDLERS = {
    sig: handler
    for sig in signal.valid_signals()
    if sig not in (signal.SIGKILL, signal.SIGSTOP)
    and (handler := signal.getsignal(sig)) is not None
}
_FRESH_ENV = dict(os.environ)
with open("/proc/self/comm", "rb") as _f:
    _COMM = _f.read().strip()

REQUEST = b"S"
BECOME = b"Z"  # + JSON {"main_path", "sys_path", "cwd", "spares"}, with 2 fds: socket, status
READY = b"R"
N_FDS = 5  # spec, stdout, stderr, status, gate
RETRY_MS = 200  # after a failed fork only; otherwise the zygote sleeps until something happens

_libc_fork = ctypes.PyDLL(None, use_errno=True).fork  # PyDLL: holds the GIL across the call


class _Drift:
    """What the preloaded modules changed that a fresh interpreter would not have (usually nothing)."""

    handlers: ClassVar[list[tuple[int, Any]]] = []
    sigmask: ClassVar[bool] = False
    env: ClassVar[bool] = False
    # fds a `--script` import opened (a log file, say): the children keep them, as a fork does
    kept_fds: ClassVar[tuple[int, ...]] = ()


def _set_comm(name: bytes) -> None:
    """The name `ps -o comm` and /proc/PID/comm show: `sl-zygote`, `sl-spare`, then the usual."""
    with contextlib.suppress(OSError), open("/proc/self/comm", "wb") as f:
        f.write(name)


def main(argv: list[str]) -> int:
    _set_comm(b"sl-zygote")
    sock = socket.socket(fileno=int(argv[1]))
    spares = max(1, int(argv[2]))
    names = argv[3:]
    script = names.pop(0).partition("=")[2] if names and names[0].startswith("--script=") else None
    for name in names:
        try:
            __import__(name)
        except BaseException:
            sys.stderr.write(
                f"supervisord-lite zygote: cannot preload {name!r}; going on without it\n"
            )
            traceback.print_exc()
    import json  # what every child needs, imported once here
    import multiprocessing  # noqa: F401

    from supervisord_lite.owner import child  # its bootstrap, for every child

    if len(os.listdir("/proc/self/task")) > 1:
        sys.stderr.write(
            "supervisord-lite zygote: a preloaded module started a thread; forks may hang\n"
        )
    _Drift.handlers = [(s, h) for s, h in _FRESH_HANDLERS.items() if signal.getsignal(s) is not h]
    _Drift.sigmask = bool(signal.pthread_sigmask(signal.SIG_BLOCK, ()))
    _Drift.env = dict(os.environ) != _FRESH_ENV
    if script is not None:
        # After the drift is taken: what the script itself changes (a signal handler, say) is
        # what a fresh child that ran it would have, and the children keep it.
        from supervisord_lite.owner.zygote_script import import_main

        _Drift.kept_fds = import_main(json.loads(script), child.__file__)
    sys.stdout.flush()
    sys.stderr.flush()
    gc.freeze()  # the children's garbage collector never touches (and so never copies) these pages
    serve(sock, spares)
    return 0


def serve(sock: socket.socket, spares: int) -> None:
    poller = select.poll()
    poller.register(sock.fileno(), 0)  # hang-up only: the zygote never reads a request
    pool: set[int] = set()  # per spare, a pipe that ends when the spare is taken (or dies)
    exiting: dict[int, int] = {}  # pidfd -> pid of intermediates, reaped when they are gone
    ready = False
    while True:
        while len(pool) < spares:
            try:
                taken, pid = _fork_spare(sock)
            except OSError as exc:
                sys.stderr.write(f"supervisord-lite zygote: cannot fork: {exc}\n")
                break
            pool.add(taken)
            poller.register(taken, select.POLLIN)
            if pid is None:  # the keeper's child: nothing of it for the zygote to reap
                continue
            pidfd = os.pidfd_open(pid)
            exiting[pidfd] = pid
            poller.register(pidfd, select.POLLIN)
        if not ready and pool:
            try:
                sock.sendall(READY)
            except (BrokenPipeError, ConnectionResetError):
                return  # the daemon stopped before we were ready: nothing to say about it
            ready = True
        for fd, _events in poller.poll(None if len(pool) == spares else RETRY_MS):
            if fd == sock.fileno():
                return  # the daemon is gone
            poller.unregister(fd)
            os.close(fd)
            if fd in exiting:
                os.waitpid(exiting.pop(fd), 0)
            else:  # that spare took a request (or died): make another
                pool.discard(fd)


def _fork_spare(sock: socket.socket) -> tuple[int, int | None]:
    """Fork a spare, a child of the daemon's (the keeper's) from birth where the kernel allows
    (sibling_fork), else re-parented to it through an intermediate that exits at once.

    Returns a pipe that ends when the spare is taken, and the intermediate's pid if there is one
    (the zygote reaps it once it has exited, without waiting for it here). The intermediate is
    forked by libc's fork() directly: all it does is os.fork() (which prepares the spare's
    interpreter after the fork, as usual) and _exit, so the interpreter's own after-fork work, a
    few hundred microseconds of copy-on-write faults, is skipped for it. That is sound only
    because the zygote is single-threaded and the intermediate runs no other Python code.
    """
    taken_r, taken_w = os.pipe()
    try:
        if sibling_fork.available():
            try:
                if sibling_fork.fork_as_sibling() == 0:
                    try:
                        _spare(sock, taken_w)
                    finally:
                        os._exit(1)
                return taken_r, None
            except OSError:
                if sibling_fork.available():
                    raise  # a fork that failed (EAGAIN, ENOMEM): tried again later
        pid = _libc_fork()
        if pid == 0:  # the intermediate
            try:
                if os.fork() == 0:
                    _spare(sock, taken_w)
            finally:
                os._exit(0)
        if pid < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
    except BaseException:
        os.close(taken_r)
        raise
    finally:
        os.close(taken_w)
    return taken_r, pid


def _spare(sock: socket.socket, taken_w: int) -> NoReturn:
    code = 1
    try:
        os.setsid()  # like start_new_session: a terminal's Ctrl-C is not for children
        for sig, handler in _Drift.handlers:
            signal.signal(sig, handler)
        if _Drift.sigmask:
            signal.pthread_sigmask(signal.SIG_SETMASK, ())
        _close_fds_except(sock.fileno(), taken_w, *_Drift.kept_fds)
        _set_comm(b"sl-spare")
        _warm_up()
        while True:
            try:
                msg, fds, _flags, _addr = socket.recv_fds(sock, 65536, N_FDS + 4)
            except ConnectionResetError:
                msg, fds = b"", []  # the daemon went away: same as a clean close
            if not msg:
                os._exit(0)  # the daemon closed this zygote's socket: nothing more will come
            if msg == REQUEST and len(fds) == N_FDS:
                break
            if msg.startswith(BECOME) and len(fds) == 2:
                os.close(taken_w)
                _become_script_zygote(sock, fds[0], fds[1], msg[len(BECOME) :])
            for fd in fds:
                os.close(fd)
        os.close(taken_w)  # the zygote forks a replacement now
        _set_comm(_COMM)
        spec_fd, out_fd, err_fd, status_fd, gate_fd = fds
        os.dup2(out_fd, 1)
        os.dup2(err_fd, 2)
        sock.detach()
        _close_fds_except(spec_fd, status_fd, gate_fd, *_Drift.kept_fds)
        code = _run(spec_fd, status_fd, gate_fd)
    except BaseException:
        traceback.print_exc()
    _finish(code)


def _become_script_zygote(
    old: socket.socket, sock_fd: int, status_fd: int, script: bytes
) -> NoReturn:
    """Turn this spare into the zygote of a caller's script (zygote_script), serving on `sock_fd`:
    forked, it has everything a fresh zygote would import already, so only the script's own
    imports are paid (a few ms, against ~50 ms for a new interpreter). Its pid goes first on
    `status_fd`, as a child's does; the daemon watches it like the zygote."""
    import json

    from supervisord_lite.owner import child
    from supervisord_lite.owner.zygote_script import import_main

    code = 1
    try:
        os.write(status_fd, b"%d\n" % os.getpid())
        os.close(status_fd)
        os.close(old.detach())  # the zygote's socket: its requests are not for this one
        _set_comm(b"sl-zygote")
        spec = json.loads(script)
        _Drift.kept_fds = import_main(spec, child.__file__)
        gc.freeze()
        serve(socket.socket(fileno=sock_fd), max(1, int(spec.get("spares", 2))))
        code = 0
    except BaseException:
        traceback.print_exc()
    os._exit(code)


def _warm_up() -> None:
    """Walk the request path once while idle, so that the copy-on-write page faults it causes
    (a few hundred, microseconds each) are taken now rather than when a request is waiting."""
    import json
    import multiprocessing

    spec = json.loads(_WARM_SPEC)
    os.environ[_WARM_VAR] = spec["name"]
    del os.environ[_WARM_VAR]
    me = multiprocessing.current_process()
    me.name = me.name  # touch it, change nothing
    sys.path.insert(0, os.getcwd())
    del sys.path[0]


_WARM_VAR = "SUPERVISORD_LITE_WARM_UP"
_WARM_SPEC = (
    b'{"name":"Process-1","authkey":"AA==","parent":null,"kind":"callable","ref":"m:f",'
    b'"payload":null,"main_path":null,"sys_path":[],"args":[],"kwargs":{},"env":{"A":"1"},"cwd":null}'
)


def _run(spec_fd: int, status_fd: int, gate_fd: int) -> int:
    import json

    from supervisord_lite.owner import child

    spec: dict[str, Any] = json.loads(child.read_all(spec_fd))
    if _Drift.env:
        os.environ.clear()
        os.environ.update(_FRESH_ENV)
    for key, value in spec["env"].items():  # the changes from the zygote's own environment
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    if spec["cwd"] is not None:
        try:
            os.chdir(spec["cwd"])
        except OSError as exc:
            os.write(status_fd, b"!cwd %d\n" % (exc.errno or 0))
            os._exit(127)
    # From here on this process runs the target: the daemon learns its pid now.
    os.write(status_fd, b"%d\n" % os.getpid())
    # What `python -m supervisord_lite.owner.child` would have: the working directory first on sys.path.
    sys.path[0] = os.getcwd()
    sys.argv[:] = [child.__file__]
    if os.isatty(1):
        sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    return child.bootstrap(spec, status_fd, gate_fd)


def _close_fds_except(*keep: int) -> None:
    low = 3
    for fd in sorted(keep):
        if fd >= low:
            os.closerange(low, fd)
            low = fd + 1
    os.closerange(low, os.sysconf("SC_OPEN_MAX"))


def _finish(code: int) -> NoReturn:
    """End as the interpreter would at exit: join threads, run atexit hooks, flush, exit."""
    try:
        threading = sys.modules.get("threading")
        if threading is not None:
            threading._shutdown()
        import atexit

        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(BaseException):
                stream.flush()
        # What the interpreter makes of sys.exit(code): a C long, then the low 8 bits.
        os._exit(code & 0xFF if -(2**63) <= code < 2**63 else 255)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
