"""The methods: one small handler each, and the table that names them (openrpc.json is made from it).

Handlers take validated params and return plain JSON-able values; errors are raised as core
exceptions or RpcError and mapped at the edge (dispatch.py).
"""

from __future__ import annotations

import base64
import binascii
import os
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from supervisord_lite import PROTOCOL_VERSION, __version__
from supervisord_lite.core import errors
from supervisord_lite.core.access import (
    DIGEST,
    Principal,
    check_control,
    check_read_key,
    may_control,
    new_challenge,
    verify,
)
from supervisord_lite.core.model import (
    Output,
    Placement,
    ProcessRecord,
    RunAs,
    State,
    Target,
    TargetKind,
    authkey_bytes,
    authkey_from_bytes,
)
from supervisord_lite.core.supervisor import Supervisor
from supervisord_lite.rpc import models as m
from supervisord_lite.rpc.errors import ErrorCode as E
from supervisord_lite.rpc.errors import RpcError
from supervisord_lite.rpc.users import gid_of, resolve_user, uid_of

if TYPE_CHECKING:
    from supervisord_lite.supervision.service import Supervision


@dataclass
class Peer:
    """Who is at the other end of a connection, as the kernel says (SO_PEERCRED)."""

    pid: int | None
    uid: int
    gid: int = -1
    groups: tuple[int, ...] = ()  # supplementary groups (SO_PEERGROUPS)
    caller: ProcessRecord | None = None
    resolved: bool = False
    principal: Principal | None = None  # what access.py's rules see; made on first use
    challenges: dict[int, bytes] = field(default_factory=dict)  # daemon.authenticate, step 1


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
    reply = {
        "id": record.id,
        "name": record.name,
        "parent": record.parent_id,
        "state": record.state,  # a StrEnum: orjson writes its value, and it equals that str
        "pid": record.pid,
        "exitcode": record.exitcode,
        "program": record.program,
        "argv": record.command,
        "started_at": record.started_at,
        "exited_at": record.exited_at,
    }
    if record.node is not None:  # a cluster backend's process only
        reply["node"] = record.node
    return reply
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
        self,
        supervisor: Supervisor,
        *,
        discover: Callable[[], Any] | None = None,
        supervision: Supervision | None = None,
    ) -> None:
        self.sv = supervisor
        self._discover = discover
        self._uid = os.geteuid()
        self.supervision = supervision
        self.own_uid = self._uid
        self.reload: Callable[[], Awaitable[dict[str, Any]]] | None = None  # daemon.reload

    def caller(self, ctx: CallContext) -> ProcessRecord | None:
        peer = ctx.peer
        if not peer.resolved:  # once per connection: the peer pid cannot change
            peer.caller = self.sv.caller_of(peer.pid)
            peer.resolved = True
        return peer.caller

    def principal(self, ctx: CallContext) -> Principal:
        peer = ctx.peer
        who = peer.principal
        if who is None:
            privileged = peer.uid == 0 or peer.uid == self._uid
            caller = None if privileged else self.caller(ctx)  # privileged: no walk needed
            who = peer.principal = Principal(peer.uid, privileged, caller)
        return who

    def run_as(self, ctx: CallContext, target: Any) -> RunAs | None:
        """Who the child runs as: no caller gets more than its own uid (docs/security.md)."""
        peer = ctx.peer
        user = None if target is None else target.user
        group = None if target is None else target.group
        if peer.uid in (0, self._uid):  # root or the daemon's user: itself, or whom it names
            named = resolve_user(user, group)
            if named is not None and self._uid != 0 and named.uid != self._uid:
                raise errors.AccessDenied(
                    f"this daemon runs as uid {self._uid}, not root: it cannot run a process as "
                    f"uid {named.uid}"
                )
            return named
        if user is not None and uid_of(user) != peer.uid:
            raise errors.AccessDenied(
                f"only root or the daemon's user may name another user ({user!r}); leave user "
                "out, and the process runs as you"
            )
        gid = peer.gid
        if group is not None:
            gid = gid_of(group)
            if gid not in (peer.gid, *peer.groups):
                raise errors.AccessDenied(
                    f"you (uid {peer.uid}) are not a member of group {group!r}; leave group out, "
                    "or name one of yours"
                )
        if self._uid != 0:
            raise errors.AccessDenied(
                f"this daemon runs as uid {self._uid}, not root, so it cannot run a process as "
                f"you (uid {peer.uid}); start a daemon of your own"
            )
        return RunAs(peer.uid, gid, peer.groups)

    def mine(self, ctx: CallContext, process_id: int) -> ProcessRecord:
        """The process, if this caller may control it (AccessDenied otherwise)."""
        record = self.sv.get(process_id)
        who = ctx.peer.principal or self.principal(ctx)
        return record if who.privileged else check_control(who, record)

    def create(self, ctx: CallContext, p: m.CreateParams) -> dict[str, Any]:
        record = self.sv.create(
            caller=self.caller(ctx),
            target=to_core_target(p.target),
            args=p.args,
            kwargs=p.kwargs,
            name=p.name,
            group=p.group,
            owner_uid=ctx.peer.uid,
            run_as=self.run_as(ctx, p.target),
            authkey=None if p.authkey is None else _key_from_base64(p.authkey, "authkey"),
            caller_pid=ctx.peer.pid,
            placement=None
            if p.placement is None
            else Placement(p.placement.node, p.placement.resources),
        )
        return info(record)

    async def start(self, ctx: CallContext, p: m.StartParams) -> dict[str, Any]:
        self.mine(ctx, p.id)  # an unknown id (or another user's) is the first thing to report
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
        self.mine(ctx, p.id)
        return info(await self.sv.join(p.id, timeout=p.timeout, caller=self.caller(ctx)))

    def get_name(self, ctx: CallContext, p: m.IdParams) -> str:
        return self.mine(ctx, p.id).name

    def set_name(self, ctx: CallContext, p: m.SetNameParams) -> None:
        self.mine(ctx, p.id)
        self.sv.set_name(p.id, p.name)

    def get_authkey(self, ctx: CallContext, p: m.GetAuthKeyParams) -> str:
        raw = authkey_bytes(check_read_key(self.principal(ctx), self.sv.get(p.id)).authkey)
        if p.encoding == "base64":
            return base64.b64encode(raw).decode("ascii")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise RpcError(
                E.INVALID_PARAMS,
                f"the authkey of process {p.id} is bytes that are not UTF-8 text: ask for it "
                'with "encoding": "base64"',
                {"id": p.id},
            ) from None

    def set_authkey(self, ctx: CallContext, p: m.SetAuthKeyParams) -> None:
        self.mine(ctx, p.id)
        value = p.value
        if value is not None and p.encoding == "base64":
            value = _key_from_base64(value, "value")
        self.sv.set_authkey(p.id, value)

    def info(self, ctx: CallContext, p: m.IdParams) -> dict[str, Any]:
        return info(self.mine(ctx, p.id))

    def list(self, ctx: CallContext, p: m.ListParams) -> list[dict[str, Any]]:
        state = None if p.state is None else State(p.state)
        who = self.principal(ctx)
        visible = None if who.privileged else (lambda r: may_control(who, r))
        found = self.sv.select(
            state=state, parent=p.parent, after=p.after, limit=p.limit, visible=visible
        )
        return [info(r) for r in found]

    def release(self, ctx: CallContext, p: m.IdParams) -> None:
        self.mine(ctx, p.id)
        self.sv.release(p.id)

    async def terminate(self, ctx: CallContext, p: m.TerminateParams) -> dict[str, Any]:
        self.mine(ctx, p.id)
        if p.timeout is None:
            return info(await self.sv.send_signal(p.id, signal.SIGTERM))
        return info(await self.sv.stop(p.id, signal.SIGTERM, p.timeout))

    async def kill(self, ctx: CallContext, p: m.IdParams) -> dict[str, Any]:
        self.mine(ctx, p.id)
        return info(await self.sv.send_signal(p.id, signal.SIGKILL))

    def daemon_info(self, ctx: CallContext, p: m.NoParams) -> dict[str, Any]:
        return {"version": __version__, "protocol_version": PROTOCOL_VERSION, "pid": os.getpid()}

    def authenticate(self, ctx: CallContext, p: m.AuthenticateParams) -> dict[str, Any]:
        """multiprocessing's challenge, in two calls: without `response` it draws a challenge
        (kept for this connection and this process, used once); with one it checks
        HMAC(key, challenge) and, if right, lets this connection control the process and its
        descendants. The key itself never crosses the wire."""
        record = self.sv.get(p.id)
        challenges = ctx.peer.challenges
        if p.response is None:
            drawn = challenges[p.id] = new_challenge()
            return {"challenge": drawn.hex(), "digest": DIGEST, "authenticated": False}
        challenge = challenges.pop(p.id, None)
        if challenge is None:
            raise errors.AuthenticationFailed(
                f"no challenge was asked for process {p.id} on this connection: call "
                "daemon.authenticate with only its id first",
                id=p.id,
            )
        verify(record, challenge, p.response)
        self.principal(ctx).proven.add(p.id)
        return {"challenge": None, "digest": DIGEST, "authenticated": True}

    def discover(self, ctx: CallContext, p: m.NoParams) -> Any:
        if self._discover is None:
            raise RpcError(E.METHOD_NOT_FOUND, "Method not found", {"method": "rpc.discover"})
        return self._discover()


def _key_from_base64(text: str, param: str) -> str:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise RpcError(
            E.INVALID_PARAMS,
            f"{param} must be standard base64 with its padding (the key's bytes), e.g. "
            '"c2VjcmV0" for b"secret"',
            {"errors": [{"loc": [param], "msg": "not base64", "type": "base64"}]},
        ) from None
    if len(raw) > m.AUTHKEY_MAX_BYTES:
        raise RpcError(
            E.INVALID_PARAMS,
            f"{param} is {len(raw)} bytes; an authkey is at most {m.AUTHKEY_MAX_BYTES}",
            {"errors": [{"loc": [param], "msg": "too long", "type": "too_long"}]},
        )
    return authkey_from_bytes(raw)
