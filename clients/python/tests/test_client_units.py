"""Targets, paths, the public API and local errors: no daemon needed."""

from __future__ import annotations

import base64
import inspect
import os
import pickle
import sys
import sysconfig

import pytest
import slc_helpers
import supervisord_lite_client as slc
from supervisord_lite_client import (
    Command,
    GroupNotNull,
    Process,
    ProcessNotInitialized,
    Reference,
    TargetNotPicklable,
    client,
    process,
)
from supervisord_lite_client.paths import default_socket_path
from supervisord_lite_client.targets import (
    main_path,
    mentions_main,
    normalize,
    python_path,
    wire_target,
)


def test_default_socket_path_follows_the_daemon_rule() -> None:
    assert default_socket_path({"SUPERVISORD_LITE_SOCKET": "/x/s"}, 1000) == "/x/s"
    assert (
        default_socket_path({"XDG_RUNTIME_DIR": "/run/user/7"}, 7)
        == "/run/user/7/supervisord-lite/sock"
    )
    assert default_socket_path({}, 0) == "/run/supervisord-lite/sock"
    assert default_socket_path({}, 1000) == "/tmp/supervisord-lite-1000/sock"


def test_the_same_rule_as_the_daemon() -> None:
    daemon_paths = pytest.importorskip("supervisord_lite.paths")
    for env, uid in (
        ({"XDG_RUNTIME_DIR": "/r"}, 5),
        ({}, 0),
        ({}, 42),
        ({"SUPERVISORD_LITE_SOCKET": "/s"}, 1),
    ):
        assert default_socket_path(env, uid) == str(daemon_paths.default_socket_path(env, uid))


def test_targets_are_normalized() -> None:
    assert normalize(None) is None
    assert normalize("pkg.mod:f") == Reference("pkg.mod:f")
    assert normalize(["echo", "hi"]) == Command(["echo", "hi"])
    assert normalize(("echo",)) == Command(("echo",))
    assert normalize(print) is print
    for bad in (42, [], ["echo", 1], b"x"):
        with pytest.raises(TypeError):
            normalize(bad)


def test_wire_targets_of_each_kind() -> None:
    cwd = os.getcwd()
    assert wire_target(None, (1,), {}) == (None, [], {})
    argv, args, kwargs = wire_target(Command(["echo"], env={"A": None}, cwd="/"), ("x",), {})
    assert (argv, args, kwargs) == ({"argv": ["echo"], "env": {"A": None}, "cwd": "/"}, ["x"], {})
    ref, args, kwargs = wire_target(Reference("m:f"), (1,), {"k": [2]})
    assert ref is not None and (ref["callable"], ref["cwd"], args, kwargs) == (
        "m:f",
        cwd,
        [1],
        {"k": [2]},
    )
    assert ref["sys_path"] == python_path()
    with pytest.raises(TypeError, match="JSON"):
        wire_target(Reference("m:f"), (object(),), {})
    pick, args, kwargs = wire_target(slc_helpers.hello, ("Bob",), {})
    assert pick is not None and (args, kwargs) == ([], {})
    assert set(pick) == {"pickle", "main_path", "sys_path", "cwd"}
    call = pickle.loads(base64.b64decode(pick["pickle"]))
    assert call.func is slc_helpers.hello and call.args == ("Bob",)
    assert pick["main_path"] is None  # nothing from __main__ in it: the script is not re-run


def test_unpicklable_targets_are_a_clear_error() -> None:
    with pytest.raises(TargetNotPicklable, match="module-level function") as info:
        wire_target(lambda: None, (), {})
    assert isinstance(info.value, TypeError)
    with pytest.raises(TargetNotPicklable):
        wire_target(slc_helpers.hello, (lambda: 1,), {})


def test_main_references_are_detected_in_the_pickle() -> None:
    main = sys.modules["__main__"]
    main.slc_probe = slc_helpers.hello  # type: ignore[attr-defined]
    try:
        f = slc_helpers.hello
        orig = f.__module__
        f.__module__ = "__main__"
        f.__qualname__ = "slc_probe"
        try:
            assert mentions_main(pickle.dumps(f))
            assert mentions_main(pickle.dumps(f, protocol=0))
        finally:
            f.__module__, f.__qualname__ = orig, "hello"
    finally:
        del main.slc_probe  # type: ignore[attr-defined]
    assert not mentions_main(pickle.dumps(slc_helpers.hello))
    path = main_path()
    assert path is None or os.path.isabs(path)


def test_python_path_leaves_out_the_standard_library() -> None:
    path = python_path()
    assert sysconfig.get_path("stdlib") not in path
    assert all(os.path.isabs(p) for p in path)
    assert len(path) == len(set(path))
    assert os.path.dirname(os.path.dirname(slc.__file__)) in path
    assert os.path.dirname(slc_helpers.__file__) in path


def test_group_must_be_none_before_the_daemon_is_asked() -> None:
    with pytest.raises(GroupNotNull) as info:
        Process(group="g")
    assert info.value.code == 1004 and "group must be None" in str(info.value)


def test_a_subclass_that_skips_init_gets_a_clear_error() -> None:
    p = slc_helpers.NoInit()
    for action in (p.start, p.join, p.getName, p.is_alive, p.run, p.terminate):
        with pytest.raises(
            ProcessNotInitialized, match=r"NoInit.__init__ must call Process.__init__"
        ):
            action()
    with pytest.raises(ProcessNotInitialized):
        _ = p.pid
    assert "Process.__init__ not called" in repr(p)


def test_a_subclass_is_not_created_by_its_constructor() -> None:
    # No daemon is needed to construct it (creation waits for its attributes: on start()).
    g = slc_helpers.Greeter("Ann", "/nonexistent")
    assert g.pid is None and g.exitcode is None and not g.is_alive()
    assert "not created yet" in repr(g)


def test_the_processing_api_is_all_there() -> None:
    params = list(inspect.signature(Process.__init__).parameters)
    assert params[:6] == ["self", "group", "target", "name", "args", "kwargs"]
    for method in ("start", "run", "join", "getName", "setName", "getAuthKey", "setAuthKey"):
        assert callable(getattr(Process, method)), method
    for method in ("is_alive", "terminate", "kill", "info", "attach", "close", "release"):
        assert callable(getattr(Process, method)), method
    for prop in ("name", "authkey", "pid", "exitcode", "ident", "id"):
        assert isinstance(getattr(Process, prop), property), prop
    assert "timeout" in inspect.signature(Process.join).parameters
    assert process.Process is slc.Process


def test_the_public_names_exist() -> None:
    for name in slc.__all__:
        assert hasattr(slc, name), name
    assert issubclass(slc.ConnectionLost, slc.DaemonUnavailable)
    for cls in (slc.NoSuchProcess, slc.AlreadyStarted, slc.NotStarted, slc.GroupNotNull, slc.BadTarget,
                slc.SpawnFailed, slc.TargetFailed, slc.JoinSelf, slc.ShuttingDown, slc.PermissionDenied,
                slc.FdsMissing, slc.BackendUnavailable, slc.BadPlacement,
                slc.StateUnwritable):  # fmt: skip
        assert issubclass(cls, slc.RemoteError) and issubclass(cls, slc.SupervisordLiteError)
        assert 1001 <= cls.code <= 1022
    assert slc.StillRunning.code == 1012 and issubclass(slc.StillRunning, slc.RemoteError)
    assert issubclass(slc.StillRunning, ValueError)  # what multiprocessing's close() raises


def test_current_process_id_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPERVISORD_LITE_PROCESS_ID", "12")
    assert slc.current_process_id() == 12
    monkeypatch.delenv("SUPERVISORD_LITE_PROCESS_ID")
    assert slc.current_process_id() is None


def test_run_calls_the_target_here(tmp_path: os.PathLike[str]) -> None:
    out = os.path.join(tmp_path, "out")
    # run() needs no daemon: these subclasses are not created until something asks the daemon
    sub = slc_helpers.SuperRunner(target=slc_helpers.write_text, args=[out, "direct"])
    sub.run()
    with open(out) as f:
        assert f.read() == "direct"
    sub2 = slc_helpers.SuperRunner(target=Command(["sh", "-c", "exit 3"]))
    with pytest.raises(SystemExit) as info:
        sub2.run()
    assert info.value.code == 3
    sub3 = slc_helpers.SuperRunner(target="slc_helpers:write_text", args=[out, "by reference"])
    sub3.run()
    with open(out) as f:
        assert f.read() == "by reference"


def test_the_default_client_is_reset_in_a_forked_child() -> None:
    client.set_default_client(None)
    client._default = object()  # type: ignore[assignment]
    client._after_fork_in_child()
    assert client._default is None
