"""Replays protocol/vectors/*.json against a live daemon (tests/vector_replay.py has the rules of
protocol/vectors/README.md), checks that the vectors cover every method and every error code, and
checks every answer against protocol/openrpc.json (result schemas, declared error codes)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from supervisord_lite.rpc.errors import ErrorCode
from supervisord_lite.rpc.table import METHODS
from tests.conftest import Daemon, start_daemon, stop_daemon
from tests.vector_replay import (
    VECTORS_DIR,
    Matcher,
    Replay,
    VectorError,
    load,
    replay,
    substitute,
    vector_files,
)

OPENRPC = Path(__file__).resolve().parent.parent / "protocol" / "openrpc.json"
FILES = vector_files()

# Where the daemon contradicts protocol/PROTOCOL.md: the vector says what PROTOCOL.md says and is
# expected to fail until the daemon is fixed (strict: a fix makes this list fail, to be emptied).
KNOWN_DISCREPANCIES: dict[str, str] = {}

# Codes no vector can show from a plain connection, and why.
UNREACHABLE = {
    ErrorCode.EVENTS_EXPIRED: (
        "1015 needs more events than the ring keeps (10,000 by default); "
        "tests/test_wire_supervision.py shows it on a daemon with a small --event-ring"
    ),
    ErrorCode.INTERNAL_ERROR: "only a daemon bug answers -32603",
    ErrorCode.SHUTTING_DOWN: (
        "1009 needs a start while the daemon stops (after SIGTERM); a replayer cannot time it"
    ),
    ErrorCode.PERMISSION_DENIED: (
        "1010 needs a peer of another uid than the daemon's (and not root): not one connection"
    ),
    ErrorCode.BAD_CONFIG: (
        "1018 needs a config file the test writes, then breaks, between two reloads; "
        "tests/test_config_reload.py shows it"
    ),
    ErrorCode.BACKEND_UNAVAILABLE: (
        "1019 needs a daemon whose cluster went away (tests/test_cluster_*.py); vectors run locally"
    ),
    ErrorCode.STATE_UNWRITABLE: (
        "1022 needs a daemon whose state directory is full; tests/test_state_unwritable.py fills "
        "one"
    ),
}
# Codes shown only indirectly: the vector checks a supervised child's exit status, the child
# checks the code (it is the caller the rule is about).
UNREACHABLE[ErrorCode.ACCESS_DENIED] = (
    "1016 needs a caller of another uid than the process's creator: not one connection "
    "(tests/test_security.py has it, with a second user)"
)
INDIRECT = {ErrorCode.JOIN_SELF: "error-1008-join-self"}


def _marks(path: Path) -> Any:
    reason = KNOWN_DISCREPANCIES.get(path.stem)
    if reason is None:
        return pytest.param(path, id=path.stem)
    xfail = pytest.mark.xfail(reason=reason, strict=True, raises=VectorError)
    return pytest.param(path, id=path.stem, marks=xfail)


# ---------------------------------------------------------------- the OpenRPC cross-check


class OpenRpc:
    """protocol/openrpc.json as validators: a method's result schema and declared error codes."""

    def __init__(self) -> None:
        self.doc = json.loads(OPENRPC.read_text(encoding="utf-8"))
        components = self.doc["components"]
        self.methods = {m["name"]: m for m in self.doc["methods"]}
        self.declared: dict[str, set[int]] = {
            name: {components["errors"][r["$ref"].rsplit("/", 1)[-1]]["code"] for r in m["errors"]}
            for name, m in self.methods.items()
        }
        self.results = {
            name: Draft202012Validator({**m["result"]["schema"], "components": components})
            for name, m in self.methods.items()
        }
        self.params = {}
        for name, m in self.methods.items():
            schema = {
                "type": "object",
                "properties": {p["name"]: p["schema"] for p in m["params"]},
                "required": [p["name"] for p in m["params"] if p.get("required")],
                "additionalProperties": False,
                "components": components,
            }
            self.params[name] = (Draft202012Validator(schema), [p["name"] for p in m["params"]])

    def check(self, done: Replay) -> None:
        """Every answered request: a result matches the method's result schema and its params
        the params schemas; an error code is one the method declares (or a message-level one)."""
        message_level = {
            ErrorCode.PARSE_ERROR,
            ErrorCode.INVALID_REQUEST,
            ErrorCode.METHOD_NOT_FOUND,
        }
        for ex in done.exchanges:
            pairs: list[tuple[Any, Any]] = []
            if isinstance(ex.sent, dict) and isinstance(ex.response, dict):
                pairs = [(ex.sent, ex.response)]
            elif isinstance(ex.sent, list) and isinstance(ex.response, list):
                by_id = {json.dumps(r.get("id")): r for r in ex.response if isinstance(r, dict)}
                pairs = [
                    (s, by_id[json.dumps(s["id"])])
                    for s in ex.sent
                    if isinstance(s, dict) and "id" in s and json.dumps(s["id"]) in by_id
                ]
            for sent, response in pairs:
                method = sent.get("method")
                if method not in self.methods:
                    continue
                where = f"{done.path.name} step {ex.step} ({method})"
                if "result" in response:
                    errors = [
                        e.message for e in self.results[method].iter_errors(response["result"])
                    ]
                    assert not errors, f"{where}: the result breaks openrpc.json: {errors}"
                    validator, names = self.params[method]
                    params = sent.get("params", {})
                    if isinstance(params, list):
                        params = dict(zip(names, params, strict=False))
                    errors = [e.message for e in validator.iter_errors(params)]
                    assert not errors, f"{where}: accepted params break openrpc.json: {errors}"
                elif "error" in response:
                    code = response["error"]["code"]
                    assert code in self.declared[method] or code in message_level, (
                        f"{where}: error {code} is not among the errors openrpc.json declares "
                        f"for {method}: {sorted(self.declared[method])}"
                    )


@pytest.fixture(scope="module")
def openrpc() -> OpenRpc:
    return OpenRpc()


# ---------------------------------------------------------------- replaying


@pytest.mark.parametrize("path", [_marks(p) for p in FILES])
def test_vector(path: Path, daemon: Daemon, openrpc: OpenRpc) -> None:
    openrpc.check(replay(path, daemon.socket_path))


def test_vectors_share_one_daemon(private_dir: Path, openrpc: OpenRpc) -> None:
    """Other replayers (the Go client's) run every vector on one daemon, in name order: no vector
    may depend on a fresh daemon or on what another left behind."""
    d = start_daemon(private_dir)
    try:
        for path in FILES:
            if path.stem not in KNOWN_DISCREPANCIES:
                openrpc.check(replay(path, d.socket_path))
    finally:
        stop_daemon(d)


# ---------------------------------------------------------------- the vectors themselves


def _expected_codes(value: Any) -> Iterator[int]:
    if isinstance(value, dict):
        if isinstance(value.get("error"), dict) and isinstance(value["error"].get("code"), int):
            yield value["error"]["code"]
        for v in value.values():
            yield from _expected_codes(v)
    elif isinstance(value, list):
        for v in value:
            yield from _expected_codes(v)


def _requests(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict) and "method" in value:
        yield value
    elif isinstance(value, list):
        for v in value:
            yield from _requests(v)


def test_every_vector_is_well_formed() -> None:
    assert FILES, f"no vectors in {VECTORS_DIR}"
    for path in FILES:
        vector = load(path)
        last = vector["steps"][-1]
        # A trailing notification would prove nothing: a response after it would go unread.
        assert last.get("expect") is not None, f"{path.name}: the last step must expect a response"
        text = path.read_text(encoding="utf-8")
        assert text.endswith("}\n"), f"{path.name}: one JSON object and a trailing newline"


def test_every_method_succeeds_in_some_vector() -> None:
    succeeded: set[str] = set()
    for path in FILES:
        for step in load(path)["steps"]:
            expect = step.get("expect")
            if "send" not in step or expect is None:
                continue
            sent, answers = step["send"], expect
            if isinstance(sent, dict) and isinstance(answers, dict) and "result" in answers:
                succeeded.add(sent["method"])
            elif isinstance(sent, list) and isinstance(answers, list):
                ok_ids = {json.dumps(a["id"]) for a in answers if "result" in a}
                succeeded |= {
                    r["method"] for r in _requests(sent) if json.dumps(r.get("id")) in ok_ids
                }
    missing = {spec.name for spec in METHODS} - succeeded
    assert not missing, f"no vector shows a success of {sorted(missing)}"


def test_every_error_code_is_in_a_vector_or_explained() -> None:
    expected = {code for path in FILES for code in _expected_codes(load(path)["steps"])}
    for code in ErrorCode:
        if code in UNREACHABLE:
            assert code not in expected, f"{code!r} is in a vector: take it out of UNREACHABLE"
        elif code in INDIRECT:
            assert (VECTORS_DIR / f"{INDIRECT[code]}.json").exists()
        else:
            assert code in expected, f"no vector expects error {int(code)} ({code.name})"


# ---------------------------------------------------------------- the matcher, on its own

MATCHES = [
    ("equal", {"a": 1, "b": [True, None, "x"]}, {"b": [True, None, "x"], "a": 1}, False, True),
    ("extra key", {"a": 1}, {"a": 1, "b": 2}, False, False),
    ("missing key", {"a": 1, "b": 2}, {"a": 1}, False, False),
    ("number forms", {"a": 1.0}, {"a": 1}, False, True),
    ("different number", 1, 2, False, False),
    ("true is not 1", 1, True, False, False),
    ("any", {"a": "<<any>>"}, {"a": {"deep": [1]}}, False, True),
    ("any needs the key", {"a": "<<any>>"}, {}, False, False),
    ("any matches null", "<<any>>", None, False, True),
    ("string", "<<string>>", "hi", False, True),
    ("string not int", "<<string>>", 3, False, False),
    ("int", "<<int>>", -42, False, True),
    ("int not float", "<<int>>", 4.5, False, False),
    ("int not bool", "<<int>>", True, False, False),
    ("int not string", "<<int>>", "4", False, False),
    ("hex", "<<hex>>", "00af", False, True),
    ("hex uppercase", "<<hex>>", "00AF", False, False),
    ("hex empty", "<<hex>>", "", False, False),
    (
        "capture then var",
        [{"id": "<<capture:p>>"}, {"id": "<<var:p>>"}],
        [{"id": 3}, {"id": 3}],
        False,
        True,
    ),
    (
        "var differs",
        [{"id": "<<capture:p>>"}, {"id": "<<var:p>>"}],
        [{"id": 3}, {"id": 4}],
        False,
        False,
    ),
    ("var before capture", "<<var:q>>", 1, False, False),
    (
        "var is literal",
        [{"a": "<<capture:s>>"}, {"a": "<<var:s>>"}],
        [{"a": "<<any>>"}, {"a": "x"}],
        False,
        False,
    ),
    ("ordered arrays", [1, 2], [2, 1], False, False),
    ("unordered arrays", [1, 2], [2, 1], True, True),
    ("unordered multiset", [1, 1, 2], [2, 1, 2], True, False),
    ("unordered length", [1], [1, 1], True, False),
    (
        "unordered backtracks captures",
        [{"id": "<<capture:a>>", "k": "<<any>>"}, {"id": "<<var:a>>", "k": 2}],
        [{"id": 1, "k": 2}, {"id": 1, "k": 5}],
        True,
        True,
    ),
    ("unordered nested", [{"l": [1, 2]}], [{"l": [2, 1]}], True, True),
    ("null", None, None, False, True),
    ("null vs false", None, False, False, False),
    ("string literal", "x", "y", False, False),
]


@pytest.mark.parametrize(
    ("expect", "got", "unordered", "want"), [pytest.param(*m[1:], id=m[0]) for m in MATCHES]
)
def test_matcher(expect: Any, got: Any, unordered: bool, want: bool) -> None:
    matcher = Matcher(unordered=unordered)
    assert (matcher.match(expect, got, {}) is not None) == want, matcher.where


def test_a_failed_match_keeps_no_capture() -> None:
    vars = {"x": 1}
    assert Matcher().match([{"a": "<<capture:y>>"}, 2], [{"a": 5}, 3], vars) is None
    assert vars == {"x": 1}
    assert Matcher().match({"a": "<<capture:y>>"}, {"a": 5}, vars) == {"x": 1, "y": 5}


def test_substitute() -> None:
    sent = substitute({"params": {"id": "<<var:p>>", "l": ["<<var:p>>", "x"]}}, {"p": 7})
    assert sent == {"params": {"id": 7, "l": [7, "x"]}}
    with pytest.raises(VectorError):
        substitute("<<var:nope>>", {})
