"""The #17 safety tests' view of a backend: the contract suite's ``deck`` (every kind), cleaned up after.

Every job a test submits through ``Backend.submit`` (or appends to ``Backend.jobs``) is
cancelled when the test ends if it is still active, and the sandbox root is removed:
``jobs`` is the deck's own list.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import pytest

from batchdeck.backends.model import JobRecord, JobSpec, RunState
from batchdeck.backends.schedulers.base import BatchSystem
from batchdeck.backends.schedulers.local import LocalBatchSystem
from batchdeck.backends.schedulers.sge import SgeBatchSystem
from batchdeck.backends.schedulers.slurm import SlurmBatchSystem
from batchdeck.backends.transports.base import Transport

from contract import Deck as ContractDeck
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


def make_system(scheduler: str, transport: Transport, root: str) -> BatchSystem:
    if scheduler == "slurm":
        return SlurmBatchSystem("slurm-safety", transport=transport, sandbox_root=root, accounting_delay=60, ssh_timeout=60)
    if scheduler == "sge":
        return SgeBatchSystem("sge-safety", transport=transport, sandbox_root=root, accounting_delay=60)
    return LocalBatchSystem("local-safety", transport=transport, sandbox_root=root)


@pytest.fixture(name="backend")
def backend_fixture(deck: ContractDeck) -> Backend:
    """Every backend of the contract suite's ``deck`` fixture (tests/contract.py), which cleans up after."""
    return Backend(deck.backend, deck.kind, deck.jobs)
