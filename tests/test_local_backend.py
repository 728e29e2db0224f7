"""The local-process backend on real processes: life cycle, exit codes, signals, cancel, peek, results, limits."""

from __future__ import annotations

import io
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from batchdeck.backends.errors import BatchdeckError, LimitExceeded, ParseError, UnsafePath
from batchdeck.backends.model import JobRecord, JobSpec, RunState
from batchdeck.backends.schedulers.base import generic_filename_mapping
from batchdeck.backends.schedulers.local import LocalBatchSystem, parse_local_status
from batchdeck.backends.transports.base import Transport

from helpers import eventually, process_gone, wait_state

GATE = "while [ ! -e go ]; do sleep 0.05; done"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "sandboxes"
    path.mkdir()
    return path


@pytest.fixture
async def backend(cluster_transport: Transport, shared_sandbox_root: str) -> AsyncIterator[LocalBatchSystem]:
    """The backend on this machine, and again on the sshd's host through the real SSH transport."""
    system = LocalBatchSystem("test", transport=cluster_transport, sandbox_root=shared_sandbox_root, max_cores=4)
    yield system
    await system.close()


_counter = iter(range(10**6))


def new_job(spec: JobSpec) -> JobRecord:
    return JobRecord(id=f"t{next(_counter):07d}", cluster="test", spec=spec)


def shell_job(script: str, **kwargs: object) -> JobRecord:
    return new_job(JobSpec(command=["/bin/sh", "-c", script], **kwargs))  # type: ignore[arg-type]


def release(job: JobRecord) -> None:
    # Both transports reach this machine's filesystem, so the test opens the gate directly.
    assert job.sandbox
    Path(job.sandbox, "go").touch()


async def test_life_cycle_new_submitted_running_terminating_terminated(backend: LocalBatchSystem, tmp_path: Path) -> None:
    job = shell_job(f"{GATE}; echo out; echo err >&2; echo data > result.txt", name="life")
    assert job.state == RunState.NEW
    await backend.submit_job(job)
    assert job.state == RunState.SUBMITTED
    assert job.jobid == job.id
    await wait_state(backend, job, RunState.RUNNING)
    release(job)
    await wait_state(backend, job, RunState.TERMINATING)
    assert job.exitcode == 0 and job.signal is None
    download = tmp_path / "dl"
    download.mkdir()
    report = await backend.get_results(job, download)
    assert sorted(report.copied) == ["go", "result.txt", "stderr.txt", "stdout.txt"]
    assert (download / "result.txt").read_text() == "data\n"
    assert (download / "stdout.txt").read_text() == "out\n"
    assert (download / "stderr.txt").read_text() == "err\n"
    assert not (download / ".batchdeck").exists()
    assert job.state == RunState.TERMINATED
    assert [t.new for t in job.history] == [
        RunState.SUBMITTED,
        RunState.RUNNING,
        RunState.TERMINATING,
        RunState.TERMINATED,
    ]


async def test_exit_code_3_is_reported_as_3(backend: LocalBatchSystem) -> None:
    job = shell_job("exit 3")
    await backend.submit_job(job)
    await wait_state(backend, job, RunState.TERMINATING)
    assert job.exitcode == 3
    assert job.signal is None


async def test_job_killed_by_a_signal_reports_the_signal(backend: LocalBatchSystem) -> None:
    job = shell_job("kill -KILL $$")
    await backend.submit_job(job)
    await wait_state(backend, job, RunState.TERMINATING)
    assert job.signal == 9
    assert "signal 9" in job.reason


async def test_cancel_running_sleep_ends_it_and_its_children(backend: LocalBatchSystem) -> None:
    job = shell_job("sleep 300 & echo $! > child.pid; sleep 300 & echo $! >> child.pid; wait")
    await backend.submit_job(job)
    await wait_state(backend, job, RunState.RUNNING)
    pid_file = Path(job.sandbox or "", "child.pid")
    await eventually(lambda: pid_file.exists() and len(pid_file.read_text().split()) == 2, what="child pids")
    children = [int(p) for p in pid_file.read_text().split()]
    assert not any(process_gone(p) for p in children)
    await backend.cancel_job(job)
    await wait_state(backend, job, RunState.TERMINATED)
    assert job.reason == "cancelled"
    await eventually(lambda: all(process_gone(p) for p in children), 10, "the job's children to end")


async def test_cancel_of_a_finished_job_is_refused(backend: LocalBatchSystem) -> None:
    job = shell_job("true")
    await backend.submit_job(job)
    await wait_state(backend, job, RunState.TERMINATING)
    with pytest.raises(BatchdeckError, match="nothing to cancel"):
        await backend.cancel_job(job)


async def test_max_cores_queues_jobs_until_cores_are_free(root: Path) -> None:
    backend = LocalBatchSystem("one-core", sandbox_root=str(root), max_cores=1)
    first = shell_job(GATE)
    second = shell_job(GATE)
    await backend.submit_job(first)
    await backend.submit_job(second)
    await wait_state(backend, first, RunState.RUNNING)
    await backend.update_job_states([first, second])
    assert second.state == RunState.SUBMITTED
    assert second.reason == "waiting for free cores"
    queues = await backend.list_queues()
    assert (queues[0].total_cores, queues[0].free_cores, queues[0].running, queues[0].pending) == (1, 0, 1, 1)
    release(second)  # its gate is open, but it must still wait for the core
    await backend.update_job_states([second])
    assert second.state == RunState.SUBMITTED
    release(first)
    await wait_state(backend, second, {RunState.RUNNING, RunState.TERMINATING})
    await wait_state(backend, second, RunState.TERMINATING)


async def test_a_job_over_the_limits_fails_before_anything_is_sent(root: Path) -> None:
    backend = LocalBatchSystem(
        "small", sandbox_root=str(root), max_cores=8, max_cores_per_job=2, max_memory_per_core=1024, max_walltime=3600
    )
    cases = [
        (JobSpec(command=["true"], cores=3), "at most 2 per job (max_cores_per_job)"),
        (JobSpec(command=["true"], memory_per_core=2048), "at most 1G (max_memory_per_core)"),
        (JobSpec(command=["true"], walltime=7200), "at most 01:00:00 (max_walltime)"),
    ]
    for spec, message in cases:
        job = new_job(spec)
        with pytest.raises(LimitExceeded, match=message.replace("(", r"\(").replace(")", r"\)")):
            await backend.submit_job(job)
        assert job.state == RunState.NEW
        assert not (root / job.id).exists()


async def test_walltime_is_enforced(backend: LocalBatchSystem) -> None:
    job = shell_job("sleep 30", walltime=1)
    await backend.submit_job(job)
    await wait_state(backend, job, RunState.TERMINATING, timeout=20)
    assert job.reason == "walltime exceeded"


async def test_peek_offsets_and_sizes(backend: LocalBatchSystem, tmp_path: Path) -> None:
    content = bytes(range(256)) * 4
    source = tmp_path / "payload.bin"
    source.write_bytes(content)
    job = shell_job("cat payload.bin", inputs={str(source): "payload.bin"}, stdout="out.bin")
    await backend.submit_job(job)
    await wait_state(backend, job, RunState.TERMINATING)
    cases = [
        (0, None, content),
        (0, 10, content[:10]),
        (100, 50, content[100:150]),
        (1000, None, content[1000:]),
        (-24, None, content[-24:]),
        (-24, 4, content[-24:-20]),
        (5000, None, b""),
        (-5000, 3, content[:3]),
    ]
    for offset, size, expected in cases:
        stream = io.BytesIO(b"prefix")
        stream.seek(0, io.SEEK_END)
        total = await backend.peek(job, "out.bin", stream, offset=offset, size=size)
        assert total == len(content)
        assert stream.getvalue() == b"prefix" + expected, (offset, size)
        assert stream.tell() == len(b"prefix") + len(expected)
    target = tmp_path / "peeked"
    target.write_bytes(b"old content that is longer")
    await backend.peek(job, "out.bin", str(target), offset=-3)
    assert target.read_bytes() == content[-3:]


async def test_peek_follows_a_growing_file(backend: LocalBatchSystem) -> None:
    job = shell_job(f"echo one; {GATE}; echo two")
    await backend.submit_job(job)
    await wait_state(backend, job, RunState.RUNNING)

    async def has_first_line() -> bool:
        data, _size = await backend.peek_bytes(job, "stdout.txt")
        return data == b"one\n"

    await eventually(has_first_line, what="the first line of output")
    _data, size = await backend.peek_bytes(job, "stdout.txt")
    release(job)
    await wait_state(backend, job, RunState.TERMINATING)
    tail, total = await backend.peek_bytes(job, "stdout.txt", offset=size)
    assert (tail, total) == (b"two\n", size + 4)


async def test_peek_refuses_paths_outside_the_sandbox(backend: LocalBatchSystem) -> None:
    job = shell_job("true")
    await backend.submit_job(job)
    with pytest.raises(UnsafePath):
        await backend.peek(job, "../../etc/passwd", io.BytesIO())


async def _finished_job_with_files(backend: LocalBatchSystem, files: dict[str, str]) -> JobRecord:
    script = "; ".join(f"printf %s {content!r} > {name}" for name, content in files.items())
    job = shell_job(script)
    await backend.submit_job(job)
    await wait_state(backend, job, RunState.TERMINATING)
    return job


async def test_get_results_overwrite_and_changed_only_semantics(backend: LocalBatchSystem, tmp_path: Path) -> None:
    files = {"same.txt": "12345", "newer.txt": "abcde", "resized.txt": "longer content", "missing.txt": "x"}
    job = await _finished_job_with_files(backend, files)
    sandbox = Path(job.sandbox or "")
    now = time.time()
    for name in files:
        os.utime(sandbox / name, (now - 100, now - 100))
    download = tmp_path / "dl"
    download.mkdir()

    def local(name: str, content: str, mtime: float) -> None:
        (download / name).write_text(content)
        os.utime(download / name, (mtime, mtime))

    def prepare() -> None:
        local("same.txt", "LOCAL", now - 50)  # same size, source older -> kept when changed_only
        local("newer.txt", "LOCAL", now - 200)  # same size, source newer -> replaced
        local("resized.txt", "LOCAL", now)  # different size -> replaced
        (download / "missing.txt").unlink(missing_ok=True)
        for name in ("stdout.txt", "stderr.txt"):
            (download / name).unlink(missing_ok=True)

    prepare()
    report = await backend.get_results(job, download, overwrite=False)
    assert sorted(report.copied) == ["missing.txt", "stderr.txt", "stdout.txt"]
    assert sorted(report.skipped) == ["newer.txt", "resized.txt", "same.txt"]
    assert (download / "newer.txt").read_text() == "LOCAL"

    prepare()
    report = await backend.get_results(job, download, overwrite=True, changed_only=True)
    assert sorted(report.copied) == ["missing.txt", "newer.txt", "resized.txt", "stderr.txt", "stdout.txt"]
    assert report.skipped == ["same.txt"]
    assert (download / "same.txt").read_text() == "LOCAL"
    assert (download / "newer.txt").read_text() == "abcde"
    assert (download / "resized.txt").read_text() == "longer content"
    # The downloaded copy keeps the source's mtime, so an unchanged rerun copies nothing.
    assert (download / "newer.txt").stat().st_mtime == pytest.approx(now - 100, abs=1)
    again = await backend.get_results(job, download, overwrite=True, changed_only=True)
    assert again.copied == []

    prepare()
    report = await backend.get_results(job, download, overwrite=True, changed_only=False)
    assert sorted(report.copied) == sorted([*files, "stdout.txt", "stderr.txt"])
    assert (download / "same.txt").read_text() == "12345"


async def test_get_results_fetches_only_declared_outputs(backend: LocalBatchSystem, tmp_path: Path) -> None:
    job = shell_job("mkdir -p sub; echo a > sub/a.txt; echo b > b.txt", outputs=["sub/a.txt", "absent.txt"])
    await backend.submit_job(job)
    await wait_state(backend, job, RunState.TERMINATING)
    download = tmp_path / "dl"
    download.mkdir()
    report = await backend.get_results(job, download)
    assert sorted(report.copied) == ["stderr.txt", "stdout.txt", "sub/a.txt"]
    assert report.failed == {"absent.txt": "not found in the sandbox"}
    assert not (download / "b.txt").exists()
    # A failed file keeps the job TERMINATING so the user can retry.
    assert job.state == RunState.TERMINATING


async def test_get_results_needs_an_existing_directory(backend: LocalBatchSystem, tmp_path: Path) -> None:
    job = shell_job("true")
    await backend.submit_job(job)
    with pytest.raises(BatchdeckError, match="does not exist"):
        await backend.get_results(job, tmp_path / "nope")


async def test_free_refuses_unless_terminated_and_outside_the_root(backend: LocalBatchSystem, tmp_path: Path) -> None:
    job = shell_job(GATE)
    await backend.submit_job(job)
    with pytest.raises(BatchdeckError, match="only TERMINATED jobs can be freed"):
        await backend.free(job)
    release(job)
    await wait_state(backend, job, RunState.TERMINATING)
    with pytest.raises(BatchdeckError, match="only TERMINATED jobs can be freed"):
        await backend.free(job)
    download = tmp_path / "dl"
    download.mkdir()
    await backend.get_results(job, download)
    assert job.state == RunState.TERMINATED
    sandbox = Path(job.sandbox or "")
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    for bad in (str(outside), backend.sandbox_root, f"{backend.sandbox_root}/../precious"):
        job.sandbox = bad
        with pytest.raises(UnsafePath):
            await backend.free(job)
    assert (outside / "keep.txt").exists()
    job.sandbox = str(sandbox)
    await backend.free(job)
    assert not sandbox.exists()


async def test_job_unknown_after_its_sandbox_vanishes(root: Path) -> None:
    backend = LocalBatchSystem("test", sandbox_root=str(root), accounting_delay=0)
    job = shell_job("true")
    await backend.submit_job(job)
    await wait_state(backend, job, RunState.TERMINATING)
    job.state = RunState.RUNNING  # as if the journal had last seen it running
    import shutil

    shutil.rmtree(job.sandbox or "")
    await backend.update_job_states([job])
    assert job.state == RunState.UNKNOWN


async def test_list_jobs_and_queues(backend: LocalBatchSystem) -> None:
    job = shell_job(GATE, name="listed job")
    await backend.submit_job(job)
    await wait_state(backend, job, RunState.RUNNING)
    listed = {j.jobid: j for j in await backend.list_jobs()}
    assert listed[job.id].name == f"bd-{job.id}-listed_job"
    assert listed[job.id].state == RunState.RUNNING
    assert listed[job.id].queue == "local"
    queues = await backend.list_queues()
    assert queues[0].name == "local" and queues[0].running >= 1
    release(job)


async def test_prologue_and_epilogue_are_merged_around_the_job(root: Path) -> None:
    backend = LocalBatchSystem(
        "pe", sandbox_root=str(root), prologue="echo cluster-prologue", epilogue="echo cluster-epilogue"
    )
    job = shell_job("echo job; exit 4", prologue="echo job-prologue", epilogue="echo job-epilogue")
    assert backend.get_prologue_script(job) == "echo cluster-prologue\necho job-prologue"
    assert backend.get_epilogue_script(job) == "echo job-epilogue\necho cluster-epilogue"
    await backend.submit_job(job)
    await wait_state(backend, job, RunState.TERMINATING)
    out = Path(job.sandbox or "", "stdout.txt").read_text().split()
    assert out == ["cluster-prologue", "job-prologue", "job", "job-epilogue", "cluster-epilogue"]
    assert job.exitcode == 4  # the epilogue does not hide the job's exit status


async def test_script_jobs_get_their_arguments(backend: LocalBatchSystem) -> None:
    job = new_job(JobSpec(script="#!/bin/sh\necho \"$#:$1:$2\"\n", arguments=["a b", "c"]))
    await backend.submit_job(job)
    await wait_state(backend, job, RunState.TERMINATING)
    assert Path(job.sandbox or "", "stdout.txt").read_text() == "2:a b:c\n"


def test_generic_filename_mapping() -> None:
    assert generic_filename_mapping("job", "42", "$PBS_JOBID.O") == "job.o42"
    assert generic_filename_mapping("job", "42", "$PBS_JOBID.E") == "job.e42"
    assert generic_filename_mapping("job", "42", "results.txt") == "results.txt"


def test_get_jobid_from_submit_output() -> None:
    backend = LocalBatchSystem("x")
    assert backend.get_jobid_from_submit_output("Submitted batch job 123\n", r"job (\d+)") == "123"
    with pytest.raises(ParseError, match="no job id found"):
        backend.get_jobid_from_submit_output("sbatch: error: nope", r"job (\d+)")


def test_validate_data() -> None:
    backend = LocalBatchSystem("x")
    assert backend.validate_data(["/tmp/a", "file:///tmp/b", "relative.txt"])
    assert not backend.validate_data(["/tmp/a", "gsiftp://host/file"])


def test_status_parser_rejects_garbage_with_a_parse_error() -> None:
    with pytest.raises(ParseError):
        parse_local_status("id\x1fonly-two-fields\x1e")
    assert parse_local_status("") == []
