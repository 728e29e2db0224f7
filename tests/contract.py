"""The backends under the contract suite: one ``Deck`` per kind, built the same way for every test.

A kind is a scheduler and the way batchdeck reaches it: ``local``, ``local-ssh``, ``slurm``,
``slurm-ssh``, ``sge``, ``sge-ssh`` on the real daemons of this machine, and ``pbspro``,
``torque``, ``lsf`` on the labelled test double (tests/simulators/batchsim.py). Every
backend gets a fresh sandbox root and a RecordingTransport, so a test can count the
commands a refresh sent. ``Deck.end`` cancels whatever the test submitted, also when
the test failed, and removes the sandbox root.

Only the public BatchSystem methods and the constructors are used, so the suite holds
whatever the scheduler classes do inside.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from batchdeck.backends.errors import TransportError
from batchdeck.backends.model import JobRecord, JobSpec, RunState
from batchdeck.backends.schedulers.base import BatchSystem
from batchdeck.backends.transports.base import CommandResult, Transport

from helpers import RecordingTransport

#: every kind, in the order the suite runs them
KINDS = ["local", "local-ssh", "slurm", "slurm-ssh", "sge", "sge-ssh", "pbspro", "torque", "lsf"]
#: the kinds played by the test double: it starts every job at once and runs it as this process's user
SIMULATED = {"pbspro", "torque", "lsf"}

#: Waits for the test to create ``go`` in the sandbox; gives up after ~60 s, so a job
#: whose test failed before releasing it never holds a core for long.
GATE = 'i=0; while [ ! -e go ] && [ "$i" -lt 1200 ]; do sleep 0.05; i=$((i+1)); done'

#: the command that cancels jobs outside batchdeck (cleanup), per scheduler
_CANCEL = {"slurm": ["scancel"], "sge": ["qdel"], "pbs": ["qdel"], "lsf": ["bkill"]}


def scheduler_of(kind: str) -> str:
    """``slurm-ssh`` -> ``slurm``; the simulated PBS flavours are ``pbs``."""
    base = kind.removesuffix("-ssh")
    return "pbs" if base in ("pbspro", "torque") else base


class DeckTransport(RecordingTransport):
    """The real transport, recording every command; ``env_for`` runs some programs with extra variables.

    (SLURM's tests point one command at another slurm.conf this way, as a cluster
    without accounting or with its controller unreachable would answer.)
    """

    def __init__(self, inner: Transport) -> None:
        super().__init__(inner)
        self.env_for: dict[str, dict[str, str]] = {}

    def rewrite(self, argv: list[str]) -> list[str]:
        env = self.env_for.get(argv[0]) if argv else None
        if not env:
            return argv
        return ["env", *(f"{key}={value}" for key, value in env.items()), *argv]


@dataclass
class Deck:
    """One backend under test, and what the test started on it."""

    kind: str
    backend: BatchSystem
    transport: DeckTransport
    sandbox_root: str
    #: how to build another backend of this kind on the same transport and root
    build: Callable[..., BatchSystem]
    jobs: list[JobRecord] = field(default_factory=list)
    #: ids of jobs submitted outside batchdeck (cancelled at the end too)
    outside: list[str] = field(default_factory=list)
    backends: list[BatchSystem] = field(default_factory=list)
    #: where the test double keeps its job records (simulated kinds only)
    simulator_state: Path | None = None

    @property
    def scheduler(self) -> str:
        return scheduler_of(self.kind)

    @property
    def over_ssh(self) -> bool:
        return self.kind.endswith("-ssh")

    @property
    def simulated(self) -> bool:
        return self.kind in SIMULATED

    def record(self, **spec: Any) -> JobRecord:
        """A NEW run record (not submitted), remembered for the cleanup."""
        spec.setdefault("name", "bd-test")
        job = JobRecord(id=uuid.uuid4().hex[:8], cluster=self.backend.name, spec=JobSpec(**spec))
        self.jobs.append(job)
        return job

    async def submit(self, **spec: Any) -> JobRecord:
        """Submit a job through batchdeck (walltime 300 s unless given)."""
        spec.setdefault("walltime", 300)
        job = self.record(**spec)
        await self.backend.submit_job(job)
        assert job.jobid and job.state == RunState.SUBMITTED
        return job

    async def shell(self, script: str, **spec: Any) -> JobRecord:
        return await self.submit(command=["/bin/sh", "-c", script], **spec)

    def adopt(self, jobid: str, name: str = "outside") -> JobRecord:
        """A run record for a job submitted outside batchdeck, as if batchdeck had submitted it."""
        job = self.record(command=["true"], name=name)
        job.jobid = jobid
        job.transition(RunState.SUBMITTED, "submitted")
        job.last_seen = job.submitted
        return job

    def another_backend(self, **settings: Any) -> BatchSystem:
        """A fresh backend of this kind (another batchdeck process) on the same transport and root."""
        backend = self.build(**settings)
        self.backends.append(backend)
        return backend

    async def run(self, argv: Sequence[str], stdin: bytes | None = None, timeout: float = 120) -> CommandResult:
        """Run a command as the transport's user, outside batchdeck (and outside the recording)."""
        return await self.transport.inner.run(list(argv), stdin=stdin, timeout=timeout)

    async def release(self, job: JobRecord) -> None:
        """Open the job's GATE."""
        assert job.sandbox
        await self.transport.inner.write_file(f"{job.sandbox}/go", b"")

    async def wait(
        self,
        jobs: Sequence[JobRecord],
        done: Callable[[], bool],
        timeout: float = 60,
        what: str = "the jobs",
        backend: BatchSystem | None = None,
    ) -> None:
        """Refresh until ``done()``; fail with the states seen when the deadline passes."""
        system = backend or self.backend
        deadline = time.monotonic() + timeout
        while True:
            await system.update_job_states(jobs)
            if done():
                return
            if time.monotonic() > deadline:
                states = [(j.jobid, j.state.value, j.raw_state, j.reason) for j in jobs]
                pytest.fail(f"{self.kind}: {what} not reached within {timeout:g} s; states {states}")
            await asyncio.sleep(0.2)

    async def wait_state(
        self,
        job: JobRecord,
        states: RunState | Iterable[RunState],
        timeout: float = 60,
        backend: BatchSystem | None = None,
    ) -> RunState:
        wanted = {states} if isinstance(states, RunState) else set(states)
        names = sorted(s.value for s in wanted)
        await self.wait([job], lambda: job.state in wanted, timeout, f"job {job.jobid} in {names}", backend)
        return job.state

    async def wait_done(self, job: JobRecord, timeout: float = 60) -> RunState:
        """Until the scheduler says the job ended (TERMINATING, or TERMINATED when cancelled)."""
        return await self.wait_state(job, (RunState.TERMINATING, RunState.TERMINATED), timeout)

    async def _remove_sandbox_root(self) -> None:
        # A local runner of a job that just ended may still be writing its exit
        # status into the tree while it is removed ("Directory not empty", an
        # OSError here, a TransportError over SSH): the removal is tried again
        # until the runner is done, within a deadline.
        deadline = time.monotonic() + 30
        while True:
            try:
                await self.transport.inner.remove_tree(self.sandbox_root)
                return
            except (OSError, TransportError):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)

    async def end(self) -> None:
        """Cancel every job this test started, remove the sandbox root, close the connections."""
        try:
            if self.scheduler == "local":
                for job in self.jobs:
                    if job.jobid and job.state.is_active:
                        try:
                            await self.backend.cancel_job(job)
                        except Exception:  # noqa: BLE001 - best effort: it may have ended meanwhile
                            pass
            else:
                ids = [job.jobid for job in self.jobs if job.jobid] + self.outside
                if ids:
                    # Jobs already gone make the command complain; that is expected.
                    await self.run([*_CANCEL[self.scheduler], *dict.fromkeys(ids)], timeout=60)
            await self._remove_sandbox_root()
        finally:
            for backend in [*self.backends, self.backend]:
                await backend.close()
