"""The local runner ends with its sandbox, and ends what it started (#17: "test suite leaves local jobs running")."""

from __future__ import annotations

import posixpath
import uuid

from leftovers import leftover_processes

from batchdeck.backends.model import JobRecord, JobSpec, RunState
from batchdeck.backends.schedulers.base import CONTROL_DIR
from batchdeck.backends.schedulers.local import LocalBatchSystem
from batchdeck.backends.transports.base import Transport

from helpers import eventually, process_gone, wait_state


def _job(**spec: object) -> JobRecord:
    return JobRecord(id=uuid.uuid4().hex[:8], cluster="runner", spec=JobSpec(**spec))  # type: ignore[arg-type]


async def _runner_pid(system: LocalBatchSystem, job: JobRecord) -> int:
    assert job.sandbox
    path = posixpath.join(job.sandbox, CONTROL_DIR, "pid")

    async def written() -> bool:
        return await system.transport.stat(path) is not None

    await eventually(written, 30, "the runner to write its pid")
    data, _ = await system.transport.read_range(path)
    return int(data)


def _processes_in(sandbox: str) -> list[int]:
    # the sshd's host is this machine: its processes are visible here too
    return leftover_processes("BATCHDECK_NO_MARK=", [sandbox], wait=0)


async def test_runners_and_jobs_end_when_their_sandbox_is_deleted(
    cluster_transport: Transport, shared_sandbox_root: str
) -> None:
    system = LocalBatchSystem("runner", transport=cluster_transport, sandbox_root=shared_sandbox_root, max_cores=1)
    running = _job(command=["sleep", "300"], name="running")
    queued = _job(command=["sleep", "300"], name="queued")
    try:
        await system.submit_job(running)
        await system.submit_job(queued)
        await wait_state(system, running, RunState.RUNNING)
        await system.update_job_states([queued])
        assert queued.state == RunState.SUBMITTED and queued.reason == "waiting for free cores"
        queued_pid = await _runner_pid(system, queued)
        assert queued.sandbox and running.sandbox
        assert _processes_in(running.sandbox), "the running job should be visible (else this test tests nothing)"

        await system.transport.remove_tree(queued.sandbox)
        await eventually(lambda: process_gone(queued_pid), 10, "the queued runner to exit")
        await system.transport.remove_tree(running.sandbox)
        await eventually(lambda: not _processes_in(running.sandbox or ""), 20, "the running job and its runner to end")
    finally:
        for job in (running, queued):
            if job.state.is_active and job.sandbox:
                await system.transport.remove_tree(job.sandbox)
        await system.close()


async def test_cancel_ends_a_job_with_a_walltime(cluster_transport: Transport, shared_sandbox_root: str) -> None:
    # timeout(1) puts the job in a process group of its own, out of reach of the group signal
    system = LocalBatchSystem("runner", transport=cluster_transport, sandbox_root=shared_sandbox_root)
    job = _job(command=["sleep", "300"], name="walltime", walltime=600)
    try:
        await system.submit_job(job)
        await wait_state(system, job, RunState.RUNNING)
        assert job.sandbox
        await eventually(lambda: len(_processes_in(job.sandbox or "")) >= 2, 10, "the job under its runner")
        await system.cancel_job(job)
        await wait_state(system, job, RunState.TERMINATED)
        await eventually(lambda: not _processes_in(job.sandbox or ""), 20, "every process of the cancelled job to end")
    finally:
        if job.sandbox:
            await system.transport.remove_tree(job.sandbox)
        await system.close()
