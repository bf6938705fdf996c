"""`Process`: the `processing` package's Process object, run by the supervisord-lite daemon.

When the daemon-side process is created
    `Process(...)` sends `process.create` at once, as `processing` assigns a process's identity in
    its constructor: default names (`Process-1`, `Process-3:2`, ...) follow construction order,
    `getName()`/`getAuthKey()` work before `start()`, and a bad target is refused by the
    constructor. The target and its args are pickled then (not at `start()`).

    A subclass that overrides `run()` is created later, on the first method that needs the daemon
    (normally `start()`): what is pickled is the object itself, and its own `__init__` sets its
    attributes after calling `Process.__init__()`.

Authentication keys
    A Process inherits the key of the process that creates it, as the seed says: here that is the
    caller's own `multiprocessing.current_process().authkey` (sent with `process.create`), so a
    `multiprocessing` Listener or Manager of the caller authenticates its children with its own
    key, as it does with `multiprocessing`. The `authkey` property is the key's bytes, exactly
    the child's `current_process().authkey`. `getAuthKey()` returns the key as a string, as
    `processing` does (keys the daemon draws, and strings given to `setAuthKey()`, are text; a
    key of random bytes is not, and `getAuthKey()` then raises InvalidParams: use `authkey`).
    `setAuthKey()` takes a string or None (a new random key); the `authkey` setter also takes
    bytes.

Inside the child
    `multiprocessing.current_process()` is the child (name and authkey set by the daemon). A
    subclass's `run()` runs on an unpickled copy of the object, which knows it is the running
    process: its `name`/`getName()`/`authkey` are `current_process()`'s (so a `setName()` in the
    parent does not change them, and `setName()` there changes only the child's own view, as in
    `processing`), `pid` is `os.getpid()`, `is_alive()` is True, and `start()`/`join()` ask the
    daemon, which answers AlreadyStarted / JoinSelf. Its own daemon id comes from
    `$SUPERVISORD_LITE_PROCESS_ID` (see `current_process_id()`).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, Literal

from supervisord_lite_client.calls import (
    check_not_bootstrapping,
    create_params,
    decode_key,
    encode_key,
    mp_current,
    on_another_python,
    output_fds,
    with_creator,
)
from supervisord_lite_client.client import Client, default_client
from supervisord_lite_client.errors import (
    GroupNotNull,
    NoSuchProcess,
    ProcessNotInitialized,
    SupervisordLiteError,
    TargetFailed,
)
from supervisord_lite_client.paths import ENV_PROCESS_ID
from supervisord_lite_client.protocol import ENDED, ProcessInfo, expect_string, parse_process_info
from supervisord_lite_client.targets import (
    TargetSpec,
    normalize,
    pickle_target,
    run_here,
)

Output = Literal["passed", "daemon", "null"]

_NO_KWARGS: Mapping[str, Any] = MappingProxyType({})
_NOT_PICKLED = ("_client_arg", "_lock")


def current_process_id() -> int | None:
    """The daemon's id of the supervised process this code runs in (the nearest one above it),
    from `$SUPERVISORD_LITE_PROCESS_ID`; None when not run by the daemon."""
    value = os.environ.get(ENV_PROCESS_ID, "")
    return int(value) if value.isdigit() else None


class Process:
    """A process run by the daemon, with the API of `processing.Process` (and of today's
    `multiprocessing.Process`: `name`, `authkey`, `pid`, `exitcode`, `is_alive()`,
    `join(timeout)`, `terminate()`, `kill()`).

    `client` picks the daemon connection; by default the module's default client
    (`set_default_client()`, else `$SUPERVISORD_LITE_SOCKET`, else the daemon's default path).
    `placement` (protocol 1.1) says where a daemon with a cluster backend runs it, e.g.
    `{"node": "10.0.0.3"}` or `{"resources": {"GPU": 1}}`; `node` then says where it ran.
    """

    def __init__(
        self,
        group: object = None,
        target: TargetSpec = None,
        name: str | None = None,
        args: Iterable[Any] = (),
        kwargs: Mapping[str, Any] = _NO_KWARGS,
        *,
        client: Client | None = None,
        placement: Mapping[str, Any] | None = None,
    ) -> None:
        self._client_arg = client
        self._placement = None if placement is None else dict(placement)
        self._lock = threading.RLock()
        self._id: int | None = None
        self._info: ProcessInfo | None = None
        self._child_self = False  # True on the copy that runs as the process itself
        self._as_payload = False  # True while pickled as the child's own run()
        self._target = normalize(target)
        self._args = tuple(args)
        self._kwargs = dict(kwargs)
        self._name_arg = name
        self._closed = False
        self._initialized = True
        if group is not None:
            raise GroupNotNull(
                GroupNotNull.code,
                "group must be None; it exists for compatibility with threading.Thread",
                None,
                "Process()",
            )
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a string, not {type(name).__name__}")
        if type(self).run is Process.run:
            self._ensure_created()

    @classmethod
    def attach(cls, process_id: int, *, client: Client | None = None) -> Process:
        """A handle on an existing daemon process (NoSuchProcess if there is none); its `run()`
        does nothing here."""
        self = Process.__new__(Process)
        self._client_arg = client
        self._lock = threading.RLock()
        self._id = process_id
        self._info = None
        self._child_self = self._as_payload = False
        self._target, self._args, self._kwargs, self._name_arg = None, (), {}, None
        self._closed = False
        self._placement = None
        self._initialized = True
        self.info()
        return self

    # -- the processing API ---------------------------------------------------------------------

    def run(self) -> None:
        """The process's activity: calls the target with args and kwargs (a subclass may override
        it). Called directly, it runs here, in the calling process."""
        self._check()
        run_here(self._target, self._args, self._kwargs)

    def start(self, *, output: Output = "passed") -> None:
        """Start the process (at most once: AlreadyStarted otherwise).

        `output` (an extension): `"passed"` (default) sends the caller's stdout and stderr file
        descriptors, so the child writes where the caller does; when `sys.stdout`/`sys.stderr`
        have no file descriptor (replaced by an in-memory stream) fds 1 and 2 are sent instead, and
        if those are closed too the output goes to the daemon (`"daemon"`). `"null"` discards it.

        "passed" suits a script, as with `multiprocessing`, but it ties the child to the caller's
        terminal or pipe: a service started by a launcher piped into `head` dies of SIGPIPE when
        `head` exits. Start services with `output="null"` (or `"daemon"`); see the README.

        Once started, the Process drops its target, args and kwargs (they were sent at creation),
        as multiprocessing does: the caller's objects are not kept alive by it.
        """
        self._check()
        process_id = self._ensure_created()
        fds: tuple[int, int] | None = None
        if output == "passed":
            fds = output_fds()
            if fds is None:
                output = "daemon"
        try:
            result = self._client().call(
                "process.start", {"id": process_id, "output": output}, fds=fds or ()
            )
        except TargetFailed as exc:
            raise on_another_python(exc) from None
        self._info = parse_process_info(result)
        self._target, self._args, self._kwargs = None, (), {}

    def join(self, timeout: float | None = None) -> None:
        """Wait until the process ends, or `timeout` seconds (then check `exitcode`/`is_alive()`).

        Errors: NotStarted before `start()`; JoinSelf when the process (or a program it runs)
        joins itself.
        """
        self._check()
        if timeout is not None:
            timeout = max(0.0, float(timeout))
        process_id = self._ensure_created()
        result = self._client().call("process.join", {"id": process_id, "timeout": timeout})
        self._info = parse_process_info(result)

    def getName(self) -> str:
        """The process's name (as the daemon reports it; in the child, its own view)."""
        self._check()
        if self._child_self:
            return mp_current().name
        result = self._client().call("process.getName", {"id": self._ensure_created()})
        return expect_string(result, "name")

    def setName(self, name: str) -> None:
        """Set the name; a started child keeps the name it knows itself by."""
        self._check()
        if not isinstance(name, str):
            raise TypeError(f"name must be a string, not {type(name).__name__}")
        if self._child_self:
            mp_current().name = name
            return
        self._client().call("process.setName", {"id": self._ensure_created(), "name": name})

    def getAuthKey(self) -> str:
        """The authentication key, a string (hex unless set otherwise); a key of bytes that are
        not UTF-8 text (the caller's random multiprocessing key) is only had as `authkey`."""
        self._check()
        if self._child_self:
            try:
                return bytes(mp_current().authkey).decode("utf-8")
            except UnicodeDecodeError:
                raise ValueError(
                    "this process's authkey is bytes that are not text: use its authkey property"
                ) from None
        result = self._client().call("process.getAuthKey", {"id": self._ensure_created()})
        return expect_string(result, "authkey")

    def setAuthKey(self, value: str | None) -> None:
        """Set the authentication key (a string), or draw a new random one with None."""
        self._check()
        if value is not None and not isinstance(value, str):
            raise TypeError(f"an authkey is a string or None, not {type(value).__name__}")
        if self._child_self:
            key = os.urandom(32).hex() if value is None else value
            mp_current().authkey = key.encode("utf-8")
            return
        self._client().call("process.setAuthKey", {"id": self._ensure_created(), "value": value})

    # -- what multiprocessing added ---------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.getName()

    @name.setter
    def name(self, name: str) -> None:
        self.setName(name)

    @property
    def authkey(self) -> bytes:
        """The authkey's bytes, as `multiprocessing` has it (a string key's UTF-8)."""
        self._check()
        if self._child_self:
            return bytes(mp_current().authkey)
        result = self._client().call(
            "process.getAuthKey", {"id": self._ensure_created(), "encoding": "base64"}
        )
        return decode_key(expect_string(result, "authkey"))

    @authkey.setter
    def authkey(self, value: bytes | str) -> None:
        if not isinstance(value, bytes | bytearray):
            self.setAuthKey(value)
            return
        self._check()
        if self._child_self:
            mp_current().authkey = bytes(value)
            return
        params = {"id": self._ensure_created(), "value": encode_key(value), "encoding": "base64"}
        self._client().call("process.setAuthKey", params)

    @property
    def pid(self) -> int | None:
        """The child's pid; None before `start()`."""
        self._check()
        if self._child_self:
            return os.getpid()
        if self._id is None:
            return None
        if self._info is None or self._info.pid is None:
            return self.info().pid
        return self._info.pid

    ident = pid

    @property
    def node(self) -> str | None:
        """The cluster node it runs (or ran) on, for a daemon with a cluster backend; else None."""
        self._check()
        if self._id is None or self._child_self:
            return None
        if self._info is None or self._info.node is None:
            return self.info().node
        return self._info.node

    @property
    def exitcode(self) -> int | None:
        """None while not started or running; the exit code, or minus the signal number."""
        self._check()
        if self._child_self or self._id is None:
            return None
        if self._info is not None and self._info.state in ENDED:
            return self._info.exitcode  # None for ever if it is `lost`
        return self.info().exitcode

    def is_alive(self) -> bool:
        """Whether it was started and has not ended."""
        self._check()
        if self._child_self:
            return True
        if self._id is None:
            return False
        if self._info is not None and self._info.state in ENDED:
            return False
        return self.info().state == "running"

    def terminate(self) -> None:
        """SIGTERM (nothing if it already ended); NotStarted before `start()`."""
        self._signal("process.terminate")

    def kill(self) -> None:
        """SIGKILL (nothing if it already ended); NotStarted before `start()`."""
        self._signal("process.kill")

    def close(self) -> None:
        """`process.release`: the daemon forgets the process (record, name, key; its id is then
        unknown), as multiprocessing's `close()` frees a process's resources. StillRunning (a
        ValueError, as there) while it runs; fine before `start()`. Afterwards everything else
        raises ValueError; a second `close()`, or one of a process the daemon already forgot
        (`--keep-exited`), does nothing."""
        with self._lock:
            if self.__dict__.get("_closed"):
                return
            self._check()
            if self._id is not None:
                with contextlib.suppress(NoSuchProcess):  # already forgotten: done
                    self._client().call("process.release", {"id": self._id})
            self._closed = True

    def release(self) -> None:
        """`close()` under the protocol's name, as the Node and Go clients call it."""
        self.close()

    # -- extensions -----------------------------------------------------------------------------

    @property
    def id(self) -> int:
        """The daemon's id of this process (creates it, for a subclass not yet created)."""
        self._check()
        return self._ensure_created()

    def info(self) -> ProcessInfo:
        """The process as the daemon reports it now."""
        self._check()
        result = self._client().call("process.info", {"id": self._ensure_created()})
        self._info = parse_process_info(result)
        return self._info

    def __repr__(self) -> str:
        if "_initialized" not in self.__dict__:
            return f"<{type(self).__name__} (Process.__init__ not called)>"
        info = self._info
        if self.__dict__.get("_closed"):
            return f"<{type(self).__name__} closed>"
        if info is None:
            return f"<{type(self).__name__} (not created yet)>"
        text = f"<{type(self).__name__} name={info.name!r} id={info.id} {info.state}"
        if info.pid is not None:
            text += f" pid={info.pid}"
        if info.exitcode is not None:
            text += f" exitcode={info.exitcode}"
        return text + ">"

    # -- pickling: the daemon connection stays behind ---------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in _NOT_PICKLED}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._client_arg = None
        self._lock = threading.RLock()
        if state.get("_as_payload"):
            # This copy is the child's own run(): it is the running process.
            self._as_payload = False
            self._child_self = True
            self._id = current_process_id()

    # -- internals ------------------------------------------------------------------------------

    def _check(self) -> None:
        if "_initialized" not in self.__dict__:
            raise ProcessNotInitialized(
                f"{type(self).__name__}.__init__ must call Process.__init__() before anything "
                "else is done with the process (as with threading.Thread)"
            )
        if self.__dict__.get("_closed"):
            raise ValueError("process object is closed")  # multiprocessing's words

    def _client(self) -> Client:
        return self._client_arg if self._client_arg is not None else default_client()

    def _ensure_created(self) -> int:
        with self._lock:
            if self._id is not None:
                return self._id
            if self._child_self:
                raise SupervisordLiteError(
                    f"this process cannot find its own daemon id: ${ENV_PROCESS_ID} is not set"
                )
            if type(self).run is Process.run:
                params = create_params(self._target, self._args, self._kwargs, self._name_arg)
            else:
                check_not_bootstrapping()
                self._as_payload = True
                try:
                    what = f"the {type(self).__name__} object (its run() runs in the child)"
                    target = pickle_target(self.run, what)
                finally:
                    self._as_payload = False
                params = with_creator({"target": target, "name": self._name_arg})
            if self._placement is not None:  # protocol 1.1: a daemon with a cluster backend
                params["placement"] = self._placement
            info = parse_process_info(self._client().call("process.create", params))
            self._id, self._info = info.id, info
            return info.id

    def _signal(self, method: str) -> None:
        self._check()
        result = self._client().call(method, {"id": self._ensure_created()})
        self._info = parse_process_info(result)
