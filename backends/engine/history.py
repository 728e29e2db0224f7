"""Finished jobs from each scheduler's accounting (``batchdeck history``): all of the user's, not only
batchdeck's. One query per cluster per request, on demand, cached for a short while."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from ..errors import BatchdeckError, SchedulerError
from ..model import HistoryRecord
from ..schedulers.base import BatchSystem
from ..schedulers.sge import parse_qacct_history, qacct_history_argv
from ..schedulers.slurm import accounting_disabled, parse_sacct_history, sacct_history_argv

#: seconds a cluster's answer is reused: paging through it must not query again
CACHE_SECONDS = 30.0


class AccountingUnavailable(BatchdeckError):
    """The cluster keeps no accounting, or it cannot be reached: said, never shown as "no jobs"."""


@dataclass
class HistoryCache:
    entries: dict[tuple[str, int], tuple[float, list[HistoryRecord]]] = field(default_factory=dict)

    # a window start to the minute: two requests a few seconds apart ask for the same thing
    def get(self, cluster: str, since: float) -> list[HistoryRecord] | None:
        hit = self.entries.get((cluster, int(since // 60)))
        if hit is None or time.monotonic() - hit[0] > CACHE_SECONDS:
            return None
        return hit[1]

    def put(self, cluster: str, since: float, records: list[HistoryRecord]) -> None:
        self.entries[(cluster, int(since // 60))] = (time.monotonic(), records)


async def _user(backend: BatchSystem) -> str:
    if backend.username:
        return backend.username
    result = await backend.transport.run(["id", "-un"], timeout=backend.ssh_timeout)
    result.check("id -un")
    return result.stdout.strip()


async def query_history(backend: BatchSystem, since: float) -> list[HistoryRecord]:
    """The user's jobs that ended since ``since`` (epoch seconds), newest first: ONE command."""
    await backend.connect()
    kind = backend.type_name
    if kind == "slurm":
        argv = sacct_history_argv(await _user(backend), since)
        result = await backend.transport.run(argv, timeout=backend.ssh_timeout)
        if not result.ok:
            error = SchedulerError("sacct", result.stderr or result.stdout, result.exit_status)
            if accounting_disabled(result.stderr):
                raise AccountingUnavailable(f"cluster {backend.name!r} keeps no job accounting ({error})")
            raise AccountingUnavailable(f"cluster {backend.name!r}: accounting cannot be read ({error})")
        records = parse_sacct_history(result.stdout)
    elif kind == "sge":
        days = max(1, math.ceil((time.time() - since) / 86400))
        result = await backend.transport.run(qacct_history_argv(await _user(backend), days), timeout=backend.ssh_timeout)
        if not result.ok:
            error = SchedulerError("qacct", result.stderr or result.stdout, result.exit_status)
            raise AccountingUnavailable(f"cluster {backend.name!r}: accounting cannot be read ({error})")
        # qacct -d counts whole days back from now: trim to the exact window
        records = [r for r in parse_qacct_history(result.stdout) if (r.end_time or r.start_time or 0) >= since]
    elif kind == "local":
        raise AccountingUnavailable(
            f"cluster {backend.name!r} runs local processes, which keep no accounting: `batchdeck list` shows its jobs"
        )
    else:
        raise AccountingUnavailable(f"history is not available for {kind} clusters yet ({backend.name!r})")
    records.sort(key=lambda r: r.end_time or r.start_time or r.submit_time or 0, reverse=True)
    return records
