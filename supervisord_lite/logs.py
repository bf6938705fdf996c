"""Logging to stderr in a form journald keeps well.

STUB: filled in by the systemd work (issue 6).
"""

from __future__ import annotations

import logging
import sys


def setup(level: int = logging.INFO) -> None:
    """One event a line on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
