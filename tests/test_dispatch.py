"""The request check's two forms agree: `_is_request` (one expression, run for every request) and
`_request_problem` (the reason, for the error message)."""

from __future__ import annotations

from typing import Any

import pytest

from supervisord_lite.rpc.dispatch import _is_request, _request_problem

MESSAGES: list[Any] = [
    {"jsonrpc": "2.0", "method": "m", "id": 1},
    {"jsonrpc": "2.0", "method": "m"},
    {"jsonrpc": "2.0", "method": "m", "params": {}, "id": "x"},
    {"jsonrpc": "2.0", "method": "m", "params": [], "id": None},
    {"jsonrpc": "2.0", "method": "m", "id": 1.5},
    {"jsonrpc": "2.0", "method": "m", "id": True},
    {"jsonrpc": "2.0", "method": "m", "id": [1]},
    {"jsonrpc": "2.0", "method": "m", "id": {}},
    {"jsonrpc": "2.0", "method": "m", "params": "x"},
    {"jsonrpc": "2.0", "method": "m", "params": None},
    {"jsonrpc": "2.0", "method": "m", "params": 3},
    {"jsonrpc": "2.0", "method": 1},
    {"jsonrpc": "2.0", "method": None},
    {"jsonrpc": "2.0"},
    {"jsonrpc": "1.0", "method": "m"},
    {"jsonrpc": 2.0, "method": "m"},
    {"method": "m", "id": 1},
    {"jsonrpc": "2.0", "method": "m", "extra": 1},
    {},
    [],
    1,
    "x",
    None,
    True,
]


@pytest.mark.parametrize("msg", MESSAGES, ids=[repr(m) for m in MESSAGES])
def test_the_fast_check_and_the_explained_one_agree(msg: Any) -> None:
    assert _is_request(msg) == (_request_problem(msg) is None)
