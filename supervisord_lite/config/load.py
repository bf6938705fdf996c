"""Finding and reading the config file, and saying exactly what is wrong with a bad one: the
file, the line (a TOML syntax error) or the key path (`programs.web.restart`), and what is
allowed."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from supervisord_lite.config.model import ConfigFile, DaemonSettings, program_params
from supervisord_lite.rpc.supervision_models import ProgramAddParams
from supervisord_lite.supervision.specs import ProgramSpec


class BadConfig(Exception):
    """A config file that cannot be used; str() is the whole message, file first."""


@dataclass(frozen=True)
class Config:
    path: Path | None
    daemon: DaemonSettings = field(default_factory=lambda: DaemonSettings.model_validate({}))
    programs: Mapping[str, tuple[ProgramSpec, bool]] = field(default_factory=dict)
    """Each instance by name: its spec, and whether it starts by itself (autostart)."""


def search_path(environ: Mapping[str, str] | None = None) -> list[Path]:
    """Where a config file is looked for when --config is not given, first first (each only if
    it exists): systemd's ConfigurationDirectory=, /etc for root, else the XDG config home."""
    env = os.environ if environ is None else environ
    paths: list[Path] = []
    if env.get("CONFIGURATION_DIRECTORY"):
        # systemd may give several, colon-separated; the first is ours.
        paths.append(Path(env["CONFIGURATION_DIRECTORY"].split(":")[0]) / "config.toml")
    if os.geteuid() == 0:
        paths.append(Path("/etc/supervisord-lite/config.toml"))
    else:
        xdg = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
        paths.append(Path(xdg) / "supervisord-lite" / "config.toml")
    return paths


def find_config(given: Path | None) -> Path | None:
    if given is not None:
        return given
    return next((p for p in search_path() if p.is_file()), None)


def load(path: Path | None) -> Config:
    """The config at `path` (None: none, an empty config). Raises BadConfig."""
    if path is None:
        return Config(None)
    try:
        with path.open("rb") as f:
            raw = tomllib.load(f)
    except OSError as exc:
        raise BadConfig(f"{path}: cannot be read: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise BadConfig(f"{path}: not valid TOML: {exc}") from None
    return parse(raw, path)


def parse(raw: Mapping[str, Any], path: Path) -> Config:
    try:
        file = ConfigFile.model_validate(raw)
    except ValidationError as exc:
        raise BadConfig(_describe(path, exc, ())) from None
    programs: dict[str, tuple[ProgramSpec, bool]] = {}
    for name, table in file.programs.items():
        reserved = sorted(set(table.model_extra or {}) & {"name", "target", "start"})
        if reserved:
            raise BadConfig(
                f"{path}: programs.{name}.{reserved[0]}: unknown key; the table's name is the "
                'program\'s, "command" or "callable" is what it runs, "autostart" says if it starts'
            )
        names = [name] if table.numprocs == 1 else [f"{name}:{i}" for i in range(table.numprocs)]
        for instance in names:
            params = program_params(instance, table)
            try:
                checked = ProgramAddParams.model_validate(params)
            except ValidationError as exc:
                raise BadConfig(_describe(path, exc, ("programs", name))) from None
            programs[instance] = (_spec(path, name, checked), table.autostart)
    return Config(path, file.daemon, programs)


def _spec(path: Path, name: str, params: ProgramAddParams) -> ProgramSpec:
    from supervisord_lite.rpc.errors import RpcError
    from supervisord_lite.rpc.supervision_methods import _spec as spec_of

    try:
        return spec_of(params)
    except RpcError as exc:
        raise BadConfig(f"{path}: programs.{name}: {exc.message}") from None


_WHERE_IN_TARGET = {"argv": "command", "callable": "callable", "env": "env", "cwd": "cwd"}


def _describe(path: Path, exc: ValidationError, prefix: Sequence[str]) -> str:
    lines = []
    for error in exc.errors():
        loc = [str(part) for part in error["loc"]]
        if prefix and loc[:1] == ["target"]:
            # A target's keys are the table's own (command, callable, env, cwd).
            loc = [_WHERE_IN_TARGET.get(p, p) for p in loc[2:3]] or ["command"]
            loc += [str(part) for part in error["loc"][3:]]
        if loc[-1:] == ["[key]"]:  # a program's name (a table's key) is what is wrong
            loc = loc[:-1]
        key = ".".join([*prefix, *loc])
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown key; " + _allowed(prefix, loc)
        got = "" if error["type"] in ("missing", "extra_forbidden") else _got(error)
        lines.append(f"{path}: {key}: {message}{got}")
    return "\n".join(lines)


def _got(error: Any) -> str:
    value = error.get("input")
    if isinstance(value, dict | list) or value is None:
        return ""
    return f" (got {value!r})"


def _allowed(prefix: Sequence[str], loc: Sequence[str]) -> str:
    from supervisord_lite.config.model import ProgramConfig

    if prefix:  # a program's table
        keys = [k for k in ProgramAddParams.model_fields if k not in ("name", "target", "start")]
        keys += list(ProgramConfig.model_fields)
    elif loc[:1] == ["daemon"]:
        keys = list(DaemonSettings.model_fields)
    else:
        keys = list(ConfigFile.model_fields)
    return "allowed: " + ", ".join(sorted(keys))
