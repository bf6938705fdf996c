"""The Ray backend against a real two-node Ray cluster on this machine (tests/ray_cluster.py).

One cluster for the whole session (starting one costs seconds and hundreds of MiB) and one daemon
for the tests that only need one. Tests through the daemon speak the wire; the owner's own methods
that nothing on the wire reaches yet (output by offset, reattach, lost) are called directly, from a
driver in this process.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, Daemon, start_daemon, stop_daemon
from tests.ctl_helpers import ctl, follower
from tests.ray_cluster import HEAD_IP, WORKER_IP, RayCluster, _alive
from tests.wire import RawClient, wait_until

ray = pytest.importorskip("ray", reason="the Ray extra is not installed (make test installs it)")

from supervisord_lite.cluster.ray_owner import RayOwner, Survivor  # noqa: E402
from supervisord_lite.core.model import Output, SpawnRequest, Target, TargetKind  # noqa: E402

pytestmark = pytest.mark.timeout(120)

ON_WORKER = {"resources": {"sl_worker": 1}}
ON_HEAD = {"resources": {"sl_head": 1}}


@pytest.fixture(scope="session")
def cluster() -> Iterator[RayCluster]:
    c = RayCluster()
    try:
        c.start()
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module")
def ray_daemon(cluster: RayCluster) -> Iterator[Daemon]:
    with tempfile.TemporaryDirectory(prefix="sl-") as d:
        daemon = start_ray_daemon(Path(d), cluster, "shared")
        yield daemon
        assert stop_daemon(daemon) == 0, daemon.stderr()
        assert "stopped" in daemon.stderr()


def start_ray_daemon(directory: Path, cluster: RayCluster, name: str) -> Daemon:
    args = ("--backend", "ray", "--ray-address", cluster.address, "--ray-name", name)
    return start_daemon(directory, *args, env=cluster.auth_env)


@pytest.fixture
def c(ray_daemon: Daemon) -> Iterator[RawClient]:
    with ray_daemon.client() as client:
        yield client


def run(c: RawClient, target: Any, placement: Any = None, args: Any = ()) -> dict[str, Any]:
    """Create and start; the running ProcessInfo."""
    params: dict[str, Any] = {"target": target, "args": list(args)}
    if placement is not None:
        params["placement"] = placement
    p = c.call("process.create", params)
    return c.call("process.start", {"id": p["id"]})  # type: ignore[no-any-return]


def join(c: RawClient, process_id: int, **more: Any) -> dict[str, Any]:
    return c.call("process.join", {"id": process_id, **more})  # type: ignore[no-any-return]


def test_exit_codes_nodes_and_many_joins(c: RawClient, ray_daemon: Daemon) -> None:
    by_address = run(c, {"argv": ["/bin/true"]}, {"node": WORKER_IP})
    worker = by_address["node"]
    head = join(c, run(c, {"argv": ["/bin/true"]}, ON_HEAD)["id"])
    assert head["exitcode"] == 0 and head["node"] != worker

    seven = run(c, {"argv": ["sh", "-c", "exit 7"]}, ON_WORKER)
    assert seven["node"] == worker and seven["pid"] > 0
    # Several joins at once, on two connections, each answered by the daemon when the actor is.
    with ray_daemon.client() as other:
        for client in (c, other, c):
            client.send({"jsonrpc": "2.0", "id": f"j{id(client)}", "method": "process.join",
                         "params": {"id": seven["id"]}})  # fmt: skip
        answers = [c.recv(), other.recv(), c.recv()]
    for answer in answers:
        assert answer["result"]["exitcode"] == 7 and answer["result"]["state"] == "exited"
    assert join(c, seven["id"])["exitcode"] == 7  # and again, later
    assert c.call_raw("process.start", {"id": seven["id"]})["error"]["code"] == 1002

    sleeper = run(c, {"argv": ["sleep", "300"]}, ON_WORKER)
    waited = join(c, sleeper["id"], timeout=0.1)
    assert waited["state"] == "running" and waited["exitcode"] is None
    c.call("process.kill", {"id": sleeper["id"]})
    assert join(c, sleeper["id"])["exitcode"] == -signal.SIGKILL

    missing = c.call("process.create", {"target": {"argv": ["no-such-program-here"]}})
    assert c.call_raw("process.start", {"id": missing["id"]})["error"]["code"] == 1006
    assert c.call("process.info", {"id": missing["id"]})["state"] == "created"


def test_terminate_reaches_the_grandchild(c: RawClient, tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild"
    script = f"sleep 300 & echo $! > {pidfile}.tmp; mv {pidfile}.tmp {pidfile}; wait"
    p = run(c, {"argv": ["sh", "-c", script]}, ON_WORKER)
    wait_until(pidfile.exists, timeout=30, what="the grandchild's pid")
    grandchild = int(pidfile.read_text())
    assert _alive(grandchild)
    c.call("process.terminate", {"id": p["id"]})
    assert join(c, p["id"])["exitcode"] == -signal.SIGTERM
    wait_until(lambda: not _alive(grandchild), timeout=10, what="the grandchild to be gone")


def test_python_targets_and_their_children(c: RawClient, tmp_path: Path) -> None:
    callable_ = {"callable": "tests.targets_for_tests:exit_with", "sys_path": [str(REPO)]}
    assert join(c, run(c, callable_, ON_WORKER, [7])["id"])["exitcode"] == 7

    bad = c.call("process.create", {"target": {"callable": "no_such_module_here:f"}})
    assert c.call_raw("process.start", {"id": bad["id"]})["error"]["code"] == 1007
    assert join(c, bad["id"])["exitcode"] == 1

    # A process created from inside a child on the worker is that child's child: name, key.
    out = tmp_path / "calls.json"
    calls = [["process.create", {}], ["process.getAuthKey", {"id": "$LAST"}]]
    rpc = {"callable": "tests.targets_for_tests:rpc_calls", "sys_path": [str(REPO)]}
    p = run(c, rpc, ON_WORKER, [str(out), calls])
    assert join(c, p["id"])["exitcode"] == 0
    import json

    created, key = json.loads(out.read_text())
    assert created["result"]["parent"] == p["id"]
    assert created["result"]["name"] == p["name"] + ":1"
    assert key["result"] == c.call("process.getAuthKey", {"id": p["id"]})


def test_logs_and_follow_and_a_front_killed_mid_line_resumes_with_nothing_twice(
    cluster: RayCluster, tmp_path: Path
) -> None:
    """Output "log" of a process on the worker: fetched into the daemon's log, read and followed
    as a local one's; a front killed -9 while half a line is held resumes from before it."""
    go1, go2 = tmp_path / "go1", tmp_path / "go2"
    os.mkfifo(go1)
    os.mkfifo(go2)
    script = (f"echo one; echo two; printf par; read x < {go1}; echo tial; echo err >&2; "
              f"read x < {go2}; echo last")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="sl-") as d:
        first = start_ray_daemon(Path(d), cluster, "logs-wire")
        with first.client() as c:
            p = c.call("process.create", {"target": {"argv": ["sh", "-c", script]},
                                          "placement": ON_WORKER})  # fmt: skip
            c.call("process.start", {"id": p["id"], "output": "log"})
            lines: list[dict[str, Any]] = []
            cursor = 0
            while len(lines) < 2:  # each call waits in the daemon until a line comes
                r = c.call("process.logs", {"id": p["id"], "cursor": cursor, "follow": True,
                                            "timeout": 30})  # fmt: skip
                lines, cursor = lines + r["lines"], r["cursor"]
            assert [(x["stream"], x["text"]) for x in lines] == [
                ("stdout", "one"),
                ("stdout", "two"),
            ]
        first.proc.kill()  # "par" may be held for its newline: it must come once, whole
        first.proc.wait()
        go1.write_text("go\n")  # the child goes on writing while no front runs

        second = start_ray_daemon(Path(d), cluster, "logs-wire")
        with second.client() as c:
            # A follow that waits, woken by a line fetched after it asked.
            seen: list[dict[str, Any]] = []
            while len(seen) < 2:
                r = c.call("process.logs", {"id": p["id"], "cursor": cursor, "follow": True,
                                            "timeout": 30})  # fmt: skip
                seen, cursor = seen + r["lines"], r["cursor"]
            c.send({"jsonrpc": "2.0", "id": "f", "method": "process.logs",
                    "params": {"id": p["id"], "cursor": cursor, "follow": True, "timeout": 30}})  # fmt: skip
            go2.write_text("go\n")
            answer = c.recv()["result"]
            seen += answer["lines"]
            assert join(c, p["id"])["exitcode"] == 0
            everything: list[dict[str, Any]] = []
            r = {"cursor": 0, "done": False}
            while not r["done"]:  # to the log's end: closed once both streams are fetched
                r = c.call("process.logs", {"id": p["id"], "cursor": r["cursor"], "follow": True,
                                            "timeout": 30})  # fmt: skip
                everything += r["lines"]
            # Only stdout: the two streams are fetched side by side, so their order may vary.
            only_out = c.call("process.logs", {"id": p["id"], "stream": "stdout"})
        stop_daemon(second)
    assert sorted((x["stream"], x["text"]) for x in seen) == [
        ("stderr", "err"),
        ("stdout", "last"),
        ("stdout", "partial"),
    ]
    assert [x["text"] for x in only_out["lines"]] == ["one", "two", "partial", "last"]
    assert len(everything) == 5


def test_the_command_line_runs_on_a_node_and_ctrl_c_goes_through_the_daemon(
    ray_daemon: Daemon,
) -> None:
    sock = str(ray_daemon.socket_path)
    out = ctl(ray_daemon, "run", "--resource", "sl_worker=1", "--json", "--",
              "sh", "-c", "echo hi; exit 5")  # fmt: skip
    assert out.returncode == 5 and out.stdout.startswith("hi\n"), out.stderr
    assert json.loads(out.stdout[3:])["node"]  # it ran on a node of the cluster
    # Ctrl-C: the pid is the worker node's, so the daemon is asked (a terminate), not this host.
    script = 'trap "echo got-int; exit 7" INT; echo ready; while :; do sleep 0.05; done'
    with follower("run", "--socket", sock, "--resource", "sl_worker=1", "--",
                  "sh", "-c", script) as proc:  # fmt: skip
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 128 + signal.SIGTERM


@pytest.mark.skipif(shutil.which("socat") is None, reason="socat is not installed")
def test_the_shell_client_places_a_process(ray_daemon: Daemon) -> None:
    from tests.test_shell_client import run as shell_run

    done = shell_run(ray_daemon.socket_path, "sh", "-c", "exit 7", placement=json.dumps(ON_WORKER))
    assert done.returncode == 0 and "exitcode 7" in done.stdout, done.stderr
    assert '"node":"' in done.stdout  # ProcessInfo names the node it ran on


def test_bad_placements_are_refused_and_cost_nothing(c: RawClient) -> None:
    for placement, word in [
        ({"resources": {"no_such_resource": 1}}, "no_such_resource"),
        ({"node": "10.9.8.7"}, "10.9.8.7"),
        ({"resources": {"sl_worker": 1000}}, "fewer resources"),
        ({"node": HEAD_IP, "resources": {"sl_worker": 1}}, "fewer resources"),
    ]:
        error = c.call_raw("process.create", {"placement": placement})["error"]
        assert error["code"] == 1020 and word in error["message"], error
    assert join(c, run(c, {"argv": ["/bin/true"]}, ON_HEAD)["id"])["exitcode"] == 0


def test_the_seed_example_prints_on_the_callers_terminal(
    ray_daemon: Daemon, tmp_path: Path
) -> None:
    """The Python client passes its own stdout/stderr: the actor's output comes back to them,
    and a function pickled from the caller's __main__ runs on the node (same paths there)."""
    script = tmp_path / "seed.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys
            from supervisord_lite_client import Process

            def f(name):
                print('Hello', name)
                print('to stderr', file=sys.stderr)

            if __name__ == '__main__':
                p = Process(target=f, args=['Bob'])
                p.start()
                p.join()
                print('exitcode', p.exitcode)
            """
        )
    )
    env = {**os.environ, "SUPERVISORD_LITE_SOCKET": str(ray_daemon.socket_path)}
    env = {k: v for k, v in env.items() if not k.startswith("RAY_")}  # a plain client
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, env=env, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode() == "Hello Bob\nexitcode 0\n"
    assert done.stderr.decode() == "to stderr\n"


def test_the_python_client_places_a_process_and_sees_its_node(
    c: RawClient, ray_daemon: Daemon
) -> None:
    from supervisord_lite_client import BadPlacement, Client, Process

    worker = join(c, run(c, {"argv": ["/bin/true"]}, {"node": WORKER_IP})["id"])["node"]
    with Client(str(ray_daemon.socket_path)) as client:
        p = Process(target=["sh", "-c", "exit 3"], placement=ON_WORKER, client=client)
        p.start(output="null")
        p.join()
        assert (p.exitcode, p.node) == (3, worker)
        with pytest.raises(BadPlacement):
            Process(target=["true"], placement={"resources": {"sl_nowhere": 1}}, client=client)


def test_stdio_mode_keeps_stdout_for_the_protocol(cluster: RayCluster) -> None:
    """Ray's driver prints raylet warnings to sys.stdout: with --stdio that is the protocol."""
    import json

    requests = [
        {"jsonrpc": "2.0", "id": 1, "method": "process.create",
         "params": {"target": {"argv": ["sh", "-c", "exit 4"]}, "placement": ON_HEAD}},
        {"jsonrpc": "2.0", "id": 2, "method": "process.start", "params": {"id": 1}},
        {"jsonrpc": "2.0", "id": 3, "method": "process.join", "params": {"id": 1}},
    ]  # fmt: skip
    serve = ["serve", "--stdio", "--backend", "ray", "--ray-address", cluster.address]
    proc = subprocess.Popen(
        [sys.executable, "-m", "supervisord_lite", *serve, "--ray-name", "stdio"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=REPO,
        env={**os.environ, **cluster.auth_env},
    )
    assert proc.stdin is not None and proc.stdout is not None
    answers = []
    for req in requests:  # one at a time: the join is sent once the start has been answered
        proc.stdin.write(json.dumps(req).encode() + b"\n")
        proc.stdin.flush()
        answers.append(json.loads(proc.stdout.readline()))  # every line is the protocol's
    proc.stdin.close()
    assert proc.wait(timeout=60) == 0
    assert proc.stdout.read() == b""
    proc.stdout.close()
    assert answers[2]["result"]["exitcode"] == 4 and answers[2]["result"]["node"]


# -- the owner's own methods, from a driver in this process ----------------------------------


@pytest.fixture(scope="module")
def driver(cluster: RayCluster) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        for key, value in cluster.auth_env.items():
            mp.setenv(key, value)
        # Ray read its auth settings when it was imported: its own tests' way to read them again.
        from ray._private.authentication_test_utils import reset_auth_token_state

        reset_auth_token_state()
        ray.init(address=cluster.address, log_to_driver=False, logging_level="WARNING")
        yield
        ray.shutdown()


def request(process_id: int, argv: list[str], placement: Any = None) -> SpawnRequest:
    from supervisord_lite.core.model import Placement

    return SpawnRequest(
        process_id=process_id,
        name=f"Process-{process_id}",
        authkey="00",
        target=Target(TargetKind.ARGV, argv=tuple(argv)),
        args=(),
        kwargs={},
        output=Output.DAEMON,
        fds=None,
        placement=None if placement is None else Placement(None, placement),
    )


def with_owner(cluster: RayCluster, name: str, body: Callable[[RayOwner], Any], **kw: Any) -> Any:
    """Run `await body(owner)` in a fresh event loop; the owner's actors go afterwards."""

    async def main() -> Any:
        logs = str(cluster.dir / "logs")  # gone with the cluster, even a dead node's
        o = RayOwner(address=cluster.address, name=name, socket_path=None, log_dir=logs, **kw)
        try:
            return await body(o)
        finally:
            await asyncio.gather(*(o.release(process_id) for process_id in list(o.children)))
            o.close()

    return asyncio.run(main())


def on_exits() -> tuple[dict[int, asyncio.Future[int]], Callable[[int], Callable[[int], None]]]:
    """`on_exit(process_id)` callbacks whose exit codes land in futures, by process id."""
    futures: dict[int, asyncio.Future[int]] = {}
    loop = asyncio.get_running_loop()

    def on_exit(process_id: int) -> Callable[[int], None]:
        futures[process_id] = loop.create_future()
        return futures[process_id].set_result

    return futures, on_exit


def test_output_by_offset_and_follow(cluster: RayCluster, driver: None, tmp_path: Path) -> None:
    go = tmp_path / "go"
    os.mkfifo(go)
    script = f"echo one; echo two >&2; read x < {go}; echo three"

    async def body(o: RayOwner) -> None:
        futures, on_exit = on_exits()
        child = await o.spawn(request(1, ["sh", "-c", script], {"sl_worker": 1}), on_exit(1))
        assert await child.loaded() is None
        first = await o.read_output(1, "stdout", 0, wait=True)
        assert (first.data, first.next_offset, first.ended) == (b"one\n", 4, False)
        assert (await o.read_output(1, "stderr", 0, wait=True)).data == b"two\n"
        follow = asyncio.ensure_future(o.read_output(1, "stdout", 4, wait=True))
        await asyncio.to_thread(go.write_text, "go\n")
        more = await follow
        assert (more.data, more.next_offset) == (b"three\n", 10)
        assert await futures[1] == 0
        end = await o.read_output(1, "stdout", 10, wait=True)  # answered: the stream has ended
        assert (end.data, end.ended) == (b"", True)
        assert (await o.read_output(1, "stdout", 2, limit=3)).data == b"e\nt"

    with_owner(cluster, "logs", body)


def test_a_new_front_finds_running_processes_and_exit_statuses(
    cluster: RayCluster, driver: None, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    os.mkfifo(go)
    with tempfile.TemporaryDirectory(prefix="sl-") as d:
        first = start_ray_daemon(Path(d), cluster, "phoenix")
        with first.client() as c:
            p1 = run(c, {"argv": ["sleep", "300"]}, ON_WORKER)
            p2 = run(c, {"argv": ["sh", "-c", f"read x < {go}; exit 3"]}, ON_HEAD)
        first.proc.kill()  # the front dies; its processes do not
        first.proc.wait()
        go.write_text("go\n")  # p2 ends while no front runs

        second = start_ray_daemon(Path(d), cluster, "phoenix")
        with second.client() as c:
            # The records are back: the running one under its id, pid and node; the one that
            # ended while no front ran, with its exit code (from its actor, then stored).
            back = {p["id"]: p for p in c.call("process.list")}
            assert (back[p1["id"]]["state"], back[p1["id"]]["pid"]) == ("running", p1["pid"])
            assert back[p1["id"]]["node"] == p1["node"]
            assert (back[p2["id"]]["state"], back[p2["id"]]["exitcode"]) == ("exited", 3)
            # After a crash, numbering goes on past every id ever reserved (none is reused).
            assert c.call("process.create", {})["id"] > p2["id"]
        stop_daemon(second)  # a clean stop leaves the cluster's processes running

    async def body(o: RayOwner) -> None:
        futures, on_exit = on_exits()
        survivors: list[Survivor] = await o.reattach(on_exit)
        # p2's exit was stored by the second front, which then let its actor go; p1 runs on.
        assert [(s.process_id, s.pid, s.exitcode) for s in survivors] == [
            (p1["id"], p1["pid"], None),
        ]
        running = survivors[0].child
        assert running is not None and running.node == p1["node"]
        running.signal(signal.SIGKILL)
        assert await futures[p1["id"]] == -signal.SIGKILL

    with_owner(cluster, "phoenix", body)


def _actor_state(o: RayOwner, process_id: int) -> Any:
    from ray.util.state import list_actors

    return [(a.state, a.death_cause) for a in list_actors(
        filters=[("name", "=", o.actor_name(process_id))], detail=True)]  # fmt: skip


@pytest.mark.timeout(240)  # on a loaded machine Ray takes its time to call a node dead
def test_a_node_that_dies_turns_its_processes_lost(cluster: RayCluster, driver: None) -> None:
    doomed_ip = "127.0.0.4"
    cluster.add_node(doomed_ip, '{"sl_doomed": 100}')

    async def body(o: RayOwner) -> tuple[int, str]:
        _, on_exit = on_exits()
        child = await o.spawn(request(1, ["sleep", "300"], {"sl_doomed": 1}), on_exit(1))
        assert await child.loaded() is None
        unwatched = await o.spawn(request(2, ["sleep", "300"], {"sl_doomed": 1}), on_exit(2))
        assert await unwatched.loaded() is None
        unwatched.stop_watching()  # as if its front were down when the node dies
        cluster.kill(cluster.pids(f"={doomed_ip} ", f"={doomed_ip}\0"))  # the node, all of it
        try:
            process_id, reason = await asyncio.wait_for(lost, 120)
        except TimeoutError:
            raise AssertionError(f"no loss reported; the child says {child.lost_reason!r}, "
                                 f"its actor {await asyncio.to_thread(_actor_state, o, 1)}") from None  # fmt: skip
        assert child.lost_reason == reason

        # A front that comes later finds out from Ray's record of the actor (its death cause).
        later = RayOwner(address=cluster.address, name="lost", socket_path=None)
        survivors: list[Survivor] = []

        async def both_lost() -> None:
            while len(survivors) < 2:
                survivors[:] = await later.reattach(on_exit)
                await asyncio.sleep(0.2)  # poll Ray's record with a deadline (wait_for below)

        await asyncio.wait_for(both_lost(), 60)
        assert [(s.process_id, s.exitcode, s.child) for s in survivors] == [
            (1, None, None),
            (2, None, None),
        ]
        assert all("died" in (s.lost_reason or "") for s in survivors), survivors
        return process_id, reason

    lost: asyncio.Future[tuple[int, str]]

    def on_lost(process_id: int, reason: str) -> None:
        lost.set_result((process_id, reason))

    async def wrapped(o: RayOwner) -> tuple[int, str]:
        nonlocal lost
        lost = asyncio.get_running_loop().create_future()
        return await body(o)

    process_id, reason = with_owner(cluster, "lost", wrapped, on_lost=on_lost)
    assert process_id == 1 and "died" in reason, reason
