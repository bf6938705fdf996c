"""The client subcommands of `supervisord-lite`, each from its own module."""

from __future__ import annotations

import argparse
from typing import Any

from supervisord_lite_client import Client

from supervisord_lite.ctl import control, events, logs, run, status
from supervisord_lite.ctl.common import OK, as_dict, common_options, execute, print_json


def add_commands(sub: Any) -> None:
    parent = common_options()
    status.add(sub, parent)
    control.add(sub, parent)
    run.add(sub, parent)
    logs.add(sub, parent)
    events.add(sub, parent)
    p = sub.add_parser("info", parents=[parent], help="who serves: version, protocol, pid")
    p.set_defaults(client_command=info)


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
