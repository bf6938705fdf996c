"""Who may see and control which process: the rules of docs/security.md, kept apart from the
transport (which says who is calling, from the kernel's word) and from the methods (which ask).

- Root and the daemon's own user see and control every process (`privileged`).
- Anyone else sees and controls the processes its uid created, the supervised process it is (or
  runs under) and that one's descendants, and the processes it proved the key of
  (`daemon.authenticate`) and their descendants: the key is a capability, as in `processing`.
- A key is read (`getAuthKey`) only by the process itself, its ancestors, and callers of the uid
  that created it: never by another uid, root included (root can prove a key it was given).
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterable
from dataclasses import dataclass, field

from supervisord_lite.core import errors
from supervisord_lite.core.model import ProcessRecord

# Deep enough for any real process tree; bounds a walk up the parents.
_MAX_DEPTH = 4096
CHALLENGE_BYTES = 32
DIGEST = "sha256"  # multiprocessing's default since 3.12 (it was md5 before)


@dataclass
class Principal:
    """A caller as the rules see it."""

    uid: int
    privileged: bool  # root or the daemon's own user
    caller: ProcessRecord | None = None  # the supervised process it is (or runs under)
    proven: set[int] = field(default_factory=set)  # ids whose key it proved


def _lineage(record: ProcessRecord) -> Iterable[ProcessRecord]:
    """The record, then its parent, up to a process the daemon created."""
    node: ProcessRecord | None = record
    for _ in range(_MAX_DEPTH):
        if node is None:
            return
        yield node
        node = node.parent


def may_control(who: Principal, record: ProcessRecord) -> bool:
    if who.privileged or record.owner_uid == who.uid:
        return True
    return any(r is who.caller or r.id in who.proven for r in _lineage(record))


def may_read_key(who: Principal, record: ProcessRecord) -> bool:
    if record.owner_uid == who.uid:
        return True
    # The process itself, or one of its ancestors (a supervised caller above it).
    return who.caller is not None and any(r is who.caller for r in _lineage(record))


def check_control(who: Principal, record: ProcessRecord) -> ProcessRecord:
    if not may_control(who, record):
        raise errors.AccessDenied(
            f"process {record.id} belongs to another user (uid {record.owner_uid}); prove its key "
            "with daemon.authenticate to control it",
            id=record.id,
        )
    return record


def check_read_key(who: Principal, record: ProcessRecord) -> ProcessRecord:
    if not may_read_key(who, record):
        raise errors.AccessDenied(
            f"the key of process {record.id} is given only to the process itself, its ancestors "
            f"and callers of the user that created it (uid {record.owner_uid})",
            id=record.id,
        )
    return record


def new_challenge() -> bytes:
    return os.urandom(CHALLENGE_BYTES)


def answer(authkey: str, challenge: bytes) -> str:
    """HMAC(key, challenge), hex: what a caller that holds the key sends back."""
    return hmac.new(authkey.encode("utf-8"), challenge, DIGEST).hexdigest()


def verify(record: ProcessRecord, challenge: bytes, response: str) -> None:
    """As multiprocessing.connection.deliver_challenge: compared in constant time."""
    expected = answer(record.authkey, challenge)
    if not hmac.compare_digest(expected.encode("ascii"), response.encode("utf-8", "replace")):
        raise errors.AuthenticationFailed(
            f"authentication for process {record.id} failed: the response is not HMAC-SHA256 of "
            "the challenge under its key; ask a new challenge and try again",
            id=record.id,
        )
