"""Jobs gone from queue and accounting: resolved from their exit-status file, else lost with back-off;
and the cancel intent kept in the record (on the labelled PBS simulator, tests/simulators/batchsim.py)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from batchdeck.backends.model import JobRecord, JobSpec, RunState
from batchdeck.backends.schedulers import exit_status, pbs
from batchdeck.backends.transports.base import CommandResult
from batchdeck.backends.transports.local import LocalTransport

from helpers import wait_state
from simulators import batchsim


class CountingTransport(LocalTransport):
    """A LocalTransport that remembers every command line, to count scheduler queries."""

    def __init__(self) -> None:
        super().__init__()
        self.commands: list[list[str]] = []

    async def run(self, argv: Any, **kwargs: Any) -> CommandResult:
        self.commands.append([str(a) for a in argv])
        return await super().run(argv, **kwargs)

    def count(self, word: str) -> int:
        return sum(1 for argv in self.commands if word in argv)


@pytest.fixture
def torque(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[pbs.PbsBatchSystem, CountingTransport]:
    batchsim.install(tmp_path / "bin", tmp_path / "state", "torque")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    transport = CountingTransport()
    backend = pbs.PbsBatchSystem(
        "sim", flavour="torque", transport=transport, sandbox_root=str(tmp_path / "sb"), accounting_delay=0
    )
    return backend, transport


def unknown_job(tmp_path: Path, job_id: str, rc: str | None) -> JobRecord:
    """A job the scheduler never heard of (an id it did not give), with or without an exit-status file."""
    job = JobRecord(id=job_id, cluster="sim", spec=JobSpec(command=["true"]))
    job.transition(RunState.SUBMITTED, "submitted")
    job.transition(RunState.RUNNING, "running")
    job.jobid = f"{900 + len(job_id)}{job_id[-1]}.pbs-sim.example.org"
    job.sandbox = str(tmp_path / "sb" / job_id)
    (Path(job.sandbox) / ".batchdeck").mkdir(parents=True)
    if rc is not None:
        (Path(job.sandbox) / exit_status.EXIT_FILE).write_text(rc)
    job.last_seen = time.time() - 1
    return job


async def test_jobs_unknown_to_queue_and_accounting_resolve_from_their_exit_files(
    torque: tuple[pbs.PbsBatchSystem, CountingTransport], tmp_path: Path
) -> None:
    backend, transport = torque
    jobs = [unknown_job(tmp_path, f"lost000{i}", rc) for i, rc in enumerate(("0\n", "3\n", "143\n"))]
    await backend.update_job_states(jobs)
    assert [(j.state, j.exitcode, j.signal) for j in jobs] == [
        (RunState.TERMINATING, 0, None),
        (RunState.TERMINATING, 3, None),
        (RunState.TERMINATING, None, 15),
    ]
    assert all(exit_status.FROM_FILE in j.reason for j in jobs)
    # one batched read for all three, after one batched accounting query
    assert transport.count("batchdeck-exit-status") == 1 and transport.count("batchdeck-tracejob") == 1


async def test_within_accounting_delay_the_job_waits_for_accounting(
    torque: tuple[pbs.PbsBatchSystem, CountingTransport], tmp_path: Path
) -> None:
    backend, transport = torque
    backend.accounting_delay = 3600
    job = unknown_job(tmp_path, "lag00001", "0\n")
    await backend.update_job_states([job])
    # accounting alone has the scheduler's verdict: the file is not read while it may still answer
    assert job.state == RunState.RUNNING and transport.count("batchdeck-exit-status") == 0


async def test_a_job_nothing_answers_for_is_lost_and_then_rechecked_with_back_off(
    torque: tuple[pbs.PbsBatchSystem, CountingTransport], tmp_path: Path
) -> None:
    backend, transport = torque
    job = unknown_job(tmp_path, "lost0009", None)
    await backend.update_job_states([job])
    assert job.state == RunState.UNKNOWN and job.reason == "lost: the scheduler no longer knows this job"
    asked = transport.count("batchdeck-tracejob"), transport.count("batchdeck-exit-status")
    for _ in range(3):
        await backend.update_job_states([job])
    # refreshes within the back-off interval ask the queue only
    assert (transport.count("batchdeck-tracejob"), transport.count("batchdeck-exit-status")) == asked
    # the back-off is in the record: another process (a fresh backend on the stored record) keeps it
    assert job.recheck_at is not None and job.recheck_interval is not None
    first_interval = job.recheck_interval
    stored = JobRecord.from_dict(job.to_dict())
    fresh = pbs.PbsBatchSystem(
        "sim", flavour="torque", transport=transport, sandbox_root=backend.sandbox_root, accounting_delay=0
    )
    await fresh.update_job_states([stored])
    assert (transport.count("batchdeck-tracejob"), transport.count("batchdeck-exit-status")) == asked
    # once due (the clock passing recheck_at), it is asked again and the next interval doubles
    stored.recheck_at = time.time() - 1
    await fresh.update_job_states([stored])
    assert transport.count("batchdeck-exit-status") == asked[1] + 1
    assert stored.recheck_interval == 2 * first_interval and stored.state == RunState.UNKNOWN
    # the file appears (a slow file system): the next due check resolves it
    (Path(job.sandbox or "") / exit_status.EXIT_FILE).write_text("0\n")
    stored.recheck_at = time.time() - 1
    await fresh.update_job_states([stored])
    assert (stored.state, stored.exitcode, stored.recheck_at) == (RunState.TERMINATING, 0, None)


async def test_torque_cancel_intent_survives_a_restart(
    torque: tuple[pbs.PbsBatchSystem, CountingTransport], tmp_path: Path
) -> None:
    backend, transport = torque
    job = JobRecord(id="cancel01", cluster="sim", spec=JobSpec(command=["sleep", "60"]))
    await backend.submit_job(job)
    await wait_state(backend, job, RunState.RUNNING)
    await backend.cancel_job(job)
    assert job.cancel_requested is not None
    # another process reads the record from the journal: TORQUE's "exit 271" is this cancel
    reloaded = JobRecord.from_dict(job.to_dict())
    fresh = pbs.PbsBatchSystem("sim", flavour="torque", transport=transport, sandbox_root=backend.sandbox_root)
    await wait_state(fresh, reloaded, RunState.TERMINATED)
    assert (reloaded.reason, reloaded.signal) == ("cancelled", 15)
    assert not (Path(job.sandbox or "") / ".batchdeck" / "cancelled").exists()


def test_old_journal_rows_without_the_cancel_field_still_load() -> None:
    row = JobRecord(id="old00001", cluster="c", spec=JobSpec(command=["true"])).to_dict()
    del row["cancel_requested"]
    assert JobRecord.from_dict(row).cancel_requested is None


async def test_on_slurm_a_job_unknown_to_squeue_and_sacct_resolves_from_its_exit_file(
    slurm_cluster: None, tmp_path: Path
) -> None:
    from batchdeck.backends.schedulers.slurm import SlurmBatchSystem

    transport = CountingTransport()
    backend = SlurmBatchSystem("slurm", transport=transport, sandbox_root=str(tmp_path / "sb"), accounting_delay=0)
    job = unknown_job(tmp_path, "slurm001", "5\n")
    job.jobid = "999999998"  # an id this SLURM never gave: neither squeue nor sacct knows it
    await backend.update_job_states([job])
    assert (job.state, job.exitcode, job.raw_state) == (RunState.TERMINATING, 5, "exit file")
    assert transport.count("sacct") == 1 and transport.count("batchdeck-exit-status") == 1


class LaggingSlurm(LocalTransport):
    """SLURM seconds after a cancel, as the fault suite caught it on the real daemons: slurmctld has
    forgotten the job (squeue lists nothing), slurmdbd has not recorded the end (sacct still says
    RUNNING), scontrol remembers it CANCELLED. The outputs are those commands' formats."""

    async def run(self, argv: Any, **kwargs: Any) -> CommandResult:
        words = [str(a) for a in argv]
        answers = {
            "id": "alice\n",
            "squeue": "",
            "sacct": "2725|RUNNING|0:0|None|debug|1|alice|2026-12-03T10:00:00|2026-12-03T10:00:01|Unknown|00:00:09|j\n",
            "scontrol": "JobId=2725 JobName=j UserId=alice(1000) JobState=CANCELLED Reason=None "
            "ExitCode=0:15 Partition=debug NumCPUs=1 SubmitTime=2026-12-03T10:00:00 "
            "StartTime=2026-12-03T10:00:01 EndTime=2026-12-03T10:00:10 RunTime=00:00:09\n",
        }
        if words[0] in answers:
            return CommandResult(words, 0, answers[words[0]], "")
        return await super().run(argv, **kwargs)


async def test_a_lagging_accounting_answer_does_not_keep_a_cancelled_job_running(tmp_path: Path) -> None:
    from batchdeck.backends.schedulers.slurm import SlurmBatchSystem

    backend = SlurmBatchSystem("slurm", transport=LaggingSlurm(), sandbox_root=str(tmp_path / "sb"))
    job = JobRecord(id="lag00001", cluster="slurm", spec=JobSpec(command=["true"]))
    job.transition(RunState.SUBMITTED, "submitted")
    job.transition(RunState.RUNNING, "running")
    job.jobid, job.last_seen = "2725", time.time()
    await backend.cancel_job(job)
    assert (job.state, job.reason) == (RunState.TERMINATED, "cancelled"), job.raw_state


async def test_a_half_submitted_job_both_forgot_resolves_from_its_exit_status_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """#11 item 8: a submit killed before its id was recorded, of a job that has run and left the queue
    and accounting: the job script's own exit-status file says it ran and how it ended."""
    from batchdeck.backends.engine.config import Config, parse_cluster
    from batchdeck.backends.engine.deck import SUBMITTING, Deck
    from batchdeck.backends.engine.journal import Journal
    from batchdeck.backends.model import Outcome

    batchsim.install(tmp_path / "bin", tmp_path / "state", "torque")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    root = tmp_path / "sb"
    conf = {"type": "pbs", "flavour": "torque", "sandbox_root": str(root), "accounting_delay": 0}
    deck = Deck(Config(path=None, clusters={"sim": parse_cluster("sim", conf, None)}), Journal(tmp_path / "j.sqlite"))
    try:
        # a real job script's exit-status file (exit 3), in the sandbox of a tag the scheduler never saw
        ran = await deck.submit("sim", JobSpec(command=["sh", "-c", "exit 3"], name="ran"))
        await wait_state(deck.backend("sim"), ran, (RunState.TERMINATING, RunState.TERMINATED))
        (root / "halfexi1").mkdir()
        (root / "halfexi1" / ".batchdeck").mkdir()
        (root / "halfexi1" / exit_status.EXIT_FILE).write_bytes((Path(ran.sandbox or "") / exit_status.EXIT_FILE).read_bytes())
        half = JobRecord(id="halfexi1", cluster="sim", spec=JobSpec(command=["true"], name="half"))
        half.reason = SUBMITTING
        deck.journal.save(half)
        fresh = JobRecord(id="halfnew1", cluster="sim", spec=JobSpec(command=["true"], name="fresh"))
        fresh.reason = SUBMITTING
        deck.journal.save(fresh)
        await deck.poll("sim")
        found = deck.job("halfexi1")
        assert (found.state, found.outcome, found.exitcode) == (RunState.TERMINATING, Outcome.FAILED, 3), found
        assert found.sandbox == str(root / "halfexi1")
        # one without a file (nothing ran yet, submit_timeout not passed) stays unresolved
        assert deck.job("halfnew1").reason == SUBMITTING
        await deck.get_results("halfexi1", tmp_path / "results")
        await deck.free("halfexi1")
        assert not (root / "halfexi1").exists()
    finally:
        await deck.close()


async def test_many_lost_jobs_cost_one_command_each_kind_per_refresh_never_one_per_job(
    torque: tuple[pbs.PbsBatchSystem, CountingTransport], tmp_path: Path
) -> None:
    backend, transport = torque
    jobs = [unknown_job(tmp_path, f"many{k:04d}", None) for k in range(20)]
    await backend.update_job_states(jobs)
    assert all(job.state == RunState.UNKNOWN and job.reason.startswith("lost:") for job in jobs)
    # the accounting query and the exit-status files: batched, not one command per job
    first = (transport.count("batchdeck-tracejob"), transport.count("batchdeck-exit-status"))
    assert first[0] <= 2 and first[1] == 1, first
    for _ in range(3):
        await backend.update_job_states(jobs)
    assert (transport.count("batchdeck-tracejob"), transport.count("batchdeck-exit-status")) == first
