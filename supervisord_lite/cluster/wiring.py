"""How the daemon (server.py) sets up a cluster backend: its name, and an earlier run's actors."""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import sys
from typing import TYPE_CHECKING

from supervisord_lite.cluster.ray_owner import RayOwner
from supervisord_lite.core.errors import BackendUnavailable
from supervisord_lite.owner.output import LogSink

if TYPE_CHECKING:
    from supervisord_lite.options import Options

log = logging.getLogger(__name__)


def default_name(socket_path: str | None) -> str:
    """Stable across restarts of one daemon (same host, user and socket), distinct between two."""
    digest = hashlib.sha256((socket_path or "stdio").encode()).hexdigest()[:8]
    return f"{socket.gethostname()}-{os.getuid()}-{digest}"


def ray_owner(options: Options, socket_path: str | None, sink: LogSink) -> RayOwner:
    if not options.ray_address:
        raise BackendUnavailable(
            "--backend ray needs the cluster's address: --ray-address HOST:PORT (the head's GCS "
            "port, 6379 unless `ray start --head --port` said otherwise)"
        )
    name = options.ray_name or default_name(socket_path)
    # A Ray driver prints the raylets' warnings ("N worker processes have been started ...") to
    # sys.stdout, from a thread of its own. With --stdio, fd 1 is the protocol; otherwise the
    # daemon writes nothing there. So Python's stdout is its stderr (the log) from now on.
    sys.stdout = sys.stderr
    owner = RayOwner(address=options.ray_address, name=name, socket_path=socket_path, sink=sink)
    log.info("processes run on the Ray cluster at %s as %s", options.ray_address, owner.namespace)
    return owner
