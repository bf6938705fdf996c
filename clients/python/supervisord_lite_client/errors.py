"""The exceptions of the client, one class per error code of protocol/PROTOCOL.md.

    SupervisordLiteError
    ├── DaemonUnavailable (also a ConnectionError)   no daemon at the socket path, or it went away
    │   ├── UntrustedDaemon                           the socket is served by another user's process
    │   └── ConnectionLost                            the connection closed before the answer came
    ├── ProtocolError                                 the daemon's answer is not what the protocol says
    │   └── ProtocolVersionError                      the daemon speaks another major version
    ├── RemoteError(code, message, data, method)     an error response; one subclass per code:
    │   ├── NoSuchProcess (1001)  AlreadyStarted (1002)  NotStarted (1003)  GroupNotNull (1004)
    │   ├── BadTarget (1005)      SpawnFailed (1006)     TargetFailed (1007)  JoinSelf (1008)
    │   ├── ShuttingDown (1009)   PermissionDenied (1010)  FdsMissing (1011)
    │   ├── StillRunning (1012, also a ValueError, as multiprocessing's close() raises)
    │   ├── AccessDenied (1016)   AuthenticationFailed (1017)  TooLarge (1021)
    │   ├── BackendUnavailable (1019)  BadPlacement (1020)  StateUnwritable (1022)
    │   └── ParseError (-32700)   InvalidRequest (-32600)  MethodNotFound (-32601)
    │       InvalidParams (-32602)  InternalError (-32603)
    ├── ProcessNotInitialized (also a RuntimeError)  a Process subclass did not call Process.__init__
    ├── BootstrapError (also a RuntimeError)         no longer raised (see below)
    └── TargetNotPicklable (also a TypeError)        a Python target (or its arguments) cannot be pickled

`RemoteError` subclasses are chosen by code, so `except AlreadyStarted` works whatever the message;
the daemon's message and data are kept as they came (`exc.message`, `exc.data`). No module here opens
a socket: this is shared by the sans-I/O protocol layer and the blocking shell.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar


class SupervisordLiteError(Exception):
    """Base class of every error raised by this package."""


class DaemonUnavailable(SupervisordLiteError, ConnectionError):
    """No daemon answers at `socket_path` (not running, wrong path, no permission), or it went away."""

    def __init__(self, message: str, socket_path: str | None = None) -> None:
        super().__init__(message)
        self.socket_path = socket_path

    def __str__(self) -> str:
        return str(self.args[0])


class UntrustedDaemon(DaemonUnavailable):
    """The socket is served by a process of another user (SO_PEERCRED): nothing was sent to it."""


class ConnectionLost(DaemonUnavailable):
    """The daemon closed the connection (it stopped or restarted) before answering."""


class ProtocolError(SupervisordLiteError):
    """The daemon sent something that is not a valid response of protocol/PROTOCOL.md."""


class ProtocolVersionError(ProtocolError):
    """The daemon speaks a protocol major version this client does not."""


class ProcessNotInitialized(SupervisordLiteError, RuntimeError):
    """A `Process` subclass whose `__init__` did not call `Process.__init__()` first."""


class BootstrapError(SupervisordLiteError, RuntimeError):
    """Kept for code that names it; no longer raised. A Process made while a child runs the
    caller's script as `__mp_main__` (the script lacks its `if __name__ == '__main__':` guard)
    raises a plain RuntimeError, as multiprocessing does, so the traceback reads as theirs."""


class TargetNotPicklable(SupervisordLiteError, TypeError):
    """A Python target (callable, args, kwargs or the Process subclass) cannot be pickled."""


class RemoteError(SupervisordLiteError):
    """An error response from the daemon: JSON-RPC `code`, `message` and `data` as sent."""

    code: int = 0  # the class's own code; an instance carries the code it was made from
    name: ClassVar[str] = "RemoteError"

    def __init__(
        self, code: int, message: str, data: Any = None, method: str | None = None
    ) -> None:
        super().__init__(code, message, data, method)
        self.code = code
        self.message = message
        self.data = data
        self.method = method

    def __str__(self) -> str:
        where = f"{self.method}: " if self.method else ""
        text = f"{where}{self.message} [{self.name} {self.code}]"
        if self.data is not None:
            text += " " + json.dumps(self.data, sort_keys=True, default=str)
        return text

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.code, self.message, self.data, self.method))


# Written out (not generated in a loop) so that type checkers and readers see every name.
class NoSuchProcess(RemoteError):
    """1001: no process has this id (`data: {"id"}`)."""

    code = 1001
    name = "NoSuchProcess"


class AlreadyStarted(RemoteError):
    """1002: `start()` on a process that was started before."""

    code = 1002
    name = "AlreadyStarted"


class NotStarted(RemoteError):
    """1003: `join()`, `terminate()` or `kill()` before `start()`."""

    code = 1003
    name = "NotStarted"


class GroupNotNull(RemoteError):
    """1004: `group` is not None (it exists for compatibility with `threading.Thread`)."""

    code = 1004
    name = "GroupNotNull"


class BadTarget(RemoteError):
    """1005: the target is malformed (bad reference, empty argv, kwargs with argv, ...)."""

    code = 1005
    name = "BadTarget"


class SpawnFailed(RemoteError):
    """1006: the program could not be executed; the process stays not started."""

    code = 1006
    name = "SpawnFailed"


class TargetFailed(RemoteError):
    """1007: a Python target could not be loaded in the child (exit code 1, traceback on stderr)."""

    code = 1007
    name = "TargetFailed"


class JoinSelf(RemoteError):
    """1008: a process (or a program it runs) tried to join itself."""

    code = 1008
    name = "JoinSelf"


class ShuttingDown(RemoteError):
    """1009: the daemon is stopping and starts nothing new."""

    code = 1009
    name = "ShuttingDown"


class PermissionDenied(RemoteError):
    """1010: the daemon runs as another user (only its user and root may talk to it)."""

    code = 1010
    name = "PermissionDenied"


class FdsMissing(RemoteError):
    """1011: `output="passed"` but the two file descriptors did not come with the request."""

    code = 1011
    name = "FdsMissing"


class StillRunning(RemoteError, ValueError):
    """1012: `release()`/`close()` of a process that is still running (or starting); join it
    first. A ValueError too, which is what `multiprocessing.Process.close()` raises then."""

    code = 1012
    name = "StillRunning"


class AccessDenied(RemoteError):
    """1016: the process belongs to another user; prove its key (Client.authenticate) first."""

    code = 1016
    name = "AccessDenied"


class AuthenticationFailed(RemoteError):
    """1017: the key could not be proven (wrong key, or no challenge asked)."""

    code = 1017
    name = "AuthenticationFailed"


class TooLarge(RemoteError):
    """1021: a batch with too many members, or a batch reply too large; split the batch."""

    code = 1021
    name = "TooLarge"


class ProgramExists(RemoteError):
    """1013: `program.add` with a name another program has (`data: {"name"}`)."""

    code = 1013
    name = "ProgramExists"


class NoSuchProgram(RemoteError):
    """1014: no program has this name (`data: {"name"}`)."""

    code = 1014
    name = "NoSuchProgram"


class EventsExpired(RemoteError):
    """1015: the events after `since` have left the daemon's ring (`data: {"oldest"}`): list the
    state again, then read from `oldest - 1`."""

    code = 1015
    name = "EventsExpired"

    @property
    def oldest(self) -> int | None:
        data = self.data
        return data.get("oldest") if isinstance(data, dict) else None


class BadConfig(RemoteError):
    """1018: `daemon.reload` found a config file it cannot use (the message names the file and
    the line or key path); nothing was changed (`data: {"path"}`)."""

    code = 1018
    name = "BadConfig"


class BackendUnavailable(RemoteError):
    """1019: the cluster the daemon runs processes on cannot be reached now; nothing started."""

    code = 1019
    name = "BackendUnavailable"


class BadPlacement(RemoteError):
    """1020: no live cluster node can take the `placement`, or the daemon takes none (local)."""

    code = 1020
    name = "BadPlacement"


class StateUnwritable(RemoteError):
    """1022: the daemon cannot write its state directory (a full disk, say), and a create needs
    a new block of ids written first; nothing was created and what runs goes on: try again later."""

    code = 1022
    name = "StateUnwritable"


class ParseError(RemoteError):
    """-32700: the daemon could not parse what was sent."""

    code = -32700
    name = "ParseError"


class InvalidRequest(RemoteError):
    """-32600: not a valid request object, or a message over the daemon's size limit."""

    code = -32600
    name = "InvalidRequest"


class MethodNotFound(RemoteError):
    """-32601: the daemon has no such method (`data: {"method"}`)."""

    code = -32601
    name = "MethodNotFound"


class InvalidParams(RemoteError):
    """-32602: wrong, missing or extra params (`data: {"errors": [...]}`)."""

    code = -32602
    name = "InvalidParams"


class InternalError(RemoteError):
    """-32603: the daemon failed internally (its log says more)."""

    code = -32603
    name = "InternalError"


ERROR_CLASSES: dict[int, type[RemoteError]] = {
    cls.code: cls
    for cls in (
        NoSuchProcess,
        AlreadyStarted,
        NotStarted,
        GroupNotNull,
        BadTarget,
        SpawnFailed,
        TargetFailed,
        JoinSelf,
        ShuttingDown,
        PermissionDenied,
        FdsMissing,
        StillRunning,
        AccessDenied,
        AuthenticationFailed,
        TooLarge,
        ProgramExists,
        NoSuchProgram,
        EventsExpired,
        BadConfig,
        BackendUnavailable,
        BadPlacement,
        StateUnwritable,
        ParseError,
        InvalidRequest,
        MethodNotFound,
        InvalidParams,
        InternalError,
    )
}


def remote_error(
    code: int, message: str, data: Any = None, method: str | None = None
) -> RemoteError:
    """The exception for an error response: the class of its code, else a plain RemoteError."""
    return ERROR_CLASSES.get(code, RemoteError)(code, message, data, method)
