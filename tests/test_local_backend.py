"""The local-process backend's own behaviour: core slots, limits, walltime, lost sandboxes, cluster scripts.

What every backend promises (life cycle, exit codes, signals, cancel, peek, results, free)
is tests/test_contract.py; these run on the same deck fixture, on this machine and
through the real sshd.
"""

from __future__ import annotations

import shutil

import pytest

from batchdeck.backends.errors import LimitExceeded, ParseError
from batchdeck.backends.model import RunState
from batchdeck.backends.schedulers.base import generic_filename_mapping
from batchdeck.backends.schedulers.local import LocalBatchSystem, parse_local_status

from contract import GATE, Deck


@pytest.fixture(params=["local", "local-ssh"])
def deck_kind(request: pytest.FixtureRequest) -> str:
    return request.param


async def test_max_cores_queues_jobs_until_cores_are_free(deck: Deck) -> None:
    backend = deck.another_backend(max_cores=1)
    first = deck.record(command=["/bin/sh", "-c", GATE])
    second = deck.record(command=["/bin/sh", "-c", GATE])
    await backend.submit_job(first)
    await backend.submit_job(second)
    await deck.wait_state(first, RunState.RUNNING, backend=backend)
    await backend.update_job_states([first, second])
    assert second.state == RunState.SUBMITTED
    assert second.reason == "waiting for free cores"
    queues = await backend.list_queues()
    assert (queues[0].total_cores, queues[0].free_cores, queues[0].running, queues[0].pending) == (1, 0, 1, 1)
    await deck.release(second)  # its gate is open, but it must still wait for the core
    await backend.update_job_states([second])
    assert second.state == RunState.SUBMITTED
    await deck.release(first)
    await deck.wait_state(second, {RunState.RUNNING, RunState.TERMINATING}, backend=backend)
    await deck.wait_state(second, RunState.TERMINATING, backend=backend)


async def test_a_job_over_the_limits_fails_before_anything_is_sent(deck: Deck) -> None:
    backend = deck.another_backend(max_cores=8, max_cores_per_job=2, max_memory_per_core=1024, max_walltime=3600)
    cases = [
        ({"cores": 3}, "at most 2 per job (max_cores_per_job)"),
        ({"memory_per_core": 2048}, "at most 1G (max_memory_per_core)"),
        ({"walltime": 7200}, "at most 01:00:00 (max_walltime)"),
    ]
    for spec, message in cases:
        job = deck.record(command=["true"], **spec)
        with pytest.raises(LimitExceeded, match=message.replace("(", r"\(").replace(")", r"\)")):
            await backend.submit_job(job)
        assert job.state == RunState.NEW
        assert await deck.transport.inner.stat(f"{deck.sandbox_root}/{job.id}") is None


async def test_walltime_is_enforced(deck: Deck) -> None:
    job = await deck.shell("sleep 30", walltime=1)
    await deck.wait_state(job, RunState.TERMINATING, timeout=20)
    assert job.reason == "walltime exceeded"


async def test_job_unknown_after_its_sandbox_vanishes(deck: Deck) -> None:
    backend = deck.another_backend(accounting_delay=0)
    job = deck.record(command=["true"])
    await backend.submit_job(job)
    await deck.wait_state(job, RunState.TERMINATING, backend=backend)
    job.state = RunState.RUNNING  # as if the journal had last seen it running
    # Both transports reach this machine's filesystem.
    shutil.rmtree(job.sandbox or "")
    await backend.update_job_states([job])
    assert job.state == RunState.UNKNOWN


async def test_prologue_and_epilogue_are_merged_around_the_job(deck: Deck) -> None:
    backend = deck.another_backend(prologue="echo cluster-prologue", epilogue="echo cluster-epilogue")
    job = deck.record(
        command=["/bin/sh", "-c", "echo job; exit 4"], prologue="echo job-prologue", epilogue="echo job-epilogue"
    )
    assert backend.get_prologue_script(job) == "echo cluster-prologue\necho job-prologue"
    assert backend.get_epilogue_script(job) == "echo job-epilogue\necho cluster-epilogue"
    await backend.submit_job(job)
    await deck.wait_state(job, RunState.TERMINATING, backend=backend)
    data, _ = await backend.peek_bytes(job, "stdout.txt")
    out = data.decode().split()
    assert out == ["cluster-prologue", "job-prologue", "job", "job-epilogue", "cluster-epilogue"]
    assert job.exitcode == 4  # the epilogue does not hide the job's exit status


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
