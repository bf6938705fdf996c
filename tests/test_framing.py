"""NDJSON framing: line splitting, the size limit, and fds tied to the line they came with."""

from __future__ import annotations

import os

from supervisord_lite.core.model import ProcessRecord, State, Target
from supervisord_lite.rpc import models
from supervisord_lite.rpc.methods import info
from supervisord_lite.transport.framing import Line, LineSplitter, Oversized


def lines(items: list[Line | Oversized]) -> list[bytes | None]:
    return [i.data if isinstance(i, Line) else None for i in items]


def test_split_across_chunks_crlf_and_blank_lines() -> None:
    s = LineSplitter(limit=100)
    assert lines(s.feed(b'{"a":1}\n{"b"')) == [b'{"a":1}']
    assert lines(s.feed(b":2}\r\n\n   \n{}\n")) == [b'{"b":2}', b"{}"]


def test_oversized_line_is_reported_once_and_the_stream_goes_on() -> None:
    s = LineSplitter(limit=10)
    out = s.feed(b"x" * 8)
    assert out == []
    out = s.feed(b"x" * 8)
    assert lines(out) == [None]
    assert s.feed(b"x" * 1000) == []  # still discarding, no second report
    assert lines(s.feed(b"xx\nok\n")) == [b"ok"]
    assert lines(s.feed(b"y" * 11 + b"\nfine\n")) == [None, b"fine"]


def test_fds_belong_to_the_line_holding_the_chunk_end() -> None:
    r, w = os.pipe()
    s = LineSplitter()
    # Two lines in one chunk: the fds came with the second (the one the chunk ends with).
    out = s.feed(b"first\nsecond\n", [r, w])
    assert [(i.data, i.fds) for i in out if isinstance(i, Line)] == [
        (b"first", []),
        (b"second", [r, w]),
    ]
    # A line whose fds arrive with its first part and whose end comes later.
    out = s.feed(b"third-begins", [r])
    assert out == []
    out = s.feed(b"-ends\n")
    assert [(i.data, i.fds) for i in out if isinstance(i, Line)] == [(b"third-begins-ends", [r])]
    os.close(r)
    os.close(w)


def test_fds_of_a_discarded_line_are_closed() -> None:
    r, w = os.pipe()
    s = LineSplitter(limit=4)
    assert lines(s.feed(b"toolong", [r])) == [None]
    s.feed(b"\n")
    try:
        os.fstat(r)
        raise AssertionError("fd of a discarded line was left open")
    except OSError:
        pass
    os.close(w)


def test_info_matches_the_wire_model() -> None:
    record = ProcessRecord(
        id=3, identity=(3,), name="Process-3", parent=None, parent_id=None, authkey="k",
            target=Target(),
        args=(), kwargs={}, state=State.EXITED, pid=77, exitcode=-9,
    )  # fmt: skip
    wire = info(record)
    # `node` is in the model but on the wire only for a cluster backend's process (1.1): the
    # members sent are compared, every one of them (the others are required).
    assert models.ProcessInfo.model_validate(wire).model_dump(exclude_unset=True) == wire
    assert "authkey" not in wire and "k" not in wire.values() and "node" not in wire

    record.node = "n1"  # set at start from a cluster backend's child (it stays after the exit)
    wire = info(record)
    assert wire["node"] == "n1"
    assert models.ProcessInfo.model_validate(wire).model_dump() == wire
