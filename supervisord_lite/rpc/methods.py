"""The methods: one small handler each, and the table that names them (openrpc.json is made from it).

Handlers take validated params and return plain JSON-able values; errors are raised as core
exceptions or RpcError and mapped at the edge (dispatch.py).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from supervisord_lite import PROTOCOL_VERSION, __version__
from supervisord_lite.core.model import Output, Placement, ProcessRecord, Target, TargetKind
from supervisord_lite.core.supervisor import Supervisor
from supervisord_lite.rpc import models as m
from supervisord_lite.rpc.errors import ErrorCode as E
from supervisord_lite.rpc.errors import RpcError


@dataclass
class Peer:
    """Who is at the other end of a connection, as the kernel says (SO_PEERCRED)."""

    pid: int | None
    uid: int
    caller: ProcessRecord | None = None
    resolved: bool = False


@dataclass
class CallContext:
    """What a method sees besides its params: the peer, and fds that came with the message."""

    peer: Peer
    fds: list[int] = field(default_factory=list)

    def take_fds(self, n: int) -> list[int] | None:
        """Take the first n fds (removed from the list the transport closes after the call)."""
        if len(self.fds) < n:
            return None
        taken = self.fds[:n]
        del self.fds[:n]
        return taken


def info(record: ProcessRecord) -> dict[str, Any]:
    """ProcessInfo as sent on the wire (built by hand: this is the hot path; tests check the model)."""
    parent = record.parent
    reply = {
        "id": record.id,
        "name": record.name,
        "parent": None if parent is None else parent.id,
        "state": record.state,  # a StrEnum: orjson writes its value, and it equals that str
        "pid": record.pid,
        "exitcode": record.exitcode,
    }
    node = getattr(record.child, "node", None)  # a cluster backend's child only
    if node is not None:
        reply["node"] = node
    return reply


_NO_TARGET = Target()  # frozen, so one serves every process created without a target


def to_core_target(target: m.ArgvTarget | m.CallableTarget | m.PickleTarget | None) -> Target:
    # The params model is dropped after the call, so its lists and dict are not copied.
    if target is None:
        return _NO_TARGET
    if isinstance(target, m.ArgvTarget):
        return Target(TargetKind.ARGV, argv=tuple(target.argv), env=target.env, cwd=target.cwd)
    if isinstance(target, m.CallableTarget):
        return Target(
            TargetKind.CALLABLE,
            ref=target.callable,
            sys_path=tuple(target.sys_path),
            env=target.env,
            cwd=target.cwd,
        )
    return Target(
        TargetKind.PICKLE,
        payload=target.pickle,
        main_path=target.main_path,
        sys_path=tuple(target.sys_path),
        env=target.env,
        cwd=target.cwd,
    )


class Api:
    def __init__(
        self, supervisor: Supervisor, *, discover: Callable[[], Any] | None = None
    ) -> None:
        self.sv = supervisor
        self._discover = discover

    def caller(self, ctx: CallContext) -> ProcessRecord | None:
        peer = ctx.peer
        if not peer.resolved:  # once per connection: the peer pid cannot change
            peer.caller = self.sv.caller_of(peer.pid)
            peer.resolved = True
        return peer.caller

    def create(self, ctx: CallContext, p: m.CreateParams) -> dict[str, Any]:
        record = self.sv.create(
            caller=self.caller(ctx),
            target=to_core_target(p.target),
            args=p.args,
            kwargs=p.kwargs,
            name=p.name,
            group=p.group,
            placement=None
            if p.placement is None
            else Placement(p.placement.node, p.placement.resources),
        )
        return info(record)

    async def start(self, ctx: CallContext, p: m.StartParams) -> dict[str, Any]:
        self.sv.get(p.id)  # an unknown id is the first thing to report
        output = Output(p.output)
        fds = None
        if output is Output.PASSED:
            taken = ctx.take_fds(2)
            if taken is None:
                raise RpcError(
                    E.FDS_MISSING,
                    'output "passed" needs two file descriptors (stdout, stderr) sent with this '
                    "request line (SCM_RIGHTS over the Unix socket)",
                    {"id": p.id},
                )
            fds = (taken[0], taken[1])
        return info(await self.sv.start(p.id, output=output, fds=fds))

    async def join(self, ctx: CallContext, p: m.JoinParams) -> dict[str, Any]:
        return info(await self.sv.join(p.id, timeout=p.timeout, caller=self.caller(ctx)))

    def get_name(self, ctx: CallContext, p: m.IdParams) -> str:
        return self.sv.get(p.id).name

    def set_name(self, ctx: CallContext, p: m.SetNameParams) -> None:
        self.sv.set_name(p.id, p.name)

    def get_authkey(self, ctx: CallContext, p: m.IdParams) -> str:
        return self.sv.get(p.id).authkey

    def set_authkey(self, ctx: CallContext, p: m.SetAuthKeyParams) -> None:
        self.sv.set_authkey(p.id, p.value)

    def info(self, ctx: CallContext, p: m.IdParams) -> dict[str, Any]:
        return info(self.sv.get(p.id))

    def list(self, ctx: CallContext, p: m.NoParams) -> list[dict[str, Any]]:
        return [info(r) for r in self.sv.records()]

    def terminate(self, ctx: CallContext, p: m.IdParams) -> dict[str, Any]:
        return info(self.sv.send_signal(p.id, signal.SIGTERM))

    def kill(self, ctx: CallContext, p: m.IdParams) -> dict[str, Any]:
        return info(self.sv.send_signal(p.id, signal.SIGKILL))

    def daemon_info(self, ctx: CallContext, p: m.NoParams) -> dict[str, Any]:
        return {"version": __version__, "protocol_version": PROTOCOL_VERSION, "pid": os.getpid()}

    def discover(self, ctx: CallContext, p: m.NoParams) -> Any:
        if self._discover is None:
            raise RpcError(E.METHOD_NOT_FOUND, "Method not found", {"method": "rpc.discover"})
        return self._discover()


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


_ID = (E.NO_SUCH_PROCESS,)

METHODS: tuple[MethodSpec, ...] = (
    MethodSpec("process.create", Api.create, m.CreateParams, m.ProcessInfo,
               "Create a Process (not started). Its parent is the calling supervised process, if any.",
               (E.GROUP_NOT_NULL, E.BAD_TARGET, E.BAD_PLACEMENT)),
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
    MethodSpec("process.getAuthKey", Api.get_authkey, m.IdParams, str,
               "The process's authentication key (hex).", _ID),
    MethodSpec("process.setAuthKey", Api.set_authkey, m.SetAuthKeyParams, None,
               "Set the authentication key; null draws a new random one.", _ID),
    MethodSpec("process.info", Api.info, m.IdParams, m.ProcessInfo, "The process's info.", _ID),
    MethodSpec("process.list", Api.list, m.NoParams, list[m.ProcessInfo],
               "Every process, by id."),
    MethodSpec("process.terminate", Api.terminate, m.IdParams, m.ProcessInfo,
               "Send SIGTERM (nothing if it already ended).", (*_ID, E.NOT_STARTED)),
    MethodSpec("process.kill", Api.kill, m.IdParams, m.ProcessInfo,
               "Send SIGKILL (nothing if it already ended).", (*_ID, E.NOT_STARTED)),
    MethodSpec("daemon.info", Api.daemon_info, m.NoParams, m.DaemonInfo,
               "The daemon's version, protocol version and pid."),
    MethodSpec("rpc.discover", Api.discover, m.NoParams, dict[str, Any],
               "The OpenRPC document describing this service."),
)  # fmt: skip
