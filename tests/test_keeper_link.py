"""The keeper link's own rules, on a socket pair (no keeper, no front)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest

from supervisord_lite.owner.link import Link


@pytest.fixture
def pair() -> Iterator[tuple[Link, Link]]:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    mine, theirs = Link(a), Link(b)
    yield mine, theirs
    mine.close()
    theirs.close()


def test_a_failed_send_leaves_what_the_other_end_sent_readable(pair: tuple[Link, Link]) -> None:
    # The race behind a keeper that outlived its front: the front sends quit and closes; the
    # keeper, before reading that, sends something and gets EPIPE. Had the failed send closed the
    # keeper's socket, the quit would be lost with it (and the keeper would live on, holding
    # whatever the children left behind).
    mine, theirs = pair
    theirs.send({"op": "ack", "ids": [1]})
    theirs.send({"op": "quit"})
    assert theirs.flush()
    theirs.close()
    assert mine.send({"op": "exit", "id": 1, "code": 0})
    assert mine.flush()  # nothing stays queued: the other end is gone
    assert mine.broken and not mine.closed
    assert mine.receive() == ({"op": "ack", "ids": [1]}, [])
    assert mine.receive() == ({"op": "quit"}, [])
    with pytest.raises(EOFError):
        mine.receive()


def test_a_broken_link_takes_no_more_and_closes_the_fds_it_is_given(
    pair: tuple[Link, Link],
) -> None:
    mine, theirs = pair
    theirs.close()
    mine.send({"op": "exit", "id": 1, "code": 0})
    mine.flush()
    r, w = os.pipe()
    assert mine.send({"op": "spawn"}, [r]) is False
    with pytest.raises(OSError):
        os.fstat(r)  # closed by the link, as its owner was promised
    os.close(w)
    assert not mine.pending
