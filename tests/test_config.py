"""The config file: what is refused and how it says so, and `serve --config` with programs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from supervisord_lite_client import Client

from supervisord_lite.config.load import BadConfig, load, search_path
from tests.conftest import REPO, launch_daemon, state_dir_of
from tests.ctl_helpers import ctl
from tests.wire import terminate, wait_until


def write(directory: Path, text: str) -> Path:
    path = directory / "config.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('[programs.web]\ncommand = ["x"]\nrestart = "sometimes"\n',
         "programs.web.restart: Input should be 'no', 'on-failure' or 'always' (got 'sometimes')"),
        ('[programs.web]\ncommand = "x"\nrestrat = "always"\n',
         "programs.web.restrat: unknown key; allowed: args, autostart,"),
        ("[programs.web]\nrestart = 'always'\n",
         'programs.web: Value error, give exactly one of "command" (an argv) or "callable"'),
        ('[programs.web]\ncommand = "x"\nstop_signal = "SIGNOPE"\n',
         "programs.web.stop_signal: Value error, unknown signal 'SIGNOPE'"),
        ('[programs.web]\ncommand = "x"\nnumprocs = 0\n', "programs.web.numprocs:"),
        ('[programs.web]\ncommand = "x"\nstart = true\n', "programs.web.start: unknown key"),
        ('[programs."bad name"]\ncommand = "x"\n', "programs.bad name: String should match"),
        ("[daemon]\ngrace = -1\n", "daemon.grace: Input should be greater than or equal to 0"),
        ("[demon]\n", "demon: unknown key; allowed: daemon, programs"),
        ('[programs.web]\ncommand = "x\n', "not valid TOML: "),
    ],
)  # fmt: skip
def test_a_bad_file_names_the_file_the_key_and_what_is_allowed(
    tmp_path: Path, text: str, says: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(BadConfig) as caught:
        load(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert says in str(caught.value)


def test_a_toml_syntax_error_gives_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[daemon]\ngrace = 1\n[programs.web]\ncommand = = "x"\n')
    with pytest.raises(BadConfig, match=r"line 4"):
        load(path)


def test_numprocs_names_instances_and_autostart_is_kept(tmp_path: Path) -> None:
    path = write(tmp_path, '[programs.w]\ncommand = "sleep 9"\nnumprocs = 3\nautostart = false\n'
                 '[programs.one]\ncallable = "os:getpid"\nenv = {A = "b"}\ncwd = "/"\n')  # fmt: skip
    config = load(path)
    assert list(config.programs) == ["w:0", "w:1", "w:2", "one"]
    spec, autostart = config.programs["w:1"]
    assert spec.target.argv == ("sleep", "9") and autostart is False
    one, autostart = config.programs["one"]
    assert one.target.env == {"A": "b"} and one.target.cwd == "/" and autostart is True


def test_the_search_order(tmp_path: Path) -> None:
    env = {"CONFIGURATION_DIRECTORY": str(tmp_path / "sd"), "XDG_CONFIG_HOME": str(tmp_path)}
    paths = search_path(env)
    assert paths[0] == tmp_path / "sd" / "config.toml"
    import os

    last = Path("/etc/supervisord-lite/config.toml") if os.geteuid() == 0 else (
        tmp_path / "supervisord-lite" / "config.toml")  # fmt: skip
    assert paths[-1] == last
    assert search_path({"XDG_CONFIG_HOME": str(tmp_path)})[0] == last


def test_serve_refuses_a_bad_file_and_does_not_start(private_dir: Path) -> None:
    path = write(private_dir, '[programs.web]\ncommand = "x"\nrestart = "sometimes"\n')
    sock = private_dir / "sl.sock"
    out = subprocess.run(
        [sys.executable, "-m", "supervisord_lite", "serve", "--config", str(path),
         "--socket", str(sock), "--state-dir", str(state_dir_of(sock))],
        capture_output=True, text=True, timeout=30, cwd=REPO, check=False,
    )  # fmt: skip
    assert out.returncode == 1
    assert f"{path}: programs.web.restart" in out.stderr
    assert not sock.exists()


def test_serve_runs_the_declared_programs_with_the_files_settings(private_dir: Path) -> None:
    sock = private_dir / "from-config.sock"
    path = write(
        private_dir,
        f'[daemon]\nsocket = "{sock}"\n'
        '[programs.web]\ncommand = ["sh", "-c", "echo serving; exec sleep 60"]\nrestart = "always"\n'
        '[programs.worker]\ncommand = "sleep 60"\nnumprocs = 2\n'
        '[programs.later]\ncommand = "sleep 60"\nautostart = false\n',
    )
    proc = launch_daemon(["--config", str(path)], sock, private_dir / "err")
    try:
        with Client(sock) as c:
            wanted = {"web", "worker:0", "worker:1", "later"}
            wait_until(lambda: {s.name for s in c.list_programs()} == wanted, timeout=20,
                       what="the declared programs")  # fmt: skip
            states = {s.name: s.state for s in c.list_programs()}
            assert states["later"] == "stopped"
            assert all(states[n] in ("starting", "running") for n in ("web", "worker:0"))
            wait_until(lambda: "serving" in ctl(sock, "logs", "web").stdout, timeout=20,
                       what="the program's first line")  # fmt: skip
        status = ctl(sock, "status")
        assert status.returncode == 0 and "worker:1" in status.stdout
    finally:
        terminate(proc)
