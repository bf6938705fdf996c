"""Following a program's output across its runs: each run is a process with a log of its own;
when one run's output has ended, reading goes on with the next run's (from its start), and while
the program is meant to run again a follow waits for that run. The reply names the run read, and
the caller passes it back with the cursor."""

from __future__ import annotations

import asyncio

from supervisord_lite.core import errors
from supervisord_lite.supervision.events import STARTED, EventLog
from supervisord_lite.supervision.logs import Batch, LogReader
from supervisord_lite.supervision.programs import ACTIVE, Program


async def follow_program(
    program: Program,
    logs: LogReader,
    events: EventLog,
    *,
    run_id: int | None,
    cursor: int,
    limit: int,
    stream: str | None,
    follow: bool,
    timeout: float | None,
) -> tuple[int, Batch]:
    """The next lines of `program`'s runs from (`run_id`, `cursor`); `run_id` None: its current
    (or last) run. `done` is true only once the program's last run's output has ended and the
    program is not meant to run again."""
    if run_id is None:
        if not program.run_ids:
            raise errors.NotStarted(
                f"program {program.name!r} has not run yet; program.start it first",
                program=program.name,
            )
        run_id = program.run_ids[-1]
    elif run_id not in program.run_ids:
        raise errors.BadRunId(
            f"process {run_id} is not a run of program {program.name!r}; give the id an answer "
            "named, or none for its current run",
            id=run_id,
            program=program.name,
        )
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout

    def remaining() -> float | None:
        return None if deadline is None else max(0.0, deadline - loop.time())

    while True:
        batch = await logs.read(
            run_id, cursor=cursor, limit=limit, stream=stream, follow=follow, timeout=remaining()
        )
        if not batch.done:
            return run_id, batch  # lines, or the timeout passed
        later = [i for i in program.run_ids if i > run_id]
        final = not later and program.state not in ACTIVE
        if batch.lines:
            batch.done = final  # this run's last lines: the caller comes back for the next run
            return run_id, batch
        if later:  # this run's output is over: go on with the next run's, from its start
            run_id, cursor = later[0], 0
            continue
        if final:
            return run_id, batch  # nothing more will come
        batch.done = False  # it will run again
        if not follow or not await _next_run(program, events, remaining()):
            return run_id, batch


async def _next_run(program: Program, events: EventLog, timeout: float | None) -> bool:
    """Wait for the program's next run to start (True), or for it to stop being meant to run,
    or the timeout (False)."""
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    seq = events.seq
    while program.state in ACTIVE:
        left = None if deadline is None else deadline - loop.time()
        if left is not None and left <= 0:
            return False
        found, seq = await events.read(seq, 1000, left)
        if any(e["type"] == STARTED and e.get("program") == program.name for e in found):
            return True
    return False
