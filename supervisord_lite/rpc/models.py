"""Every params and result object on the wire, as pydantic models (openrpc.json is made from these)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
)

ProcessId = Annotated[int, Field(strict=True, gt=0, description="A process id (never reused)")]

# What reaches the OS (argv, env, paths) is checked here, so that a bad value is a clear error and
# not an exception out of exec (a NUL byte ends a C string; "=" splits an environment entry).
PATH_MAX = 4095  # Linux's PATH_MAX less the terminating NUL
MAX_NESTING = 64  # args/kwargs: far below orjson's 254 levels, the spec's serializer
MAX_ITEMS = 100_000  # values in args/kwargs together, each kept with the process


def _no_nul(value: str) -> str:
    if "\0" in value:
        raise ValueError("must not contain a NUL byte (\\u0000): the OS cannot pass one")
    return value


def _env_name(value: str) -> str:
    if not value or "=" in value or "\0" in value:
        raise ValueError(
            f"{value!r} is not a valid environment variable name: it must be non-empty, "
            'without "=" or a NUL byte'
        )
    return value


OsStr = Annotated[str, AfterValidator(_no_nul)]
PathStr = Annotated[str, Field(max_length=PATH_MAX), AfterValidator(_no_nul)]
Env = Annotated[
    dict[Annotated[str, AfterValidator(_env_name)], OsStr | None],
    Field(description="Merged into the daemon's environment; null removes a variable"),
]


def _bounded(value: Any) -> Any:
    """JSON values nested at most MAX_NESTING deep, MAX_ITEMS in all (an explicit stack: a
    recursive walk is what the bound protects against). Run before pydantic's own pass over
    the value (a BeforeValidator), so that an oversized one costs only this count."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    items = 0
    while stack:
        node, depth = stack.pop()
        if depth > MAX_NESTING:
            raise ValueError(f"nested deeper than {MAX_NESTING} levels; flatten it")
        children: Any = node.values() if type(node) is dict else node if type(node) is list else ()
        if items + len(children) > MAX_ITEMS:  # before the walk: a 4 MiB line is 2M values
            raise ValueError(f"holds more than {MAX_ITEMS} values; pass a file or a pickle")
        items += len(children)
        for child in children:
            if type(child) is dict or type(child) is list:
                stack.append((child, depth + 1))
    return value


class Params(BaseModel):
    """Params by name; unknown names are refused so that a typo is an error, not a silent default."""

    model_config = ConfigDict(extra="forbid", strict=True)


# Mutable defaults as factories: pydantic deep-copies a literal {} or [] default on every request
# (9 Python calls for a create); the schema still shows the default (json_schema_extra).
def _empty_dict() -> Any:
    return Field(default_factory=dict, json_schema_extra={"default": {}})


def _empty_list(description: str | None = None) -> Any:
    return Field(default_factory=list, description=description, json_schema_extra={"default": []})


UserRef = Annotated[int, Field(ge=0)] | Annotated[str, Field(min_length=1), AfterValidator(_no_nul)]


class _TargetBase(Params):
    env: Env = _empty_dict()
    cwd: PathStr | None = Field(None, description="Working directory of the child")
    user: UserRef | None = Field(
        None,
        description="Run the child as this user (name or uid), with its groups; a root daemon "
        "only, and only root or the daemon's user may name another user",
    )
    group: UserRef | None = Field(None, description="The child's group (default: the user's)")


class ArgvTarget(_TargetBase):
    argv: Annotated[list[OsStr], Field(min_length=1, description="Program and its arguments")]


class CallableTarget(_TargetBase):
    callable: Annotated[
        str,
        Field(
            pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$",
            description='"package.module:function", imported and called in the child',
        ),
    ]
    sys_path: list[PathStr] = _empty_list("Directories put first on the child's sys.path")


class PickleTarget(_TargetBase):
    pickle: str = Field(description="Base64 of a pickled callable; unpickled only in the child")
    main_path: PathStr | None = Field(
        None, description="Script run as __mp_main__ before unpickling"
    )
    sys_path: list[PathStr] = _empty_list("Directories put first on the child's sys.path")


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


class CreateParams(Params):
    target: Target | None = None
    args: Annotated[list[Any], BeforeValidator(_bounded)] = _empty_list()
    kwargs: Annotated[dict[str, Any], BeforeValidator(_bounded)] = _empty_dict()
    name: str | None = None
    group: Any = Field(None, description="Must be null (exists for compatibility with Thread)")


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


class AuthenticateParams(Params):
    id: ProcessId
    response: str | None = Field(
        None,
        description="Hex HMAC-SHA256 of the challenge under the process's key; absent or null to "
        "ask for a challenge",
    )


class Authentication(BaseModel):
    challenge: str | None = Field(description="Hex of random bytes to answer; null once proven")
    digest: Literal["sha256"]
    authenticated: bool


class ProcessInfo(BaseModel):
    id: int
    name: str
    parent: int | None = Field(description="Id of the creating process; null for the daemon")
    state: Literal["created", "running", "exited"]
    pid: int | None
    exitcode: int | None = Field(description="Null until ended; minus the signal number if killed")


class DaemonInfo(BaseModel):
    version: str
    protocol_version: str
    pid: int
