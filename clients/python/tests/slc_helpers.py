"""Test helpers, and module-level targets that the tests' children run (importable by name there:
the children get the test process's sys.path, which has this directory)."""

from __future__ import annotations

import json
import multiprocessing
import multiprocessing.connection
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from supervisord_lite_client import JoinSelf, Process, current_process_id


def wait_until(cond: Callable[[], bool], *, timeout: float, what: str) -> None:
    """Poll `cond` until it holds, failing with what was awaited once `timeout` passes."""
    deadline = time.monotonic() + timeout
    delay = 0.001
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(delay)  # a poll with a deadline, not a wait for an event
        delay = min(delay * 2, 0.05)


def write_json(path: str, value: Any) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(value, f)
    os.replace(tmp, path)  # the reader never sees half a file


def read_json(path: str | Path) -> Any:
    with open(path) as f:
        return json.load(f)


# -- targets run in children ---------------------------------------------------------------------


def write_text(path: str, text: str, *, suffix: str = "") -> None:
    with open(path, "w") as f:
        f.write(text + suffix)


def hello(name: str) -> None:
    print("Hello", name)


def to_stderr(text: str) -> None:
    print(text, file=sys.stderr)


def fail() -> None:
    raise RuntimeError("this target fails on purpose")


def report_identity(path: str) -> None:
    me = multiprocessing.current_process()
    write_json(
        path,
        {
            "name": me.name,
            "authkey": bytes(me.authkey).decode("utf-8", "surrogateescape"),
            "pid": os.getpid(),
            "process_id": current_process_id(),
            "socket": os.environ.get("SUPERVISORD_LITE_SOCKET"),
        },
    )


def wait_on_fifo_then_report(fifo: str, path: str) -> None:
    """Block until the test writes to `fifo`, then report what this process calls itself."""
    with open(fifo) as f:
        f.read()
    report_identity(path)


def block_on_fifo(fifo: str) -> None:
    with open(fifo) as f:
        f.read()


def key_text(key: bytes) -> str:
    """A key as the tests compare it: its text when it is text (as `processing`'s keys are), else
    its hex (a key inherited from a Python caller is that caller's random bytes)."""
    try:
        return key.decode()
    except UnicodeDecodeError:
        return key.hex()


def spawn_grandchildren(path: str) -> None:
    """A supervised child that uses the client itself: creates two processes, runs them."""
    kids = [Process(target=report_identity, args=[f"{path}.{i}"]) for i in (1, 2)]
    for kid in kids:
        kid.start()
    for kid in kids:
        kid.join()
    write_json(
        path,
        {
            "me": current_process_id(),
            "my_name": multiprocessing.current_process().name,
            "my_authkey": key_text(bytes(multiprocessing.current_process().authkey)),
            "kids": [
                {
                    "id": k.id,
                    "name": k.getName(),
                    "authkey": key_text(k.authkey),
                    "parent": k.info().parent,
                    "exitcode": k.exitcode,
                }
                for k in kids
            ],
        },
    )


def join_self() -> None:
    me = current_process_id()
    if me is None:
        raise SystemExit(4)
    try:
        Process.attach(me).join(timeout=5)
    except JoinSelf:
        raise SystemExit(0) from None
    raise SystemExit(3)


def listen_once(address: str, ready: str, path: str) -> None:
    """Accept one authenticated connection with this process's own authkey; report what came."""
    key = multiprocessing.current_process().authkey
    with multiprocessing.connection.Listener(address, family="AF_UNIX", authkey=key) as listener:
        write_text(ready, "ready")
        try:
            with listener.accept() as conn:
                write_json(path, {"received": conn.recv()})
        except multiprocessing.AuthenticationError as exc:
            write_json(path, {"refused": str(exc)})


def connect_and_send(address: str, message: str) -> None:
    key = multiprocessing.current_process().authkey
    with multiprocessing.connection.Client(address, family="AF_UNIX", authkey=key) as conn:
        conn.send(message)


# -- Process subclasses ----------------------------------------------------------------------------


class Greeter(Process):
    """Overrides run(); its state is set after Process.__init__, as the seed says to."""

    def __init__(self, who: str, path: str) -> None:
        super().__init__()
        self.who = who
        self.path = path

    def run(self) -> None:
        me = multiprocessing.current_process()
        write_json(
            self.path,
            {
                "who": self.who,
                "self_name": self.name,
                "self_getName": self.getName(),
                "mp_name": me.name,
                "self_authkey": self.authkey.hex(),
                "mp_authkey": bytes(me.authkey).hex(),
                "self_pid": self.pid,
                "pid": os.getpid(),
                "alive": self.is_alive(),
                "id": self.id,
                "process_id": current_process_id(),
            },
        )


class SelfJoiner(Process):
    def run(self) -> None:
        try:
            self.join()
        except JoinSelf:
            raise SystemExit(0) from None
        raise SystemExit(3)


class SuperRunner(Process):
    """Overrides run() and still calls the default run() (which calls the target)."""

    def run(self) -> None:
        super().run()


class NoInit(Process):
    def __init__(self) -> None:  # does not call Process.__init__
        self.x = 1


# -- targets of the tests ported from CPython's multiprocessing tests (test_client_fidelity.py) -----


def report_key_and_connect(path: str, address: str) -> None:
    """Report this process's authkey, then talk to the caller's Listener with it (the default
    authkey of multiprocessing.connection.Client is current_process().authkey)."""
    write_json(path, {"authkey": bytes(multiprocessing.current_process().authkey).hex()})
    with multiprocessing.connection.Client(address, family="AF_UNIX") as conn:
        conn.send("hello from the child")


def report_parent(path: str) -> None:
    parent = multiprocessing.parent_process()
    write_json(path, None if parent is None else [parent.pid, parent.name])


def create_grandchild_then_block(path: str, fifo: str) -> None:
    """CPython's _test_create_grandchild_process: start a child that watches this process, then
    wait (on a FIFO the test never writes: it terminates this process instead)."""
    p = Process(target=report_parent_status, args=[path])
    p.start()
    write_json(path + ".me", [os.getpid(), multiprocessing.current_process().name])
    with open(fifo) as f:
        f.read()


def report_parent_status(path: str) -> None:
    parent = multiprocessing.parent_process()
    assert parent is not None
    write_json(path + ".1", [parent.pid, parent.name, parent.is_alive()])
    parent.join(timeout=60)
    write_json(path + ".2", parent.is_alive())


class DummyCallable:
    """CPython's test_lose_target_ref: a callable that is its own argument."""

    def __call__(self, path: str, c: DummyCallable) -> None:
        assert isinstance(c, DummyCallable)
        write_text(path, "5")


def set_stream(name: str, how: str) -> None:
    """Leave sys.stdout or sys.stderr None, or closed, as the target ends."""
    if how == "none":
        setattr(sys, name, None)
    else:
        getattr(sys, name).close()
