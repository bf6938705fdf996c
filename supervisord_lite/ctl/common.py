"""What every command shares: the connection, exit codes, errors in one line, --json output."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from supervisord_lite_client import Client, DaemonUnavailable, RemoteError, SupervisordLiteError

# The documented exit codes (README, "The command line").
OK = 0
REFUSED = 1  # the daemon said no (an error reply), or the command's own failure
USAGE = 2  # argparse's own code for a bad command line
NO_DAEMON = 3

Command = Callable[[argparse.Namespace, Client], int]


class UsageError(Exception):
    """A command line argparse accepted but the command cannot use (exit code 2)."""


def common_options() -> argparse.ArgumentParser:
    """--socket and --json, accepted after every client subcommand."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--socket",
        metavar="PATH",
        help="the daemon's socket (default: $SUPERVISORD_LITE_SOCKET, else the daemon's default)",
    )
    parent.add_argument(
        "--json", action="store_true", help="print JSON (one document; one per line with -f)"
    )
    return parent


def connect(args: argparse.Namespace) -> Client:
    return Client(args.socket, connect_timeout=2.0)


def execute(args: argparse.Namespace, command: Command) -> int:
    """Runs one command against the daemon, and turns what goes wrong into one line and an exit
    code."""
    try:
        with connect(args) as client:
            return command(args, client)
    except DaemonUnavailable as exc:
        print(f"supervisord-lite: {exc}", file=sys.stderr)
        return NO_DAEMON
    except RemoteError as exc:
        print(f"supervisord-lite: {exc.message} (error {exc.code})", file=sys.stderr)
        return REFUSED
    except UsageError as exc:
        print(f"supervisord-lite: {exc}", file=sys.stderr)
        return USAGE
    except SupervisordLiteError as exc:
        print(f"supervisord-lite: {exc}", file=sys.stderr)
        return REFUSED
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `status | head`: the reader has gone, nothing to say
        return OK


def command_after_dashes(args: argparse.Namespace, verb: str, example: str) -> list[str]:
    """The command after `--` (argparse's REMAINDER keeps the `--` itself), or a UsageError.

    Without `--`, a first word that starts with "-" is an option given too late (after NAME,
    where REMAINDER takes everything): refused, rather than run as a command named "--env"."""
    dashes = args.argv[:1] == ["--"]
    argv: list[str] = args.argv[1:] if dashes else args.argv
    if not argv:
        raise UsageError(f"{verb}: nothing to run; give a command after --, as in `{example}`")
    if not dashes and argv[0].startswith("-"):
        raise UsageError(
            f"{verb}: {argv[0]!r} is an option where the command should be: options go first, "
            f"then -- and the command, as in `{example}`"
        )
    return argv


def env_pairs(items: list[str], verb: str) -> dict[str, str]:
    """Repeated --env K=V options as a dict, or a UsageError naming the one that is not K=V."""
    env: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"{verb}: --env {item!r} is not K=V")
        env[key] = value
    return env


def print_json(value: Any) -> None:
    print(json.dumps(value, separators=(",", ":"), ensure_ascii=False), flush=True)


def as_dict(value: Any) -> Any:
    """NamedTuples (ProcessInfo, ProgramStatus, ...) as JSON objects, recursively."""
    if isinstance(value, tuple) and hasattr(value, "_asdict"):
        return {k: as_dict(v) for k, v in value._asdict().items()}
    if isinstance(value, list | tuple):
        return [as_dict(v) for v in value]
    if isinstance(value, dict):
        return {k: as_dict(v) for k, v in value.items()}
    return value
