"""The JSON-RPC edge: one message (a line) in, one reply line (or nothing) out.

jsonrpcserver runs each request (method lookup, params binding, notifications); this module does what
it gets wrong or does slowly: batches to the letter of the spec, a cheap structural check instead of
its jsonschema pass, orjson both ways, and errors mapped here only, never leaking internal text.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import types
from collections.abc import Callable, Coroutine, Generator
from typing import Any

import orjson
from jsonrpcserver import Error, Success
from jsonrpcserver.async_dispatcher import call as call_waiting
from jsonrpcserver.dispatcher import call, to_response
from jsonrpcserver.request import Request
from jsonrpcserver.response import to_serializable_one
from jsonrpcserver.sentinels import NOID
from oslash.either import Right  # jsonrpcserver's Either: what its Success makes
from pydantic import ValidationError

from supervisord_lite.core.errors import CoreError
from supervisord_lite.eager import resume
from supervisord_lite.rpc.errors import CODES, ErrorCode, RpcError
from supervisord_lite.rpc.methods import Api, CallContext, Peer
from supervisord_lite.rpc.models import integral_floats
from supervisord_lite.rpc.table import METHODS, MethodSpec

log = logging.getLogger(__name__)

_REQUEST_KEYS = frozenset(("jsonrpc", "method", "params", "id"))

MAX_BATCH = 1000  # members of one batch
MAX_REPLY = 8 * 1024 * 1024  # bytes of one batch's reply (below the connection's MAX_UNSENT)
BATCH_SLICE = 32  # members run between two turns of the loop


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


def _fail(code: int, message: str, data: Any = None) -> Any:
    """jsonrpcserver's Error, with "data" left out (not null) when there is none."""
    return Error(int(code), message) if data is None else Error(int(code), message, data)


def _describe(exc: ValidationError) -> tuple[str, list[dict[str, Any]]]:
    errs = exc.errors(include_url=False, include_input=False, include_context=False)
    text = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'params'}: {e['msg']}" for e in errs)
    return text, [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in errs]


def _make_method(api: Api, spec: MethodSpec) -> Callable[..., Any]:
    """The jsonrpcserver method for one spec: params bound and validated, errors mapped.

    A handler that never waits gets a plain function (run by jsonrpcserver's `call`); one that
    may wait (start, join) gets a coroutine function (run by its async `call`)."""
    names = list(spec.params.model_fields)
    validate = spec.params.__pydantic_validator__.validate_python  # model_validate, one call less
    handler = spec.handler

    def bind(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """The validated params model, or the Error to answer."""
        if args:  # params by position, in the documented order
            if len(args) > len(names):
                msg = (
                    f"{spec.name} takes at most {len(names)} positional params ({', '.join(names)})"
                )
                err = {"loc": [len(names)], "msg": msg, "type": "too_many_positional"}
                return _fail(ErrorCode.INVALID_PARAMS, f"Invalid params: {msg}", {"errors": [err]})
            kwargs = dict(zip(names, args, strict=False))
        try:
            return validate(kwargs)
        except ValidationError as exc:
            # Integral floats where an integer is due: again, as ints.
            again = integral_floats(kwargs, exc.errors(include_url=False))
            if again is not None:
                try:
                    return validate(again)
                except ValidationError as exc2:
                    exc = exc2
            text, errs = _describe(exc)
            if any(e["loc"] and e["loc"][0] == "target" for e in errs):
                return _fail(ErrorCode.BAD_TARGET, f"Bad target: {text}", {"errors": errs})
            return _fail(ErrorCode.INVALID_PARAMS, f"Invalid params: {text}", {"errors": errs})

    def failed(exc: Exception) -> Any:
        if isinstance(exc, CoreError):
            return _fail(CODES[type(exc)], exc.message, exc.data or None)
        if isinstance(exc, RpcError):
            return _fail(exc.code, exc.message, exc.data)
        # Never leak internal text to a client; the log has the traceback.
        log.error("internal error in %s", spec.name, exc_info=exc)
        return _fail(ErrorCode.INTERNAL_ERROR, "Internal error (see the daemon's log)")

    if inspect.iscoroutinefunction(handler):

        async def waiting_method(context: CallContext, *args: Any, **kwargs: Any) -> Any:
            params = bind(args, kwargs)
            if type(params) is not spec.params:
                return params
            try:
                return Success(await handler(api, context, params))
            except Exception as exc:
                return failed(exc)

        return waiting_method

    def method(context: CallContext, *args: Any, **kwargs: Any) -> Any:
        params = bind(args, kwargs)
        if type(params) is not spec.params:
            return params
        try:
            return Success(handler(api, context, params))
        except Exception as exc:
            return failed(exc)

    return method


# What a message gets: its reply line, or None (notifications), at once or once it is awaited.
Reply = bytes | None
Answer = bytes | Coroutine[Any, Any, Reply] | None
_Obj = dict[str, Any] | None  # one reply object, or None for a notification


class Dispatcher:
    def __init__(self, api: Api) -> None:
        self.methods = {spec.name: _make_method(api, spec) for spec in METHODS}
        self._waits = {n for n, f in self.methods.items() if inspect.iscoroutinefunction(f)}

    def handle(self, line: bytes, peer: Peer, fds: list[int]) -> Answer:
        """Answer one message: at once (bytes or None) unless a method in it may wait, then as a
        coroutine to run. A method takes the fds it uses out of `fds`; the rest are the caller's
        to close (after the coroutine, if there is one)."""
        try:
            msg = orjson.loads(line)
        except orjson.JSONDecodeError:
            return error_response(ErrorCode.PARSE_ERROR, "Parse error: the message is not JSON")
        context = CallContext(peer, fds)
        if type(msg) is list:
            return self._batch(msg, context)
        reply = self._one(msg, context)
        if isinstance(reply, dict):
            return orjson.dumps(reply, option=orjson.OPT_APPEND_NEWLINE)
        if reply is None:
            return None
        return self._later(reply)

    async def _later(self, reply: Coroutine[Any, Any, _Obj]) -> Reply:
        obj = await reply
        return None if obj is None else orjson.dumps(obj, option=orjson.OPT_APPEND_NEWLINE)

    async def _batch(self, msgs: list[Any], context: CallContext) -> Reply:
        """Members run in order, each up to its first wait (as lone requests are), a slice at a
        time with a turn of the loop between slices: a big batch must not stall the other
        connections. The reply is built member by member and refused past MAX_REPLY."""
        if not msgs:
            return error_response(ErrorCode.INVALID_REQUEST, "Invalid Request: empty batch")
        if len(msgs) > MAX_BATCH:
            return error_response(
                ErrorCode.TOO_LARGE,
                f"Batch too large: {len(msgs)} members, the limit is {MAX_BATCH}; split it",
                {"limit": MAX_BATCH, "members": len(msgs)},
            )
        parts: list[bytes] = []
        waiting: list[tuple[int, asyncio.Future[_Obj]]] = []
        size = 0
        for n, msg in enumerate(msgs, 1):
            reply = self._one(msg, context)
            if reply is not None and not isinstance(reply, dict):
                try:
                    step = reply.send(None)
                except StopIteration as done:
                    reply = done.value
                else:
                    waiting.append((len(parts), asyncio.ensure_future(resume(reply, step))))
                    parts.append(b"")  # its place, filled in below
                    reply = None
            if reply is not None:
                part = orjson.dumps(reply)
                parts.append(part)
                size += len(part) + 1
                if size > MAX_REPLY:
                    break
            if n % BATCH_SLICE == 0 and n < len(msgs):
                await _yield()
        if waiting:
            results: list[_Obj] = await asyncio.gather(*(fut for _, fut in waiting))
            for (at, _), obj in zip(waiting, results, strict=True):
                if obj is not None:
                    parts[at] = part = orjson.dumps(obj)
                    size += len(part) + 1
        if size > MAX_REPLY:
            return error_response(
                ErrorCode.TOO_LARGE,
                f"Batch reply too large: over the limit of {MAX_REPLY} bytes; split the batch",
                {"limit": MAX_REPLY},
            )
        parts = [p for p in parts if p]
        return b"[" + b",".join(parts) + b"]\n" if parts else None

    def _one(self, msg: Any, context: CallContext) -> _Obj | Coroutine[Any, Any, _Obj]:
        """The reply object (None for a notification), or a coroutine making it for a method that
        may wait."""
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
        if name in self._waits:
            return self._waited(request, context, method)
        return _reply(request, call(request, context, method))

    async def _waited(self, request: Request, context: CallContext, method: Any) -> _Obj:
        return _reply(request, await call_waiting(request, context, method))


@types.coroutine
def _yield() -> Generator[None, None, None]:
    """One turn of the event loop (a bare yield, as asyncio.sleep(0) does, without its cost)."""
    yield


def _reply(request: Request, result: Any) -> _Obj:
    """The reply object for jsonrpcserver's Result, or None for a notification."""
    if request.id is NOID:
        return None
    if type(result) is Right:  # jsonrpcserver's Success: the reply made here, the hot path
        return {"jsonrpc": "2.0", "result": result._value.result, "id": request.id}
    reply: Any = to_serializable_one(to_response(request, result))
    return reply  # type: ignore[no-any-return]
