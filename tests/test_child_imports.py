"""What a Python child imports before its target: every module here is memory that each zygote
fork copies page tables for and each child's exit tears down, so the child's side stays small."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.timeout(30)

# The daemon's side, which no child needs: the event loop, the owner's spawners, the wire.
HEAVY = ("asyncio", "subprocess", "ssl", "orjson", "pydantic", "sqlite3",
         "supervisord_lite.owner.python_targets", "supervisord_lite.core.model")  # fmt: skip


@pytest.mark.parametrize(
    "module", ["supervisord_lite.owner.child", "supervisord_lite.owner.zygote"]
)
def test_the_child_and_the_zygote_import_none_of_the_daemons_side(module: str) -> None:
    code = f"import sys, json, {module}; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=20, check=True
    )
    loaded = set(json.loads(done.stdout))
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))
