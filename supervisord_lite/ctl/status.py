"""`status [NAME...]`: programs and ad-hoc processes in one table, as `supervisorctl status` or
`pm2 ls` show them; coloured states on a terminal only, so a pipe gets plain text."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any, NamedTuple

from supervisord_lite_client import Client, ProcessInfo, ProgramStatus

from supervisord_lite.ctl.common import OK, REFUSED, as_dict, print_json

HEADERS = ("NAME", "ID", "STATE", "PID", "UPTIME/EXIT", "RESTARTS", "COMMAND")
_COLOURS = {
    "running": "32",  # green
    "starting": "33",
    "backoff": "33",
    "created": "36",
    "exited": "0",
    "stopped": "0",
    "failed": "31",  # red
    "lost": "31",
}


class Row(NamedTuple):
    name: str
    id: int | None
    state: str
    pid: int | None
    uptime_or_exit: str
    restarts: int | None
    command: str
    program: bool

    def cells(self) -> list[str]:
        return [
            self.name,
            "-" if self.id is None else str(self.id),
            self.state,
            "-" if self.pid is None else str(self.pid),
            self.uptime_or_exit,
            "-" if self.restarts is None else str(self.restarts),
            self.command,
        ]


def add(sub: Any, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "status",
        parents=[parent],
        help="programs and processes, one line each",
        description="A table of programs and ad-hoc processes: name, id, state, pid, uptime or "
        "exit code, restarts, command. Exit code 1 if a NAME is unknown.",
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="program names, process names or ids")
    p.set_defaults(client_command=status)


def status(args: argparse.Namespace, client: Client) -> int:
    rows = [_program_row(s) for s in client.list_programs()]
    rows += [_process_row(p) for p in client.iter_processes() if p.program is None]
    wanted: list[str] = args.names
    missing = [n for n in wanted if not any(_matches(r, n) for r in rows)]
    if wanted:
        rows = [r for r in rows if any(_matches(r, n) for n in wanted)]
    if args.json:
        print_json([{**as_dict(r), "name": r.name} for r in rows])
    else:
        print_table(rows, colour=sys.stdout.isatty())
    for name in missing:
        print(f"supervisord-lite: no program or process {name!r}", file=sys.stderr)
    return REFUSED if missing else OK


def _matches(row: Row, wanted: str) -> bool:
    return row.name == wanted or (row.id is not None and str(row.id) == wanted)


def _program_row(s: ProgramStatus) -> Row:
    p = s.process
    return Row(
        name=s.name,
        id=None if p is None else p.id,
        state=s.state,
        pid=p.pid if p is not None and p.state == "running" else None,
        uptime_or_exit=_uptime_or_exit(p) if p is not None else "-",
        restarts=s.restarts,
        command=" ".join(p.argv) if p is not None else "",
        program=True,
    )


def _process_row(p: ProcessInfo) -> Row:
    return Row(p.name, p.id, p.state, p.pid if p.state == "running" else None,
               _uptime_or_exit(p), None, " ".join(p.argv), False)  # fmt: skip


def _uptime_or_exit(p: ProcessInfo) -> str:
    if p.state == "running" and p.started_at:
        return "up " + _duration(_since(p.started_at))
    if p.state == "exited" and p.exitcode is not None:
        return f"exit {p.exitcode}" if p.exitcode >= 0 else f"signal {-p.exitcode}"
    return "-"


def _since(stamp: str) -> float:
    started = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return max(0.0, (datetime.now(UTC) - started).total_seconds())


def _duration(seconds: float) -> str:
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def print_table(rows: list[Row], *, colour: bool) -> None:
    table = [list(HEADERS), *(r.cells() for r in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADERS) - 1)]
    for index, line in enumerate(table):
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(line[:-1])]
        if colour and index > 0:
            code = _COLOURS.get(line[2], "0")
            cells[2] = f"\x1b[{code}m{cells[2]}\x1b[0m"  # padded first: columns stay aligned
        print("  ".join([*cells, line[-1]]).rstrip())
