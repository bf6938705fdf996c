"""Applying a config's programs to the running daemon as `supervisorctl update` does: new ones
are added, deleted ones stopped and removed, changed ones replaced (stopped, then started with
their new spec), and unchanged ones left running untouched."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from supervisord_lite.config.load import Config, find_config, load
from supervisord_lite.core import errors
from supervisord_lite.supervision.programs import Programs
from supervisord_lite.supervision.specs import spec_doc

log = logging.getLogger("supervisord_lite.config")


@dataclass
class Applied:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"added": self.added, "changed": self.changed, "removed": self.removed,
                "unchanged": self.unchanged}  # fmt: skip


class Reloader:
    """Holds the config in force and the programs it declared (the others, added with
    program.add, are never touched by a reload)."""

    def __init__(self, config: Config, programs: Programs, *, memory: Path | None = None) -> None:
        self.config = config
        self.path: Path | None = config.path  # the file in force, read again at a reload
        self._programs = programs
        # The names the last config applied declared, kept in the state directory: a program
        # deleted from the file while the daemon was down is removed at its next start.
        self._memory = memory
        self._declared: set[str] = self._recall()
        self._lock = asyncio.Lock()  # one reload at a time: a second waits for the first

    async def start(self) -> Applied:
        """At the daemon's start, after the stored programs were resumed."""
        async with self._lock:
            return await self._apply(self.config)

    async def reload(self) -> Applied:
        """Reads the file again and applies it; a bad file raises BadConfig and changes
        nothing (the old config stays in force)."""
        async with self._lock:
            new = load(find_config(self.path))  # none given: searched again, maybe new
            applied = await self._apply(new)
            self.config = new
            self.path = new.path
            return applied

    async def _apply(self, config: Config) -> Applied:
        result = Applied()
        wanted = config.programs
        for name in sorted(self._declared - set(wanted)):
            try:
                await self._programs.remove(name)
            except errors.NoSuchProgram:
                continue  # removed by hand meanwhile: nothing to do
            result.removed.append(name)
        for name, (spec, autostart) in wanted.items():
            try:
                current = self._programs.get(name)
            except errors.NoSuchProgram:
                await self._add(name, spec, autostart)
                result.added.append(name)
                continue
            if spec_doc(current.spec, wanted=False) == spec_doc(spec, wanted=False):
                result.unchanged.append(name)
                continue
            await self._programs.remove(name)
            await self._add(name, spec, autostart)
            result.changed.append(name)
        self._declared = set(wanted)
        self._remember()
        if result.added or result.changed or result.removed:
            log.info("config %s: added %s, changed %s, removed %s", config.path,
                     result.added, result.changed, result.removed)  # fmt: skip
        return result

    async def _add(self, name: str, spec: Any, autostart: bool) -> None:
        try:
            await self._programs.add(spec, start=autostart)
        except errors.CoreError as exc:  # it could not start: it is kept, failed (its state)
            log.warning("program %s: %s", name, exc)

    def _recall(self) -> set[str]:
        if self._memory is None:
            return set()
        try:
            names = json.loads(self._memory.read_text())
        except (OSError, ValueError):
            return set()  # none yet (or unreadable): nothing is taken for declared
        return {n for n in names if isinstance(n, str)} if isinstance(names, list) else set()

    def _remember(self) -> None:
        if self._memory is None:
            return
        temporary = self._memory.with_name(self._memory.name + ".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(sorted(self._declared), f)
        os.replace(temporary, self._memory)  # whole or not at all
