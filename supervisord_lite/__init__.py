"""supervisord-lite: a daemon that owns `processing`-style Process objects, served over JSON-RPC 2.0.

Kept import-light on purpose: every Python child starts through `supervisord_lite.owner.child`.
"""

__version__ = "0.1.0"
PROTOCOL_VERSION = "1.1"
