"""Running a coroutine at once, up to its first real wait, so that only what waits costs a task.

A task per request (or per start) costs event-loop turns: one to start it, one to see it done.
Most requests never wait, and a program's start does not either, so they are run in place with
`coro.send(None)`; one that yields is handed on, mid-way, with `resume`.
"""

from __future__ import annotations

import types
from collections.abc import Coroutine, Generator
from typing import Any, TypeVar

T = TypeVar("T")


@types.coroutine
def resume(coro: Coroutine[Any, Any, T], waiting: Any) -> Generator[Any, Any, T]:
    """Go on, inside a task, with a coroutine that already ran up to `waiting` (what it yielded)."""
    while True:
        try:
            sent = yield waiting
        except BaseException as exc:  # cancellation and the like go on into the coroutine
            try:
                waiting = coro.throw(exc)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
        else:
            try:
                waiting = coro.send(sent)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
