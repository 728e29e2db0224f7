"""One truth across processes (#11 item 3) and half-submitted jobs (#11 item 8), on the real local backend
and the real SLURM of this machine.

Each "process" is a Deck with a Journal connection of its own on the same journal file, as the CLI and the
app are. Every journal write is conditional on the version it read: a poll's answer computed from an older
copy never overwrites what another process wrote meanwhile, and the intent to cancel is in the journal
before the scheduler's cancel command runs.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from batchdeck.backends.engine.config import Config, parse_cluster
from batchdeck.backends.engine.deck import ACTIVE_STATES, NEVER_REACHED, SUBMITTING, Deck
from batchdeck.backends.engine.journal import Journal, StaleRecord
from batchdeck.backends.errors import BatchdeckError, SchedulerError, TransportError
from batchdeck.backends.model import JobRecord, JobSpec, Outcome, RunState
from batchdeck.backends.schedulers.local import FAILED_TO_START

from helpers import eventually

BATCHDECK = [sys.executable, "-m", "batchdeck.tui.cli"]


def config(kind: str, root: Path, **keys: Any) -> Config:
    return Config(path=None, clusters={"c": parse_cluster("c", {"type": kind, "sandbox_root": str(root), **keys}, None)})


@pytest.fixture(params=["local", "slurm"])
def kind(request: pytest.FixtureRequest) -> str:
    if request.param == "slurm":
        request.getfixturevalue("slurm_cluster")
    return str(request.param)


class Two:
    """Two batchdeck processes (Decks, each with its own journal connection) on one journal file."""

    def __init__(self, kind: str, tmp: Path, **keys: Any) -> None:
        self.kind, self.root, self.path = kind, tmp / "sandboxes", tmp / "journal.sqlite"
        self.gate = tmp / "gate"
        self.a = Deck(config(kind, self.root, **keys), Journal(self.path))
        self.b = Deck(config(kind, self.root, **keys), Journal(self.path))

    def waiting(self, name: str = "wait") -> JobSpec:
        """A job that runs until the test (or its cleanup) opens the gate."""
        return JobSpec(command=["/bin/sh", "-c", f"while [ ! -e {self.gate} ]; do sleep 0.2; done"], name=name, walltime=300)

    def row(self, job_id: str) -> tuple[dict[str, Any], int]:
        """The journal's row as a third process sees it: the record and its change number."""
        journal = Journal(self.path)
        try:
            record = journal.get(job_id)
        finally:
            journal.close()
        data = record.to_dict()
        return data, int(data.pop("version"))

    async def settle(self, deck: Deck, job_id: str, done: Any, timeout: float = 90, what: str = "") -> JobRecord:
        async def check() -> bool:
            await deck.poll("c")
            return bool(done(deck.job(job_id)))

        await eventually(check, timeout=timeout, what=what or f"job {job_id} to settle")
        return deck.job(job_id)

    async def close(self) -> None:
        self.gate.touch()
        for deck in (self.a, self.b):
            for job in deck.jobs("c"):
                if job.state.is_active:
                    try:
                        await deck.cancel(job.id)
                    except BatchdeckError:
                        pass
        await self.a.close()
        await self.b.close()


@pytest.fixture
async def two(kind: str, tmp_path: Path) -> AsyncIterator[Two]:
    pair = Two(kind, tmp_path)
    try:
        yield pair
    finally:
        await pair.close()


def cancelled(job: JobRecord) -> bool:
    return job.state in (RunState.TERMINATING, RunState.TERMINATED) and job.outcome == Outcome.CANCELLED


# ---- item 3: conditional writes ------------------------------------------------------------------


def test_a_write_from_an_older_copy_is_refused_and_the_newer_row_stays(tmp_path: Path) -> None:
    first, second = Journal(tmp_path / "j.sqlite"), Journal(tmp_path / "j.sqlite")
    job = JobRecord(id="race0001", cluster="c", spec=JobSpec(command=["true"]), jobid="1")
    job.transition(RunState.SUBMITTED, "submitted")
    first.save(job)
    old = first.get(job.id)  # a poll's copy
    newer = second.get(job.id)
    newer.cancel_requested = time.time()
    second.save(newer)
    old.transition(RunState.UNKNOWN, "the scheduler no longer knows this job")
    with pytest.raises(StaleRecord):
        first.save(old)
    assert first.save_many([old]) == [old]
    again = first.get(job.id)
    assert (again.state, again.cancel_requested) == (RunState.SUBMITTED, newer.cancel_requested)
    # a new record never replaces an existing row either
    assert first.save_many([JobRecord(id="race0001", cluster="c", spec=JobSpec(command=["true"]))])
    first.close()
    second.close()


#: one batchdeck process writing one job's row: an "action" re-applies its change on the newer copy
#: when its write is refused (as Deck._write does); an "observer" drops its answer instead (as
#: Deck.poll does), after holding its copy a while as a poll holds it while the scheduler answers
RACER = """
import sys
from batchdeck.backends.engine.journal import Journal, StaleRecord
from batchdeck.backends.model import RunState, Transition
path, role, name, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
journal = Journal(path)
written = 0
for k in range(count):
    while True:
        job = journal.get("race0001")
        if role == "observer":
            journal.jobs()  # the copy ages while the "scheduler" answers
            job.raw_state = f"{name}-{k}"
            written += not journal.save_many([job])
            break
        job.history.append(Transition(float(k), RunState.SUBMITTED, RunState.SUBMITTED, f"{name}-{k}"))
        try:
            journal.save(job)
            break
        except StaleRecord:
            continue
print(written)
"""


def test_writers_in_racing_processes_lose_no_update(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    journal = Journal(path)
    job = JobRecord(id="race0001", cluster="c", spec=JobSpec(command=["true"]), jobid="1")
    job.transition(RunState.SUBMITTED, "submitted")
    journal.save(job)
    count = 60
    roles = [("action", "a"), ("action", "b"), ("observer", "p"), ("observer", "q")]
    procs = [
        subprocess.Popen([sys.executable, "-c", RACER, str(path), role, name, str(count)], stdout=subprocess.PIPE, text=True)
        for role, name in roles
    ]
    outputs = [proc.communicate(timeout=300)[0] for proc in procs]
    assert all(proc.returncode == 0 for proc in procs), outputs
    final = journal.get(job.id)
    # every action of both writers is in the row: none was overwritten by another's older copy
    actions = [t.reason for t in final.history if t.reason != "submitted"]
    assert sorted(actions) == sorted(f"{name}-{k}" for _role, name in roles[:2] for k in range(count))
    # each action writer's changes are in its own order
    for name in ("a", "b"):
        assert [r for r in actions if r.startswith(f"{name}-")] == [f"{name}-{k}" for k in range(count)]
    # the observers wrote only over the version they read (some were dropped, none took an action away)
    observed = sum(int(out) for out in outputs[2:])
    assert observed <= 2 * count
    assert final.raw_state == "" or final.raw_state[:2] in {f"{name}-" for _role, name in roles[2:]}
    journal.close()


async def test_a_stale_poll_answer_does_not_overwrite_a_cancel_another_process_wrote(two: Two) -> None:
    job = await two.a.submit("c", two.waiting())
    await two.settle(two.a, job.id, lambda j: j.state == RunState.RUNNING, what="the job to run")
    # process A's poll reads its copies and asks the scheduler ...
    copies = two.a.journal.jobs("c", ACTIVE_STATES)
    # ... meanwhile process B cancels the job
    await two.b.cancel(job.id)
    written_by_b, version = two.row(job.id)
    assert written_by_b["cancel_requested"] is not None
    # A's answer comes from its older copy: its write is refused, B's record stays as it was
    result = await two.a.backend("c").update_job_states(copies)
    stale = two.a.journal.save_many(list({id(j): j for j in [*result.changed, *copies]}.values()))
    assert [c.id for c in stale] == [job.id]
    assert two.row(job.id) == (written_by_b, version)
    # the next poll starts from B's record and ends the job cancelled, in both processes
    await two.settle(two.a, job.id, cancelled, what="the job to end cancelled")
    assert cancelled(two.b.job(job.id))
    assert [t.new for t in two.a.job(job.id).history].count(RunState.UNKNOWN) == 0


async def test_cancels_racing_polls_of_another_process_all_end_cancelled(two: Two) -> None:
    jobs = [await two.a.submit("c", two.waiting(f"race{k}")) for k in range(4)]
    stop = asyncio.Event()

    async def keep_polling() -> None:
        while not stop.is_set():
            try:
                await two.a.poll("c")
            except BatchdeckError:
                pass
            await asyncio.sleep(0)

    poller = asyncio.create_task(keep_polling())
    try:
        for job in jobs:
            await two.b.cancel(job.id)
    finally:
        stop.set()
        await poller

    async def all_cancelled() -> bool:
        await two.a.poll("c")
        return all(cancelled(two.a.job(job.id)) for job in jobs)

    await eventually(all_cancelled, timeout=120, what="every cancelled job to read cancelled")
    for job in jobs:
        history = [t.new for t in two.b.job(job.id).history]
        assert RunState.UNKNOWN not in history, history


@pytest.fixture
def slow_answering_scancel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A scancel first on PATH that snapshots the journal when it starts, runs the real scancel, and
    (when ``hang`` exists) never answers: the scheduler cancelled, batchdeck never heard back."""
    real = subprocess.run(["sh", "-c", "command -v scancel"], capture_output=True, text=True).stdout.strip()
    assert real, "scancel is not on PATH"
    folder = tmp_path / "bin"
    folder.mkdir()
    snapshot = tmp_path / "journal-at-scancel.json"
    script = folder / "scancel"
    script.write_text(
        "#!/bin/sh\n"
        f'{sys.executable} -c "import json, sqlite3, sys; db = sqlite3.connect(sys.argv[1]); '
        "print(json.dumps([json.loads(r) for (r,) in db.execute('SELECT record FROM jobs')]))\" "
        f'{tmp_path / "journal.sqlite"} > {snapshot}\n'
        f'{real} "$@" || exit $?\n'
        f'[ -e {tmp_path / "hang"} ] && exec sleep 60\n'
        "exit 0\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    yield snapshot


async def test_the_cancel_intent_is_in_the_journal_when_scancel_starts(
    slurm_cluster: None, tmp_path: Path, slow_answering_scancel: Path
) -> None:
    pair = Two("slurm", tmp_path, command_timeout=10)
    try:
        job = await pair.a.submit("c", pair.waiting())
        await pair.a.cancel(job.id)
        seen = {r["id"]: r for r in json.loads(slow_answering_scancel.read_text())}
        assert seen[job.id]["cancel_requested"] is not None, seen[job.id]
        await pair.settle(pair.b, job.id, cancelled, what="the job to end cancelled")

        # scancel cancels the job but never answers (batchdeck killed or the link lost after it):
        # the cancel fails in one line, the intent stays, another process ends the job cancelled
        (tmp_path / "hang").touch()
        second = await pair.a.submit("c", pair.waiting("hangs"))
        with pytest.raises(TransportError, match="did not finish within 10 s"):
            await pair.a.cancel(second.id)
        assert pair.row(second.id)[0]["cancel_requested"] is not None
        await pair.settle(pair.b, second.id, cancelled, what="the job whose cancel never answered to end cancelled")
    finally:
        (tmp_path / "hang").unlink(missing_ok=True)
        await pair.close()


async def test_a_refused_cancel_takes_its_intent_back(slurm_cluster: None, tmp_path: Path) -> None:
    """scancel refuses job id 0 ("Invalid job id 0", exit 1): a definite "no", so after the intent was
    stored the journal is put back to no cancel under way, and the refusal is one line."""
    pair = Two("slurm", tmp_path)
    try:
        job = JobRecord(id="refuse01", cluster="c", spec=JobSpec(command=["true"]), jobid="0")
        job.transition(RunState.SUBMITTED, "submitted")
        job.last_seen = time.time()
        pair.a.journal.save(job)
        _before, version = pair.row(job.id)
        with pytest.raises(SchedulerError, match="Invalid job id 0") as refused:
            await pair.a.cancel(job.id)
        assert "\n" not in str(refused.value)
        after, new_version = pair.row(job.id)
        # two writes: the intent, then taking it back
        assert after["cancel_requested"] is None and new_version > version + 1
    finally:
        await pair.close()


# ---- item 8: half-submitted jobs -----------------------------------------------------------------


def fresh_id(prefix: str) -> str:
    """A batchdeck-shaped id (8 characters) no earlier run used."""
    return prefix + uuid.uuid4().hex[: 8 - len(prefix)]


def submitting(journal: Journal, job_id: str, age: float = 0.0, cluster: str = "c") -> JobRecord:
    """A journal row as a submit killed after recording it leaves it: NEW, "submitting"."""
    job = JobRecord(id=job_id, cluster=cluster, spec=JobSpec(command=["true"], name="half"), created=time.time() - age)
    job.reason = SUBMITTING
    journal.save(job)
    return job


@pytest.fixture(params=["local", "slurm", "sge"])
def any_kind(request: pytest.FixtureRequest) -> str:
    if request.param != "local":
        request.getfixturevalue(f"{request.param}_cluster")
    return str(request.param)


async def test_a_submit_the_scheduler_never_saw_refuses_cancel_and_free_then_is_marked_failed(
    any_kind: str, tmp_path: Path
) -> None:
    deck = Deck(config(any_kind, tmp_path / "sandboxes", submit_timeout=600), Journal(tmp_path / "journal.sqlite"))
    try:
        fresh = submitting(deck.journal, "neverfr1")
        old = submitting(deck.journal, "neverol1", age=700)
        for action in (deck.cancel, deck.free):
            with pytest.raises(BatchdeckError) as refused:
                await action(fresh.id)
            message = str(refused.value)
            assert "\n" not in message and "state is unknown" in message and "nothing was done" in message
        assert deck.job(fresh.id).state == RunState.NEW
        # the first command already resolved the old one against queue and accounting: never reached
        gone = deck.job(old.id)
        assert (gone.state, gone.reason, gone.outcome) == (RunState.TERMINATED, NEVER_REACHED, Outcome.FAILED)
    finally:
        await deck.close()


def test_the_cli_cancel_of_an_unresolved_submit_is_one_line(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "data" / "journal.sqlite")
    submitting(journal, "clihalf1")
    journal.close()
    conf = tmp_path / "batchdeck.toml"
    conf.write_text(f'[clusters.c]\ntype = "local"\nsandbox_root = "{tmp_path / "sandboxes"}"\n')
    env = {**os.environ, "BATCHDECK_DATA_DIR": str(tmp_path / "data"), "BATCHDECK_CONFIG": str(conf)}
    proc = subprocess.run([*BATCHDECK, "cancel", "clihalf1"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and proc.stderr.count("\n") == 1 and "state is unknown" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and "TERMINATED" not in proc.stdout


def sbatch(tag: str, root: Path, command: str) -> str:
    return subprocess.run(
        ["sbatch", "--parsable", f"--job-name=bd-{tag}-half", f"--chdir={root}", "--output=/dev/null", "--wrap", command],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip


async def test_slurm_submits_the_scheduler_did_see_are_found_by_their_tag_in_queue_and_accounting(
    slurm_cluster: None, tmp_path: Path
) -> None:
    # fresh tags each run: accounting keeps the jobs of earlier runs under their tags
    queued_id, done_id = fresh_id("q"), fresh_id("a")
    root = tmp_path / "sandboxes"
    root.mkdir()
    gate = tmp_path / "gate"
    deck = Deck(config("slurm", root), Journal(tmp_path / "journal.sqlite"))
    queued = sbatch(queued_id, root, f"while [ ! -e {gate} ]; do sleep 0.2; done")
    done = sbatch(done_id, root, "true")
    try:
        submitting(deck.journal, queued_id)
        submitting(deck.journal, done_id)

        def left_queue() -> bool:
            out = subprocess.run(["squeue", "-h", "-j", done, "-o", "%i"], capture_output=True, text=True).stdout
            return not out.strip()

        def accounted() -> bool:
            out = subprocess.run(["sacct", "-n", "-X", "-j", done, "-o", "State"], capture_output=True, text=True).stdout
            return "COMPLETED" in out

        await eventually(left_queue, timeout=60, what="the finished job to leave the queue")
        await eventually(accounted, timeout=60, what="accounting to know the finished job")
        # the first command that touches a job resolves both: the queued one from squeue, the
        # finished one from accounting
        with pytest.raises(BatchdeckError, match="only TERMINATED jobs can be freed"):
            await deck.free(queued_id)
        first = deck.job(queued_id)
        assert first.jobid == queued and first.state in (RunState.SUBMITTED, RunState.RUNNING)

        async def finished() -> bool:
            await deck.poll("c")
            return deck.job(done_id).state == RunState.TERMINATING

        await eventually(finished, timeout=60, what="the accounted job to be resolved")
        second = deck.job(done_id)
        assert (second.jobid, second.outcome, second.exitcode) == (done, Outcome.OK, 0)
        await deck.cancel(queued_id)

        async def cancelled_now() -> bool:
            await deck.poll("c")
            return cancelled(deck.job(queued_id))

        await eventually(cancelled_now, timeout=60, what="the found job to end cancelled")
    finally:
        gate.touch()
        subprocess.run(["scancel", queued], capture_output=True)
        await deck.close()


async def test_a_local_job_whose_runner_never_started_is_marked_failed_to_start(tmp_path: Path) -> None:
    deck = Deck(config("local", tmp_path / "sandboxes", submit_timeout=1), Journal(tmp_path / "journal.sqlite"))

    class Killed(Exception):
        """batchdeck killed after the sandbox and its tag file were written, before the runner started."""

    def killed(record: JobRecord) -> None:
        deck.journal.save(record)
        raise Killed

    try:
        job = deck.new_job("c", JobSpec(command=["true"], name="neverrun"))
        job.reason = SUBMITTING
        deck.journal.save(job)
        with pytest.raises(Killed):
            await deck.backend("c").submit_job(job, on_prepared=killed)
        assert (Path(job.sandbox or "") / ".batchdeck" / "name").exists()

        async def failed() -> bool:
            await deck.poll("c")
            return deck.job(job.id).state == RunState.TERMINATED

        await eventually(failed, timeout=30, what="the runner-less job to be marked failed")
        record = deck.job(job.id)
        assert record.outcome == Outcome.FAILED and record.reason.startswith(FAILED_TO_START), record.reason
        assert record.jobid == job.id  # found by its tag first: a real record, and free works on it
        await deck.free(job.id)
        assert not Path(job.sandbox or "").exists()
    finally:
        await deck.close()


# ---- item 2, the app and CLI side: a lost job says so, and when it is asked about next --------------


def lost_job(journal: Journal, root: Path) -> JobRecord:
    """A local job whose sandbox (all the local "scheduler" knows of it) is gone: nothing answers for it."""
    job = JobRecord(id="lostjob1", cluster="c", spec=JobSpec(command=["true"], name="lost"), jobid="lostjob1")
    job.sandbox = str(root / job.id)
    job.transition(RunState.SUBMITTED, "submitted")
    job.last_seen = time.time() - 3600
    journal.save(job)
    return job


def test_a_lost_job_says_when_it_is_checked_next_in_status_show_and_the_app(tmp_path: Path) -> None:
    from batchdeck.tui.main_screen import job_detail
    from batchdeck.tui.rows import outcome

    root = tmp_path / "sandboxes"
    root.mkdir()
    journal = Journal(tmp_path / "data" / "journal.sqlite")
    lost_job(journal, root)
    journal.close()
    conf = tmp_path / "batchdeck.toml"
    conf.write_text(f'[clusters.c]\ntype = "local"\nsandbox_root = "{root}"\n')
    env = {**os.environ, "BATCHDECK_DATA_DIR": str(tmp_path / "data"), "BATCHDECK_CONFIG": str(conf)}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*BATCHDECK, *args], env=env, capture_output=True, text=True, timeout=60)

    status = cli("status", "lostjob1")
    assert status.returncode == 0 and "UNKNOWN" in status.stdout and "next check" in status.stdout, status
    summary = json.loads(cli("status", "--json", "lostjob1").stdout)
    assert summary["state"] == "UNKNOWN" and summary["recheck_at"] > time.time()
    show = cli("show", "lostjob1")
    assert show.returncode == 0 and "asked again" in show.stdout and "back-off" in show.stdout, show
    # the app's row and Details pane, from the record the CLI wrote
    journal = Journal(tmp_path / "data" / "journal.sqlite")
    job = journal.get("lostjob1")
    journal.close()
    clock = time.strftime("%H:%M:%S", time.localtime(job.recheck_at or 0))
    assert outcome(job).endswith(f"next check {clock}")
    assert "asked again" in job_detail(job, time.time()).plain and "back-off" in job_detail(job, time.time()).plain


# ---- item 3: a stored cancel intent is sent again by the next poll of any process -------------------


@pytest.fixture(params=["slurm", "sge"])
def real_kind(request: pytest.FixtureRequest) -> str:
    request.getfixturevalue(f"{request.param}_cluster")
    return str(request.param)


class Cli:
    """``batchdeck`` as another process on the test's journal, its cancel command (scancel/qdel)
    first on PATH: logged, and suppressed while ``suppress`` exists."""

    def __init__(self, kind: str, tmp: Path) -> None:
        # readable by the jobs of every scheduler here (pytest's tmp_path is root-only)
        self.root = Path("/var/tmp/batchdeck-test") / f"truth3-{os.getpid()}-{time.monotonic_ns()}"
        self.root.mkdir(parents=True)
        self.kind, self.data, self.conf = kind, tmp / "data", tmp / "batchdeck.toml"
        self.log, self.suppress = tmp / "cancels.log", tmp / "suppress"
        command = "scancel" if kind == "slurm" else "qdel"
        real = subprocess.run(["sh", "-c", f"command -v {command}"], capture_output=True, text=True).stdout.strip()
        assert real, f"{command} is not on PATH"
        self.real_cancel = real
        folder = tmp / "bin"
        folder.mkdir()
        wrapper = folder / command
        wrapper.write_text(f'#!/bin/sh\necho "$@" >> {self.log}\n[ -e {self.suppress} ] && exit 0\nexec {real} "$@"\n')
        wrapper.chmod(0o755)
        self.env = {
            **os.environ,
            "PATH": f"{folder}{os.pathsep}{os.environ['PATH']}",
            "BATCHDECK_DATA_DIR": str(self.data),
            "BATCHDECK_CONFIG": str(self.conf),
        }
        self.configure(poll_interval=600)

    def configure(self, poll_interval: float) -> None:
        self.conf.write_text(
            f'[clusters.c]\ntype = "{self.kind}"\nsandbox_root = "{self.root}"\npoll_interval = {poll_interval}\n'
        )

    def sends(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def summary(self, job_id: str) -> dict[str, Any]:
        proc = subprocess.run([*BATCHDECK, "list", "--json"], env=self.env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        return next(row for row in json.loads(proc.stdout) if row["id"] == job_id)


async def test_a_cancel_intent_whose_command_never_went_out_is_sent_by_the_next_cli_list(
    real_kind: str, tmp_path: Path
) -> None:
    cli = Cli(real_kind, tmp_path)
    gate = cli.root / "gate"
    deck = Deck(config(real_kind, cli.root), Journal(cli.data / "journal.sqlite"))
    job = await deck.submit("c", JobSpec(command=["/bin/sh", "-c", f"while [ ! -e {gate} ]; do sleep 0.2; done"],
                                         name="intent", walltime=300))  # fmt: skip
    try:
        # what a batchdeck killed right after storing its intent leaves: the intent, no command sent
        # (stored longer than a poll interval ago: until then the process storing it may be sending it)
        record = deck.job(job.id)
        record.cancel_requested = time.time() - 700
        deck.journal.save(record)
        cli.suppress.touch()
        first = cli.summary(job.id)
        assert cli.sends() == [job.jobid], cli.sends()
        assert first["cancel_requested"] == record.cancel_requested and first["cancel_sent"] is not None
        assert first["state"] in ("SUBMITTED", "RUNNING") and "sent again at" in first["reason"], first
        assert first["reason"].startswith("cancel requested at "), first
        # at most once per poll interval (600 s here), whichever process polls
        again = cli.summary(job.id)
        assert cli.sends() == [job.jobid] and again["cancel_sent"] == first["cancel_sent"]
        await deck.poll("c")
        assert cli.sends() == [job.jobid]
        # the interval passed (1 s now) and the command reaches the scheduler: the job ends cancelled
        cli.suppress.unlink()
        cli.configure(poll_interval=1)
        done: dict[str, Any] = {}

        def ended_cancelled() -> bool:
            done.update(cli.summary(job.id))
            return done["state"] in ("TERMINATING", "TERMINATED") and done["outcome"] == "cancelled"

        await eventually(ended_cancelled, timeout=120, what="the job to end cancelled after `batchdeck list`")
        assert len(cli.sends()) >= 2 and done["cancel_sent"] > first["cancel_sent"]
    finally:
        gate.touch()
        subprocess.run([cli.real_cancel, job.jobid or ""], capture_output=True)
        await deck.close()
        shutil.rmtree(cli.root, ignore_errors=True)


# ---- item 8 on SLURM and Grid Engine: queue, accounting, then the job's own exit-status file --------


def outside_submit(kind: str, tag: str, root: Path, command: str) -> str:
    """A job submitted with batchdeck's tag but not by this journal: as a killed submit leaves it."""
    if kind == "slurm":
        return sbatch(tag, root, command)
    out = subprocess.run(
        ["qsub", "-terse", "-N", f"bd-{tag}-half", "-wd", str(root), "-o", "/dev/null", "-e", "/dev/null", "-S", "/bin/sh"],
        input=f"{command}\n", capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    return out.split(".")[0]


def accounted_ok(kind: str, jobid: str) -> bool:
    if kind == "slurm":
        # slurmdbd names a job "allocation" until its full record arrives: until then accounting
        # cannot tell the job's tag (batchdeck finds it by that name one poll later)
        out = subprocess.run(["sacct", "-n", "-X", "-P", "-j", jobid, "-o", "State,JobName"],
                             capture_output=True, text=True).stdout  # fmt: skip
        return "COMPLETED|bd-" in out
    return subprocess.run(["qacct", "-j", jobid], capture_output=True, text=True).returncode == 0


async def test_half_submitted_jobs_resolve_from_queue_accounting_and_their_exit_status_file(
    real_kind: str, tmp_path: Path
) -> None:
    # fresh tags each run: accounting keeps the jobs of earlier runs under their tags
    queued_id, done_id, file_id = fresh_id("q"), fresh_id("a"), fresh_id("f")
    cli = Cli(real_kind, tmp_path)
    gate = cli.root / "gate"
    deck = Deck(config(real_kind, cli.root), Journal(cli.data / "journal.sqlite"))
    maker = Deck(config(real_kind, cli.root), Journal(tmp_path / "maker.sqlite"))
    # as a submit records its job before asking the scheduler (a kill between the two leaves these)
    for tag in (queued_id, done_id, file_id):
        submitting(deck.journal, tag)
    queued = outside_submit(real_kind, queued_id, cli.root, f"while [ ! -e {gate} ]; do sleep 0.2; done")
    done = outside_submit(real_kind, done_id, cli.root, "true")
    try:
        # a real batchdeck job leaves its exit-status file; a copy of its sandbox under another tag
        # is a job that ran while neither the queue nor accounting has heard of its tag. (Run from
        # a journal of its own: this one's polls would adopt the tagged jobs above first.)
        ran = await maker.submit("c", JobSpec(command=["/bin/sh", "-c", "exit 3"], name="ran", walltime=120))

        async def finished() -> bool:
            await maker.poll("c")
            return maker.job(ran.id).state == RunState.TERMINATING

        await eventually(finished, timeout=120, what="the batchdeck job to finish")
        shutil.copytree(ran.sandbox or "", cli.root / file_id)
        await eventually(lambda: accounted_ok(real_kind, done), timeout=120, what="accounting to know the finished job")
        # one `batchdeck list` (another process) resolves all three
        proc = subprocess.run([*BATCHDECK, "list", "--json"], env=cli.env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        rows = {row["id"]: row for row in json.loads(proc.stdout)}
        assert rows[queued_id]["jobid"] == queued and rows[queued_id]["state"] in ("SUBMITTED", "RUNNING")
        accounted = rows[done_id]
        assert (accounted["jobid"], accounted["state"], accounted["outcome"]) == (done, "TERMINATING", "ok"), accounted
        from_file = rows[file_id]
        assert (from_file["state"], from_file["outcome"], from_file["exitcode"]) == ("TERMINATING", "failed", 3), from_file
        assert from_file["sandbox"] == str(cli.root / file_id)
        # a found job is a full record: free works on the finished ones, cancel ends the queued one
        await deck.get_results(file_id, tmp_path / "results")
        await deck.free(file_id)
        assert not (cli.root / file_id).exists()
        await deck.cancel(queued_id)

        async def cancelled_now() -> bool:
            await deck.poll("c")
            return cancelled(deck.job(queued_id))

        await eventually(cancelled_now, timeout=120, what="the found job to end cancelled")
    finally:
        gate.touch()
        subprocess.run([cli.real_cancel, queued], capture_output=True)
        await deck.close()
        await maker.close()
        shutil.rmtree(cli.root, ignore_errors=True)
