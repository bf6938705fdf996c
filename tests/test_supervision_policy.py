"""The restart policy's timing, with a fake clock: pure functions of the times they are given."""

from __future__ import annotations

from supervisord_lite.supervision.policy import Action, Backoff, Policy, Restart


def test_the_delay_doubles_from_restart_delay_up_to_the_maximum() -> None:
    b = Backoff(Policy(restart_delay=0.1, restart_max_delay=0.5, max_restarts=100))
    delays = [b.decide(now=float(i), lasted=0.01, exitcode=1).delay for i in range(6)]
    assert delays == [0.1, 0.2, 0.4, 0.5, 0.5, 0.5]


def test_a_healthy_run_resets_the_delay() -> None:
    b = Backoff(Policy(restart_delay=0.1, healthy_after=10, max_restarts=100))
    assert b.decide(0, lasted=1, exitcode=1).delay == 0.1
    assert b.decide(1, lasted=1, exitcode=1).delay == 0.2
    assert b.decide(30, lasted=10, exitcode=1).delay == 0.1  # it lasted healthy_after
    assert b.decide(31, lasted=9.9, exitcode=1).delay == 0.2


def test_more_than_max_restarts_within_the_window_fails() -> None:
    b = Backoff(Policy(max_restarts=3, restart_window=60))
    actions = [b.decide(float(t), lasted=0, exitcode=2).action for t in (0, 1, 2, 3)]
    assert actions == [Action.RESTART] * 3 + [Action.FAILED]


def test_restarts_older_than_the_window_no_longer_count() -> None:
    b = Backoff(Policy(max_restarts=2, restart_window=10))
    assert b.decide(0, lasted=0, exitcode=2).action is Action.RESTART
    assert b.decide(1, lasted=0, exitcode=2).action is Action.RESTART
    assert b.decide(5, lasted=0, exitcode=2).action is Action.FAILED
    assert b.decide(11.5, lasted=0, exitcode=2).action is Action.RESTART  # 0 and 1 aged out


def test_reset_by_hand_clears_the_window_and_the_delay() -> None:
    b = Backoff(Policy(max_restarts=1, restart_delay=0.05))
    assert b.decide(0, lasted=0, exitcode=2).action is Action.RESTART
    assert b.decide(0.1, lasted=0, exitcode=2).action is Action.FAILED
    b.reset()
    d = b.decide(0.3, lasted=0, exitcode=2)
    assert (d.action, d.delay) == (Action.RESTART, 0.05)


def test_which_exits_restart() -> None:
    cases = {
        (Restart.NO, 1): Action.EXITED,
        (Restart.NO, 0): Action.EXITED,
        (Restart.ON_FAILURE, 0): Action.EXITED,
        (Restart.ON_FAILURE, 3): Action.RESTART,
        (Restart.ON_FAILURE, -15): Action.RESTART,  # ended by a signal: a failure
        (Restart.ON_FAILURE, None): Action.RESTART,
        (Restart.ALWAYS, 0): Action.RESTART,
        (Restart.ALWAYS, -9): Action.RESTART,
    }
    for (restart, code), action in cases.items():
        got = Backoff(Policy(restart=restart)).decide(0, lasted=0, exitcode=code).action
        assert got is action, (restart, code)
