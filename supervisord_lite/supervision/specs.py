"""A program's spec (what to run, how to restart and stop it, where its output goes) and its
document form in the state store (plain data, as core/store.py wants)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from supervisord_lite.core.model import Output, Target, TargetKind
from supervisord_lite.supervision.policy import Policy, Restart

DEFAULT_LOG_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_LOG_BACKUPS = 3


@dataclass(frozen=True)
class ProgramSpec:
    name: str
    target: Target
    args: Sequence[Any] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    policy: Policy = field(default_factory=Policy)
    output: Output = Output.LOG
    log_max_bytes: int = DEFAULT_LOG_MAX_BYTES
    log_backups: int = DEFAULT_LOG_BACKUPS

    @property
    def log_limits(self) -> dict[str, int]:
        return {"log_max_bytes": self.log_max_bytes, "log_backups": self.log_backups}


def target_doc(target: Target) -> dict[str, Any]:
    return {
        "kind": target.kind.value,
        "argv": list(target.argv),
        "ref": target.ref,
        "payload": target.payload,
        "main_path": target.main_path,
        "sys_path": list(target.sys_path),
        "env": dict(target.env),
        "cwd": target.cwd,
    }


def target_from_doc(doc: Mapping[str, Any]) -> Target:
    return Target(
        kind=TargetKind(doc["kind"]),
        argv=tuple(doc.get("argv", ())),
        ref=doc.get("ref"),
        payload=doc.get("payload"),
        main_path=doc.get("main_path"),
        sys_path=tuple(doc.get("sys_path", ())),
        env=dict(doc.get("env", {})),
        cwd=doc.get("cwd"),
    )


def policy_doc(policy: Policy) -> dict[str, Any]:
    doc = dataclasses.asdict(policy)
    doc["restart"] = policy.restart.value
    return doc


def policy_from_doc(doc: Mapping[str, Any]) -> Policy:
    values = {f.name: doc[f.name] for f in dataclasses.fields(Policy) if f.name in doc}
    values["restart"] = Restart(values.get("restart", Restart.ON_FAILURE))
    return Policy(**values)


def spec_doc(spec: ProgramSpec, *, wanted: bool) -> dict[str, Any]:
    """The store's document: the spec, and whether the program is meant to be running (so that
    it is started again when the daemon comes back)."""
    return {
        "name": spec.name,
        "target": target_doc(spec.target),
        "args": list(spec.args),
        "kwargs": dict(spec.kwargs),
        "policy": policy_doc(spec.policy),
        "output": spec.output.value,
        "log_max_bytes": spec.log_max_bytes,
        "log_backups": spec.log_backups,
        "wanted": wanted,
    }


def spec_from_doc(doc: Mapping[str, Any]) -> tuple[ProgramSpec, bool]:
    spec = ProgramSpec(
        name=doc["name"],
        target=target_from_doc(doc["target"]),
        args=tuple(doc.get("args", ())),
        kwargs=dict(doc.get("kwargs", {})),
        policy=policy_from_doc(doc.get("policy", {})),
        output=Output(doc.get("output", Output.LOG.value)),
        log_max_bytes=int(doc.get("log_max_bytes", DEFAULT_LOG_MAX_BYTES)),
        log_backups=int(doc.get("log_backups", DEFAULT_LOG_BACKUPS)),
    )
    return spec, bool(doc.get("wanted", False))
