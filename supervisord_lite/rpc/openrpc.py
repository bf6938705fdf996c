"""The OpenRPC document (protocol/openrpc.json), made from the method table and the pydantic models.

`document()` is what the daemon answers to `rpc.discover`; `render()` is the committed file's text
(sorted keys, two-space indent, trailing newline), so that regenerating it is deterministic:

    python -m supervisord_lite.rpc.openrpc [PATH]     # write (default: protocol/openrpc.json)
    python -m supervisord_lite.rpc.openrpc --check    # exit 1 if the committed file differs
"""

from __future__ import annotations

import copy
import functools
import json
import re
import sys
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import BaseModel, TypeAdapter

from supervisord_lite import PROTOCOL_VERSION
from supervisord_lite.rpc.errors import ErrorCode
from supervisord_lite.rpc.table import METHODS, MethodSpec

# The newest version that @open-rpc/generator's clients accept (their pinned meta-schema,
# @open-rpc/meta-schema 1.14.2, lists 1.0.0-rc0 to 1.2.6); the document uses nothing newer, and the
# OpenRPC 1.3 meta-schema accepts it too (PROTOCOL.md says so; tests/test_openrpc.py checks both).
OPENRPC_VERSION = "1.2.6"
REF_TEMPLATE = "#/components/schemas/{model}"
DEFAULT_PATH = Path(__file__).resolve().parents[2] / "protocol" / "openrpc.json"
REGENERATE = "python -m supervisord_lite.rpc.openrpc  (or: make openrpc)"

# One sentence per error (an OpenRPC error object has only code, message and data); the table in
# protocol/PROTOCOL.md says the same thing at more length.
ERROR_MESSAGES: dict[ErrorCode, str] = {
    ErrorCode.PARSE_ERROR: "Parse error: the message is not JSON",
    ErrorCode.INVALID_REQUEST: (
        "Invalid Request: not a JSON-RPC 2.0 request object, an empty batch, or a message longer "
        "than the size limit (data: {limit})"
    ),
    ErrorCode.METHOD_NOT_FOUND: "Method not found (data: {method})",
    ErrorCode.INVALID_PARAMS: "Invalid params (data: {errors: [{loc, msg, type}]})",
    ErrorCode.INTERNAL_ERROR: "Internal error (the daemon's log has the details)",
    ErrorCode.NO_SUCH_PROCESS: "NoSuchProcess: no process has this id (data: {id})",
    ErrorCode.ALREADY_STARTED: "AlreadyStarted: the process was already started",
    ErrorCode.NOT_STARTED: "NotStarted: the process has not been started",
    ErrorCode.GROUP_NOT_NULL: "GroupNotNull: group must be null",
    ErrorCode.BAD_TARGET: (
        "BadTarget: malformed target (unknown kind, kwargs with argv, bad reference, empty argv)"
    ),
    ErrorCode.SPAWN_FAILED: (
        "SpawnFailed: the program could not be executed; the process stays created"
    ),
    ErrorCode.TARGET_FAILED: (
        "TargetFailed: a Python target could not be loaded in the child; the process exited "
        "with exit code 1"
    ),
    ErrorCode.JOIN_SELF: "JoinSelf: a process (or one of its descendants) tried to join itself",
    ErrorCode.SHUTTING_DOWN: "ShuttingDown: the daemon is stopping and starts nothing new",
    ErrorCode.PERMISSION_DENIED: "PermissionDenied: the peer is not the daemon's user or root",
    ErrorCode.FDS_MISSING: (
        'FdsMissing: output "passed" but two file descriptors were not received with the request'
    ),
    ErrorCode.STILL_RUNNING: (
        "StillRunning: the process is running (or starting) and cannot be released; join it first"
    ),
    ErrorCode.ACCESS_DENIED: (
        "AccessDenied: the process belongs to another user; prove its key with "
        "daemon.authenticate to control it (data: {id})"
    ),
    ErrorCode.AUTHENTICATION_FAILED: (
        "AuthenticationFailed: no challenge was asked, or the response is not HMAC-SHA256 of it "
        "under the process's key (data: {id})"
    ),
    ErrorCode.TOO_LARGE: (
        "TooLarge: a batch with more members, or a batch reply larger, than the daemon's limit "
        "(data: {limit, members} or {limit}); split the batch"
    ),
    ErrorCode.PROGRAM_EXISTS: "ProgramExists: a program of this name exists already (data: {name})",
    ErrorCode.NO_SUCH_PROGRAM: "NoSuchProgram: no program has this name (data: {name})",
    ErrorCode.EVENTS_EXPIRED: (
        "EventsExpired: the events after `since` are no longer kept; list again, then read from "
        "the oldest (data: {oldest})"
    ),
    ErrorCode.BAD_CONFIG: (
        "BadConfig: the config file cannot be used (the message names the file and the line or "
        "key path, and what is allowed); nothing was changed (data: {path})"
    ),
    ErrorCode.BACKEND_UNAVAILABLE: (
        "BackendUnavailable: the cluster the daemon runs processes on cannot be reached now; "
        "nothing was started"
    ),
    ErrorCode.BAD_PLACEMENT: (
        "BadPlacement: no live node can take this placement, or the daemon runs processes "
        "locally and takes none (data: {node} or {resource} or {resources})"
    ),
    ErrorCode.STATE_UNWRITABLE: (
        "StateUnwritable: the daemon cannot write its state directory (a full disk, say), and a "
        "create needs a new block of ids written first; nothing was created, and what runs goes "
        "on; try again once there is space"
    ),
}

# Standard errors any method can answer (after its own): its params are checked, and it may fail.
METHOD_STANDARD_ERRORS = (ErrorCode.INVALID_PARAMS, ErrorCode.INTERNAL_ERROR)

DESCRIPTION = (
    "Process objects with the semantics of the classic `processing` package, served by a daemon "
    "over JSON-RPC 2.0 on a Unix socket (or stdio): newline-delimited JSON, or LSP-style "
    "Content-Length headers, chosen by a connection's first byte. Params go by name (an "
    "array by position, in the order listed, is accepted too). Errors -32700, -32600 and -32601 "
    "concern the message rather than a method; they are in components/errors. protocol/PROTOCOL.md "
    "is the prose version of this document."
)


def error_name(code: ErrorCode) -> str:
    """NO_SUCH_PROCESS -> NoSuchProcess (the names of protocol/PROTOCOL.md)."""
    return "".join(part.capitalize() for part in code.name.split("_"))


class _Schemas:
    """Collects every `$defs` entry into components/schemas, refusing two different schemas under
    one name."""

    def __init__(self) -> None:
        self.components: dict[str, Any] = {}

    def hoist(self, schema: dict[str, Any]) -> dict[str, Any]:
        schema = dict(schema)
        for name, sub in schema.pop("$defs", {}).items():
            self.add(name, sub)
        return schema

    def add(self, name: str, schema: dict[str, Any]) -> None:
        schema = _own_titles(name, schema)
        if self.components.setdefault(name, schema) != schema:
            raise ValueError(f"two different JSON schemas are both named {name!r}")

    def of_type(self, tp: Any, mode: Literal["validation", "serialization"]) -> dict[str, Any]:
        """A type's schema; a model is put in components/schemas and referred to."""
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            self.add(
                tp.__name__,
                self.hoist(tp.model_json_schema(ref_template=REF_TEMPLATE, mode=mode)),
            )
            return {"$ref": REF_TEMPLATE.format(model=tp.__name__)}
        return self.hoist(TypeAdapter(tp).json_schema(ref_template=REF_TEMPLATE, mode=mode))


def type_name(name: str) -> str:
    """What code generators make of a name (lodash's camelCase, first letter up, as
    @open-rpc/generator does): process.getName -> ProcessGetName, main_path -> MainPath."""
    words = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+", name)
    return "".join(w[:1].upper() + w[1:].lower() for w in words)


def _own_titles(component: str, schema: dict[str, Any]) -> dict[str, Any]:
    """A component's properties titled after it (ProcessInfoObject.pid: ProcessInfoObjectPid):
    generators name a type after each title, and pydantic's ("Pid") would give one name to
    different schemas (DaemonInfoObject's pid is never null)."""
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return schema
    schema = {**schema, "properties": dict(properties)}
    for prop, sub in properties.items():
        if isinstance(sub, dict) and "title" in sub:
            schema["properties"][prop] = {**sub, "title": component + type_name(prop)}
    return schema


def _distinct_param_titles(methods: list[dict[str, Any]]) -> None:
    """A param title that names different schemas in different methods ("Name": a string or
    null in process.create, a string in process.setName) gets its method's name in front."""
    variants: dict[str, set[str]] = {}
    for method in methods:
        for param in method["params"]:
            title = param["schema"].get("title")
            if title is not None:
                variants.setdefault(title, set()).add(json.dumps(param["schema"], sort_keys=True))
    for method in methods:
        for param in method["params"]:
            title = param["schema"].get("title")
            if title is not None and len(variants[title]) > 1:
                param["schema"]["title"] = type_name(method["name"]) + type_name(title)


def _params(spec: MethodSpec, schemas: _Schemas) -> list[dict[str, Any]]:
    model = schemas.hoist(spec.params.model_json_schema(ref_template=REF_TEMPLATE))
    required = set(model.get("required", ()))
    params = []
    for name, prop in model.get("properties", {}).items():
        descriptor: dict[str, Any] = {"name": name, "schema": prop, "required": name in required}
        description = spec.params.model_fields[name].description
        if description:
            descriptor["description"] = description
        params.append(descriptor)
    return params


def _result_name(spec: MethodSpec) -> str:
    result = spec.result
    if isinstance(result, type) and issubclass(result, BaseModel):
        return result.__name__
    verb = spec.name.rsplit(".", 1)[-1]
    if verb.startswith("get") and len(verb) > 3:  # getAuthKey -> authKey
        return verb[3].lower() + verb[4:]
    return "result"


def _method(spec: MethodSpec, schemas: _Schemas) -> dict[str, Any]:
    codes = [*spec.errors, *METHOD_STANDARD_ERRORS]
    return {
        "name": spec.name,
        "summary": spec.summary,
        "paramStructure": "by-name",
        "params": _params(spec, schemas),
        "result": {
            "name": _result_name(spec),
            "schema": schemas.of_type(spec.result, "serialization"),
        },
        "errors": [{"$ref": f"#/components/errors/{error_name(code)}"} for code in codes],
    }


@functools.cache
def _build() -> dict[str, Any]:
    schemas = _Schemas()
    methods = [_method(spec, schemas) for spec in METHODS]
    _distinct_param_titles(methods)
    errors = {
        error_name(code): {"code": int(code), "message": ERROR_MESSAGES[code]}
        for code in sorted(ErrorCode)
    }
    return {
        "openrpc": OPENRPC_VERSION,
        "info": {
            "title": "supervisord-lite",
            "version": PROTOCOL_VERSION,
            "description": DESCRIPTION,
            "license": {"name": "MIT"},
        },
        "methods": methods,
        "components": {"schemas": schemas.components, "errors": errors},
    }


def document() -> dict[str, Any]:
    """The OpenRPC document (a fresh copy: callers may change it)."""
    return copy.deepcopy(_build())


@functools.cache
def document_json() -> orjson.Fragment:
    """The document serialized once, as `rpc.discover` answers it (a copy a call was 0.5 ms)."""
    return orjson.Fragment(orjson.dumps(_build()))


def render() -> str:
    """The document as protocol/openrpc.json holds it."""
    return json.dumps(document(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    check = "--check" in args
    paths = [a for a in args if a != "--check"]
    if len(paths) > 1 or any(p.startswith("-") for p in paths):
        print("usage: python -m supervisord_lite.rpc.openrpc [--check] [PATH]", file=sys.stderr)
        return 2
    path = Path(paths[0]) if paths else DEFAULT_PATH
    text = render()
    if check:
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            print(f"{path} is out of date; regenerate it with: {REGENERATE}", file=sys.stderr)
            return 1
        return 0
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
