"""The state the Supervisor's parts share (core/supervisor.py and its parts: starting.py,
retention.py, durability.py, lifecycle.py), declared once, so that mypy strict checks each part on
its own."""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING

from supervisord_lite.core.journal import Journal
from supervisord_lite.core.model import EventHook, ProcessRecord, Spawner


class Part:
    # Set in Supervisor.__init__.
    _records: dict[int, ProcessRecord]
    _finished: OrderedDict[int, None]
    _keep_exited: int
    _by_pid: dict[int, ProcessRecord]
    _last_id: int
    _children_of_main: int
    _journal: Journal | None
    _shutting_down: bool
    _spawner: Spawner
    authkey: str
    on_event: EventHook

    if TYPE_CHECKING:  # what one part calls of another (or of the Supervisor itself)

        def get(self, process_id: int) -> ProcessRecord: ...
        def _changed(self) -> None: ...
        def _touch(self, record: ProcessRecord) -> None: ...
        def _finish(self, record: ProcessRecord) -> None: ...
        def _report_exit(self, record: ProcessRecord) -> None: ...
        def _exited(self, record: ProcessRecord, exitcode: int) -> None: ...
        def mark_lost(self, process_id: int, reason: str) -> ProcessRecord: ...
        def persist(self, *, clean: bool = False) -> None: ...
        async def send_signal(self, process_id: int, signum: int) -> ProcessRecord: ...
