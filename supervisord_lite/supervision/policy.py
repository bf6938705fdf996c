"""The restart policy: pure timing, no processes and no clock of its own (tested with a fake one).

systemd's names and rules: `restart` is "no", "on-failure" or "always" (Restart=); the delay
before a restart starts at `restart_delay` and doubles up to `restart_max_delay` (RestartSec=,
RestartSteps=/RestartMaxDelaySec=); a run that lasted `healthy_after` seconds resets the delay
(supervisord's startsecs); more than `max_restarts` restarts within `restart_window` seconds
stop the restarts and the program is `failed` (StartLimitBurst=/StartLimitIntervalSec=).
"""

from __future__ import annotations

import enum
import signal
from collections import deque
from dataclasses import dataclass, field


class Restart(enum.StrEnum):
    NO = "no"
    ON_FAILURE = "on-failure"
    ALWAYS = "always"


@dataclass(frozen=True)
class Policy:
    restart: Restart = Restart.ON_FAILURE
    restart_delay: float = 0.1
    restart_max_delay: float = 30.0
    healthy_after: float = 10.0
    max_restarts: int = 5
    restart_window: float = 60.0
    stop_signal: int = signal.SIGTERM
    stop_timeout: float = 10.0


class Action(enum.StrEnum):
    RESTART = "restart"  # after `delay` seconds
    EXITED = "exited"  # the policy wants no restart
    FAILED = "failed"  # too many restarts within the window


@dataclass(frozen=True)
class Decision:
    action: Action
    delay: float = 0.0


def is_failure(exitcode: int | None) -> bool:
    """A run failed if it exited non-zero or was ended by a signal (None: it never started)."""
    return exitcode != 0


@dataclass
class Backoff:
    """What one program remembers between runs to decide the next restart."""

    policy: Policy
    delay: float = field(init=False)
    restarts: deque[float] = field(default_factory=deque)  # when each restart was decided

    def __post_init__(self) -> None:
        self.delay = self.policy.restart_delay

    def reset(self) -> None:
        """A start by hand: a fresh delay and an empty window."""
        self.delay = self.policy.restart_delay
        self.restarts.clear()

    def healthy(self) -> None:
        """The run has lasted `healthy_after` seconds: the next restart waits the first delay."""
        self.delay = self.policy.restart_delay

    def decide(self, now: float, lasted: float, exitcode: int | None) -> Decision:
        """After a run that ended at `now`, having lasted `lasted` seconds."""
        p = self.policy
        if lasted >= p.healthy_after:
            self.healthy()
        wanted = p.restart is Restart.ALWAYS or (
            p.restart is Restart.ON_FAILURE and is_failure(exitcode)
        )
        if not wanted:
            return Decision(Action.EXITED)
        while self.restarts and self.restarts[0] <= now - p.restart_window:
            self.restarts.popleft()
        if len(self.restarts) >= p.max_restarts:
            return Decision(Action.FAILED)
        self.restarts.append(now)
        delay = self.delay
        self.delay = min(self.delay * 2, p.restart_max_delay)
        return Decision(Action.RESTART, delay)
