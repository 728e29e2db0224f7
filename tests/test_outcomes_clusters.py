"""Outcomes on the real daemons: SLURM and Grid Engine end jobs by walltime, memory and cancel,
and batchdeck reads each as its outcome, never as "exit 0".

Every job a test submits is cancelled when the test ends; sandboxes are removed by the
``shared_sandbox_root`` fixture. Local transport only: the SSH path is the same parsers.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence

import pytest

from batchdeck.backends.model import JobRecord, JobSpec, Outcome, RunState
from batchdeck.backends.schedulers.base import BatchSystem
from batchdeck.backends.schedulers.sge import SgeBatchSystem, parse_submit_output
from batchdeck.backends.schedulers.slurm import SlurmBatchSystem
from batchdeck.backends.transports.base import Transport

pytestmark = pytest.mark.parametrize("transport_kind", ["local"])


class Jobs:
    """A backend plus the ids of everything submitted through it, for the cleanup."""

    def __init__(self, backend: BatchSystem) -> None:
        self.backend = backend
        self.jobids: list[str] = []

    async def submit(self, **spec: object) -> JobRecord:
        spec.setdefault("name", "bd-outcome")
        job = JobRecord(id=uuid.uuid4().hex[:8], cluster=self.backend.name, spec=JobSpec(**spec))  # type: ignore[arg-type]
        await self.backend.submit_job(job)
        assert job.jobid
        self.jobids.append(job.jobid)
        return job

    async def outside(self, argv: list[str], parse: Callable[[str], str]) -> JobRecord:
        """A job submitted with the scheduler's own command (e.g. held), as a run record."""
        result = await self.backend.transport.run(argv, timeout=60)
        result.check(argv[0])
        jobid = parse(result.stdout)
        self.jobids.append(jobid)
        job = JobRecord(id=uuid.uuid4().hex[:8], cluster=self.backend.name, spec=JobSpec(command=["true"]))
        job.jobid = jobid
        job.transition(RunState.SUBMITTED, "submitted")
        job.last_seen = job.submitted
        return job

    async def wait(self, jobs: Sequence[JobRecord], done: Callable[[], bool], timeout: float, what: str) -> None:
        """Refresh until ``done()``; fail with the states seen when the deadline passes."""
        deadline = time.monotonic() + timeout
        while True:
            await self.backend.update_job_states(jobs)
            if done():
                return
            if time.monotonic() > deadline:
                states = [(j.jobid, j.state.value, j.raw_state, j.reason) for j in jobs]
                pytest.fail(f"{what}: not reached within {timeout:g} s; states {states}")
            await asyncio.sleep(0.5)


def finished(job: JobRecord) -> Callable[[], bool]:
    return lambda: not job.state.is_active


def assert_outcome(job: JobRecord, outcome: Outcome) -> None:
    assert job.state in (RunState.TERMINATING, RunState.TERMINATED)
    assert job.outcome is outcome, (job.raw_state, job.reason, job.exitcode, job.signal)
    # the bug of issue 11: a timed-out, cancelled or killed job read "exit 0"
    assert job.exitcode is None, job.exitcode
    summary = job.summary()
    assert (summary["outcome"], summary["exitcode"]) == (outcome.value, None)
    # what the journal keeps is what another process reads back
    assert JobRecord.from_dict(job.to_dict()).outcome is outcome


# ---------------------------------------------------------------------------- SLURM


@pytest.fixture
async def slurm(slurm_cluster: None, cluster_transport: Transport, shared_sandbox_root: str) -> AsyncIterator[Jobs]:
    backend = SlurmBatchSystem(
        "slurm-outcomes", transport=cluster_transport, sandbox_root=shared_sandbox_root, accounting_delay=60,
        ssh_timeout=60,
    )
    await backend.connect()
    jobs = Jobs(backend)
    try:
        yield jobs
    finally:
        if jobs.jobids:
            await cluster_transport.run(["scancel", *jobs.jobids], timeout=60)
        await backend.close()


@pytest.mark.slurm
async def test_slurm_ok_and_failed(slurm: Jobs) -> None:
    ok = await slurm.submit(command=["true"], walltime=300)
    bad = await slurm.submit(command=["sh", "-c", "exit 3"], walltime=300)
    await slurm.wait([ok, bad], lambda: not ok.state.is_active and not bad.state.is_active, 180, "both jobs ending")
    assert (ok.outcome, ok.exitcode, ok.signal) == (Outcome.OK, 0, None)
    assert (bad.outcome, bad.exitcode) == (Outcome.FAILED, 3)


@pytest.mark.slurm
async def test_slurm_walltime_overrun_is_timeout(slurm: Jobs) -> None:
    # OverTimeLimit is 0 on the test cluster and SLURM checks limits about every 30 s:
    # a 1-minute limit ends the job 60-90 s after it started (it may wait for a CPU first)
    job = await slurm.submit(command=["sleep", "600"], walltime=60)
    await slurm.wait([job], finished(job), 300, "TIMEOUT")
    assert job.raw_state == "TIMEOUT"
    assert_outcome(job, Outcome.TIMEOUT)


@pytest.mark.slurm
async def test_slurm_memory_overrun_is_oom(slurm: Jobs) -> None:
    # the test SLURM runs task/cgroup (cgroup v1) with ConstrainRAMSpace=yes
    job = await slurm.submit(
        command=["python3", "-c", "import time; x = b'x' * (600 * 1024 * 1024); time.sleep(5)"],
        memory_per_core=100,
        walltime=300,
    )
    await slurm.wait([job], finished(job), 180, "the out-of-memory kill")
    assert job.raw_state == "OUT_OF_MEMORY"
    assert_outcome(job, Outcome.OOM)


@pytest.mark.slurm
async def test_slurm_cancel_running_is_cancelled(slurm: Jobs) -> None:
    job = await slurm.submit(command=["sleep", "300"], walltime=400)
    await slurm.wait([job], lambda: job.state == RunState.RUNNING, 180, "job start")
    await slurm.backend.cancel_job(job)
    await slurm.wait([job], finished(job), 60, "cancellation")
    assert job.state == RunState.TERMINATED
    assert_outcome(job, Outcome.CANCELLED)


@pytest.mark.slurm
async def test_slurm_cancel_pending_is_cancelled(slurm: Jobs) -> None:
    # held (sbatch -H): certainly pending, whatever the other jobs on the node do
    job = await slurm.outside(
        ["sbatch", "--parsable", "-H", "-o", "/dev/null", "-t", "2", "-J", "bd-held-outcome", "--wrap", "true"],
        lambda out: out.strip().split(";")[0],
    )
    await slurm.backend.update_job_states([job])
    assert (job.state, job.raw_state) == (RunState.SUBMITTED, "PENDING")
    await slurm.backend.cancel_job(job)
    await slurm.wait([job], finished(job), 60, "cancellation of the pending job")
    assert job.state == RunState.TERMINATED and job.started is None
    assert_outcome(job, Outcome.CANCELLED)
    assert job.signal is None  # it never ran: no signal either


# ---------------------------------------------------------------------------- Grid Engine


@pytest.fixture
async def sge(sge_cluster: None, cluster_transport: Transport, shared_sandbox_root: str) -> AsyncIterator[Jobs]:
    backend = SgeBatchSystem(
        "sge-outcomes", transport=cluster_transport, sandbox_root=shared_sandbox_root, accounting_delay=60
    )
    await backend.connect()
    jobs = Jobs(backend)
    try:
        yield jobs
    finally:
        if jobs.jobids:
            await cluster_transport.run(["qdel", *jobs.jobids], timeout=60)  # finished ones: qdel complains
        await backend.close()


@pytest.mark.sge
async def test_sge_ok_and_failed(sge: Jobs) -> None:
    ok = await sge.submit(command=["true"])
    bad = await sge.submit(command=["sh", "-c", "exit 3"])
    await sge.wait([ok, bad], lambda: not ok.state.is_active and not bad.state.is_active, 120, "both jobs ending")
    assert (ok.outcome, ok.exitcode, ok.signal) == (Outcome.OK, 0, None)
    assert (bad.outcome, bad.exitcode) == (Outcome.FAILED, 3)


@pytest.mark.sge
async def test_sge_h_rt_overrun_is_timeout(sge: Jobs) -> None:
    job = await sge.submit(command=["sleep", "60"], walltime=5)
    await sge.wait([job], finished(job), 120, "the h_rt kill")
    assert (job.raw_state, job.signal) == ("failed 37", 9)
    assert_outcome(job, Outcome.TIMEOUT)


@pytest.mark.sge
async def test_sge_qdel_running_is_cancelled(sge: Jobs) -> None:
    job = await sge.submit(command=["sleep", "300"])
    await sge.wait([job], lambda: job.state == RunState.RUNNING, 120, "job start")
    await sge.backend.cancel_job(job)
    await sge.wait([job], finished(job), 60, "cancellation")
    assert (job.state, job.raw_state) == (RunState.TERMINATED, "failed 100")
    assert_outcome(job, Outcome.CANCELLED)


@pytest.mark.sge
async def test_sge_qdel_pending_is_cancelled(sge: Jobs) -> None:
    # more slots than the node has: pending for good, and never in accounting
    job = await sge.submit(command=["true"], cores=64)
    await sge.backend.update_job_states([job])
    assert job.state == RunState.SUBMITTED
    await sge.backend.cancel_job(job)
    await sge.wait([job], finished(job), 60, "cancellation of the pending job")
    assert job.state == RunState.TERMINATED
    assert_outcome(job, Outcome.CANCELLED)


@pytest.mark.sge
async def test_sge_deleted_outside_batchdeck_is_killed(sge: Jobs) -> None:
    job = await sge.outside(
        ["qsub", "-terse", "-o", "/dev/null", "-e", "/dev/null", "-b", "y", "-shell", "no", "-N", "bd-victim",
         "/bin/sleep", "300"],
        parse_submit_output,
    )
    await sge.wait([job], lambda: job.state == RunState.RUNNING, 120, "job start")
    (await sge.backend.transport.run(["qdel", job.jobid or ""], timeout=60)).check("qdel")
    await sge.wait([job], finished(job), 60, "the kill")
    assert (job.state, job.signal) == (RunState.TERMINATING, 9)
    assert_outcome(job, Outcome.KILLED)


@pytest.mark.sge
async def test_sge_h_vmem_overrun_is_the_jobs_own_failure(sge: Jobs) -> None:
    """Documented, not oom: this Grid Engine enforces h_vmem with setrlimit inside the job.

    The allocation fails in the job (Python's MemoryError, exit 1); qacct says
    ``failed 0``, ``exit_status 1`` and, for a short job, ``maxvmem 0.000B``, so
    nothing tells a memory overrun from any other error. batchdeck reads ``oom``
    only where qacct does say it (``failed 37`` naming h_vmem, or a peak at h_vmem).
    """
    job = await sge.submit(command=["python3", "-c", "x = b'x' * (600 * 1024 * 1024)"], memory_per_core=100)
    await sge.wait([job], finished(job), 120, "the job's end")
    assert (job.raw_state, job.outcome, job.exitcode) == ("finished", Outcome.FAILED, 1)
