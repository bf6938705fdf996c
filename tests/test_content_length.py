"""Content-Length framing (LSP's base protocol): the splitter on its own, the per-connection
detection, and a header-framed client of our own against a live daemon, on the socket (with fds
passed along) and on --stdio; plus a last NDJSON line without its newline."""

from __future__ import annotations

import array
import json
import os
import socket
import subprocess
import uuid
from typing import Any

import pytest

from supervisord_lite.transport.content_length import (
    ContentLengthSplitter,
    Malformed,
    frame,
)
from supervisord_lite.transport.detect import Undecided
from supervisord_lite.transport.framing import Line, LineSplitter, Oversized
from tests.conftest import REPO, Daemon
from tests.test_wire_support import (
    PY,
    assert_error,
    assert_info,
    assert_nothing_lost,
    assert_result,
    base_env,
    create,
    ctarget,
    kill_pid,
    recv_by_id,
    request,
    sleeper,
)
from tests.wire import HeaderClient, RawClient, content_length_frame

REQ = b'{"jsonrpc":"2.0","id":1,"method":"daemon.info"}'


def bodies(items: list[Any]) -> list[Any]:
    return [
        i.data if isinstance(i, Line) else "oversized" if isinstance(i, Oversized) else i.reason
        for i in items
    ]


# ---------------------------------------------------------------- the splitter


def test_messages_whole_split_and_several_in_one_chunk() -> None:
    s = ContentLengthSplitter(limit=1000)
    assert bodies(s.feed(content_length_frame(REQ))) == [REQ]
    data = content_length_frame(b"[1]") + content_length_frame(b"{}")
    for i in range(len(data)):  # every place a chunk boundary can fall
        s = ContentLengthSplitter(limit=1000)
        assert bodies(s.feed(data[:i]) + s.feed(data[i:])) == [b"[1]", b"{}"], i
    assert s.finish() == []


def test_header_names_any_case_bare_lf_and_other_headers_ignored() -> None:
    s = ContentLengthSplitter(limit=1000)
    msg = b"content-type: application/vscode-jsonrpc; charset=utf-8\nCONTENT-LENGTH:  2 \n\n{}"
    assert bodies(s.feed(msg)) == [b"{}"]
    # A body may hold raw newlines (pretty-printed JSON): only the length counts.
    assert bodies(s.feed(content_length_frame(b'{\n"a": 1\n}\n'))) == [b'{\n"a": 1\n}\n']


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"Content-Type: x\r\n\r\n{}", "without Content-Length"),
        (b"Content-Length: two\r\n\r\n{}", "not a number"),
        (b"Content-Length: -2\r\n\r\n{}", "not a number"),
        (b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}", "two different"),
        (b"Crash and burn\n", "not 'Name: value'"),
        (b"Content-Length: 2\r\n" + b"X-Pad: " + b"p" * 9000 + b"\r\n", "longer than"),
        (b"Content-Length: 2" + b" " * 9000, "no end of the header section"),
    ],
)
def test_a_header_that_cannot_be_read_breaks_the_stream(data: bytes, reason: str) -> None:
    s = ContentLengthSplitter(limit=1000)
    out = s.feed(data)
    assert len(out) == 1 and isinstance(out[0], Malformed) and reason in out[0].reason, out
    assert s.feed(content_length_frame(b"{}")) == []  # nothing after it is trusted


def test_oversized_body_is_reported_skipped_and_the_stream_goes_on() -> None:
    s = ContentLengthSplitter(limit=10)
    assert bodies(s.feed(b"Content-Length: 20\r\n\r\n" + b"x" * 5)) == ["oversized"]
    assert s.feed(b"x" * 10) == []
    assert bodies(s.feed(b"x" * 5 + content_length_frame(b"{}"))) == [b"{}"]
    assert bodies(s.feed(content_length_frame(b"x" * 10))) == [b"x" * 10]  # the limit itself


def test_end_of_input_inside_a_message_is_said() -> None:
    s = ContentLengthSplitter(limit=100)
    s.feed(b"Content-Length: 10\r\n\r\n{}")
    assert bodies(s.finish()) == ["the input ended 2 bytes into a body of 10 (its Content-Length)"]
    s = ContentLengthSplitter(limit=100)
    s.feed(b"Content-Len")
    assert bodies(s.finish()) == ["the input ended inside a header section"]
    s = ContentLengthSplitter(limit=100)
    s.feed(content_length_frame(b"{}") + b"\r\n")
    assert s.finish() == []


def test_fds_go_with_the_message_holding_the_chunk_end() -> None:
    r, w = os.pipe()
    try:
        s = ContentLengthSplitter(limit=100)
        out = s.feed(content_length_frame(b"[1]") + content_length_frame(b"[2]"), [r])
        assert [(i.data, i.fds) for i in out if isinstance(i, Line)] == [
            (b"[1]", []),
            (b"[2]", [r]),
        ]
        # Sent with the header alone: they wait for the body.
        assert s.feed(b"Content-Length: 3\r\n\r\n", [w]) == []
        out = s.feed(b"[3]")
        assert [(i.data, i.fds) for i in out if isinstance(i, Line)] == [(b"[3]", [w])]
    finally:
        os.close(r)
        os.close(w)


def test_fds_of_an_oversized_message_are_closed() -> None:
    r, w = os.pipe()
    s = ContentLengthSplitter(limit=4)
    assert bodies(s.feed(b"Content-Length: 9\r\n\r\nxx", [r])) == ["oversized"]
    with pytest.raises(OSError):
        os.fstat(r)
    os.close(w)


def test_frame_drops_the_reply_newline() -> None:
    assert frame(REQ + b"\n") == b"Content-Length: 47\r\n\r\n" + REQ


@pytest.mark.parametrize(
    ("first", "kind"),
    [
        (b"Content-Length: 2\r\n", ContentLengthSplitter),
        (b"\r\n  content-type: x\r\n", ContentLengthSplitter),
        (b'{"jsonrpc"', LineSplitter),
        (b"  [", LineSplitter),
        (b"not json\n", LineSplitter),
    ],
)
def test_the_first_non_blank_byte_chooses(first: bytes, kind: type) -> None:
    assert type(Undecided(100).choose(first)) is kind
    assert Undecided(100).choose(b" \r\n\t") is None


def test_ndjson_end_of_input_takes_a_last_line_without_newline() -> None:
    s = LineSplitter(limit=10)
    assert bodies(s.feed(b"[1]\n[2]")) == [b"[1]"]
    assert bodies(s.finish()) == [b"[2]"]
    assert s.finish() == []
    s = LineSplitter(limit=10)
    assert bodies(s.feed(b"x" * 11)) == ["oversized"]
    assert s.finish() == []  # already answered as too long
    s = LineSplitter(limit=10)
    s.feed(b"  \r")
    assert s.finish() == []  # blank: nothing to answer


# ---------------------------------------------------------------- a live daemon


def test_a_header_framed_client_is_answered_in_kind(daemon: Daemon) -> None:
    with HeaderClient(daemon.socket_path) as c:
        headers, body = (c.send(request("daemon.info", id="a")), c.recv_message())[1]
        assert set(headers) == {b"content-length"} and int(headers[b"content-length"]) == len(body)
        assert assert_result(json.loads(body), "a")["pid"] == daemon.proc.pid
        p = create(c, target={"argv": ["sh", "-c", "exit 3"]})
        # Pipelined start and join, a Content-Type header, a batch, a notification, a bad body.
        c.send_raw(
            content_length_frame(
                json.dumps(request("process.start", {"id": p["id"]}, id="s")).encode(),
                headers=b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n",
            )
            + content_length_frame(
                json.dumps(request("process.join", {"id": p["id"]}, id="j")).encode()
            )
        )
        got = recv_by_id(c, 2)
        assert assert_info(assert_result(got["j"], "j"))["exitcode"] == 3
        c.send(
            [request("process.getName", {"id": p["id"]}, id=1), {"jsonrpc": "2.0", "method": "x"}]
        )
        assert c.recv() == [{"jsonrpc": "2.0", "result": p["name"], "id": 1}]
        c.send_raw(content_length_frame(b"{oops"))
        assert_error(c.recv(), -32700, None)
        assert c.call("process.info", {"id": p["id"]})["exitcode"] == 3
    # NDJSON connections are untouched by it.
    with RawClient(daemon.socket_path) as raw:
        assert raw.call("process.info", {"id": p["id"]})["exitcode"] == 3


def test_header_framing_limit_and_a_broken_header(daemon: Daemon) -> None:
    with daemon.client() as keeper:
        bystander = sleeper(keeper)
    try:
        with HeaderClient(daemon.socket_path) as c:
            c.send_raw(b"Content-Length: %d\r\n\r\n" % (4 * 1024 * 1024 + 1))
            err = assert_error(c.recv(), -32600, None)
            assert err["data"] == {"limit": 4 * 1024 * 1024}
            c.send_raw(b"x" * (4 * 1024 * 1024 + 1))  # skipped; the stream stays in step
            assert c.call("daemon.info")["pid"] == daemon.proc.pid
            # A request in flight is still answered after a header that breaks the stream.
            c.send(request("process.join", {"id": bystander["id"], "timeout": 0.2}, id="j"))
            c.send_raw(b"Content-Length: lots\r\n\r\n{}")
            got = {json.dumps(m.get("id")): m for m in (c.recv(), c.recv())}
            err = assert_error(got["null"], -32700, None)
            assert "Content-Length is not a number" in err["message"], err
            assert assert_result(got['"j"'], "j")["exitcode"] is None
            with pytest.raises(EOFError):
                c.recv()  # then the daemon closes it
        assert_nothing_lost(daemon, bystander=bystander)
    finally:
        kill_pid(bystander["pid"])


def test_header_framing_carries_passed_fds(daemon: Daemon) -> None:
    """fds sent with a message's sendmsg() go with that message, as with an NDJSON line."""
    marker = uuid.uuid4().hex
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    fds = [out_r, out_w, err_r, err_w]
    try:
        with HeaderClient(daemon.socket_path) as c:
            p = create(c, target=ctarget("say"), args=[marker])
            msg = content_length_frame(
                json.dumps(request("process.start", {"id": p["id"], "output": "passed"})).encode()
            )
            anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds[1::2]).tobytes())]
            assert c.sock.sendmsg([msg], anc) == len(msg)
            assert assert_info(assert_result(c.recv()))["state"] == "running"
            for fd in (out_w, err_w):
                os.close(fd)
                fds.remove(fd)
            assert c.call("process.join", {"id": p["id"], "timeout": 20})["exitcode"] == 0
            # The daemon closed its copies too: the pipes reach EOF once the child has ended.
            with os.fdopen(out_r, "rb") as fo, os.fdopen(err_r, "rb") as fe:
                fds.clear()
                assert fo.read() == f"stdout:{marker}\n".encode()
                assert fe.read() == f"stderr:{marker}\n".encode()
    finally:
        for fd in fds:
            os.close(fd)


def test_a_last_line_without_newline_is_answered(daemon: Daemon) -> None:
    with RawClient(daemon.socket_path) as c:
        c.send_raw(json.dumps(request("daemon.info", id=1)).encode() + b"\n")
        c.send_raw(json.dumps(request("process.list", id=2)).encode())  # no newline
        c.sock.shutdown(socket.SHUT_WR)
        got = recv_by_id(c, 2)
        assert assert_result(got[1])["pid"] == daemon.proc.pid
        assert isinstance(assert_result(got[2], 2), list)
        with pytest.raises(EOFError):
            c.recv()


def _stdio(data: bytes, tmp: str) -> bytes:
    proc = subprocess.run(
        [PY, "-m", "supervisord_lite", "serve", "--stdio", "--state-dir", f"{tmp}/state"],
        input=data,
        capture_output=True,
        cwd=REPO,
        env=base_env(SUPERVISORD_LITE_SOCKET=f"{tmp}/unused.sock"),
        timeout=60,
        check=True,
    )
    return proc.stdout


def test_stdio_speaks_both_framings(private_dir: Any) -> None:
    out = _stdio(content_length_frame(REQ) + content_length_frame(b"[]"), str(private_dir))
    head, _, rest = out.partition(b"\r\n\r\n")
    n = int(head.split(b":")[1])
    assert json.loads(rest[:n])["id"] == 1
    tail = rest[n:]
    assert tail.startswith(b"Content-Length: ")
    assert json.loads(tail.partition(b"\r\n\r\n")[2])["error"]["code"] == -32600  # empty batch
    # And NDJSON on stdio, its last line without a newline: `printf '{...}' | serve --stdio`.
    out = _stdio(REQ, str(private_dir))
    assert json.loads(out)["result"]["protocol_version"]
