"""`logs [-f] [-n N] [--stream out|err] NAME|ID`: the last N captured lines of a program (across
its runs) or a process, then, with -f, each new one as it comes; a daemon restart is waited out
and reading goes on from the cursor, so no line is shown twice."""

from __future__ import annotations

import argparse
import sys
import time
from collections import deque
from typing import Any

from supervisord_lite_client import Client, DaemonUnavailable, LogLine, NoSuchProgram

from supervisord_lite.ctl.common import OK, UsageError, as_dict, connect, print_json

RECONNECT_SECONDS = 60.0  # how long -f waits for a restarting daemon before it gives up


def add(sub: Any, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "logs",
        parents=[parent],
        help="a program's or process's captured output",
        description='Captured output (output "log"): the last N lines, then new ones with -f.',
    )
    p.add_argument("-f", "--follow", action="store_true", help="go on printing new lines")
    p.add_argument("-n", "--lines", type=int, default=10, metavar="N", help="default 10")
    p.add_argument("--stream", choices=["out", "err"], help="only stdout or only stderr")
    p.add_argument("target", metavar="NAME|ID", help="a program's name, or a process id or name")
    p.set_defaults(client_command=logs)


def _where(client: Client, target: str) -> dict[str, Any]:
    if target.isdigit():
        return {"process_id": int(target)}
    try:
        client.program("status", target)
        return {"program": target}
    except NoSuchProgram:
        named = [p for p in client.iter_processes() if p.name == target]
        if not named:
            raise
        return {"process_id": named[-1].id}  # the newest of that name


def logs(args: argparse.Namespace, client: Client) -> int:
    if args.lines < 0:
        raise UsageError("logs: -n wants a number of lines, 0 or more")
    stream = {"out": "stdout", "err": "stderr", None: None}[args.stream]
    where = _where(client, args.target)
    reader = client.follow_logs(**where, stream=stream, follow=False)
    tail: deque[LogLine] = deque(maxlen=args.lines)
    tail.extend(reader)  # everything there is now; only the last N are kept
    for line in tail:
        _show(line, args.json)
    if not args.follow or reader.done:
        return OK
    cursor, run_id = reader.cursor, reader.run_id
    while True:
        follower = client.follow_logs(
            run_id, program=where.get("program"), cursor=cursor, stream=stream, follow=True
        )
        try:
            for line in follower:
                _show(line, args.json)
                cursor, run_id = follower.cursor, follower.run_id
            return OK
        except DaemonUnavailable:
            cursor, run_id = follower.cursor, follower.run_id
            client.close()
            client = _reconnect(args)


def _reconnect(args: argparse.Namespace) -> Client:
    deadline = time.monotonic() + RECONNECT_SECONDS
    print("supervisord-lite: the daemon went away; waiting for it to come back", file=sys.stderr)
    while True:
        try:
            return connect(args)
        except DaemonUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)  # a restart takes a moment; asking faster helps nobody


def _show(line: LogLine, as_json: bool) -> None:
    if as_json:
        print_json(as_dict(line))
        return
    out = sys.stdout.buffer
    out.write(line.data)
    if not line.partial:
        out.write(b"\n")
    out.flush()
