"""`add NAME [options] -- CMD...` and `remove NAME`: programs by hand, without a config file (a
reload never touches them)."""

from __future__ import annotations

import argparse
from typing import Any

from supervisord_lite_client import Client, Command

from supervisord_lite.ctl.common import OK, as_dict, command_after_dashes, env_pairs, print_json


def add(sub: Any, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "add",
        parents=[parent],
        help="add a program (kept running by its restart policy) and start it",
        description="program.add of an argv: the daemon keeps it running by its restart policy. "
        "Options go before NAME: add [--restart always] NAME -- CMD...",
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument("--restart", choices=["no", "on-failure", "always"], default="on-failure")
    p.add_argument("--env", action="append", default=[], metavar="K=V", help="repeatable")
    p.add_argument("--cwd", metavar="DIR")
    p.add_argument("--no-start", dest="start", action="store_false", help="add it stopped")
    p.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- CMD...", help="what it runs")
    p.set_defaults(client_command=add_program)
    r = sub.add_parser("remove", parents=[parent], help="stop a program and forget it")
    r.add_argument("names", nargs="+", metavar="NAME")
    r.set_defaults(client_command=remove_program)


def add_program(args: argparse.Namespace, client: Client) -> int:
    argv = command_after_dashes(args, "add", "add web -- CMD")
    env = env_pairs(args.env, "add")
    status = client.add_program(
        args.name, Command(argv, env=env or None, cwd=args.cwd), restart=args.restart,
        start=args.start,
    )  # fmt: skip
    if args.json:
        print_json(as_dict(status))
    else:
        print(f"{status.name}: {status.state}")
    return OK


def remove_program(args: argparse.Namespace, client: Client) -> int:
    for name in args.names:
        client.remove_program(name)
        if not args.json:
            print(f"{name}: removed")
    if args.json:
        print_json({"removed": args.names})
    return OK
