"""`placement` and `node` (protocol 1.1) against a real daemon that runs processes locally: the
placement reaches the daemon and is refused there with its code; `node` is None. (With a Ray
cluster behind the daemon: tests/test_cluster_ray.py in the repository's root.)"""

from __future__ import annotations

import pytest
from supervisord_lite_client import BadPlacement, Client, Process, RemoteError


def test_a_local_daemon_refuses_a_placement_with_bad_placement(client: Client) -> None:
    with pytest.raises(BadPlacement) as refused:
        Process(target=["true"], placement={"resources": {"CPU": 1}}, client=client)
    assert refused.value.code == 1020 and "--backend ray" in refused.value.message
    assert isinstance(refused.value, RemoteError)


def test_a_local_process_has_no_node(client: Client) -> None:
    p = Process(target=["true"], client=client)
    assert p.node is None
    p.start(output="null")
    p.join()
    assert p.exitcode == 0 and p.node is None and p.info().node is None
