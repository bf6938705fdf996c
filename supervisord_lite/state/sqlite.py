"""The state store in SQLite (WAL), in the state directory: records, the id counter, programs,
events. One table of JSON documents per kind.

Writes never cost a request: `put` and `delete` only note what changed (a dict operation), and
what piled up is written in one transaction by `flush`, which the daemon runs shortly after a
change (a short timer, so a burst of changes is one commit) and at a clean stop. What a crash of
the front can lose is safe by design: exit statuses stay with the keeper until flushed (see
`on_flushed`), and ids are reserved ahead (`reserve_ids` commits at once, about one call in a
thousand), so no id is handed out twice.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from supervisord_lite.core.store import (
    EVENT,
    META,
    PROCESS,
    PROGRAM,
    Document,
    Key,
    StoreWriteFailed,
)

FILENAME = "state.sqlite3"
_KINDS = (PROCESS, PROGRAM, EVENT, META)
_RESERVED = "reserved_ids"
# Deleted: a tombstone in the pending map, so a put and a delete of one key in a batch end right.
_GONE = object()


class StateUnreadable(Exception):
    """The state file cannot be used at start-up: the daemon starts nothing rather than guess."""

    def __init__(self, path: Path, exc: BaseException) -> None:
        super().__init__(
            f"the state file {path} cannot be used ({exc}). If it is damaged or not this "
            "daemon's, move it aside (with its -wal and -shm files) to start with no records, "
            "or restore it from a backup; nothing was started"
        )


class SqliteStore:
    def __init__(self, directory: Path) -> None:
        path = directory / FILENAME
        # Created 0600 before SQLite opens it (and its -wal and -shm files follow its mode).
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        os.close(fd)
        os.chmod(path, 0o600)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a commit is a write to the log, no fsync; a power loss may lose
            # the last commits, never the database. The keeper holds what matters most (exits).
            self._db.execute("PRAGMA synchronous=NORMAL")
            for kind in _KINDS:
                self._db.execute(
                    f"CREATE TABLE IF NOT EXISTS {kind} (key TEXT PRIMARY KEY, doc BLOB NOT NULL)"
                )
            self._reserved = self._read_reserved()
        except (sqlite3.DatabaseError, ValueError) as exc:
            self._db.close()
            raise StateUnreadable(path, exc) from None
        self._pending: dict[tuple[str, Key], object] = {}
        # Told of the first change of a batch, so that a write comes soon whoever made it (the
        # journal's records, or supervision's programs and events).
        self.on_pending: Callable[[], None] = lambda: None
        self._flushed: list[Callable[[], None]] = []

    # -- writes (batched) ------------------------------------------------------------------
    def put(self, kind: str, key: Key, value: Document) -> None:
        if not self._pending:
            self.on_pending()
        self._pending[(kind, key)] = value

    def delete(self, kind: str, key: Key) -> None:
        if not self._pending:
            self.on_pending()
        self._pending[(kind, key)] = _GONE

    def on_flushed(self, callback: Callable[[], None]) -> None:
        if self._pending:
            self._flushed.append(callback)
        else:
            callback()

    @property
    def dirty(self) -> bool:
        return bool(self._pending)

    def flush(self) -> None:
        pending, self._pending = self._pending, {}
        callbacks, self._flushed = self._flushed, []
        if pending:
            try:
                self._write(pending)
            except StoreWriteFailed:
                # Kept for the next flush; what changed since overrides what failed, key by key.
                self._pending = {**pending, **self._pending}
                self._flushed = callbacks + self._flushed
                raise
        for callback in callbacks:
            callback()

    def _write(self, pending: dict[tuple[str, Key], object]) -> None:
        puts: dict[str, list[tuple[str, bytes]]] = {}
        deletes: dict[str, list[tuple[str]]] = {}
        for (kind, key), value in pending.items():
            if value is _GONE:
                deletes.setdefault(kind, []).append((str(key),))
            else:
                puts.setdefault(kind, []).append((str(key), orjson.dumps(value)))
        with self._transaction():
            for kind, rows in puts.items():
                self._db.executemany(
                    f"INSERT OR REPLACE INTO {_table(kind)} (key, doc) VALUES (?, ?)", rows
                )
            for kind, keys in deletes.items():
                self._db.executemany(f"DELETE FROM {_table(kind)} WHERE key = ?", keys)

    def reserve_ids(self, upto: int) -> None:
        if upto <= self._reserved:
            return
        with self._transaction():
            self._db.execute(
                f"INSERT OR REPLACE INTO {META} (key, doc) VALUES (?, ?)",
                (_RESERVED, orjson.dumps(upto)),
            )
        self._reserved = upto

    def reserved_ids(self) -> int:
        return self._reserved

    # -- reads (at start-up) ---------------------------------------------------------------
    def load(self, kind: str) -> dict[Key, dict[str, Any]]:
        out: dict[Key, dict[str, Any]] = {}
        try:
            rows = self._db.execute(f"SELECT key, doc FROM {_table(kind)}").fetchall()
            for key, doc in rows:
                if kind == META and key == _RESERVED:
                    continue
                out[int(key) if key.isdigit() else key] = orjson.loads(doc)
        except (sqlite3.DatabaseError, orjson.JSONDecodeError) as exc:  # a damaged page or row
            raise StateUnreadable(self.path, exc) from None
        return out

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._db.close()

    def _read_reserved(self) -> int:
        row = self._db.execute(f"SELECT doc FROM {META} WHERE key = ?", (_RESERVED,)).fetchone()
        return int(orjson.loads(row[0])) if row else 0

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db, self.path)


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT; any SQLite error (SQLITE_FULL, an I/O error) rolls back what is
    left of the transaction and becomes StoreWriteFailed, naming the file."""

    def __init__(self, db: sqlite3.Connection, path: Path) -> None:
        self._db = db
        self._path = path

    def __enter__(self) -> None:
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreWriteFailed(f"cannot write {self._path}: {exc}") from None

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        try:
            self._db.execute("COMMIT" if kind is None else "ROLLBACK")
        except sqlite3.Error as error:
            exc = exc or error
        if isinstance(exc, sqlite3.Error):
            # A failed COMMIT can leave the transaction open: the next BEGIN would fail on it.
            if self._db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
            raise StoreWriteFailed(f"cannot write {self._path}: {exc}") from None


def _table(kind: str) -> str:
    if kind not in _KINDS:
        raise ValueError(f"unknown kind of document: {kind!r}")
    return kind
