"""Integral floats where an integer param is due (JSON Schema counts 1.0 as an integer): accepted
as that integer everywhere the schema says integer; a fraction, a bool or a string still is not."""

from __future__ import annotations

import json

from tests.conftest import Daemon
from tests.test_wire_support import assert_error, assert_info, create, kill_pid


def test_an_integral_float_is_the_integer(daemon: Daemon) -> None:
    with daemon.client() as c:
        p = create(c, target={"argv": ["sleep", "1000"]})
        as_float = float(p["id"])
        raw = json.dumps({"id": as_float})  # "1.0": written as a float, as some encoders do
        assert ".0" in raw
        started = assert_info(c.call("process.start", {"id": as_float}))
        try:
            assert c.call("process.getName", [as_float]) == p["name"]
            assert c.call("process.setName", {"id": as_float, "name": "f"}) is None
            joined = c.call("process.join", {"id": as_float, "timeout": 0.0})
            assert assert_info(joined)["exitcode"] is None
            assert c.call("process.kill", {"id": as_float})["id"] == p["id"]
            assert c.call("process.join", {"id": as_float, "timeout": 20})["exitcode"] == -9
        finally:
            kill_pid(started["pid"])
        for bad in (as_float + 0.5, True, str(p["id"]), 1e30):
            err = assert_error(c.call_raw("process.info", {"id": bad}), -32602, c._next_id)
            assert err["data"]["errors"][0]["type"] == "int_type", (bad, err)
        # A batch member and a params array are read the same way.
        c.send([{"jsonrpc": "2.0", "id": 1, "method": "process.info", "params": [as_float]}])
        assert assert_info(c.recv()[0]["result"])["name"] == "f"
