"""The app on any of the user's jobs (plain sbatch / qsub, not batchdeck's): details fetched once
while the job is unchanged, peek at the path the scheduler names, signal, hold, release, a new
time limit and cancel from the job's row, the scheduler's refusal in one line; on the real SLURM
and Grid Engine, under Textual's pilot. Every wait polls with a deadline."""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from batchdeck.backends.engine.deck import Deck
from batchdeck.backends.schedulers.base import BatchSystem
from batchdeck.backends.transports.base import CommandResult
from batchdeck.tui.app import BatchdeckApp
from batchdeck.tui.confirm_screen import ConfirmScreen
from batchdeck.tui.details_screen import DetailsScreen
from batchdeck.tui.jobs_table import JobsTable
from batchdeck.tui.peek_view import PeekView
from batchdeck.tui.screenshots import wait_for
from batchdeck.tui.signal_screen import CHOICES, SignalScreen
from batchdeck.tui.time_limit_screen import TimeLimitScreen

SIZE = (140, 42)


@pytest.fixture
def app_config(tmp_path: Path) -> Path:
    config = Path(os.environ["BATCHDECK_CONFIG"])
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        f'[clusters.slurm]\ntype = "slurm"\nsandbox_root = "{tmp_path / "s"}"\npoll_interval = 1\nmin_poll_interval = 0.5\n'
        f'[clusters.sge]\ntype = "sge"\nsandbox_root = "{tmp_path / "g"}"\npoll_interval = 1\nmin_poll_interval = 0.5\n'
    )
    return tmp_path


def make_app(tmp_path: Path) -> BatchdeckApp:
    app = BatchdeckApp(Deck.open(), ui_settings=tmp_path / "ui.json", peek_interval=0.2, owns_deck=True)
    # every notification kept (the toasts expire): what the app told the user, in order
    app.said = []  # type: ignore[attr-defined]
    real = app.notify

    def notify(message: str, **kwargs: object) -> None:
        app.said.append(str(message))  # type: ignore[attr-defined]
        real(message, **kwargs)  # type: ignore[arg-type]

    app.notify = notify  # type: ignore[method-assign]
    return app


def run(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()


def squeue(jobid: str, fmt: str) -> str:
    return subprocess.run(["squeue", "-h", "-j", jobid, "-o", fmt], capture_output=True, text=True).stdout.strip()


def qstat_j(jobid: str) -> str:
    return subprocess.run(["qstat", "-j", jobid], capture_output=True, text=True).stdout


def count_commands(backend: BatchSystem, wanted: Callable[[list[str]], bool]) -> list[list[str]]:
    """A record of the backend's commands that ``wanted`` picks (the real commands still run)."""
    seen: list[list[str]] = []
    real = backend.run_command

    async def spy(argv: list[str], *args: object, **kwargs: object) -> CommandResult:
        if wanted(argv):
            seen.append(list(argv))
        return await real(argv, *args, **kwargs)  # type: ignore[arg-type]

    backend.run_command = spy  # type: ignore[method-assign]
    return seen


def messages(app: BatchdeckApp) -> list[str]:
    return list(app.said)  # type: ignore[attr-defined]


async def said(pilot, app: BatchdeckApp, check: Callable[[str], bool], timeout: float = 30) -> str:  # noqa: ANN001
    """The app's notification ``check`` picks, once it is shown (the messages so far when it never is)."""
    try:
        await wait_for(pilot, lambda: any(check(m) for m in messages(app)), timeout=timeout)
    except TimeoutError:
        workers = [(w.name, w.state.name, repr(w.error)) for w in app.main.workers]
        raise AssertionError(f"no such notification among {messages(app)}; workers {workers}") from None
    return [m for m in messages(app) if check(m)][0]


async def select_row(pilot, app: BatchdeckApp, key: str) -> None:  # noqa: ANN001 - Pilot
    table = app.query_one(JobsTable)
    await wait_for(pilot, lambda: key in table.shown, timeout=30)
    table.focus()
    assert table.select_key(key)
    await wait_for(pilot, lambda: app.session.selection.job == key)


async def open_details(pilot, app: BatchdeckApp) -> DetailsScreen:  # noqa: ANN001 - Pilot
    await pilot.press("i")
    await wait_for(pilot, lambda: isinstance(app.screen, DetailsScreen))
    screen = app.screen
    assert isinstance(screen, DetailsScreen)
    await wait_for(pilot, lambda: screen.rows is not None or bool(screen.error), timeout=30)
    return screen


async def choose_signal(pilot, app: BatchdeckApp, name: str) -> None:  # noqa: ANN001 - Pilot
    await pilot.press("k")
    await wait_for(pilot, lambda: isinstance(app.screen, SignalScreen))
    await pilot.press(*["down"] * [c for c, _ in CHOICES].index(name), "enter")
    await wait_for(pilot, lambda: not isinstance(app.screen, SignalScreen))


async def test_plain_sbatch_jobs_from_the_app(slurm_cluster: None, app_config: Path, tmp_path: Path) -> None:
    out = tmp_path / "trap.out"
    marker = tmp_path / "got-usr1"
    script = tmp_path / "trap.sh"
    script.write_text(
        f"#!/bin/sh\ntrap 'echo usr1 > {marker}; exit 0' USR1\necho started\nwhile :; do sleep 0.2; done\n"
    )
    trap = run("sbatch", "--parsable", "-J", "apptrap", "-o", str(out), "-e", str(tmp_path / "trap.err"), "-t", "10", str(script))
    later = run("sbatch", "--parsable", "--begin=now+1hour", "-J", "applater", "-o", "/dev/null", "--wrap", "true")
    app = make_app(app_config)
    try:
        async with app.run_test(size=SIZE) as pilot:
            backend = app.deck.backend("slurm")
            details_commands = count_commands(backend, lambda argv: argv == backend.details_argv(trap))
            await wait_for(pilot, lambda: "RUNNING" in squeue(trap, "%T"), timeout=60)
            key = f"other:slurm:{trap}"
            await select_row(pilot, app, key)
            # the footer offers the other-job actions on such a row
            assert app.screen.check_action("signal_job", ()) is True

            # Details: nodes, cores, times, workdir, command, output paths, in one command
            await wait_for(pilot, lambda: app.session.other_job(key) is not None
                           and app.session.other_job(key).raw_state == "RUNNING", timeout=30)  # fmt: skip
            screen = await open_details(pilot, app)
            rows = dict(screen.rows or [])
            assert rows["name"] == "apptrap" and rows["state"].startswith("RUNNING")
            assert rows["stdout"] == str(out) and rows["stderr"] == str(tmp_path / "trap.err")
            assert rows["time limit"] == "00:10:00" and rows["time left"] != "-"
            assert rows["command"].endswith("trap.sh") and rows["workdir"] == os.getcwd()
            assert rows["nodes"] != "-" and rows["cores"] == "1" and rows["queue"] != "-"
            assert len(details_commands) == 1
            await pilot.press("escape")
            # again, the job unchanged: the copy held, no command
            screen = await open_details(pilot, app)
            assert dict(screen.rows or [])["name"] == "apptrap" and len(details_commands) == 1
            await pilot.press("escape")

            # Peek at the path the scheduler names, in the same viewer
            await pilot.press("p")
            view = app.query_one(PeekView)
            await wait_for(pilot, lambda: view.tail is not None and "started" in view.log_widget.lines, timeout=30)
            assert view.tail is not None and view.tail.job_id == key

            # A new time limit (an input; a bad value is refused in the dialog)
            await select_row(pilot, app, key)
            await pilot.press("T")
            await wait_for(pilot, lambda: isinstance(app.screen, TimeLimitScreen))
            await pilot.press(*"soon", "enter")
            await pilot.pause()
            assert isinstance(app.screen, TimeLimitScreen)
            assert "soon" in str(app.screen.query_one("#limit-error").render())
            await pilot.press(*["backspace"] * 4, *"30m", "enter")
            await wait_for(pilot, lambda: squeue(trap, "%l") == "30:00", timeout=30)
            await said(pilot, app, lambda m: "new time limit set" in m)

            # Signal: USR1 reaches the job's trap
            await choose_signal(pilot, app, "USR1")
            await wait_for(pilot, marker.exists, timeout=30)
            assert any(f"slurm:{trap} (apptrap) sent SIGUSR1" in m for m in messages(app))

            # Hold and release a pending job
            later_key = f"other:slurm:{later}"
            await select_row(pilot, app, later_key)
            await pilot.press("H")
            await wait_for(pilot, lambda: squeue(later, "%r") == "JobHeldUser", timeout=30)
            await pilot.press("U")
            await wait_for(pilot, lambda: squeue(later, "%r") != "JobHeldUser", timeout=30)
            # No SLURM refusal here: the one at hand (a signal to a pending job) makes scancel retry
            # "try again later" by itself for ~95 s before it answers; the app's worker waits for it
            # without blocking, but the test would too. Grid Engine's refusal is tested below.
            await pilot.press("q")
    finally:
        subprocess.run(["scancel", trap, later], capture_output=True)


async def test_plain_qsub_jobs_from_the_app(sge_cluster: None, app_config: Path, tmp_path: Path) -> None:
    out = tmp_path / "held.out"
    gate = tmp_path / "gate"
    body = f"echo hello; while [ ! -e {shlex.quote(str(gate))} ]; do sleep 0.2; done"
    held = run("qsub", "-terse", "-h", "-N", "appheld", "-o", str(out), "-j", "y", "-l", "h_rt=300",
               "-b", "y", "/bin/sh", "-c", shlex.quote(body))  # fmt: skip
    app = make_app(app_config)
    try:
        async with app.run_test(size=SIZE) as pilot:
            key = f"other:sge:{held}"
            await select_row(pilot, app, key)
            screen = await open_details(pilot, app)
            rows = dict(screen.rows or [])
            assert rows["name"] == "appheld" and "hqw" in rows["state"]
            assert rows["stdout"] == str(out) and rows["time limit"] == "00:05:00"
            assert "hold" in rows["reason"].lower()
            await pilot.press("escape")

            await pilot.press("T")
            await wait_for(pilot, lambda: isinstance(app.screen, TimeLimitScreen))
            await pilot.press(*"10m", "enter")
            await wait_for(pilot, lambda: "h_rt=600" in qstat_j(held), timeout=30)
            # Grid Engine sends no USR1: refused in one line, nothing sent
            await choose_signal(pilot, app, "USR1")
            await said(pilot, app, lambda m: "Grid Engine cannot send SIGUSR1" in m)

            await pilot.press("U")
            await wait_for(pilot, lambda: out.exists() and out.read_text() == "hello\n", timeout=60)
            # the details held were of a held job: its state moved, so they are asked again
            await wait_for(pilot, lambda: (info := app.session.other_job(key)) is not None and info.raw_state == "r", timeout=30)
            screen = await open_details(pilot, app)
            assert dict(screen.rows or [])["state"].startswith("RUNNING")
            await pilot.press("escape")
            await pilot.press("p")
            view = app.query_one(PeekView)
            await wait_for(pilot, lambda: view.tail is not None and "hello" in view.log_widget.lines, timeout=30)

            await select_row(pilot, app, key)
            await pilot.press("c")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.press("y")
            await wait_for(pilot, lambda: key not in app.query_one(JobsTable).shown, timeout=60)
            await pilot.press("q")
    finally:
        subprocess.run(["qdel", held], capture_output=True)
