"""The method table: every JSON-RPC method's name, handler, params and result models, summary and
error codes. The dispatcher makes its methods of it and the OpenRPC document is generated from it.
Apart from the handlers (methods.py, supervision_methods.py, reload_method.py), so that they need
not import one another."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from supervisord_lite.rpc import models as m
from supervisord_lite.rpc.errors import ErrorCode as E
from supervisord_lite.rpc.methods import Api, CallContext
from supervisord_lite.rpc.reload_method import RELOAD_METHODS
from supervisord_lite.rpc.supervision_methods import SUPERVISION_METHODS

# Handlers that never wait are plain functions: no coroutine to make and drive on the hot path.
Handler = Callable[[Api, CallContext, Any], Any]


@dataclass(frozen=True)
class MethodSpec:
    name: str
    handler: Handler
    params: type[m.Params]
    result: Any  # a type pydantic can make a JSON schema of
    summary: str
    errors: tuple[E, ...] = ()


_ID = (E.NO_SUCH_PROCESS, E.ACCESS_DENIED)

METHODS: tuple[MethodSpec, ...] = (
    MethodSpec("process.create", Api.create, m.CreateParams, m.ProcessInfo,
               "Create a Process (not started). Its parent is the calling supervised process, if any.",
               (E.GROUP_NOT_NULL, E.BAD_TARGET, E.BAD_PLACEMENT, E.STATE_UNWRITABLE)),
    MethodSpec("process.start", Api.start, m.StartParams, m.ProcessInfo,
               "Start the process; at most once.",
               (*_ID, E.ALREADY_STARTED, E.SPAWN_FAILED, E.TARGET_FAILED, E.SHUTTING_DOWN,
                E.FDS_MISSING, E.BACKEND_UNAVAILABLE)),
    MethodSpec("process.join", Api.join, m.JoinParams, m.ProcessInfo,
               "Wait until the process ends (or the timeout passes); any number of times.",
               (*_ID, E.NOT_STARTED, E.JOIN_SELF)),
    MethodSpec("process.getName", Api.get_name, m.IdParams, str, "The process's name.", _ID),
    MethodSpec("process.setName", Api.set_name, m.SetNameParams, None,
               "Set the name the daemon reports (the running child's own view is unchanged).", _ID),
    MethodSpec("process.getAuthKey", Api.get_authkey, m.GetAuthKeyParams, str,
               "The process's authentication key (hex unless set otherwise), as text or base64.",
               _ID),
    MethodSpec("process.setAuthKey", Api.set_authkey, m.SetAuthKeyParams, None,
               "Set the authentication key (text, or base64 of bytes); null draws a new random one.",
               _ID),
    MethodSpec("process.info", Api.info, m.IdParams, m.ProcessInfo, "The process's info.", _ID),
    MethodSpec("process.list", Api.list, m.ListParams, list[m.ProcessInfo],
               "Processes by id: every one, or a page (after, limit) filtered by state and parent."),
    MethodSpec("process.release", Api.release, m.IdParams, None,
               "Forget an ended (or never started) process; its id is then unknown.",
               (*_ID, E.STILL_RUNNING)),
    MethodSpec("process.terminate", Api.terminate, m.TerminateParams, m.ProcessInfo,
               "Send SIGTERM to its whole tree (nothing if it already ended); with a timeout, "
               "SIGKILL after it and answer once it has exited.", (*_ID, E.NOT_STARTED)),
    MethodSpec("process.kill", Api.kill, m.IdParams, m.ProcessInfo,
               "Send SIGKILL to its whole tree (nothing if it already ended).",
               (*_ID, E.NOT_STARTED)),
    *(MethodSpec(*row) for row in SUPERVISION_METHODS),
    *(MethodSpec(*row) for row in RELOAD_METHODS),
    MethodSpec("daemon.info", Api.daemon_info, m.NoParams, m.DaemonInfo,
               "The daemon's version, protocol version and pid."),
    MethodSpec("daemon.authenticate", Api.authenticate, m.AuthenticateParams, m.Authentication,
               "Prove a process's key (HMAC challenge): then this connection controls it and its "
               "descendants.", (*_ID, E.AUTHENTICATION_FAILED)),
    MethodSpec("rpc.discover", Api.discover, m.NoParams, dict[str, Any],
               "The OpenRPC document describing this service."),
)  # fmt: skip
