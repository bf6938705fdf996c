"""README's "Quick start with a config file", step by step: its config, then status, a crash that
comes back, and the log of both runs."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from tests.conftest import REPO, launch_daemon
from tests.ctl_helpers import ctl, follower
from tests.wire import terminate, wait_until


def readme_config() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Quick start with a config file") :]
    return section.split("```toml\n", 1)[1].split("```", 1)[0]


def test_the_config_quick_start(private_dir: Path) -> None:
    path = private_dir / "config.toml"
    path.write_text(readme_config())
    sock = private_dir / "sl.sock"
    daemon = launch_daemon(["--socket", str(sock), "--config", str(path)], sock, private_dir / "e")
    try:

        def hello() -> dict[str, object]:
            out = ctl(sock, "status", "--json", "hello")
            assert out.returncode == 0, out.stderr
            return dict(json.loads(out.stdout)[0])

        wait_until(lambda: hello()["pid"] is not None, timeout=20, what="hello to run")
        first = hello()
        assert "hello" in ctl(sock, "status").stdout
        logs = follower("logs", "-f", "--socket", str(sock), "hello")
        with logs:
            assert logs.stdout is not None and logs.stdout.readline() == "started\n"
            os.kill(int(str(first["pid"])), signal.SIGKILL)  # the crash
            wait_until(lambda: hello()["id"] != first["id"] and hello()["pid"] is not None,
                       timeout=20, what="hello to come back")  # fmt: skip
            assert hello()["restarts"] == 1
            assert logs.stdout.readline() == "started\n"  # the new run's, followed on
            logs.send_signal(signal.SIGINT)  # Ctrl-C
            assert logs.wait(timeout=20) == 130
    finally:
        terminate(daemon)
