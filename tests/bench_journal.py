"""Benchmark (not a test): journal writes/reads and one local-backend poll of many jobs.

Run: python tests/bench_journal.py [N]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from batchdeck.backends.engine.journal import Journal
from batchdeck.backends.model import JobRecord, JobSpec
from batchdeck.backends.schedulers.local import LocalBatchSystem


def bench_journal(n: int, directory: Path) -> None:
    journal = Journal(directory / "journal.sqlite")
    jobs = [JobRecord(id=journal.new_id(), cluster="c", spec=JobSpec(command=["echo", str(i)])) for i in range(n)]
    t0 = time.perf_counter()
    for job in jobs:
        journal.save(job)
    t1 = time.perf_counter()
    loaded = journal.jobs("c")
    t2 = time.perf_counter()
    assert len(loaded) == n
    print(f"journal: {n} saves {t1 - t0:.2f} s ({(t1 - t0) / n * 1e6:.0f} us/save), load all {t2 - t1:.3f} s")


async def bench_local_poll(n: int, directory: Path) -> None:
    backend = LocalBatchSystem("bench", sandbox_root=str(directory / "root"), max_cores=1)
    blocker = JobRecord(id="blocker0", cluster="bench", spec=JobSpec(command=["sleep", "600"]))
    await backend.submit_job(blocker)
    jobs = []
    t0 = time.perf_counter()
    for i in range(n):
        job = JobRecord(id=f"q{i:07d}", cluster="bench", spec=JobSpec(command=["true"]))
        await backend.submit_job(job)
        jobs.append(job)
    t1 = time.perf_counter()
    polls = []
    for _ in range(3):
        start = time.perf_counter()
        await backend.update_job_states(jobs)
        polls.append(time.perf_counter() - start)
    from collections import Counter

    states = Counter((j.state.value, j.reason) for j in jobs)
    assert set(states) == {("SUBMITTED", "waiting for free cores")}, states
    print(f"local: {n} submits {t1 - t0:.2f} s ({(t1 - t0) / n * 1e3:.1f} ms/job); one poll of {n} queued jobs: "
          f"min {min(polls):.3f} s, max {max(polls):.3f} s (one status command)")
    for job in [blocker, *jobs]:
        await backend.cancel_job(job)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    with tempfile.TemporaryDirectory() as tmp:
        bench_journal(10_000, Path(tmp))
        asyncio.run(bench_local_poll(n, Path(tmp)))


if __name__ == "__main__":
    main()
