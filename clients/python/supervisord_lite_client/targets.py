"""What a `Process` runs, and how it goes on the wire (no I/O here).

- a picklable callable (a module-level function, also one of the `__main__` script; a bound method
  of a picklable object; a `functools.partial` of those) → `{"pickle": ...}`: pickled here with its
  args and kwargs, unpickled and called only in the child;
- `"package.module:function"` or `Reference(...)` → `{"callable": ...}`: imported in the child and
  called with args and kwargs, which go as JSON;
- `Command([...])` or a list/tuple of strings → `{"argv": ...}`: executed, args appended;
- `None`: runs nothing, exit code 0.

Every target made here carries the caller's working directory as `cwd` (like a forked child), and
Python targets the caller's `sys.path` (without its standard library) as `sys_path`.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from supervisord_lite_client.errors import TargetNotPicklable

# Modules needed on some paths only (subprocess, pickletools, sysconfig, ...) are imported where
# they are used: a child that re-runs the caller's script imports this package again, and should
# not pay for them.

_MAIN_MODULES = ("__main__", "__mp_main__")


class Command:
    """A program to execute (looked up in PATH); the Process's args are appended to `argv`.

    `env` is merged into the daemon's environment (a None value removes a variable); `cwd` defaults
    to the caller's working directory.
    """

    __slots__ = ("argv", "cwd", "env")

    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str | None] | None = None,
        cwd: str | os.PathLike[str] | None = None,
    ) -> None:
        if isinstance(argv, str) or not all(isinstance(a, str) for a in argv):
            raise TypeError(f"a command is a list of strings, not {argv!r}")
        self.argv: tuple[str, ...] = tuple(argv)
        self.env: dict[str, str | None] = dict(env or {})
        self.cwd: str | None = None if cwd is None else os.fspath(cwd)

    def _key(self) -> tuple[Any, ...]:
        return (self.argv, self.env, self.cwd)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Command) and self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Command({list(self.argv)!r}, env={self.env!r}, cwd={self.cwd!r})"


class Reference:
    """A function named `"package.module:function"`, imported and called in the child.

    `sys_path` defaults to the caller's `sys.path`, `cwd` to the caller's working directory.
    """

    __slots__ = ("cwd", "env", "ref", "sys_path")

    def __init__(
        self,
        ref: str,
        env: Mapping[str, str | None] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        sys_path: Sequence[str] | None = None,
    ) -> None:
        if not isinstance(ref, str):
            raise TypeError(f'a reference is a "package.module:function" string, not {ref!r}')
        self.ref = ref
        self.env: dict[str, str | None] = dict(env or {})
        self.cwd: str | None = None if cwd is None else os.fspath(cwd)
        self.sys_path: list[str] | None = None if sys_path is None else list(sys_path)

    def _key(self) -> tuple[Any, ...]:
        return (self.ref, self.env, self.cwd, self.sys_path)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Reference) and self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Reference({self.ref!r}, env={self.env!r}, cwd={self.cwd!r}, sys_path={self.sys_path!r})"

    def resolve(self) -> Callable[..., Any]:
        """The function itself, imported here (what `Process.run()` calls in this process)."""
        import importlib

        module_name, sep, qualname = self.ref.partition(":")
        if not sep or not module_name or not qualname:
            raise ValueError(f'a reference is "package.module:function", not {self.ref!r}')
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
        if not callable(obj):
            raise TypeError(f"{self.ref} is not callable")
        return obj  # type: ignore[no-any-return]


TargetSpec = Callable[..., object] | str | Reference | Command | Sequence[str] | None
Normalized = Callable[..., object] | Reference | Command | None  # what normalize() returns


def normalize(target: object) -> Callable[..., object] | Reference | Command | None:
    """The target as one of the kinds above; TypeError for anything else."""
    if target is None or isinstance(target, Reference | Command):
        return target
    if isinstance(target, str):
        return Reference(target)
    if callable(target):
        return target
    if isinstance(target, list | tuple):
        if not target:
            raise TypeError("a command target needs at least a program name")
        return Command(target)
    raise TypeError(
        "target must be a callable, a 'package.module:function' string, a Command or a list of "
        f"strings (a command), or None; not {type(target).__name__}"
    )


def run_here(
    target: Callable[..., object] | Reference | Command | None,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> None:
    """What `Process.run()` does with the target in the current process."""
    if target is None:
        return
    if isinstance(target, Reference):
        target.resolve()(*args, **kwargs)
    elif isinstance(target, Command):
        import subprocess

        if kwargs:
            raise TypeError("a command target takes no kwargs")
        env = os.environ.copy()
        for key, value in target.env.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        code = subprocess.run(
            [*target.argv, *map(str, args)], env=env, cwd=target.cwd, check=False
        ).returncode
        if code:
            raise SystemExit(code)
    else:
        target(*args, **kwargs)


def wire_target(
    target: Callable[..., object] | Reference | Command | None,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> tuple[dict[str, Any] | None, list[Any], dict[str, Any]]:
    """`(target, args, kwargs)` as `process.create` takes them."""
    if target is None:
        return None, [], {}
    if isinstance(target, Command):
        return (
            {"argv": list(target.argv), "env": dict(target.env), "cwd": target.cwd or os.getcwd()},
            list(args),
            dict(kwargs),
        )
    if isinstance(target, Reference):
        try:
            json.dumps([args, kwargs], allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"the args and kwargs of a reference target ({target.ref}) go as JSON: {exc}; "
                "pass the function itself to have them pickled"
            ) from exc
        sys_path = list(target.sys_path) if target.sys_path is not None else python_path()
        spec = {"callable": target.ref, "env": dict(target.env), "cwd": target.cwd or os.getcwd()}
        return {**spec, "sys_path": sys_path}, list(args), dict(kwargs)
    call = functools.partial(target, *args, **kwargs) if args or kwargs else target
    return pickle_target(call), [], {}


def pickle_target(call: Callable[[], object], what: str | None = None) -> dict[str, Any]:
    """A `{"pickle": ...}` target for a zero-argument callable.

    `main_path` is sent only when the pickle refers to the `__main__` script (then the child runs
    the script as `__mp_main__` first, as multiprocessing's spawn does); other targets do not pay
    for re-running the script.
    """
    import base64
    import pickle

    try:
        payload = pickle.dumps(call, protocol=pickle.DEFAULT_PROTOCOL)
    except Exception as exc:
        raise TargetNotPicklable(
            f"{what or 'the target'} cannot be pickled for the child: {type(exc).__name__}: {exc}. "
            "Use a module-level function (not a lambda or a nested function) with picklable "
            "args, or a 'package.module:function' reference"
        ) from exc
    return {
        "pickle": base64.b64encode(payload).decode("ascii"),
        "main_path": main_path() if mentions_main(payload) else None,
        "sys_path": python_path(),
        "cwd": os.getcwd(),
    }


def mentions_main(payload: bytes) -> bool:
    """Whether a pickle refers to a global of the `__main__` (or `__mp_main__`) module."""
    import pickletools

    for _opcode, arg, _pos in pickletools.genops(payload):
        if isinstance(arg, str) and (arg in _MAIN_MODULES or arg.split(" ", 1)[0] in _MAIN_MODULES):
            return True
    return False


def main_path() -> str | None:
    """The absolute path of the running script, as multiprocessing's spawn finds it; None when
    there is none (interactive, `-c`) or it is a package's `__main__` (never re-run)."""
    main = sys.modules.get("__main__")
    spec_name = getattr(getattr(main, "__spec__", None), "name", None)
    if isinstance(spec_name, str) and (spec_name == "__main__" or spec_name.endswith(".__main__")):
        return None
    path = getattr(main, "__file__", None)
    if not isinstance(path, str) or not path:
        return None
    return os.path.normpath(os.path.abspath(path))


@functools.cache
def _stdlib_dirs() -> frozenset[str]:
    import sysconfig

    dirs = {sysconfig.get_path(name) for name in ("stdlib", "platstdlib")}
    dirs |= {os.path.join(d, "lib-dynload") for d in list(dirs)}
    return frozenset(os.path.normpath(d) for d in dirs if d)


def python_path(extra: Iterable[str] = ()) -> list[str]:
    """The caller's `sys.path` for the child: absolute, without the caller's standard library (the
    daemon's interpreter has its own), then the directory this client is installed in."""
    skip = _stdlib_dirs()
    client_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out: list[str] = []
    for entry in [*sys.path, *extra, client_root]:
        if not isinstance(entry, str):
            continue
        path = os.path.normpath(os.path.abspath(entry)) if entry else os.getcwd()
        base = os.path.basename(path)
        if path in skip or (base.startswith("python") and base.endswith(".zip")) or path in out:
            continue
        out.append(path)
    return out
