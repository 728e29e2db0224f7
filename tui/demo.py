"""A fixed, offline deck for screenshots and snapshot tests.

A real Deck over a real journal and real sandbox files, with fixed ids,
timestamps and cluster states, and no polling: every run renders the same.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from ..backends.engine.config import load_config
from ..backends.engine.deck import Deck
from ..backends.engine.history import WINDOWS
from ..backends.engine.journal import Journal
from ..backends.errors import BatchdeckError
from ..backends.model import (
    HistoryRecord,
    JobDetails,
    JobRecord,
    JobSpec,
    Outcome,
    QueueInfo,
    RunState,
    SchedulerJob,
    TaskState,
)
from .app import BatchdeckApp

#: 2026-03-02 09:30:00 UTC: the demo's "now"
FIXED_NOW = 1772443800.0
DEMO_ROOT = Path("/tmp/batchdeck-demo")

CONFIG = """\
[clusters.localhost]
type = "local"
sandbox_root = "{root}/sandboxes"
max_cores = 4
max_walltime = "24:00:00"
poll_interval = 1

[clusters.hpc]
type = "slurm"
frontend = "login.hpc.example.org"
max_cores_per_job = 64
max_memory_per_core = "8G"
max_walltime = "2-00:00:00"

[clusters.oldhpc]
type = "sge"
frontend = "gate.old.example.org"

[clusters.bigiron]
type = "pbs"
frontend = "bigiron.example.org"
max_cores = "lots"
"""


def _job(
    ident: str,
    name: str,
    cluster: str,
    command: list[str],
    state: RunState,
    created: float,
    *,
    queue: str | None = None,
    started: float | None = None,
    finished: float | None = None,
    exitcode: int | None = None,
    signal: int | None = None,
    reason: str = "",
    raw_state: str = "",
    stale: bool = False,
    sandbox: str | None = None,
    cores: int = 1,
    outcome: Outcome | None = None,
) -> JobRecord:
    job = JobRecord(
        id=ident,
        cluster=cluster,
        spec=JobSpec(command=command, name=name, queue=queue, cores=cores),
        jobid=ident if cluster == "localhost" else str(48000 + int(created) % 1000),
        sandbox=sandbox,
        state=state,
        raw_state=raw_state,
        exitcode=exitcode,
        signal=signal,
        reason=reason,
        queue=queue,
        created=created,
        submitted=created + 1,
        started=started,
        finished=finished,
        last_seen=FIXED_NOW,
        stale=stale,
        outcome=outcome,
    )
    return job


def _demo_array(now: float) -> JobRecord:
    """A batchdeck array of 45 tasks on hpc: 12 run, 30 pend, 3 failed."""
    job = _job("z1y2x3w4", "sweep", "hpc", ["./sweep.sh"], RunState.RUNNING, now - 1200, queue="short",
               started=now - 1100, raw_state="RUNNING", reason="12 of 45 tasks running",
               sandbox="/home/ada/.batchdeck/jobs/z1y2x3w4")  # fmt: skip
    job.spec.array = "1-45%12"
    for task in range(1, 46):
        if task <= 12:
            job.tasks[str(task)] = TaskState(RunState.RUNNING, "RUNNING")
        elif task <= 15:
            job.tasks[str(task)] = TaskState(RunState.TERMINATING, "FAILED", "failed", Outcome.FAILED, exitcode=2)
        else:
            job.tasks[str(task)] = TaskState(RunState.SUBMITTED, "PENDING", "JobArrayTaskLimit")
    return job


def build_demo_deck(root: Path = DEMO_ROOT, arrays: bool = False) -> tuple[Deck, dict[str, list[QueueInfo]]]:
    """The demo deck (its journal, config and sandboxes rebuilt under ``root``) and its queues;
    ``arrays`` adds a batchdeck array job and a plain ``sbatch --array`` one."""
    if root.exists():
        shutil.rmtree(root)
    sandboxes = root / "sandboxes"
    sandboxes.mkdir(parents=True)
    config_path = root / "batchdeck.toml"
    config_path.write_text(CONFIG.format(root=root))
    journal = Journal(root / "journal.sqlite")
    now = FIXED_NOW
    local_sandbox = str(sandboxes / "a1b2c3d4")
    jobs = [
        _job("e5f6g7h8", "preprocess", "localhost", ["python", "prep.py", "data/"], RunState.TERMINATED,
             now - 7200, started=now - 7190, finished=now - 6500, exitcode=0, reason="results fetched",
             queue="local", outcome=Outcome.OK, sandbox=str(sandboxes / "e5f6g7h8")),
        _job("a1b2c3d4", "train-resnet", "localhost", ["python", "train.py", "--epochs", "40"], RunState.RUNNING,
             now - 3800, started=now - 3723, queue="local", sandbox=local_sandbox, cores=2, raw_state="running"),
        # a multi-line command: Details shows one line of it until the user expands it
        _job("u1v2w3x4", "quick-test", "localhost",
             ["sh", "-c", 'for f in data/*.csv; do\n  python check.py "$f" || exit 1\ndone'], RunState.TERMINATED,
             now - 3000, started=now - 2990, finished=now - 2900, signal=15, reason="cancelled", queue="local",
             outcome=Outcome.CANCELLED),
        _job("i9j0k1l2", "sweep-07", "hpc", ["./sweep.sh", "7"], RunState.SUBMITTED, now - 1800,
             queue="gpu", reason="Priority", raw_state="PENDING", sandbox="/home/ada/.batchdeck/jobs/i9j0k1l2"),
        _job("m3n4o5p6", "bad-params", "hpc", ["./sweep.sh", "--lr", "-1"], RunState.TERMINATING, now - 1500,
             queue="short", started=now - 1400, finished=now - 1388, exitcode=1, raw_state="FAILED",
             sandbox="/home/ada/.batchdeck/jobs/m3n4o5p6", outcome=Outcome.FAILED),
        _job("q7r8s9t0", "assembly", "oldhpc", ["spades.py", "-k", "21,33,55"], RunState.RUNNING, now - 900,
             queue="all.q", started=now - 850, raw_state="r", stale=True,
             sandbox="/home/ada/.batchdeck/jobs/q7r8s9t0"),
    ]
    if arrays:
        jobs.append(_demo_array(now))
    for job in jobs:
        journal.save(job)
    lines = [f"epoch {n:3d}/40  loss {2.5 / (n + 1):.4f}  acc {min(0.99, 0.4 + n * 0.02):.3f}" for n in range(1, 25)]
    (sandboxes / "a1b2c3d4").mkdir()
    (sandboxes / "a1b2c3d4" / "stdout.txt").write_text("loading dataset: 50000 images\n" + "\n".join(lines) + "\n")
    (sandboxes / "a1b2c3d4" / "stderr.txt").write_text("warning: cudnn not found, using CPU kernels\n")
    (sandboxes / "e5f6g7h8").mkdir()
    (sandboxes / "e5f6g7h8" / "stdout.txt").write_text("prepared 50000 records\n")

    deck = Deck(load_config(config_path), journal)
    status = deck.status
    status["localhost"].state = "connected"
    status["localhost"].last_refresh = now
    status["hpc"].state = "connected"
    status["hpc"].last_refresh = now
    status["hpc"].other_jobs = [
        SchedulerJob("48213", RunState.RUNNING, raw_state="RUNNING", name="jupyter-notebook", user="ada",
                     queue="interactive", start_time=now - 5400),
        SchedulerJob("48240", RunState.SUBMITTED, raw_state="PENDING", name="bd-i9j0k1l2-sweep-07", user="ada",
                     queue="gpu", reason="Priority"),
    ]
    if arrays:
        status["hpc"].other_jobs += [
            SchedulerJob("48300_1", RunState.RUNNING, raw_state="RUNNING", name="render", user="ada", queue="short",
                         start_time=now - 600, array_id="48300", array_task="1"),
            SchedulerJob("48300_2", RunState.RUNNING, raw_state="RUNNING", name="render", user="ada", queue="short",
                         start_time=now - 590, array_id="48300", array_task="2"),
            SchedulerJob("48300_[3-8%2]", RunState.SUBMITTED, raw_state="PENDING", name="render", user="ada",
                         queue="short", reason="JobArrayTaskLimit", array_id="48300", array_task="3-8%2"),
        ]  # fmt: skip
    status["oldhpc"].state = "error"
    status["oldhpc"].error = "cannot connect to gate.old.example.org:22: Connection refused"
    queues = {
        "localhost": [QueueInfo("local", "up", True, 86400, 4, 2, 1, 0, 1)],
        "hpc": [
            QueueInfo("short", "up", True, 4 * 3600, 512, 140, 37, 12, 16),
            QueueInfo("gpu", "up", False, 2 * 86400, 128, 0, 16, 41, 4),
            QueueInfo("interactive", "up", False, 8 * 3600, 32, 20, 3, 0, 2),
            QueueInfo("maint", "drain", False, None, 64, 0, 0, 0, 2),
        ],
    }
    _demo_history(deck, now)
    return deck, queues


def _demo_history(deck: Deck, now: float) -> None:
    """What the history view shows: the clusters' accounting, as if just asked (the Deck's cache);
    localhost (no accounting) and bigiron (its broken settings) answer for themselves, offline."""
    since = now - WINDOWS["7d"]

    def done(jobid: str, name: str, outcome: Outcome, ended: float, elapsed: float, cores: int,
             cpu: float | None, mem: float | None, exitcode: int = 0, signal: int | None = None,
             state: str = "COMPLETED") -> HistoryRecord:  # fmt: skip
        return HistoryRecord(jobid=jobid, name=name, user="ada", queue="short", state=state, outcome=outcome,
                             exitcode=exitcode, signal=signal, end_time=ended, start_time=ended - elapsed,
                             elapsed=elapsed, cores=cores, cpu_time=None if cpu is None else cpu * elapsed * cores,
                             cpu_efficiency=cpu, memory_efficiency=mem)  # fmt: skip

    deck.history_cache.put("hpc", since, [
        done("48199", "bad-params", Outcome.FAILED, now - 1388, 12, 1, 0.08, 0.02, exitcode=1, state="FAILED"),
        done("48120_3", "sweep-03", Outcome.TIMEOUT, now - 5400, 3600, 4, 0.97, 0.61, signal=15, state="TIMEOUT"),
        done("48120_2", "sweep-02", Outcome.OK, now - 7100, 2900, 4, 0.95, 0.58),
        done("47988", "preprocess-imagenet-validation-set", Outcome.OOM, now - 86400, 640, 8, 0.41, 1.0,
             exitcode=0, signal=9, state="OUT_OF_MEMORY"),
        done("47950", "jupyter-notebook", Outcome.CANCELLED, now - 2 * 86400, 14400, 2, 0.03, None,
             signal=15, state="CANCELLED by 1000"),
    ])  # fmt: skip
    deck.history_cache.put("oldhpc", since, BatchdeckError(
        "cannot connect to gate.old.example.org:22: Connection refused"))  # fmt: skip


def demo_app(root: Path = DEMO_ROOT, theme: str | None = None, arrays: bool = False) -> BatchdeckApp:
    deck, queues = build_demo_deck(root, arrays)
    app = BatchdeckApp(
        deck, clock=lambda: FIXED_NOW, auto_refresh=False, queues=queues, peek_interval=3600,
        download_base=root / "downloads",
    )
    app.last_refresh = FIXED_NOW
    # the details of the notebook job batchdeck did not submit, as if just asked (one scontrol)
    key = "other:hpc:48213"
    app.session.details_cache.put(key, app.session._fingerprint(key), JobDetails(
        cluster="hpc", jobid="48213", name="jupyter-notebook", user="ada", state=RunState.RUNNING,
        raw_state="RUNNING", queue="interactive", account="proj-ml", nodes=1, node_list="gpu07", cores=4,
        memory=16384, gpus=1, submit_time=FIXED_NOW - 5460, start_time=FIXED_NOW - 5400, elapsed=5400,
        time_limit=8 * 3600, workdir="/home/ada/notebooks", command="/home/ada/bin/jupyter-lab.sbatch",
        stdout="/home/ada/notebooks/jupyter-48213.log", stderr="/home/ada/notebooks/jupyter-48213.log",
    ))  # fmt: skip
    if theme:
        app.theme = theme
    return app


def set_utc() -> None:
    """The header shows local time: pin it so renders match everywhere."""
    import os

    os.environ["TZ"] = "UTC"
    time.tzset()
