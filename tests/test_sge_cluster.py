"""The Grid Engine backend against the real single-node Son of Grid Engine (tests/clusters/sge-start.sh).

Each test runs on this machine (as root) and through the private sshd (as batchtest).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from batchdeck.backends.model import JobRecord, JobSpec, RunState
from batchdeck.backends.schedulers.base import TAG_PREFIX
from batchdeck.backends.schedulers.sge import SgeBatchSystem, parse_submit_output
from batchdeck.backends.transports.base import Transport

from helpers import RecordingTransport, eventually, wait_state

pytestmark = [pytest.mark.sge]

DONE = (RunState.TERMINATING, RunState.TERMINATED)


class Sge:
    """The backend under test plus bookkeeping so every job submitted is deleted afterwards."""

    def __init__(self, system: SgeBatchSystem, counter: RecordingTransport) -> None:
        self.system = system
        self.counter = counter
        self.jobids: list[str] = []

    def record(self, spec: JobSpec) -> JobRecord:
        return JobRecord(id=uuid.uuid4().hex[:8], cluster=self.system.name, spec=spec)

    async def submit(self, spec: JobSpec) -> JobRecord:
        job = self.record(spec)
        await self.system.submit_job(job)
        assert job.jobid
        self.jobids.append(job.jobid)
        return job

    async def qsub(self, *args: str, script: str | None = None) -> str:
        """Submit directly (outside batchdeck), as the transport's user; returns the job id.

        Without ``script``, args end with a binary and its arguments, run without a
        shell (``-shell no``): a ``-b y`` job otherwise starts the user's *login* shell,
        and a kill during root's pyenv rehash in .bashrc leaves a stale lock that
        stalls every later root login for a minute. ``script`` is read from stdin.
        """
        binary = [] if script is not None else ["-b", "y", "-shell", "no"]
        argv = ["qsub", "-terse", "-o", "/dev/null", "-e", "/dev/null", *binary, *args]
        result = await self.system.transport.run(argv, stdin=None if script is None else script.encode())
        result.check("qsub")
        jobid = parse_submit_output(result.stdout)
        self.jobids.append(jobid)
        return jobid

    def adopt(self, jobid: str, name: str = "outside") -> JobRecord:
        """A run record for a job submitted directly, as if batchdeck had submitted it."""
        job = self.record(JobSpec(command=["true"], name=name))
        job.jobid = jobid
        job.transition(RunState.SUBMITTED, "submitted")
        job.last_seen = job.submitted
        return job


@pytest.fixture
async def sge(sge_cluster: None, cluster_transport: Transport, shared_sandbox_root: str) -> AsyncIterator[Sge]:
    counter = RecordingTransport(cluster_transport)
    system = SgeBatchSystem(
        "sge-test",
        transport=counter,
        sandbox_root=shared_sandbox_root,
        # qacct lags 0.3-0.9 s behind qstat; never let a slow CI box turn that into UNKNOWN.
        accounting_delay=60,
    )
    await system.connect()
    harness = Sge(system, counter)
    try:
        yield harness
    finally:
        if harness.jobids:
            # Jobs already gone make qdel complain; that is expected.
            await system.transport.run(["qdel", *harness.jobids])
        await system.close()


async def test_completed_job_outputs_are_fetched(sge: Sge, tmp_path: Path) -> None:
    spec = JobSpec(
        command=["sh", "-c", 'echo "hello $JOB_NAME"; echo oops >&2; echo data > result.txt'],
        name="done",
        outputs=["result.txt"],
    )
    job = await sge.submit(spec)
    assert job.state == RunState.SUBMITTED
    await wait_state(sge.system, job, DONE, timeout=60)
    assert job.state == RunState.TERMINATING
    assert (job.exitcode, job.signal, job.raw_state) == (0, None, "finished")
    report = await sge.system.get_results(job, tmp_path)
    assert report.ok, report.failed
    assert sorted(report.copied) == ["result.txt", "stderr.txt", "stdout.txt"]
    # -N carries the batchdeck tag, so the job can be found again by name.
    assert (tmp_path / "stdout.txt").read_text() == f"hello {TAG_PREFIX}{job.id}-done\n"
    assert (tmp_path / "stderr.txt").read_text() == "oops\n"
    assert (tmp_path / "result.txt").read_text() == "data\n"
    assert job.state == RunState.TERMINATED


async def test_exit_3(sge: Sge) -> None:
    job = await sge.submit(JobSpec(script="#!/bin/sh\necho failing\nexit 3\n", name="exit3"))
    await wait_state(sge.system, job, DONE, timeout=60)
    assert (job.state, job.exitcode, job.signal) == (RunState.TERMINATING, 3, None)
    assert "exit code 3" in job.reason


async def test_cancel_running_job(sge: Sge) -> None:
    job = await sge.submit(JobSpec(command=["sleep", "60"], name="tokill"))
    await wait_state(sge.system, job, RunState.RUNNING, timeout=60)
    await sge.system.cancel_job(job)
    # Another batchdeck process (a fresh backend, the record from the journal) must
    # still read the coming "failed 100" as this cancellation.
    reloaded = JobRecord.from_dict(job.to_dict())
    fresh = SgeBatchSystem("sge-test", transport=sge.counter, sandbox_root=sge.system.sandbox_root, accounting_delay=60)
    await fresh.connect()
    await wait_state(fresh, reloaded, RunState.TERMINATED, timeout=60)
    assert reloaded.reason == "cancelled"
    assert (reloaded.raw_state, reloaded.signal) == ("failed 100", 9)


async def test_job_deleted_outside_batchdeck_is_killed_not_cancelled(sge: Sge) -> None:
    job = sge.adopt(await sge.qsub("-N", "victim", "/bin/sleep", "60"))
    await wait_state(sge.system, job, RunState.RUNNING, timeout=60)
    (await sge.system.transport.run(["qdel", job.jobid or ""])).check("qdel")
    await wait_state(sge.system, job, DONE, timeout=60)
    assert (job.state, job.raw_state, job.signal) == (RunState.TERMINATING, "failed 100", 9)
    assert "qdel" in job.reason


async def test_cancel_pending_job(sge: Sge) -> None:
    # More slots than the node has: stays pending, and never reaches accounting.
    job = await sge.submit(JobSpec(command=["true"], name="pending", cores=64))
    await sge.system.update_job_states([job])
    assert (job.state, job.raw_state) == (RunState.SUBMITTED, "qw")
    await sge.system.cancel_job(job)
    await wait_state(sge.system, job, RunState.TERMINATED, timeout=30)
    assert job.reason == "cancelled"


async def test_h_rt_exceeded(sge: Sge) -> None:
    job = await sge.submit(JobSpec(command=["sleep", "60"], name="slow", walltime=5))
    await wait_state(sge.system, job, DONE, timeout=60)
    assert (job.state, job.raw_state, job.signal) == (RunState.TERMINATING, "failed 37", 9)
    assert "walltime exceeded" in job.reason


async def test_held_job_is_submitted_with_a_hold_reason(sge: Sge) -> None:
    jobid = await sge.qsub("-h", "-N", "held", "/bin/true")
    job = sge.adopt(jobid)
    await sge.system.update_job_states([job])
    assert (job.state, job.raw_state) == (RunState.SUBMITTED, "hqw")
    assert "hold" in job.reason


async def test_error_state_shows_the_reason(sge: Sge) -> None:
    first = sge.adopt(await sge.qsub("-wd", "/nonexistent/batchdeck-a", "-N", "eqw", "/bin/true"))
    second = sge.adopt(await sge.qsub("-wd", "/nonexistent/batchdeck-b", "-N", "eqw", "/bin/true"))

    async def both_stopped() -> bool:
        sge.counter.clear()
        await sge.system.update_job_states([first, second])
        return first.state == second.state == RunState.STOPPED

    await eventually(both_stopped, timeout=60, what="both jobs to reach Eqw")
    assert first.raw_state == second.raw_state == "Eqw"
    assert "can't chdir to /nonexistent/batchdeck-a" in first.reason
    assert "can't chdir to /nonexistent/batchdeck-b" in second.reason
    # qstat -xml, plus ONE qstat -j for every job in error state.
    assert sge.counter.calls["qstat"] == 2


async def test_memory_request_reaches_the_job(sge: Sge, tmp_path: Path) -> None:
    job = await sge.submit(
        JobSpec(command=["sh", "-c", "ulimit -v"], name="mem", memory_per_core=300, walltime=600)
    )
    await wait_state(sge.system, job, DONE, timeout=60)
    assert job.exitcode == 0
    await sge.system.get_results(job, tmp_path)
    # h_vmem=300M becomes the job's virtual memory limit, in KiB.
    assert (tmp_path / "stdout.txt").read_text() == f"{300 * 1024}\n"


async def test_array_job(sge: Sge) -> None:
    # Held first, so the pending range is listed before any task can run.
    jobid = await sge.qsub(
        "-h", "-t", "1-3", "-N", "arr", script="#!/bin/sh\ntest $SGE_TASK_ID -ne 2 || exit 2\n"
    )
    job = sge.adopt(jobid)
    listed = [j for j in await sge.system.list_jobs() if j.jobid == jobid]
    assert [(j.array_id, j.array_task, j.raw_state) for j in listed] == [(jobid, "1-3:1", "hqw")]
    (await sge.system.transport.run(["qrls", jobid])).check("qrls")
    await wait_state(sge.system, job, DONE, timeout=90)
    assert (job.state, job.exitcode) == (RunState.TERMINATING, 2)
    assert job.reason.startswith("task 2:")


async def test_two_slot_parallel_environment_job(sge: Sge, tmp_path: Path) -> None:
    if (os.cpu_count() or 1) < 2:
        pytest.skip("this machine has fewer than 2 cores: the 2-slot queue cannot start a 2-slot job")
    job = await sge.submit(JobSpec(command=["sh", "-c", "echo NSLOTS=$NSLOTS"], name="pe2", cores=2))
    await wait_state(sge.system, job, DONE, timeout=90)
    assert job.exitcode == 0
    await sge.system.get_results(job, tmp_path)
    assert (tmp_path / "stdout.txt").read_text() == "NSLOTS=2\n"


async def test_job_submitted_outside_batchdeck_is_listed(sge: Sge) -> None:
    jobid = await sge.qsub("-h", "-N", "outside", "/bin/true")
    listed = {j.jobid: j for j in await sge.system.list_jobs()}
    assert jobid in listed
    assert (listed[jobid].name, listed[jobid].state) == ("outside", RunState.SUBMITTED)


async def test_queues_are_listed(sge: Sge) -> None:
    jobid = await sge.qsub("-h", "-N", "counted", "/bin/true")
    queues = {q.name: q for q in await sge.system.list_queues()}
    assert "all.q" in queues
    queue = queues["all.q"]
    assert queue.total_cores is not None and queue.total_cores >= 1
    assert queue.free_cores is not None and 0 <= queue.free_cores <= queue.total_cores
    assert queue.pending >= 1, f"held job {jobid} not counted as pending"


async def test_burst_of_100_jobs_is_one_qstat_per_refresh(sge: Sge) -> None:
    # Held, so 100 jobs neither wait for 2 slots nor run; one command submits them all.
    loop = 'for i in $(seq 100); do qsub -terse -h -o /dev/null -e /dev/null -b y -shell no -N burst /bin/true || exit 1; done'
    result = await sge.system.transport.run(["sh", "-c", loop], timeout=120)
    result.check("qsub")
    ids = [parse_submit_output(line) for line in result.stdout.split()]
    assert len(ids) == 100
    sge.jobids.extend(ids)
    jobs = [sge.adopt(jobid, "burst") for jobid in ids]

    sge.counter.clear()
    await sge.system.update_job_states(jobs)
    assert {job.state for job in jobs} == {RunState.SUBMITTED}
    assert {job.raw_state for job in jobs} == {"hqw"}
    assert sge.counter.calls["qstat"] == 1
    assert sge.counter.calls["sh"] == sge.counter.calls["qacct"] == 0

    await sge.system.transport.run(["qdel", *ids])
    sge.counter.clear()
    await sge.system.update_job_states(jobs)
    # Gone from qstat: ONE batched accounting command for all hundred.
    assert sge.counter.calls["qstat"] == 1
    assert sge.counter.calls["sh"] == 1
    assert {job.state for job in jobs} == {RunState.SUBMITTED}  # deleted while held: no record, not ours


async def test_cancel_of_a_finished_job_resolves_it(sge: Sge) -> None:
    job = await sge.submit(JobSpec(command=["true"], name="quick"))
    jobid = job.jobid or ""

    async def in_accounting() -> bool:
        return jobid in await sge.system.query_finished([jobid])

    await eventually(in_accounting, timeout=60, what=f"job {jobid} to reach qacct")
    await sge.system.cancel_job(job)  # qdel says "does not exist"; accounting settles it
    assert (job.state, job.exitcode) == (RunState.TERMINATING, 0)
    assert not job.reason.startswith("cancel")
