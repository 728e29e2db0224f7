"""Finished jobs from each scheduler's accounting (``batchdeck history``): all of the user's, not only
batchdeck's. One query per cluster per request, on demand, cached for a short while."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..errors import (
    AccountingUnavailable as AccountingUnavailable,  # raised by the hooks; callers catch it here
)
from ..model import HistoryRecord
from ..schedulers.base import BatchSystem

#: seconds a cluster's answer is reused: paging through it must not query again
CACHE_SECONDS = 30.0


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


async def query_history(backend: BatchSystem, since: float) -> list[HistoryRecord]:
    """The user's jobs that ended since ``since`` (epoch seconds), newest first: ONE command
    (the scheduler's ``history_argv`` / ``parse_history_output`` hooks)."""
    await backend.connect()  # history_argv may need what prepare() learnt (the login user)
    argv = backend.history_argv(since)
    records = backend.parse_history_output(await backend.run_command(argv, check=False), since)
    records.sort(key=lambda r: r.end_time or r.start_time or r.submit_time or 0, reverse=True)
    return records
