"""The state directory: which one, and that it is ours alone before anything is kept in it."""

from __future__ import annotations

import fcntl
import os
import stat
from collections.abc import Mapping
from pathlib import Path


class UntrustedDirectory(Exception):
    """A state directory the daemon must not use: not its own, or writable by others."""


def default_state_dir(env: Mapping[str, str] | None = None, uid: int | None = None) -> Path:
    """`$STATE_DIRECTORY` (systemd's StateDirectory=), else `$XDG_STATE_HOME/supervisord-lite`,
    else /var/lib/supervisord-lite for root, else ~/.local/state/supervisord-lite."""
    env = os.environ if env is None else env
    uid = os.getuid() if uid is None else uid
    if env.get("STATE_DIRECTORY"):
        # systemd may pass several, colon-separated, in the order of StateDirectory=: the first.
        return Path(env["STATE_DIRECTORY"].split(":")[0])
    if env.get("XDG_STATE_HOME"):
        return Path(env["XDG_STATE_HOME"]) / "supervisord-lite"
    if uid == 0:
        return Path("/var/lib/supervisord-lite")
    return Path(env.get("HOME") or Path.home()) / ".local" / "state" / "supervisord-lite"


def prepare(directory: Path) -> Path:
    """Create `directory` 0700 if it is missing; refuse one that is not ours or that others may
    write (as OpenSSH's StrictModes does): its records and keys would not be ours alone."""
    if not directory.exists():
        directory.mkdir(mode=0o700, parents=True)
        os.chmod(directory, 0o700)  # mkdir's mode is filtered by the umask
    info = directory.lstat()
    if not stat.S_ISDIR(info.st_mode):
        raise UntrustedDirectory(f"state directory {directory} is not a directory")
    if info.st_uid != os.geteuid():
        raise UntrustedDirectory(
            f"state directory {directory} belongs to uid {info.st_uid}, not to this daemon's "
            f"uid {os.geteuid()}; use a directory of your own (--state-dir)"
        )
    if info.st_mode & 0o077:
        raise UntrustedDirectory(
            f"state directory {directory} is open to others (mode {stat.S_IMODE(info.st_mode):o}); "
            f"make it private: chmod 700 {directory}"
        )
    return directory


class StateInUse(Exception):
    """Another front serves this state directory."""


def lock_front(directory: Path) -> int:
    """One front per state directory: a second would hand out the same ids. Held for life."""
    fd = os.open(directory / "front.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StateInUse(
            f"another supervisord-lite daemon uses the state directory {directory}; "
            "give this one its own (--state-dir) or --ephemeral"
        ) from None
    return fd
