"""The state store's interface: what the daemon keeps across its own restarts.

The core keeps its state in memory and tells the store what changed; the store makes it durable
(SQLite in the state directory, `supervisord_lite.store`) or keeps nothing more than the memory it
was given (`MemoryStore`, for `--ephemeral` and the core's unit tests). Documents are plain data:
dicts of str, int, float, bool, None, lists and dicts; the store, not the core, turns them into
bytes.

A store batches: `put` and `delete` cost a dict operation, and what piled up is written in one
transaction soon after (or at `flush`). Losing the last batch to a crash of the front is safe by
design: an exit status is held by the keeper until the front has flushed it (`on_flushed`), and ids
are reserved ahead in blocks (`reserve_ids`), so none is handed out twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

Document = Mapping[str, Any]
Key = int | str

# The kinds of document the daemon keeps (one table each in SQLite).
PROCESS = "process"
PROGRAM = "program"
EVENT = "event"
META = "meta"


class StoreWriteFailed(Exception):
    """The store could not write (a full disk, a read-only or removed state directory). Nothing
    is dropped: what was pending stays pending, and the next `flush` writes it."""


class Store(Protocol):
    def put(self, kind: str, key: Key, value: Document) -> None:
        """Create or replace one document (made durable with the next batch)."""
        ...

    def delete(self, kind: str, key: Key) -> None: ...

    def load(self, kind: str) -> dict[Key, dict[str, Any]]:
        """Every document of a kind, as last put (read at start-up, before anything is put)."""
        ...

    def reserve_ids(self, upto: int) -> None:
        """Durably record, before returning, that ids up to `upto` may have been handed out
        (StoreWriteFailed if it cannot)."""
        ...

    def reserved_ids(self) -> int:
        """The highest id ever reserved (0 for a new store)."""
        ...

    def on_flushed(self, callback: Callable[[], None]) -> None:
        """Run `callback` once everything put so far is durable (at once for a memory store)."""
        ...

    def flush(self) -> None:
        """Write what is pending now; StoreWriteFailed (everything still pending) if it cannot."""
        ...

    def close(self) -> None: ...


class MemoryStore:
    """A store that keeps documents in memory only: `--ephemeral`, and the core's unit tests."""

    def __init__(self) -> None:
        self._docs: dict[str, dict[Key, dict[str, Any]]] = {}
        self._reserved = 0

    def put(self, kind: str, key: Key, value: Document) -> None:
        self._docs.setdefault(kind, {})[key] = dict(value)

    def delete(self, kind: str, key: Key) -> None:
        self._docs.get(kind, {}).pop(key, None)

    def load(self, kind: str) -> dict[Key, dict[str, Any]]:
        return {k: dict(v) for k, v in self._docs.get(kind, {}).items()}

    def reserve_ids(self, upto: int) -> None:
        self._reserved = max(self._reserved, upto)

    def reserved_ids(self) -> int:
        return self._reserved

    def on_flushed(self, callback: Callable[[], None]) -> None:
        callback()

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass
