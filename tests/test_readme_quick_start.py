"""README.md's Quick start, pasted as written: the sh snippet creates, starts and joins a process
against a live daemon, and finds the socket as the daemon does (as root or not, with or without
XDG_RUNTIME_DIR)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from supervisord_lite.paths import default_socket_path
from tests.conftest import REPO, Daemon
from tests.test_wire_support import base_env


def quick_start() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Quick start") :]
    section = section[: section.index("\n## ", 1)]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    assert len(blocks) == 2, "the Quick start has `make run` and then the paste"
    return str(blocks[1])


@pytest.mark.skipif(shutil.which("socat") is None, reason="socat is not installed")
def test_the_paste_creates_starts_and_joins(daemon: Daemon) -> None:
    done = subprocess.run(
        ["sh", "-c", quick_start()],
        env=base_env(SUPERVISORD_LITE_SOCKET=str(daemon.socket_path)),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    started, joined = (json.loads(line) for line in done.stdout.splitlines())
    assert started["id"] == 2 and started["result"]["state"] == "running", started
    # The join waited for the child's second of sleep: socat -t kept the connection for it.
    assert joined["id"] == 3 and joined["result"]["state"] == "exited", joined
    assert joined["result"]["exitcode"] == 3 and joined["result"]["id"] == started["result"]["id"]


@pytest.mark.parametrize(
    ("env", "uid"),
    [
        ({}, 0),
        ({}, 1234),
        ({"XDG_RUNTIME_DIR": "/run/user/1234"}, 1234),
        ({"XDG_RUNTIME_DIR": ""}, 0),
        ({"XDG_RUNTIME_DIR": "/run/user/0", "SUPERVISORD_LITE_SOCKET": "/x/sl.sock"}, 0),
    ],
)
def test_the_paste_finds_the_socket_as_the_daemon_does(
    env: dict[str, str], uid: int, private_dir: Path
) -> None:
    # `id -u` answers `uid`: the root and non-root branches without another user.
    fake = private_dir / "id"
    fake.write_text(f"#!/bin/sh\necho {uid}\n")
    fake.chmod(0o755)
    lines = quick_start().splitlines()
    upto = next(i for i, line in enumerate(lines) if line.startswith("rpc()"))
    script = "\n".join(lines[:upto]) + '\nprintf %s "$sock"\n'
    full = {**base_env(PATH=f"{private_dir}{os.pathsep}{os.environ['PATH']}"), **env}
    got = subprocess.run(["sh", "-c", script], env=full, capture_output=True, text=True, timeout=10)
    assert got.returncode == 0, got.stderr
    assert got.stdout == str(default_socket_path(full, uid))
