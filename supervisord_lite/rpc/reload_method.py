"""`daemon.reload` (protocol 1.1): read the config file again and apply its programs, as
`supervisorctl update` does. Its row joins the method table (table.py) as the supervision ones do."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from supervisord_lite.rpc import models as m
from supervisord_lite.rpc.errors import ErrorCode as E
from supervisord_lite.rpc.errors import RpcError

if TYPE_CHECKING:
    from supervisord_lite.rpc.methods import Api, CallContext


class ReloadResultObject(BaseModel):
    config: str | None = Field(description="The file read (null: none was found)")
    added: list[str] = Field(description="Programs new in the file: added (and started)")
    changed: list[str] = Field(description="Programs whose spec changed: stopped, started anew")
    removed: list[str] = Field(description="Programs gone from the file: stopped and removed")
    unchanged: list[str] = Field(description="Left running untouched")


ReloadResult = ReloadResultObject


async def daemon_reload(api: Api, ctx: CallContext, p: m.NoParams) -> dict[str, Any]:
    if ctx.peer.uid not in (0, api.own_uid):
        raise RpcError(
            E.ACCESS_DENIED,
            f"only root or the daemon's own user may reload it (you are uid {ctx.peer.uid})",
        )
    if api.reload is None:  # pragma: no cover - the daemon always wires it
        raise RpcError(E.METHOD_NOT_FOUND, "Method not found: reload is not enabled")
    return await api.reload()


RELOAD_METHODS: tuple[tuple[Any, ...], ...] = (
    ("daemon.reload", daemon_reload, m.NoParams, ReloadResult,
     "Read the config file again and apply it: add new programs, remove deleted ones, restart "
     "changed ones, leave the others untouched. A bad file changes nothing.",
     (E.BAD_CONFIG, E.ACCESS_DENIED)),
)  # fmt: skip
