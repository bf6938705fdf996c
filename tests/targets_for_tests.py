"""Module-level functions used as `callable` targets by the wire tests ("tests.targets_for_tests:f").

Run in a supervised child: stdlib only, and nothing here runs at import time. Also runnable as a
program (`python -m tests.targets_for_tests rpc OUT CALLS_JSON [...]`) for argv targets.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = str(Path(__file__).resolve().parent.parent)


def _write_json(path: str, value: Any) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(value, f)
    os.replace(tmp, path)  # readers never see half a file


def fail(marker: str) -> None:
    """An exception in the target: exit code 1, traceback on the child's stderr."""
    raise ValueError(f"target failed on purpose: {marker}")


def exit_with(code: int) -> None:
    raise SystemExit(code)


def record(path: str, *args: Any, **kwargs: Any) -> None:
    """Write what the child sees: its arguments, cwd, environment, name, authkey, stdin."""
    proc = multiprocessing.current_process()
    authkey = bytes(proc.authkey)
    _write_json(
        path,
        {
            "args": list(args),
            "kwargs": kwargs,
            "cwd": os.getcwd(),
            "env": dict(os.environ),
            "name": proc.name,
            "authkey_hex": authkey.hex(),
            "authkey_text": authkey.decode("latin-1"),
            "stdin": os.readlink("/proc/self/fd/0"),
            "pid": os.getpid(),
        },
    )


def say(text: str) -> None:
    """Print to stdout and stderr (to see where `output` sends them)."""
    print(f"stdout:{text}", flush=True)
    print(f"stderr:{text}", file=sys.stderr, flush=True)


def sleep_forever(ready: str) -> None:
    """Announce readiness with a file, then wait until the test kills us."""
    Path(ready).touch()
    while True:
        signal.pause()  # until a signal ends us


# ---- calling the daemon from inside a supervised child (caller identity) ----


def _rpc(sock: socket.socket, buf: list[bytes], req: dict[str, Any]) -> Any:
    sock.sendall(json.dumps(req).encode() + b"\n")
    data = buf[0]
    while b"\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError("daemon closed the connection")
        data += chunk
    line, _, buf[0] = data.partition(b"\n")
    return json.loads(line)


def _resolve(params: Any, env: dict[str, Any]) -> Any:
    """Replace placeholders in the top level of params only (nested calls are another script's)."""

    def one(v: Any) -> Any:
        return env[v[1:]] if isinstance(v, str) and v.startswith("$") and v[1:] in env else v

    if isinstance(params, list):
        return [one(v) for v in params]
    if isinstance(params, dict):
        return {k: one(v) for k, v in params.items()}
    return params


def rpc_calls(out: str, calls: list[list[Any]]) -> None:
    """Connect to $SUPERVISORD_LITE_SOCKET and make `calls` ([method, params] each) in order.

    In params, "$SELF" is the id of the supervised process whose pid is ours, "$SUPER" that
    process's `parent`, "$PARENT" the one whose pid is our parent's, "$LAST" the id of the last
    process this script created. Writes the list of whole responses to `out`.
    """
    responses: list[Any] = []
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(20)
            sock.connect(os.environ["SUPERVISORD_LITE_SOCKET"])
            buf = [b""]
            listing = _rpc(sock, buf, {"jsonrpc": "2.0", "id": 0, "method": "process.list"})
            env: dict[str, Any] = {}
            for info in listing.get("result") or []:
                if info["pid"] == os.getpid():
                    env["SELF"] = info["id"]
                    env["SUPER"] = info["parent"]
                if info["pid"] == os.getppid():
                    env["PARENT"] = info["id"]
            for n, (method, params) in enumerate(calls, start=1):
                req = {"jsonrpc": "2.0", "id": n, "method": method, "params": _resolve(params, env)}
                resp = _rpc(sock, buf, req)
                responses.append(resp)
                if method == "process.create" and "result" in resp:
                    env["LAST"] = resp["result"]["id"]
    finally:
        _write_json(out, responses)


def rpc_calls_from_grandchild(out: str, calls: list[list[Any]]) -> None:
    """Run `rpc_calls` in a plain (unsupervised) subprocess of this child, and wait for it."""
    subprocess.run(
        [sys.executable, "-m", "tests.targets_for_tests", "rpc", out, json.dumps(calls)],
        cwd=REPO,
        check=True,
    )


def main(argv: list[str]) -> int:
    if argv[:1] == ["rpc"]:
        rpc_calls(argv[1], json.loads(argv[2]))
        return 0
    print(f"unknown command {argv!r}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
