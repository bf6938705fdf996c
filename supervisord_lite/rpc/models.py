"""Every params and result object on the wire, as pydantic models (openrpc.json is made from these)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

ProcessId = Annotated[int, Field(strict=True, gt=0, description="A process id (never reused)")]
Env = Annotated[
    dict[str, str | None],
    Field(description="Merged into the daemon's environment; null removes a variable"),
]


class Params(BaseModel):
    """Params by name; unknown names are refused so that a typo is an error, not a silent default."""

    model_config = ConfigDict(extra="forbid", strict=True)


# Mutable defaults as factories: pydantic deep-copies a literal {} or [] default on every request
# (9 Python calls for a create); the schema still shows the default (json_schema_extra).
def _empty_dict() -> Any:
    return Field(default_factory=dict, json_schema_extra={"default": {}})


def _empty_list(description: str | None = None) -> Any:
    return Field(default_factory=list, description=description, json_schema_extra={"default": []})


class _TargetBase(Params):
    env: Env = _empty_dict()
    cwd: str | None = Field(None, description="Working directory of the child")


class ArgvTarget(_TargetBase):
    argv: Annotated[list[str], Field(min_length=1, description="Program and its arguments")]


class CallableTarget(_TargetBase):
    callable: Annotated[
        str,
        Field(
            pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$",
            description='"package.module:function", imported and called in the child',
        ),
    ]
    sys_path: list[str] = _empty_list("Directories put first on the child's sys.path")


class PickleTarget(_TargetBase):
    pickle: str = Field(description="Base64 of a pickled callable; unpickled only in the child")
    main_path: str | None = Field(None, description="Script run as __mp_main__ before unpickling")
    sys_path: list[str] = _empty_list("Directories put first on the child's sys.path")


def _target_kind(value: Any) -> str | None:
    if isinstance(value, dict):  # the one kind named, or None for none or several
        argv, callable_, pickle = "argv" in value, "callable" in value, "pickle" in value
        if argv + callable_ + pickle != 1:
            return None
        return "argv" if argv else "callable" if callable_ else "pickle"
    if isinstance(value, BaseModel):
        return {ArgvTarget: "argv", CallableTarget: "callable", PickleTarget: "pickle"}.get(
            type(value)
        )
    return None


Target = Annotated[
    Annotated[ArgvTarget, Tag("argv")]
    | Annotated[CallableTarget, Tag("callable")]
    | Annotated[PickleTarget, Tag("pickle")],
    Discriminator(
        _target_kind,
        custom_error_type="bad_target",
        custom_error_message='a target is null or an object with exactly one of "argv", '
        '"callable", "pickle"',
    ),
]


class Placement(Params):
    """Where a cluster backend runs the process (`serve --backend ray`); refused by a local one."""

    node: Annotated[str, Field(min_length=1)] | None = Field(
        None, description="A node id, or a node's address; null: any node that fits"
    )
    resources: dict[str, Annotated[float, Field(gt=0)]] = Field(
        default_factory=dict,
        description='Resources the process needs, by the cluster\'s own names ("CPU", "GPU", '
        "custom ones); it runs only where they are free",
        json_schema_extra={"default": {}},
    )


class CreateParams(Params):
    target: Target | None = None
    args: list[Any] = _empty_list()
    kwargs: dict[str, Any] = _empty_dict()
    name: str | None = None
    group: Any = Field(None, description="Must be null (exists for compatibility with Thread)")
    placement: Placement | None = Field(
        None, description="Cluster backends only: where to run it; null: anywhere"
    )


class IdParams(Params):
    id: ProcessId


class StartParams(Params):
    id: ProcessId
    output: Literal["daemon", "null", "passed"] = Field(
        "daemon",
        description='Where the child\'s stdout/stderr go; "passed": two fds sent with the request',
    )


class JoinParams(Params):
    id: ProcessId
    timeout: Annotated[float, Field(ge=0)] | None = Field(
        None, description="Seconds to wait at most; null waits until the process ends"
    )


class SetNameParams(Params):
    id: ProcessId
    name: str


class SetAuthKeyParams(Params):
    id: ProcessId
    value: str | None = Field(description="The new key, or null for a new random one")


class NoParams(Params):
    pass


class ProcessInfo(BaseModel):
    id: int
    name: str
    parent: int | None = Field(description="Id of the creating process; null for the daemon")
    state: Literal["created", "running", "exited"]
    pid: int | None
    exitcode: int | None = Field(description="Null until ended; minus the signal number if killed")
    node: str | None = Field(
        None,
        description="The cluster node (its id) it runs or ran on; absent for a process of the "
        "daemon's own machine, and until a cluster process has started",
    )


class DaemonInfo(BaseModel):
    version: str
    protocol_version: str
    pid: int
