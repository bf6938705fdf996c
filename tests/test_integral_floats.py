"""`integral_floats`, the second try of a request whose integer params came as 1.0: the fixed copy
shares every container it did not have to change with the request (a deep copy of a refused 4 MiB
`args` stalled every other client for 230 ms), and the request itself is left as it came."""

from __future__ import annotations

from typing import Any

from supervisord_lite.rpc.models import integral_floats


def _int_error(*loc: Any) -> dict[str, Any]:
    return {"type": "int_type", "loc": loc}


def test_only_the_containers_on_the_way_to_a_fix_are_copied() -> None:
    big = list(range(100_000))
    params: dict[str, Any] = {"id": 3.0, "target": {"x": [1, 2.0], "y": {"z": 1}}, "args": big}
    fixed = integral_floats(params, [_int_error("id"), _int_error("target", "x", 1)])
    assert fixed == {"id": 3, "target": {"x": [1, 2], "y": {"z": 1}}, "args": big}
    assert type(fixed["id"]) is int and type(fixed["target"]["x"][1]) is int
    assert fixed["args"] is big  # untouched: shared, not copied
    assert fixed["target"]["y"] is params["target"]["y"]
    assert params == {"id": 3.0, "target": {"x": [1, 2.0], "y": {"z": 1}}, "args": big}
    assert type(params["id"]) is float and type(params["target"]["x"][1]) is float


def test_two_fixes_in_one_container_both_land() -> None:
    params = {"ids": [1.0, 2.0, 3]}
    fixed = integral_floats(params, [_int_error("ids", 0), _int_error("ids", 1)])
    assert fixed == {"ids": [1, 2, 3]} and all(type(i) is int for i in fixed["ids"])
    assert params["ids"] == [1.0, 2.0, 3] and type(params["ids"][0]) is float


def test_nothing_to_fix_is_none() -> None:
    params = {"id": 1.5, "b": True, "s": "1", "huge": 1e30, "gone": 1.0}
    errors = [
        _int_error("id"),
        _int_error("b"),
        _int_error("s"),
        _int_error("huge"),
        _int_error("missing", 0),  # a step that leads nowhere (a union member's name)
        {"type": "missing", "loc": ("gone",)},  # not an integer check
    ]
    assert integral_floats(params, errors) is None
