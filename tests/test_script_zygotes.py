"""The pool of script zygotes (supervisord_lite.owner.script_zygotes), with zygotes faked: when one
is made, which are kept, what is not tried again. The real ones are tested live by the Python
client's tests (clients/python/tests/test_client_script_zygote.py)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from supervisord_lite.core.model import Target, TargetKind
from supervisord_lite.owner import script_zygotes
from supervisord_lite.owner.script_zygotes import ScriptZygotes


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
