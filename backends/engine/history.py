"""Finished jobs from each scheduler's accounting (``batchdeck history`` and the app's history view):
all of the user's, not only batchdeck's. One query per cluster per request, on demand, cached for a
short while."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from ..errors import (
    AccountingUnavailable as AccountingUnavailable,  # raised by the hooks; callers catch it here
)
from ..errors import BatchdeckError
from ..model import HistoryRecord
from ..schedulers.base import BatchSystem

#: seconds a cluster's answer is reused: paging through it must not query again
CACHE_SECONDS = 30.0


@dataclass
class HistoryCache:
    # an answer is the records or, so an unreachable cluster is not waited for again at once, its error
    entries: dict[tuple[str, int], tuple[float, list[HistoryRecord] | BatchdeckError]] = field(
        default_factory=dict
    )

    # a window start to the minute: two requests a few seconds apart ask for the same thing
    def get(self, cluster: str, since: float) -> list[HistoryRecord] | None:
        """The cached records, None when there are none (or they are too old); raises a cached error."""
        hit = self.entries.get((cluster, int(since // 60)))
        if hit is None or time.monotonic() - hit[0] > CACHE_SECONDS:
            return None
        if isinstance(hit[1], BatchdeckError):
            raise hit[1]
        return hit[1]

    def put(self, cluster: str, since: float, answer: list[HistoryRecord] | BatchdeckError) -> None:
        now = time.monotonic()
        # an app open for days asks for a new window start every minute: old answers go
        for key in [k for k, (at, _a) in self.entries.items() if now - at > CACHE_SECONDS]:
            del self.entries[key]
        self.entries[(cluster, int(since // 60))] = (now, answer)


#: the earliest window start asked of a scheduler: one day after the epoch. A window reaching before
#: it (``--since 100000d``) means "everything"; sacct refuses a start before 1970 and a negative
#: epoch has no date every scheduler reads, and in every time zone one day in is still after 1970.
EARLIEST = 86400.0


def clamped(since: float) -> float:
    """``since``, moved forward to EARLIEST if it is before it."""
    return max(since, EARLIEST)


async def query_history(backend: BatchSystem, since: float) -> list[HistoryRecord]:
    """The user's jobs that ended since ``since`` (epoch seconds; clamped to EARLIEST), newest
    first: ONE command (the scheduler's ``history_argv`` / ``parse_history_output`` hooks)."""
    since = clamped(since)
    await backend.connect()  # history_argv may need what prepare() learnt (the login user)
    argv = backend.history_argv(since)
    records = backend.parse_history_output(await backend.run_command(argv, check=False), since)
    records.sort(key=lambda r: r.end_time or r.start_time or r.submit_time or 0, reverse=True)
    return records


#: the history view's windows: its key's word -> seconds back from now
WINDOWS: dict[str, float] = {"1d": 86400.0, "7d": 7 * 86400.0, "30d": 30 * 86400.0}


@dataclass
class ClusterHistory:
    """One cluster's part of the history view."""

    cluster: str
    records: list[HistoryRecord] = field(default_factory=list)
    #: why there are no records: accounting is off, unreachable... ("" when it answered)
    error: str = ""
    loading: bool = False
    loaded: bool = False


class HistoryModel:
    """The history view's state without Textual: the window, and each cluster's answer.

    ``load`` asks every cluster at once, one query each (through ``fetch``: the Deck's cached
    ``history``), and never on its own: the view asks when it opens, when the window changes
    and when the user reloads.
    """

    def __init__(
        self,
        clusters: Sequence[str],
        fetch: Callable[[str, float, bool], Awaitable[list[HistoryRecord]]],
        clock: Callable[[], float] = time.time,
        window: str = "7d",
    ) -> None:
        self.fetch = fetch
        self.clock = clock
        self.window = window
        self.clusters = {name: ClusterHistory(name) for name in clusters}

    @property
    def since(self) -> float:
        return self.clock() - WINDOWS[self.window]

    def set_window(self, window: str) -> bool:
        """Choose a window (a key of WINDOWS); returns whether it changed."""
        if window not in WINDOWS:
            raise ValueError(f"unknown window {window!r}; one of {', '.join(WINDOWS)}")
        changed = window != self.window
        self.window = window
        return changed

    async def load(self, fresh: bool = False) -> None:
        """Every cluster's finished jobs in the window, asked at the same time."""
        since = self.since
        for entry in self.clusters.values():
            entry.loading = True

        async def one(entry: ClusterHistory) -> None:
            try:
                entry.records, entry.error = await self.fetch(entry.cluster, since, fresh), ""
            except BatchdeckError as exc:
                entry.records, entry.error = [], str(exc)
            finally:
                entry.loading, entry.loaded = False, True

        await asyncio.gather(*(one(entry) for entry in self.clusters.values()))

    @property
    def loading(self) -> bool:
        return any(entry.loading for entry in self.clusters.values())

    def rows(self) -> list[tuple[str, HistoryRecord]]:
        """(cluster, record) for every job, newest first across the clusters."""
        rows = [(name, record) for name, entry in self.clusters.items() for record in entry.records]
        rows.sort(
            key=lambda row: row[1].end_time or row[1].start_time or row[1].submit_time or 0, reverse=True
        )
        return rows

    def notes(self) -> list[tuple[str, str]]:
        """(cluster, why it shows no jobs) for each cluster whose accounting did not answer."""
        return [(name, entry.error) for name, entry in self.clusters.items() if entry.error]
