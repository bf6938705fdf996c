"""A Python target runs as soon as the keeper has told the front its pid (no go from the front),
and its spares are born children of the keeper (one fork, not two). The front must then find a
caller whose `spawned` it has not handled yet; these tests show that it does, at each layer."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from supervisord_lite.core.model import Output, SpawnRequest, Target
from supervisord_lite.core.supervisor import Supervisor
from supervisord_lite.owner import sibling_fork
from supervisord_lite.owner.keeper import Keeper
from supervisord_lite.owner.keeper_client import KeeperOwner
from supervisord_lite.owner.link import LINK_VERSION, Link, request_to_dict
from tests.test_core import FakeSpawner
from tests.test_wire_support import assert_info, create, ctarget, join, start
from tests.wire import RawClient

pytestmark = pytest.mark.timeout(30)


@pytest.mark.skipif(not sibling_fork.available(), reason="no raw clone for this architecture")
def test_a_sibling_fork_is_a_child_of_the_callers_parent() -> None:
    # The script forks with CLONE_PARENT; its child reports its parent, and the script reports
    # its own. Both must be this test process, which then reaps the child itself.
    script = textwrap.dedent(
        """
        import json, os, signal, sys, threading
        from supervisord_lite.owner import sibling_fork
        r, w = os.pipe()
        pid = sibling_fork.fork_as_sibling()
        if pid == 0:
            # What glibc's skipped fork work could break: signalling itself (raise), a thread.
            got = []
            signal.signal(signal.SIGUSR1, lambda *_: got.append("signal"))
            signal.raise_signal(signal.SIGUSR1)
            t = threading.Thread(target=got.append, args=("thread",))
            t.start()
            t.join()
            os.write(w, json.dumps([os.getppid(), got]).encode())
            os._exit(7)
        os.close(w)
        its_parent, got = json.loads(os.read(r, 4096))
        print(json.dumps({"child": pid, "its_parent": its_parent, "got": got,
                          "my_parent": os.getppid()}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=20, check=True
    )
    got = json.loads(done.stdout)
    assert got["its_parent"] == got["my_parent"] == os.getpid()
    assert got["got"] == ["signal", "thread"]
    _, status = os.waitpid(got["child"], 0)  # ours to reap, not the script's
    assert os.waitstatus_to_exitcode(status) == 7


def _owner_on_a_pair(tmp_path: Path) -> tuple[KeeperOwner, Link]:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    return KeeperOwner(Link(a), tmp_path), Link(b)


def test_the_front_finds_a_child_whose_spawned_is_still_on_the_link(tmp_path: Path) -> None:
    async def go() -> None:
        owner, keeper = _owner_on_a_pair(tmp_path)
        owner.early_go = True
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[object] = loop.create_future()
        owner._spawning[7] = (waiter, lambda code: None)  # as spawn() leaves it
        keeper.send({"op": "spawned", "id": 7, "pid": 4242, "gated": True})
        assert keeper.flush()
        # No loop turn yet: the message is unread, and a lookup reads it.
        assert not waiter.done()
        assert owner.unrecorded([999, 4242]) == 7
        assert owner.unrecorded([999]) is None
        child = await waiter
        keeper.send({"op": "loaded", "id": 7, "problem": None})
        assert keeper.flush()
        assert await child.loaded() is None  # type: ignore[attr-defined]
        assert owner.unrecorded([4242]) is None  # the core has it now: no need to look here
        assert keeper.receive() is None  # and no go was sent: the keeper did not wait for one
        owner.close(quit=False)
        keeper.close()

    asyncio.run(go())


def test_a_front_with_a_keeper_that_waits_for_go_still_says_go(tmp_path: Path) -> None:
    async def go() -> None:
        owner, keeper = _owner_on_a_pair(tmp_path)
        assert owner.early_go is False  # an older keeper's welcome does not say early_go
        waiter: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        owner._spawning[3] = (waiter, lambda code: None)
        keeper.send({"op": "spawned", "id": 3, "pid": 4343, "gated": True})
        assert keeper.flush()
        assert owner.unrecorded([4343]) is None  # that keeper holds the child until the go
        child = await waiter
        loading = asyncio.ensure_future(child.loaded())  # type: ignore[attr-defined]
        keeper.sock.setblocking(True)
        keeper.sock.settimeout(10)
        assert await asyncio.to_thread(keeper.receive) == ({"op": "go", "id": 3}, [])
        keeper.send({"op": "loaded", "id": 3, "problem": None})
        assert keeper.flush()
        assert await loading is None
        owner.close(quit=False)
        keeper.close()

    asyncio.run(go())


def test_the_core_names_a_caller_the_owner_knows_before_it_does() -> None:
    class Early(FakeSpawner):
        def __init__(self) -> None:
            super().__init__()
            self.early: dict[int, int] = {}
            self.asked: list[list[int]] = []

        def unrecorded(self, pids: list[int]) -> int | None:
            self.asked.append(list(pids))
            return next((self.early[p] for p in pids if p in self.early), None)

    spawner = Early()
    parents = {6001: 5001}  # 6001 is a grandchild of 5001, the unrecorded child
    sv = Supervisor(spawner, parent_of=parents.get, daemon_pid=1)
    record = sv.create(caller=None, target=Target())
    spawner.early[5001] = record.id
    assert sv.caller_of(6001) is record
    assert spawner.asked[-1] == [6001, 5001]  # one question for the whole ancestry
    assert sv.caller_of(7000) is None  # an outside caller stays one


def test_children_that_call_at_once_are_known_as_themselves(
    c: RawClient, private_dir: Path
) -> None:
    # A real daemon and keeper: 20 Python targets, started back to back, each creates a process
    # first thing. Each created process must have its creator as parent (Process-K:1). The race
    # itself (a call that comes before the front has read `spawned`) is rare here, as a new
    # connection takes longer than the link; the tests above make it happen on purpose.
    started = []
    for k in range(20):
        out = private_dir / f"calls{k}.json"
        p = create(c, target=ctarget("rpc_calls"), args=[str(out), [["process.create", {}]]])
        start(c, p["id"])
        started.append((p, out))
    for p, out in started:
        assert join(c, p["id"])["exitcode"] == 0
        (created,) = json.loads(out.read_text())
        info = assert_info(created["result"])
        assert (info["parent"], info["name"]) == (p["id"], f"{p['name']}:1"), (p, info)


def test_a_real_keeper_takes_the_early_go(private_dir: Path) -> None:
    async def go() -> None:
        state = private_dir / "state"
        state.mkdir(mode=0o700)
        owner = await KeeperOwner.connect(state, socket_path=None, zygote=False)
        try:
            assert owner.early_go is True  # its welcome said so: the front sends no go
        finally:
            owner.close()  # quit: the keeper ends with the front

    asyncio.run(go())


class _HeldChild:
    """A gated child whose `loaded()` is the keeper letting it through its gate."""

    gated = True

    def __init__(self) -> None:
        self.pid = 4545
        self.through = asyncio.Event()

    async def loaded(self) -> str | None:
        self.through.set()
        return None


class _HeldSpawner:
    """Its spawn returns only when the test says so (a front may go away meanwhile)."""

    def __init__(self) -> None:
        self.called = asyncio.Event()
        self.release = asyncio.Event()
        self.child = _HeldChild()

    async def spawn(self, request: object, on_exit: object) -> _HeldChild:
        self.called.set()
        await self.release.wait()
        return self.child

    def close(self) -> None:
        pass


async def _keeper_with_front(where: Path) -> tuple[Keeper, _HeldSpawner, Link]:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(str(where / "k.sock"))
    listener.listen(1)
    spawner = _HeldSpawner()
    keeper = Keeper(listener, spawner)  # type: ignore[arg-type]
    front_sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    front_sock.connect(str(where / "k.sock"))
    front = Link(front_sock)
    front.send({"op": "hello", "version": LINK_VERSION, "socket": None, "early_go": True})
    assert front.flush()
    front.sock.setblocking(True)
    front.sock.settimeout(10)
    welcome = await asyncio.to_thread(front.receive)
    assert welcome is not None and welcome[0]["early_go"] is True
    request = SpawnRequest(5, "Process-5", "YWI=", Target(), (), {}, Output.NULL, None)
    front.send({"op": "spawn", "request": request_to_dict(request)})
    assert front.flush()
    return keeper, spawner, front


def _close(keeper: Keeper) -> None:
    """What Keeper.close does, less its end of trees (nothing of the test's is the keeper's)."""
    keeper._detach()
    keeper._loop.remove_reader(keeper._listener.fileno())
    keeper._listener.close()


def test_the_keeper_lets_a_target_run_without_a_go(private_dir: Path) -> None:
    async def go() -> None:
        keeper, spawner, front = await _keeper_with_front(private_dir)
        spawner.release.set()
        spawned = await asyncio.to_thread(front.receive)
        assert spawned is not None and spawned[0]["op"] == "spawned"
        await asyncio.wait_for(spawner.child.through.wait(), 10)  # no go was ever sent
        loaded = await asyncio.to_thread(front.receive)
        assert loaded == ({"op": "loaded", "id": 5, "problem": None}, [])
        front.close()
        _close(keeper)

    asyncio.run(go())


def test_a_target_whose_front_left_during_its_spawn_runs_all_the_same(private_dir: Path) -> None:
    # No front will say go, and none knows to: a later front gets it as running, with no gate.
    async def go() -> None:
        keeper, spawner, front = await _keeper_with_front(private_dir)
        await asyncio.wait_for(spawner.called.wait(), 10)  # the spawn is under way
        front.close()

        async def detached() -> None:
            while keeper._link is not None:  # until the keeper reads the front's end
                await asyncio.sleep(0.01)  # poll, within wait_for's deadline

        await asyncio.wait_for(detached(), 10)
        spawner.release.set()
        await asyncio.wait_for(spawner.child.through.wait(), 10)
        _close(keeper)

    asyncio.run(go())
