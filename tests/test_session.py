"""The app's model without the app: a Session over a real Deck, local jobs and a temporary journal."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from batchdeck.backends.engine.deck import Deck
from batchdeck.backends.engine.session import JITTER, MAX_BACKOFF, ChangeSet, Session, backoff_delay
from batchdeck.backends.model import JobRecord, JobSpec, RunState

from helpers import eventually


def write_config(tmp_path: Path, extra: str = "") -> None:
    config = Path(os.environ["BATCHDECK_CONFIG"])
    config.parent.mkdir(parents=True, exist_ok=True)
    # The built-in localhost off: the tests count exactly the clusters written here.
    config.write_text(
        "[clusters.localhost]\nenabled = false\n\n"
        f'[clusters.local]\ntype = "local"\nsandbox_root = "{tmp_path / "sandboxes"}"\n'
        "poll_interval = 0.3\naccounting_delay = 60\n" + extra
    )


class Recorder:
    def __init__(self) -> None:
        self.changes: list[ChangeSet] = []

    def __call__(self, changes: ChangeSet) -> None:
        self.changes.append(changes)

    def jobs(self) -> set[str]:
        return {ident for c in self.changes for ident in c.jobs}


@pytest.fixture
async def session(tmp_path: Path) -> AsyncIterator[Session]:
    write_config(tmp_path)
    deck = Deck.open()
    session = Session(deck)
    session.load()
    yield session
    await session.stop()
    for job in deck.jobs():
        if job.state.is_active and job.sandbox:  # real jobs, not the records a test wrote
            await deck.cancel(job.id)
    await deck.close()


def gate_command(tmp_path: Path) -> list[str]:
    gate = tmp_path / "gate"
    return ["sh", "-c", f'while [ ! -e "{gate}" ]; do sleep 0.05; done; echo done']


async def test_a_submitted_job_is_followed_to_its_end_and_listeners_are_told(
    session: Session, tmp_path: Path
) -> None:
    heard = Recorder()
    session.add_listener(heard)
    job = await session.submit("local", JobSpec(command=gate_command(tmp_path), name="gated"))
    assert session.jobs[job.id].state == RunState.SUBMITTED
    assert heard.changes[0].added == {job.id} and job.id in heard.changes[0].jobs

    async def reaches(state: RunState) -> bool:
        await session.poll("local")
        return session.jobs[job.id].state == state

    await eventually(lambda: reaches(RunState.RUNNING), what="the job running")
    (tmp_path / "gate").write_text("")
    await eventually(lambda: reaches(RunState.TERMINATING), what="the job ended")
    assert session.jobs[job.id].exitcode == 0
    assert job.id in heard.jobs()
    assert any(c.refreshed and "local" in c.clusters for c in heard.changes)
    assert session.last_refresh is not None

    session.remove_listener(heard)
    before = len(heard.changes)
    await session.poll("local")
    assert len(heard.changes) == before


async def test_one_cluster_is_never_polled_twice_at_once(session: Session) -> None:
    first, second = await asyncio.gather(session.poll("local"), session.poll("local"))
    assert (first is None) != (second is None)  # exactly one of them ran
    assert not session.polling("local")
    assert await session.poll("local") is not None  # and the next one runs again


async def test_scheduling_follows_each_cluster_interval_and_queues_far_less_often(tmp_path: Path) -> None:
    write_config(tmp_path, '\n[clusters.slow]\ntype = "local"\npoll_interval = 20\n')
    deck = Deck.open()
    now = [1000.0]
    session = Session(deck, monotonic=lambda: now[0])
    session.load()
    try:
        session.live = True
        assert sorted(session.due(now[0])) == ["local", "slow"]
        await session.poll("local")
        await session.poll("slow")
        assert session.due(now[0]) == []
        now[0] += 0.3
        assert session.due(now[0]) == ["local"]
        now[0] += 20
        assert sorted(session.due(now[0])) == ["local", "slow"]

        # The first polls listed the queues too (in the background).
        await eventually(lambda: "local" in session.queues and not session.busy, what="the queues listed")
        assert session.queues["local"][0].name == "local"
        # A poll soon after does not list the queues again; one after QUEUES_EVERY does.
        calls: list[str] = []
        real = deck.queues

        async def counting(name: str) -> list:  # type: ignore[type-arg]
            calls.append(name)
            return await real(name)

        deck.queues = counting  # type: ignore[method-assign]
        await session.poll("local")
        await asyncio.sleep(0)
        assert calls == []
        now[0] += 31
        await session.poll("local")
        await eventually(lambda: calls == ["local"], what="the queue list refreshed")
    finally:
        await session.stop()
        await deck.close()


async def test_errors_are_captured_per_cluster_and_jobs_marked_stale(tmp_path: Path) -> None:
    write_config(tmp_path, '\n[clusters.far]\ntype = "local"\nfrontend = "127.0.0.1"\nport = 1\nssh_timeout = 5\n')
    deck = Deck.open()
    deck.journal.save(
        JobRecord(id="farjob01", cluster="far", spec=JobSpec(command=["sleep", "9"], name="far"),
                  jobid="farjob01", state=RunState.RUNNING, sandbox="/nonexistent/farjob01", created=1.0)
    )
    session = Session(deck)
    session.load()
    heard = Recorder()
    session.add_listener(heard)
    try:
        changes = await session.poll("far")
        assert changes is not None and "farjob01" in changes.jobs and "far" in changes.clusters
        assert session.error("far")
        assert session.error("local") == ""
        assert session.jobs["farjob01"].stale
        assert session.jobs["farjob01"].state == RunState.RUNNING  # last known state kept
        await session.poll("local")  # the other cluster is not held up by the broken one
        assert session.status["local"].state == "connected"
    finally:
        await session.stop()
        await deck.close()


async def test_selection_is_state(session: Session) -> None:
    heard = Recorder()
    session.add_listener(heard)
    session.select_queue(("local", "local"))
    assert session.selection.filter_cluster == "local" and session.selection.filter_queue == "local"
    assert heard.changes[-1].selection == {"queue"}
    session.select_cluster("local")  # a cluster resets the queue
    assert session.selection.queue is None and session.selection.filter_cluster == "local"
    assert heard.changes[-1].selection == {"cluster", "queue"}
    count = len(heard.changes)
    session.select_cluster("local")  # nothing changed: nobody is told
    assert len(heard.changes) == count
    session.set_filter("  alpha ")
    assert session.selection.text == "alpha"
    session.select_job("abcdefgh")
    assert session.selection.job == "abcdefgh" and session.selected_job is None
    assert session.submit_cluster() == "local"
    session.clear_selection()
    assert (session.selection.cluster, session.selection.text, session.selection.job) == (None, "", "abcdefgh")


async def test_changes_from_another_process_are_applied_row_by_row(session: Session) -> None:
    deck = session.deck
    for n in range(3):
        deck.journal.save(JobRecord(id=f"xjob000{n}", cluster="local", spec=JobSpec(command=["true"]),
                                    state=RunState.RUNNING, jobid=f"x{n}", created=float(n)))
    session.load()
    heard = Recorder()
    session.add_listener(heard)
    assert await session.sync_journal() == ChangeSet()  # nothing moved yet

    other = Deck.open()  # a second process: its own connection to the same journal
    try:
        job = other.job("xjob0001")
        job.transition(RunState.TERMINATED, "cancelled")
        other.journal.save(job)
        fresh = JobRecord(id="xjob0009", cluster="local", spec=JobSpec(command=["true"]), created=9.0)
        other.journal.save(fresh)
    finally:
        await other.close()
    changes = await session.sync_journal()
    assert changes.jobs == {"xjob0001", "xjob0009"} and changes.added == {"xjob0009"}
    assert session.jobs["xjob0001"].state == RunState.TERMINATED
    assert heard.changes == [changes]
    assert await session.sync_journal() == ChangeSet()


async def test_the_background_loop_polls_by_itself(session: Session, tmp_path: Path) -> None:
    job = await session.deck.submit("local", JobSpec(command=[sys.executable, "-c", "pass"], name="quick"))
    task = asyncio.get_running_loop().create_task(session.run())
    try:
        # The job was submitted behind the session's back: the journal sync finds it
        # (same connection: the first poll's reload does), then the polls follow it.
        await eventually(lambda: job.id in session.jobs and session.jobs[job.id].state == RunState.TERMINATING,
                         what="the job followed by the loop")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_the_first_fill_reads_active_and_recent_jobs_then_the_rest(session: Session) -> None:
    deck = session.deck
    records = [
        JobRecord(id=f"h{n:07d}", cluster="local", spec=JobSpec(command=["true"]), created=float(n),
                  state=RunState.TERMINATED if n != 3 else RunState.RUNNING, jobid=f"h{n}")
        for n in range(50)
    ]
    deck.journal.save_many(records)
    assert not session.load(recent=10)
    # The ten newest, and the old job that is still running; in creation order.
    assert list(session.jobs) == ["h0000003", *(f"h{n:07d}" for n in range(40, 50))]
    heard = Recorder()
    session.add_listener(heard)
    changes = await session.load_rest()
    assert list(session.jobs) == [job.id for job in records]
    assert len(changes.added) == 39 and heard.changes == [changes]
    assert await session.load_rest() == ChangeSet()
    assert session.load(recent=100)  # everything at once when the journal is short


def test_the_session_needs_no_textual() -> None:
    import subprocess

    code = (
        "import sys, batchdeck.backends.engine.session, batchdeck.backends.engine.job_specs; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('textual', 'rich')]; "
        "print(bad); raise SystemExit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


async def test_a_job_another_process_forgot_leaves_the_view(session: Session) -> None:
    deck = session.deck
    for n in range(3):
        deck.journal.save(JobRecord(id=f"fjob000{n}", cluster="local", spec=JobSpec(command=["true"]),
                                    state=RunState.TERMINATED, jobid=f"f{n}", created=float(n)))
    session.load()
    assert await session.sync_journal() == ChangeSet()
    # the real CLI, another process: the newest row goes, so the change number must not go back
    forgot = subprocess.run([sys.executable, "-m", "batchdeck.tui.cli", "forget", "fjob0002"],
                            capture_output=True, text=True, timeout=60)
    assert forgot.returncode == 0, forgot.stderr
    changes = await session.sync_journal()
    assert changes.removed == {"fjob0002"} and "local" in changes.clusters
    assert set(session.jobs) == {"fjob0000", "fjob0001"}
    # a later write by another process is still seen (its change number is past the forget's)
    other = Deck.open()
    try:
        job = other.job("fjob0001")
        job.reason = "changed elsewhere"
        other.journal.save(job)
    finally:
        await other.close()
    changes = await session.sync_journal()
    assert changes.jobs == {"fjob0001"} and session.jobs["fjob0001"].reason == "changed elsewhere"


async def test_a_failing_cluster_is_retried_with_growing_jittered_waits_and_the_others_are_not(tmp_path: Path) -> None:
    # a real failure: nothing listens on port 1
    write_config(tmp_path, '\n[clusters.far]\ntype = "local"\nfrontend = "127.0.0.1"\nport = 1\nssh_timeout = 5\n'
                           'poll_interval = 10\n')
    deck = Deck.open()
    now = [1000.0]
    session = Session(deck, monotonic=lambda: now[0], rng=random.Random(7))
    expected = random.Random(7)
    session.load()
    try:
        session.live = True
        waits = []
        for failures in range(1, 8):
            await session.poll("far")
            info = session.refresh_info("far")
            assert info is not None and info.failures == failures and info.retry_at is not None
            wait = session._schedule["far"].next_poll - now[0]
            spread = expected.uniform(-JITTER, JITTER)
            assert wait == pytest.approx(backoff_delay(10, failures, spread))
            assert 10 * 2**failures * (1 - JITTER) <= wait or wait >= MAX_BACKOFF * (1 - JITTER)
            assert wait <= max(MAX_BACKOFF, 10 * 2**failures) * (1 + JITTER)
            assert "far" not in session.due(now[0] + 10)  # not on its plain interval any more
            waits.append(wait)
            now[0] += wait
        assert waits[-1] <= MAX_BACKOFF * (1 + JITTER) and waits[-1] >= MAX_BACKOFF * (1 - JITTER)
        # the working cluster keeps its own interval and says when it was refreshed
        await session.poll("local")
        info = session.refresh_info("local")
        assert info is not None and info.failures == 0 and info.last_ok is not None and info.retry_at is None
        assert session._schedule["local"].next_poll == pytest.approx(now[0] + 0.3)
    finally:
        await session.stop()
        await deck.close()


async def test_the_refresh_key_never_queries_a_cluster_sooner_than_its_minimum_gap(tmp_path: Path) -> None:
    write_config(tmp_path)
    Path(os.environ["BATCHDECK_CONFIG"]).write_text(
        Path(os.environ["BATCHDECK_CONFIG"]).read_text().replace("poll_interval = 0.3", "poll_interval = 0.3\nmin_poll_interval = 5")
    )
    deck = Deck.open()
    now = [1000.0]
    session = Session(deck, monotonic=lambda: now[0])
    session.load()
    try:
        session.live = True
        await session.poll("local")
        assert session._schedule["local"].next_poll == pytest.approx(1005.0)  # the gap beats the interval
        polls_before = session.last_refresh
        session.refresh_now()  # right after a query: deferred, not run
        await asyncio.sleep(0)
        assert not session.polling("local") and session.last_refresh == polls_before
        assert session.due(now[0] + 4) == [] and session.due(now[0] + 5) == ["local"]
        now[0] += 6
        session.refresh_now()  # past the gap: runs at once
        await eventually(lambda: session.last_refresh != polls_before, what="the refresh")
    finally:
        await session.stop()
        await deck.close()
