"""The dispatcher's own rules, in process: the request check's two forms agree (`_is_request`, one
expression run for every request, and `_request_problem`, the reason for the error message), and a
handler that fails unexpectedly gets -32603 without its text, with its traceback in the log."""

from __future__ import annotations

import asyncio
import inspect
import logging
from typing import Any

import orjson
import pytest

from supervisord_lite.core.model import ProcessRecord
from supervisord_lite.core.supervisor import Supervisor
from supervisord_lite.rpc.dispatch import Answer, Dispatcher, _is_request, _request_problem
from supervisord_lite.rpc.methods import Api, Peer

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


# -- a handler that fails unexpectedly ----------------------------------------------------------


class _BrokenSupervisor(Supervisor):
    """Every lookup and every join fails as a daemon bug would, with text no client may see."""

    def get(self, process_id: int) -> ProcessRecord:
        raise RuntimeError("secret detail in /etc/shadow")

    async def join(
        self, process_id: int, *, timeout: float | None, caller: ProcessRecord | None
    ) -> ProcessRecord:
        raise RuntimeError("secret detail in /etc/shadow")


async def _answer(answer: Answer) -> bytes | None:
    return await answer if inspect.iscoroutine(answer) else answer  # type: ignore[return-value]


@pytest.mark.parametrize(
    "method",
    ["process.getName", "process.join"],
    ids=["a method that never waits", "a method that may wait"],
)
def test_an_unexpected_failure_answers_32603_and_logs_the_traceback(
    method: str, caplog: pytest.LogCaptureFixture
) -> None:
    broken = _BrokenSupervisor(None, parent_of=lambda pid: None)  # type: ignore[arg-type]
    dispatcher = Dispatcher(Api(broken))
    line = orjson.dumps({"jsonrpc": "2.0", "id": 7, "method": method, "params": {"id": 1}})
    with caplog.at_level(logging.ERROR, logger="supervisord_lite.rpc.dispatch"):
        reply = asyncio.run(_answer(dispatcher.handle(line, Peer(pid=None, uid=0), [])))
    assert reply is not None
    assert orjson.loads(reply) == {
        "jsonrpc": "2.0",
        "error": {"code": -32603, "message": "Internal error (see the daemon's log)"},
        "id": 7,
    }
    logged = [r for r in caplog.records if r.exc_info]
    assert len(logged) == 1 and method in logged[0].getMessage()
    assert "secret detail" in str(logged[0].exc_info[1])  # type: ignore[index]
