"""The local-process backend's whole job life cycle on the frontend, over the real sshd.

Every file operation and command goes through SshTransport: the jobs run as the
ssh test user on the sshd's host, batchdeck only sees them through the connection.
"""

from __future__ import annotations

import io
import os
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from batchdeck.backends.errors import BatchdeckError, UnsafePath
from batchdeck.backends.local import LocalBatchSystem
from batchdeck.backends.model import JobRecord, JobSpec, RunState
from batchdeck.backends.transport import Transport

from conftest import make_ssh_transport
from helpers import eventually, wait_state

pytestmark = pytest.mark.ssh

# Waits for the test to create "go" in the sandbox; gives up after ~30 s so a
# failed test never leaves a job spinning on the frontend.
GATE = 'i=0; while [ ! -e go ] && [ "$i" -lt 600 ]; do sleep 0.05; i=$((i+1)); done'
INPUT_NAME = "in put 'q' $(touch pwned) ü.txt"

_counter = iter(range(10**6))


@pytest.fixture
async def transport(sshd_env: dict[str, str]) -> AsyncIterator[Transport]:
    ssh = make_ssh_transport(sshd_env)
    yield ssh
    await ssh.close()


@pytest.fixture
async def backend(transport: Transport, sshd_env: dict[str, str]) -> AsyncIterator[LocalBatchSystem]:
    root = f"/home/{sshd_env['SSHD_USER']}/batchdeck-test/life-{uuid.uuid4().hex[:8]}"
    system = LocalBatchSystem("t", transport=transport, sandbox_root=root, max_cores=2)
    yield system
    await transport.remove_tree(root)
    await system.close()


def shell_job(script: str, **kwargs: object) -> JobRecord:
    spec = JobSpec(command=["/bin/sh", "-c", script], **kwargs)  # type: ignore[arg-type]
    return JobRecord(id=f"s{next(_counter):07d}", cluster="t", spec=spec)


async def release(transport: Transport, job: JobRecord) -> None:
    assert job.sandbox
    await transport.write_file(f"{job.sandbox}/go", b"")


async def test_life_cycle_over_ssh(backend: LocalBatchSystem, transport: Transport, tmp_path: Path) -> None:
    source = tmp_path / "input.txt"
    source.write_text("from the client\n")
    script = f'{GATE}; cat "$1"; echo err >&2; mkdir -p sub; echo data > sub/result.txt'
    job = shell_job(script, name="life", inputs={str(source): INPUT_NAME})
    job.spec.command += ["sh", INPUT_NAME]
    await backend.submit_job(job)
    assert job.state == RunState.SUBMITTED and job.jobid == job.id
    assert job.sandbox and job.sandbox.startswith(backend.sandbox_root + "/")
    await wait_state(backend, job, RunState.RUNNING)
    await release(transport, job)
    await wait_state(backend, job, RunState.TERMINATING)
    assert job.exitcode == 0 and job.signal is None

    download = tmp_path / "dl"
    download.mkdir()
    report = await backend.get_results(job, download)
    assert sorted(report.copied) == sorted(["go", INPUT_NAME, "stderr.txt", "stdout.txt", "sub/result.txt"])
    assert report.failed == {}
    assert (download / "stdout.txt").read_text() == "from the client\n"
    assert (download / "stderr.txt").read_text() == "err\n"
    assert (download / "sub" / "result.txt").read_text() == "data\n"
    assert not (download / ".batchdeck").exists()
    assert job.state == RunState.TERMINATED
    assert [t.new for t in job.history] == [
        RunState.SUBMITTED,
        RunState.RUNNING,
        RunState.TERMINATING,
        RunState.TERMINATED,
    ]
    assert await transport.stat(f"{job.sandbox}/pwned") is None
    assert await transport.stat(f"{await transport.home()}/pwned") is None

    await backend.free(job)
    assert await transport.stat(job.sandbox) is None


async def test_exit_code_and_signal_over_ssh(backend: LocalBatchSystem) -> None:
    failing = shell_job("exit 3")
    killed = shell_job("kill -KILL $$")
    await backend.submit_job(failing)
    await backend.submit_job(killed)
    await wait_state(backend, failing, RunState.TERMINATING)
    await wait_state(backend, killed, RunState.TERMINATING)
    assert failing.exitcode == 3
    assert killed.signal == 9


async def test_cancel_over_ssh_ends_the_job_and_its_children(
    backend: LocalBatchSystem, transport: Transport
) -> None:
    job = shell_job("sleep 300 & echo $! > child.pid; sleep 300 & echo $! >> child.pid; wait")
    await backend.submit_job(job)
    await wait_state(backend, job, RunState.RUNNING)
    pid_file = f"{job.sandbox}/child.pid"

    async def two_pids() -> bool:
        st = await transport.stat(pid_file)
        return st is not None and len((await transport.read_range(pid_file))[0].split()) == 2

    await eventually(two_pids, what="the job's child pids")
    pids = (await transport.read_range(pid_file))[0].decode().split()

    async def alive_count() -> int:
        # a zombie awaiting its reaper counts as gone
        check = 'n=0; for p; do s=$(ps -o stat= -p "$p" 2>/dev/null); case $s in ""|Z*) ;; *) n=$((n+1));; esac; done; echo $n'
        return int((await transport.run(["sh", "-c", check, "sh", *pids])).stdout)

    assert await alive_count() == 2
    await backend.cancel_job(job)
    await wait_state(backend, job, RunState.TERMINATED)
    assert job.reason == "cancelled"

    async def all_gone() -> bool:
        return await alive_count() == 0

    await eventually(all_gone, 10, "the job's children to end")


async def test_peek_with_offsets_over_ssh(backend: LocalBatchSystem, tmp_path: Path) -> None:
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
        stream = io.BytesIO()
        total = await backend.peek(job, "out.bin", stream, offset=offset, size=size)
        assert total == len(content)
        assert stream.getvalue() == expected, (offset, size)
    with pytest.raises(UnsafePath):
        await backend.peek(job, "../../../etc/passwd", io.BytesIO())


async def test_peek_follows_a_growing_file(backend: LocalBatchSystem, transport: Transport) -> None:
    job = shell_job(f"echo one; {GATE}; echo two")
    await backend.submit_job(job)
    await wait_state(backend, job, RunState.RUNNING)

    async def has_first_line() -> bool:
        data, _size = await backend.peek_bytes(job, "stdout.txt")
        return data == b"one\n"

    await eventually(has_first_line, what="the first line of output")
    data, size = await backend.peek_bytes(job, "stdout.txt")
    await release(transport, job)
    await wait_state(backend, job, RunState.TERMINATING)
    tail, total = await backend.peek_bytes(job, "stdout.txt", offset=size)
    assert (tail, total) == (b"two\n", size + 4)


async def test_get_results_overwrite_and_changed_only_over_ssh(
    backend: LocalBatchSystem, transport: Transport, tmp_path: Path
) -> None:
    files = {"same.txt": "12345", "newer.txt": "abcde", "resized.txt": "longer content", "missing.txt": "x"}
    script = "; ".join(f"printf %s {content!r} > {name}" for name, content in files.items())
    job = shell_job(script)
    await backend.submit_job(job)
    await wait_state(backend, job, RunState.TERMINATING)
    now = time.time()
    stamp = f"@{now - 100:.3f}"
    result = await transport.run(["touch", "-d", stamp, *files], cwd=job.sandbox)
    assert result.ok, result.stderr
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
    # the remote mtime is kept exactly, so an unchanged rerun copies nothing
    assert (download / "newer.txt").stat().st_mtime == pytest.approx(now - 100, abs=0.01)
    again = await backend.get_results(job, download, overwrite=True, changed_only=True)
    assert again.copied == []

    prepare()
    report = await backend.get_results(job, download, overwrite=True, changed_only=False)
    assert sorted(report.copied) == sorted([*files, "stdout.txt", "stderr.txt"])
    assert (download / "same.txt").read_text() == "12345"
    assert job.state == RunState.TERMINATED


async def test_get_results_declared_outputs_over_ssh(backend: LocalBatchSystem, tmp_path: Path) -> None:
    job = shell_job("mkdir -p sub; echo a > sub/a.txt; echo b > b.txt", outputs=["sub/a.txt", "absent.txt"])
    await backend.submit_job(job)
    await wait_state(backend, job, RunState.TERMINATING)
    download = tmp_path / "dl"
    download.mkdir()
    report = await backend.get_results(job, download)
    assert sorted(report.copied) == ["stderr.txt", "stdout.txt", "sub/a.txt"]
    assert report.failed == {"absent.txt": "not found in the sandbox"}
    assert not (download / "b.txt").exists()
    assert job.state == RunState.TERMINATING


async def test_free_over_ssh_only_inside_the_root(
    backend: LocalBatchSystem, transport: Transport, tmp_path: Path
) -> None:
    job = shell_job(GATE)
    await backend.submit_job(job)
    with pytest.raises(BatchdeckError, match="only TERMINATED jobs can be freed"):
        await backend.free(job)
    await release(transport, job)
    await wait_state(backend, job, RunState.TERMINATING)
    download = tmp_path / "dl"
    download.mkdir()
    await backend.get_results(job, download)
    assert job.state == RunState.TERMINATED
    sandbox = job.sandbox
    assert sandbox
    for bad in (await transport.home(), backend.sandbox_root, f"{backend.sandbox_root}/../elsewhere"):
        job.sandbox = bad
        with pytest.raises(UnsafePath):
            await backend.free(job)
    job.sandbox = sandbox
    await backend.free(job)
    assert await transport.stat(sandbox) is None
    assert await transport.stat(backend.sandbox_root) is not None


async def test_queues_and_job_list_over_ssh(backend: LocalBatchSystem, transport: Transport) -> None:
    job = shell_job(GATE, cores=2)
    await backend.submit_job(job)
    await wait_state(backend, job, RunState.RUNNING)
    queues = await backend.list_queues()
    assert queues[0].total_cores == 2 and queues[0].running == 1 and queues[0].free_cores == 0
    listed = [j.jobid for j in await backend.list_jobs()]
    assert job.jobid in listed
    await release(transport, job)
    await wait_state(backend, job, RunState.TERMINATING)
