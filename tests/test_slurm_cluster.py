"""SLURM's own behaviour on the real single-node SLURM, on this machine and through the real sshd.

What every backend promises is tests/test_contract.py; these tests run on the same deck
fixture (tests/contract.py), which scancels every job a test submitted and removes its sandboxes.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from batchdeck.backends.errors import SchedulerError
from batchdeck.backends.model import RunState
from batchdeck.backends.schedulers.base import tag_of

from contract import Deck

pytestmark = pytest.mark.slurm

# Scratch files both root and the ssh test user can read (pytest's tmp_path is root-only).
SHARED_SCRATCH = Path("/var/tmp/batchdeck-test")


@pytest.fixture(params=["slurm", "slurm-ssh"])
def deck_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def conf_with() -> Iterator[Callable[..., str]]:
    """A copy of the cluster's slurm.conf with some settings changed, readable by the ssh user too."""
    scratch: list[Path] = []

    def make(**settings: str) -> str:
        text = Path("/etc/slurm/slurm.conf").read_text()
        for key, value in settings.items():
            text, count = re.subn(rf"(?m)^{key}=.*$", f"{key}={value}", text)
            if not count:
                text += f"\n{key}={value}\n"
        directory = SHARED_SCRATCH / f"conf-{uuid.uuid4().hex[:8]}"
        directory.mkdir(parents=True)
        directory.chmod(0o755)
        scratch.append(directory)
        path = directory / "slurm.conf"
        path.write_text(text)
        path.chmod(0o644)
        return str(path)

    yield make
    for directory in scratch:
        shutil.rmtree(directory, ignore_errors=True)


async def sbatch(deck: Deck, *args: str) -> str:
    """Submit outside batchdeck, as a user would (scancelled at the end like the test's own jobs)."""
    result = await deck.run(["sbatch", "--parsable", "-o", "/dev/null", "-t", "2", *args], timeout=60)
    result.check("sbatch")
    jobid = result.stdout.strip().split(";")[0]
    deck.outside.append(jobid)
    return jobid


def _scontrol_config() -> dict[str, str]:
    out = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True, timeout=30).stdout
    values = {}
    for line in out.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip()
    return values


# ---------------------------------------------------------------------------- tests


@pytest.mark.parametrize("deck_kind", ["slurm"])
async def test_time_limit_ends_in_timeout(deck: Deck) -> None:
    # SLURM checks time limits about every 30 s: a 1-minute limit ends after 60-90 s
    job = await deck.submit(command=["sleep", "600"], walltime=60)
    await deck.wait([job], lambda: not job.state.is_active, 150, "TIMEOUT")
    assert (job.state, job.raw_state) == (RunState.TERMINATING, "TIMEOUT")
    assert "TIMEOUT" in job.reason


async def test_memory_limit_kill(deck: Deck) -> None:
    config = _scontrol_config()
    if "task/cgroup" not in config.get("TaskPlugin", ""):
        pytest.skip(f"no cgroup memory enforcement on this cluster (TaskPlugin={config.get('TaskPlugin')})")
    job = await deck.submit(
        command=["python3", "-c", "import time; x = b'x' * (600 * 1024 * 1024); time.sleep(5)"],
        memory_per_core=100,
    )
    await deck.wait([job], lambda: not job.state.is_active, 90, "the out-of-memory kill")
    assert (job.state, job.raw_state, job.reason) == (RunState.TERMINATING, "OUT_OF_MEMORY", "out of memory")


async def test_array_job_tasks_listed(deck: Deck) -> None:
    array_id = await sbatch(deck, "--array=1-3", "-J", "bd-array-test", "--wrap", "sleep 60")
    jobs = await deck.backend.list_jobs()
    tasks = {j.array_task: j for j in jobs if j.array_id == array_id}
    assert set(tasks) == {"1", "2", "3"}
    for task, info in tasks.items():
        assert info.jobid == f"{array_id}_{task}"
        assert info.name == "bd-array-test" and info.state in (RunState.SUBMITTED, RunState.RUNNING)


async def test_job_submitted_outside_batchdeck_listed(deck: Deck) -> None:
    name = f"outside-{uuid.uuid4().hex[:6]}"
    jobid = await sbatch(deck, "-J", name, "--wrap", "sleep 60")
    jobs = {j.jobid: j for j in await deck.backend.list_jobs()}
    assert jobid in jobs
    job = jobs[jobid]
    assert job.name == name and tag_of(job.name) is None
    assert job.queue == "debug" and job.state in (RunState.SUBMITTED, RunState.RUNNING)
    expected_user = "root" if deck.kind == "slurm" else "batchtest"
    assert job.user == expected_user and job.submit_time is not None


async def test_queues_listed(deck: Deck) -> None:
    job = await deck.submit(command=["sleep", "60"], queue="long")
    squeue_before = deck.transport.count("squeue")
    queues = {q.name: q for q in await deck.backend.list_queues()}
    assert deck.transport.count("squeue") - squeue_before == 1
    assert {"debug", "long"} <= set(queues)
    debug, long = queues["debug"], queues["long"]
    assert debug.is_default and not long.is_default
    assert debug.max_walltime == 3600 and long.max_walltime is None
    assert debug.state == "up" and debug.nodes == 1
    assert debug.total_cores and debug.free_cores is not None and 0 <= debug.free_cores <= debug.total_cores
    assert long.running + long.pending >= 1
    assert deck.transport.count("sinfo") == 1
    await deck.backend.cancel_job(job)


async def test_cancel_of_an_id_slurm_does_not_know_loses_nothing(deck: Deck) -> None:
    # scancel exits 0 for an unknown id; the job stays as it was until accounting
    # (or accounting_delay) decides, instead of being declared cancelled or lost
    job = deck.adopt("999999")
    job.last_seen = time.time()
    await deck.backend.cancel_job(job)
    assert job.state == RunState.SUBMITTED
    assert deck.transport.count("scancel") == 1 and deck.transport.count("sacct") == 1


async def test_burst_of_100_jobs_one_squeue_per_refresh(deck: Deck) -> None:
    jobs = [await deck.submit(command=["sleep", "30"], name=f"burst-{i}", walltime=120) for i in range(100)]
    assert len({j.jobid for j in jobs}) == 100
    for _ in range(2):
        before_squeue, before_sacct = deck.transport.count("squeue"), deck.transport.count("sacct")
        result = await deck.backend.update_job_states(jobs)
        assert deck.transport.count("squeue") - before_squeue == 1
        assert deck.transport.count("sacct") - before_sacct <= 1
        assert deck.transport.count("scontrol") == 0
        listed = {j.jobid for j in result.all_jobs}
        assert {j.jobid for j in jobs} <= listed
    assert all(j.state in (RunState.SUBMITTED, RunState.RUNNING) for j in jobs)


async def test_finished_jobs_resolved_by_one_sacct_call(deck: Deck) -> None:
    jobs = [
        await deck.submit(command=["bash", "-c", f"exit {rc}"], name=f"rc-{rc}") for rc in (0, 1, 2)
    ]
    await deck.wait(jobs, lambda: all(not j.state.is_active for j in jobs), 60, "three jobs ending")
    assert [j.exitcode for j in jobs] == [0, 1, 2]
    # every poll that saw jobs missing from squeue asked sacct once for all of them
    assert deck.transport.count("sacct") <= deck.transport.count("squeue")
    for argv in deck.transport.commands:
        if argv[0] == "sacct":
            assert argv[argv.index("-j") + 1].count(",") <= 2


async def test_without_accounting_falls_back_to_scontrol(deck: Deck, conf_with: Callable[..., str]) -> None:
    # sacct reads this copy of slurm.conf, says "Slurm accounting storage is disabled"
    # and exits 1, as on a cluster without slurmdbd; the controller still knows the job
    deck.transport.env_for["sacct"] = {"SLURM_CONF": conf_with(AccountingStorageType="accounting_storage/none")}
    job = await deck.submit(command=["bash", "-c", "exit 5"])
    await deck.wait([job], lambda: not job.state.is_active, 60, "job end seen through scontrol")
    assert (job.state, job.raw_state, job.exitcode) == (RunState.TERMINATING, "FAILED", 5)
    assert deck.transport.count("scontrol") >= 1
    assert deck.transport.count("scontrol") <= deck.transport.count("sacct")


@pytest.mark.parametrize("deck_kind", ["slurm"])
async def test_controller_unreachable_raises_scheduler_error(deck: Deck, conf_with: Callable[..., str]) -> None:
    deck.transport.env_for["squeue"] = {"SLURM_CONF": conf_with(SlurmctldPort="1")}
    job = await deck.submit(command=["sleep", "60"])
    with pytest.raises(SchedulerError) as caught:
        await deck.backend.update_job_states([job])
    assert "Unable to contact slurm controller" in str(caught.value)
    assert str(caught.value).startswith("squeue: ")
    assert job.state == RunState.SUBMITTED  # keeps its last state


async def test_job_over_the_partition_limit(deck: Deck) -> None:
    # the cluster's own max_walltime is unset, so batchdeck lets SLURM judge
    assert deck.backend.max_walltime is None
    enforce = _scontrol_config().get("EnforcePartLimits", "NO").upper()
    if enforce in ("ALL", "ANY", "YES"):
        with pytest.raises(SchedulerError) as caught:
            await deck.submit(command=["true"], queue="debug", walltime=2 * 3600)
        assert str(caught.value).startswith("sbatch: ") and "time limit" in str(caught.value).lower()
    else:
        # EnforcePartLimits=NO: SLURM accepts the job and leaves it pending; the reason says why
        job = await deck.submit(command=["true"], queue="debug", walltime=2 * 3600)
        await deck.backend.update_job_states([job])
        assert job.state == RunState.SUBMITTED
        # PartitionTimeLimit; the first scheduling pass may say PartitionConfig
        assert re.match(r"Partition(TimeLimit|Config): ", job.reason) and "will not start" in job.reason
    # a request no node of the partition can meet is refused by sbatch itself
    with pytest.raises(SchedulerError) as caught:
        await deck.submit(command=["true"], queue="debug", memory_per_core=999 * 1024)
    message = str(caught.value)
    assert message.startswith("sbatch: ")
    assert "Memory specification can not be satisfied" in message
    assert "Requested node configuration is not available" in message
