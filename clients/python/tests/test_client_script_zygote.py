"""A target defined in the caller's `__main__` script, started from a zygote of that script's own
(supervisord_lite.owner.script_zygotes): the same results as re-running the script in every child."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from slc_daemon import Daemon
from slc_helpers import wait_until

SCRIPT = """\
import json, os, sys, time
from supervisord_lite_client import Process

VERSION = {version}
IMPORTED_IN = os.getpid()  # this module's code ran in this very process
HERE = os.path.dirname(os.path.abspath(__file__))
LOG = open(os.path.join(HERE, "log"), "a")  # an fd the import opens: children use it
{extra}

def report(path, n):
    LOG.write(f"{{n}}\\n")
    LOG.flush()
    with open(path, "w") as f:
        json.dump({{"version": VERSION, "imported_here": IMPORTED_IN == os.getpid(),
                   "main": sys.modules["__main__"].__file__}}, f)

if __name__ == "__main__":
    want_warm, limit = sys.argv[1] == "warm", int(sys.argv[2])
    seen, deadline = [], time.monotonic() + 30
    for n in range(limit):
        out = os.path.join(HERE, f"out.{{n}}")
        p = Process(target=report, args=[out, n])
        p.start()
        p.join()
        assert p.exitcode == 0, p.exitcode
        with open(out) as f:
            seen.append(json.load(f))
        warm = [s for s in seen if not s["imported_here"]]
        if want_warm and len(warm) >= 3 or time.monotonic() > deadline:
            break
    print(json.dumps(seen))
"""


def run(daemon: Daemon, directory: Path, mode: str, limit: int, version: int = 1,
        extra: str = "") -> list[dict[str, Any]]:  # fmt: skip
    script = directory / "main_script.py"
    script.write_text(SCRIPT.format(version=version, extra=extra))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPERVISORD_LITE_")}
    env["SUPERVISORD_LITE_SOCKET"] = str(daemon.socket_path)
    done = subprocess.run(
        [sys.executable, str(script), mode, str(limit)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=directory,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    seen: list[dict[str, Any]] = json.loads(done.stdout)
    return seen


def test_a_main_script_gets_a_zygote_of_its_own(daemon: Daemon, tmp_path: Path) -> None:
    seen = run(daemon, tmp_path, "warm", 400)
    # The first starts re-run the script in the child, as before; then its own zygote serves.
    assert seen[0]["imported_here"] is True
    first_warm = next(i for i, s in enumerate(seen) if not s["imported_here"])
    assert first_warm >= 2  # made on the second start, ready some starts later
    assert all(not s["imported_here"] for s in seen[first_warm:])  # and it stays
    assert all(s["version"] == 1 and s["main"] == str(tmp_path / "main_script.py") for s in seen)
    # The fd the script's import opened is the children's too.
    assert (tmp_path / "log").read_text().split() == [str(n) for n in range(len(seen))]


def test_an_edited_script_is_imported_anew(daemon: Daemon, tmp_path: Path) -> None:
    assert all(s["version"] == 1 for s in run(daemon, tmp_path, "warm", 400, version=1))
    # Same path, new contents: its children run the new code, never the first zygote's.
    seen = run(daemon, tmp_path, "warm", 400, version=2)
    assert all(s["version"] == 2 for s in seen)
    assert not seen[-1]["imported_here"]  # a zygote for the new version


def test_a_script_that_starts_a_thread_on_import_gets_no_zygote(
    daemon: Daemon, tmp_path: Path
) -> None:
    # A fork of a process with a thread would copy it stopped halfway (a lock held for ever):
    # that script's children keep re-running it, each in a process of its own.
    thread = (
        "import threading; threading.Thread(target=threading.Event().wait, daemon=True).start()"
    )
    seen = run(daemon, tmp_path, "cold", 8, extra=thread)
    assert len(seen) == 8 and all(s["imported_here"] for s in seen)
    wait_until(lambda: "started a thread" in daemon.log(), timeout=30, what="the zygote's refusal")
