"""The client subcommands of `supervisord-lite`, each from its own module."""

from __future__ import annotations

import argparse
from typing import Any

from supervisord_lite_client import Client

from supervisord_lite.ctl import control, events, logs, programs, run, status
from supervisord_lite.ctl.common import OK, as_dict, common_options, execute, print_json


def add_commands(sub: Any) -> None:
    parent = common_options()
    status.add(sub, parent)
    control.add(sub, parent)
    programs.add(sub, parent)
    run.add(sub, parent)
    logs.add(sub, parent)
    events.add(sub, parent)
    p = sub.add_parser("info", parents=[parent], help="who serves: version, protocol, pid")
    p.set_defaults(client_command=info)
    p = sub.add_parser(
        "reload",
        parents=[parent],
        help="read the config file again and apply it (as supervisorctl update)",
        description="Adds new programs, removes deleted ones, restarts changed ones and leaves "
        "the others running. A bad file changes nothing (exit code 1, the error says where).",
    )
    p.set_defaults(client_command=reload)


def run_command(args: argparse.Namespace) -> int:
    return execute(args, args.client_command)


def info(args: argparse.Namespace, client: Client) -> int:
    d = client.daemon_info()
    if args.json:
        print_json({**as_dict(d), "socket": client.socket_path})
    else:
        print(f"supervisord-lite {d.version} (protocol {d.protocol_version}), pid {d.pid}, "
              f"on {client.socket_path}")  # fmt: skip
    return OK


def reload(args: argparse.Namespace, client: Client) -> int:
    result = client.reload()
    if args.json:
        print_json(result)
        return OK
    print(f"reloaded {result['config'] or '(no config file)'}")
    for key in ("added", "changed", "removed"):
        if result[key]:
            print(f"{key}: {', '.join(result[key])}")
    return OK
