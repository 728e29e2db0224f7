"""One real backend per (scheduler, transport) for the #17 safety tests, cleaned up after.

Every job a test submits through ``Backend.submit`` is cancelled when the test ends
if it is still active, and the sandbox root is removed.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from batchdeck.backends.model import JobRecord, JobSpec, RunState
from batchdeck.backends.schedulers.base import BatchSystem
from batchdeck.backends.schedulers.local import LocalBatchSystem
from batchdeck.backends.schedulers.sge import SgeBatchSystem
from batchdeck.backends.schedulers.slurm import SlurmBatchSystem
from batchdeck.backends.transports.base import Transport

from helpers import wait_state

DONE = (RunState.TERMINATING, RunState.TERMINATED)


@dataclass
class Backend:
    system: BatchSystem
    kind: str
    jobs: list[JobRecord] = field(default_factory=list)

    @property
    def transport(self) -> Transport:
        return self.system.transport

    def record(self, spec: JobSpec) -> JobRecord:
        return JobRecord(id=uuid.uuid4().hex[:8], cluster=self.system.name, spec=spec)

    async def submit(self, spec: JobSpec) -> JobRecord:
        job = self.record(spec)
        self.jobs.append(job)
        await self.system.submit_job(job)
        return job

    async def finish(self, job: JobRecord, timeout: float = 90) -> RunState:
        return await wait_state(self.system, job, DONE, timeout=timeout)

    async def mode(self, path: str) -> str:
        """Octal permission bits of a path on the cluster, as its own user sees them."""
        result = await self.transport.run(["stat", "-c", "%a", "--", path])
        result.check("stat")
        return result.stdout.strip()

    async def cleanup(self) -> None:
        for job in self.jobs:
            if job.jobid and job.state.is_active:
                try:
                    await self.system.cancel_job(job)
                except Exception:  # noqa: BLE001 - best effort: the job may be gone already
                    pass


def make_system(scheduler: str, transport: Transport, root: str) -> BatchSystem:
    if scheduler == "slurm":
        return SlurmBatchSystem("slurm-safety", transport=transport, sandbox_root=root, accounting_delay=60, ssh_timeout=60)
    if scheduler == "sge":
        return SgeBatchSystem("sge-safety", transport=transport, sandbox_root=root, accounting_delay=60)
    return LocalBatchSystem("local-safety", transport=transport, sandbox_root=root)


@pytest.fixture(name="backend", params=["local", "slurm", "sge"])
async def backend_fixture(
    request: pytest.FixtureRequest, cluster_transport: Transport, shared_sandbox_root: str, transport_kind: str
) -> AsyncIterator[Backend]:
    """Each scheduler, on this machine and through the real sshd (the transport_kind parameter)."""
    scheduler = request.param
    if scheduler != "local":
        request.getfixturevalue(f"{scheduler}_cluster")
    system = make_system(scheduler, cluster_transport, shared_sandbox_root)
    harness = Backend(system, f"{scheduler}/{transport_kind}")
    await system.connect()
    try:
        yield harness
    finally:
        try:
            await harness.cleanup()
            await system.transport.remove_tree(shared_sandbox_root)
        finally:
            await system.close()
