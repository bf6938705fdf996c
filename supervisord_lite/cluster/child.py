"""A Python target's first code on a cluster node: `python -m supervisord_lite.cluster.child SPEC
STATUS GATE` (three fds), the local child bootstrap with a gate.

The same `supervisord_lite.owner.child.bootstrap` as local children (same load report, exit codes and
tracebacks); the gate (as for the zygote's children) holds the target until the daemon has
recorded this pid, so a Process the target creates gets it as its parent.
"""

from __future__ import annotations

import json
import os
import sys

from supervisord_lite.owner.child import bootstrap, read_all


def main(argv: list[str]) -> int:
    spec_fd, status_fd, gate_fd = int(argv[1]), int(argv[2]), int(argv[3])
    spec = json.loads(read_all(spec_fd))
    del sys.argv[1:]  # the target sees the same sys.argv as a local child
    os.set_inheritable(gate_fd, False)
    return bootstrap(spec, status_fd, gate_fd)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
