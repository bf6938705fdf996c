"""The JSON-RPC edge: one message (a line) in, one reply line (or nothing) out.

jsonrpcserver runs each request (method lookup, params binding, notifications); this module does what
it gets wrong or does slowly: batches to the letter of the spec, a cheap structural check instead of
its jsonschema pass, orjson both ways, and errors mapped here only, never leaking internal text.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import orjson
from jsonrpcserver import Error, Success
from jsonrpcserver.async_dispatcher import call
from jsonrpcserver.dispatcher import create_request, to_response
from jsonrpcserver.response import to_serializable_one
from jsonrpcserver.sentinels import NOID
from pydantic import ValidationError

from supervisord_lite.core.errors import CoreError
from supervisord_lite.rpc.errors import CODES, ErrorCode, RpcError
from supervisord_lite.rpc.methods import METHODS, Api, CallContext, MethodSpec, Peer

log = logging.getLogger(__name__)

_REQUEST_KEYS = frozenset(("jsonrpc", "method", "params", "id"))


def error_response(code: int, message: str, data: Any = None, id: Any = None) -> bytes:
    error: dict[str, Any] = {"code": int(code), "message": message}
    if data is not None:
        error["data"] = data
    return orjson.dumps({"jsonrpc": "2.0", "error": error, "id": id}) + b"\n"


def _error_obj(code: int, message: str, id: Any = None) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "error": {"code": int(code), "message": message}, "id": id}


def _valid_id(value: Any) -> bool:
    return value is None or (isinstance(value, str | int | float) and not isinstance(value, bool))


def _request_problem(msg: Any) -> str | None:
    """Why `msg` is not a JSON-RPC 2.0 request object, or None if it is one."""
    if not isinstance(msg, dict):
        return "a request must be a JSON object"
    if msg.get("jsonrpc") != "2.0":
        return 'a request must have "jsonrpc": "2.0"'
    if not isinstance(msg.get("method"), str):
        return 'a request must have a string "method"'
    if "params" in msg and not isinstance(msg["params"], dict | list):
        return '"params" must be an object or an array'
    if "id" in msg and not _valid_id(msg["id"]):
        return '"id" must be a string, a number or null'
    extra = msg.keys() - _REQUEST_KEYS
    if extra:
        return f"unknown member(s) in request: {', '.join(sorted(extra))}"
    return None


def _identity(x: Any) -> Any:
    return x


def _fail(code: int, message: str, data: Any = None) -> Any:
    """jsonrpcserver's Error, with "data" left out (not null) when there is none."""
    return Error(int(code), message) if data is None else Error(int(code), message, data)


def _describe(exc: ValidationError) -> tuple[str, list[dict[str, Any]]]:
    errs = exc.errors(include_url=False, include_input=False, include_context=False)
    text = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'params'}: {e['msg']}" for e in errs)
    return text, [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in errs]


def _make_method(api: Api, spec: MethodSpec) -> Callable[..., Any]:
    names = list(spec.params.model_fields)
    params_model = spec.params
    handler = spec.handler

    async def method(context: CallContext, *args: Any, **kwargs: Any) -> Any:
        if args:  # params by position, in the documented order
            if len(args) > len(names):
                msg = (
                    f"{spec.name} takes at most {len(names)} positional params ({', '.join(names)})"
                )
                err = {"loc": [len(names)], "msg": msg, "type": "too_many_positional"}
                return _fail(ErrorCode.INVALID_PARAMS, f"Invalid params: {msg}", {"errors": [err]})
            kwargs = dict(zip(names, args, strict=False))
        try:
            params = params_model.model_validate(kwargs)
        except ValidationError as exc:
            text, errs = _describe(exc)
            if any(e["loc"] and e["loc"][0] == "target" for e in errs):
                return _fail(ErrorCode.BAD_TARGET, f"Bad target: {text}", {"errors": errs})
            return _fail(ErrorCode.INVALID_PARAMS, f"Invalid params: {text}", {"errors": errs})
        try:
            return Success(await handler(api, context, params))
        except CoreError as exc:
            return _fail(CODES[type(exc)], exc.message, exc.data or None)
        except RpcError as exc:
            return _fail(exc.code, exc.message, exc.data)
        except Exception:
            # Never leak internal text to a client; the log has the traceback.
            log.exception("internal error in %s", spec.name)
            return _fail(ErrorCode.INTERNAL_ERROR, "Internal error (see the daemon's log)")

    return method


class Dispatcher:
    def __init__(self, api: Api) -> None:
        self.methods = {spec.name: _make_method(api, spec) for spec in METHODS}

    async def handle(self, line: bytes, peer: Peer, fds: list[int]) -> bytes | None:
        """Answer one message. Fds that no method took are the caller's to close."""
        try:
            msg = orjson.loads(line)
        except orjson.JSONDecodeError:
            return error_response(ErrorCode.PARSE_ERROR, "Parse error: the message is not JSON")
        context = CallContext(peer, fds)
        try:
            if isinstance(msg, list):
                if not msg:
                    return error_response(ErrorCode.INVALID_REQUEST, "Invalid Request: empty batch")
                replies = await asyncio.gather(*(self._one(m, context) for m in msg))
                batch = [r for r in replies if r is not None]
                return orjson.dumps(batch) + b"\n" if batch else None
            reply = await self._one(msg, context)
            return None if reply is None else orjson.dumps(reply) + b"\n"
        finally:
            fds[:] = context.fds  # give back what was not taken

    async def _one(self, msg: Any, context: CallContext) -> dict[str, Any] | None:
        problem = _request_problem(msg)
        if problem is not None:
            id_ = msg.get("id") if isinstance(msg, dict) and _valid_id(msg.get("id")) else None
            return _error_obj(ErrorCode.INVALID_REQUEST, f"Invalid Request: {problem}", id_)
        if msg["method"] not in self.methods:
            if "id" not in msg:
                return None
            err = _error_obj(ErrorCode.METHOD_NOT_FOUND, f"Method not found: {msg['method']}")
            err["error"]["data"] = {"method": msg["method"]}
            err["id"] = msg["id"]
            return err
        # jsonrpcserver's own request pipeline, entered below its batch layer (that layer runs
        # every request in a task of its own, asyncio.gather, which costs event-loop turns) and
        # past its lookup and signature check, done once here: the method exists (checked above)
        # and (context, *args, **kwargs) binds any params (pydantic validates them).
        request = create_request(msg)
        result = await call(request, context, self.methods[request.method])
        if request.id is NOID:
            return None
        reply: Any = to_serializable_one(to_response(request, result))
        return reply  # type: ignore[no-any-return]
