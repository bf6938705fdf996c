"""`events [-f] [--since SEQ]`: the daemon's events (what events.read keeps), then new ones."""

from __future__ import annotations

import argparse
from typing import Any

from supervisord_lite_client import Client, Event

from supervisord_lite.ctl.common import OK, print_json


def add(sub: Any, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "events",
        parents=[parent],
        help="state changes of processes and programs",
        description="Events after --since (default: all the daemon keeps); with -f, new ones "
        "as they come, for ever.",
    )
    p.add_argument("-f", "--follow", action="store_true", help="wait for new events")
    p.add_argument("--since", type=int, default=0, metavar="SEQ", help="the last seq seen")
    p.set_defaults(client_command=events)


def events(args: argparse.Namespace, client: Client) -> int:
    stream = client.events(max(0, args.since), timeout=30.0 if args.follow else 0.0)
    collected: list[Event] = []
    while True:
        batch = stream.batch()
        if args.follow:
            for event in batch:
                _show(event, args.json)
        elif not batch:
            break
        else:
            collected.extend(batch)
    if args.json:
        print_json([_object(e) for e in collected])
    else:
        for event in collected:
            _show(event, False)
    return OK


def _object(event: Event) -> dict[str, Any]:
    return {"seq": event.seq, "type": event.type, "ts": event.ts, **event.fields}


def _show(event: Event, as_json: bool) -> None:
    if as_json:
        print_json(_object(event))
        return
    rest = " ".join(f"{k}={v}" for k, v in event.fields.items() if v is not None)
    print(f"{event.seq:>6}  {event.ts}  {event.type:<20} {rest}".rstrip(), flush=True)
