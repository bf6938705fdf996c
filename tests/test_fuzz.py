"""The generative fuzzer, as a property test: whatever line a client sends (requests of every method
with params good and bad, NUL bytes, "=" in env names, args nested past orjson's depth, batches,
notifications, JSON that is not a request, bytes that are not JSON), every reply is JSON-RPC 2.0,
none is -32603, the daemon goes on serving, and its log has no traceback.

CI runs a fixed seed and a bounded number of examples; `make fuzz` runs a longer campaign
(FUZZ_EXAMPLES, FUZZ_SEED)."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from supervisord_lite.rpc.table import METHODS
from tests.conftest import Daemon, start_daemon, stop_daemon
from tests.wire import RawClient

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "1000"))
SEED = int(os.environ.get("FUZZ_SEED", "17"))

DEEP = "__deep__"  # replaced, in the encoded line, by args nested this many levels

# Values a param may get: well-formed, wrong in type, or aimed at the OS and the serializers.
nasty_text = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["", "\x00", "a\x00b", "A=B", "=", "\udc80"[:0] + "é", "x" * 5000]),
)
json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    nasty_text,
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(nasty_text, inner, max_size=4)
    ),
    max_leaves=12,
)
deep = st.sampled_from([63, 64, 65, 200, 254, 255, 300, 1023, 1100]).map(lambda n: f"{DEEP}{n}")
LAST = "__last__"  # replaced, in the encoded line, by the id of the process created last
ids = st.one_of(st.just(LAST), st.just(LAST), st.integers(min_value=-3, max_value=12), json_value)
env = st.dictionaries(nasty_text, st.one_of(nasty_text, st.none()), max_size=3)
# Programs that do nothing harmful whatever their arguments.
argv0 = st.sampled_from(["/bin/true", "/bin/false", "true", "/nonexistent", "a\x00b", "", "."])
SAFE = ["/bin/true", "/bin/false", "true", "/nonexistent", "a\x00b", "", "."]
argv_target = st.fixed_dictionaries(
    {"argv": st.lists(st.one_of(argv0, nasty_text), max_size=3).map(
        lambda a: ["/bin/true", *a[1:]] if a and a[0] not in SAFE else a  # nothing else runs
    )},
    optional={"env": env, "cwd": st.one_of(nasty_text, st.just("/"), st.just("/nonexistent"))},
)  # fmt: skip
callable_target = st.fixed_dictionaries(
    {"callable": st.sampled_from(["os:getpid", "nope:f", "os:", "a\x00b:c", "builtins:len"])},
    optional={"env": env, "sys_path": st.lists(nasty_text, max_size=2),
              "cwd": st.one_of(nasty_text, st.just("/nonexistent"))},
)  # fmt: skip
pickle_target = st.fixed_dictionaries(
    {"pickle": st.sampled_from(["", "gASVAAAAAAAAAACULg==", "!!notbase64", "a\x00"])},
    optional={"main_path": nasty_text},
)
target = st.one_of(
    argv_target, argv_target, argv_target, callable_target, callable_target, pickle_target,
    st.none(), json_value,
)  # fmt: skip
PARAM_VALUES: dict[str, Any] = {
    "id": ids,
    "target": target,
    "args": st.one_of(json_value, deep, st.lists(st.one_of(nasty_text, deep), max_size=3)),
    "kwargs": st.one_of(json_value, st.dictionaries(nasty_text, st.one_of(json_value, deep))),
    "name": st.one_of(nasty_text, json_value),
    "group": json_value,
    "output": st.one_of(st.sampled_from(["daemon", "null", "passed", "x"]), json_value),
    "timeout": st.one_of(st.sampled_from([0, 0.01, -1, 1e308]), json_value),
    "value": st.one_of(nasty_text, st.none(), json_value),
}
METHOD_NAMES = [spec.name for spec in METHODS]


@st.composite
def params_for(draw: st.DrawFn, method: str) -> Any:
    spec = next((s for s in METHODS if s.name == method), None)
    names = list(spec.params.model_fields) if spec is not None else []
    names += draw(st.lists(st.sampled_from(["extra", "id", "args"]), max_size=1))
    chosen = draw(st.lists(st.sampled_from(names), unique=True)) if names else []
    params = {n: draw(PARAM_VALUES.get(n, json_value)) for n in chosen}
    if method == "process.join":
        params["timeout"] = 0.05  # a join must not wait for ever on the fuzzer's connection
    form = draw(st.sampled_from(["named", "named", "named", "positional", "absent", "junk"]))
    if form == "positional":
        return list(params.values())
    if form == "absent":
        return None
    if form == "junk":
        return draw(json_leaf)
    return params


@st.composite
def request(draw: st.DrawFn) -> Any:
    method = draw(st.one_of(st.sampled_from(METHOD_NAMES), nasty_text))
    msg: dict[str, Any] = {"jsonrpc": draw(st.sampled_from(["2.0", "2.0", "2.0", "1.0", 2]))}
    msg["method"] = method
    p = draw(params_for(method))
    if p is not None:
        msg["params"] = p
    if draw(st.booleans()) or method == "process.join":
        msg["id"] = draw(ids)
    if draw(st.integers(0, 20)) == 0:
        msg[draw(nasty_text)] = 1
    return msg


@st.composite
def create(draw: st.DrawFn) -> Any:
    """A well-formed create with a target that may carry what the OS refuses."""
    params = {"target": draw(target)}
    if draw(st.booleans()):
        params["args"] = draw(PARAM_VALUES["args"])
    return {"jsonrpc": "2.0", "id": draw(ids), "method": "process.create", "params": params}


@st.composite
def use_last(draw: st.DrawFn) -> Any:
    """A well-formed call on the process created last."""
    method = draw(st.sampled_from(["process.start", "process.start", "process.join",
                                   "process.info", "process.terminate", "process.kill"]))  # fmt: skip
    params: dict[str, Any] = {"id": LAST}
    if method == "process.join":
        params["timeout"] = 0.05
    if method == "process.start" and draw(st.booleans()):
        params["output"] = draw(st.sampled_from(["null", "passed", "daemon"]))
    return {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}


message = st.one_of(
    create(),
    use_last(),
    request(),
    request(),
    st.lists(st.one_of(request(), json_value), max_size=6),
    json_value,
)
raw_garbage = st.one_of(
    st.binary(max_size=40).filter(lambda b: b"\n" not in b),
    st.sampled_from([b"{", b"[", b"[]", b"{}", b"\xff\xfe", b'{"jsonrpc":"2.0","method":"x"']),
)


def encode(msg: Any, last: int) -> bytes:
    text = json.dumps(msg, separators=(",", ":"), ensure_ascii=False)
    text = text.replace(f'"{LAST}"', str(last))
    while (at := text.find(f'"{DEEP}')) >= 0:
        end = text.index('"', at + 1)
        n = int(text[at + 1 + len(DEEP) : end])
        text = text[:at] + "[" * n + "1" + "]" * n + text[end + 1 :]
    return text.encode("utf-8", "surrogatepass") + b"\n"


def check_response(obj: Any) -> None:
    """One JSON-RPC 2.0 response object, never an internal error."""
    assert isinstance(obj, dict), obj
    assert obj.get("jsonrpc") == "2.0", obj
    assert "id" in obj, obj
    assert ("result" in obj) != ("error" in obj), obj
    assert set(obj) <= {"jsonrpc", "id", "result", "error"}, obj
    if "error" in obj:
        err = obj["error"]
        assert isinstance(err, dict) and isinstance(err.get("code"), int), obj
        assert isinstance(err.get("message"), str) and err["message"], obj
        assert set(err) <= {"code", "message", "data"}, obj
        assert err["code"] != -32603, obj


@pytest.fixture(scope="module")
def fuzzed() -> Iterator[tuple[Daemon, RawClient]]:
    with tempfile.TemporaryDirectory(prefix="sl-") as d:
        daemon = start_daemon(Path(d))
        try:
            with daemon.client() as c:
                yield daemon, c
            log = daemon.stderr()  # children's own tracebacks (a bad pickle, say) may be there
            for sign in DAEMON_FAILURES:
                assert sign not in log, log[-5000:]
        finally:
            stop_daemon(daemon)


_sentinel = [0]


# What the daemon logs when something escaped it (never the children's own output).
DAEMON_FAILURES = (
    "internal error in",
    "request handler failed",
    "the spawner failed",
    "Exception in callback",
    "exception was never retrieved",
)

_state = {"sentinel": 0, "last": 1}


def _exchange(daemon: Daemon, c: RawClient, line: bytes) -> None:
    _state["sentinel"] += 1
    mark = f"sentinel-{_state['sentinel']}"
    c.send_raw(line + json.dumps({"jsonrpc": "2.0", "id": mark, "method": "daemon.info"}).encode()
               + b"\n")  # fmt: skip
    while True:  # replies to the fuzzed line (and late ones to earlier joins), then the sentinel's
        reply = c.recv()
        for obj in reply if isinstance(reply, list) else [reply]:
            check_response(obj)
            result = obj.get("result")
            if isinstance(result, dict) and result.get("state") == "created":
                _state["last"] = result["id"]  # what the next steps start, join, rename...
        if isinstance(reply, dict) and reply.get("id") == mark:
            break
    assert daemon.proc.poll() is None


# A step: a message (encoded once the last created id is known) or raw bytes.
step = st.one_of(message, message, message, raw_garbage)
# A create, then calls on what it created: the start is where bad input reached the OS.
scenario = st.tuples(create(), st.lists(use_last(), min_size=1, max_size=3)).map(
    lambda t: [t[0], *t[1]]
)


@pytest.mark.timeout(60 + EXAMPLES // 20)
@seed(SEED)
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.data_too_large],
)  # fmt: skip
@given(steps=st.one_of(scenario, scenario, st.lists(step, min_size=1, max_size=4)))
def test_every_reply_is_json_rpc_and_none_is_internal(
    fuzzed: tuple[Daemon, RawClient], steps: list[Any]
) -> None:
    daemon, c = fuzzed
    for item in steps:
        line = item + b"\n" if isinstance(item, bytes) else encode(item, _state["last"])
        _exchange(daemon, c, line)
