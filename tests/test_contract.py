"""One contract, every backend: what BatchSystem promises, asserted on each kind of tests/contract.py.

The model is PSI/J's tests/test_executor.py: the same scenarios, parametrised over the
executors. Each test runs on local, local over SSH, SLURM, SLURM over SSH, Grid Engine,
Grid Engine over SSH (the real daemons of this machine) and PBS Pro, TORQUE and LSF (the
labelled test double). A kind whose daemon is missing is skipped with the reason (a
failure when BATCHDECK_REQUIRE names it); a scenario a kind cannot play says why.
"""

from __future__ import annotations

import io
import os
import re
import signal
import time
from pathlib import Path

import pytest

from batchdeck.backends.errors import BatchdeckError, RemoteFileNotFound, UnsafePath
from batchdeck.backends.model import JobRecord, Outcome, RunState
from batchdeck.backends.schedulers import exit_status
from batchdeck.backends.schedulers.base import tag_of

from contract import GATE, Deck
from helpers import eventually, process_gone

DONE = (RunState.TERMINATING, RunState.TERMINATED)


#: the queue a job lands in when it names none
DEFAULT_QUEUE = {"local": "local", "slurm": "debug", "sge": "all.q", "pbs": "workq", "lsf": "normal"}

#: What each scheduler itself says of a job, where the old per-scheduler tests pinned it:
#: scenario -> scheduler (or kind) -> (raw_state, reason); None leaves that part unchecked.
SCHEDULER_SAYS: dict[str, dict[str, tuple[str | None, str | None]]] = {
    "done": {"slurm": ("COMPLETED", ""), "sge": ("finished", None), "pbspro": ("F", None), "torque": ("C", None),
             "lsf": ("DONE", None)},
    "exit 3": {"slurm": ("FAILED", None), "pbspro": ("F", "exit code 3"), "torque": ("C", "exit code 3"),
               "lsf": ("EXIT", "exit code 3")},
    "cancelled": {"slurm": ("CANCELLED*", "cancelled"), "lsf": ("EXIT", "cancelled")},
}


def check_scheduler_says(deck: Deck, scenario: str, job: JobRecord) -> None:
    expected = SCHEDULER_SAYS[scenario].get(deck.kind.removesuffix("-ssh")) or SCHEDULER_SAYS[scenario].get(
        deck.scheduler
    )
    if expected is None:
        return
    raw, reason = expected
    if raw is not None and raw.endswith("*"):
        assert job.raw_state.startswith(raw[:-1]), (scenario, job.raw_state)
    elif raw is not None:
        assert job.raw_state == raw, (scenario, job.raw_state)
    if reason is not None:
        assert job.reason == reason, (scenario, job.reason)


def known_bug(request: pytest.FixtureRequest, why: str) -> None:
    """Mark this run as failing on a backend bug (reported, not fixed here: backends/ is another branch's).

    The test still runs; strict, so it turns into a failure (XPASS) once the bug is fixed and the
    mark must go.
    """
    request.applymarker(pytest.mark.xfail(strict=True, reason=f"BUG: {why}"))


# ---------------------------------------------------------------------------- submit, outputs, exit codes


async def test_life_cycle_new_submitted_running_terminating_terminated(deck: Deck, tmp_path: Path) -> None:
    job = deck.record(command=["/bin/sh", "-c", f"{GATE}; echo to-out; echo to-err >&2; echo data > result.txt"])
    assert job.state == RunState.NEW
    await deck.backend.submit_job(job)
    assert job.state == RunState.SUBMITTED and job.jobid
    if deck.scheduler == "local":
        assert job.jobid == job.id
    assert job.sandbox and job.sandbox.startswith(deck.backend.sandbox_root + "/")
    await deck.wait_state(job, RunState.RUNNING)
    await deck.release(job)
    await deck.wait_state(job, RunState.TERMINATING)
    assert (job.outcome, job.exitcode, job.signal) == (Outcome.OK, 0, None)
    check_scheduler_says(deck, "done", job)
    report = await deck.backend.get_results(job, tmp_path)
    assert report.ok, report.failed
    assert sorted(report.copied) == ["go", "result.txt", "stderr.txt", "stdout.txt"]
    assert (tmp_path / "stdout.txt").read_text() == "to-out\n"
    assert (tmp_path / "stderr.txt").read_text() == "to-err\n"
    assert (tmp_path / "result.txt").read_text() == "data\n"
    assert not (tmp_path / ".batchdeck").exists()
    assert job.state == RunState.TERMINATED
    assert [t.new for t in job.history] == [
        RunState.SUBMITTED,
        RunState.RUNNING,
        RunState.TERMINATING,
        RunState.TERMINATED,
    ]


async def test_prologue_epilogue_and_declared_outputs(deck: Deck, tmp_path: Path) -> None:
    job = await deck.shell(
        "mkdir -p sub; echo a > sub/a.txt; echo b > b.txt; echo job",
        prologue="echo prologue-ran",
        epilogue="echo epilogue-ran",
        outputs=["sub/a.txt", "absent.txt"],
        cores=1,
        memory_per_core=200,
    )
    await deck.wait_state(job, RunState.TERMINATING)
    report = await deck.backend.get_results(job, tmp_path)
    assert sorted(report.copied) == ["stderr.txt", "stdout.txt", "sub/a.txt"]
    assert report.failed == {} and report.missing == ["absent.txt"] and not report.ok
    assert (tmp_path / "stdout.txt").read_text() == "prologue-ran\njob\nepilogue-ran\n"
    assert (tmp_path / "sub" / "a.txt").read_text() == "a\n"
    assert not (tmp_path / "b.txt").exists()
    # A declared output the job did not write is reported, and does not block (#11 item 4): the
    # results are fetched, the job is TERMINATED, and free works.
    assert job.state == RunState.TERMINATED



async def test_a_declared_output_folder_is_downloaded_whole(deck: Deck, tmp_path: Path) -> None:
    job = await deck.shell("mkdir -p res/deep; echo a > res/a.txt; echo b > res/deep/b.txt; echo c > other.txt", outputs=["res"])
    await deck.wait_state(job, RunState.TERMINATING)
    report = await deck.backend.get_results(job, tmp_path)
    assert sorted(report.copied) == ["res/a.txt", "res/deep/b.txt", "stderr.txt", "stdout.txt"], report.failed
    assert (tmp_path / "res" / "deep" / "b.txt").read_text() == "b\n"
    assert not (tmp_path / "other.txt").exists()
    assert job.state == RunState.TERMINATED

#: an input file name a shell would take apart (and run a command from) if it were ever unquoted
HOSTILE_NAME = "in put 'q' $(touch pwned) ü.txt"


async def test_inputs_with_a_hostile_name_arrive_intact(deck: Deck, tmp_path: Path) -> None:
    source = tmp_path / "input.txt"
    source.write_text("from the client\n")
    script = 'cat "$1"; echo err >&2; mkdir -p sub; echo data > sub/result.txt'
    job = await deck.submit(command=["/bin/sh", "-c", script, "sh", HOSTILE_NAME], inputs={str(source): HOSTILE_NAME})
    await deck.wait_state(job, RunState.TERMINATING)
    assert (job.exitcode, job.signal) == (0, None)
    download = tmp_path / "dl"
    download.mkdir()
    report = await deck.backend.get_results(job, download)
    assert sorted(report.copied) == sorted([HOSTILE_NAME, "stderr.txt", "stdout.txt", "sub/result.txt"])
    assert report.failed == {}
    assert (download / HOSTILE_NAME).read_text() == "from the client\n"
    assert (download / "stdout.txt").read_text() == "from the client\n"
    assert (download / "stderr.txt").read_text() == "err\n"
    assert (download / "sub" / "result.txt").read_text() == "data\n"
    assert job.state == RunState.TERMINATED
    assert await deck.transport.inner.stat(f"{job.sandbox}/pwned") is None
    assert await deck.transport.inner.stat(f"{await deck.transport.inner.home()}/pwned") is None
    await deck.backend.free(job)
    assert await deck.transport.inner.stat(job.sandbox or "") is None


async def test_script_jobs_get_their_arguments(deck: Deck) -> None:
    job = await deck.submit(script='#!/bin/sh\necho "$#:$1:$2"\n', arguments=["a b", "c"])
    await deck.wait_state(job, RunState.TERMINATING)
    data, _size = await deck.backend.peek_bytes(job, "stdout.txt")
    assert data == b"2:a b:c\n"


async def test_sandbox_is_where_the_job_ran(deck: Deck) -> None:
    job = await deck.submit(command=["pwd"])
    await deck.wait_state(job, RunState.TERMINATING)
    data, _ = await deck.backend.peek_bytes(job, "stdout.txt")
    assert job.sandbox and data.decode().strip() == os.path.normpath(job.sandbox)


async def test_exit_code_3_is_reported_as_3(deck: Deck) -> None:
    job = await deck.shell("echo to-out; echo to-err >&2; exit 3", stdout="both.log", stderr="both.log")
    await deck.wait_state(job, RunState.TERMINATING)
    assert (job.outcome, job.exitcode, job.signal) == (Outcome.FAILED, 3, None)
    assert "exit code 3" in job.reason
    check_scheduler_says(deck, "exit 3", job)
    data, _ = await deck.backend.peek_bytes(job, "both.log")
    assert data.decode().splitlines() == ["to-out", "to-err"]


async def test_job_killed_by_a_signal_reports_the_signal(deck: Deck) -> None:
    # SLURM keeps 7 bits of the script's exit status (137 read 9:0) and PBS passed 137 on as an
    # exit code: the job script now ends by its command's signal, and 128+N reads as signal N.
    job = await deck.shell("kill -KILL $$")
    await deck.wait_state(job, RunState.TERMINATING)
    assert (job.outcome, job.exitcode, job.signal) == (Outcome.KILLED, None, 9)
    assert "signal 9" in job.reason


# ---------------------------------------------------------------------------- cancel


@pytest.mark.parametrize("walltime", [None, 300], ids=["no-walltime", "walltime"])
async def test_cancel_running_job_ends_it_and_its_children(deck: Deck, walltime: int | None) -> None:
    # With a walltime the local job runs under timeout(1) in its own process group: cancel
    # must reach that group too (it does since d96f478; the walltime case guards it).
    job = await deck.shell(
        "sleep 300 & echo $! > child.pid; sleep 300 & echo $! >> child.pid; wait", walltime=walltime
    )
    await deck.wait_state(job, RunState.RUNNING)

    async def children_started() -> bool:
        try:
            data, _ = await deck.backend.peek_bytes(job, "child.pid")
        except RemoteFileNotFound:
            return False
        return len(data.split()) == 2

    await eventually(children_started, what="the job's two children to start")
    data, _ = await deck.backend.peek_bytes(job, "child.pid")
    children = [int(p) for p in data.split()]
    try:
        assert not any(process_gone(p) for p in children)
        await deck.backend.cancel_job(job)
        await deck.wait_state(job, RunState.TERMINATED)
        assert job.reason == "cancelled"
        assert (job.outcome, job.exitcode) == (Outcome.CANCELLED, None)
        check_scheduler_says(deck, "cancelled", job)
        if deck.scheduler == "pbs":
            assert job.signal == 15  # qdel's SIGTERM
        # Every scheduler here runs its jobs on this machine: their processes can be watched.
        await eventually(lambda: all(process_gone(p) for p in children), 10, "the job's children to end")
    finally:
        _kill(children)


def _kill(pids: list[int]) -> None:
    """End what a failed cancel left running (this machine runs every job; the test runs as root)."""
    for pid in pids:
        if not process_gone(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


async def test_cancel_pending_job(deck: Deck) -> None:
    if deck.simulated:
        pytest.skip(f"{deck.kind}: the test double starts every job at once, so no job is ever pending")
    waiting, filler = await _pending_job(deck)
    assert waiting.state == RunState.SUBMITTED
    await deck.backend.cancel_job(waiting)
    await deck.wait_state(waiting, RunState.TERMINATED)
    assert waiting.reason == "cancelled"
    assert (waiting.outcome, waiting.exitcode) == (Outcome.CANCELLED, None)
    assert waiting.started is None
    if filler is not None:
        assert filler.state == RunState.RUNNING


async def _pending_job(deck: Deck):  # noqa: ANN202 - tuple[JobRecord, JobRecord | None]
    """A job the scheduler keeps pending (and the job that fills the node, if one is needed)."""
    if deck.scheduler == "sge":
        # Every slot taken by a filler, then one more job: it stays pending (more cores than the
        # queue has would be refused before qsub now).
        filler = await deck.submit(command=["sleep", "300"], cores=2)
        await deck.wait([filler], lambda: filler.state == RunState.RUNNING, 180, "the slot-filling job's start")
        job = await deck.submit(command=["true"])
        await deck.backend.update_job_states([filler, job])
        assert (job.state, job.raw_state) == (RunState.SUBMITTED, "qw")
        return job, filler
    if deck.scheduler == "slurm":
        queues = {q.name: q for q in await deck.backend.list_queues()}
        cpus = queues["debug"].total_cores
        assert cpus
        filler = await deck.submit(command=["sleep", "300"], cores=cpus, memory_per_core=100)
        # The node is shared with other users' jobs: only once the filler runs can the next job not start.
        await deck.wait([filler], lambda: filler.state == RunState.RUNNING, 180, "the node-filling job's start")
        waiting = await deck.submit(command=["sleep", "300"], memory_per_core=100)
        await deck.backend.update_job_states([filler, waiting])
        assert waiting.state == RunState.SUBMITTED
        assert waiting.raw_state == "PENDING" and waiting.reason in ("Resources", "Priority", "")
        return waiting, filler
    # local: a job on every core, then one more
    cores = deck.backend.max_cores
    assert cores
    filler = await deck.shell(GATE, cores=cores)
    waiting = await deck.shell("true")
    await deck.wait([filler, waiting], lambda: filler.state == RunState.RUNNING, 60, "the core-filling job's start")
    await deck.backend.update_job_states([filler, waiting])
    assert waiting.state == RunState.SUBMITTED
    assert waiting.reason == "waiting for free cores"
    return waiting, filler


async def test_cancel_of_a_finished_job_is_refused(deck: Deck) -> None:
    job = await deck.submit(command=["true"])
    await deck.wait_state(job, RunState.TERMINATING)
    with pytest.raises(BatchdeckError, match="nothing to cancel"):
        await deck.backend.cancel_job(job)


# ---------------------------------------------------------------------------- lost


async def test_job_the_scheduler_has_no_record_of_is_lost_only_after_the_accounting_delay(deck: Deck) -> None:
    # A job id neither the queue nor accounting knows: its record is gone (purged, or
    # the cluster was reinstalled). Within accounting_delay it may simply not have
    # reached accounting yet, so it keeps its state; after it, it is UNKNOWN.
    job = deck.adopt("999999" if deck.scheduler != "local" else "lost00000")
    job.last_seen = time.time()
    deck.transport.clear()
    await deck.backend.update_job_states([job])
    assert job.state == RunState.SUBMITTED
    job.last_seen = time.time() - 10 * max(deck.backend.accounting_delay, 60)
    await deck.backend.update_job_states([job])
    assert job.state == RunState.UNKNOWN
    assert job.reason == "lost: the scheduler no longer knows this job"


async def test_job_whose_record_vanished_is_unknown(deck: Deck) -> None:
    if deck.scheduler in ("slurm", "sge"):
        pytest.skip(
            f"{deck.kind}: a test cannot remove a real scheduler's records of a job (the daemons are shared); "
            "the job id it has no record of is the scenario above"
        )
    job = await deck.submit(command=["true"])
    await deck.wait_state(job, RunState.TERMINATING)
    job.state = RunState.RUNNING  # as if the journal had last seen it running
    job.last_seen = time.time() - 10 * max(deck.backend.accounting_delay, 60)
    if deck.scheduler == "local":
        # The local backend's record of a job is its sandbox's control files.
        await deck.transport.inner.remove_tree(job.sandbox or "")
    else:
        assert deck.simulator_state is not None
        seq = re.match(r"\d+", job.jobid or "")
        assert seq
        (deck.simulator_state / "jobs" / f"{seq.group()}.json").unlink()
        # The job's own record goes too: with its exit-status file it is not lost (the scenario below).
        await deck.transport.inner.remove_tree(f"{job.sandbox}/{exit_status.EXIT_FILE}")
    await deck.backend.update_job_states([job])
    assert job.state == RunState.UNKNOWN
    assert job.reason == "lost: the scheduler no longer knows this job"


async def test_job_whose_scheduler_record_vanished_ends_as_its_exit_status_file_says(deck: Deck) -> None:
    if deck.scheduler in ("slurm", "sge"):
        pytest.skip(
            f"{deck.kind}: a test cannot remove a real scheduler's records of a job (the daemons are shared); "
            "tests/test_lost_jobs.py asks SLURM about a job id it never gave"
        )
    if deck.scheduler == "local":
        pytest.skip("local: the runner's control files are the scheduler's record; removing them is the scenario above")
    job = await deck.shell("exit 4")
    await deck.wait_state(job, RunState.TERMINATING)
    job.state = RunState.RUNNING  # as if the journal had last seen it running
    job.last_seen = time.time() - 10 * max(deck.backend.accounting_delay, 60)
    assert deck.simulator_state is not None
    seq = re.match(r"\d+", job.jobid or "")
    assert seq
    (deck.simulator_state / "jobs" / f"{seq.group()}.json").unlink()
    deck.transport.clear()
    await deck.backend.update_job_states([job])
    assert (job.state, job.exitcode, job.raw_state) == (RunState.TERMINATING, 4, "exit file")
    assert exit_status.FROM_FILE in job.reason


async def test_one_status_query_per_refresh_for_many_jobs(deck: Deck) -> None:
    jobs = [await deck.shell(GATE, name=f"many-{i}") for i in range(3)]
    await deck.wait(jobs, lambda: all(j.state in (RunState.SUBMITTED, RunState.RUNNING) for j in jobs), 60, "three jobs queued")
    for _ in range(2):
        deck.transport.clear()
        result = await deck.backend.update_job_states(jobs)
        assert len(deck.transport.commands) == 1, deck.transport.commands
        assert {j.jobid for j in jobs} <= {info.jobid for info in result.all_jobs}
    for job in jobs:
        await deck.release(job)


# ---------------------------------------------------------------------------- peek


async def test_peek_offsets_and_sizes(deck: Deck, tmp_path: Path) -> None:
    content = bytes(range(256)) * 4
    source = tmp_path / "payload.bin"
    source.write_bytes(content)
    job = await deck.submit(command=["cat", "payload.bin"], inputs={str(source): "payload.bin"}, stdout="out.bin")
    await deck.wait_state(job, RunState.TERMINATING)
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
        total = await deck.backend.peek(job, "out.bin", stream, offset=offset, size=size)
        assert total == len(content)
        assert stream.getvalue() == b"prefix" + expected, (offset, size)
        assert stream.tell() == len(b"prefix") + len(expected)
    target = tmp_path / "peeked"
    target.write_bytes(b"old content that is longer")
    # A path is created or overwritten, and the remote size returned as for a stream.
    assert await deck.backend.peek(job, "out.bin", str(target), offset=-3) == len(content)
    assert target.read_bytes() == content[-3:]


async def test_peek_follows_a_growing_file(deck: Deck) -> None:
    job = await deck.shell(f"echo one; {GATE}; echo two")
    await deck.wait_state(job, RunState.RUNNING)

    async def has_first_line() -> bool:
        try:
            data, _size = await deck.backend.peek_bytes(job, "stdout.txt")
        except RemoteFileNotFound:
            return False  # a scheduler's job may start before its script opens the file
        return data == b"one\n"

    await eventually(has_first_line, what="the first line of output")
    _data, size = await deck.backend.peek_bytes(job, "stdout.txt")
    assert await deck.backend.peek_bytes(job, "stdout.txt", offset=-4) == (b"one\n", size)
    await deck.release(job)
    await deck.wait_state(job, RunState.TERMINATING)
    tail, total = await deck.backend.peek_bytes(job, "stdout.txt", offset=size)
    assert (tail, total) == (b"two\n", size + 4)
    assert await deck.backend.peek_bytes(job, "stdout.txt", offset=-4) == (b"two\n", size + 4)
    assert await deck.backend.peek_bytes(job, "stdout.txt", offset=-100, size=3) == (b"one", size + 4)


async def test_peek_refuses_paths_outside_the_sandbox(deck: Deck) -> None:
    job = await deck.submit(command=["true"])
    with pytest.raises(UnsafePath):
        await deck.backend.peek(job, "../../etc/passwd", io.BytesIO())


# ---------------------------------------------------------------------------- download


async def test_get_results_overwrite_and_changed_only_semantics(deck: Deck, tmp_path: Path) -> None:
    files = {"same.txt": "12345", "newer.txt": "abcde", "resized.txt": "longer content", "missing.txt": "x"}
    job = await deck.shell("; ".join(f"printf %s {content!r} > {name}" for name, content in files.items()))
    await deck.wait_state(job, RunState.TERMINATING)
    # Every sandbox is on this machine (the sshd's too): the test can age its files directly.
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
    report = await deck.backend.get_results(job, download, overwrite=False)
    assert sorted(report.copied) == ["missing.txt", "stderr.txt", "stdout.txt"]
    assert sorted(report.skipped) == ["newer.txt", "resized.txt", "same.txt"]
    assert (download / "newer.txt").read_text() == "LOCAL"

    prepare()
    report = await deck.backend.get_results(job, download, overwrite=True, changed_only=True)
    assert sorted(report.copied) == ["missing.txt", "newer.txt", "resized.txt", "stderr.txt", "stdout.txt"]
    assert report.skipped == ["same.txt"]
    assert (download / "same.txt").read_text() == "LOCAL"
    assert (download / "newer.txt").read_text() == "abcde"
    assert (download / "resized.txt").read_text() == "longer content"
    # The downloaded copy keeps the source's mtime, so an unchanged rerun copies nothing.
    assert (download / "newer.txt").stat().st_mtime == pytest.approx(now - 100, abs=1)
    again = await deck.backend.get_results(job, download, overwrite=True, changed_only=True)
    assert again.copied == []

    prepare()
    report = await deck.backend.get_results(job, download, overwrite=True, changed_only=False)
    assert sorted(report.copied) == sorted([*files, "stdout.txt", "stderr.txt"])
    assert (download / "same.txt").read_text() == "12345"


async def test_get_results_needs_an_existing_directory(deck: Deck, tmp_path: Path) -> None:
    job = await deck.submit(command=["true"])
    with pytest.raises(BatchdeckError, match="does not exist"):
        await deck.backend.get_results(job, tmp_path / "nope")


# ---------------------------------------------------------------------------- free


async def test_free_refuses_unless_terminated_and_outside_the_root(deck: Deck, tmp_path: Path) -> None:
    job = await deck.shell(GATE)
    with pytest.raises(BatchdeckError, match="only TERMINATED jobs can be freed"):
        await deck.backend.free(job)
    await deck.wait_state(job, RunState.RUNNING)
    await deck.release(job)
    await deck.wait_state(job, RunState.TERMINATING)
    with pytest.raises(BatchdeckError, match="only TERMINATED jobs can be freed"):
        await deck.backend.free(job)
    await deck.backend.get_results(job, tmp_path)
    assert job.state == RunState.TERMINATED
    sandbox = job.sandbox or ""
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    for bad in (str(outside), deck.backend.sandbox_root, f"{deck.backend.sandbox_root}/../precious"):
        job.sandbox = bad
        with pytest.raises(UnsafePath):
            await deck.backend.free(job)
    assert (outside / "keep.txt").exists()
    job.sandbox = sandbox
    await deck.backend.free(job)
    assert await deck.transport.inner.stat(sandbox) is None


# ---------------------------------------------------------------------------- listings


async def test_list_jobs_and_queues(deck: Deck) -> None:
    job = await deck.shell(GATE, name="listed job")
    await deck.wait_state(job, RunState.RUNNING)
    listed = {j.jobid: j for j in await deck.backend.list_jobs()}
    assert job.jobid in listed
    info = listed[job.jobid or ""]
    assert tag_of(info.name) == job.id
    if deck.kind != "torque":  # old TORQUE servers cut names at 15 characters
        assert info.name == f"bd-{job.id}-listed_job"
    assert info.state == RunState.RUNNING
    assert info.queue == DEFAULT_QUEUE[deck.scheduler]
    queues = {q.name: q for q in await deck.backend.list_queues()}
    assert info.queue in queues
    assert queues[info.queue].running >= 1
    await deck.release(job)
