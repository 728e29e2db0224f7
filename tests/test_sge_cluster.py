"""Grid Engine's own behaviour on the real single-node Son of Grid Engine (tests/clusters/sge-start.sh).

What every backend promises is tests/test_contract.py; these run on the same deck fixture
(tests/contract.py), on this machine (as root) and through the private sshd (as batchtest);
every job a test submitted is deleted afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from batchdeck.backends.errors import LimitExceeded
from batchdeck.backends.model import JobRecord, RunState
from batchdeck.backends.schedulers.base import TAG_PREFIX
from batchdeck.backends.schedulers.sge import parse_qconf_queues, parse_submit_output

from contract import Deck
from helpers import eventually, wait_state

pytestmark = [pytest.mark.sge]

DONE = (RunState.TERMINATING, RunState.TERMINATED)


@pytest.fixture(params=["sge", "sge-ssh"])
def deck_kind(request: pytest.FixtureRequest) -> str:
    return request.param


async def qsub(deck: Deck, *args: str, script: str | None = None) -> str:
    """Submit directly (outside batchdeck), as the transport's user; returns the job id.

    Without ``script``, args end with a binary and its arguments, run without a
    shell (``-shell no``): a ``-b y`` job otherwise starts the user's *login* shell,
    and a kill during root's pyenv rehash in .bashrc leaves a stale lock that
    stalls every later root login for a minute. ``script`` is read from stdin.
    """
    binary = [] if script is not None else ["-b", "y", "-shell", "no"]
    argv = ["qsub", "-terse", "-o", "/dev/null", "-e", "/dev/null", *binary, *args]
    result = await deck.run(argv, stdin=None if script is None else script.encode())
    result.check("qsub")
    jobid = parse_submit_output(result.stdout)
    deck.outside.append(jobid)
    return jobid


async def test_completed_job_outputs_are_fetched(deck: Deck, tmp_path: Path) -> None:
    job = await deck.submit(
        command=["sh", "-c", 'echo "hello $JOB_NAME"; echo oops >&2; echo data > result.txt'],
        name="done",
        outputs=["result.txt"],
    )
    assert job.state == RunState.SUBMITTED
    await wait_state(deck.backend, job, DONE, timeout=60)
    assert job.state == RunState.TERMINATING
    assert (job.exitcode, job.signal, job.raw_state) == (0, None, "finished")
    report = await deck.backend.get_results(job, tmp_path)
    assert report.ok, report.failed
    assert sorted(report.copied) == ["result.txt", "stderr.txt", "stdout.txt"]
    # -N carries the batchdeck tag, so the job can be found again by name.
    assert (tmp_path / "stdout.txt").read_text() == f"hello {TAG_PREFIX}{job.id}-done\n"
    assert (tmp_path / "stderr.txt").read_text() == "oops\n"
    assert (tmp_path / "result.txt").read_text() == "data\n"
    assert job.state == RunState.TERMINATED


async def test_cancel_running_job(deck: Deck) -> None:
    job = await deck.submit(command=["sleep", "60"], name="tokill")
    await wait_state(deck.backend, job, RunState.RUNNING, timeout=60)
    await deck.backend.cancel_job(job)
    # Another batchdeck process (a fresh backend, the record from the journal) must
    # still read the coming "failed 100" as this cancellation.
    reloaded = JobRecord.from_dict(job.to_dict())
    fresh = deck.another_backend()
    await fresh.connect()
    await wait_state(fresh, reloaded, RunState.TERMINATED, timeout=60)
    assert reloaded.reason == "cancelled"
    assert (reloaded.raw_state, reloaded.signal) == ("failed 100", 9)


async def test_job_deleted_outside_batchdeck_is_killed_not_cancelled(deck: Deck) -> None:
    job = deck.adopt(await qsub(deck, "-N", "victim", "/bin/sleep", "60"))
    await wait_state(deck.backend, job, RunState.RUNNING, timeout=60)
    (await deck.run(["qdel", job.jobid or ""])).check("qdel")
    await wait_state(deck.backend, job, DONE, timeout=60)
    assert (job.state, job.raw_state, job.signal) == (RunState.TERMINATING, "failed 100", 9)
    assert "qdel" in job.reason


async def test_h_rt_exceeded(deck: Deck) -> None:
    job = await deck.submit(command=["sleep", "60"], name="slow", walltime=5)
    await wait_state(deck.backend, job, DONE, timeout=60)
    assert (job.state, job.raw_state, job.signal) == (RunState.TERMINATING, "failed 37", 9)
    assert "walltime exceeded" in job.reason


async def test_held_job_is_submitted_with_a_hold_reason(deck: Deck) -> None:
    jobid = await qsub(deck, "-h", "-N", "held", "/bin/true")
    job = deck.adopt(jobid)
    await deck.backend.update_job_states([job])
    assert (job.state, job.raw_state) == (RunState.SUBMITTED, "hqw")
    assert "hold" in job.reason


async def test_error_state_shows_the_reason(deck: Deck) -> None:
    first = deck.adopt(await qsub(deck, "-wd", "/nonexistent/batchdeck-a", "-N", "eqw", "/bin/true"))
    second = deck.adopt(await qsub(deck, "-wd", "/nonexistent/batchdeck-b", "-N", "eqw", "/bin/true"))

    async def both_stopped() -> bool:
        deck.transport.clear()
        await deck.backend.update_job_states([first, second])
        return first.state == second.state == RunState.STOPPED

    await eventually(both_stopped, timeout=60, what="both jobs to reach Eqw")
    assert first.raw_state == second.raw_state == "Eqw"
    assert "can't chdir to /nonexistent/batchdeck-a" in first.reason
    assert "can't chdir to /nonexistent/batchdeck-b" in second.reason
    # qstat -xml, plus ONE qstat -j for every job in error state.
    assert deck.transport.calls["qstat"] == 2


async def test_memory_request_reaches_the_job(deck: Deck, tmp_path: Path) -> None:
    job = await deck.submit(command=["sh", "-c", "ulimit -v"], name="mem", memory_per_core=300, walltime=600)
    await wait_state(deck.backend, job, DONE, timeout=60)
    assert job.exitcode == 0
    await deck.backend.get_results(job, tmp_path)
    # h_vmem=300M becomes the job's virtual memory limit, in KiB.
    assert (tmp_path / "stdout.txt").read_text() == f"{300 * 1024}\n"


async def test_array_job(deck: Deck) -> None:
    # Held first, so the pending range is listed before any task can run.
    jobid = await qsub(
        deck, "-h", "-t", "1-3", "-N", "arr", script="#!/bin/sh\ntest $SGE_TASK_ID -ne 2 || exit 2\n"
    )
    job = deck.adopt(jobid)
    listed = [j for j in await deck.backend.list_jobs() if j.jobid == jobid]
    assert [(j.array_id, j.array_task, j.raw_state) for j in listed] == [(jobid, "1-3:1", "hqw")]
    (await deck.run(["qrls", jobid])).check("qrls")
    await wait_state(deck.backend, job, DONE, timeout=90)
    assert (job.state, job.exitcode) == (RunState.TERMINATING, 2)
    assert job.reason.startswith("task 2:")


async def test_two_slot_parallel_environment_job(deck: Deck, tmp_path: Path) -> None:
    if (os.cpu_count() or 1) < 2:
        pytest.skip("this machine has fewer than 2 cores: the 2-slot queue cannot start a 2-slot job")
    job = await deck.submit(command=["sh", "-c", "echo NSLOTS=$NSLOTS"], name="pe2", cores=2)
    await wait_state(deck.backend, job, DONE, timeout=90)
    assert job.exitcode == 0
    await deck.backend.get_results(job, tmp_path)
    assert (tmp_path / "stdout.txt").read_text() == "NSLOTS=2\n"


async def test_job_submitted_outside_batchdeck_is_listed(deck: Deck) -> None:
    jobid = await qsub(deck, "-h", "-N", "outside", "/bin/true")
    listed = {j.jobid: j for j in await deck.backend.list_jobs()}
    assert jobid in listed
    assert (listed[jobid].name, listed[jobid].state) == ("outside", RunState.SUBMITTED)


async def test_queues_are_listed(deck: Deck) -> None:
    jobid = await qsub(deck, "-h", "-N", "counted", "/bin/true")
    queues = {q.name: q for q in await deck.backend.list_queues()}
    assert "all.q" in queues
    queue = queues["all.q"]
    assert queue.total_cores is not None and queue.total_cores >= 1
    assert queue.free_cores is not None and 0 <= queue.free_cores <= queue.total_cores
    assert queue.pending >= 1, f"held job {jobid} not counted as pending"


async def test_burst_of_100_jobs_is_one_qstat_per_refresh(deck: Deck) -> None:
    # Held, so 100 jobs neither wait for 2 slots nor run; one command submits them all.
    loop = 'for i in $(seq 100); do qsub -terse -h -o /dev/null -e /dev/null -b y -shell no -N burst /bin/true || exit 1; done'
    result = await deck.run(["sh", "-c", loop], timeout=120)
    result.check("qsub")
    ids = [parse_submit_output(line) for line in result.stdout.split()]
    assert len(ids) == 100
    deck.outside.extend(ids)
    jobs = [deck.adopt(jobid, "burst") for jobid in ids]

    deck.transport.clear()
    await deck.backend.update_job_states(jobs)
    assert {job.state for job in jobs} == {RunState.SUBMITTED}
    assert {job.raw_state for job in jobs} == {"hqw"}
    assert deck.transport.calls["qstat"] == 1
    assert deck.transport.calls["sh"] == deck.transport.calls["qacct"] == 0

    await deck.run(["qdel", *ids])
    deck.transport.clear()
    await deck.backend.update_job_states(jobs)
    # Gone from qstat: ONE batched accounting command for all hundred.
    assert deck.transport.calls["qstat"] == 1
    assert deck.transport.calls["sh"] == 1
    assert {job.state for job in jobs} == {RunState.SUBMITTED}  # deleted while held: no record, not ours


async def test_cancel_of_a_finished_job_resolves_it(deck: Deck) -> None:
    job = await deck.submit(command=["true"], name="quick")
    jobid = job.jobid or ""

    async def in_accounting() -> bool:
        return jobid in await deck.backend.query_finished([jobid])

    await eventually(in_accounting, timeout=60, what=f"job {jobid} to reach qacct")
    await deck.backend.cancel_job(job)  # qdel says "does not exist"; accounting settles it
    assert (job.state, job.exitcode) == (RunState.TERMINATING, 0)
    assert not job.reason.startswith("cancel")


async def _all_q_slots(deck: Deck) -> int:
    result = await deck.run(["qconf", "-sq", "all.q"])
    result.check("qconf -sq all.q")
    return parse_qconf_queues(result.stdout)["all.q"].slots


async def test_cores_beyond_the_queues_slots_are_refused_before_qsub(deck: Deck) -> None:
    """#17 item 9: qsub takes a job of more cores than any host of the queue has (it waits
    forever); batchdeck refuses it in one line naming the queue, the cores and the limit."""
    slots = await _all_q_slots(deck)
    for cores, queue in ((slots + 1, None), (99999999999, "all.q")):
        job = deck.record(command=["true"], cores=cores, queue=queue, walltime=300)
        with pytest.raises(LimitExceeded) as caught:
            await deck.backend.submit_job(job)
        message = str(caught.value)
        assert "\n" not in message, message
        assert f"asks for {cores} cores" in message and f"at most {slots}" in message, message
        assert "all.q" in message and "parallel environment smp" in message, message
        assert (job.state, job.sandbox, job.jobid) == (RunState.NEW, None, None)
    assert deck.transport.count("qsub") == 0
    fits = await deck.submit(command=["true"], name="fits", cores=slots)
    assert fits.jobid is not None
    # the queues' slots are one command per connection, not one per job
    asked = [argv for argv in deck.transport.commands if any("qconf" in word for word in argv)]
    assert len(asked) == 1, asked
    assert deck.transport.count("qsub") == 1


def test_the_cli_refuses_too_many_cores_before_recording_anything(sge_cluster: None, tmp_path: Path) -> None:
    """#17 item 9 on the real daemon: this node's all.q has 2 slots and pe smp is $pe_slots, so 3
    cores (and 99999999999) are refused by submit and submit --dry-run in one line naming the
    queue and its slots, with nothing recorded or created; 2 cores run."""
    config = tmp_path / "batchdeck.toml"
    config.write_text(f'[clusters.grid]\ntype = "sge"\nsandbox_root = "{tmp_path / "g"}"\n')
    env = {**os.environ, "BATCHDECK_DATA_DIR": str(tmp_path / "data"), "BATCHDECK_CONFIG": str(config)}
    cli = [sys.executable, "-m", "batchdeck.tui.cli"]
    for cores in ("99999999999", "3"):
        for dry in ([], ["--dry-run"]):
            proc = subprocess.run(
                [*cli, "submit", "--cluster", "grid", *dry, "--cores", cores, "--", "true"],
                env=env, capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            assert proc.returncode == 1 and proc.stdout == "", (dry, proc)
            assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
            assert f"{cores} cores" in proc.stderr and "at most 2" in proc.stderr, proc.stderr
            assert "queue all.q: 2 slots" in proc.stderr, proc.stderr
    listed = subprocess.run([*cli, "list", "--json"], env=env, capture_output=True, text=True, timeout=60)
    assert json.loads(listed.stdout) == []
    assert not (tmp_path / "g").exists() or not any((tmp_path / "g").iterdir())
    dry = subprocess.run([*cli, "submit", "--cluster", "grid", "--dry-run", "--cores", "2", "--", "true"],
                         env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert dry.returncode == 0 and "-pe smp 2" in dry.stdout, dry
    fits = subprocess.run([*cli, "submit", "--cluster", "grid", "--cores", "2", "--", "sh", "-c", "echo $NSLOTS"],
                          env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert fits.returncode == 0, fits.stderr
    job = fits.stdout.strip()
    waited = subprocess.run([*cli, "wait", job], env=env, capture_output=True, text=True, timeout=300)
    assert waited.returncode == 0, waited.stdout + waited.stderr
    assert (tmp_path / "g" / job / "stdout.txt").read_text().strip() == "2"  # Grid Engine gave it 2 slots
