"""The engine the CLI and the app share: configuration, journal and backends together.

Every state change goes to the journal before it is returned to the caller.
"""

from __future__ import annotations

import asyncio
import os
import posixpath
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import BatchdeckError, ConfigError, JobNotFound, SchedulerError
from ..model import HistoryRecord, JobRecord, JobSpec, QueueInfo, RunState, SchedulerJob
from ..schedulers.base import TAG_PREFIX, BatchSystem, PollResult, TransferReport, tag_of
from ..schedulers.registry import backend_class
from ..transports.base import ProgressCallback
from .config import Config, load_config
from .history import HistoryCache, query_history
from .journal import Journal
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


def may_still_run(job: JobRecord) -> bool:
    """The scheduler may run this job yet: active, or a submit that may have reached it.

    Forgetting such a job (``forget``, the app's forget key) would lose track of it.
    """
    return job.state.is_active or (job.state == RunState.NEW and job.reason == SUBMITTING)


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

    def backend(self, cluster: str) -> BatchSystem:
        if cluster not in self._backends:
            self._backends[cluster] = make_backend(self.config.cluster(cluster), self.config.path)
        return self._backends[cluster]

    def _lock(self, cluster: str) -> asyncio.Lock:
        return self._locks.setdefault(cluster, asyncio.Lock())

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

    def new_job(self, cluster: str, spec: JobSpec) -> JobRecord:
        self.config.cluster(cluster)
        return JobRecord(id=self.journal.new_id(), cluster=cluster, spec=spec)

    async def submit(self, cluster: str, spec: JobSpec) -> JobRecord:
        """Record the job, submit it, record the outcome. Returns the run record."""
        job = self.new_job(cluster, spec)
        backend = self.backend(cluster)
        # The one validation of a submit, before anything is recorded or any
        # connection made; then the one connection (submit_job's connect() finds
        # it open), so an unreachable cluster leaves no record behind.
        backend.validate_spec(spec)
        await backend.connect()
        job.reason = SUBMITTING
        self.journal.save(job)
        sent = False

        def prepared(record: JobRecord) -> None:
            nonlocal sent
            sent = True
            self.journal.save(record)

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
                self.journal.save(job)
            raise
        finally:
            self._submitting.discard(job.id)
        job.reason = ""
        self.journal.save(job)
        return job

    async def reconcile(self, cluster: str) -> list[JobRecord]:
        """Find jobs that were being submitted when batchdeck stopped, by their tag."""
        pending = [
            j
            for j in self.journal.jobs(cluster, [RunState.NEW])
            if j.reason == SUBMITTING and j.id not in self._submitting
        ]
        if not pending:
            return []
        listed = await self.backend(cluster).list_jobs()
        by_tag = {tag_of(info.name): info for info in listed if tag_of(info.name)}
        found = []
        for job in pending:
            info = by_tag.get(job.id)
            if info is not None:
                job.jobid = info.jobid
                job.reason = ""
                job.transition(RunState.SUBMITTED, "found again by its tag")
                self.backend(cluster).apply_status(job, info)
                self.journal.save(job)
                found.append(job)
        return found

    async def poll(self, cluster: str) -> PollResult:
        """One refresh of a cluster: one status query for all its jobs."""
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
                result = await backend.update_job_states(jobs)
                adopted = await asyncio.to_thread(self._adopt, cluster, backend, result.all_jobs, jobs)
                result.changed.extend([*found, *adopted])
                result.jobs = [*jobs, *found, *adopted]
            except BatchdeckError as exc:
                status.state = "error"
                status.error = str(exc)
                newly_stale = [job for job in jobs if not job.stale]
                for job in newly_stale:
                    job.stale = True
                await asyncio.to_thread(self.journal.save_many, newly_stale)
                raise
            to_save = list({id(j): j for j in [*result.changed, *was_stale]}.values())
            for job in to_save:
                job.stale = False
            await asyncio.to_thread(self.journal.save_many, to_save)
            status.state = "connected"
            status.error = ""
            status.other_jobs = result.all_jobs
            status.last_refresh = time.time()
            return result

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
            self.journal.save(job)
            adopted.append(job)
        return adopted

    async def refresh_job(self, job_id: str) -> JobRecord:
        job = self.job(job_id)
        if job.state.is_active:
            await self.poll(job.cluster)
            job = self.job(job_id)
        return job

    async def cancel(self, job_id: str) -> JobRecord:
        job = self.job(job_id)
        await self.backend(job.cluster).cancel_job(job)
        self.journal.save(job)
        return job

    async def peek(
        self, job_id: str, stderr: bool = False, offset: int = 0, size: int | None = None
    ) -> tuple[bytes, int]:
        job = self.job(job_id)
        name = job.spec.stderr if stderr else job.spec.stdout
        return await self.backend(job.cluster).peek_bytes(job, name, offset, size)

    async def peek_find(
        self, job_id: str, stderr: bool, pattern: str, offset: int, backward: bool = False
    ) -> int | None:
        """Byte offset of the next (or previous) match of ``pattern`` in the job's output, searched remotely."""
        job = self.job(job_id)
        name = job.spec.stderr if stderr else job.spec.stdout
        return await self.backend(job.cluster).peek_find(job, name, pattern, offset, backward)

    async def peek_line_offset(self, job_id: str, stderr: bool, line: int) -> int:
        """Byte offset where (0-based) ``line`` of the job's output starts, counted remotely."""
        job = self.job(job_id)
        name = job.spec.stderr if stderr else job.spec.stdout
        return await self.backend(job.cluster).peek_line_offset(job, name, line)

    async def get_results(
        self,
        job_id: str,
        download_dir: str | os.PathLike[str],
        overwrite: bool = False,
        changed_only: bool = True,
        progress: ProgressCallback | None = None,
    ) -> TransferReport:
        job = self.job(job_id)
        Path(download_dir).mkdir(parents=True, exist_ok=True)
        report = await self.backend(job.cluster).get_results(job, download_dir, overwrite, changed_only, progress)
        self.journal.record_fetched(job.id, copied_files(report, download_dir))
        self.journal.save(job)
        return report

    async def free(self, job_id: str, force: bool = False) -> JobRecord:
        """Delete a TERMINATED job's sandbox; unless ``force``, only if no result file would be lost."""
        job = self.job(job_id)
        if not force and job.state == RunState.TERMINATED and job.sandbox:
            lost = await files_free_would_lose(self.backend(job.cluster), job, self.journal.fetched(job.id))
            if lost:
                raise WouldLoseData(job, lost)
        await self.backend(job.cluster).free(job)
        job.sandbox = None
        job.reason = "sandbox freed"
        self.journal.save(job)
        return job

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

