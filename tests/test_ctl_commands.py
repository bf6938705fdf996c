"""Each client command of `supervisord-lite`, run as a process against a real daemon."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from supervisord_lite_client import Client, Command

from tests.conftest import REPO, Daemon
from tests.ctl_helpers import ctl, ctl_env, follower
from tests.wire import wait_until


def add_program(daemon: Daemon, name: str, script: str, **options: object) -> None:
    with Client(daemon.socket_path) as c:
        c.add_program(name, Command(["sh", "-c", script]), **options)


def test_info_names_the_daemon(daemon: Daemon) -> None:
    out = ctl(daemon, "info")
    assert out.returncode == 0, out.stderr
    assert f"pid {daemon.proc.pid}" in out.stdout
    doc = json.loads(ctl(daemon, "info", "--json").stdout)
    assert doc["pid"] == daemon.proc.pid and doc["protocol_version"] == "1.1"


def test_no_daemon_is_exit_code_3_with_a_one_line_hint(private_dir: Path) -> None:
    out = ctl(private_dir / "nobody.sock", "status")
    assert out.returncode == 3
    assert out.stderr.count("\n") == 1 and "supervisord-lite serve --socket" in out.stderr


def test_a_bad_command_line_is_exit_code_2(daemon: Daemon) -> None:
    assert ctl(daemon, "status", "--bogus").returncode == 2
    out = ctl(daemon, "run")
    assert out.returncode == 2 and "give a command after --" in out.stderr
    out = ctl(daemon, "add", "web")
    assert out.returncode == 2 and "add: nothing to run" in out.stderr
    for verb, name in (("run", []), ("add", ["web"])):
        out = ctl(daemon, verb, "--env", "NOEQUALS", *name, "--", "true")
        assert out.returncode == 2, out
        assert f"{verb}: --env 'NOEQUALS' is not K=V" in out.stderr
    # An option after NAME (where the command goes) is not run as a command named "--env".
    out = ctl(daemon, "add", "web", "--env", "A=1", "--", "true")
    assert out.returncode == 2 and "'--env' is an option where the command should be" in out.stderr
    # Nothing was created or added by the refused lines.
    assert ctl(daemon, "status", "--json").stdout.count('"web"') == 0


def test_status_lists_programs_and_ad_hoc_processes_plainly_in_a_pipe(daemon: Daemon) -> None:
    add_program(daemon, "web", "echo up; exec sleep 60", restart="always")
    with Client(daemon.socket_path) as c:
        done = c.call("process.create", {"target": {"argv": ["sh", "-c", "exit 4"]}, "name": "job"})
        c.call("process.start", {"id": done["id"]})
        c.call("process.join", {"id": done["id"]})
    out = ctl(daemon, "status")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["NAME", "ID", "STATE", "PID", "UPTIME/EXIT", "RESTARTS", "COMMAND"]
    assert "\x1b[" not in out.stdout  # not a terminal: no colour
    rows = {line.split()[0]: line for line in lines[1:]}
    assert "exec sleep 60" in rows["web"] and "up " in rows["web"]
    assert "exit 4" in rows["job"] and "exited" in rows["job"]
    doc = json.loads(ctl(daemon, "status", "--json", "web").stdout)
    assert [r["name"] for r in doc] == ["web"] and doc[0]["pid"] is not None
    missing = ctl(daemon, "status", "web", "nope")
    assert missing.returncode == 1 and "'nope'" in missing.stderr and "web" in missing.stdout


def test_stop_start_restart_a_program_and_refuse_an_unknown_one(daemon: Daemon) -> None:
    add_program(daemon, "svc", "exec sleep 60", restart="always")
    out = ctl(daemon, "stop", "svc")
    assert out.returncode == 0 and out.stdout == "svc: stopped\n", out.stderr
    with Client(daemon.socket_path) as c:
        assert c.program("status", "svc").state == "stopped"
        first = ctl(daemon, "start", "svc", "--json")
        assert first.returncode == 0, first.stderr
        run1 = json.loads(first.stdout)["process"]["id"]
        assert ctl(daemon, "restart", "svc").returncode == 0
        status = c.program("status", "svc")
        assert status.process is not None and status.process.id != run1
    out = ctl(daemon, "stop", "svc", "ghost")
    assert out.returncode == 1 and "ghost" in out.stderr and "error 1014" in out.stderr
    assert "svc: stopped" in out.stdout  # the one it could stop was stopped


def test_stop_by_process_id(daemon: Daemon) -> None:
    with Client(daemon.socket_path) as c:
        p = c.call("process.create", {"target": {"argv": ["sleep", "60"]}})
        c.call("process.start", {"id": p["id"]})
        out = ctl(daemon, "stop", str(p["id"]))
        assert out.returncode == 0, out.stderr
        assert c.info(p["id"]).exitcode == -signal.SIGTERM


def test_run_passes_output_env_cwd_and_the_exit_code(daemon: Daemon, private_dir: Path) -> None:
    out = ctl(daemon, "run", "--env", "GREETING=hi", "--cwd", str(private_dir), "--",
              "sh", "-c", 'echo "$GREETING from $(pwd)"; echo oops >&2; exit 3')  # fmt: skip
    assert out.returncode == 3
    assert out.stdout == f"hi from {private_dir}\n" and out.stderr == "oops\n"
    killed = ctl(daemon, "run", "--", "sh", "-c", "kill -9 $$")
    assert killed.returncode == 128 + 9
    with Client(daemon.socket_path) as c:  # each run's record was released at its end
        assert list(c.iter_processes()) == []


def _run_in_background(daemon: Daemon, script: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "supervisord_lite", "run", "--socket", str(daemon.socket_path),
           "--", "sh", "-c", script]  # fmt: skip
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=REPO, env=ctl_env())


def test_run_forwards_sigterm_and_exits_128_plus_n(daemon: Daemon) -> None:
    with _run_in_background(daemon, "echo ready; exec sleep 60") as proc:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 128 + signal.SIGTERM


def test_run_forwards_sigint_to_the_child(daemon: Daemon) -> None:
    script = 'trap "echo got-int; exit 7" INT; echo ready; while :; do sleep 0.05; done'
    with _run_in_background(daemon, script) as proc:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 7
        assert proc.stdout.read() == "got-int\n"


def test_run_asks_for_a_placement_that_a_local_daemon_refuses(daemon: Daemon) -> None:
    out = ctl(daemon, "run", "--resource", "CPU=1", "--", "true")
    assert out.returncode == 1 and "--backend ray" in out.stderr  # 1020, from the daemon
    for bad in ("CPU", "=1", "CPU=lots"):
        out = ctl(daemon, "run", "--resource", bad, "--", "true")
        assert out.returncode == 2 and "is not NAME=N" in out.stderr


def test_logs_tail_and_follow_across_runs(daemon: Daemon) -> None:
    add_program(daemon, "talk", "for i in 1 2 3 4 5; do echo line$i; done", restart="no")
    with Client(daemon.socket_path) as c:
        wait_until(lambda: c.program("status", "talk").state == "exited", timeout=20,
                   what="the program to end")  # fmt: skip
    out = ctl(daemon, "logs", "-n", "2", "talk")
    assert out.returncode == 0 and out.stdout == "line4\nline5\n", out.stderr
    assert ctl(daemon, "logs", "talk").stdout.count("\n") == 5
    lines = [json.loads(x) for x in ctl(daemon, "logs", "--json", "-n", "1", "talk").stdout.split()]
    assert [(x["stream"], x["text"]) for x in lines] == [("stdout", "line5")]
    # -f on an ended program prints what there is and ends: the program is not meant to run again
    assert ctl(daemon, "logs", "-f", "-n", "1", "talk").stdout == "line5\n"


def test_logs_follow_prints_new_lines_as_they_come(daemon: Daemon, private_dir: Path) -> None:
    flag = private_dir / "go"
    script = f"echo first; while [ ! -e {flag} ]; do sleep 0.05; done; echo second"
    add_program(daemon, "slow", script, restart="no")
    with follower("logs", "-f", "--socket", str(daemon.socket_path), "slow") as logs:
        assert logs.stdout is not None and logs.stdout.readline() == "first\n"
        flag.touch()  # only now does the program write its second line
        assert logs.stdout.readline() == "second\n"
        assert logs.wait(timeout=20) == 0  # it ended, and is not meant to run again


def test_events_lists_then_since_skips(daemon: Daemon) -> None:
    assert ctl(daemon, "run", "--", "true").returncode == 0
    doc = json.loads(ctl(daemon, "events", "--json").stdout)
    types = [e["type"] for e in doc]
    assert "process.created" in types and "process.exited" in types
    last = doc[-1]["seq"]
    assert json.loads(ctl(daemon, "events", "--json", "--since", str(last)).stdout) == []
    text = ctl(daemon, "events", "--since", str(doc[0]["seq"]))
    assert "process.exited" in text.stdout and text.returncode == 0


def test_events_follow_prints_one_json_line_per_event(daemon: Daemon) -> None:
    events = follower("events", "-f", "--json", "--socket", str(daemon.socket_path))
    with events:
        assert ctl(daemon, "run", "--name", "seen", "--", "true").returncode == 0
        assert events.stdout is not None
        first = json.loads(events.stdout.readline())
        assert first["type"] == "process.created" and first["name"] == "seen"
        events.send_signal(signal.SIGINT)  # Ctrl-C
        assert events.wait(timeout=20) == 130


def test_add_then_remove_a_program(daemon: Daemon, private_dir: Path) -> None:
    out = ctl(daemon, "add", "--restart", "always", "--env", "X=1", "--cwd", str(private_dir),
              "job", "--", "sh", "-c", "echo $X $(pwd); exec sleep 60")  # fmt: skip
    assert out.returncode == 0 and out.stdout.startswith("job: "), out.stderr
    wait_until(lambda: ctl(daemon, "logs", "job").stdout == f"1 {private_dir}\n", timeout=20,
               what="the program's line")  # fmt: skip
    again = ctl(daemon, "add", "job", "--", "true")
    assert again.returncode == 1 and "error 1013" in again.stderr
    assert ctl(daemon, "remove", "job").stdout == "job: removed\n"
    with Client(daemon.socket_path) as c:
        assert c.list_programs() == []
    assert ctl(daemon, "remove", "job").returncode == 1
