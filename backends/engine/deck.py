"""The engine the CLI and the app share: configuration, journal and backends together.

Every state change goes to the journal before it is returned to the caller.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import posixpath
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, fields
from pathlib import Path

from ..errors import AccountingUnavailable, BatchdeckError, ConfigError, JobNotFound, SchedulerError
from ..model import HistoryRecord, JobRecord, JobSpec, Outcome, QueueInfo, RunState, SchedulerJob
from ..schedulers import exit_status
from ..schedulers.base import TAG_PREFIX, BatchSystem, PollResult, TransferReport, cancel_reason, tag_of
from ..schedulers.registry import backend_class
from ..transports.base import ProgressCallback
from ..units import format_walltime, format_when
from .config import Config, load_config
from .history import HistoryCache, query_history
from .journal import Journal, StaleRecord
from .retention import WouldLoseData, copied_files, files_free_would_lose
from .settings import ClusterSettings

ACTIVE_STATES = [s for s in RunState if s.is_active]
HOST_KEYS_NOT_VERIFIED = "SSH host keys are NOT verified (ignore_ssh_host_keys = true)"


@dataclass
class ClusterStatus:
    """What the Clusters pane shows of one cluster."""

    name: str
    state: str = "idle"  # idle | connecting | connected | error
    error: str = ""
    # shown wherever the cluster is, e.g. that SSH host keys are not verified
    warning: str = ""
    last_refresh: float | None = None
    other_jobs: list[SchedulerJob] = field(default_factory=list)


def make_backend(conf: ClusterSettings, config_path: str | os.PathLike[str] | None = None) -> BatchSystem:
    """A cluster's BatchSystem, not connected yet; a setting its class refuses is a ConfigError."""
    cls = backend_class(conf.type)
    try:
        return cls(conf)
    except BatchdeckError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc), path=str(config_path or ""), cluster=conf.name) from None



#: the reason of a NEW record whose submit may have reached the scheduler (a later poll finds it by its tag)
SUBMITTING = "submitting"
#: how a submit that no queue or accounting ever showed ends (``submit_timeout`` after it was sent);
#: "submission failed" makes its outcome ``failed``
NEVER_REACHED = "submission failed: the scheduler never showed it (not found by its tag)"
#: how often a write of one job is re-applied on a newer copy before giving up
WRITE_ATTEMPTS = 5


def take_over(job: JobRecord, fresh: JobRecord) -> None:
    """Make ``job`` the newer copy ``fresh`` (in place: callers keep hold of ``job``)."""
    for f in fields(JobRecord):
        setattr(job, f.name, getattr(fresh, f.name))


def next_check(job: JobRecord) -> str:
    """When a lost (UNKNOWN) job is asked about next, as a clock time ("next check 16:42:10");
    "" for any other job. A moment, not a countdown: a row showing it need not redraw every second."""
    if job.state != RunState.UNKNOWN:
        return ""
    if job.recheck_at is None or job.recheck_at <= time.time():
        return "next check at the next refresh"
    return f"next check {time.strftime('%H:%M:%S', time.localtime(job.recheck_at))}"


def lost_note(job: JobRecord, now: float) -> str:
    """What a lost (UNKNOWN) job's details say of it: lost, and when it is asked about next (the
    back-off); "" for any other job."""
    if job.state != RunState.UNKNOWN:
        return ""
    note = "lost: neither the queue, accounting nor its exit-status file knows this job"
    if job.recheck_at is None or job.recheck_at <= now:
        return f"{note}; asked again at the next refresh"
    return (
        f"{note}; asked again {format_when(job.recheck_at, now)}, "
        f"then less and less often (back-off {format_walltime(job.recheck_interval)})"
    )


def is_submitting(job: JobRecord) -> bool:
    """A submit that may have reached the scheduler, not resolved yet: nobody knows its scheduler state."""
    return job.state == RunState.NEW and job.reason == SUBMITTING


def may_still_run(job: JobRecord) -> bool:
    """The scheduler may run this job yet: active, or a submit that may have reached it.

    Forgetting such a job (``forget``, the app's forget key) would lose track of it.
    """
    return job.state.is_active or (job.state == RunState.NEW and job.reason == SUBMITTING)


def succeeded(job: JobRecord) -> bool:
    """The job ended well: its outcome says ok (``wait``'s exit status, the app's notification)."""
    if job.outcome is not None:
        return job.outcome.is_success
    # a journal row older than outcomes
    return job.exitcode == 0 and not job.signal and not job.reason.startswith(("cancelled", "submission failed"))


#: how old a finished job must be for ``clean`` (the CLI's default ``--older-than``, the app's key)
CLEAN_AGE = "30d"


def make_download_dir(target: Path) -> list[Path]:
    """Create the download folder (and its missing parents); returns the folders made, deepest
    first, so a get that fetched nothing can take them away again. One that cannot be made is one
    line naming it."""
    missing = [folder for folder in [target, *target.parents] if not folder.exists()]
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        remove_empty(missing)
        raise BatchdeckError(f"cannot create the download folder {target}: {exc.strerror or exc}") from None
    if not target.is_dir():
        raise BatchdeckError(f"cannot download into {target}: it is not a folder")
    return missing


def remove_empty(folders: list[Path]) -> None:
    """Remove these folders (deepest first) while they are empty."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


class Deck:
    def __init__(self, config: Config | None = None, journal: Journal | None = None) -> None:
        self.config = config if config is not None else load_config()
        self.journal = journal if journal is not None else Journal()
        self._backends: dict[str, BatchSystem] = {}
        self.status: dict[str, ClusterStatus] = {name: ClusterStatus(name) for name in self.config.names}
        for name, error in self.config.broken.items():
            self.status[name].state = "error"
            self.status[name].error = str(error)
        for name, conf in self.config.clusters.items():
            if conf.transport == "ssh" and conf.ssh.ignore_ssh_host_keys:
                self.status[name].warning = HOST_KEYS_NOT_VERIFIED
        # Serialises polls per cluster: a refresh never overlaps the previous one.
        self._locks: dict[str, asyncio.Lock] = {}
        self.history_cache = HistoryCache()
        # Jobs this deck is submitting right now: reconcile must not adopt them
        # (their own submit records the answer), or the two would race.
        self._submitting: set[str] = set()

    @classmethod
    def open(cls, config_path: str | os.PathLike[str] | None = None) -> Deck:
        return cls(load_config(config_path))

    # ------------------------------------------------------------------ clusters

    @property
    def cluster_names(self) -> list[str]:
        return self.config.names

    def scheduler(self, cluster: str) -> type[BatchSystem]:
        """The class serving ``cluster`` (its pure class hooks and attributes need no connection)."""
        return backend_class(self.config.cluster(cluster).type)

    def backend(self, cluster: str) -> BatchSystem:
        if cluster not in self._backends:
            self._backends[cluster] = make_backend(self.config.cluster(cluster), self.config.path)
        return self._backends[cluster]

    def _lock(self, cluster: str) -> asyncio.Lock:
        return self._locks.setdefault(cluster, asyncio.Lock())

    def _write(self, job: JobRecord, change: Callable[[JobRecord], None]) -> JobRecord:
        """Apply a user's action (``change``) to ``job`` and store it, re-applied on the newer copy if
        another process wrote the job meanwhile. ``change`` may raise to give the action up (e.g. the
        newer copy has nothing left to cancel). Returns ``job``, now the stored copy.

        An action is the user's intent and must not be lost to a race; an observation of the
        scheduler (a poll's answer) is dropped instead when it loses (see ``poll``).
        """
        change(job)
        for _attempt in range(WRITE_ATTEMPTS):
            try:
                self.journal.save(job)
                return job
            except StaleRecord:
                take_over(job, self.journal.get(job.id))
                change(job)
        raise BatchdeckError(f"job {job.id} keeps being changed by other batchdeck processes: try again")

    async def close(self) -> None:
        for backend in self._backends.values():
            try:
                await backend.close()
            except BatchdeckError:
                pass
        self.journal.close()

    # ------------------------------------------------------------------ jobs

    def jobs(self, cluster: str | None = None) -> list[JobRecord]:
        return self.journal.jobs(cluster)

    def job(self, job_id: str) -> JobRecord:
        return self.journal.find(job_id)

    def clean_candidates(
        self, age: float, cluster: str | None = None, outcomes: Collection[Outcome] | None = None
    ) -> list[JobRecord]:
        """The finished (TERMINATED) jobs that ended more than ``age`` seconds ago, of one cluster or
        all, and (if given) with one of ``outcomes``: what ``clean`` forgets (GC3Pie's gclean). Never a
        job the scheduler may still run."""
        cutoff = time.time() - age
        return [
            job
            for job in self.journal.jobs(cluster, [RunState.TERMINATED])
            if (job.finished or job.created) < cutoff and (outcomes is None or job.outcome in outcomes)
        ]

    def new_job(self, cluster: str, spec: JobSpec) -> JobRecord:
        self.config.cluster(cluster)
        return JobRecord(id=self.journal.new_id(), cluster=cluster, spec=spec)

    async def job_script(self, cluster: str, spec: JobSpec) -> str:
        """The job script exactly as ``submit`` would send it (``submit --dry-run``): the same one
        validation, then the connection (the sandbox path needs the frontend's home); nothing recorded."""
        backend = self.backend(cluster)
        await backend.validate_submission(spec)  # connects: the sandbox path needs the frontend's home
        job = self.new_job(cluster, spec)
        return backend.render_script(job, backend.sandbox_path(job))

    async def submit(self, cluster: str, spec: JobSpec) -> JobRecord:
        """Record the job, submit it, record the outcome. Returns the run record."""
        job = self.new_job(cluster, spec)
        backend = self.backend(cluster)
        # The one validation of a submit (the same as --dry-run's), before anything is
        # recorded; it makes the one connection, so an unreachable cluster leaves no
        # record behind, and checks what only the scheduler can say (Grid Engine's slots).
        await backend.validate_submission(spec)
        job.reason = SUBMITTING
        self.journal.save(job)
        sent = False

        def prepared(record: JobRecord) -> None:
            nonlocal sent
            # submit_timeout counts from here, just before the scheduler is asked (an
            # upload of big inputs before it is no reason to call the submit lost)
            record.last_seen = time.time()
            try:
                self.journal.save(record)
            except StaleRecord:
                # Another process gave this submit up meanwhile (submit_timeout):
                # its record stands, nothing is sent.
                fresh = self.journal.get(record.id)
                raise BatchdeckError(f"job {record.id} was not submitted: {fresh.reason or fresh.state}") from None
            sent = True

        self._submitting.add(job.id)
        try:
            await backend.submit_job(job, on_prepared=prepared, validated=True)
        except BaseException as exc:
            if job.jobid is None:
                if sent and not isinstance(exc, SchedulerError):
                    # The submit command may have reached the scheduler before the
                    # connection failed: keep the job "submitting" so the next poll
                    # finds it by its tag instead of losing it.
                    job.reason = SUBMITTING
                else:
                    job.reason = f"submission failed: {exc}"
                    job.transition(RunState.TERMINATED, job.reason)
                try:
                    self.journal.save(job)
                except StaleRecord:
                    pass  # another process resolved or gave up the submit meanwhile: its record is newer
            raise
        finally:
            self._submitting.discard(job.id)
        job.reason = ""
        self._store_submitted(job)
        return job

    def _store_submitted(self, job: JobRecord) -> None:
        """The scheduler took the job: that is the truth, whatever another process wrote meanwhile."""
        accepted = dataclasses.replace(job)
        for _attempt in range(WRITE_ATTEMPTS):
            try:
                self.journal.save(job)
                return
            except StaleRecord:
                fresh = self.journal.get(job.id)
                if fresh.jobid == accepted.jobid:
                    take_over(job, fresh)  # found by its tag by another process: the same job
                    return
                # given up as never reached (submit_timeout) while the command was slow
                take_over(job, accepted)
                job.version = fresh.version
                job.cancel_requested = job.cancel_requested or fresh.cancel_requested
        raise BatchdeckError(f"job {job.id} keeps being changed by other batchdeck processes: try again")

    async def reconcile(self, cluster: str) -> list[JobRecord]:
        """Resolve jobs that were being submitted when batchdeck stopped, by their tag.

        The queue first, then (for tags it lacks) ONE accounting query: a job that
        finished before this poll has left the queue. A submit that neither shows
        ``submit_timeout`` after it was sent never reached the scheduler and ends
        ``failed`` (``NEVER_REACHED``). Returns the records it changed (stored).
        """
        pending = [j for j in self.journal.jobs(cluster, [RunState.NEW]) if is_submitting(j) and j.id not in self._submitting]
        if not pending:
            return []
        backend = self.backend(cluster)
        listed = await backend.list_jobs()
        by_tag = {tag_of(info.name): info for info in listed if tag_of(info.name)}
        accounted: dict[str | None, HistoryRecord] = {}
        accounting_read = True
        unmatched = [job for job in pending if job.id not in by_tag]
        if unmatched:
            # a minute of slack: the scheduler's clock and ours need not agree
            since = min(job.created for job in unmatched) - 60
            try:
                accounted = {tag_of(r.name): r for r in await query_history(backend, since) if tag_of(r.name)}
            except AccountingUnavailable:
                pass  # no accounting here: the queue is all there is to ask
            except BatchdeckError:
                accounting_read = False  # it may know the job: give nothing up this time
        # Forgotten by both (MinJobAge passed, accounting off or lagging, no qacct record): the job
        # script's last act, its exit-status file, still tells that it ran and how it ended.
        forgotten = [job for job in unmatched if job.id not in accounted]
        statuses: dict[str, int] = {}
        if forgotten:
            try:
                statuses = await backend.read_exit_statuses([self._sandbox_of(backend, job) for job in forgotten])
            except BatchdeckError:
                accounting_read = False  # the file may be there: give nothing up this time
        now = time.time()
        found = []
        for job in pending:
            info = by_tag.get(job.id)
            record = accounted.get(job.id)
            status = statuses.get(self._sandbox_of(backend, job))
            if info is not None:
                job.jobid = info.jobid
                job.reason = ""
                job.transition(RunState.SUBMITTED, "found again by its tag")
                backend.apply_status(job, info)
            elif record is not None:
                # Finished already: the poll that follows asks accounting for its outcome.
                job.jobid = record.jobid
                job.reason = ""
                job.transition(RunState.SUBMITTED, "found again by its tag in accounting")
                job.last_seen = now
            elif status is not None:
                job.sandbox = self._sandbox_of(backend, job)
                job.reason = ""
                job.transition(RunState.SUBMITTED, "found again by its exit-status file")
                backend.apply_status(job, exit_status.job_from_exit_status("", status))
                job.last_seen = now
            elif accounting_read and now - (job.last_seen or job.created) > backend.submit_timeout:
                job.reason = NEVER_REACHED
                job.transition(RunState.TERMINATED, NEVER_REACHED)
            else:
                continue
            try:
                self.journal.save(job)
            except StaleRecord:
                continue  # another process resolved it first: its record stands
            found.append(job)
        return found

    @staticmethod
    def _sandbox_of(backend: BatchSystem, job: JobRecord) -> str:
        return job.sandbox or backend.sandbox_path(job)

    async def poll(self, cluster: str) -> PollResult:
        """One refresh of a cluster: one status query for all its jobs.

        Every write is conditional (``Journal.save_many``). A job another process wrote
        while this poll was asking the scheduler is not overwritten: this poll's answer
        for it is dropped and the newer record taken instead. Dropping is safe because a
        poll's answer is only an observation — the scheduler still holds the truth and
        the next poll, starting from the newer record (a cancel request, say), asks again;
        re-applying an old answer to a newer record could put back a state the other
        process had already moved past.
        """
        status = self.status.setdefault(cluster, ClusterStatus(cluster))
        async with self._lock(cluster):
            # Only the jobs the scheduler can still change: a poll stays cheap however
            # long the journal's history grows.
            jobs = await asyncio.to_thread(self.journal.jobs, cluster, ACTIVE_STATES)
            was_stale = [j for j in jobs if j.stale]
            try:
                if status.state != "connected":
                    status.state = "connecting"
                backend = self.backend(cluster)
                found = await self.reconcile(cluster)
                # found again: asked about in this same poll (one that finished is in accounting)
                jobs.extend(job for job in found if job.state.is_active)
                result = await backend.update_job_states(jobs)
                adopted = await asyncio.to_thread(self._adopt, cluster, backend, result.all_jobs, jobs)
                result.changed.extend([*found, *adopted])
                result.jobs = [*jobs, *(job for job in found if not job.state.is_active), *adopted]
            except BatchdeckError as exc:
                status.state = "error"
                status.error = str(exc)
                newly_stale = [job for job in jobs if not job.stale]
                for job in newly_stale:
                    job.stale = True
                await asyncio.to_thread(self._save_observed, newly_stale)
                raise
            to_save = list({id(j): j for j in [*result.changed, *was_stale]}.values())
            for job in to_save:
                job.stale = False
            gone = await asyncio.to_thread(self._save_observed, to_save)
            if gone:
                result.changed = [job for job in result.changed if job.id not in gone]
                result.jobs = [job for job in result.jobs if job.id not in gone]
            resent = await self._resend_cancels(backend, result.jobs)
            result.changed.extend(job for job in resent if all(job is not other for other in result.changed))
            status.state = "connected"
            status.error = ""
            status.other_jobs = result.all_jobs
            status.last_refresh = time.time()
            return result

    async def _resend_cancels(self, backend: BatchSystem, jobs: list[JobRecord]) -> list[JobRecord]:
        """Send the cancel again for jobs whose stored intent the scheduler has not acted on (still
        listed queued or running: the process that stored it was killed before its command, or the
        command was lost), at most once per poll interval. The send is claimed first by a conditional
        write of ``cancel_sent``, so two processes polling together send it once. Returns the jobs sent."""
        now = time.time()
        due = [job for job in jobs if backend.cancel_due(job, now)]
        if not due:
            return []
        for job in due:
            job.cancel_sent = now
            job.reason = cancel_reason(job)
        stale = {id(job) for job in await asyncio.to_thread(self.journal.save_many, due)}
        sent = []
        for job in due:
            if id(job) in stale:
                try:
                    take_over(job, self.journal.get(job.id))  # another process claimed or changed it
                except JobNotFound:
                    pass
                continue
            try:
                await backend.send_cancel(job)
            except BatchdeckError:
                continue  # sent or not, the next poll after one interval asks again
            sent.append(job)
        return sent

    def _save_observed(self, jobs: list[JobRecord]) -> set[str]:
        """Store what a poll saw; a job written meanwhile by another process becomes that newer
        copy instead (in place). Returns the ids of jobs forgotten meanwhile."""
        gone: set[str] = set()
        for job in self.journal.save_many(jobs):
            try:
                take_over(job, self.journal.get(job.id))
            except JobNotFound:
                gone.add(job.id)
        return gone

    def _adopt(
        self, cluster: str, backend: BatchSystem, listed: list[SchedulerJob], known: list[JobRecord]
    ) -> list[JobRecord]:
        """Jobs the scheduler lists under a batchdeck tag this journal does not know (submitted from
        another machine, or before the journal was lost) become full records: their sandbox follows
        from the tag and the cluster's sandbox_root, so peek, download and free work on them."""
        seen = {job.id for job in known} | self._submitting
        adopted: list[JobRecord] = []
        for info in listed:
            tag = tag_of(info.name)
            # only jobs still queued or running: a finished one was maybe forgotten on purpose
            if tag is None or tag in seen or not info.state.is_active or info.state == RunState.UNKNOWN:
                continue
            seen.add(tag)
            try:
                self.journal.get(tag)
                continue  # a record this poll does not cover (finished, or being resolved)
            except JobNotFound:
                pass
            name = info.name[len(f"{TAG_PREFIX}{tag}-") :] or "job"
            job = JobRecord(id=tag, cluster=cluster, spec=JobSpec(name=name, queue=info.queue or None), jobid=info.jobid)
            job.sandbox = backend.sandbox_path(job)
            job.transition(RunState.SUBMITTED, "adopted")
            backend.apply_status(job, info)
            job.reason = job.reason or "adopted: its tag was not in this journal"
            job.last_seen = time.time()
            try:
                self.journal.save(job)  # a new record: only inserted, never over one another process made
            except StaleRecord:
                continue
            adopted.append(job)
        return adopted

    async def _resolved(self, job: JobRecord, action: str) -> JobRecord:
        """The job, its submit first resolved by its tag if it is still "submitting"; refuses
        (one line) when the scheduler's state of it is still unknown after that."""
        if not is_submitting(job):
            return job
        try:
            await self.poll(job.cluster)
        except BatchdeckError as exc:
            raise BatchdeckError(
                f"cannot {action} job {job.id}: its submit was interrupted and cluster {job.cluster!r} "
                f"could not be asked whether it has the job ({exc})"
            ) from None
        job = self.job(job.id)
        if is_submitting(job):
            raise BatchdeckError(
                f"cannot {action} job {job.id}: its submit was interrupted and the scheduler does not show it "
                f"(yet): its state is unknown, so nothing was done (it is marked failed once "
                f"submit_timeout has passed)"
            )
        return job

    async def cancel(self, job_id: str) -> JobRecord:
        """Cancel a job; the intent is stored in the journal before the scheduler is asked."""
        job = await self._resolved(self.job(job_id), "cancel")
        intended: list[float | None] = []

        def store_intent(record: JobRecord) -> None:
            when = record.cancel_requested

            def wanted(fresh: JobRecord) -> None:
                if not fresh.state.is_active:
                    raise BatchdeckError(f"job {fresh.id} is {fresh.state}: nothing to cancel")
                fresh.cancel_requested = when

            self._write(record, wanted)
            intended.append(when)

        try:
            await self.backend(job.cluster).cancel_job(job, on_intent=store_intent)
        except SchedulerError:
            if intended and job.cancel_requested != intended[0]:
                self._take_back(job, intended[0])  # refused: the job is not being cancelled
            raise
        if intended and job.cancel_requested != intended[0]:
            self._take_back(job, intended[0])  # "no such job": accounting tells how it ended
            return job
        try:
            self.journal.save(job)
        except StaleRecord:
            # Written since the intent (so with it): the newer record stands.
            take_over(job, self.journal.get(job.id))
        return job

    def _take_back(self, job: JobRecord, intended: float | None) -> None:
        """Store a cancel request the scheduler answered "no" to as taken back (not another process's)."""
        previous, previous_sent = job.cancel_requested, job.cancel_sent

        def taken_back(fresh: JobRecord) -> None:
            if fresh.cancel_requested == intended:
                fresh.cancel_requested, fresh.cancel_sent = previous, previous_sent

        self._write(job, taken_back)

    async def peek(
        self, job_id: str, stderr: bool = False, offset: int = 0, size: int | None = None, task: str | None = None
    ) -> tuple[bytes, int]:
        job = self.job(job_id)
        name = job.output_name(stderr, task)
        return await self.backend(job.cluster).peek_bytes(job, name, offset, size)

    async def peek_find(
        self, job_id: str, stderr: bool, pattern: str, offset: int, backward: bool = False, task: str | None = None
    ) -> int | None:
        """Byte offset of the next (or previous) match of ``pattern`` in the job's output, searched remotely."""
        job = self.job(job_id)
        name = job.output_name(stderr, task)
        return await self.backend(job.cluster).peek_find(job, name, pattern, offset, backward)

    async def peek_line_offset(self, job_id: str, stderr: bool, line: int, task: str | None = None) -> int:
        """Byte offset where (0-based) ``line`` of the job's output starts, counted remotely."""
        job = self.job(job_id)
        name = job.output_name(stderr, task)
        return await self.backend(job.cluster).peek_line_offset(job, name, line)

    async def get_results(
        self,
        job_id: str,
        download_dir: str | os.PathLike[str],
        overwrite: bool = False,
        changed_only: bool = True,
        progress: ProgressCallback | None = None,
    ) -> TransferReport:
        job = await self._resolved(self.job(job_id), "download the results of")
        created = make_download_dir(Path(download_dir))
        try:
            report = await self.backend(job.cluster).get_results(job, download_dir, overwrite, changed_only, progress)
        except BaseException:
            remove_empty(created)  # a failed get leaves no empty folder behind
            raise
        if not report.copied and not report.skipped:
            remove_empty(created)
        self.journal.record_fetched(job.id, copied_files(report, download_dir))
        fetched = job.state == RunState.TERMINATED

        def results_fetched(fresh: JobRecord) -> None:
            if fetched and fresh.state == RunState.TERMINATING:
                fresh.transition(RunState.TERMINATED, "results fetched")

        self._write(job, results_fetched)
        return report

    async def free(self, job_id: str, force: bool = False) -> JobRecord:
        """Delete a TERMINATED job's sandbox; unless ``force``, only if no result file would be lost."""
        job = await self._resolved(self.job(job_id), "free")
        if not force and job.state == RunState.TERMINATED and job.sandbox:
            lost = await files_free_would_lose(self.backend(job.cluster), job, self.journal.fetched(job.id))
            if lost:
                raise WouldLoseData(job, lost)
        await self.backend(job.cluster).free(job)

        def freed(fresh: JobRecord) -> None:
            fresh.sandbox = None
            fresh.reason = "sandbox freed"

        return self._write(job, freed)

    async def history(self, cluster: str, since: float, fresh: bool = False) -> list[HistoryRecord]:
        """Finished jobs from the cluster's accounting, cached for a short while (so paging is free),
        its refusal too; ``fresh`` asks again whatever the cache holds."""
        cached = None if fresh else self.history_cache.get(cluster, since)
        if cached is None:
            try:
                cached = await query_history(self.backend(cluster), since)
            except BatchdeckError as exc:
                self.history_cache.put(cluster, since, exc)
                raise
            self.history_cache.put(cluster, since, cached)
        return cached

    async def queues(self, cluster: str) -> list[QueueInfo]:
        return await self.backend(cluster).list_queues()

    async def list_jobs(self, cluster: str) -> list[SchedulerJob]:
        return await self.backend(cluster).list_jobs()

    def default_download_dir(self, job: JobRecord, base: str | os.PathLike[str] | None = None) -> Path:
        root = Path(base) if base is not None else Path.cwd()
        safe = posixpath.basename(job.spec.name.replace("/", "_")) or "job"
        return root / f"{safe}-{job.id}"

