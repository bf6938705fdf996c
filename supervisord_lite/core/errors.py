"""What can go wrong in the core, as exceptions. Wire codes are assigned at the edge (rpc/errors.py)."""

from __future__ import annotations

from typing import Any


class CoreError(Exception):
    """A refusal the caller can act on; the message says what went wrong and what to do."""

    def __init__(self, message: str, **data: Any) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class NoSuchProcess(CoreError):
    pass


class AlreadyStarted(CoreError):
    pass


class NotStarted(CoreError):
    pass


class GroupNotNull(CoreError):
    pass


class BadTarget(CoreError):
    pass


class SpawnFailed(CoreError):
    """The program could not be executed; nothing was started."""


class TargetFailed(CoreError):
    """A Python target could not be loaded in the child; the child exited with code 1."""


class JoinSelf(CoreError):
    pass


class ShuttingDown(CoreError):
    pass


class StillRunning(CoreError):
    """A process that runs (or is starting) cannot be released; join or kill it first."""


class AccessDenied(CoreError):
    """The caller may not see or control this process (another user's; docs/security.md)."""


class AuthenticationFailed(CoreError):
    """A key could not be proven: no challenge was asked, or the response is wrong."""


class ProgramExists(CoreError):
    pass


class NoSuchProgram(CoreError):
    pass


class EventsExpired(CoreError):
    """The events after the reader's `since` have left the ring (data: the oldest seq kept)."""


class BadSince(CoreError):
    """A `since` ahead of the newest event: a cursor from another daemon's history."""


class BadRunId(CoreError):
    """process.logs with a program and an id that is not one of its runs."""


class BadPlacement(CoreError):
    """A placement no node can satisfy, or one given to a backend that does not place."""


class BackendUnavailable(CoreError):
    """The cluster the processes run on cannot be reached now; nothing was started."""


class StateUnwritable(CoreError):
    """A create needs a new block of ids recorded in the state directory, and it cannot be
    written (a full disk): no id is handed out that a restart could hand out again."""
