"""The job journal and the no-lost-jobs guarantees of the engine."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

import pytest

from batchdeck.backends.engine.config import Config
from batchdeck.backends.engine.deck import Deck
from batchdeck.backends.engine.journal import Journal
from batchdeck.backends.engine.settings import build_cluster
from batchdeck.backends.errors import BatchdeckError, ConnectionFailed, InvalidStateTransition, JobNotFound
from batchdeck.backends.model import JobRecord, JobSpec, RunState
from batchdeck.backends.schedulers.local import LAUNCH_SCRIPT
from batchdeck.backends.transports.factory import make_transport
from batchdeck.backends.transports.local import LocalTransport

from helpers import eventually


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_deck(tmp_path: Path, **settings: object) -> Deck:
    settings.setdefault("sandbox_root", str(tmp_path / "sandboxes"))
    config = Config(path=None, clusters={"localhost": build_cluster("localhost", settings)})
    return Deck(config, Journal(tmp_path / "journal.sqlite"))


def test_records_round_trip_with_history(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    job = JobRecord(id=journal.new_id(), cluster="c", spec=JobSpec(command=["echo", "a b"], name="n", cores=2))
    job.transition(RunState.SUBMITTED, "submitted")
    job.transition(RunState.RUNNING)
    journal.save(job)
    again = Journal(tmp_path / "j.sqlite").get(job.id)
    assert again == job
    assert [t.new for t in again.history] == [RunState.SUBMITTED, RunState.RUNNING]
    assert journal.find(job.id[:4]).id == job.id
    with pytest.raises(JobNotFound):
        journal.get("missing0")
    mode = sqlite3.connect(tmp_path / "j.sqlite").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_ambiguous_prefix(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    for job_id in ("abc00001", "abc00002"):
        journal.save(JobRecord(id=job_id, cluster="c", spec=JobSpec(command=["true"])))
    with pytest.raises(JobNotFound, match="ambiguous"):
        journal.find("abc")
    assert journal.find("abc00002").id == "abc00002"


def test_illegal_transitions_are_refused() -> None:
    job = JobRecord(id="x", cluster="c", spec=JobSpec(command=["true"]))
    job.transition(RunState.SUBMITTED)
    job.transition(RunState.TERMINATING)
    with pytest.raises(InvalidStateTransition, match="cannot go from TERMINATING to RUNNING"):
        job.transition(RunState.RUNNING)
    job.transition(RunState.TERMINATED)
    for state in RunState:
        if state != RunState.TERMINATED:
            with pytest.raises(InvalidStateTransition):
                job.transition(state)
    assert job.transition(RunState.TERMINATED) is False


async def test_a_job_is_recorded_before_it_is_submitted(tmp_path: Path) -> None:
    deck = make_deck(tmp_path)
    seen: list[tuple[RunState, str | None]] = []
    original = deck.journal.save

    def spy(job: JobRecord) -> None:
        original(job)
        seen.append((deck.journal.get(job.id).state, deck.journal.get(job.id).jobid))

    deck.journal.save = spy  # type: ignore[method-assign]
    job = await deck.submit("localhost", JobSpec(command=["true"]))
    assert seen[0] == (RunState.NEW, None)  # in the journal before the scheduler was asked
    assert seen[-1] == (RunState.SUBMITTED, job.id)
    await deck.close()


async def test_a_crash_between_submit_and_record_is_reconciled(tmp_path: Path) -> None:
    deck = make_deck(tmp_path)
    job = deck.new_job("localhost", JobSpec(command=["sh", "-c", "echo found"]))
    job.reason = "submitting"
    deck.journal.save(job)
    backend = deck.backend("localhost")
    # The job reaches the scheduler, but batchdeck "dies" before recording its id.
    await backend.submit_job(JobRecord.from_dict(job.to_dict()), on_prepared=deck.journal.save)
    stored = deck.journal.get(job.id)
    assert stored.state == RunState.NEW and stored.jobid is None
    await deck.close()

    restarted = make_deck(tmp_path)

    async def finished() -> bool:
        await restarted.poll("localhost")
        return restarted.job(job.id).state == RunState.TERMINATING

    await eventually(finished, 30, "the reconciled job to finish")
    assert restarted.job(job.id).jobid == job.id
    data, _size = await restarted.peek(job.id)
    assert data == b"found\n"
    await restarted.close()


async def test_a_cluster_error_marks_jobs_stale_and_keeps_their_state(tmp_path: Path) -> None:
    deck = make_deck(tmp_path)
    job = await deck.submit("localhost", JobSpec(command=["sleep", "300"]))
    await eventually(lambda: _polled_state(deck, job.id, RunState.RUNNING), 30, "running")
    backend = deck.backend("localhost")
    working = backend.transport
    # The frontend becomes unreachable: a real connection attempt to a closed port.
    backend.transport = make_transport("ssh", frontend="127.0.0.1", port=_closed_port(), ssh_timeout=5)
    with pytest.raises(BatchdeckError):
        await deck.poll("localhost")
    stored = deck.job(job.id)
    assert stored.state == RunState.RUNNING and stored.stale
    assert deck.status["localhost"].state == "error" and deck.status["localhost"].error
    backend.transport = working
    await deck.poll("localhost")
    assert not deck.job(job.id).stale
    await deck.cancel(job.id)
    await deck.close()


async def _polled_state(deck: Deck, job_id: str, state: RunState) -> bool:
    await deck.poll("localhost")
    return deck.job(job_id).state == state


class _AnswerLost(LocalTransport):
    """Runs the submit command for real, then loses its answer as a dropped connection would."""

    async def run(self, argv, **kwargs):  # noqa: ANN001, ANN003, ANN201
        result = await super().run(argv, **kwargs)
        if LAUNCH_SCRIPT in argv:
            raise ConnectionFailed("connection to the frontend lost")
        return result


async def test_a_submit_whose_answer_was_lost_is_found_again_not_lost(tmp_path: Path) -> None:
    deck = make_deck(tmp_path)
    deck.backend("localhost").transport = _AnswerLost()
    with pytest.raises(ConnectionFailed):
        await deck.submit("localhost", JobSpec(command=["sh", "-c", "echo ran"]))
    (job,) = deck.jobs()
    assert job.state == RunState.NEW and job.reason == "submitting"

    async def finished() -> bool:
        await deck.poll("localhost")
        return deck.job(job.id).state == RunState.TERMINATING

    await eventually(finished, 30, "the job whose submit answer was lost to be found and finish")
    assert (await deck.peek(job.id))[0] == b"ran\n"
    await deck.close()


async def test_a_refused_submission_is_recorded_as_failed(tmp_path: Path) -> None:
    deck = make_deck(tmp_path)
    with pytest.raises(BatchdeckError):
        await deck.submit("localhost", JobSpec(command=["true"], inputs={"/no/such/input": "x"}))
    assert deck.jobs() == []  # refused before anything was recorded or sent
    await deck.close()


def test_jobs_filtered_by_cluster_and_state(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    for job_id, cluster, state in [("a0000001", "x", RunState.RUNNING), ("a0000002", "x", RunState.TERMINATED), ("a0000003", "y", RunState.RUNNING)]:
        job = JobRecord(id=job_id, cluster=cluster, spec=JobSpec(command=["true"]), state=state)
        journal.save(job)
    assert [j.id for j in journal.jobs("x", [RunState.RUNNING, RunState.SUBMITTED])] == ["a0000001"]
    assert [j.id for j in journal.jobs(states=[RunState.RUNNING])] == ["a0000001", "a0000003"]
    assert [j.id for j in journal.jobs("x")] == ["a0000001", "a0000002"]


async def test_a_poll_never_adopts_a_job_this_deck_is_still_submitting(tmp_path: Path) -> None:
    deck = make_deck(tmp_path)
    backend = deck.backend("localhost")
    original = backend._submit
    adopted: list[str] = []

    async def submit_then_poll(job: JobRecord, script_path: str) -> str:
        jobid = await original(job, script_path)
        # The scheduler has the job, its submit is not recorded yet: exactly when a
        # concurrent refresh used to adopt it by its tag and then race the submit.
        result = await deck.poll("localhost")
        adopted.extend(j.id for j in result.changed)
        return jobid

    backend._submit = submit_then_poll  # type: ignore[method-assign]
    job = await deck.submit("localhost", JobSpec(command=["sh", "-c", "echo once"]))
    assert adopted == []
    assert deck.job(job.id).jobid == job.id

    async def seen_finished() -> bool:
        result = await deck.poll("localhost")
        return any(j.id == job.id and j.state == RunState.TERMINATING for j in [*result.changed, *result.jobs])

    await eventually(seen_finished, 30, "the job to finish, seen in the poll's jobs")
    await deck.close()
