"""The local-process backend's whole job life cycle on the frontend, over the real sshd.

Every file operation and command goes through SshTransport: the jobs run as the
ssh test user on the sshd's host, batchdeck only sees them through the connection.
(tests/test_local_backend.py runs every other local-backend test over both
transports; this one adds a hostile input name carried through the connection.)
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from batchdeck.backends.model import JobRecord, JobSpec, RunState
from batchdeck.backends.schedulers.local import LocalBatchSystem
from batchdeck.backends.transports.base import Transport

from conftest import make_ssh_transport
from helpers import wait_state

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
