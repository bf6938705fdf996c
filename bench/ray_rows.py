"""The Ray backend's figures, against Ray's own ways to run the same thing, in one run.

`python -m bench.ray_rows [--quick]` (`make bench-ray`): starts the tests' two-node cluster on
this machine (tests/ray_cluster.py; head 127.0.0.2, worker 127.0.0.3), a daemon with
`--backend ray`, and measures, alternating round by round:
- create+start+join of a no-op Python target (a callable) through the daemon, against
  `ray.get(f.remote())` of a no-op task (what Ray costs for the smallest unit of work);
- create+start+join of `/bin/true` through the daemon, against the Job Submission API
  (`submit_job(entrypoint="/bin/true")`, then its status read until it has ended, as its clients do);
- for scale: a detached actor created, called once and killed by hand (what each process costs us
  in Ray before our own work).
Ray's figures are Ray's: run on the same cluster, in the same process, in the same minute.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.run import REPO, Raw, Report, Row, _median, log, start_daemon
from tests.ray_cluster import RayCluster

TARGET = {"callable": "bench.targets:noop", "sys_path": [str(REPO)]}


def timed(n: int, fn: Callable[[], object]) -> float:
    """Median seconds of one call of fn, over n calls."""
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return _median(times)


def alternate(
    reps: int, n: int, anchor: Callable[[], object], ours: Callable[[], object]
) -> tuple[float, float]:
    a, o = [], []
    for i in range(reps):
        pair = [(a, anchor), (o, ours)]
        for out, fn in pair if i % 2 == 0 else pair[::-1]:
            out.append(timed(n, fn))
    return _median(a), _median(o)


def run_one(c: Raw, target: Any) -> None:
    p = c.call("process.create", {"target": target})
    c.call("process.start", {"id": p["id"], "output": "null"})
    if c.call("process.join", {"id": p["id"]})["exitcode"] != 0:
        raise RuntimeError("the process failed")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ray_rows", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="few repetitions (a smoke run)")
    args = parser.parse_args(argv)
    reps, n, jobs = (3, 5, 2) if args.quick else (5, 20, 5)
    cluster = RayCluster()
    report = Report()
    started = time.monotonic()
    try:
        log("bench-ray: starting a head and a worker")
        t = time.monotonic()
        cluster.start()
        report.extra.append(
            ("ray start: head + worker (with the dashboard)", f"{time.monotonic() - t:.1f} s")
        )
        os.environ.update(cluster.auth_env)  # before Ray is imported: it reads them once
        import ray
        from ray.job_submission import JobStatus, JobSubmissionClient

        ray.init(address=cluster.address, log_to_driver=False, logging_level="WARNING")

        @ray.remote(num_cpus=0)
        def f() -> None:
            return None

        @ray.remote(num_cpus=0)
        class Bare:
            def ping(self) -> None:
                return None

        jobs_client = JobSubmissionClient(cluster.dashboard_url())

        def job() -> None:
            job_id = jobs_client.submit_job(entrypoint="/bin/true")
            while (status := jobs_client.get_job_status(job_id)) not in (
                JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.STOPPED):  # fmt: skip
                time.sleep(0.01)  # the Job API has no wait: its clients poll
            if status != JobStatus.SUCCEEDED:
                raise RuntimeError(f"the job ended {status}")

        def bare_actor() -> None:
            a = Bare.options(lifetime="detached").remote()
            ray.get(a.ping.remote())
            ray.kill(a)

        with tempfile.TemporaryDirectory(prefix="sl-bench-ray-") as d:
            daemon = start_daemon(Path(d), "--backend", "ray", "--ray-address", cluster.address,
                                  "--ray-name", "bench")  # fmt: skip
            c = Raw(daemon.path)
            try:
                for _ in range(3):  # warm up: workers, imports
                    run_one(c, TARGET)
                    run_one(c, {"argv": ["/bin/true"]})
                    ray.get(f.remote())
                    bare_actor()
                log("bench-ray: no-op Python target against a no-op task")
                a, o = alternate(reps, n, lambda: ray.get(f.remote()), lambda: run_one(c, TARGET))
                report.rows.append(Row("create+start+join of a no-op Python target, Ray backend",
                                       "ray.get(f.remote()), a no-op task", "ms", a, o, "(for scale)"))  # fmt: skip
                log("bench-ray: /bin/true against the Job Submission API")
                job()
                a, o = alternate(reps, jobs, job, lambda: run_one(c, {"argv": ["/bin/true"]}))
                report.rows.append(Row('create+start+join of argv ["/bin/true"], Ray backend',
                                       "Job Submission API: submit_job, status until SUCCEEDED",
                                       "ms", a, o, "≤ 1"))  # fmt: skip
                log("bench-ray: a bare detached actor, for scale")
                a, o = alternate(reps, n, lambda: ray.get(f.remote()), bare_actor)
                report.rows.append(Row("a detached actor: create, one call, kill (no process)",
                                       "ray.get(f.remote()), a no-op task", "ms", a, o, "(the floor of ours)"))  # fmt: skip
            finally:
                c.close()
                daemon.stop()
        ray.shutdown()
    finally:
        cluster.stop()
    report.print()
    log(f"bench-ray: done in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
