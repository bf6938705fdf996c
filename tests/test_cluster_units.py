"""The cluster backend's parts that need no cluster: placement rules, the node-side actor run in
this process (no Ray), and what the daemon says when Ray is missing or a placement cannot be had."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from supervisord_lite.cluster.actor import ProcessActor
from supervisord_lite.cluster.placement import Node, actor_options, resolve
from supervisord_lite.core.errors import BadPlacement
from supervisord_lite.core.model import Placement
from tests.conftest import REPO, start_daemon, stop_daemon
from tests.wire import RawClient, wait_until

NODES = [
    Node("aa11", "10.0.0.1", True, {"CPU": 4.0, "gpu_box": 1.0, "memory": 1e9}),
    Node("bb22", "10.0.0.2", True, {"CPU": 2.0, "GPU": 1.0}),
    Node("cc33", "10.0.0.3", False, {"CPU": 64.0, "dead_only": 1.0}),
]


def test_a_placement_pins_a_live_node_by_id_or_address() -> None:
    assert resolve(Placement(), NODES) is None
    assert resolve(Placement(node="bb22"), NODES) == "bb22"
    assert resolve(Placement(node="10.0.0.1", resources={"CPU": 4}), NODES) == "aa11"
    assert resolve(Placement(resources={"GPU": 1}), NODES) is None  # anywhere it fits


@pytest.mark.parametrize(
    ("placement", "words"),
    [
        (Placement(node="cc33"), "no live node is 'cc33'"),  # dead nodes do not count
        (Placement(node="10.9.9.9"), "aa11 (10.0.0.1)"),  # the message lists the live ones
        (Placement(resources={"dead_only": 1}), "no node of the cluster has the resource"),
        (Placement(resources={"CPU": 8}), "any node has fewer resources in total"),
        (Placement(node="aa11", resources={"GPU": 1}), "that node has fewer resources"),
    ],
)
def test_a_placement_no_node_can_take_is_refused(placement: Placement, words: str) -> None:
    with pytest.raises(BadPlacement, match=words.replace("(", r"\(").replace(")", r"\)")):
        resolve(placement, NODES)


def test_two_nodes_on_one_address_need_an_id() -> None:
    twins = [Node("x1", "10.0.0.9", True, {}), Node("x2", "10.0.0.9", True, {})]
    with pytest.raises(BadPlacement, match="give one of their ids: x1, x2"):
        resolve(Placement(node="10.0.0.9"), twins)


def test_resources_become_ray_options_and_reserve_no_cpu_by_default() -> None:
    assert actor_options(None) == {"num_cpus": 0}
    assert actor_options(Placement(resources={"CPU": 2, "GPU": 0.5, "memory": 1e6, "x": 1})) == {
        "num_cpus": 2,
        "num_gpus": 0.5,
        "memory": 1e6,
        "resources": {"x": 1},
    }


# -- the node side, without Ray -------------------------------------------------------------


def spec(how: str, argv: tuple[str, ...] = (), **child: Any) -> dict[str, Any]:
    base = {"name": "Process-1", "authkey": "YWI=", "kind": "none", "ref": None, "payload": None,
            "main_path": None, "sys_path": [str(REPO)], "args": [], "kwargs": {}, "env": {},
            "cwd": None}  # fmt: skip
    return {
        "kind": how,
        "argv": list(argv),
        "env": {"SUPERVISORD_LITE_SOCKET": None},
        "cwd": None,
        "output": "keep",
        "child": {**base, **child} if how == "python" else None,
    }


def test_the_actor_holds_an_argv_child_at_its_gate_then_reports_its_exit(tmp_path: Path) -> None:
    async def main() -> None:
        actor = ProcessActor("units", 1, str(tmp_path / "logs"))
        started = await actor.start(spec("argv", ("sh", "-c", "echo out; echo err >&2; exit 7")))
        assert started["pid"] > 0
        assert (await actor.read("stdout", 0, 100, False))[0] == b""  # held at the gate
        assert await actor.go() is None
        assert await actor.wait() == 7
        assert (await actor.read("stdout", 0, 100, True))[:2] == (b"out\n", 4)
        assert await actor.read("stdout", 4, 100, True) == (b"", 4, True)  # waits for the EOF
        assert (await actor.read("stderr", 0, 100, True))[0] == b"err\n"
        assert actor.status() == {"pid": started["pid"], "exitcode": 7, "node": actor.node}
        actor.release()
        assert not (tmp_path / "logs" / "units").exists()

    asyncio.run(main())


def test_the_actor_signals_the_whole_group_and_loads_python_targets(tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild"

    async def main() -> None:
        actor = ProcessActor("units", 2, str(tmp_path / "logs"))
        script = f"sleep 300 & echo $! > {pidfile}.t; mv {pidfile}.t {pidfile}; wait"
        await actor.start(spec("argv", ("sh", "-c", script)))
        await actor.go()
        await asyncio.to_thread(wait_until, pidfile.exists, timeout=10, what="the grandchild")
        actor.signal(signal.SIGTERM)
        assert await actor.wait() == -signal.SIGTERM
        grandchild = int(pidfile.read_text())
        await asyncio.to_thread(
            wait_until, lambda: not _running(grandchild), timeout=10, what="the grandchild to go"
        )

        python = ProcessActor("units", 3, str(tmp_path / "logs"))
        await python.start(spec("python", kind="callable", ref="tests.targets_for_tests:exit_with",
                                args=[5]))  # fmt: skip
        assert await python.go() is None
        assert await python.wait() == 5

        broken = ProcessActor("units", 4, str(tmp_path / "logs"))
        await broken.start(spec("python", kind="callable", ref="no_such_module_here:f"))
        assert "ModuleNotFoundError" in (await broken.go() or "")
        assert await broken.wait() == 1

        missing = ProcessActor("units", 5, str(tmp_path / "logs"))
        assert (
            "cannot start 'no-such-program-here'"
            in (await missing.start(spec("argv", ("no-such-program-here",))))["error"]
        )

    asyncio.run(main())


def test_the_actor_keeps_output_only_in_a_private_directory(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)

    async def main() -> None:
        actor = ProcessActor("units", 6, str(shared))
        refused = await actor.start(spec("argv", ("true",)))
        assert "is not private" in refused["error"] and actor.pid is None
        shared.chmod(0o700)
        assert (await actor.start(spec("argv", ("true",))))["pid"] > 0
        await actor.go()
        assert await actor.wait() == 0
        assert oct((shared / "units").stat().st_mode & 0o777) == "0o700"
        assert oct((shared / "units" / "6" / "stdout").stat().st_mode & 0o777) == "0o600"

    asyncio.run(main())


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
    except OSError:
        return False
    return state != b"Z"


# -- what the daemon says ---------------------------------------------------------------------


def serve(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    sock = tmp_path / "sl.sock"
    return subprocess.run(
        [sys.executable, "-m", "supervisord_lite", "serve", "--socket", str(sock), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        timeout=60,
        check=False,
    )


def test_without_ray_the_daemon_names_the_extra_to_install(tmp_path: Path) -> None:
    fake = tmp_path / "site" / "ray"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError(\"No module named 'ray'\")\n")
    done = serve(tmp_path, "--backend", "ray", "--ray-address", "127.0.0.2:9",
                 env={"PYTHONPATH": str(fake.parent)})  # fmt: skip
    assert done.returncode == 1
    assert "pip install 'supervisord-lite[ray]'" in done.stderr
    assert not (tmp_path / "sl.sock").exists()  # nothing left behind


def test_the_ray_backend_needs_an_address_where_a_cluster_listens(tmp_path: Path) -> None:
    done = serve(tmp_path, "--backend", "ray")
    assert done.returncode == 1 and "--ray-address HOST:PORT" in done.stderr
    if importlib.util.find_spec("ray") is None:
        pytest.skip("the Ray extra is not installed")
    with socket.socket() as unused:  # a port on which nothing listens
        unused.bind(("127.0.0.2", 0))
        address = "{}:{}".format(*unused.getsockname())
    done = serve(tmp_path, "--backend", "ray", "--ray-address", address)
    assert done.returncode == 1 and f"cannot reach the Ray cluster at {address}" in done.stderr
    assert not (tmp_path / "sl.sock").exists()


def test_the_config_file_chooses_the_backend_and_its_address(tmp_path: Path) -> None:
    """`[daemon] backend, ray_address, ray_name` as the options; an option given wins."""
    fake = tmp_path / "site" / "ray"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError(\"No module named 'ray'\")\n")
    no_ray = {"PYTHONPATH": str(fake.parent)}
    config = tmp_path / "sl.toml"
    config.write_text('[daemon]\nbackend = "ray"\n')
    done = serve(tmp_path, "--config", str(config), env=no_ray)
    assert done.returncode == 1 and "--ray-address HOST:PORT" in done.stderr  # the backend came
    config.write_text('[daemon]\nbackend = "ray"\nray_address = "127.0.0.2:9"\nray_name = "n"\n')
    done = serve(tmp_path, "--config", str(config), env=no_ray)
    assert done.returncode == 1 and "supervisord-lite[ray]" in done.stderr  # and the address
    # --backend local wins over the file: this one serves.
    local = start_daemon(tmp_path, "--config", str(config), "--backend", "local", env=no_ray)
    with local.client() as c:
        assert c.call("daemon.info")["pid"] == local.proc.pid
    assert stop_daemon(local) == 0, local.stderr()
    config.write_text('[daemon]\nbackend = "slurm"\n')
    done = serve(tmp_path, "--config", str(config), env=no_ray)
    assert done.returncode == 1 and "daemon.backend" in done.stderr and "'ray'" in done.stderr


def test_a_local_daemon_refuses_placements_and_has_no_node(c: RawClient) -> None:
    error = c.call_raw("process.create", {"placement": {"resources": {"CPU": 1}}})["error"]
    assert error["code"] == 1020 and "--backend ray" in error["message"]
    bad = c.call_raw("process.create", {"placement": {"resources": {"CPU": -1}}})["error"]
    assert bad["code"] == -32602
    p = c.call("process.create", {"target": {"argv": ["true"]}})
    assert "node" not in p and "node" not in c.call("process.start", {"id": p["id"]})
