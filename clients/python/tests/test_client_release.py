"""Protocol 1.1 against a real daemon: close()/release(), StillRunning, list filters and pages."""

from __future__ import annotations

from pathlib import Path

import pytest
import slc_helpers
from slc_helpers import read_json
from supervisord_lite_client import (
    Client,
    Command,
    NoSuchProcess,
    Process,
    StillRunning,
)


def _exits(code: int, client: Client) -> Process:
    p = Process(target=Command(["sh", "-c", f"exit {code}"]), client=client)
    p.start(output="null")
    p.join(timeout=30)
    assert p.exitcode == code
    return p


def test_close_releases_an_exited_process(client: Client) -> None:
    p = _exits(3, client)
    pid = p.id
    p.close()
    with pytest.raises(NoSuchProcess):
        client.info(pid)
    with pytest.raises(ValueError, match="closed"):
        p.join()
    with pytest.raises(ValueError, match="closed"):
        _ = p.exitcode
    assert "closed" in repr(p)
    p.close()  # a second close does nothing
    assert client.daemon_info().protocol_version == "1.1"


def test_close_of_a_running_process_is_still_running_and_changes_nothing(client: Client) -> None:
    p = Process(target=Command(["sleep", "60"]), client=client)
    p.start(output="null")
    with pytest.raises(StillRunning) as refused:
        p.close()
    assert isinstance(refused.value, ValueError)  # as multiprocessing's close() raises
    assert refused.value.data == {"id": p.id} and "join" in refused.value.message
    assert p.is_alive()
    p.kill()
    p.join(timeout=30)
    assert p.exitcode == -9
    p.release()  # close() under the protocol's name
    with pytest.raises(ValueError):
        p.is_alive()


def test_close_before_start_and_of_a_forgotten_process(client: Client) -> None:
    p = Process(client=client)
    made = p.id
    p.close()  # never started: nothing runs, so the daemon may forget it
    with pytest.raises(NoSuchProcess):
        client.info(made)
    q = _exits(0, client)
    qid = q.id
    client.release(qid)  # released behind the object's back (as --keep-exited would)
    assert q.exitcode == 0  # what it learnt at join stays
    q.close()  # already forgotten: no error
    with pytest.raises(NoSuchProcess):
        client.release(qid)


def test_list_filters_and_pages(client: Client) -> None:
    first = Process(client=client)
    ended = [_exits(k, client) for k in range(4)]
    ids = [p.id for p in ended]
    assert [i.id for i in client.list_processes(after=first.id)] == ids
    assert [i.id for i in client.list_processes(after=first.id, limit=2)] == ids[:2]
    assert [i.id for i in client.list_processes(after=ids[1], limit=2)] == ids[2:]
    assert {i.state for i in client.list_processes(state="exited")} == {"exited"}
    assert first.id in [i.id for i in client.list_processes(state="created", parent=0)]
    assert client.list_processes(parent=first.id) == []
    everything = client.list_processes()
    paged = list(client.iter_processes(page_size=3))
    assert paged == everything and len({i.id for i in paged}) == len(paged)
    assert [i.id for i in client.iter_processes(state="exited", page_size=1)][-4:] == ids
    client.release(ids[1])
    assert [i.id for i in client.list_processes(after=first.id)] == [ids[0], *ids[2:]]


def test_list_by_parent_finds_what_a_supervised_process_created(
    client: Client, short_dir: Path
) -> None:
    out = str(short_dir / "family.json")
    p = Process(target=slc_helpers.spawn_grandchildren, args=[out], client=client)
    p.start()
    p.join(timeout=60)
    assert p.exitcode == 0
    kids = [k["id"] for k in read_json(out)["kids"]]
    assert [i.id for i in client.list_processes(parent=p.id)] == kids
    assert p.id in [i.id for i in client.list_processes(parent=0, after=p.id - 1, limit=1)]
    assert not set(kids) & {i.id for i in client.iter_processes(parent=0, page_size=2)}
    client.release(kids[0])
    assert [i.id for i in client.list_processes(parent=p.id)] == kids[1:]
    parent = p.id
    p.close()
    with pytest.raises(NoSuchProcess):
        client.info(parent)
    # A child outlives its parent's record: it keeps the parent's id, and is still found by it.
    assert client.info(kids[1]).parent == parent
    assert [i.id for i in client.list_processes(parent=parent)] == kids[1:]
