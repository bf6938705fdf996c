"""supervisord-lite client: `Process` objects of the classic `processing` package, run by the
supervisord-lite daemon over its JSON-RPC socket. Standard library only.

    from supervisord_lite_client import Process

    def f(name):
        print('Hello', name)

    if __name__ == '__main__':
        p = Process(target=f, args=['Bob'])
        p.start()
        p.join()
"""

from supervisord_lite_client.client import Client, default_client, set_default_client
from supervisord_lite_client.errors import (
    AccessDenied,
    AlreadyStarted,
    AuthenticationFailed,
    BackendUnavailable,
    BadConfig,
    BadPlacement,
    BadTarget,
    BootstrapError,
    ConnectionLost,
    DaemonUnavailable,
    EventsExpired,
    FdsMissing,
    GroupNotNull,
    InternalError,
    InvalidParams,
    InvalidRequest,
    JoinSelf,
    MethodNotFound,
    NoSuchProcess,
    NoSuchProgram,
    NotStarted,
    ParseError,
    PermissionDenied,
    ProcessNotInitialized,
    ProgramExists,
    ProtocolError,
    ProtocolVersionError,
    RemoteError,
    ShuttingDown,
    SpawnFailed,
    StateUnwritable,
    StillRunning,
    SupervisordLiteError,
    TargetFailed,
    TargetNotPicklable,
    TooLarge,
    UntrustedDaemon,
)
from supervisord_lite_client.paths import default_socket_path
from supervisord_lite_client.process import Process, current_process_id
from supervisord_lite_client.protocol import PROTOCOL_MAJOR, DaemonInfo, ProcessInfo
from supervisord_lite_client.supervision import (
    Event,
    EventStream,
    LogFollower,
    LogLine,
    ProgramStatus,
)
from supervisord_lite_client.targets import Command, Reference

__version__ = "0.1.0"

__all__ = [
    "PROTOCOL_MAJOR",
    "AccessDenied",
    "AlreadyStarted",
    "AuthenticationFailed",
    "BackendUnavailable",
    "BadConfig",
    "BadPlacement",
    "BadTarget",
    "BootstrapError",
    "Client",
    "Command",
    "ConnectionLost",
    "DaemonInfo",
    "DaemonUnavailable",
    "Event",
    "EventStream",
    "EventsExpired",
    "FdsMissing",
    "GroupNotNull",
    "InternalError",
    "InvalidParams",
    "InvalidRequest",
    "JoinSelf",
    "LogFollower",
    "LogLine",
    "MethodNotFound",
    "NoSuchProcess",
    "NoSuchProgram",
    "NotStarted",
    "ParseError",
    "PermissionDenied",
    "Process",
    "ProcessInfo",
    "ProcessNotInitialized",
    "ProgramExists",
    "ProgramStatus",
    "ProtocolError",
    "ProtocolVersionError",
    "Reference",
    "RemoteError",
    "ShuttingDown",
    "SpawnFailed",
    "StateUnwritable",
    "StillRunning",
    "SupervisordLiteError",
    "TargetFailed",
    "TargetNotPicklable",
    "TooLarge",
    "UntrustedDaemon",
    "current_process_id",
    "default_client",
    "default_socket_path",
    "set_default_client",
]
