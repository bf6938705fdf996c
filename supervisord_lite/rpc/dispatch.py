"""The JSON-RPC edge: one message (a line) in, one reply line (or nothing) out.

jsonrpcserver runs each request (method lookup, params binding, notifications); this module does what
it gets wrong or does slowly: batches to the letter of the spec, a cheap structural check instead of
its jsonschema pass, orjson both ways, and errors mapped here only, never leaking internal text.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from typing import Any

import orjson
from jsonrpcserver import Error, Success
from jsonrpcserver.async_dispatcher import call
from jsonrpcserver.dispatcher import to_response
from jsonrpcserver.request import Request
from jsonrpcserver.response import to_serializable_one
from jsonrpcserver.sentinels import NOID
from oslash.either import Right  # jsonrpcserver's Either: what its Success makes
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


_ID_TYPES = (str, int, float, type(None))  # exact types: orjson makes no subclasses, bool is out
_PARAMS_TYPES = (dict, list)
_NO_PARAMS: list[Any] = []


def _is_request(msg: Any) -> bool:
    """_request_problem(msg) is None, in one expression: this runs for every request."""
    return (
        type(msg) is dict
        and msg.get("jsonrpc") == "2.0"
        and type(msg.get("method")) is str
        and type(msg.get("params", _NO_PARAMS)) in _PARAMS_TYPES
        and type(msg.get("id")) in _ID_TYPES
        and msg.keys() <= _REQUEST_KEYS
    )


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
    """The jsonrpcserver method for one spec: params bound and validated, errors mapped."""
    names = list(spec.params.model_fields)
    validate = spec.params.__pydantic_validator__.validate_python  # model_validate, one call less
    handler = spec.handler
    waits = inspect.iscoroutinefunction(handler)

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
            params = validate(kwargs)
        except ValidationError as exc:
            text, errs = _describe(exc)
            if any(e["loc"] and e["loc"][0] == "target" for e in errs):
                return _fail(ErrorCode.BAD_TARGET, f"Bad target: {text}", {"errors": errs})
            return _fail(ErrorCode.INVALID_PARAMS, f"Invalid params: {text}", {"errors": errs})
        try:
            result = handler(api, context, params)
            if waits:
                result = await result
            return Success(result)
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
        """Answer one message. A method takes the fds it uses out of `fds`; the rest are the
        caller's to close."""
        try:
            msg = orjson.loads(line)
        except orjson.JSONDecodeError:
            return error_response(ErrorCode.PARSE_ERROR, "Parse error: the message is not JSON")
        context = CallContext(peer, fds)
        if type(msg) is list:
            if not msg:
                return error_response(ErrorCode.INVALID_REQUEST, "Invalid Request: empty batch")
            replies = await asyncio.gather(*(self._one(m, context) for m in msg))
            batch = [r for r in replies if r is not None]
            return orjson.dumps(batch, option=orjson.OPT_APPEND_NEWLINE) if batch else None
        reply = await self._one(msg, context)
        return None if reply is None else orjson.dumps(reply, option=orjson.OPT_APPEND_NEWLINE)

    async def _one(self, msg: Any, context: CallContext) -> dict[str, Any] | None:
        if not _is_request(msg):
            problem = _request_problem(msg) or "not a request"
            id_ = msg.get("id") if isinstance(msg, dict) and _valid_id(msg.get("id")) else None
            return _error_obj(ErrorCode.INVALID_REQUEST, f"Invalid Request: {problem}", id_)
        name = msg["method"]
        method = self.methods.get(name)
        id_ = msg.get("id", NOID)
        if method is None:
            if id_ is NOID:
                return None
            err = _error_obj(ErrorCode.METHOD_NOT_FOUND, f"Method not found: {name}", id_)
            err["error"]["data"] = {"method": name}
            return err
        # jsonrpcserver runs the request: its Request, its call (arguments bound as it binds them,
        # context first) and its Result types. Entered below its batch layer (which runs every
        # request in a task of its own, asyncio.gather: event-loop turns) and past its lookup and
        # signature check, done once here: the method exists (checked above) and
        # (context, *args, **kwargs) binds any params (pydantic validates them).
        request = Request(name, msg.get("params", []), id_)
        result = await call(request, context, method)
        if id_ is NOID:
            return None
        if type(result) is Right:  # jsonrpcserver's Success: the reply made here, the hot path
            return {"jsonrpc": "2.0", "result": result._value.result, "id": id_}
        reply: Any = to_serializable_one(to_response(request, result))
        return reply  # type: ignore[no-any-return]
