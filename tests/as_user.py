"""Calls made as another user, for tests/test_security.py: run with a system python3 (any user may
run it) and PYTHONPATH=clients/python (the client has no dependency).

    python3 tests/as_user.py SOCKET DAEMON_UID '[{"call": "process.list"}, {"authenticate": 1,
        "key": "..."}, ...]'

prints one JSON list: {"result": ...} or {"error": code, "message": ...} per step."""

from __future__ import annotations

import json
import sys
from typing import Any

from supervisord_lite_client import Client, RemoteError


def main() -> None:
    sock, daemon_uid, script = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
    out: list[dict[str, Any]] = []
    with Client(sock, daemon_uid=daemon_uid) as c:
        for step in script:
            try:
                if "authenticate" in step:
                    c.authenticate(step["authenticate"], step["key"])
                    out.append({"result": None})
                else:
                    out.append({"result": c.call(step["call"], step.get("params"))})
            except RemoteError as exc:
                out.append({"error": exc.code, "message": exc.message})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
