"""SlurmBatchSystem against the real single-node SLURM, on this machine and through the real sshd.

Every job a test submits is scancelled when the test ends, and every sandbox removed.
"""

from __future__ import annotations

import asyncio
import posixpath
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from batchdeck.backends.errors import SchedulerError
from batchdeck.backends.model import JobRecord, JobSpec, RunState
from batchdeck.backends.schedulers.base import tag_of
from batchdeck.backends.schedulers.slurm import SlurmBatchSystem
from batchdeck.backends.transports.base import Transport

from helpers import RecordingTransport

pytestmark = pytest.mark.slurm

# Scratch files both root and the ssh test user can read (pytest's tmp_path is root-only).
SHARED_SCRATCH = Path("/var/tmp/batchdeck-test")


class SlurmConfTransport(RecordingTransport):
    """The real transport, recording commands; optionally pointing some at another slurm.conf."""

    def __init__(self, inner: Transport, slurm_conf_for: dict[str, str] | None = None) -> None:
        super().__init__(inner)
        self.slurm_conf_for = dict(slurm_conf_for or {})

    def rewrite(self, argv: list[str]) -> list[str]:
        conf = self.slurm_conf_for.get(argv[0]) if argv else None
        return ["env", f"SLURM_CONF={conf}", *argv] if conf else argv


@dataclass
class Harness:
    backend: SlurmBatchSystem
    transport: SlurmConfTransport
    kind: str
    jobids: list[str] = field(default_factory=list)
    scratch: list[Path] = field(default_factory=list)

    def conf_with(self, **settings: str) -> str:
        """A copy of the cluster's slurm.conf with some settings changed, readable by the ssh user too."""
        text = Path("/etc/slurm/slurm.conf").read_text()
        for key, value in settings.items():
            text, count = re.subn(rf"(?m)^{key}=.*$", f"{key}={value}", text)
            if not count:
                text += f"\n{key}={value}\n"
        directory = SHARED_SCRATCH / f"conf-{uuid.uuid4().hex[:8]}"
        directory.mkdir(parents=True)
        directory.chmod(0o755)
        self.scratch.append(directory)
        path = directory / "slurm.conf"
        path.write_text(text)
        path.chmod(0o644)
        return str(path)

    async def submit(self, **spec: object) -> JobRecord:
        spec.setdefault("name", "bd-test")
        spec.setdefault("walltime", 300)
        job = JobRecord(id=uuid.uuid4().hex[:8], cluster=self.backend.name, spec=JobSpec(**spec))  # type: ignore[arg-type]
        await self.backend.submit_job(job)
        assert job.jobid
        self.jobids.append(job.jobid)
        return job

    async def sbatch(self, *args: str) -> str:
        """Submit outside batchdeck, as a user would."""
        result = await self.transport.inner.run(
            ["sbatch", "--parsable", "-o", "/dev/null", "-t", "2", *args], timeout=60
        )
        result.check("sbatch")
        jobid = result.stdout.strip().split(";")[0]
        self.jobids.append(jobid)
        return jobid

    async def wait(
        self, jobs: Sequence[JobRecord], done: Callable[[], bool], timeout: float, what: str
    ) -> None:
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


async def _cleanup(harness: Harness, sandbox_root: str) -> None:
    try:
        if harness.jobids:
            await harness.transport.inner.run(["scancel", *harness.jobids], timeout=60)
        await harness.transport.inner.remove_tree(sandbox_root)
    finally:
        for directory in harness.scratch:
            shutil.rmtree(directory, ignore_errors=True)
        await harness.transport.close()


@pytest.fixture
async def slurm(
    slurm_cluster: None, cluster_transport: Transport, shared_sandbox_root: str, transport_kind: str
) -> AsyncIterator[Harness]:
    transport = SlurmConfTransport(cluster_transport)
    backend = SlurmBatchSystem(
        "slurm-test", transport=transport, sandbox_root=shared_sandbox_root, accounting_delay=60, ssh_timeout=60
    )
    harness = Harness(backend, transport, transport_kind)
    await backend.connect()
    try:
        yield harness
    finally:
        await _cleanup(harness, shared_sandbox_root)


def _scontrol_config() -> dict[str, str]:
    out = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True, timeout=30).stdout
    values = {}
    for line in out.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip()
    return values


# ---------------------------------------------------------------------------- tests


async def test_completed_job_outputs_fetched(slurm: Harness, tmp_path: Path) -> None:
    job = await slurm.submit(
        command=["bash", "-c", "echo to-out; echo to-err >&2; echo data > result.txt"],
        prologue="echo prologue-ran",
        epilogue="echo epilogue-ran",
        cores=1,
        memory_per_core=200,
    )
    assert job.state == RunState.SUBMITTED
    await slurm.wait([job], lambda: job.state == RunState.TERMINATING, 60, "job completion")
    assert (job.raw_state, job.exitcode, job.signal, job.reason) == ("COMPLETED", 0, None, "")
    report = await slurm.backend.get_results(job, tmp_path)
    assert report.ok and set(report.copied) == {"stdout.txt", "stderr.txt", "result.txt"}
    assert (tmp_path / "stdout.txt").read_text() == "prologue-ran\nto-out\nepilogue-ran\n"
    assert (tmp_path / "stderr.txt").read_text() == "to-err\n"
    assert (tmp_path / "result.txt").read_text() == "data\n"
    assert job.state == RunState.TERMINATED


async def test_exit_code_and_merged_output(slurm: Harness) -> None:
    job = await slurm.submit(
        command=["bash", "-c", "echo to-out; echo to-err >&2; exit 3"], stdout="both.log", stderr="both.log"
    )
    await slurm.wait([job], lambda: not job.state.is_active, 60, "job failure")
    assert (job.state, job.raw_state, job.exitcode, job.signal) == (RunState.TERMINATING, "FAILED", 3, None)
    assert "exit code 3" in job.reason
    data, _ = await slurm.backend.peek_bytes(job, "both.log")
    assert data.decode().splitlines() == ["to-out", "to-err"]


async def test_cancel_running_job(slurm: Harness) -> None:
    job = await slurm.submit(command=["sleep", "300"])
    await slurm.wait([job], lambda: job.state == RunState.RUNNING, 60, "job start")
    await slurm.backend.cancel_job(job)
    await slurm.wait([job], lambda: not job.state.is_active, 60, "cancellation")
    assert job.state == RunState.TERMINATED
    assert job.raw_state.startswith("CANCELLED") and job.reason == "cancelled"


async def test_cancel_pending_job(slurm: Harness) -> None:
    queues = {q.name: q for q in await slurm.backend.list_queues()}
    cpus = queues["debug"].total_cores
    assert cpus
    filler = await slurm.submit(command=["sleep", "300"], cores=cpus, memory_per_core=100)
    waiting = await slurm.submit(command=["sleep", "300"], memory_per_core=100)
    await slurm.wait(
        [filler, waiting], lambda: filler.state == RunState.RUNNING, 60, "the node-filling job's start"
    )
    assert waiting.state == RunState.SUBMITTED
    assert waiting.raw_state == "PENDING" and waiting.reason in ("Resources", "Priority", "")
    await slurm.backend.cancel_job(waiting)
    await slurm.wait([waiting], lambda: not waiting.state.is_active, 60, "cancellation of the pending job")
    assert (waiting.state, waiting.reason) == (RunState.TERMINATED, "cancelled")
    assert waiting.started is None
    assert filler.state == RunState.RUNNING


@pytest.mark.parametrize("transport_kind", ["local"])
async def test_time_limit_ends_in_timeout(slurm: Harness) -> None:
    # SLURM checks time limits about every 30 s: a 1-minute limit ends after 60-90 s
    job = await slurm.submit(command=["sleep", "600"], walltime=60)
    await slurm.wait([job], lambda: not job.state.is_active, 150, "TIMEOUT")
    assert (job.state, job.raw_state) == (RunState.TERMINATING, "TIMEOUT")
    assert "TIMEOUT" in job.reason


async def test_memory_limit_kill(slurm: Harness) -> None:
    config = _scontrol_config()
    if "task/cgroup" not in config.get("TaskPlugin", ""):
        pytest.skip(f"no cgroup memory enforcement on this cluster (TaskPlugin={config.get('TaskPlugin')})")
    job = await slurm.submit(
        command=["python3", "-c", "import time; x = b'x' * (600 * 1024 * 1024); time.sleep(5)"],
        memory_per_core=100,
    )
    await slurm.wait([job], lambda: not job.state.is_active, 90, "the out-of-memory kill")
    assert (job.state, job.raw_state, job.reason) == (RunState.TERMINATING, "OUT_OF_MEMORY", "out of memory")


async def test_array_job_tasks_listed(slurm: Harness) -> None:
    array_id = await slurm.sbatch("--array=1-3", "-J", "bd-array-test", "--wrap", "sleep 60")
    jobs = await slurm.backend.list_jobs()
    tasks = {j.array_task: j for j in jobs if j.array_id == array_id}
    assert set(tasks) == {"1", "2", "3"}
    for task, info in tasks.items():
        assert info.jobid == f"{array_id}_{task}"
        assert info.name == "bd-array-test" and info.state in (RunState.SUBMITTED, RunState.RUNNING)


async def test_job_submitted_outside_batchdeck_listed(slurm: Harness) -> None:
    name = f"outside-{uuid.uuid4().hex[:6]}"
    jobid = await slurm.sbatch("-J", name, "--wrap", "sleep 60")
    jobs = {j.jobid: j for j in await slurm.backend.list_jobs()}
    assert jobid in jobs
    job = jobs[jobid]
    assert job.name == name and tag_of(job.name) is None
    assert job.queue == "debug" and job.state in (RunState.SUBMITTED, RunState.RUNNING)
    expected_user = "root" if slurm.kind == "local" else "batchtest"
    assert job.user == expected_user and job.submit_time is not None


async def test_queues_listed(slurm: Harness) -> None:
    job = await slurm.submit(command=["sleep", "60"], queue="long")
    squeue_before = slurm.transport.count("squeue")
    queues = {q.name: q for q in await slurm.backend.list_queues()}
    assert slurm.transport.count("squeue") - squeue_before == 1
    assert {"debug", "long"} <= set(queues)
    debug, long = queues["debug"], queues["long"]
    assert debug.is_default and not long.is_default
    assert debug.max_walltime == 3600 and long.max_walltime is None
    assert debug.state == "up" and debug.nodes == 1
    assert debug.total_cores and debug.free_cores is not None and 0 <= debug.free_cores <= debug.total_cores
    assert long.running + long.pending >= 1
    assert slurm.transport.count("sinfo") == 1
    await slurm.backend.cancel_job(job)


async def test_cancel_of_an_id_slurm_does_not_know_loses_nothing(slurm: Harness) -> None:
    # scancel exits 0 for an unknown id; the job stays as it was until accounting
    # (or accounting_delay) decides, instead of being declared cancelled or lost
    job = JobRecord(id=uuid.uuid4().hex[:8], cluster="slurm-test", spec=JobSpec(command=["true"]))
    job.transition(RunState.SUBMITTED, "submitted")
    job.jobid = "999999"
    job.last_seen = time.time()
    await slurm.backend.cancel_job(job)
    assert job.state == RunState.SUBMITTED
    assert slurm.transport.count("scancel") == 1 and slurm.transport.count("sacct") == 1


async def test_burst_of_100_jobs_one_squeue_per_refresh(slurm: Harness) -> None:
    jobs = [await slurm.submit(command=["sleep", "30"], name=f"burst-{i}", walltime=120) for i in range(100)]
    assert len({j.jobid for j in jobs}) == 100
    for _ in range(2):
        before_squeue, before_sacct = slurm.transport.count("squeue"), slurm.transport.count("sacct")
        result = await slurm.backend.update_job_states(jobs)
        assert slurm.transport.count("squeue") - before_squeue == 1
        assert slurm.transport.count("sacct") - before_sacct <= 1
        assert slurm.transport.count("scontrol") == 0
        listed = {j.jobid for j in result.all_jobs}
        assert {j.jobid for j in jobs} <= listed
    assert all(j.state in (RunState.SUBMITTED, RunState.RUNNING) for j in jobs)


async def test_finished_jobs_resolved_by_one_sacct_call(slurm: Harness) -> None:
    jobs = [
        await slurm.submit(command=["bash", "-c", f"exit {rc}"], name=f"rc-{rc}") for rc in (0, 1, 2)
    ]
    await slurm.wait(jobs, lambda: all(not j.state.is_active for j in jobs), 60, "three jobs ending")
    assert [j.exitcode for j in jobs] == [0, 1, 2]
    # every poll that saw jobs missing from squeue asked sacct once for all of them
    assert slurm.transport.count("sacct") <= slurm.transport.count("squeue")
    for argv in slurm.transport.commands:
        if argv[0] == "sacct":
            assert argv[argv.index("-j") + 1].count(",") <= 2


async def test_without_accounting_falls_back_to_scontrol(slurm: Harness) -> None:
    # sacct reads this copy of slurm.conf, says "Slurm accounting storage is disabled"
    # and exits 1, as on a cluster without slurmdbd; the controller still knows the job
    slurm.transport.slurm_conf_for["sacct"] = slurm.conf_with(AccountingStorageType="accounting_storage/none")
    job = await slurm.submit(command=["bash", "-c", "exit 5"])
    await slurm.wait([job], lambda: not job.state.is_active, 60, "job end seen through scontrol")
    assert (job.state, job.raw_state, job.exitcode) == (RunState.TERMINATING, "FAILED", 5)
    assert slurm.transport.count("scontrol") >= 1
    assert slurm.transport.count("scontrol") <= slurm.transport.count("sacct")


@pytest.mark.parametrize("transport_kind", ["local"])
async def test_controller_unreachable_raises_scheduler_error(slurm: Harness) -> None:
    slurm.transport.slurm_conf_for["squeue"] = slurm.conf_with(SlurmctldPort="1")
    job = await slurm.submit(command=["sleep", "60"])
    with pytest.raises(SchedulerError) as caught:
        await slurm.backend.update_job_states([job])
    assert "Unable to contact slurm controller" in str(caught.value)
    assert str(caught.value).startswith("squeue: ")
    assert job.state == RunState.SUBMITTED  # keeps its last state


async def test_job_over_the_partition_limit(slurm: Harness) -> None:
    # the cluster's own max_walltime is unset, so batchdeck lets SLURM judge
    assert slurm.backend.max_walltime is None
    enforce = _scontrol_config().get("EnforcePartLimits", "NO").upper()
    if enforce in ("ALL", "ANY", "YES"):
        with pytest.raises(SchedulerError) as caught:
            await slurm.submit(command=["true"], queue="debug", walltime=2 * 3600)
        assert str(caught.value).startswith("sbatch: ") and "time limit" in str(caught.value).lower()
    else:
        # EnforcePartLimits=NO: SLURM accepts the job and leaves it pending; the reason says why
        job = await slurm.submit(command=["true"], queue="debug", walltime=2 * 3600)
        await slurm.backend.update_job_states([job])
        assert job.state == RunState.SUBMITTED
        # PartitionTimeLimit; the first scheduling pass may say PartitionConfig
        assert re.match(r"Partition(TimeLimit|Config): ", job.reason) and "will not start" in job.reason
    # a request no node of the partition can meet is refused by sbatch itself
    with pytest.raises(SchedulerError) as caught:
        await slurm.submit(command=["true"], queue="debug", memory_per_core=999 * 1024)
    message = str(caught.value)
    assert message.startswith("sbatch: ")
    assert "Memory specification can not be satisfied" in message
    assert "Requested node configuration is not available" in message


async def test_sandbox_is_where_the_job_ran(slurm: Harness) -> None:
    job = await slurm.submit(command=["pwd"])
    await slurm.wait([job], lambda: not job.state.is_active, 60, "job end")
    data, _ = await slurm.backend.peek_bytes(job, "stdout.txt")
    assert job.sandbox and data.decode().strip() == posixpath.normpath(job.sandbox)
