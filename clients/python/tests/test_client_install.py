"""The client installed as users install it: a wheel built here, and `pip install` of the source
directory from elsewhere, each into a fresh venv that has nothing else, then used from outside the
repository against a real daemon."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from slc_daemon import Daemon

SOURCE = Path(__file__).resolve().parent.parent  # clients/python
PACKAGE = SOURCE / "supervisord_lite_client"

SEED = """\
import supervisord_lite_client, supervisord_lite_client.aio
from supervisord_lite_client import Process

def f(name):
    print('Hello', name)

if __name__ == '__main__':
    print(supervisord_lite_client.__file__)
    p = Process(target=f, args=['Bob'])
    p.start()
    p.join()
"""


def pip(*args: str, cwd: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
        cwd=cwd, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def fresh_venv(where: Path) -> Path:
    """A venv with nothing in it, not even pip (the outer pip installs into it with --python)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    return where / "bin" / "python"


def run_seed(python: Path, directory: Path, daemon: Daemon) -> str:
    (directory / "seed.py").write_text(SEED)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPERVISORD_LITE_", "PYTHON"))}
    env["SUPERVISORD_LITE_SOCKET"] = str(daemon.socket_path)
    done = subprocess.run(
        [str(python), "seed.py"], cwd=directory, env=env,
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.timeout(240)
def test_a_wheel_built_here_runs_the_seed_from_a_fresh_venv(daemon: Daemon, tmp_path: Path) -> None:
    # Built from a clean copy: a build/ left in the source tree by an earlier build could ship
    # modules that are gone.
    src = tmp_path / "src"
    shutil.copytree(SOURCE, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "tests",
                                                               "__pycache__"))  # fmt: skip
    pip("wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"), str(src),
        cwd=tmp_path)  # fmt: skip
    (wheel,) = (tmp_path / "dist").glob("supervisord_lite_client-*.whl")
    with zipfile.ZipFile(wheel) as z:
        shipped = {n for n in z.namelist() if n.startswith("supervisord_lite_client/")}
    expected = {f"supervisord_lite_client/{p.name}" for p in PACKAGE.glob("*.py")}
    assert shipped == expected | {"supervisord_lite_client/py.typed"}
    python = fresh_venv(tmp_path / "venv")
    pip("--python", str(python), "install", "--no-index", "--no-deps", str(wheel), cwd=tmp_path)
    out = run_seed(python, tmp_path, daemon).splitlines()
    assert out[0].startswith(str(tmp_path / "venv")), out  # the installed copy, not the repo's
    assert out[1:] == ["Hello Bob"]


@pytest.mark.timeout(240)
def test_pip_install_of_the_source_directory_from_outside_the_repo(
    daemon: Daemon, tmp_path: Path
) -> None:
    # What a user types: pip install path/to/clients/python (its build backend comes from the
    # package index into an isolated build environment, as for any source install).
    python = fresh_venv(tmp_path / "venv")
    pip("--python", str(python), "install", os.path.relpath(SOURCE, tmp_path), cwd=tmp_path)
    out = run_seed(python, tmp_path, daemon).splitlines()
    assert out[0].startswith(str(tmp_path / "venv")), out
    assert out[1:] == ["Hello Bob"]
