"""`start | stop | restart NAME...`: program names, or the numeric ids of processes."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from supervisord_lite_client import Client, RemoteError
from supervisord_lite_client.protocol import parse_process_info

from supervisord_lite.ctl.common import OK, REFUSED, UsageError, as_dict, print_json

_PROCESS_METHOD = {"start": "process.start", "stop": "process.terminate"}


def add(sub: Any, parent: argparse.ArgumentParser) -> None:
    for action, text in (
        ("start", "start programs (or created processes, by id)"),
        ("stop", "stop programs (or processes by id: SIGTERM, then SIGKILL after 10 s)"),
        ("restart", "stop then start programs"),
    ):
        p = sub.add_parser(action, parents=[parent], help=text, description=text.capitalize())
        p.add_argument("names", nargs="+", metavar="NAME", help="program names or process ids")
        p.set_defaults(client_command=control, action=action)


def control(args: argparse.Namespace, client: Client) -> int:
    """Each name in turn; one refused does not stop the others, and the exit code says so."""
    failed = False
    for name in args.names:
        try:
            result = _one(client, args.action, name)
        except RemoteError as exc:
            print(f"supervisord-lite: {name}: {exc.message} (error {exc.code})", file=sys.stderr)
            failed = True
            continue
        if args.json:
            print_json(as_dict(result))
        else:
            print(f"{name}: {result.state}")
    return REFUSED if failed else OK


def _one(client: Client, action: str, name: str) -> Any:
    if not name.isdigit():
        return client.program(action, name)
    process_id = int(name)
    if action == "restart":
        raise UsageError(f"{name}: a process starts only once; restart a program by its name")
    params: dict[str, Any] = {"id": process_id}
    if action == "stop":
        params["timeout"] = 10.0
    return parse_process_info(client.call(_PROCESS_METHOD[action], params))
