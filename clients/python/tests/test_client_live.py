"""Every rule of issue 3, against a real daemon running real children."""

from __future__ import annotations

import errno
import io
import multiprocessing.connection
import os
import pickle
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import slc_helpers
from slc_daemon import Daemon
from slc_helpers import read_json, wait_until
from supervisord_lite_client import (
    AlreadyStarted,
    BadTarget,
    Client,
    Command,
    ConnectionLost,
    DaemonUnavailable,
    InvalidParams,
    NoSuchProcess,
    NotStarted,
    Process,
    Reference,
    SpawnFailed,
    TargetFailed,
    default_client,
    set_default_client,
)

SEED = """\
from supervisord_lite_client import Process
def f(name):
    print('Hello', name)
if __name__ == '__main__':
    p = Process(target=f, args=['Bob'])
    p.start()
    p.join()
"""


def run_script(daemon: Daemon, directory: Path, source: str) -> subprocess.CompletedProcess[str]:
    script = directory / "script.py"
    script.write_text(source)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPERVISORD_LITE_")}
    env["SUPERVISORD_LITE_SOCKET"] = str(daemon.socket_path)
    return subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=40,
        env=env,
        cwd=directory,
        check=False,
    )


def open_fifo_writer(fifo: Path) -> int:
    """Wait (polling, with a deadline) until the child opened the FIFO, then open its write end."""
    fds: list[int] = []

    def opened() -> bool:
        try:
            fds.append(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError as exc:
            if exc.errno != errno.ENXIO:  # ENXIO: no reader yet
                raise
            return False
        return True

    wait_until(opened, timeout=20, what="the child to open the FIFO")
    return fds[0]


def release(fifo: Path) -> None:
    fd = open_fifo_writer(fifo)
    os.write(fd, b"go")
    os.close(fd)


# -- the seed example and output ------------------------------------------------------------------


def test_the_seed_example_prints_hello_bob_on_the_callers_stdout(
    daemon: Daemon, tmp_path: Path
) -> None:
    done = run_script(daemon, tmp_path, SEED)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Hello Bob\n"


def test_the_childs_stderr_is_the_callers_stderr(daemon: Daemon, tmp_path: Path) -> None:
    source = """\
import sys
from supervisord_lite_client import Process
def f():
    print('to stderr', file=sys.stderr)
    print('to stdout')
if __name__ == '__main__':
    print('parent first', flush=False)
    p = Process(target=f)
    p.start()
    p.join()
    print('parent after', p.exitcode)
"""
    done = run_script(daemon, tmp_path, source)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "to stderr\n"
    # The parent's buffer is flushed before start: the order is kept.
    assert done.stdout == "parent first\nto stdout\nparent after 0\n"


def test_a_script_without_the_main_guard_gets_an_error_not_endless_children(
    daemon: Daemon, tmp_path: Path
) -> None:
    source = """\
import os, sys
from supervisord_lite_client import Process, TargetFailed
runs = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'runs')
with open(runs, 'a') as f:
    f.write('x')
if os.path.getsize(runs) > 3:  # a fuse for this test only
    sys.exit(9)
def f():
    print('never')
p = Process(target=f)
try:
    p.start()
except TargetFailed as e:
    print('refused', e.code)
"""
    done = run_script(daemon, tmp_path, source)
    assert done.returncode == 0, done.stderr
    assert "refused 1007" in done.stdout
    assert "__name__ == '__main__'" in done.stderr
    # As multiprocessing: the child's traceback ends in a RuntimeError.
    assert re.search(r"^RuntimeError: An attempt has been made", done.stderr, re.M), done.stderr
    assert (tmp_path / "runs").read_text() == "xx"  # the script, then the child's one re-run


def test_output_falls_back_to_fd_1_when_stdout_has_no_fd(
    client: Client, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    p = Process(target=slc_helpers.hello, args=["fallback"], client=client)
    p.start()
    p.join()
    assert p.exitcode == 0
    assert "Hello fallback\n" in capfd.readouterr().out


def test_output_can_be_discarded(client: Client, capfd: pytest.CaptureFixture[str]) -> None:
    p = Process(target=slc_helpers.hello, args=["nobody"], client=client)
    p.start(output="null")
    p.join()
    assert p.exitcode == 0 and "nobody" not in capfd.readouterr().out


# -- targets -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "text"),
    [(slc_helpers.write_text, "pickled"), ("slc_helpers:write_text", "by reference")],
    ids=["module function", "reference string"],
)
def test_a_python_target_with_args_and_kwargs(
    client: Client, tmp_path: Path, target: object, text: str
) -> None:
    out = tmp_path / "out"
    p = Process(target=target, args=[str(out), text], kwargs={"suffix": "!"}, client=client)
    p.start()
    p.join()
    assert p.exitcode == 0 and out.read_text() == text + "!"


def test_a_command_target(client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    p = Process(target=["sh", "-c", 'pwd > here; printf %s "$SLC_X" > env; exit 3'], client=client)
    p.start()
    p.join()
    assert p.exitcode == 3
    assert (tmp_path / "here").read_text().strip() == str(tmp_path)  # the caller's cwd
    q = Process(
        target=Command(["sh", "-c", 'printf %s "$SLC_X" > "$0"'], env={"SLC_X": "set"}),
        args=["env2"],
        client=client,
    )
    q.start()
    q.join()
    assert q.exitcode == 0 and (tmp_path / "env2").read_text() == "set"


def test_a_reference_with_its_own_environment(client: Client, tmp_path: Path) -> None:
    p = Process(target=Reference("os:_exit", env={"SLC_UNUSED": "1"}), args=[7], client=client)
    p.start()
    p.join()
    assert p.exitcode == 7


def test_exit_codes(client: Client) -> None:
    p = Process(target=sys.exit, args=[5], client=client)
    q = Process(target=slc_helpers.fail, client=client)
    r = Process(client=client)  # no target: runs nothing
    for x in (p, q, r):
        x.start(output="null")
    for x in (p, q, r):
        x.join()
    assert (p.exitcode, q.exitcode, r.exitcode) == (5, 1, 0)


def test_a_subclass_runs_its_own_run_in_the_child(client: Client, tmp_path: Path) -> None:
    out = str(tmp_path / "greeter")
    set_default_client(client)  # (this subclass takes no client argument)
    g = slc_helpers.Greeter("Ann", out)
    g.start()
    g.join()
    assert g.exitcode == 0
    seen = read_json(out)
    assert seen["who"] == "Ann"  # set after Process.__init__: created at start()
    assert seen["self_name"] == seen["self_getName"] == seen["mp_name"] == g.name
    assert seen["self_authkey"] == seen["mp_authkey"] == g.authkey.hex()
    assert seen["self_pid"] == seen["pid"] == g.pid
    assert seen["alive"] is True
    assert seen["id"] == seen["process_id"] == g.id


def test_a_subclass_can_call_the_default_run(client: Client, tmp_path: Path) -> None:
    out = tmp_path / "out"
    p = slc_helpers.SuperRunner(
        target=slc_helpers.write_text, args=[str(out), "via super"], client=client
    )
    p.start()
    p.join()
    assert p.exitcode == 0 and out.read_text() == "via super"


# -- names, keys, parents ----------------------------------------------------------------------------


def test_the_child_knows_its_name_and_authkey(
    client: Client, daemon: Daemon, tmp_path: Path
) -> None:
    out = str(tmp_path / "id")
    p = Process(target=slc_helpers.report_identity, args=[out], name="worker", client=client)
    assert p.getName() == p.name == "worker"
    p.setAuthKey("0123456789abcdef")
    assert p.getAuthKey() == "0123456789abcdef" and p.authkey == b"0123456789abcdef"
    p.start()
    p.join()
    seen = read_json(out)
    assert seen["name"] == "worker" and seen["authkey"] == "0123456789abcdef"
    assert seen["pid"] == p.pid and seen["process_id"] == p.id
    assert seen["socket"] == str(daemon.socket_path)


def test_default_names_and_inherited_keys(client: Client) -> None:
    a, b = Process(client=client), Process(client=client)
    assert a.name.startswith("Process-") and b.id > a.id
    assert b.name == f"Process-{b.name.split('-')[1]}" and int(b.name.split("-")[1]) > int(
        a.name.split("-")[1]
    )
    key = a.authkey
    assert key == bytes(multiprocessing.current_process().authkey)  # both inherit the caller's
    assert b.authkey == key
    a.setAuthKey(None)  # a new random key, drawn by the daemon: hex text
    new = a.getAuthKey()
    assert a.authkey == new.encode() != key
    assert len(new) >= 32 and all(c in "0123456789abcdef" for c in new)
    a.authkey = b"cafe"
    assert a.getAuthKey() == "cafe"
    a.authkey = b"\xff\xfe"  # any bytes, as in multiprocessing
    assert a.authkey == b"\xff\xfe"
    with pytest.raises(InvalidParams, match="base64"):
        a.getAuthKey()  # not text: only the bytes can be had
    c = Process(name=a.name, client=client)
    assert c.name == a.name  # names are not unique


class Listener:
    """A child running slc_helpers.listen_once: it accepts one multiprocessing.connection client
    (authenticated with the child's own authkey) and records what it received, or a refusal."""

    def __init__(self, client: Client, short_dir: Path, tmp_path: Path) -> None:
        self.address = str(short_dir / "l.sock")
        self._ready, self._result = str(tmp_path / "ready"), str(tmp_path / "got")
        self.process = Process(
            target=slc_helpers.listen_once,
            args=[self.address, self._ready, self._result],
            client=client,
        )

    def start(self) -> None:
        self.process.start()
        wait_until(lambda: os.path.exists(self._ready), timeout=20, what="the listener to listen")

    def outcome(self) -> Any:
        """Join the listener; what it recorded."""
        self.process.join()
        return read_json(self._result)


def test_siblings_authenticate_with_multiprocessing_connection(
    client: Client, short_dir: Path, tmp_path: Path
) -> None:
    listener = Listener(client, short_dir, tmp_path)
    talker = Process(
        target=slc_helpers.connect_and_send, args=[listener.address, "hi sibling"], client=client
    )
    assert listener.process.authkey == talker.authkey
    listener.start()
    talker.start()
    talker.join()
    got = listener.outcome()
    assert (talker.exitcode, listener.process.exitcode) == (0, 0)
    assert got == {"received": "hi sibling"}


def test_a_sibling_with_another_key_is_refused(
    client: Client, short_dir: Path, tmp_path: Path
) -> None:
    listener = Listener(client, short_dir, tmp_path)
    stranger = Process(
        target=slc_helpers.connect_and_send, args=[listener.address, "let me in"], client=client
    )
    stranger.setAuthKey(None)
    listener.start()
    stranger.start(output="null")
    stranger.join()
    got = listener.outcome()
    assert stranger.exitcode == 1
    assert "refused" in got


def test_the_caller_authenticates_with_a_child_using_p_authkey(
    client: Client, short_dir: Path, tmp_path: Path
) -> None:
    listener = Listener(client, short_dir, tmp_path)
    listener.start()
    key = listener.process.authkey
    with multiprocessing.connection.Client(listener.address, family="AF_UNIX", authkey=key) as conn:
        conn.send("from the parent")
    assert listener.outcome() == {"received": "from the parent"}


def test_a_child_that_uses_the_client_creates_its_own_children(
    client: Client, tmp_path: Path
) -> None:
    out = str(tmp_path / "family")
    p = Process(target=slc_helpers.spawn_grandchildren, args=[out], client=client)
    p.setAuthKey("f00d" * 8)
    p.start()
    p.join()
    assert p.exitcode == 0
    family = read_json(out)
    name = p.getName()
    assert (family["me"], family["my_name"], family["my_authkey"]) == (p.id, name, "f00d" * 8)
    kids = family["kids"]
    assert [k["name"] for k in kids] == [f"{name}:1", f"{name}:2"]
    for i, kid in enumerate(kids, 1):
        assert (kid["parent"], kid["authkey"], kid["exitcode"]) == (p.id, "f00d" * 8, 0)
        assert client.info(kid["id"]).parent == p.id  # seen from here too
        seen = read_json(f"{out}.{i}")
        assert (seen["name"], seen["authkey"], seen["process_id"]) == (
            kid["name"],
            "f00d" * 8,
            kid["id"],
        )
    assert p.info().parent is None  # this test is not supervised: the daemon created p


def test_a_process_that_joins_itself_gets_join_self(client: Client) -> None:
    p = Process(target=slc_helpers.join_self, client=client)
    s = slc_helpers.SelfJoiner(client=client)
    p.start()
    s.start()
    p.join()
    s.join()
    assert (p.exitcode, s.exitcode) == (0, 0)  # 3: joined without an error; 4: no own id


def test_renaming_a_running_child_does_not_change_its_own_name(
    client: Client, short_dir: Path, tmp_path: Path
) -> None:
    fifo, out = short_dir / "go", str(tmp_path / "id")
    os.mkfifo(fifo)
    p = Process(target=slc_helpers.wait_on_fifo_then_report, args=[str(fifo), out], client=client)
    original = p.name
    p.start()
    p.setName("renamed")
    assert p.getName() == "renamed"
    release(fifo)
    p.join()
    assert read_json(out)["name"] == original
    assert p.name == "renamed"


# -- the process lifecycle and its errors ------------------------------------------------------------


def test_start_twice_join_before_start_and_unknown_ids(client: Client) -> None:
    p = Process(target=["true"], client=client)
    with pytest.raises(NotStarted) as not_started:
        p.join()
    assert not_started.value.code == 1003 and not_started.value.data == {"id": p.id}
    with pytest.raises(NotStarted):
        p.terminate()
    assert not p.is_alive() and p.exitcode is None and p.pid is None
    p.start(output="null")
    with pytest.raises(AlreadyStarted) as twice:
        p.start()
    assert twice.value.code == 1002 and str(p.id) in str(twice.value)
    p.join()
    p.join()  # any number of times
    assert p.exitcode == 0 and not p.is_alive()
    with pytest.raises(NoSuchProcess):
        Process.attach(10**9, client=client)


def test_bad_targets(client: Client) -> None:
    with pytest.raises(BadTarget):
        Process(target="not a reference", client=client)
    with pytest.raises(BadTarget) as info:
        Process(target=["echo"], kwargs={"a": 1}, client=client)
    assert info.value.code == 1005 and info.value.method == "process.create"
    with pytest.raises(TypeError):
        Process(target=[], client=client)
    missing = Process(target=["/nonexistent/program"], client=client)
    with pytest.raises(SpawnFailed):
        missing.start()
    assert missing.info().state == "created" and not missing.is_alive()
    unloadable = Process(target="slc_no_such_module:f", client=client)
    with pytest.raises(TargetFailed):
        unloadable.start(output="null")
    unloadable.join()
    assert unloadable.exitcode == 1


def test_join_with_timeout_terminate_and_kill(client: Client) -> None:
    p = Process(target=["sleep", "30"], client=client)
    q = Process(target=["sleep", "30"], client=client)
    p.start()
    q.start()
    assert p.is_alive() and p.pid is not None
    p.join(timeout=0)
    p.join(0.01)
    assert p.exitcode is None and p.is_alive()
    p.terminate()
    q.kill()
    p.join()
    q.join()
    assert (p.exitcode, q.exitcode) == (-signal.SIGTERM, -signal.SIGKILL)
    assert not p.is_alive()
    p.terminate()  # already ended: nothing happens


def test_a_waiting_join_does_not_hold_up_other_calls(client: Client, short_dir: Path) -> None:
    fifo = short_dir / "go"
    os.mkfifo(fifo)
    p = Process(target=slc_helpers.block_on_fifo, args=[str(fifo)], client=client)
    p.start()
    joined = threading.Event()
    t = threading.Thread(target=lambda: (p.join(), joined.set()))
    t.start()
    wait_until(lambda: bool(client._proto.pending), timeout=10, what="the join to be sent")
    for _ in range(20):
        assert p.getName() and p.is_alive()
    assert not joined.is_set()
    release(fifo)
    t.join(timeout=20)
    assert joined.is_set() and p.exitcode == 0


def test_a_process_handle_pickles_without_its_connection(client: Client) -> None:
    p = Process(target=["true"], client=client)
    set_default_client(client)
    copy = pickle.loads(pickle.dumps(p))
    assert copy.id == p.id and copy.getName() == p.getName()
    assert copy._client_arg is None and not copy._child_self


# -- finding the daemon, and losing it ----------------------------------------------------------------


def test_the_default_client_comes_from_the_environment(
    daemon: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUPERVISORD_LITE_SOCKET", str(daemon.socket_path))
    set_default_client(None)
    p = Process(target=["true"])
    p.start()
    p.join()
    assert p.exitcode == 0
    assert default_client().socket_path == str(daemon.socket_path)
    assert default_client() is default_client()


def test_a_missing_daemon_is_a_clear_error(
    short_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = str(short_dir / "nobody.sock")
    monkeypatch.setenv("SUPERVISORD_LITE_SOCKET", path)
    set_default_client(None)
    with pytest.raises(DaemonUnavailable, match=re.escape(path)):
        Process(target=["true"])


def test_a_daemon_that_goes_away(own_daemon: Daemon) -> None:
    c = own_daemon.client()
    idle = Process(client=c)
    busy = Process(target=["sleep", "3"], client=c)
    busy.start(output="null")
    outcome: list[Any] = []

    def join() -> None:
        try:
            busy.join()
            outcome.append("returned")
        except BaseException as exc:
            outcome.append(exc)

    t = threading.Thread(target=join)
    t.start()
    wait_until(lambda: bool(c._proto.pending), timeout=10, what="the join to be sent")
    own_daemon.stop(signal.SIGKILL)
    t.join(timeout=20)
    assert len(outcome) == 1 and isinstance(outcome[0], ConnectionLost), outcome
    assert str(own_daemon.socket_path) in str(outcome[0])
    with pytest.raises(ConnectionLost):
        idle.getName()
    with pytest.raises(DaemonUnavailable):
        Client(own_daemon.socket_path)


def test_main_defined_subclass_and_python_dash_m(daemon: Daemon, tmp_path: Path) -> None:
    (tmp_path / "slc_pkg").mkdir()
    (tmp_path / "slc_pkg" / "__init__.py").write_text("")
    (tmp_path / "slc_pkg" / "tool.py").write_text(
        """\
import multiprocessing
from supervisord_lite_client import Process
def g(x):
    # In the child this module was re-run as __mp_main__ (and __main__ is aliased to it).
    print('from -m', x, multiprocessing.current_process().name, __name__)
class Sub(Process):
    def __init__(self, word):
        super().__init__()
        self.word = word
    def run(self):
        print('subclass', self.word, self.name == multiprocessing.current_process().name)
if __name__ == '__main__':
    p = Process(target=g, args=[1], name='g-proc')
    p.start()
    p.join()
    s = Sub('in __main__')
    s.start()
    s.join()
    print(p.exitcode, s.exitcode)
"""
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPERVISORD_LITE_")}
    env["SUPERVISORD_LITE_SOCKET"] = str(daemon.socket_path)
    done = subprocess.run(
        [sys.executable, "-m", "slc_pkg.tool"],
        capture_output=True,
        text=True,
        timeout=40,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "from -m 1 g-proc __mp_main__\nsubclass in __main__ True\n0 0\n", (
        done.stderr
    )


def test_a_forked_process_opens_its_own_connection(daemon: Daemon, tmp_path: Path) -> None:
    source = """\
import os
from supervisord_lite_client import Process, default_client
if __name__ == '__main__':
    before = default_client()
    Process(target=['true']).getName()
    pid = os.fork()
    if pid == 0:
        mine = default_client()
        p = Process(target=['true'])
        p.start(output='null')
        p.join()
        os._exit(0 if mine is not before and mine.pid == os.getpid() and p.exitcode == 0 else 3)
    _, status = os.waitpid(pid, 0)
    print('child', os.waitstatus_to_exitcode(status), default_client() is before)
"""
    done = run_script(daemon, tmp_path, source)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "child 0 True\n"


def test_importing_the_client_stays_light() -> None:
    # A child that re-runs the caller's script imports the client again: keep that cheap.
    code = (
        "import sys, supervisord_lite_client; "
        "print(sorted({'dataclasses', 'subprocess', 'pickletools', 'sysconfig', 'inspect'} & set(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    assert done.stdout == "[]\n"


def test_a_non_ascii_authkey_reaches_the_child_as_utf8(client: Client, tmp_path: Path) -> None:
    out = str(tmp_path / "id")
    p = Process(target=slc_helpers.report_identity, args=[out], client=client)
    p.setAuthKey("clé-🔑")
    assert p.authkey == "clé-🔑".encode()
    p.start(output="null")
    p.join()
    assert read_json(out)["authkey"] == "clé-🔑"
