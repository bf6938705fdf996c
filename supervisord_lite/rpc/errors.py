"""The one table from core exceptions to JSON-RPC error codes (documented in protocol/PROTOCOL.md)."""

from __future__ import annotations

import enum

from supervisord_lite.core import errors


class ErrorCode(enum.IntEnum):
    PARSE_ERROR = -32700
    INVALID_REQUEST = -32600
    METHOD_NOT_FOUND = -32601
    INVALID_PARAMS = -32602
    INTERNAL_ERROR = -32603
    NO_SUCH_PROCESS = 1001
    ALREADY_STARTED = 1002
    NOT_STARTED = 1003
    GROUP_NOT_NULL = 1004
    BAD_TARGET = 1005
    SPAWN_FAILED = 1006
    TARGET_FAILED = 1007
    JOIN_SELF = 1008
    SHUTTING_DOWN = 1009
    PERMISSION_DENIED = 1010
    FDS_MISSING = 1011
    STILL_RUNNING = 1012
    ACCESS_DENIED = 1016
    AUTHENTICATION_FAILED = 1017
    TOO_LARGE = 1021
    PROGRAM_EXISTS = 1013
    NO_SUCH_PROGRAM = 1014
    EVENTS_EXPIRED = 1015
    BAD_CONFIG = 1018
    BACKEND_UNAVAILABLE = 1019
    BAD_PLACEMENT = 1020
    STATE_UNWRITABLE = 1022


CODES: dict[type[errors.CoreError], ErrorCode] = {
    errors.NoSuchProcess: ErrorCode.NO_SUCH_PROCESS,
    errors.AlreadyStarted: ErrorCode.ALREADY_STARTED,
    errors.NotStarted: ErrorCode.NOT_STARTED,
    errors.GroupNotNull: ErrorCode.GROUP_NOT_NULL,
    errors.BadTarget: ErrorCode.BAD_TARGET,
    errors.SpawnFailed: ErrorCode.SPAWN_FAILED,
    errors.TargetFailed: ErrorCode.TARGET_FAILED,
    errors.JoinSelf: ErrorCode.JOIN_SELF,
    errors.ShuttingDown: ErrorCode.SHUTTING_DOWN,
    errors.StillRunning: ErrorCode.STILL_RUNNING,
    errors.AccessDenied: ErrorCode.ACCESS_DENIED,
    errors.AuthenticationFailed: ErrorCode.AUTHENTICATION_FAILED,
    errors.ProgramExists: ErrorCode.PROGRAM_EXISTS,
    errors.NoSuchProgram: ErrorCode.NO_SUCH_PROGRAM,
    errors.EventsExpired: ErrorCode.EVENTS_EXPIRED,
    errors.BadSince: ErrorCode.INVALID_PARAMS,
    errors.BadRunId: ErrorCode.INVALID_PARAMS,
    errors.BackendUnavailable: ErrorCode.BACKEND_UNAVAILABLE,
    errors.BadPlacement: ErrorCode.BAD_PLACEMENT,
    errors.StateUnwritable: ErrorCode.STATE_UNWRITABLE,
}


class RpcError(Exception):
    """An error raised at the edge (bad params, missing fds) that is not a core refusal."""

    def __init__(self, code: ErrorCode, message: str, data: object = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data
