"""The sans-I/O protocol layer, fed plain bytes: no socket, no daemon."""

from __future__ import annotations

import json
import pickle
from typing import Any

import pytest
from supervisord_lite_client import errors
from supervisord_lite_client.protocol import (
    DaemonInfo,
    ProcessInfo,
    RpcProtocol,
    check_protocol_version,
    encode_message,
    parse_daemon_info,
    parse_process_info,
)


def line(obj: Any) -> bytes:
    return json.dumps(obj).encode() + b"\n"


def result(request_id: Any, value: Any) -> bytes:
    return line({"jsonrpc": "2.0", "id": request_id, "result": value})


def error(request_id: Any, code: int, message: str = "msg", data: Any = None) -> bytes:
    err: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        err["data"] = data
    return line({"jsonrpc": "2.0", "id": request_id, "error": err})


def test_request_is_one_compact_line_with_increasing_ids() -> None:
    proto = RpcProtocol()
    id1, data1 = proto.request("process.create", {"name": "é"})
    id2, data2 = proto.request("daemon.info")
    assert (id1, id2) == (1, 2)
    assert data1.endswith(b"\n") and data1.count(b"\n") == 1
    assert json.loads(data1) == {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "process.create",
        "params": {"name": "é"},
    }
    assert b" " not in data1
    assert "é".encode() in data1  # UTF-8, not \u escapes
    assert "params" not in json.loads(data2)
    assert proto.pending == {1, 2}


def test_params_that_are_not_json_are_refused_before_anything_is_pending() -> None:
    proto = RpcProtocol()
    with pytest.raises(TypeError, match=r"process\.create"):
        proto.request("process.create", {"args": [object()]})
    with pytest.raises(TypeError):
        proto.request("process.join", {"timeout": float("nan")})
    assert proto.pending == frozenset()


def test_responses_are_matched_by_id_in_any_order_and_split_anywhere() -> None:
    proto = RpcProtocol()
    a, _ = proto.request("process.join", {"id": 1})
    b, _ = proto.request("process.getName", {"id": 1})
    stream = result(b, "Process-1") + b"\r\n" + b"\n" + result(a, {"x": 1})
    replies = []
    for i in range(len(stream)):  # one byte at a time
        replies += proto.receive(stream[i : i + 1])
    assert [(r.request_id, r.method, r.result) for r in replies] == [
        (b, "process.getName", "Process-1"),
        (a, "process.join", {"x": 1}),
    ]
    assert proto.pending == frozenset()


def test_result_null_is_a_result() -> None:
    proto = RpcProtocol()
    rid, _ = proto.request("process.setName", {"id": 1, "name": "x"})
    [reply] = proto.receive(result(rid, None))
    assert reply.error is None and reply.result is None


@pytest.mark.parametrize(("code", "cls"), sorted(errors.ERROR_CLASSES.items()))
def test_every_error_code_has_its_class(code: int, cls: type[errors.RemoteError]) -> None:
    proto = RpcProtocol()
    rid, _ = proto.request("process.start", {"id": 7})
    [reply] = proto.receive(error(rid, code, "what went wrong", {"id": 7}))
    exc = reply.error
    assert type(exc) is cls and isinstance(exc, errors.RemoteError)
    assert isinstance(exc, errors.SupervisordLiteError)
    assert (exc.code, exc.message, exc.data, exc.method) == (
        code,
        "what went wrong",
        {"id": 7},
        "process.start",
    )
    assert str(exc) == f'process.start: what went wrong [{cls.name} {code}] {{"id": 7}}'
    assert cls.__doc__ and str(code) in cls.__doc__


def test_an_unknown_code_is_a_plain_remote_error() -> None:
    proto = RpcProtocol()
    rid, _ = proto.request("x.y")
    [reply] = proto.receive(error(rid, 4242, "new in a later version"))
    assert type(reply.error) is errors.RemoteError
    assert reply.error.code == 4242


def test_remote_errors_pickle() -> None:
    exc = errors.JoinSelf(1008, "cannot join itself", {"id": 3}, "process.join")
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is errors.JoinSelf and str(back) == str(exc)


def test_an_oversize_error_goes_to_the_requests_that_were_too_long() -> None:
    proto = RpcProtocol()
    small, _ = proto.request("process.getName", {"id": 1})
    big, data = proto.request("process.create", {"args": ["x" * 1000]})
    replies = proto.receive(error(None, -32600, "Message too large", {"limit": len(data) - 1}))
    assert [(r.request_id, type(r.error)) for r in replies] == [(big, errors.InvalidRequest)]
    assert proto.pending == {small}


def test_a_refused_peer_fails_everything_pending() -> None:
    proto = RpcProtocol()
    ids = {proto.request("daemon.info")[0], proto.request("process.list")[0]}
    replies = proto.receive(error(None, 1010, "not your daemon"))
    assert {r.request_id for r in replies} == ids
    assert all(isinstance(r.error, errors.PermissionDenied) for r in replies)


def test_another_unmatched_error_is_a_protocol_error_for_everything_pending() -> None:
    proto = RpcProtocol()
    rid, _ = proto.request("daemon.info")
    [reply] = proto.receive(error(None, -32700, "Parse error"))
    assert reply.request_id == rid and isinstance(reply.error, errors.ProtocolError)


def test_a_late_answer_to_an_abandoned_request_is_dropped() -> None:
    proto = RpcProtocol()
    rid, _ = proto.request("process.join", {"id": 1})
    proto.abandon(rid)
    assert proto.receive(result(rid, {})) == []
    assert proto.receive(result(999, {})) == []  # never asked: nobody waits


def test_fail_all_empties_the_pending_set() -> None:
    proto = RpcProtocol()
    proto.request("a")
    proto.request("b")
    lost = errors.ConnectionLost("gone", "/s")
    replies = proto.fail_all(lost)
    assert [r.error for r in replies] == [lost, lost]
    assert proto.pending == frozenset()


@pytest.mark.parametrize(
    "data",
    [
        b"not json\n",
        b"[]\n",
        b'{"jsonrpc":"1.0","id":1,"result":1}\n',
        b'{"jsonrpc":"2.0","id":1}\n',
        b'{"jsonrpc":"2.0","id":1,"result":1,"error":{"code":1,"message":"m"}}\n',
        b'{"jsonrpc":"2.0","id":1,"error":"oops"}\n',
        b'{"jsonrpc":"2.0","id":1,"error":{"code":"1","message":"m"}}\n',
        b'{"jsonrpc":"2.0","id":"1","result":1}\n',
        b'{"jsonrpc":"2.0","id":true,"result":1}\n',
    ],
)
def test_what_is_not_a_response_is_a_protocol_error(data: bytes) -> None:
    proto = RpcProtocol()
    proto.request("daemon.info")
    with pytest.raises(errors.ProtocolError):
        proto.receive(data)


def test_encode_message_refuses_nan() -> None:
    with pytest.raises(ValueError):
        encode_message({"x": float("inf")})


def test_process_info_is_parsed_and_checked() -> None:
    wire = {
        "id": 3,
        "name": "Process-3",
        "parent": None,
        "state": "exited",
        "pid": 41,
        "exitcode": -9,
    }
    assert parse_process_info(wire) == ProcessInfo(3, "Process-3", None, "exited", 41, -9)
    lost = {**wire, "state": "lost", "exitcode": None}  # protocol 1.1
    assert parse_process_info(lost) == ProcessInfo(3, "Process-3", None, "lost", 41, None)
    for bad in (
        None,
        [],
        {**wire, "state": "zombie"},
        {**wire, "id": "3"},
        {**wire, "id": True},
        {**wire, "name": None},
        {**wire, "pid": 1.5},
    ):
        with pytest.raises(errors.ProtocolError):
            parse_process_info(bad)


def test_daemon_info_and_version_check() -> None:
    info = parse_daemon_info({"version": "0.1.0", "protocol_version": "1.0", "pid": 5})
    assert info == DaemonInfo("0.1.0", "1.0", 5)
    check_protocol_version(info)
    check_protocol_version(DaemonInfo("9", "1.1", 5))
    check_protocol_version(DaemonInfo("9", "1.7", 5))
    with pytest.raises(errors.ProtocolVersionError, match=r"2\.0"):
        check_protocol_version(DaemonInfo("9", "2.0", 5))
    with pytest.raises(errors.ProtocolError):
        parse_daemon_info({"version": "0.1.0"})
