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


def integral_floats(value: Any, errors: list[Any]) -> Any | None:
    """A copy of `value` with every float that failed an integer check and is integral (1.0)
    made an int, or None when there is none: JSON Schema counts 1.0 as an integer, and encoders
    that write every number as a float send it. Called only once validation has failed, so an
    int costs nothing more (a pydantic validator on every integer took 240 ns a request, half of
    what validating a whole `{"id": N}` takes); 1.5, true and "1" still fail as before.

    Only the containers on the way to a fix are copied (the request's own params stay as they
    came): a deep copy of every failed request cost 230 ms for a refused 4 MiB `args`, a stall
    of every other client."""
    paths = [p for e in errors if e["type"] == "int_type" if (p := _integral_at(value, e["loc"]))]
    if not paths:
        return None
    copies: set[int] = set()  # ids of the containers made here (all kept alive by `root`)

    def fresh(node: Any) -> Any:
        made = dict(node) if isinstance(node, dict) else list(node)
        copies.add(id(made))
        return made

    root = fresh(value)
    for path in paths:
        node = root
        for step in path[:-1]:
            if id(node[step]) not in copies:
                node[step] = fresh(node[step])
            node = node[step]
        node[path[-1]] = int(node[path[-1]])
    return root


def _integral_at(value: Any, loc: tuple[Any, ...]) -> list[Any] | None:
    """The steps of `loc` that lead to an integral float in `value`, or None. A step that leads
    nowhere names a union member: the walk stops there."""
    path: list[Any] = []
    node = value
    for step in loc:
        in_dict = isinstance(node, dict) and step in node
        if not in_dict and not (isinstance(node, list) and type(step) is int):
            break
        if not in_dict and not 0 <= step < len(node):
            break
        path.append(step)
        node = node[step]
    # (Within 64 bits, as every integer on the wire: 1e30 stays a float, and an error.)
    if path and type(node) is float and node.is_integer() and abs(node) < 2**63:
        return path
    return None


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


# An authkey as bytes travels as standard base64 (with padding), as JSON carries bytes elsewhere
# (Go's encoding/json, Node's Buffer.toString("base64")); 1024 bytes at most.
AUTHKEY_MAX_BYTES = 1024
Base64Key = Annotated[
    str,
    Field(
        max_length=(AUTHKEY_MAX_BYTES + 2) // 3 * 4,
        pattern=r"^[A-Za-z0-9+/]*={0,2}$",
        description="Base64 (standard alphabet, padded) of the key's bytes, at most 1024 bytes",
    ),
]
AuthKeyEncoding = Annotated[
    Literal["text", "base64"],
    Field(description='"text": the key as a string (its UTF-8); "base64": its bytes in base64'),
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
    args: Annotated[list[Any], BeforeValidator(_bounded)] = _empty_list()
    kwargs: Annotated[dict[str, Any], BeforeValidator(_bounded)] = _empty_dict()
    name: str | None = None
    group: Any = Field(None, description="Must be null (exists for compatibility with Thread)")
    authkey: Base64Key | None = Field(
        None,
        description="The creator's own key (base64 of its bytes), which the process gets instead "
        "of the one it would inherit (its parent's, or the daemon's)",
    )
    placement: Placement | None = Field(
        None, description="Cluster backends only: where to run it; null: anywhere"
    )


class IdParams(Params):
    id: ProcessId


class StartParams(Params):
    id: ProcessId
    output: Literal["daemon", "null", "passed", "log"] = Field(
        "daemon",
        description='Where the child\'s stdout/stderr go; "passed": two fds sent with the request; '
        '"log": captured into log files that process.logs reads',
    )


class JoinParams(Params):
    id: ProcessId
    timeout: Annotated[float, Field(ge=0)] | None = Field(
        None, description="Seconds to wait at most; null waits until the process ends"
    )


class GetAuthKeyParams(Params):
    id: ProcessId
    encoding: AuthKeyEncoding = "text"


class SetNameParams(Params):
    id: ProcessId
    name: str


class SetAuthKeyParams(Params):
    id: ProcessId
    value: str | None = Field(description="The new key, or null for a new random one")
    encoding: AuthKeyEncoding = "text"


class NoParams(Params):
    pass


StateName = Literal["created", "running", "exited", "lost"]

LIST_LIMIT = 10_000


class ListParams(Params):
    """All optional: without any, every process (as in protocol 1.0). Clients should page."""

    state: StateName | None = Field(None, description="Only processes in this state")
    parent: Annotated[int, Field(ge=0)] | None = Field(
        None, description="Only the children of this process id; 0: those the daemon created"
    )
    after: Annotated[int, Field(ge=0)] = Field(
        0, description="Only ids greater than this (the last id of the previous page)"
    )
    limit: Annotated[int, Field(ge=1, le=LIST_LIMIT)] | None = Field(
        None, description=f"At most this many (1 to {LIST_LIMIT}); null: no limit"
    )


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


class TerminateParams(Params):
    id: ProcessId
    timeout: Annotated[float, Field(ge=0)] | None = Field(
        None,
        description="If given: wait this long for the exit after SIGTERM, then SIGKILL, and "
        "answer once it has exited; null answers at once",
    )


class ProcessInfoObject(BaseModel):
    id: int
    name: str
    parent: int | None = Field(description="Id of the creating process; null for the daemon")
    state: StateName = Field(
        description='"lost": it was running when its owner was lost; exitcode stays null'
    )
    pid: int | None
    exitcode: int | None = Field(description="Null until ended; minus the signal number if killed")
    program: str | None = Field(None, description="The program this process is a run of")
    argv: list[str] = Field(
        default_factory=list,
        description="What it runs: an argv target's program and args, a callable's "
        '"module:function", ["<pickle>"], or [] for no target',
    )
    started_at: str | None = Field(None, description="RFC 3339 UTC; null until started")
    exited_at: str | None = Field(None, description="RFC 3339 UTC; null until ended")
    node: str | None = Field(
        None,
        description="The cluster node (its id) it runs or ran on; absent for a process of the "
        "daemon's own machine, and until a cluster process has started",
    )


class DaemonInfoObject(BaseModel):
    version: str
    protocol_version: str
    pid: int


# The names the code uses. On the wire (openrpc.json) the models go by their class names, which
# must not be what a generator makes of a method name: process.info -> ProcessInfo, a type of its
# own in @open-rpc/generator's clients, clashed with the result's (tests/test_openrpc.py checks).
ProcessInfo = ProcessInfoObject
DaemonInfo = DaemonInfoObject
