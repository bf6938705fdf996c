"""The pool of script zygotes (supervisord_lite.owner.script_zygotes), with zygotes faked: when one
is made, which are kept, what is not tried again. The real ones are tested live by the Python
client's tests (clients/python/tests/test_client_script_zygote.py)."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from supervisord_lite.core.model import Target, TargetKind
from supervisord_lite.owner import script_zygotes
from supervisord_lite.owner.script_zygotes import ScriptZygotes
from supervisord_lite.owner.zygote_script import CANNOT_IMPORT
from tests.test_spawner import REPO, Zygote, spec, wait_exit


class FakeZygote:
    def __init__(self, script: dict[str, object], on_exit: Callable[[Any, int], None]) -> None:
        self.script = script
        self.on_exit = on_exit
        self.ready = self.was_ready = False
        self.killed = False

    def become_ready(self) -> None:
        self.ready = self.was_ready = True

    def kill(self) -> None:
        self.killed = True
        self.ready = False

    def exit(self, code: int) -> None:
        self.ready = False
        self.on_exit(self, code)


class Pool:
    def __init__(self) -> None:
        self.made: list[FakeZygote] = []
        self.pool = ScriptZygotes(self._make)  # type: ignore[arg-type]

    def _make(self, script: dict[str, object], on_exit: Callable[[Any, int], None]) -> FakeZygote:
        z = FakeZygote(script, on_exit)
        self.made.append(z)
        return z

    def ask(self, target: Target) -> Any:
        return self.pool.zygote_for(target)


def script(tmp_path: Path, name: str = "main.py") -> Target:
    path = tmp_path / name
    if not path.exists():
        path.write_text("pass\n")
    return Target(
        TargetKind.PICKLE, payload="x", main_path=str(path), sys_path=("/a",), cwd=str(tmp_path)
    )


def test_made_on_the_second_start_and_used_once_ready(tmp_path: Path) -> None:
    p, t = Pool(), script(tmp_path)
    assert p.ask(t) is None and p.made == []  # a script started once costs nothing more
    assert p.ask(t) is None and len(p.made) == 1  # the second start makes one
    z = p.made[0]
    assert z.script == {"main_path": t.main_path, "sys_path": ["/a"], "cwd": str(tmp_path)}
    assert p.ask(t) is None  # not ready yet: the usual way
    z.become_ready()
    assert p.ask(t) is z and p.ask(t) is z and len(p.made) == 1


def test_a_new_version_of_the_script_is_another_zygote(tmp_path: Path) -> None:
    p, t = Pool(), script(tmp_path)
    p.ask(t), p.ask(t)
    p.made[0].become_ready()
    Path(t.main_path or "").write_text("print('changed')\n")
    assert p.ask(t) is None and p.ask(t) is None  # the edited file: seen anew, then made
    assert len(p.made) == 2 and p.made[1] is not p.made[0]
    other_path = Target(**{**t.__dict__, "sys_path": ("/b",)})
    p.ask(other_path), p.ask(other_path)
    assert len(p.made) == 3  # another sys.path: another import


def test_the_least_recently_used_is_stopped_beyond_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(script_zygotes, "MAX_ZYGOTES", 2)
    p = Pool()
    a, b, c = (script(tmp_path, f"{n}.py") for n in "abc")
    for t in (a, b):
        p.ask(t), p.ask(t)
    for z in p.made:
        z.become_ready()
    assert p.ask(a) is p.made[0]  # a is now the most recently used
    p.ask(c), p.ask(c)
    assert [z.killed for z in p.made] == [False, True, False]
    assert len(p.pool) == 2
    p.made[1].exit(-9)  # its death, reported later, changes nothing
    assert len(p.pool) == 2 and p.ask(a) is p.made[0]


def test_a_script_its_zygote_cannot_import_is_not_tried_again(tmp_path: Path) -> None:
    p, t = Pool(), script(tmp_path)
    p.ask(t), p.ask(t)
    p.made[0].exit(3)  # before it was ready: the import failed
    for _ in range(3):
        assert p.ask(t) is None
    assert len(p.made) == 1


def test_a_zygote_that_dies_once_ready_is_made_again(tmp_path: Path) -> None:
    p, t = Pool(), script(tmp_path)
    p.ask(t), p.ask(t)
    p.made[0].become_ready()
    p.made[0].exit(-11)
    assert p.ask(t) is None and p.ask(t) is None and len(p.made) == 2


def test_targets_without_a_script_file_get_none(tmp_path: Path) -> None:
    p = Pool()
    gone = Target(TargetKind.PICKLE, payload="x", main_path=str(tmp_path / "missing.py"))
    for _ in range(3):
        assert p.ask(gone) is None
    assert p.ask(Target(TargetKind.PICKLE, payload="x")) is None
    assert p.made == []


def test_close_stops_every_zygote(tmp_path: Path) -> None:
    p, t = Pool(), script(tmp_path)
    p.ask(t), p.ask(t)
    p.pool.close()
    assert p.made[0].killed and len(p.pool) == 0 and p.ask(t) is None
    assert os.path.exists(t.main_path or "")


# -- the zygote process made a script's own, both ways ---------------------------------------------

SCRIPT = """\
import os
HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "imports"), "a") as f:
    f.write("x")
LOG = open(os.path.join(HERE, "log"), "a")

def f():
    LOG.write(f"{os.getpid()}\\n")
    LOG.flush()
"""


def main_spec(script: Path) -> dict[str, object]:
    payload = base64.b64encode(b"c__main__\nf\n.").decode()  # the pickle of __main__.f
    return spec(kind="pickle", payload=payload, main_path=str(script), cwd=str(script.parent))


def run_main_f(zygote: Zygote, script: Path) -> None:
    null = os.open(os.devnull, os.O_WRONLY)
    pid, rest = zygote.request(main_spec(script), null)
    os.close(null)
    assert rest == b""  # loaded
    wait_exit(pid)
    assert (script.parent / "log").read_text().split()[-1] == str(pid)
    assert (script.parent / "imports").read_text() == "x"  # imported once, by the zygote


def write_script(tmp_path: Path) -> tuple[Path, str]:
    script = tmp_path / "main.py"
    script.write_text(SCRIPT)
    return script, json.dumps({"main_path": str(script), "sys_path": [], "cwd": str(tmp_path)})


def test_a_new_interpreter_made_a_scripts_zygote(tmp_path: Path) -> None:
    script, arg = write_script(tmp_path)
    z = Zygote(1, f"--script={arg}")
    try:
        run_main_f(z, script)
        run_main_f(z, script)
    finally:
        z.sock.close()
        z.proc.wait(timeout=30)


def test_a_spare_of_the_zygote_made_a_scripts_zygote(tmp_path: Path) -> None:
    script, arg = write_script(tmp_path)
    z = Zygote(1)
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    status_r, status_w = os.pipe()
    socket.send_fds(z.sock, [b"Z" + arg.encode()], [theirs.fileno(), status_w])
    theirs.close()
    os.close(status_w)
    with os.fdopen(status_r, "rb") as status:
        pid = int(status.read().split(b"\n")[0])
    own = Zygote.__new__(Zygote)  # the same requests, on the new zygote's socket
    own.sock = ours
    ours.settimeout(30)
    try:
        assert ours.recv(16) == b"R"
        run_main_f(own, script)
        run_main_f(own, script)
    finally:
        ours.close()
        wait_exit(pid)  # it ends with its socket
        z.sock.close()
        z.proc.wait(timeout=30)


def test_a_script_that_cannot_be_imported_ends_the_zygote_before_it_is_ready(
    tmp_path: Path,
) -> None:
    script = tmp_path / "bad.py"
    script.write_text("raise SystemExit('no')\n")
    arg = json.dumps({"main_path": str(script), "sys_path": [], "cwd": str(tmp_path)})
    sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    proc = subprocess.Popen(
        [sys.executable, "-m", "supervisord_lite.owner.zygote", str(theirs.fileno()), "1",
         f"--script={arg}"],
        pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=REPO,
    )  # fmt: skip
    theirs.close()
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == CANNOT_IMPORT
    assert b"cannot import" in err and b"SystemExit: no" in err
    sock.close()


# -- the daemon's side: ZygoteSpawner makes the script's zygote, of a spare or of a new interpreter --

_SPAWNER = """\
import asyncio, base64, os, sys, time
from supervisord_lite.core.model import Output, SpawnRequest, Target, TargetKind
from supervisord_lite.owner.python_targets import ZygoteSpawner

async def until(cond, what):
    deadline = time.monotonic() + 30
    while not cond():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)  # a poll with a deadline

async def main(script, how):
    loop = asyncio.get_running_loop()
    sp = ZygoteSpawner(socket_path=None)
    await until(lambda: sp.zygote is not None and sp.zygote.ready, "the zygote")
    main_zygote = sp.zygote
    if how == "interpreter":
        sp.zygote = None  # as while it is down
    payload = base64.b64encode(b"c__main__\\nf\\n.").decode()
    target = Target(TargetKind.PICKLE, payload=payload, main_path=script,
                    cwd=os.path.dirname(script))
    async def run():
        done = loop.create_future()
        request = SpawnRequest(1, "P-1", "YWI=", target, (), {}, Output.NULL, None)
        child = await sp.spawn(request, done.set_result)
        assert await child.loaded() is None
        assert await done == 0
    await run()
    await run()  # the second start of the script makes its zygote
    await until(lambda: any(z.ready for z in sp.scripts._zygotes.values()), "its zygote")
    (own,) = sp.scripts._zygotes.values()
    await run()
    with open(f"/proc/{own.pid}/cmdline", "rb") as f:
        print("--script=" in f.read().decode(), own.pid != main_zygote.pid)
    main_zygote.kill()
    sp.close()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


@pytest.mark.timeout(60)
@pytest.mark.parametrize("how", ["spare", "interpreter"])
def test_the_spawner_makes_a_scripts_zygote_and_uses_it(tmp_path: Path, how: str) -> None:
    script, _arg = write_script(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", _SPAWNER, str(script), how],
        cwd=REPO, capture_output=True, text=True, timeout=55, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    # Made of a spare, it shows the zygote's command line; a new interpreter has --script.
    assert done.stdout.split() == [str(how == "interpreter"), "True"], done.stdout + done.stderr
    # The first two children imported the script, then the zygote did; the third did not.
    assert (tmp_path / "imports").read_text() == "xxx"
    assert len((tmp_path / "log").read_text().split()) == 3
