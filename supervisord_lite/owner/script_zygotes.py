"""Zygotes of their own for the callers' `__main__` scripts, a few kept, least recently used out.

A pickled target defined in a caller's `__main__` script (the seed's own example shape) makes its
child import that script as `__mp_main__` before it can run: ~35 ms a start, against ~3 ms for a
target in an imported module. A zygote that has imported the script once (zygote_script) forks
children that need not. One is kept per script version: its path, modification time, size and
inode, the `sys.path` and the working directory it is imported with (what the import depends
on); `MAX_ZYGOTES` are kept, the least recently used is stopped for a new one.

How: one of the zygote's spares is turned into it (zygote.BECOME): forked, it has everything but
the script imported already, so making it costs the script's own imports, a few ms, not a new
interpreter's ~50 ms taken from the starts running beside it. While the zygote is down, a new
interpreter is started instead.

When to make one: on the second start of a script version, not the first. A script started once
(a run of the seed's example) pays nothing more than before, not even a zygote starting next to it
on a busy machine; and a script without the `if __name__ == '__main__':` guard fails its first
start, so it never gets here. Until the zygote is ready, starts go the way they always went. A
version whose zygote could not import it is not tried again (its next version is).
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING

from supervisord_lite.core.model import Target

if TYPE_CHECKING:
    from supervisord_lite.owner.zygote_process import ZygoteProcess

log = logging.getLogger(__name__)

MAX_ZYGOTES = 4
_REMEMBERED = 256  # script versions seen once, or refused: bounded, oldest forgotten first

ScriptKey = tuple[str, int, int, int, tuple[str, ...], str | None]
ZygoteFactory = Callable[
    [dict[str, object], Callable[["ZygoteProcess", int], None]], "ZygoteProcess"
]


def script_key(target: Target) -> ScriptKey | None:
    """The version of the target's main script; None when it cannot be had (gone, not a file)."""
    path = target.main_path
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (path, st.st_mtime_ns, st.st_size, st.st_ino, target.sys_path, target.cwd)


class ScriptZygotes:
    def __init__(self, make: ZygoteFactory) -> None:
        self._make = make  # starts a zygote for a script; raises OSError if it cannot
        self._zygotes: OrderedDict[ScriptKey, ZygoteProcess] = OrderedDict()
        self._seen: OrderedDict[ScriptKey, None] = OrderedDict()
        self._refused: OrderedDict[ScriptKey, None] = OrderedDict()
        self._closed = False

    def zygote_for(self, target: Target) -> ZygoteProcess | None:
        """The ready zygote of the target's script, if there is one (perhaps starting one for the
        next time); None sends this start the usual way."""
        key = script_key(target)
        if key is None or self._closed:
            return None
        zygote = self._zygotes.get(key)
        if zygote is not None:
            self._zygotes.move_to_end(key)
            return zygote if zygote.ready else None
        if key in self._refused:
            return None
        if key not in self._seen:
            _remember(self._seen, key)
            return None
        del self._seen[key]
        self._start(key)
        return None

    def _start(self, key: ScriptKey) -> None:
        path, _mtime, _size, _ino, sys_path, cwd = key
        script: dict[str, object] = {"main_path": path, "sys_path": list(sys_path), "cwd": cwd}
        try:
            zygote = self._make(script, lambda z, code: self._exited(key, z, code))
        except OSError as exc:
            log.warning("cannot start a zygote for %s: %s", path, exc)
            _remember(self._refused, key)
            return
        self._zygotes[key] = zygote
        while len(self._zygotes) > MAX_ZYGOTES:
            _old_key, old = self._zygotes.popitem(last=False)
            old.kill()

    def _exited(self, key: ScriptKey, zygote: ZygoteProcess, code: int) -> None:
        if self._zygotes.get(key) is zygote:
            del self._zygotes[key]
        if self._closed or code == -9:  # stopped here (evicted, or the daemon stops)
            return
        if not zygote.was_ready:
            log.info("no zygote for %s (it exited with %d): its processes start as before",
                     key[0], code)  # fmt: skip
            _remember(self._refused, key)

    def close(self) -> None:
        self._closed = True
        while self._zygotes:
            _key, zygote = self._zygotes.popitem()
            zygote.kill()

    def __len__(self) -> int:
        return len(self._zygotes)


def _remember(keys: OrderedDict[ScriptKey, None], key: ScriptKey) -> None:
    keys[key] = None
    while len(keys) > _REMEMBERED:
        keys.popitem(last=False)
