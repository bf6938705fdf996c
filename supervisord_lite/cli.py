"""`supervisord-lite serve [--socket PATH] [--stdio]`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from supervisord_lite import __version__, logs
from supervisord_lite.core.errors import BackendUnavailable
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
        "--backend",
        choices=["local", "ray"],
        default="local",
        help="where processes run: this machine (default), or a Ray cluster (docs/cluster.md)",
    )
    serve.add_argument("--ray-address", metavar="HOST:PORT", help="the Ray cluster's head (GCS)")
    serve.add_argument(
        "--ray-name",
        metavar="NAME",
        help="this daemon's name on the cluster: its actors' namespace and names (default: "
        "host, uid and a hash of the socket path; a restarted daemon finds its actors by it)",
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
        backend=args.backend,
        ray_address=args.ray_address,
        ray_name=args.ray_name,
    )
    try:
        return asyncio.run(serve(options))
    except AlreadyServing as exc:
        print(f"supervisord-lite: {exc}", file=sys.stderr)
        return 1
    except PermissionError as exc:
        print(f"supervisord-lite: {exc}", file=sys.stderr)
        return 1
    except BackendUnavailable as exc:
        print(f"supervisord-lite: {exc.message}", file=sys.stderr)
        return 1
