"""JSON-RPC 2.0 to the letter over NDJSON, spoken as raw bytes: framing, the size limit, batches,
notifications, concurrency on one connection, and every malformed input (each followed by proof that
nothing was lost)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Daemon
from tests.test_wire_support import (
    MIB4,
    assert_clean,
    assert_error,
    assert_info,
    assert_nothing_lost,
    assert_result,
    create,
    join,
    kill_pid,
    prove_silence,
    recv_by_id,
    request,
    running_daemon,
    sleeper,
)
from tests.wire import RawClient, wait_until


@pytest.fixture
def bystander(daemon: Daemon) -> Any:
    """A running `sleep 1000` child that every bad input must leave alone."""
    with daemon.client() as c:
        info = sleeper(c)
    yield info
    kill_pid(info["pid"])


# ---------------------------------------------------------------- framing


def test_crlf_blank_lines_and_split_writes(daemon: Daemon) -> None:
    with daemon.client() as c:
        c.send_raw(b"\n\r\n   \n\t\n")  # blank lines: ignored, never answered
        c.send_raw(json.dumps(request("daemon.info", id="crlf")).encode() + b"\r\n")
        assert assert_result(c.recv(), "crlf")["protocol_version"] == "1.1"
        # One request written a byte at a time.
        for b in json.dumps(request("daemon.info", id="bytes")).encode() + b"\n":
            c.send_raw(bytes([b]))
        assert assert_result(c.recv(), "bytes")["protocol_version"] == "1.1"
        # Three requests in one write: three responses.
        c.send_raw(
            b"".join(json.dumps(request("daemon.info", id=i)).encode() + b"\n" for i in (1, 2, 3))
        )
        got = recv_by_id(c, 3)
        assert set(got) == {1, 2, 3}
        prove_silence(c)


def test_utf8_round_trips(daemon: Daemon) -> None:
    name = 'héllo ✓ 日本語 \U0001f600 "quoted" back\\slash'
    with daemon.client() as c:
        p = create(c, name=name)
        assert p["name"] == name
        # Sent as raw UTF-8 (not \u escapes) too.
        c.send_raw(
            json.dumps(
                request("process.setName", {"id": p["id"], "name": name + "!"}), ensure_ascii=False
            ).encode()
            + b"\n"
        )
        assert assert_result(c.recv()) is None
        assert c.call("process.getName", {"id": p["id"]}) == name + "!"


def test_oversized_line_is_an_error_and_the_connection_goes_on(
    daemon: Daemon, bystander: Any
) -> None:
    with daemon.client() as c:
        # A valid request (with an id) padded past the limit: still answered with id null.
        big = json.dumps(request("daemon.info", id=77)).encode()
        big = big[:-1] + b" " * (MIB4 + 1 - len(big)) + b"}"
        assert len(big) == MIB4 + 1
        c.send_raw(big + b"\n")
        err = assert_error(c.recv(), -32600, None)
        assert err.get("data") == {"limit": MIB4}, err
        prove_silence(c)
        # Pipelined: a request, an oversized line, a request -> the two requests answered too.
        c.send_raw(
            json.dumps(request("daemon.info", id="a")).encode()
            + b"\n"
            + b"x" * (MIB4 + 10)
            + b"\n"
            + json.dumps(request("daemon.info", id="b")).encode()
            + b"\n"
        )
        got = recv_by_id(c, 3)
        assert set(got) == {"a", "b", None}, got
        assert_error(got[None], -32600, None)
        assert_nothing_lost(daemon, c, bystander=bystander)


def test_a_line_of_exactly_the_limit_is_not_oversized(daemon: Daemon) -> None:
    # "a line longer than 4 MiB" is refused: one of exactly 4 MiB (terminator excluded) is read.
    with daemon.client() as c:
        line = json.dumps(request("daemon.info", id="edge")).encode()
        line = line[:-1] + b" " * (MIB4 - len(line)) + b"}"
        assert len(line) == MIB4
        c.send_raw(line + b"\n")
        assert assert_result(c.recv(), "edge")["protocol_version"] == "1.1"


def test_max_message_option_sets_the_limit(private_dir: Path) -> None:
    with running_daemon(private_dir, "--max-message", "1000") as d, d.client() as c:
        c.send_raw(b"[" + b" " * 1000 + b"]\n")
        err = assert_error(c.recv(), -32600, None)
        assert err.get("data") == {"limit": 1000}, err
        assert c.call("daemon.info")["pid"] == d.proc.pid


# ---------------------------------------------------------------- concurrency


def test_a_waiting_join_does_not_delay_later_requests_on_the_same_connection(
    daemon: Daemon,
) -> None:
    with daemon.client() as c:
        p = sleeper(c)
        try:
            c.send(request("process.join", {"id": p["id"], "timeout": None}, id="join"))
            c.send(request("process.getName", {"id": p["id"]}, id="name"))
            first = c.recv()
            assert first.get("id") == "name", f"getName waited behind join: {first}"
            assert assert_result(first, "name") == p["name"]
            c.send(request("process.kill", {"id": p["id"]}, id="kill"))
            got = recv_by_id(c, 2)
            assert set(got) == {"join", "kill"}, got
            joined = assert_info(assert_result(got["join"], "join"))
            assert joined["exitcode"] == -9 and joined["state"] == "exited", joined
        finally:
            kill_pid(p["pid"])


# ---------------------------------------------------------------- notifications and batches


def test_notifications_are_never_answered_even_on_error(daemon: Daemon) -> None:
    with daemon.client() as c:
        c.send({"jsonrpc": "2.0", "method": "daemon.info"})
        c.send({"jsonrpc": "2.0", "method": "no.such.method"})
        c.send({"jsonrpc": "2.0", "method": "process.getName", "params": {"id": 999}})
        c.send({"jsonrpc": "2.0", "method": "process.getName", "params": {"bogus": True}})
        prove_silence(c)


def test_a_notification_is_carried_out(daemon: Daemon) -> None:
    with daemon.client() as c:
        p = create(c)
        c.send({"jsonrpc": "2.0", "method": "process.setName", "params": [p["id"], "by-notif"]})
        prove_silence(c)
        # Requests run concurrently, so the rename is awaited, not assumed.
        wait_until(
            lambda: c.call("process.getName", {"id": p["id"]}) == "by-notif",
            timeout=10,
            what="the notification's setName to take effect",
        )


def test_id_null_is_a_request_not_a_notification(daemon: Daemon) -> None:
    with daemon.client() as c:
        c.send(request("daemon.info", id=None))
        assert assert_result(c.recv(), None)["protocol_version"] == "1.1"
        c.send(request("daemon.info", id="str-id"))
        assert assert_result(c.recv(), "str-id")["protocol_version"] == "1.1"
        c.send(request("daemon.info", id=-5))
        assert assert_result(c.recv(), -5)["protocol_version"] == "1.1"


def test_empty_batch_is_one_invalid_request_error(daemon: Daemon, bystander: Any) -> None:
    with daemon.client() as c:
        c.send_raw(b"[]\n")
        assert_error(c.recv(), -32600, None)  # one object, not an array
        prove_silence(c)
        assert_nothing_lost(daemon, c, bystander=bystander)


def test_batch_of_invalid_members(daemon: Daemon, bystander: Any) -> None:
    with daemon.client() as c:
        c.send_raw(b'[1, "x", null, [], {"jsonrpc": "2.0"}]\n')
        resp = c.recv()
        assert isinstance(resp, list) and len(resp) == 5, resp
        for r in resp:
            assert_error(r, -32600, None)
        prove_silence(c)
        assert_nothing_lost(daemon, c, bystander=bystander)


def test_batch_of_notifications_gets_nothing_at_all(daemon: Daemon) -> None:
    with daemon.client() as c:
        c.send(
            [
                {"jsonrpc": "2.0", "method": "daemon.info"},
                {"jsonrpc": "2.0", "method": "process.list", "params": []},
                {"jsonrpc": "2.0", "method": "no.such.method"},
            ]
        )
        prove_silence(c)


def test_mixed_batch(daemon: Daemon) -> None:
    with daemon.client() as c:
        p = create(c)
        c.send(
            [
                request("process.getName", {"id": p["id"]}, id="ok"),
                {"jsonrpc": "2.0", "method": "process.setName", "params": [p["id"], "n"]},
                1,
                request("no.such.method", id="nomethod"),
                request("process.getName", {"id": "one"}, id="badparams"),
                request("process.getName", {"id": 10**6}, id="nosuch"),
            ]
        )
        resp = c.recv()
        assert isinstance(resp, list) and len(resp) == 5, resp
        by_id: dict[Any, list[dict[str, Any]]] = {}
        for r in resp:
            by_id.setdefault(r.get("id"), []).append(r)
        assert sorted(map(str, by_id)) == sorted(
            map(str, ["ok", None, "nomethod", "badparams", "nosuch"])
        )
        assert assert_result(by_id["ok"][0], "ok") in (p["name"], "n")
        assert_error(by_id[None][0], -32600, None)
        assert_error(by_id["nomethod"][0], -32601, "nomethod")
        assert_error(by_id["badparams"][0], -32602, "badparams")
        assert_error(by_id["nosuch"][0], 1001, "nosuch")
        prove_silence(c)


def test_batch_of_one_is_an_array_of_one(daemon: Daemon) -> None:
    with daemon.client() as c:
        c.send([request("daemon.info", id=9)])
        resp = c.recv()
        assert isinstance(resp, list) and len(resp) == 1, resp
        assert assert_result(resp[0], 9)["protocol_version"] == "1.1"


# ---------------------------------------------------------------- malformed input


@pytest.mark.parametrize(
    "line",
    [
        b"{not json",
        b'{"jsonrpc": "2.0", "id": 1, "method": "daemon.info"',
        b"\xff\xfe\xfd",  # not UTF-8
        b'{"jsonrpc": "2.0", "id": 1, "method": "process.join", "params": {"id": 1, "timeout": NaN}}',
        b"[" * 100_000 + b"]" * 100_000,  # nesting no parser should recurse into
    ],
    ids=["garbage", "truncated", "not-utf8", "nan", "deep-nesting"],
)
def test_not_json_is_a_parse_error(daemon: Daemon, bystander: Any, line: bytes) -> None:
    with daemon.client() as c:
        c.send_raw(line + b"\n")
        resp = c.recv()
        if line.startswith(b"[["):
            # Deep nesting may be refused by the parser (-32700) or seen as an invalid request.
            if isinstance(resp, list):
                assert len(resp) == 1, resp
                resp = resp[0]
            assert resp["error"]["code"] in (-32700, -32600), resp
            assert_error(resp, resp["error"]["code"], None)
        else:
            assert_error(resp, -32700, None)
        prove_silence(c)
        assert_nothing_lost(daemon, c, bystander=bystander)


@pytest.mark.parametrize(
    ("msg", "echo"),
    [
        (42, None),
        ("a string", None),
        (None, None),
        (True, None),
        ({}, None),
        ({"id": 1, "method": "daemon.info"}, 1),  # no "jsonrpc"
        ({"jsonrpc": "1.0", "id": 2, "method": "daemon.info"}, 2),
        ({"jsonrpc": 2.0, "id": 3, "method": "daemon.info"}, 3),
        ({"jsonrpc": "2.0", "id": 4}, 4),  # no method
        ({"jsonrpc": "2.0", "id": 5, "method": 5}, 5),
        ({"jsonrpc": "2.0", "id": 6, "method": "daemon.info", "params": 5}, 6),
        ({"jsonrpc": "2.0", "id": 7, "method": "daemon.info", "params": "x"}, 7),
        ({"jsonrpc": "2.0", "id": 8, "method": "daemon.info", "extra": 1}, 8),
        ({"jsonrpc": "2.0", "id": {"a": 1}, "method": "daemon.info"}, None),
        ({"jsonrpc": "2.0", "id": [1], "method": "daemon.info"}, None),
        ({"jsonrpc": "2.0", "id": True, "method": "daemon.info"}, None),
        ({"jsonrpc": "2.0", "method": 1, "params": "bar"}, None),  # spec's own example
    ],
    ids=lambda v: json.dumps(v),
)
def test_json_that_is_not_a_request(daemon: Daemon, bystander: Any, msg: Any, echo: Any) -> None:
    with daemon.client() as c:
        c.send(msg)
        assert_error(c.recv(), -32600, echo)
        prove_silence(c)
        assert_nothing_lost(daemon, c, bystander=bystander)


def test_unknown_method(daemon: Daemon, bystander: Any) -> None:
    with daemon.client() as c:
        c.send(request("process.frobnicate", {"id": bystander["id"]}, id="m"))
        err = assert_error(c.recv(), -32601, "m")
        assert err.get("data") == {"method": "process.frobnicate"}, err
        for name in ("", "rpc.", "process", "Process.create", "process.create "):
            c.send(request(name, id="m2"))
            assert_error(c.recv(), -32601, "m2")
        assert_nothing_lost(daemon, c, bystander=bystander)


def _assert_invalid_params(resp: Any, id: Any) -> None:
    err = assert_error(resp, -32602, id)
    errors = err.get("data", {}).get("errors")
    assert isinstance(errors, list) and errors, err
    for e in errors:
        assert {"loc", "msg", "type"} <= set(e), err


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("process.getName", None),  # id missing (no params at all)
        ("process.getName", {}),
        ("process.getName", []),
        ("process.getName", {"id": "$IDSTR"}),
        ("process.getName", {"id": "$IDFLOAT"}),
        ("process.getName", {"id": True}),
        ("process.getName", {"id": None}),
        ("process.getName", {"id": "$ID", "extra": 1}),
        ("process.getName", ["$ID", 2]),  # too many by position
        ("process.setName", {"id": "$ID"}),
        ("process.setName", {"id": "$ID", "name": 5}),
        ("process.setName", {"id": "$ID", "name": None}),
        ("process.setAuthKey", {"id": "$ID"}),
        ("process.setAuthKey", {"id": "$ID", "value": 5}),
        ("process.join", {"id": "$ID", "timeout": -1}),
        ("process.join", {"id": "$ID", "timeout": "5"}),
        ("process.join", {"id": "$ID", "timeout": True}),
        ("process.start", {"id": "$ID", "output": "bogus"}),
        ("process.start", {"id": "$ID", "output": None}),
        ("process.create", {"args": "abc"}),
        ("process.create", {"args": {"a": 1}}),
        ("process.create", {"kwargs": [1]}),
        ("process.create", {"name": 5}),
        ("process.create", {"bogus": 1}),
        ("process.create", [None, [], {}, None, None, "sixth"]),
        ("process.list", {"x": 1}),
        ("process.list", [1]),
        ("daemon.info", {"x": 1}),
    ],
    ids=lambda v: json.dumps(v),
)
def test_invalid_params(daemon: Daemon, bystander: Any, method: str, params: Any) -> None:
    # "$ID" is the bystander's id: a type-confused id ("7", true) must not reach it.
    bid = bystander["id"]
    subst = {"$ID": bid, "$IDSTR": str(bid), "$IDFLOAT": bid + 0.5}
    if isinstance(params, dict):
        params = {k: subst.get(v, v) if isinstance(v, str) else v for k, v in params.items()}
    elif isinstance(params, list):
        params = [subst.get(v, v) if isinstance(v, str) else v for v in params]
    with daemon.client() as c:
        before = c.call("process.info", {"id": bid})
        c.send(request(method, params, id="p"))
        _assert_invalid_params(c.recv(), "p")
        assert c.call("process.info", {"id": bid}) == before
        assert c.call("process.getName", {"id": bid}) == before["name"]
        assert_nothing_lost(daemon, c, bystander=bystander)


def test_huge_or_non_positive_ids_are_clear_errors(daemon: Daemon, bystander: Any) -> None:
    with daemon.client() as c:
        for bad in (0, -1, 10**30, 2**63, 2**64 + 1):
            c.send(request("process.getName", {"id": bad}, id="h"))
            resp = c.recv()
            assert "error" in resp, resp
            # Not a process id (-32602) or no such process (1001): never an internal error.
            assert resp["error"]["code"] in (-32602, 1001), resp
            assert_error(resp, resp["error"]["code"], "h")
        assert_nothing_lost(daemon, c, bystander=bystander)


def test_positional_params(daemon: Daemon) -> None:
    with daemon.client() as c:
        # create: target, args, kwargs, name, group
        p = assert_info(c.call("process.create", [None, [], {}, "pos", None]))
        assert p["name"] == "pos" and p["state"] == "created"
        assert c.call("process.getName", [p["id"]]) == "pos"
        assert c.call("process.setName", [p["id"], "pos2"]) is None
        assert c.call("process.getName", [p["id"]]) == "pos2"
        assert c.call("process.setAuthKey", [p["id"], "abcdef01"]) is None
        assert c.call("process.getAuthKey", [p["id"]]) == "abcdef01"
        started = assert_info(c.call("process.start", [p["id"], "null"]))
        assert started["state"] in ("running", "exited")
        joined = assert_info(c.call("process.join", [p["id"], 20]))
        assert joined["exitcode"] == 0
        assert assert_info(c.call("process.info", [p["id"]]))["exitcode"] == 0
        assert [i["id"] for i in c.call("process.list", [])] == [p["id"]]
        assert c.call("daemon.info", [])["pid"] == daemon.proc.pid
        # Fewer positions than the table: the rest take their defaults.
        q = assert_info(c.call("process.create", []))
        assert q["state"] == "created"


def test_params_by_name_with_defaults(daemon: Daemon) -> None:
    with daemon.client() as c:
        p = assert_info(c.call("process.create", {}))
        assert p["parent"] is None and p["pid"] is None and p["exitcode"] is None
        assert assert_info(c.call("process.create"))["state"] == "created"  # params absent
        c.call("process.start", {"id": p["id"]})  # output defaults to "daemon"
        assert join(c, p["id"])["exitcode"] == 0
        # timeout absent: wait for ever (here the process has already ended).
        assert assert_info(c.call("process.join", {"id": p["id"]}))["exitcode"] == 0


def test_internal_detail_never_leaks_on_odd_strings(daemon: Daemon, bystander: Any) -> None:
    with daemon.client() as c:
        p = create(c)
        # A lone surrogate is legal JSON text but not Unicode: refuse it or keep it, never crash.
        c.send_raw(
            b'{"jsonrpc":"2.0","id":"s","method":"process.setName","params":{"id":%d,"name":"\\ud800"}}\n'
            % p["id"]
        )
        resp = c.recv()
        assert_clean(resp)
        if "error" in resp and resp["error"]["code"] == -32700:
            assert_error(resp, -32700, None)  # refused as not JSON: the id could not be read
        elif "error" in resp:
            assert_error(resp, -32602, "s")
        else:
            assert_result(resp, "s")
        c.send(request("process.getName", {"id": p["id"]}, id="g"))
        resp = c.recv()
        assert resp.get("id") == "g", resp
        assert_clean(resp)
        assert "result" in resp, f"getName broke after an odd name: {resp}"
        c.send(request("process.list", id="l"))
        assert isinstance(assert_result(c.recv(), "l"), list)
        assert_nothing_lost(daemon, c, bystander=bystander)


def test_a_client_that_sends_garbage_does_not_disturb_another_connection(
    daemon: Daemon, bystander: Any
) -> None:
    with daemon.client() as good, daemon.client() as bad:
        p = create(good)
        bad.send_raw(b"\x00\x01garbage\n[]\n[1]\n{}\n" + b"y" * (MIB4 + 1) + b"\n")
        got = [bad.recv() for _ in range(5)]  # in any order
        codes = sorted(
            r["error"]["code"] if isinstance(r, dict) else r[0]["error"]["code"] for r in got
        )
        assert codes == sorted([-32700, -32600, -32600, -32600, -32600]), got
        assert good.call("process.getName", {"id": p["id"]}) == p["name"]
        bad.close()
        assert_nothing_lost(daemon, good, bystander=bystander)


def test_a_client_that_disconnects_mid_line(daemon: Daemon, bystander: Any) -> None:
    c = RawClient(daemon.socket_path)
    c.send_raw(b'{"jsonrpc": "2.0", "id": 1, "method": "process.kill", "params": {"id": ')
    c.close()
    assert_nothing_lost(daemon, bystander=bystander)
