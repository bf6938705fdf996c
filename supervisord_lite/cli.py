"""`supervisord-lite serve [--socket PATH] [--stdio]`, and the client commands (supervisord_lite/ctl):
`status`, `start`, `stop`, `restart`, `run`, `logs`, `events`, `info`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path
from typing import TypeVar

from supervisord_lite import __version__, logs
from supervisord_lite.core.errors import BackendUnavailable
from supervisord_lite.core.supervisor import DEFAULT_KEEP_EXITED
from supervisord_lite.owner.keeper_client import KeeperGone
from supervisord_lite.paths import default_socket_path
from supervisord_lite.state.directory import StateInUse, UntrustedDirectory
from supervisord_lite.transport.framing import DEFAULT_BUFFER_BUDGET, DEFAULT_LIMIT
from supervisord_lite.transport.unix import AlreadyServing, UnsafeDirectory

T = TypeVar("T")


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
    serve.add_argument(
        "--config",
        type=Path,
        metavar="PATH",
        help="a TOML config file (default, the first that exists: "
        "$CONFIGURATION_DIRECTORY/config.toml, /etc/supervisord-lite/config.toml for root, "
        "$XDG_CONFIG_HOME/supervisord-lite/config.toml otherwise; docs/config.md); "
        "an option given here wins over the file",
    )
    serve.add_argument("--stdio", action="store_true", help="serve one client on stdin/stdout")
    serve.add_argument(
        "--grace",
        type=float,
        default=None,
        help="seconds children get after SIGTERM at shutdown before SIGKILL (default 5)",
    )
    serve.add_argument(
        "--max-message",
        type=int,
        default=DEFAULT_LIMIT,
        help=f"largest message accepted, in bytes (default {DEFAULT_LIMIT})",
    )
    serve.add_argument(
        "--max-buffered",
        type=int,
        default=DEFAULT_BUFFER_BUDGET,
        help="bytes of partial (unfinished) lines held for all connections together; past it the "
        f"connections that have stalled longest are closed (default {DEFAULT_BUFFER_BUDGET})",
    )
    serve.add_argument(
        "--allow-group",
        metavar="GROUP",
        help="let members of GROUP connect (socket 0660 and directory 0750 of that group); each "
        "sees and controls only its own processes (see docs/security.md)",
    )
    serve.add_argument(
        "--preload",
        action="append",
        default=None,
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
        "--state-dir",
        type=Path,
        help="where records, ids and exit codes are kept (default: $STATE_DIRECTORY, else "
        "$XDG_STATE_HOME/supervisord-lite, /var/lib/supervisord-lite for root, "
        "~/.local/state/supervisord-lite otherwise)",
    )
    serve.add_argument(
        "--ephemeral",
        action="store_true",
        help="keep nothing on disk and own children in this process: they end with the daemon",
    )
    serve.add_argument(
        "--keep-exited",
        type=_count,
        default=None,
        metavar="N",
        help="exited processes whose records are kept; beyond N the oldest are released, as by "
        f"process.release (default {DEFAULT_KEEP_EXITED}; 0 keeps none once its waiting joins "
        "are answered)",
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
        default=None,
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
    serve.add_argument(
        "--backend",
        choices=["local", "ray"],
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
    from supervisord_lite.ctl import add_commands  # the client side, on the Python client

    add_commands(sub)
    return parser


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number 0 or more, got {text!r}")
    return value


def _first(given: T | None, configured: T | None, default: T) -> T:
    """An option given on the command line, else the config file's, else the default."""
    if given is not None:
        return given
    return default if configured is None else configured


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command != "serve":
        from supervisord_lite.ctl import run_command

        return run_command(args)
    logs.setup(getattr(logging, args.log_level.upper()))
    from supervisord_lite.config.load import BadConfig, find_config, load
    from supervisord_lite.options import Options
    from supervisord_lite.server import UnknownGroup, serve
    from supervisord_lite.state.sqlite import StateUnreadable

    try:
        config = load(find_config(args.config))
    except BadConfig as exc:  # the daemon does not start on a file it cannot use
        print(f"supervisord-lite: bad config file, not started:\n{exc}", file=sys.stderr)
        return 1
    d = config.daemon
    socket_path = args.socket or d.socket or default_socket_path()
    state_dir = args.state_dir or d.state_dir
    log_dir = args.log_dir or d.log_dir
    options = Options(
        socket_path=socket_path.absolute(),
        stdio=args.stdio,
        grace=_first(args.grace, d.grace, 5.0),
        max_message=args.max_message,
        max_buffered=args.max_buffered,
        allow_group=args.allow_group,
        zygote=args.zygote,
        preload=tuple(_first(args.preload, d.preload, [])),
        state_dir=state_dir.absolute() if state_dir else None,
        ephemeral=args.ephemeral,
        keep_exited=_first(args.keep_exited, d.keep_exited, DEFAULT_KEEP_EXITED),
        log_dir=None if log_dir is None else log_dir.absolute(),
        event_ring=max(1, _first(args.event_ring, d.event_ring, 10_000)),
        cgroup_root=args.cgroup_root,
        backend=_first(args.backend, d.backend, "local"),
        ray_address=args.ray_address or d.ray_address,
        ray_name=args.ray_name or d.ray_name,
        config=config,
    )
    try:
        return asyncio.run(serve(options))
    except (AlreadyServing, UnsafeDirectory, UnknownGroup) as exc:
        print(f"supervisord-lite: {exc}", file=sys.stderr)
        return 1
    except (PermissionError, UntrustedDirectory, StateInUse, KeeperGone, StateUnreadable) as exc:
        print(f"supervisord-lite: {exc}", file=sys.stderr)
        return 1
    except BackendUnavailable as exc:
        print(f"supervisord-lite: {exc.message}", file=sys.stderr)
        return 1
