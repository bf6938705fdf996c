"""CPython's own multiprocessing tests of Process (Lib/test/_test_multiprocessing.py), ported to
run against supervisord_lite_client.Process and a real daemon: what the two must agree on."""

from __future__ import annotations

import gc
import multiprocessing
import multiprocessing.connection
import os
import platform
import subprocess
import sys
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest
import slc_helpers
from conftest import daemon_in_a_short_dir
from slc_daemon import Daemon
from slc_helpers import read_json, wait_until
from supervisord_lite_client import Client, Process, Reference, TargetFailed, calls


@pytest.fixture(scope="module")
def fresh_daemon() -> Iterator[Daemon]:
    """A daemon without a zygote: every Python target in a fresh interpreter."""
    yield from daemon_in_a_short_dir("--no-zygote")


# -- authkeys: "When a Process object is created it will inherit the authentication key of its
#    parent process" ---------------------------------------------------------------------------


def test_process_inherits_the_callers_authkey(
    client: Client, short_dir: Path, tmp_path: Path
) -> None:
    # test_process: assertEqual(p.authkey, current.authkey)
    current = multiprocessing.current_process()
    out = str(tmp_path / "key")
    address = str(short_dir / "l.sock")
    with multiprocessing.connection.Listener(address, family="AF_UNIX") as listener:
        # The Listener's key is this process's own, as multiprocessing's Managers use it.
        p = Process(target=slc_helpers.report_key_and_connect, args=[out, address], client=client)
        assert p.authkey == bytes(current.authkey)
        p.start()
        with listener.accept() as conn:
            assert conn.recv() == "hello from the child"
    p.join()
    assert p.exitcode == 0
    assert read_json(out)["authkey"] == bytes(current.authkey).hex()


def test_a_caller_that_changes_its_key_gives_its_children_the_new_one(client: Client) -> None:
    current = multiprocessing.current_process()
    old = bytes(current.authkey)
    current.authkey = b"\x00\xffnot text\x80"
    try:
        assert Process(client=client).authkey == b"\x00\xffnot text\x80"
    finally:
        current.authkey = old


# -- parent_process() (3.8+) -----------------------------------------------------------------------


def test_parent_process_attributes(client: Client, tmp_path: Path) -> None:
    assert multiprocessing.parent_process() is None
    out = str(tmp_path / "parent")
    p = Process(target=slc_helpers.report_parent, args=[out], client=client)
    p.start()
    p.join()
    assert p.exitcode == 0
    parent_pid, parent_name = read_json(out)
    assert parent_pid == os.getpid() == multiprocessing.current_process().pid
    assert parent_name == multiprocessing.current_process().name


def test_parent_process_of_a_grandchild_is_alive_then_not(client: Client, tmp_path: Path) -> None:
    out, fifo = str(tmp_path / "status"), tmp_path / "fifo"
    os.mkfifo(fifo)
    p = Process(
        target=slc_helpers.create_grandchild_then_block, args=[out, str(fifo)], client=client
    )
    p.start()
    wait_until(lambda: os.path.exists(out + ".1"), timeout=30, what="the grandchild's report")
    assert read_json(out + ".1") == [p.pid, p.name, True]
    assert read_json(out + ".me") == [p.pid, p.name]
    p.terminate()
    p.join()
    wait_until(lambda: os.path.exists(out + ".2"), timeout=30, what="the grandchild's 2nd report")
    assert read_json(out + ".2") is False  # its parent_process().join() saw the parent end


# -- the target is dropped after start() (bpo-30775) -----------------------------------------------


def test_lose_target_ref(client: Client, tmp_path: Path) -> None:
    c = slc_helpers.DummyCallable()
    wr = weakref.ref(c)
    out = tmp_path / "out"
    p = Process(target=c, args=(str(out), c), client=client)
    del c
    p.start()
    p.join()
    gc.collect()
    assert wr() is None
    assert out.read_text() == "5"


# -- a target may leave sys.stdout / sys.stderr None or closed --------------------------------------


@pytest.mark.parametrize("how", ["none", "closed"])
@pytest.mark.parametrize("stream", ["stdout", "stderr"])
@pytest.mark.parametrize("path", ["zygote", "fresh"])
def test_a_target_that_drops_a_std_stream_exits_0(
    daemon: Daemon,
    fresh_daemon: Daemon,
    capfd: pytest.CaptureFixture[str],
    stream: str,
    how: str,
    path: str,
) -> None:
    d = daemon if path == "zygote" else fresh_daemon
    with d.client() as c:
        for target in (slc_helpers.set_stream, Reference("slc_helpers:set_stream")):
            p = Process(target=target, args=[stream, how], client=c)
            p.start()
            p.join()
            assert p.exitcode == 0, capfd.readouterr().err
    assert "Error" not in capfd.readouterr().err


# -- a script without the `if __name__ == '__main__':` guard (test_noforkbomb) ---------------------

FORK_BOMB = """\
import sys
from supervisord_lite_client import Process

def foo():
    print("123")

# Because "if __name__ == '__main__'" is missing this will not work: we should get a
# RuntimeError rather than endless children.
p = Process(target=foo)
p.start()
p.join()
sys.exit(p.exitcode)
"""


@pytest.mark.parametrize("which", ["zygote", "fresh"])
def test_noforkbomb(daemon: Daemon, fresh_daemon: Daemon, tmp_path: Path, which: str) -> None:
    d = daemon if which == "zygote" else fresh_daemon
    script = tmp_path / "mp_fork_bomb.py"
    script.write_text(FORK_BOMB)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPERVISORD_LITE_")}
    env["SUPERVISORD_LITE_SOCKET"] = str(d.socket_path)
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode != 0
    assert done.stdout == ""
    # Every traceback printed ends with a RuntimeError: the child's (raised while it re-ran the
    # script), and the caller's TargetFailed, which quotes it.
    blocks = done.stderr.split("Traceback (most recent call last):")[1:]
    assert blocks, done.stderr
    child_last = blocks[0].strip().splitlines()[-1]
    assert child_last.startswith("RuntimeError: An attempt has been made"), done.stderr
    assert "RuntimeError" in blocks[-1].strip().splitlines()[-1]
    assert "BootstrapError" not in done.stderr


# -- Python targets run on the daemon's interpreter ------------------------------------------------


def test_a_target_that_fails_to_load_names_the_daemons_python(client: Client) -> None:
    p = Process(target="slc_no_such_module:f", client=client)
    with pytest.raises(TargetFailed) as info:
        p.start(output="null")
    assert info.value.data["python"] == platform.python_version()
    assert "this caller runs" not in info.value.message  # the same version: nothing to add


def test_a_caller_on_another_python_is_told_both_versions() -> None:
    came = TargetFailed(1007, "process 3: the target could not be loaded (SyntaxError: ...)",
                        {"id": 3, "python": "2.7.18"}, "process.start")  # fmt: skip
    told = calls.on_another_python(came)
    assert isinstance(told, TargetFailed) and told.data == came.data
    assert "daemon's interpreter, Python 2.7.18" in told.message
    assert f"this caller runs Python {platform.python_version()}" in told.message
    same = TargetFailed(1007, "m", {"id": 3, "python": platform.python_version()}, None)
    assert calls.on_another_python(same) is same
