"""Test helpers: polling with a deadline (never a fixed sleep to make timing pass)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable

from batchdeck.backends.batch import BatchSystem
from batchdeck.backends.model import JobRecord, RunState


async def eventually(check: Callable[[], Awaitable[bool] | bool], timeout: float = 30, what: str = "condition") -> None:
    """Re-evaluate ``check`` until it is true or the deadline passes (then fail naming ``what``)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.1)


async def wait_state(
    backend: BatchSystem, job: JobRecord, states: RunState | Iterable[RunState], timeout: float = 30
) -> RunState:
    """Poll the backend until the job reaches one of ``states``."""
    wanted = {states} if isinstance(states, RunState) else set(states)

    async def reached() -> bool:
        await backend.update_job_states([job])
        return job.state in wanted

    await eventually(reached, timeout, f"job {job.id} to reach {sorted(s.value for s in wanted)} (is {job.state})")
    return job.state


def process_gone(pid: int) -> bool:
    """True if pid has exited (a zombie waiting to be reaped counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True
