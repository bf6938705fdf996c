"""`run [--name N] [--env K=V] [--cwd DIR] [--node N] [--resource R=X] -- CMD...`: one process, created, started with the
caller's own stdout and stderr, and joined; the caller's SIGINT and SIGTERM reach it, and its exit
code is ours (128+N for signal N, as a shell says). The one line an ExecStart=, a cron job or a
Makefile needs."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from types import FrameType
from typing import Any

from supervisord_lite_client import Client, SupervisordLiteError
from supervisord_lite_client.calls import output_fds
from supervisord_lite_client.protocol import ProcessInfo, parse_process_info

from supervisord_lite.ctl.common import (
    REFUSED,
    UsageError,
    as_dict,
    command_after_dashes,
    connect,
    env_pairs,
    print_json,
)


def add(sub: Any, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "run",
        parents=[parent],
        help="run one command under the daemon, with this terminal's output, and wait for it",
        description="Create, start and join a process with the caller's stdout and stderr. "
        "SIGINT and SIGTERM are passed on to it; the exit code is its own, or 128+N when "
        "signal N ended it. The record is released at the end.",
    )
    p.add_argument("--name", help="the process's name (default: Process-N)")
    p.add_argument("--env", action="append", default=[], metavar="K=V", help="repeatable")
    p.add_argument("--cwd", metavar="DIR", help="its working directory")
    p.add_argument("--node", help="on a cluster (serve --backend ray): this node's id or address")
    p.add_argument(
        "--resource",
        action="append",
        default=[],
        metavar="NAME=N",
        help="on a cluster: reserve N of this resource, as the cluster names it (repeatable)",
    )
    p.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- CMD...", help="what to run")
    p.set_defaults(client_command=run)


def exit_code(info: ProcessInfo) -> int:
    if info.exitcode is None:  # lost: the daemon lost its hold on it, its status is unknown
        return REFUSED
    return info.exitcode if info.exitcode >= 0 else 128 - info.exitcode


def _target(args: argparse.Namespace) -> dict[str, Any]:
    argv = command_after_dashes(args, "run", "run -- make test")
    env = env_pairs(args.env, "run")
    target: dict[str, Any] = {"argv": argv}
    if env:
        target["env"] = env
    target["cwd"] = os.path.abspath(args.cwd or os.getcwd())
    return target


def _placement(args: argparse.Namespace) -> dict[str, Any] | None:
    resources: dict[str, float] = {}
    for item in args.resource:
        name, sep, amount = item.partition("=")
        try:
            resources[name] = float(amount)
        except ValueError:
            sep = ""
        if not sep or not name:
            raise UsageError(f"run: --resource {item!r} is not NAME=N (N a number)")
    if args.node is None and not resources:
        return None
    return {"node": args.node, "resources": resources}


def run(args: argparse.Namespace, client: Client) -> int:
    params: dict[str, Any] = {"target": _target(args)}
    if args.name is not None:
        params["name"] = args.name
    if (placement := _placement(args)) is not None:
        params["placement"] = placement
    created = parse_process_info(client.call("process.create", params))
    # A second connection, made now, for the signals: a handler runs while the first one waits
    # in its join, and must not need that connection.
    with connect(args) as signaller:
        forward = _Forwarder(signaller, created.id)
        previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            fds = output_fds()
            start: dict[str, Any] = {"id": created.id, "output": "passed" if fds else "null"}
            started = parse_process_info(client.call("process.start", start, fds=fds or ()))
            # A pid on a cluster node is not a pid here: only the daemon can signal it.
            forward.pid = started.pid if started.node is None else -1
            if forward.pending is not None:  # a signal came before it had a pid
                forward(forward.pending, None)
            ended = parse_process_info(client.call("process.join", {"id": created.id}))
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
    with contextlib.suppress(SupervisordLiteError):
        client.release(created.id)
    if args.json:
        print_json(as_dict(ended))
    if ended.exitcode is None:
        print(f"supervisord-lite: {ended.name} was lost: its exit status is unknown",
              file=sys.stderr)  # fmt: skip
    return exit_code(ended)


class _Forwarder:
    """SIGTERM goes through the daemon (process.terminate: the whole tree, as a stop does);
    SIGINT is sent as SIGINT to the child's process group, as a terminal's Ctrl-C is to a
    foreground job, when this user may signal it (else it is a terminate too, as it is for a
    process on a cluster node, whose pid means nothing on this host)."""

    def __init__(self, client: Client, process_id: int) -> None:
        self.client = client
        self.process_id = process_id
        self.pid: int | None = None
        self.pending: int | None = None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.pid is None:
            self.pending = signum
            return
        if signum == signal.SIGINT and self.pid > 0:
            with contextlib.suppress(OSError):
                pgid = os.getpgid(self.pid)
                if pgid == self.pid:
                    os.killpg(pgid, signal.SIGINT)
                else:
                    os.kill(self.pid, signal.SIGINT)
                return
        with contextlib.suppress(SupervisordLiteError):
            self.client.call("process.terminate", {"id": self.process_id})
