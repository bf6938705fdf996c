"""What a config file may hold. A program's table takes every param of `program.add` (checked by
its own model, ProgramAddParams, so the two cannot drift) plus how to run it (`command` or
`callable`, `env`, `cwd`) and the file's own `autostart` and `numprocs`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from supervisord_lite.rpc.supervision_models import ProgramName


class DaemonSettings(BaseModel):
    """`[daemon]`: what `serve` otherwise takes as options (an option given wins)."""

    model_config = ConfigDict(extra="forbid")
    socket: Path | None = Field(None, description="The socket path (as --socket)")
    state_dir: Path | None = Field(None, description="Records, ids, exit codes (as --state-dir)")
    log_dir: Path | None = Field(None, description='Where output "log" goes (as --log-dir)')
    grace: Annotated[float, Field(ge=0)] | None = Field(
        None, description="Seconds after SIGTERM at shutdown before SIGKILL (as --grace)"
    )
    preload: list[str] | None = Field(
        None, description="Modules the zygote imports once (as --preload)"
    )
    keep_exited: Annotated[int, Field(ge=0)] | None = Field(
        None, description="Exited records kept before the oldest are released (as --keep-exited)"
    )
    event_ring: Annotated[int, Field(ge=1)] | None = Field(
        None, description="Events kept for events.read (as --event-ring)"
    )
    backend: Literal["local", "ray"] | None = Field(
        None, description="Where processes run: this machine, or a Ray cluster (as --backend)"
    )
    ray_address: str | None = Field(
        None, description="The Ray cluster's head, HOST:PORT (as --ray-address)"
    )
    ray_name: str | None = Field(
        None, description="This daemon's name on the cluster (as --ray-name)"
    )


class ProgramConfig(BaseModel):
    """`[programs.NAME]`. Keys not named here are program.add's params (restart, stop_signal,
    output, ...), checked by its model."""

    model_config = ConfigDict(extra="allow")
    command: list[str] | str | None = Field(
        None, description="What to execute: an argv list, or one string split as a shell would"
    )
    callable: str | None = Field(None, description='Or "package.module:function", called')
    sys_path: list[str] | None = Field(None, description="With callable: put first on sys.path")
    env: dict[str, str | None] | None = Field(None, description="Merged into the daemon's")
    cwd: str | None = Field(None, description="Its working directory")
    autostart: bool = Field(True, description="Start it when the daemon starts (or reloads)")
    numprocs: Annotated[int, Field(ge=1, le=1000)] = Field(
        1, description="Instances, named NAME:0 ... NAME:N-1 when more than 1"
    )

    @model_validator(mode="after")
    def _one_way_to_run(self) -> ProgramConfig:
        if (self.command is None) == (self.callable is None):
            raise ValueError('give exactly one of "command" (an argv) or "callable"')
        if isinstance(self.command, list) and not self.command:
            raise ValueError('"command" is empty')
        return self


class ConfigFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    daemon: DaemonSettings = Field(default_factory=lambda: DaemonSettings.model_validate({}))
    programs: dict[ProgramName, ProgramConfig] = Field(default_factory=dict)


def program_params(name: str, table: ProgramConfig) -> dict[str, Any]:
    """The program.add params of one instance: the target built from the file's keys."""
    import shlex

    target: dict[str, Any]
    if table.command is not None:
        argv = shlex.split(table.command) if isinstance(table.command, str) else table.command
        target = {"argv": argv}
    else:
        target = {"callable": table.callable}
        if table.sys_path is not None:
            target["sys_path"] = table.sys_path
    if table.env is not None:
        target["env"] = table.env
    if table.cwd is not None:
        target["cwd"] = table.cwd
    return {"name": name, "target": target, **(table.model_extra or {})}
