"""The access rules of docs/security.md, in process (no daemon): who may control a process, who is
given its key, the HMAC proof, and whom a child runs as."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from supervisord_lite_client.connect import hmac_response

from supervisord_lite.core import access, errors
from supervisord_lite.core.model import RunAs, Target
from supervisord_lite.core.supervisor import Supervisor
from supervisord_lite.rpc import models as m
from supervisord_lite.rpc.methods import Api, CallContext, Peer
from tests.test_core import FakeSpawner

DAEMON, ALICE, BOB = 1000, 2001, 2002


def _api(daemon_uid: int = DAEMON) -> Api:
    sv = Supervisor(FakeSpawner(), parent_of=lambda pid: None, daemon_pid=1)
    api = Api(sv)
    api._uid = daemon_uid  # as if the daemon ran as this user
    return api


def ctx(uid: int, gid: int = 100) -> CallContext:
    return CallContext(Peer(pid=None, uid=uid, gid=gid, groups=(gid, 500)))


def test_control_follows_the_creator_the_lineage_and_proven_keys() -> None:
    sv = Supervisor(FakeSpawner(), parent_of=lambda pid: None, daemon_pid=1)
    a = sv.create(caller=None, target=Target(), owner_uid=ALICE)
    a_child = sv.create(caller=a, target=Target(), owner_uid=ALICE)
    b = sv.create(caller=None, target=Target(), owner_uid=BOB)
    bob = access.Principal(BOB, privileged=False)
    assert access.may_control(bob, b) and not access.may_control(bob, a)
    assert access.may_control(access.Principal(0, privileged=True), a)
    bob.proven.add(a.id)
    assert access.may_control(bob, a) and access.may_control(bob, a_child)  # and descendants
    # A supervised caller controls itself and what it created, whatever its uid.
    inside = access.Principal(BOB, privileged=False, caller=a)
    assert access.may_control(inside, a_child)
    # Keys: the process itself, its ancestors, and its creator's uid; never another uid.
    assert access.may_read_key(access.Principal(ALICE, privileged=False), a)
    assert access.may_read_key(inside, a_child)
    assert not access.may_read_key(bob, a)  # proving a key does not hand out others
    assert not access.may_read_key(access.Principal(0, privileged=True), a)


def test_the_proof_is_hmac_sha256_of_the_challenge_and_compared_in_constant_time() -> None:
    vectors = json.loads(
        (Path(__file__).parent.parent / "protocol/vectors/auth/hmac-sha256.json").read_text()
    )
    for case in vectors["cases"]:
        challenge = bytes.fromhex(case["challenge"])
        assert access.answer(case["authkey"], challenge) == case["response"]
        assert hmac_response(case["authkey"], challenge) == case["response"]  # the Python client
    sv = Supervisor(FakeSpawner(), parent_of=lambda pid: None, daemon_pid=1)
    p = sv.create(caller=None, target=Target())
    challenge = access.new_challenge()
    access.verify(p, challenge, access.answer(p.authkey, challenge))
    with pytest.raises(errors.AuthenticationFailed):
        access.verify(p, challenge, access.answer("other", challenge))
    with pytest.raises(errors.AuthenticationFailed):
        access.verify(p, challenge, "\x00not hex")


def test_authenticate_uses_a_challenge_once() -> None:
    api = _api()
    p = api.sv.create(caller=None, target=Target(), owner_uid=ALICE)
    bob = ctx(BOB)
    with pytest.raises(errors.AccessDenied):
        api.info(bob, m.IdParams(id=p.id))
    with pytest.raises(errors.AuthenticationFailed, match="no challenge"):
        api.authenticate(bob, m.AuthenticateParams(id=p.id, response="00"))
    asked: Any = api.authenticate(bob, m.AuthenticateParams(id=p.id))
    good = access.answer(p.authkey, bytes.fromhex(asked["challenge"]))
    assert api.authenticate(bob, m.AuthenticateParams(id=p.id, response=good))["authenticated"]
    assert api.info(bob, m.IdParams(id=p.id))["id"] == p.id
    with pytest.raises(errors.AuthenticationFailed):  # the challenge was used up
        api.authenticate(bob, m.AuthenticateParams(id=p.id, response=good))


def _create(api: Api, c: CallContext, **target: Any) -> Any:
    params = m.CreateParams.model_validate({"target": {"argv": ["/bin/true"], **target}})
    api.create(c, params)
    return list(api.sv.records())[-1]


def test_no_caller_gets_more_than_its_own_uid() -> None:
    root_daemon = _api(daemon_uid=0)
    made = _create(root_daemon, ctx(ALICE, gid=300))
    assert made.run_as == RunAs(ALICE, 300, (300, 500)) and made.owner_uid == ALICE
    with pytest.raises(errors.AccessDenied, match="name another user"):
        _create(root_daemon, ctx(ALICE), user=0)
    with pytest.raises(errors.AccessDenied, match="not a member"):
        _create(root_daemon, ctx(ALICE), group=0)
    assert _create(root_daemon, ctx(0)).run_as is None  # root's own: the daemon's user
    assert _create(root_daemon, ctx(0), user=0).run_as.uid == 0
    # A daemon that is not root cannot switch users: it refuses rather than run as itself.
    user_daemon = _api(daemon_uid=DAEMON)
    with pytest.raises(errors.AccessDenied, match="not root"):
        _create(user_daemon, ctx(ALICE))
    with pytest.raises(errors.AccessDenied, match="not root"):
        _create(user_daemon, ctx(DAEMON), user=0)
    assert _create(user_daemon, ctx(DAEMON)).run_as is None


def test_list_shows_another_uid_only_its_own() -> None:
    api = _api(daemon_uid=0)
    a = _create(api, ctx(ALICE))
    b = _create(api, ctx(BOB))
    assert [p["id"] for p in api.list(ctx(ALICE), m.ListParams())] == [a.id]
    assert [p["id"] for p in api.list(ctx(0), m.ListParams())] == [a.id, b.id]
