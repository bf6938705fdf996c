"""`supervisord-lite serve [--socket PATH] [--stdio]`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from supervisord_lite import __version__, logs
from supervisord_lite.paths import default_socket_path
from supervisord_lite.transport.framing import DEFAULT_LIMIT
from supervisord_lite.transport.unix import AlreadyServing


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="supervisord-lite",
        description="A daemon that owns processing-style Process objects, over JSON-RPC 2.0.",
    )
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the daemon in the foreground")
    serve.add_argument(
        "--socket",
        type=Path,
        help="socket path (default: $SUPERVISORD_LITE_SOCKET, else "
        "$XDG_RUNTIME_DIR/supervisord-lite/sock, /run/supervisord-lite/sock for root, "
        "/tmp/supervisord-lite-$UID/sock otherwise)",
    )
    serve.add_argument("--stdio", action="store_true", help="serve one client on stdin/stdout")
    serve.add_argument(
        "--grace",
        type=float,
        default=5.0,
        help="seconds children get after SIGTERM at shutdown before SIGKILL (default 5)",
    )
    serve.add_argument(
        "--max-message",
        type=int,
        default=DEFAULT_LIMIT,
        help=f"largest message accepted, in bytes (default {DEFAULT_LIMIT})",
    )
    serve.add_argument(
        "--preload",
        action="append",
        default=[],
        metavar="MODULE",
        help="a module the zygote imports once, so Python targets start without importing it "
        "(repeatable)",
    )
    serve.add_argument(
        "--no-zygote",
        dest="zygote",
        action="store_false",
        help="start every Python target from a fresh interpreter (no zygote)",
    )
    serve.add_argument(
        "--log-dir",
        type=Path,
        help='where output "log" is kept (default: a private temporary directory, removed at '
        "the daemon's stop)",
    )
    serve.add_argument(
        "--event-ring",
        type=int,
        default=10_000,
        metavar="N",
        help="events kept for events.read (default 10000)",
    )
    serve.add_argument(
        "--cgroup-root",
        type=Path,
        help="where cgroup v2 is mounted (default /sys/fs/cgroup, used only when systemd marked "
        "our cgroup delegated); given, a writable cgroup of ours there is used to hold each "
        "child's tree",
    )
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logs.setup(getattr(logging, args.log_level.upper()))
    from supervisord_lite.server import Options, serve

    options = Options(
        socket_path=(args.socket or default_socket_path()).absolute(),
        stdio=args.stdio,
        grace=args.grace,
        max_message=args.max_message,
        zygote=args.zygote,
        preload=tuple(args.preload),
        log_dir=None if args.log_dir is None else args.log_dir.absolute(),
        event_ring=max(1, args.event_ring),
        cgroup_root=args.cgroup_root,
    )
    try:
        return asyncio.run(serve(options))
    except AlreadyServing as exc:
        print(f"supervisord-lite: {exc}", file=sys.stderr)
        return 1
    except PermissionError as exc:
        print(f"supervisord-lite: {exc}", file=sys.stderr)
        return 1
