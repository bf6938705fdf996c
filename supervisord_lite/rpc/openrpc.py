"""The OpenRPC document, made from the method table and the pydantic models.

STUB: filled in by the protocol work (issue 4).
"""

from __future__ import annotations

from typing import Any


def document() -> dict[str, Any]:
    return {
        "openrpc": "1.3.2",
        "info": {"title": "supervisord-lite", "version": "1.0"},
        "methods": [],
    }
