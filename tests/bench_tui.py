"""How the app copes with 10,000 jobs: ``python tests/bench_tui.py`` (not a pytest test).

Measures, headlessly (Textual's pilot, 140x42):
- the first fill of the Jobs table from the journal,
- a refresh where 1,000 jobs changed state (as a poll's PollResult.changed),
- a refresh where only the running jobs' elapsed time moved,
- a real Deck.poll of a local cluster whose journal holds the 10,000 jobs,
and, for each, the longest the event loop went without running a 5 ms heartbeat
(what a user feels as a freeze).
"""

from __future__ import annotations

import asyncio
import os
import resource
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

N_JOBS = 10_000
N_CHANGED = 1_000


def _records(cluster: str, now: float) -> list:
    from batchdeck.backends.model import JobRecord, JobSpec, RunState

    states = [RunState.TERMINATED, RunState.TERMINATED, RunState.TERMINATING, RunState.RUNNING, RunState.SUBMITTED]
    jobs = []
    for n in range(N_JOBS):
        state = states[n % len(states)]
        jobs.append(
            JobRecord(
                id=f"b{n:07d}",
                cluster=cluster,
                spec=JobSpec(command=["sleep", str(n)], name=f"sweep-{n:05d}", queue="local"),
                jobid=f"b{n:07d}",
                state=state,
                created=now - N_JOBS + n,
                started=None if state == RunState.SUBMITTED else now - 3600 + n % 600,
                finished=now - 60 if state in (RunState.TERMINATED, RunState.TERMINATING) else None,
                exitcode=0 if state in (RunState.TERMINATED, RunState.TERMINATING) else None,
                queue="local",
            )
        )
    return jobs


class Heartbeat:
    """Longest gap between 5 ms ticks while something runs: the UI's worst freeze."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _beat(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(0.005)
            now = loop.time()
            self.worst = max(self.worst, now - last - 0.005)
            last = now

    def __enter__(self) -> Heartbeat:
        self.worst = 0.0
        self._task = asyncio.get_running_loop().create_task(self._beat())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


async def timed(label: str, work: Callable[[], Awaitable[object]], results: list[tuple[str, float, float]]) -> None:
    with Heartbeat() as beat:
        await asyncio.sleep(0.02)
        start = time.perf_counter()
        await work()
        took = time.perf_counter() - start
        await asyncio.sleep(0.02)
    results.append((label, took, beat.worst))


async def main() -> int:
    root = Path(tempfile.mkdtemp(prefix="bd-bench-"))
    os.environ["BATCHDECK_DATA_DIR"] = str(root / "data")
    config = root / "batchdeck.toml"
    config.write_text(f'[clusters.local]\ntype = "local"\nsandbox_root = "{root / "sandboxes"}"\n')
    os.environ["BATCHDECK_CONFIG"] = str(config)

    from batchdeck.backends.engine.deck import Deck
    from batchdeck.backends.model import RunState
    from batchdeck.tui.app import BatchdeckApp
    from batchdeck.tui.jobs_table import JobsTable

    now = [time.time()]
    deck = Deck.open()
    fill = time.perf_counter()
    for job in _records("local", now[0]):
        deck.journal.save(job)
    print(f"journal filled with {N_JOBS:,} jobs in {time.perf_counter() - fill:.2f} s")

    results: list[tuple[str, float, float]] = []
    app = BatchdeckApp(deck, clock=lambda: now[0], auto_refresh=False)
    beat = Heartbeat().__enter__()
    started = time.perf_counter()
    async with app.run_test(size=(140, 42)) as pilot:
        await pilot.pause()
        table = app.query_one(JobsTable)
        first_rows = time.perf_counter() - started
        while table.filling:
            await pilot.pause()
        first = time.perf_counter() - started
        beat.__exit__()
        first_stall = beat.worst
        assert table.row_count == N_JOBS, table.row_count
        table.move_cursor(row=5000)
        await pilot.pause()

        async def changed_refresh() -> None:
            for n in range(0, N_JOBS, N_JOBS // N_CHANGED):
                job = app.jobs_by_id[f"b{n:07d}"]
                job.exitcode = 1
                job.reason = "changed by the benchmark"
            app.main.refresh_jobs()
            await pilot.pause()

        async def clock_refresh() -> None:
            now[0] += 1
            app.main.refresh_jobs()
            await pilot.pause()

        async def real_poll() -> None:
            # The engine's own cost: one status query, and the journal read of every job.
            for job in list(app.jobs_by_id.values()):
                if job.state == RunState.RUNNING:
                    break
            await app.session.poll("local")
            await pilot.pause()

        async def scroll_to_end() -> None:
            table.move_cursor(row=N_JOBS - 1)
            await pilot.pause()

        await timed(f"refresh, {N_CHANGED:,} jobs changed", changed_refresh, results)
        await timed("refresh, elapsed column only", clock_refresh, results)
        await timed("cursor to the last row", scroll_to_end, results)
        await timed("Deck.poll of the cluster (real) + refresh", real_poll, results)
        assert table.selected_key == f"b{N_JOBS - 1:07d}", "the selection did not survive"
        await pilot.press("q")

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"app start to the first rows shown: {first_rows:.2f} s")
    print(f"app start to all {N_JOBS:,} rows in the table: {first:.2f} s (worst UI stall {first_stall:.3f} s)")
    print(f"{'operation':45} {'time':>8} {'worst UI stall':>15}")
    for label, took, worst in results:
        print(f"{label:45} {took:7.3f}s {worst:14.3f}s")
    print(f"peak RSS {rss:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
