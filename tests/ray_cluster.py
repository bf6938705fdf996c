"""A real Ray cluster on this machine for the Ray backend's tests: a head on 127.0.0.2, a worker on
127.0.0.3 (each with a resource of its own, so a test can place a process on either), everything in
one temporary directory, stopped by pid at the end (never `ray stop`, which stops every Ray
cluster of the machine). 127.0.0.1 is not used: Ray silently replaces it by the machine's address.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEAD_IP, WORKER_IP = "127.0.0.2", "127.0.0.3"
RAY = str(Path(sys.executable).with_name("ray"))

# Ray's defaults take ~15 s to call a node dead; the test of a lost node does not wait that long.
FAST_NODE_DEATH = {
    "RAY_health_check_period_ms": "500",
    "RAY_health_check_timeout_ms": "500",
    "RAY_health_check_failure_threshold": "3",
    "RAY_health_check_initial_delay_ms": "0",
}


def free_port(ip: str) -> int:
    with socket.socket() as s:
        s.bind((ip, 0))
        return int(s.getsockname()[1])


class RayCluster:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="sl-ray-"))
        self.temp_dir = self.dir / "t"
        self.port = free_port(HEAD_IP)
        self.address = f"{HEAD_IP}:{self.port}"
        # Ray's token authentication, with a token of this cluster's own (never ~/.ray's).
        token = self.dir / "token"
        token.write_text(secrets.token_hex(32))
        token.chmod(0o600)
        self.auth_env = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)}
        self.env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", **FAST_NODE_DEATH}
        self.env.update(self.auth_env)
        self.env.pop("RAY_ADDRESS", None)
        self.env.pop("RAY_AUTH_TOKEN", None)
        self.node_ids: dict[str, str] = {}

    def _ray_start(self, *args: str, ip: str) -> None:
        common = [
            f"--node-ip-address={ip}",
            f"--temp-dir={self.temp_dir}",
            "--object-store-memory=80000000",
            f"--dashboard-agent-listen-port={free_port(ip)}",
            f"--metrics-export-port={free_port(ip)}",
            f"--runtime-env-agent-port={free_port(ip)}",
            "--disable-usage-stats",
        ]
        log = self.dir / f"start-{ip}.log"
        with log.open("ab") as out:
            done = subprocess.run(
                [RAY, "start", *args, *common],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                env=self.env,
                timeout=120,
                check=False,
            )
        if done.returncode != 0:
            raise RuntimeError(f"ray start failed for {ip}: {log.read_text()[-3000:]}")

    def start(self) -> None:
        self.dashboard_port = free_port(HEAD_IP)
        self._ray_start(
            "--head",
            f"--port={self.port}",
            "--num-cpus=1",
            '--resources={"sl_head": 100}',
            "--include-dashboard=true",
            f"--dashboard-host={HEAD_IP}",
            f"--dashboard-port={self.dashboard_port}",
            f"--ray-client-server-port={free_port(HEAD_IP)}",
            ip=HEAD_IP,
        )
        self.add_node(WORKER_IP, '{"sl_worker": 100}')

    def add_node(self, ip: str, resources: str) -> None:
        self._ray_start(
            f"--address={self.address}", "--num-cpus=1", f"--resources={resources}", ip=ip
        )

    def dashboard_url(self) -> str:
        """Where the Job Submission API listens (the head's dashboard)."""
        return f"http://{HEAD_IP}:{self.dashboard_port}"

    # -- stopping by pid ----------------------------------------------------------------------
    def pids(self, *markers: str) -> set[int]:
        """Our processes: those whose command line names a marker (default: our temp dir or our
        head's address) and all their descendants (Ray's workers rename themselves `ray::...`)."""
        wanted = [m.encode() for m in markers or (str(self.temp_dir), self.address)]
        parents: dict[int, int] = {}
        roots: set[int] = set()
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            pid = int(entry)
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
                stat = Path(f"/proc/{pid}/stat").read_bytes()
            except OSError:
                continue
            parents[pid] = int(stat[stat.rfind(b")") + 2 :].split()[1])
            if any(m in cmdline for m in wanted):
                roots.add(pid)
        found = set(roots)
        grew = True
        while grew:
            grew = False
            for pid, ppid in parents.items():
                if ppid in found and pid not in found:
                    found.add(pid)
                    grew = True
        return found - {os.getpid()}

    def kill(self, pids: set[int], sig: int = signal.SIGKILL) -> None:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def stop(self) -> None:
        pids = self.pids()
        self.kill(pids, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(p) for p in pids):
            time.sleep(0.05)  # poll with a deadline
        self.kill({p for p in pids if _alive(p)})
        shutil.rmtree(self.dir, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
    except OSError:
        return False
    return state != b"Z"
