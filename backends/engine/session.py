"""What the app shows, apart from any widget: jobs, queues, cluster states, the selection.

The Session owns the app's model over the Deck (journal + backends): the jobs by
id, the queue cache, per-cluster poll scheduling with an in-flight guard, error
capture, and the selection. Views subscribe and are told what changed (a
ChangeSet); they never read state back from widgets. Plain asyncio, no Textual,
so it is tested without a terminal.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import BatchdeckError, ConfigError, JobNotFound
from ..model import JobDetails, JobRecord, JobSpec, QueueInfo, RunState, SchedulerJob
from ..schedulers.base import tag_of
from ..schedulers.registry import backend_class
from . import job_control
from .deck import ACTIVE_STATES, ClusterStatus, Deck, may_still_run
from .details_cache import DetailsCache
from .logfile import PathLogSource

#: the states a job ends in (TERMINATING: finished, results not fetched yet)
FINISHED = frozenset({RunState.TERMINATING, RunState.TERMINATED})

#: seconds between automatic refreshes of a cluster's queue list
QUEUES_EVERY = 30.0
#: jobs the first frame shows before the rest of the journal is read
RECENT = 500
#: seconds between polls of clusters that have no schedule of their own (their settings are broken)
DEFAULT_INTERVAL = 10.0
#: row key prefix of a job batchdeck did not start (cannot clash with an 8-character batchdeck id)
OTHER_PREFIX = "other:"

Clock = Callable[[], float]


def _min_gap(deck: Deck, name: str) -> float:
    conf = deck.config.clusters[name]
    if conf.min_poll_interval is not None:
        return conf.min_poll_interval
    try:
        return backend_class(conf.type).default_min_poll_interval
    except ConfigError:
        return 0.0  # an unknown type: the cluster is shown broken and never polled


def other_key(cluster: str, jobid: str) -> str:
    return f"{OTHER_PREFIX}{cluster}:{jobid}"


@dataclass(frozen=True)
class ChangeSet:
    """What one update changed; a view redraws only the panes it names."""

    jobs: frozenset[str] = frozenset()  # batchdeck job ids whose record changed (added ones included)
    added: frozenset[str] = frozenset()
    removed: frozenset[str] = frozenset()
    clusters: frozenset[str] = frozenset()  # connection state, error, the other jobs it lists
    queues: frozenset[str] = frozenset()  # clusters whose queue list changed
    selection: frozenset[str] = frozenset()  # which of Selection's fields changed
    refreshed: bool = False  # a poll ended: times shown (elapsed, "refreshed at") moved
    #: batchdeck job ids seen running or queued before and finished now (the app tells the user)
    ended: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(
            self.jobs or self.removed or self.clusters or self.queues or self.selection or self.refreshed
        )

    def __or__(self, other: ChangeSet) -> ChangeSet:
        return ChangeSet(
            self.jobs | other.jobs,
            self.added | other.added,
            self.removed | other.removed,
            self.clusters | other.clusters,
            self.queues | other.queues,
            self.selection | other.selection,
            self.refreshed or other.refreshed,
            self.ended | other.ended,
        )


@dataclass
class Selection:
    """The user's focus, as state: what is selected and what the Jobs pane is filtered by."""

    cluster: str | None = None  # the Clusters pane (None: every cluster)
    queue: tuple[str, str] | None = None  # the Queues pane: (cluster, queue), None: every queue
    job: str | None = None  # the Jobs pane: a batchdeck id or other_key(...)
    text: str = ""  # the filter box

    @property
    def filter_cluster(self) -> str | None:
        return self.queue[0] if self.queue is not None else self.cluster

    @property
    def filter_queue(self) -> str | None:
        return self.queue[1] if self.queue is not None else None


Listener = Callable[[ChangeSet], None]


#: the longest wait between two tries of a failing cluster, seconds
MAX_BACKOFF = 300.0
#: each back-off wait is stretched or shrunk by up to this fraction, so that many apps
#: (one per user of a login node) that failed together do not retry together
JITTER = 0.2


def backoff_delay(interval: float, failures: int, spread: float) -> float:
    """Seconds to wait after the ``failures``-th failure in a row: the interval doubled per
    failure up to MAX_BACKOFF (never below the interval), times ``1 + spread`` (spread in
    [-JITTER, JITTER])."""
    base = min(interval * 2.0 ** min(failures, 30), max(MAX_BACKOFF, interval))
    return base * (1.0 + spread)


@dataclass
class _Schedule:
    interval: float
    #: fewest seconds between the end of one status query and the start of the next
    min_gap: float = 0.0
    next_poll: float = 0.0
    queues_at: float | None = None
    polling: bool = False
    loading_queues: bool = False
    #: failed polls in a row (0: the last one worked)
    failures: int = 0
    #: when the last poll ended (monotonic) and how long it took
    ended: float | None = None
    duration: float = 0.0
    #: wall-clock time of the last poll that worked
    last_ok: float | None = None


@dataclass(frozen=True)
class RefreshInfo:
    """What the Clusters pane says of a cluster's refreshes."""

    interval: float
    last_ok: float | None  # wall clock
    failures: int
    retry_at: float | None  # wall clock of the next try while backing off




@dataclass
class Session:
    deck: Deck
    queues: dict[str, list[QueueInfo]] = field(default_factory=dict)
    clock: Clock = time.time
    monotonic: Clock = time.monotonic
    #: the back-off's jitter (a seeded Random makes a test's waits exact)
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        self.jobs: dict[str, JobRecord] = {}
        self.selection = Selection()
        self.last_refresh: float | None = None
        self.live = False
        self.complete = False  # every job of the journal is loaded
        self._listeners: list[Listener] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._schedule: dict[str, _Schedule] = {
            name: _Schedule(self.deck.config.clusters[name].poll_interval, _min_gap(self.deck, name))
            for name in self.deck.cluster_names
            if name in self.deck.config.clusters and name not in self.deck.config.broken
        }
        # Cross-process changes: SQLite's data_version moves when another
        # connection commits; the change number says which rows to reload.
        self._data_version: int | None = None
        self._seen_change = 0
        self._syncing = False
        # Bumped by each journal sync; a poll that started before a sync must not
        # put back its older copy of a job the sync brought in.
        self._sync_count = 0
        self._synced: dict[str, int] = {}
        # ... nor put back a job another process forgot meanwhile (sync number of the forget)
        self._removed_at: dict[str, int] = {}
        self.details_cache = DetailsCache()
        #: how the Jobs table is ordered: (column, descending), None for its own order; and the
        #: columns it shows (None: every one). The view's choices, kept here so they are plain
        #: data the app persists and the table only draws.
        self.sort: tuple[str, bool] | None = None
        self.columns: tuple[str, ...] | None = None

    # ------------------------------------------------------------------ listeners

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _emit(self, changes: ChangeSet) -> ChangeSet:
        if changes:
            for listener in list(self._listeners):
                listener(changes)
        return changes

    # ------------------------------------------------------------------ state

    @property
    def cluster_names(self) -> list[str]:
        return self.deck.cluster_names

    @property
    def status(self) -> dict[str, ClusterStatus]:
        return self.deck.status

    def pollable(self, cluster: str) -> bool:
        return cluster in self._schedule

    def error(self, cluster: str) -> str:
        status = self.deck.status.get(cluster)
        return status.error if status is not None and status.state == "error" else ""

    def other_jobs(self, cluster: str) -> list[SchedulerJob]:
        """The cluster's jobs batchdeck did not start (no batchdeck tag in their name)."""
        status = self.deck.status.get(cluster)
        return [info for info in status.other_jobs if tag_of(info.name) is None] if status else []

    def other_job(self, key: str) -> SchedulerJob | None:
        if not key.startswith(OTHER_PREFIX):
            return None
        cluster, _, jobid = key[len(OTHER_PREFIX) :].partition(":")
        for info in self.other_jobs(cluster):
            if info.jobid == jobid:
                return info
        return None

    def load(self, recent: int | None = RECENT) -> bool:
        """The first fill: every active job and the ``recent`` newest (None: every job).

        Returns whether that was every job; if not, ``load_rest`` brings the others,
        so a first frame never waits for a long history.
        """
        journal = self.deck.journal
        self._data_version = journal.data_version()
        self._seen_change = journal.last_change()
        if recent is None:
            jobs, complete = self.deck.jobs(), True
        else:
            newest = journal.recent(recent)
            complete = len(newest) < recent
            if not complete:
                known = {job.id for job in newest}
                active = [job for job in journal.jobs(states=ACTIVE_STATES) if job.id not in known]
                newest = sorted([*active, *newest], key=lambda job: job.created)
            jobs = newest
        self._apply(jobs, replace=True)
        self.complete = complete
        return complete

    async def load_rest(self) -> ChangeSet:
        """The jobs ``load`` left out, in their place (creation order)."""
        if self.complete:
            return ChangeSet()
        jobs = await asyncio.to_thread(self.deck.jobs)
        # Copies we already hold may be newer than this read (a poll ended meanwhile).
        added = {job.id: job for job in jobs if job.id not in self.jobs}
        merged = sorted([*self.jobs.values(), *added.values()], key=lambda job: job.created)
        self.jobs.clear()
        self.jobs.update((job.id, job) for job in merged)
        self.complete = True
        return self._emit(ChangeSet(jobs=frozenset(added), added=frozenset(added)))

    def _apply(self, jobs: Iterable[JobRecord], replace: bool = False) -> ChangeSet:
        changed: set[str] = set()
        added: set[str] = set()
        removed: set[str] = set()
        ended: set[str] = set()
        if replace:
            fresh = {job.id: job for job in jobs}
            removed = set(self.jobs) - set(fresh)
            for ident in removed:
                del self.jobs[ident]
            jobs = fresh.values()
        for job in jobs:
            before = self.jobs.get(job.id)
            if before is None:
                added.add(job.id)
            elif before == job:
                continue
            elif before.state.is_active and job.state in FINISHED:
                ended.add(job.id)
            self.jobs[job.id] = job
            changed.add(job.id)
        return ChangeSet(
            jobs=frozenset(changed), added=frozenset(added), removed=frozenset(removed), ended=frozenset(ended)
        )

    def update(self, jobs: Iterable[JobRecord]) -> ChangeSet:
        """Take in records the caller has (e.g. the download dialog's job) and tell the listeners."""
        return self._emit(self._apply(jobs))

    def reload_job(self, job_id: str) -> ChangeSet:
        try:
            job = self.deck.job(job_id)
        except BatchdeckError:
            return ChangeSet()
        return self.update([job])

    # ------------------------------------------------------------------ selection

    def _select(self, **values: Any) -> None:
        changed = frozenset(k for k, v in values.items() if getattr(self.selection, k) != v)
        for key in changed:
            setattr(self.selection, key, values[key])
        self._emit(ChangeSet(selection=changed))

    def select_cluster(self, cluster: str | None) -> None:
        """A cluster (None: all) is selected in the Clusters pane: its queues and jobs are shown."""
        changed = cluster != self.selection.cluster
        self._select(cluster=cluster, queue=None)
        if changed and cluster is not None and self.live:
            self.spawn(self.load_queues(cluster))

    def select_queue(self, queue: tuple[str, str] | None) -> None:
        """A queue (cluster, name) is selected; None: every queue of the selected cluster(s)."""
        self._select(queue=queue)

    def select_job(self, key: str | None) -> None:
        self._select(job=key)

    def set_filter(self, text: str) -> None:
        self._select(text=text.strip())

    def set_sort(self, sort: tuple[str, bool] | None) -> None:
        if sort != self.sort:
            self.sort = sort
            self._emit(ChangeSet(selection=frozenset({"sort"})))

    def set_columns(self, columns: tuple[str, ...] | None) -> None:
        if columns != self.columns:
            self.columns = columns
            self._emit(ChangeSet(selection=frozenset({"columns"})))

    def clear_selection(self) -> None:
        """Show every job again (keeps the selected job)."""
        self._select(cluster=None, queue=None, text="")

    @property
    def selected_job(self) -> JobRecord | None:
        """The selected batchdeck job (None for none, or for a job batchdeck did not start)."""
        key = self.selection.job
        return self.jobs.get(key) if key is not None else None

    def submit_cluster(self) -> str:
        """Where a new job goes: the selected cluster, else the selected job's, else the default."""
        cluster = self.selection.filter_cluster
        if cluster:
            return cluster
        job = self.selected_job
        if job is not None:
            return job.cluster
        try:
            return self.deck.config.default_cluster
        except ConfigError:
            return self.cluster_names[0] if self.cluster_names else ""

    # ------------------------------------------------------------------ scheduling

    @property
    def tick_interval(self) -> float:
        """How often ``tick`` should run: often enough for the fastest cluster's interval."""
        fastest = min((s.interval for s in self._schedule.values()), default=1.0)
        return min(0.5, max(0.05, fastest / 2))

    def start(self) -> None:
        """Begin automatic refreshes: every cluster now, then each at its poll interval."""
        self.live = True
        now = self.monotonic()
        for schedule in self._schedule.values():
            schedule.next_poll = now
        for name in self._schedule:
            self.spawn(self.load_queues(name))
        self.tick()

    def due(self, now: float) -> list[str]:
        """Clusters whose poll is due and not already running."""
        slack = self.tick_interval / 2  # a tick a little early is better than one interval late
        return [
            name for name, s in self._schedule.items() if not s.polling and now + slack >= s.next_poll
        ]

    def tick(self) -> None:
        """Start the polls that are due and look for other processes' journal changes."""
        if not self.live:
            return
        for name in self.due(self.monotonic()):
            self.spawn(self.poll(name))
        if not self._syncing and self._journal_moved():
            self.spawn(self.sync_journal())

    def _journal_moved(self) -> bool:
        try:
            return self.deck.journal.data_version() != self._data_version
        except BatchdeckError:
            return False

    async def run(self) -> None:
        """Refresh until cancelled (for callers without a UI timer of their own)."""
        self.start()
        while True:
            await asyncio.sleep(self.tick_interval)
            self.tick()

    def refresh_now(self) -> None:
        """The user asked for a refresh: every cluster now (a failing one too: the user wants to
        know whether it is back), but never sooner than its minimum gap after its last query —
        a held-down key must not hammer a shared controller. And the queues in view."""
        now = self.monotonic()
        for name, schedule in self._schedule.items():
            earliest = self._earliest(schedule)
            if earliest <= now:
                self.spawn(self.poll(name))
            elif not schedule.polling:
                schedule.next_poll = earliest  # the timer's next tick starts it
        names = [self.selection.cluster] if self.selection.cluster in self._schedule else list(self._schedule)
        for name in names:
            self.spawn(self.load_queues(name))

    def spawn(self, work: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``work`` in the background; ``stop`` cancels whatever is still running."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def stop(self) -> None:
        self.live = False
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    @property
    def busy(self) -> bool:
        """A poll, queue listing or journal sync is running."""
        return bool(self._tasks)

    def polling(self, cluster: str) -> bool:
        schedule = self._schedule.get(cluster)
        return schedule is not None and schedule.polling

    @staticmethod
    def _earliest(schedule: _Schedule) -> float:
        """The soonest the next status query of a cluster may start (monotonic)."""
        if schedule.ended is None:
            return 0.0
        return schedule.ended + max(schedule.min_gap, schedule.duration)

    def refresh_info(self, cluster: str) -> RefreshInfo | None:
        schedule = self._schedule.get(cluster)
        if schedule is None:
            return None
        retry_at = None
        if schedule.failures:
            retry_at = self.clock() + max(0.0, schedule.next_poll - self.monotonic())
        return RefreshInfo(schedule.interval, schedule.last_ok, schedule.failures, retry_at)

    def _plan_next(self, schedule: _Schedule, started: float, failed: bool) -> None:
        """When a cluster is polled next: its interval after the start; after a failure, a
        back-off with jitter; and never sooner than its minimum gap, or than the query's own
        duration, after the end (a slow controller gets at most half of our time)."""
        ended = self.monotonic()
        schedule.ended, schedule.duration = ended, ended - started
        if failed:
            schedule.failures += 1
            spread = self.rng.uniform(-JITTER, JITTER)
            planned = ended + backoff_delay(schedule.interval, schedule.failures, spread)
        else:
            schedule.failures = 0
            schedule.last_ok = self.clock()
            planned = started + schedule.interval
        schedule.next_poll = max(planned, self._earliest(schedule))

    # ------------------------------------------------------------------ refresh

    async def poll(self, name: str) -> ChangeSet | None:
        """One Deck.poll of a cluster; None when one is already running (or it cannot be polled)."""
        schedule = self._schedule.get(name)
        if schedule is None or schedule.polling:
            return None
        schedule.polling = True
        started = self.monotonic()
        schedule.next_poll = started + schedule.interval
        started_sync = self._sync_count
        status = self.deck.status[name]
        was_error = status.state == "error"
        self._emit(ChangeSet(clusters=frozenset({name})))
        changes = ChangeSet()
        try:
            result = await self.deck.poll(name)
        except BatchdeckError:
            changes = await self._reload_cluster(name)
        except Exception as exc:  # noqa: BLE001 - a backend bug must show on the row, not stop the refreshes
            status.state = "error"
            status.error = f"{type(exc).__name__}: {exc}"
            changes = await self._reload_cluster(name)
        else:
            if was_error:
                changes = await self._reload_cluster(name)  # stale marks were cleared in the journal
            changed_ids = {job.id for job in result.changed}
            fresh = [
                job
                for job in [*result.jobs, *result.changed]
                if (job.id in changed_ids or self._synced.get(job.id, -1) <= started_sync)
                # forgotten by another process while this poll ran (it stored its answer first)
                and self._removed_at.get(job.id, -1) <= started_sync
            ]
            changes = changes | self._apply(fresh)
        finally:
            schedule.polling = False
            self._plan_next(schedule, started, failed=status.state == "error")
        self.last_refresh = self.clock()
        changes = changes | ChangeSet(clusters=frozenset({name}), refreshed=True)
        self._emit(changes)
        # Queue listings change slowly and cost a command of their own: refresh them
        # far less often than job states, which keeps each poll to one status query.
        stale_after = max(QUEUES_EVERY, schedule.interval)
        if (
            self.live
            and self.selection.cluster in (None, name)
            and (schedule.queues_at is None or self.monotonic() - schedule.queues_at >= stale_after)
        ):
            self.spawn(self.load_queues(name))
        return changes

    async def _reload_cluster(self, name: str) -> ChangeSet:
        return self._apply(await asyncio.to_thread(self.deck.jobs, name))

    async def load_queues(self, name: str) -> ChangeSet | None:
        """Refresh a cluster's queue list; None when a listing is already running."""
        schedule = self._schedule.get(name)
        if schedule is None or schedule.loading_queues:
            return None
        schedule.loading_queues = True
        schedule.queues_at = self.monotonic()
        try:
            queues = await self.deck.queues(name)
        except BatchdeckError:
            return ChangeSet()  # the cluster's row already shows why (its poll fails the same way)
        finally:
            schedule.loading_queues = False
        if queues == self.queues.get(name):
            return ChangeSet()
        self.queues[name] = queues
        return self._emit(ChangeSet(queues=frozenset({name})))

    async def sync_journal(self) -> ChangeSet:
        """Apply the jobs another process (the CLI, a second app) changed in the journal."""
        if self._syncing:
            return ChangeSet()
        self._syncing = True
        try:
            journal = self.deck.journal
            version = journal.data_version()
            if version == self._data_version:
                return ChangeSet()
            self._data_version = version
            jobs, gone, self._seen_change = await asyncio.to_thread(journal.changed_since, self._seen_change)
        except BatchdeckError:
            return ChangeSet()  # the journal is busy or gone: the next tick tries again
        finally:
            self._syncing = False
        self._sync_count += 1
        for job in jobs:
            self._synced[job.id] = self._sync_count
        # jobs another process forgot (`batchdeck forget`, `clean`) leave this view too
        removed = {ident for ident in gone if ident in self.jobs}
        clusters = {self.jobs[ident].cluster for ident in removed}
        for ident in removed:
            del self.jobs[ident]
            self._synced.pop(ident, None)
        for ident in gone:
            self._removed_at[ident] = self._sync_count
        return self._emit(self._apply(jobs) | ChangeSet(removed=frozenset(removed), clusters=frozenset(clusters)))

    # ------------------------------------------------------------------ the CLI's use

    def track(self, ids: Iterable[str]) -> list[JobRecord]:
        """Take in the jobs a command names (ids or unique prefixes; raises JobNotFound) and
        return them: a CLI run holds only the jobs it was asked about, not the journal."""
        self._follow_journal()
        jobs = [self.deck.job(ident) for ident in ids]
        self._apply(jobs)
        return [self.jobs[job.id] for job in jobs]

    def track_cluster(self, cluster: str | None = None) -> list[JobRecord]:
        """Take in every job of ``cluster`` (None: all) as the journal has it now, in creation order."""
        self._follow_journal()
        jobs = self.deck.jobs(cluster)
        self._apply(jobs)
        return [self.jobs[job.id] for job in jobs]

    def _follow_journal(self) -> None:
        """From now on, ``refresh`` also takes in what other processes write (a cancel from another
        terminal ends a ``wait`` too): the journal's change marks as they are before the first read."""
        if self._data_version is None:
            self._data_version = self.deck.journal.data_version()
            self._seen_change = self.deck.journal.last_change()

    def current(self, job_id: str) -> JobRecord:
        """The session's copy of a tracked job: what the last refresh (or sync) made of it; JobNotFound
        once another process forgot it."""
        job = self.jobs.get(job_id)
        if job is None:
            raise JobNotFound(f"job {job_id} is no longer in the journal (forgotten by another batchdeck process)")
        return job

    def listed(self, cluster: str, jobid: str) -> SchedulerJob | None:
        """The scheduler's entry for ``jobid`` in the cluster's last status listing, whoever submitted
        it (None: not listed, i.e. no longer queued or running)."""
        status = self.deck.status.get(cluster)
        for info in status.other_jobs if status is not None else []:
            if jobid in (info.jobid, info.array_id):
                return info
        return None

    async def refresh(self, clusters: Iterable[str], due_only: bool = False) -> dict[str, str]:
        """Poll these clusters once, all at the same time (one slow cluster costs its own timeout,
        not the sum), through the same in-flight guard and error capture as the app's timer.
        ``due_only``: only those whose next poll is due. Returns cluster -> why it could not be
        refreshed, for each that failed."""
        names = list(dict.fromkeys(clusters))
        now = self.monotonic()
        due = set(self.due(now))
        pollable = [n for n in names if n in self._schedule and (not due_only or n in due)]
        # a cluster the configuration no longer (or never validly) names: the Deck says why
        others = [n for n in names if n not in self._schedule]

        async def unpollable(name: str) -> str:
            try:
                await self.deck.poll(name)
            except BatchdeckError as exc:
                return str(exc)
            return ""

        _polled, answers = await asyncio.gather(
            asyncio.gather(*(self.poll(n) for n in pollable)), asyncio.gather(*(unpollable(n) for n in others))
        )
        why_not = {n: self.error(n) for n in pollable} | dict(zip(others, answers, strict=True))
        errors = {n: why_not[n] for n in names if why_not.get(n)}
        if self._data_version is not None and self._journal_moved():
            await self.sync_journal()
        if others:
            # their jobs as the journal has them (a failed poll changed nothing but their marks)
            self._apply(job for name in others for job in self.deck.jobs(name) if job.id in self.jobs)
        return errors

    def next_due(self, clusters: Iterable[str]) -> float:
        """When (monotonic) the first of these clusters is due for its next poll: its interval after
        the last one started, or its back-off after a failure."""
        times = [self._schedule[n].next_poll for n in clusters if n in self._schedule]
        if not times:
            # none is polled on a schedule (each cluster is broken): ask again at the default interval
            return self.monotonic() + DEFAULT_INTERVAL
        return min(times)

    async def wait_before_next(self, clusters: Iterable[str], until: float | None = None) -> None:
        """Sleep until the first of these clusters is due for its next poll, or until ``until``
        (monotonic), whichever comes first."""
        when = self.next_due(clusters)
        if until is not None:
            when = min(when, until)
        await asyncio.sleep(max(0.0, when - self.monotonic()))

    # ------------------------------------------------------------------ actions

    async def submit(self, cluster: str, spec: JobSpec) -> JobRecord:
        """Submit through the Deck and take the new job in (raises BatchdeckError)."""
        try:
            job = await self.deck.submit(cluster, spec)
        except BatchdeckError:
            if cluster in self.deck.config.clusters:
                self._emit(await self._reload_cluster(cluster))
            raise
        self._emit(self._apply([job]) | ChangeSet(clusters=frozenset({cluster})))
        if self.live:
            self.spawn(self.poll(job.cluster))
        return job

    async def cancel(self, job_id: str) -> JobRecord:
        job = await self.deck.cancel(job_id)
        self._emit(self._apply([job]))
        return job

    async def free(self, job_id: str) -> JobRecord:
        job = await self.deck.free(job_id)
        self._emit(self._apply([job]))
        return job

    async def forget(self, job_id: str) -> None:
        """Remove a finished job's record from the journal (GC3Pie's gclean of one job); its sandbox
        stays until freed. A job the scheduler may still run is refused: forgetting it would lose
        track of a running job (the CLI's ``forget --force`` is for that)."""
        job = self.deck.job(job_id)
        if may_still_run(job):
            raise BatchdeckError(f"job {job.id} is {job.state}: cancel it before forgetting it")
        await asyncio.to_thread(self.deck.journal.forget, [job.id])
        self.jobs.pop(job.id, None)
        self._emit(ChangeSet(removed=frozenset({job.id}), clusters=frozenset({job.cluster})))

    async def clean(self, job_ids: list[str]) -> int:
        """Forget these finished jobs in one journal write (``clean``: the jobs a ``clean_candidates``
        listed and the user confirmed). One that may run again by now (another process changed it
        meanwhile) is left alone. Returns how many went."""
        records = []
        for job_id in job_ids:
            try:
                records.append(self.deck.job(job_id))
            except JobNotFound:
                continue  # forgotten meanwhile by another process
        gone = [job for job in records if not may_still_run(job)]
        removed = await asyncio.to_thread(self.deck.journal.forget, [job.id for job in gone])
        for job in gone:
            self.jobs.pop(job.id, None)
        self._emit(ChangeSet(removed=frozenset(job.id for job in gone), clusters=frozenset(job.cluster for job in gone)))
        return removed

    def can_cancel(self, job: JobRecord) -> bool:
        return job.state.is_active or job.state == RunState.NEW

    # ------------------------------------------------------------------ any of the user's jobs

    def job_target(self, key: str) -> tuple[str, str, JobRecord | None]:
        """A row's (cluster, scheduler job id, batchdeck's record or None); BatchdeckError when the
        row's job is gone (it left the queue listing, or was forgotten)."""
        if key.startswith(OTHER_PREFIX):
            cluster, _, jobid = key[len(OTHER_PREFIX) :].partition(":")
            if cluster not in self.deck.config.clusters:
                raise BatchdeckError(f"no cluster {cluster!r} is configured")
            return cluster, jobid, None
        job = self.jobs.get(key)
        if job is None:
            raise BatchdeckError(f"job {key} is gone")
        return job.cluster, job.jobid or "", job

    def _fingerprint(self, key: str) -> tuple[object, ...]:
        """What a row says of its job: details held for it stay good while this stays the same."""
        info = self.other_job(key)
        if info is not None:
            return ("other", info.state, info.raw_state, info.reason, info.queue, info.elapsed is None)
        job = self.jobs.get(key)
        if job is not None:
            return ("bd", job.state, job.raw_state, job.reason, job.jobid, job.stale)
        return ("gone",)

    def cached_details(self, key: str) -> JobDetails | None:
        return self.details_cache.get(key, self._fingerprint(key))

    async def details(self, key: str) -> JobDetails:
        """The details of a row's job (``batchdeck show``'s): one command on its cluster, unless
        those held for it are still good. Raises BatchdeckError in the scheduler's words."""
        fingerprint = self._fingerprint(key)
        held = self.details_cache.get(key, fingerprint)
        if held is not None:
            return held
        cluster, jobid, record = self.job_target(key)
        details = await job_control.details_of(self.deck.backend(cluster), jobid, record, self.clock())
        self.details_cache.put(key, fingerprint, details)
        return details

    async def control(self, key: str, action: str, value: str | None = None) -> str:
        """Cancel, signal, hold, release or set a new time limit of a job batchdeck did not submit
        (batchdeck's own jobs cancel through ``cancel``, which records the intent). Returns what
        the scheduler answered; its refusal raises in its own words. The cluster is asked again."""
        if not key.startswith(OTHER_PREFIX):
            raise BatchdeckError("only a job batchdeck did not submit is controlled this way")
        cluster, jobid, _record = self.job_target(key)
        answer = await job_control.control(self.deck.backend(cluster), action, jobid, value)
        self.details_cache.forget(key)
        if self.live:
            self.spawn(self.poll(cluster))
        return answer

    async def output_source(self, key: str, stderr: bool = False) -> PathLogSource:
        """Where a job batchdeck did not submit writes its stdout (or stderr), from its details."""
        cluster, jobid, _record = self.job_target(key)
        details = await self.details(key)
        path = details.stderr if stderr else details.stdout
        if not path:
            which = "stderr" if stderr else "stdout"
            ended = "" if details.state.is_active else " (for a finished job the accounting keeps no output path)"
            raise BatchdeckError(f"{cluster}:{jobid}: the scheduler does not say where its {which} goes{ended}")
        return PathLogSource(self.deck.backend(cluster), path)
