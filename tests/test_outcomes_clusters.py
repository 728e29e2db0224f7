"""Outcomes on the real daemons: SLURM and Grid Engine end jobs by walltime, memory and cancel,
and batchdeck reads each as its outcome, never as "exit 0".

The scheduler's own scenarios, on the contract suite's deck fixture (tests/contract.py), which
cancels every job a test submitted and removes its sandboxes. Local transport only: over SSH
the same parsers read the same outputs (the contract suite runs ok/failed/killed/cancelled there).
"""

from __future__ import annotations

import pytest

from batchdeck.backends.model import JobRecord, Outcome, RunState
from batchdeck.backends.schedulers.sge import parse_submit_output

from contract import Deck

DONE = (RunState.TERMINATING, RunState.TERMINATED)


def assert_outcome(job: JobRecord, outcome: Outcome) -> None:
    assert job.state in DONE
    assert job.outcome is outcome, (job.raw_state, job.reason, job.exitcode, job.signal)
    # the bug of issue 11: a timed-out, cancelled or killed job read "exit 0"
    assert job.exitcode is None, job.exitcode
    summary = job.summary()
    assert (summary["outcome"], summary["exitcode"]) == (outcome.value, None)
    # what the journal keeps is what another process reads back
    assert JobRecord.from_dict(job.to_dict()).outcome is outcome


async def outside(deck: Deck, argv: list[str], jobid_of: str = "slurm") -> JobRecord:
    """A job submitted with the scheduler's own command (e.g. held), as a run record."""
    result = await deck.run(argv, timeout=60)
    result.check(argv[0])
    jobid = result.stdout.strip().split(";")[0] if jobid_of == "slurm" else parse_submit_output(result.stdout)
    deck.outside.append(jobid)
    return deck.adopt(jobid)


# ---------------------------------------------------------------------------- SLURM

@pytest.mark.slurm
@pytest.mark.parametrize("deck_kind", ["slurm"])
async def test_slurm_walltime_overrun_is_timeout(deck: Deck) -> None:
    # OverTimeLimit is 0 on the test cluster and SLURM checks limits about every 30 s:
    # a 1-minute limit ends the job 60-90 s after it started (it may wait for a CPU first)
    job = await deck.submit(command=["sleep", "600"], walltime=60)
    await deck.wait([job], lambda: job.state in DONE, 300, "TIMEOUT")
    assert job.raw_state == "TIMEOUT"
    assert_outcome(job, Outcome.TIMEOUT)


@pytest.mark.slurm
@pytest.mark.parametrize("deck_kind", ["slurm"])
async def test_slurm_memory_overrun_is_oom(deck: Deck) -> None:
    # the test SLURM runs task/cgroup with ConstrainRAMSpace=yes
    job = await deck.submit(
        command=["python3", "-c", "import time; x = b'x' * (600 * 1024 * 1024); time.sleep(5)"],
        memory_per_core=100,
    )
    await deck.wait([job], lambda: job.state in DONE, 180, "the out-of-memory kill")
    assert job.raw_state == "OUT_OF_MEMORY"
    assert_outcome(job, Outcome.OOM)


@pytest.mark.slurm
@pytest.mark.parametrize("deck_kind", ["slurm"])
async def test_slurm_cancel_running_is_cancelled(deck: Deck) -> None:
    job = await deck.submit(command=["sleep", "300"], walltime=400)
    await deck.wait_state(job, RunState.RUNNING, 180)
    await deck.backend.cancel_job(job)
    await deck.wait_state(job, RunState.TERMINATED)
    assert_outcome(job, Outcome.CANCELLED)


@pytest.mark.slurm
@pytest.mark.parametrize("deck_kind", ["slurm"])
async def test_slurm_cancel_pending_is_cancelled(deck: Deck) -> None:
    # held (sbatch -H): certainly pending, whatever the other jobs on the node do
    job = await outside(
        deck, ["sbatch", "--parsable", "-H", "-o", "/dev/null", "-t", "2", "-J", "bd-held-outcome", "--wrap", "true"]
    )
    await deck.backend.update_job_states([job])
    assert (job.state, job.raw_state) == (RunState.SUBMITTED, "PENDING")
    await deck.backend.cancel_job(job)
    await deck.wait_state(job, RunState.TERMINATED)
    assert job.started is None
    assert_outcome(job, Outcome.CANCELLED)
    assert job.signal is None  # it never ran: no signal either


# ---------------------------------------------------------------------------- Grid Engine


@pytest.mark.sge
@pytest.mark.parametrize("deck_kind", ["sge"])
async def test_sge_h_rt_overrun_is_timeout(deck: Deck) -> None:
    job = await deck.submit(command=["sleep", "60"], walltime=5)
    await deck.wait([job], lambda: job.state in DONE, 120, "the h_rt kill")
    assert (job.raw_state, job.signal) == ("failed 37", 9)
    assert_outcome(job, Outcome.TIMEOUT)


@pytest.mark.sge
@pytest.mark.parametrize("deck_kind", ["sge"])
async def test_sge_qdel_running_is_cancelled(deck: Deck) -> None:
    job = await deck.submit(command=["sleep", "300"])
    await deck.wait_state(job, RunState.RUNNING, 120)
    await deck.backend.cancel_job(job)
    await deck.wait_state(job, RunState.TERMINATED)
    assert job.raw_state == "failed 100"
    assert_outcome(job, Outcome.CANCELLED)


@pytest.mark.sge
@pytest.mark.parametrize("deck_kind", ["sge"])
async def test_sge_qdel_pending_is_cancelled(deck: Deck) -> None:
    # every slot taken by a filler: the next job is pending, and a qdel'd pending job never reaches accounting
    filler = await deck.submit(command=["sleep", "300"], cores=2)
    await deck.wait([filler], lambda: filler.state == RunState.RUNNING, 180, "the slot-filling job's start")
    job = await deck.submit(command=["true"])
    await deck.backend.update_job_states([job])
    assert job.state == RunState.SUBMITTED
    await deck.backend.cancel_job(job)
    await deck.wait_state(job, RunState.TERMINATED)
    assert_outcome(job, Outcome.CANCELLED)
    await deck.backend.cancel_job(filler)


@pytest.mark.sge
@pytest.mark.parametrize("deck_kind", ["sge"])
async def test_sge_deleted_outside_batchdeck_is_killed(deck: Deck) -> None:
    job = await outside(
        deck,
        ["qsub", "-terse", "-o", "/dev/null", "-e", "/dev/null", "-b", "y", "-shell", "no", "-N", "bd-victim",
         "/bin/sleep", "300"],
        jobid_of="sge",
    )  # fmt: skip
    await deck.wait_state(job, RunState.RUNNING, 120)
    (await deck.run(["qdel", job.jobid or ""], timeout=60)).check("qdel")
    await deck.wait([job], lambda: job.state in DONE, 60, "the kill")
    assert (job.state, job.signal) == (RunState.TERMINATING, 9)
    assert_outcome(job, Outcome.KILLED)


@pytest.mark.sge
@pytest.mark.parametrize("deck_kind", ["sge"])
async def test_sge_h_vmem_overrun_is_the_jobs_own_failure(deck: Deck) -> None:
    """Documented, not oom: this Grid Engine enforces h_vmem with setrlimit inside the job.

    The allocation fails in the job (Python's MemoryError, exit 1); qacct says
    ``failed 0``, ``exit_status 1`` and, for a short job, ``maxvmem 0.000B``, so
    nothing tells a memory overrun from any other error. batchdeck reads ``oom``
    only where qacct does say it (``failed 37`` naming h_vmem, or a peak at h_vmem).
    """
    job = await deck.submit(command=["python3", "-c", "x = b'x' * (600 * 1024 * 1024)"], memory_per_core=100)
    await deck.wait([job], lambda: job.state in DONE, 120, "the job's end")
    assert (job.raw_state, job.outcome, job.exitcode) == ("finished", Outcome.FAILED, 1)
