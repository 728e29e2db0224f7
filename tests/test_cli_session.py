"""The CLI's `status`, `list`, `wait`, `get` and `peek --follow` through the session model (#10 item 3),
journal housekeeping done by another process reaching a running app (#11 item 3), `history` with a
window reaching before the epoch, and `resubmit --failed-only` recording the new array in the journal.

Real processes: the local backend, the real CLI in subprocesses, the app under Textual's pilot, the
real SLURM and Grid Engine of this machine. Nothing sleeps to make timing pass.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from batchdeck.backends.engine.config import Config, parse_cluster
from batchdeck.backends.engine.deck import Deck
from batchdeck.backends.engine.history import EARLIEST, clamped
from batchdeck.backends.engine.journal import Journal
from batchdeck.backends.engine.session import Session
from batchdeck.backends.errors import JobNotFound
from batchdeck.backends.model import JobRecord, JobSpec, Outcome, RunState

from helpers import eventually

BATCHDECK = [sys.executable, "-m", "batchdeck.tui.cli"]


def local_deck(tmp_path: Path, interval: float) -> Deck:
    conf = parse_cluster("c", {"type": "local", "sandbox_root": str(tmp_path / "sandboxes"), "poll_interval": interval}, None)
    return Deck(Config(path=None, clusters={"c": conf}), Journal(tmp_path / "journal.sqlite"))


def count_queries(deck: Deck, cluster: str) -> list[int]:
    """A counter of the cluster's status queries (each still runs for real)."""
    backend = deck.backend(cluster)
    real = backend.query_jobs
    calls = [0]

    async def counted():  # type: ignore[no-untyped-def]
        calls[0] += 1
        return await real()

    backend.query_jobs = counted  # type: ignore[method-assign]
    return calls


async def test_the_session_tracks_named_jobs_to_their_end_one_query_per_cluster_per_refresh(tmp_path: Path) -> None:
    deck = local_deck(tmp_path, interval=60)
    try:
        gate = tmp_path / "gate"
        job = await deck.submit("c", JobSpec(command=["/bin/sh", "-c", f"while [ ! -e {gate} ]; do sleep 0.1; done; exit 3"]))
        session = Session(deck)
        queries = count_queries(deck, "c")
        assert [j.id for j in session.track([job.id[:6]])] == [job.id]  # a prefix, as the CLI takes it
        # two refreshes at once share the in-flight one: one status query
        assert await asyncio.gather(session.refresh(["c"]), session.refresh(["c"])) == [{}, {}]
        assert queries[0] == 1
        # not due again before its interval: a due-only refresh asks nothing
        assert "c" not in session.due(session.monotonic())
        assert await session.refresh(["c"], due_only=True) == {} and queries[0] == 1
        assert session.next_due(["c"]) > session.monotonic()
        gate.touch()

        async def ended() -> bool:
            await session.refresh(["c"])  # the explicit refresh (status, list) asks whenever called
            return not session.current(job.id).state.is_active

        await eventually(ended, timeout=60, what="the job to end")
        done = session.current(job.id)
        assert (done.outcome, done.exitcode) == (Outcome.FAILED, 3)
        # the session's copy is the journal's
        assert deck.job(job.id).to_dict() == done.to_dict()
    finally:
        await deck.close()


async def test_the_session_takes_in_what_another_process_wrote_and_forgot(tmp_path: Path) -> None:
    deck, other = local_deck(tmp_path, interval=0.2), local_deck(tmp_path, interval=0.2)
    try:
        jobs = []
        for n in range(2):
            job = JobRecord(id=f"othr000{n}", cluster="c", spec=JobSpec(command=["true"]), jobid=f"9{n}")
            job.transition(RunState.SUBMITTED, "submitted")
            deck.journal.save(job)
            jobs.append(job)
        session = Session(deck)
        session.track([job.id for job in jobs])
        # another process ends one and forgets the other
        ended = other.job("othr0000")
        ended.transition(RunState.TERMINATED, "ended elsewhere")
        ended.reason = "ended elsewhere"
        other.journal.save(ended)
        other.journal.forget(["othr0001"])
        await session.refresh(["c"])
        assert session.current("othr0000").reason == "ended elsewhere"
        with pytest.raises(JobNotFound, match="othr0001"):
            session.current("othr0001")
    finally:
        await deck.close()
        await other.close()


async def test_a_poll_that_ended_after_another_process_forgot_its_job_does_not_bring_it_back(tmp_path: Path) -> None:
    deck, other = local_deck(tmp_path, interval=60), local_deck(tmp_path, interval=60)
    gate = tmp_path / "gate"
    try:
        job = await deck.submit("c", JobSpec(command=["/bin/sh", "-c", f"while [ ! -e {gate} ]; do sleep 0.1; done"]))
        session = Session(deck)
        session.load()
        real_poll = deck.poll

        async def forgotten_meanwhile(name: str):  # type: ignore[no-untyped-def]
            # the poll has stored its answer; before the session takes it in, another process
            # forgets the job (forget --force) and the session's journal sync sees that
            result = await real_poll(name)
            other.journal.forget([job.id])
            await session.sync_journal()
            return result

        deck.poll = forgotten_meanwhile  # type: ignore[method-assign]
        changes = await session.poll("c")
        assert changes is not None and job.id not in changes.jobs
        assert job.id not in session.jobs
    finally:
        gate.touch()
        await deck.close()
        await other.close()


@pytest.mark.parametrize("scheduler", ["slurm", "sge"])
async def test_the_session_lists_a_job_batchdeck_did_not_submit_until_it_leaves_the_queue(
    scheduler: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """What ``peek --follow CLUSTER:JOBID`` asks: the cluster's one status listing, through the session."""
    request.getfixturevalue(f"{scheduler}_cluster")
    conf = parse_cluster(scheduler, {"type": scheduler, "sandbox_root": str(tmp_path / "sb")}, None)
    deck = Deck(Config(path=None, clusters={scheduler: conf}), Journal(tmp_path / "journal.sqlite"))
    if scheduler == "slurm":
        submit = ["sbatch", "--parsable", "--hold", "-o", "/dev/null", "--wrap", "true"]
    else:
        submit = ["qsub", "-terse", "-h", "-o", "/dev/null", "-j", "y", "-b", "y", "true"]
    jobid = subprocess.run(submit, capture_output=True, text=True, check=True).stdout.strip()
    cancel = ["scancel" if scheduler == "slurm" else "qdel", jobid]
    try:
        session = Session(deck)
        assert await session.refresh([scheduler]) == {}
        info = session.listed(scheduler, jobid)
        assert info is not None and info.state.is_active and info.jobid == jobid
        subprocess.run(cancel, capture_output=True, check=True)

        async def gone() -> bool:
            assert await session.refresh([scheduler]) == {}
            return session.listed(scheduler, jobid) is None

        await eventually(gone, timeout=60, what=f"job {jobid} to leave the listing")
    finally:
        subprocess.run(cancel, capture_output=True)
        await deck.close()


# ---- the CLI -------------------------------------------------------------------------------------


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "batchdeck.toml"
    config.write_text(
        f'[clusters.localhost]\ntype = "local"\nsandbox_root = "{tmp_path / "l"}"\npoll_interval = 0.2\n'
        f'[clusters.slurm]\ntype = "slurm"\nsandbox_root = "{tmp_path / "s"}"\n'
        f'[clusters.sge]\ntype = "sge"\nsandbox_root = "{tmp_path / "g"}"\n'
    )
    return {**os.environ, "BATCHDECK_DATA_DIR": str(tmp_path / "data"), "BATCHDECK_CONFIG": str(config)}


def cli(env: dict[str, str], *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BATCHDECK, *args], env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def test_wait_ends_when_another_process_cancels_the_job(env: dict[str, str]) -> None:
    job = cli(env, "submit", "--", "sleep", "120").stdout.strip()
    waiter = subprocess.Popen([*BATCHDECK, "wait", job], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        cancelled = cli(env, "cancel", job)
        assert cancelled.returncode == 0, cancelled.stderr
        out, err = waiter.communicate(timeout=90)
    finally:
        waiter.kill()
    assert waiter.returncode == 1, err  # cancelled: not a success
    assert out.startswith(f"{job} ") and "cancel" in out, out


def test_status_list_and_get_refresh_through_the_session_and_keep_their_output(env: dict[str, str], tmp_path: Path) -> None:
    job = cli(env, "submit", "--output", "out.dat", "--", "sh", "-c", "echo r > out.dat; exit 0").stdout.strip()

    def state() -> str:
        return str(json.loads(cli(env, "status", "--json", job).stdout)["state"])

    deadline = time.monotonic() + 60
    while state() not in ("TERMINATING", "TERMINATED"):
        assert time.monotonic() < deadline, "the job did not end"
    listed = cli(env, "list", "--json")
    assert listed.returncode == 0 and [j["id"] for j in json.loads(listed.stdout)] == [job]
    table = cli(env, "list").stdout.splitlines()
    assert table[0].split()[:3] == ["ID", "NAME", "CLUSTER"] and table[1].startswith(job)
    got = cli(env, "get", job, str(tmp_path / "down"))
    assert got.returncode == 0 and "copied   out.dat" in got.stdout, got.stderr
    assert json.loads(cli(env, "status", "--json", job).stdout)["state"] == "TERMINATED"


def test_list_of_a_broken_cluster_still_warns_and_exits_1(env: dict[str, str], tmp_path: Path) -> None:
    journal = Journal(tmp_path / "data" / "journal.sqlite")
    job = JobRecord(id="gone0001", cluster="nowhere", spec=JobSpec(command=["true"]), jobid="1")
    job.transition(RunState.SUBMITTED, "submitted")
    journal.save(job)
    journal.close()
    listed = cli(env, "list")
    assert listed.returncode == 1 and "cluster 'nowhere' could not be refreshed" in listed.stderr, listed
    assert "gone0001" in listed.stdout


# ---- forget / clean by another process reach a running app ---------------------------------------


async def test_forget_and_clean_from_the_cli_leave_a_running_app(tmp_path: Path) -> None:
    from batchdeck.tui.app import BatchdeckApp
    from batchdeck.tui.jobs_table import JobsTable
    from batchdeck.tui.screenshots import wait_for

    config = Path(os.environ["BATCHDECK_CONFIG"])
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(f'[clusters.local]\ntype = "local"\nsandbox_root = "{tmp_path / "sb"}"\npoll_interval = 0.3\n')
    journal = Journal()
    old = time.time() - 90 * 86400
    ids = [f"keep{n:04d}" for n in range(3)]
    for n, ident in enumerate(ids):
        job = JobRecord(id=ident, cluster="local", spec=JobSpec(command=["true"], name=f"j{n}"), jobid=str(n + 1), created=old)
        job.transition(RunState.TERMINATED, "ended")
        job.finished = old if n else time.time()  # keep0000 ended just now: clean keeps it
        journal.save(job)
    journal.close()

    def rows(app: BatchdeckApp) -> set[str]:
        return {str(key.value) for key in app.query_one(JobsTable).rows}

    async def cli_run(*args: str) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(
            subprocess.run, [*BATCHDECK, *args], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
        )

    app = BatchdeckApp(Deck.open(), ui_settings=tmp_path / "ui.json", owns_deck=True)
    async with app.run_test(size=(140, 42)) as pilot:
        await wait_for(pilot, lambda: rows(app) == set(ids))
        forgot = await cli_run("forget", "keep0001")
        assert forgot.returncode == 0 and "forgot keep0001" in forgot.stdout, forgot.stderr
        await wait_for(pilot, lambda: rows(app) == {"keep0000", "keep0002"}, timeout=30)
        cleaned = await cli_run("clean", "--older-than", "30d")
        assert cleaned.returncode == 0 and "forgot keep0002" in cleaned.stdout, cleaned
        await wait_for(pilot, lambda: rows(app) == {"keep0000"}, timeout=30)
        assert set(app.jobs_by_id) == {"keep0000"}


# ---- history before the epoch --------------------------------------------------------------------


def test_a_window_start_before_the_epoch_is_clamped() -> None:
    assert clamped(time.time() - 100000 * 86400) == EARLIEST == 86400
    assert clamped(1.7e9) == 1.7e9


@pytest.mark.parametrize("scheduler", ["slurm", "sge"])
def test_history_since_before_the_epoch_works(scheduler: str, env: dict[str, str], request: pytest.FixtureRequest) -> None:
    request.getfixturevalue(f"{scheduler}_cluster")

    def jobids(since: str) -> set[str]:
        proc = cli(env, "history", "--cluster", scheduler, "--since", since, "--json")
        assert proc.returncode == 0, proc.stderr
        return {str(r["jobid"]) for r in json.loads(proc.stdout)}

    recent = jobids("7d")
    # before the clamp, sacct read the start "-711-01-06T..." as a window with nothing in it: an empty list
    for since in ("100000d", "1000000d"):
        assert jobids(since) >= recent
    table = cli(env, "history", "--cluster", scheduler, "--since", "100000d", "--limit", "3")
    assert table.returncode == 0 and table.stdout.startswith("CLUSTER"), table.stderr
