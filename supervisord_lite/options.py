"""What `serve` is asked to do: the command line (and the config file's programs), as one value
the server and the backends it wires read."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from supervisord_lite.config.load import Config
from supervisord_lite.core.supervisor import DEFAULT_KEEP_EXITED
from supervisord_lite.transport.framing import DEFAULT_BUFFER_BUDGET, DEFAULT_LIMIT


@dataclass(frozen=True)
class Options:
    socket_path: Path
    stdio: bool = False
    grace: float = 5.0
    max_message: int = DEFAULT_LIMIT
    max_buffered: int = DEFAULT_BUFFER_BUDGET
    allow_group: str | None = None  # a group whose members may connect (docs/security.md)
    zygote: bool = True
    preload: tuple[str, ...] = ()
    state_dir: Path | None = None  # None: state_directory.default_state_dir()
    ephemeral: bool = False  # no keeper and no store: children and records die with the daemon
    keep_exited: int = DEFAULT_KEEP_EXITED  # exited records kept before the oldest are released
    log_dir: Path | None = None  # output "log" (None: a private temporary directory)
    event_ring: int = 10_000
    cgroup_root: Path | None = None  # where cgroup v2 is mounted, to use it without systemd's mark
    backend: str = "local"  # or "ray" (supervisord_lite/cluster)
    ray_address: str | None = None
    ray_name: str | None = None
    config: Config | None = None  # the config file's programs (supervisord_lite/config)
