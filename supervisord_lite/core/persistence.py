"""Process records as the store keeps them: plain documents, and back."""

from __future__ import annotations

import base64
import enum
from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from supervisord_lite.core.model import (
    Output,
    Placement,
    ProcessRecord,
    RunAs,
    State,
    Target,
    authkey_bytes,
    authkey_from_bytes,
)

_EMPTY = Target()
# Field by field, so that a field added to Target is kept too; worked out once, not per call
# (a spawn on the keeper link converts a target each way).
_TARGET_FIELDS = tuple((f.name, getattr(_EMPTY, f.name)) for f in fields(Target))


def target_to_dict(target: Target) -> dict[str, Any]:
    """A target as plain data; fields at their default are left out (they read back the same)."""
    out: dict[str, Any] = {}
    for name, default in _TARGET_FIELDS:
        value = getattr(target, name)
        if value is default or value == default:
            continue
        if isinstance(value, enum.Enum):
            value = value.value
        elif isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, Mapping):
            value = dict(value)
        out[name] = value
    return out


def target_from_dict(data: Mapping[str, Any]) -> Target:
    if not data:
        return _EMPTY
    values: dict[str, Any] = {}
    for name, default in _TARGET_FIELDS:
        if name not in data:
            continue  # its default (or written by an older version)
        value = data[name]
        if isinstance(default, enum.Enum):
            value = type(default)(value)
        elif isinstance(default, tuple) and value is not None:
            value = tuple(value)
        values[name] = value
    return Target(**values)


def run_as_to_dict(run_as: RunAs | None) -> dict[str, Any] | None:
    if run_as is None:
        return None
    return {"uid": run_as.uid, "gid": run_as.gid, "groups": list(run_as.groups)}


def run_as_from_dict(data: Mapping[str, Any] | None) -> RunAs | None:
    if data is None:
        return None
    return RunAs(uid=int(data["uid"]), gid=int(data["gid"]), groups=tuple(data["groups"]))


def key_to_text(key: str) -> str:
    """A key as JSON can carry it: base64 of its bytes (a key may be bytes that are not UTF-8,
    held as lone surrogates, which no JSON encoder writes)."""
    return base64.b64encode(authkey_bytes(key)).decode("ascii")


def key_from_text(text: str) -> str:
    return authkey_from_bytes(base64.b64decode(text))


def lineage(record: ProcessRecord) -> dict[str, Any]:
    """What a spawn request lacks to rebuild the record from it (see `from_request`)."""
    return {
        "identity": list(record.identity),
        "parent": record.parent_id,
        "owner_uid": record.owner_uid,
        "program": record.program,
    }


def from_request(request: Mapping[str, Any], known: Mapping[int, ProcessRecord]) -> ProcessRecord:
    """The record of a process started just before a crash of the front, from the spawn request
    the keeper kept: its record had not been written yet."""
    meta = request.get("record") or {}
    identity = tuple(meta.get("identity") or (request["process_id"],))
    parent_id = meta.get("parent")
    return ProcessRecord(
        id=request["process_id"],
        identity=identity,
        name=request["name"],
        parent=known.get(parent_id) if parent_id is not None else None,
        parent_id=parent_id,
        authkey=key_from_text(request["authkey"]),
        target=target_from_dict(request["target"]),
        args=tuple(request["args"]),
        kwargs=dict(request["kwargs"]),
        state=State.RUNNING,
        owner_uid=meta.get("owner_uid", -1),
        run_as=run_as_from_dict(request.get("run_as")),
        program=meta.get("program"),
    )


def to_document(record: ProcessRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "identity": list(record.identity),
        "name": record.name,
        "parent": record.parent_id,
        "authkey_b64": key_to_text(record.authkey),
        "target": target_to_dict(record.target),
        "args": list(record.args),
        "kwargs": dict(record.kwargs),
        # A start under way is a run to the store: if the front dies now, the keeper knows. Its
        # exit may be reported before the start ends: then it is stored as it is, `exited`.
        "state": State.RUNNING.value
        if record.starting and record.state is State.CREATED
        else record.state.value,
        "pid": record.pid,
        "exitcode": record.exitcode,
        "children_created": record.children_created,
        "lost_reason": record.lost_reason,
        "owner_uid": record.owner_uid,  # who may see and control it (docs/security.md)
        "creator_pid": record.creator_pid,
        "program": record.program,  # supervision: which program this is a run of
        "output": None if record.output is None else record.output.value,
        "started_at": record.started_at,
        "exited_at": record.exited_at,
        "run_time": record.run_time,
        "node": record.node,
        "placement": None
        if record.placement is None
        else {"node": record.placement.node, "resources": dict(record.placement.resources)},
        "run_as": run_as_to_dict(record.run_as),
    }


def from_document(doc: Mapping[str, Any], known: Mapping[int, ProcessRecord]) -> ProcessRecord:
    """A record as stored; its parent is linked when still known (else only its id remains)."""
    target = target_from_dict(doc["target"])
    parent_id = doc["parent"]
    record = ProcessRecord(
        id=doc["id"],
        identity=tuple(doc["identity"]),
        name=doc["name"],
        parent=known.get(parent_id) if parent_id is not None else None,
        parent_id=parent_id,
        authkey=key_from_text(doc["authkey_b64"]),
        target=target,
        args=tuple(doc["args"]),
        kwargs=dict(doc["kwargs"]),
        state=State(doc["state"]),
        pid=doc["pid"],
        exitcode=doc["exitcode"],
        children_created=doc["children_created"],
        lost_reason=doc.get("lost_reason"),
        owner_uid=doc.get("owner_uid", -1),
        run_as=run_as_from_dict(doc.get("run_as")),
        creator_pid=doc.get("creator_pid"),
        program=doc.get("program"),
        output=None if doc.get("output") is None else Output(doc["output"]),
        started_at=doc.get("started_at"),
        exited_at=doc.get("exited_at"),
        run_time=doc.get("run_time"),
        node=doc.get("node"),
        placement=None
        if doc.get("placement") is None
        else Placement(doc["placement"]["node"], doc["placement"]["resources"]),
    )
    if record.state in (State.EXITED, State.LOST):
        record.exited.set()
    return record
