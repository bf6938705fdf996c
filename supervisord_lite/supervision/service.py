"""The supervision layer as the daemon wires it: the core's state changes fan out to events, the
daemon's log, the programs (restarts) and the log followers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from supervisord_lite.core.model import Output, ProcessRecord
from supervisord_lite.core.store import MemoryStore, Store
from supervisord_lite.core.supervisor import Supervisor
from supervisord_lite.supervision import events as ev
from supervisord_lite.supervision import journal
from supervisord_lite.supervision.logs import LogReader
from supervisord_lite.supervision.programs import Programs

_TYPES = {"created": ev.CREATED, "started": ev.STARTED, "exited": ev.EXITED}


def process_fields(record: ProcessRecord) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "id": record.id,
        "name": record.name,
        "program": record.program,
        "state": record.state.value,
        "pid": record.pid,
        "exitcode": record.exitcode,
    }
    if record.run_time is not None:
        fields["run_time"] = round(record.run_time, 6)
    return fields


class Supervision:
    def __init__(
        self,
        supervisor: Supervisor,
        *,
        store: Store | None = None,
        log_dir: Path | None = None,
        info: Callable[[ProcessRecord], dict[str, Any]] | None = None,
        events_capacity: int = ev.DEFAULT_CAPACITY,
    ) -> None:
        store = store if store is not None else MemoryStore()
        self.supervisor = supervisor
        self.events = ev.EventLog(store, capacity=events_capacity)
        self.programs = Programs(supervisor, self.events, store, info=info)
        self.logs = LogReader(log_dir)
        supervisor.on_event = self.process_event

    def process_event(self, kind: str, record: ProcessRecord) -> None:
        """The core's hook, on each create, start and exit (the hot path: kept lean), and on a
        release or a loss."""
        if kind == "released":
            self.released(record)
            return
        if kind == "lost":
            self.lost(record)
            self.programs.process_event(kind, record)  # a run that ended, exit status unknown
            return
        self.events.emit(_TYPES[kind], **process_fields(record))
        journal.line(kind, record)
        self.programs.process_event(kind, record)
        if kind == "exited":
            self.logs.notify(record.id)

    def close(self) -> None:
        """The daemon stops cleanly (its runs are stopped): the event seq goes on with no gap."""
        self.events.close()

    def released(self, record: ProcessRecord) -> None:
        self.events.emit(ev.RELEASED, **process_fields(record))
        self.programs.released(record)
        if record.output is Output.LOG:
            self.logs.remove(record.id)

    def lost(self, record: ProcessRecord) -> None:
        self.events.emit(ev.LOST, **process_fields(record))
