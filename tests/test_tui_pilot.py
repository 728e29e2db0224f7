"""The app end to end through its keys, on real local jobs.

Every wait polls the app with a deadline (``wait_for``); nothing sleeps to make
timing pass and nothing asserts on durations.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, OptionList, Static

from batchdeck.backends.engine.deck import Deck
from batchdeck.backends.errors import ConfigError
from batchdeck.backends.model import JobRecord, JobSpec, RunState
from batchdeck.themes import DARK, LIGHT
from batchdeck.tui.app import BatchdeckApp, broken_config_deck
from batchdeck.tui.confirm_screen import ConfirmScreen
from batchdeck.tui.download_screen import DownloadScreen
from batchdeck.tui.jobs_table import JobsTable
from batchdeck.tui.peek_view import PeekView
from batchdeck.tui.screenshots import wait_for
from batchdeck.tui.submit_screen import SubmitScreen

SIZE = (140, 42)

# Prints a line every 0.1 s until the test creates "release" in the sandbox:
# the test decides when the job ends, so nothing depends on timing.
TAIL_SCRIPT = """#!/bin/sh
i=0
while [ ! -e release ]; do i=$((i+1)); echo "line $i"; echo "err $i" >&2; sleep 0.1; done
echo finished
echo result > out.dat
"""


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    config = Path(os.environ["BATCHDECK_CONFIG"])
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        f"""
[clusters.local]
type = "local"
sandbox_root = "{tmp_path / 'sandboxes'}"
poll_interval = 0.3
max_cores = 4
accounting_delay = 60

[clusters.broken]
type = "local"
max_cores = "many"
"""
    )
    return tmp_path


def make_app(workdir: Path) -> BatchdeckApp:
    return BatchdeckApp(
        Deck.open(),
        ui_settings=workdir / "ui.json",
        download_base=workdir / "downloads",
        peek_interval=0.1,
        owns_deck=True,
    )


async def type_text(pilot: Pilot, text: str) -> None:
    await pilot.press(*["space" if ch == " " else ch for ch in text])


async def submit(pilot: Pilot, app: BatchdeckApp, *, command: str = "", script: str = "", name: str) -> JobRecord:
    before = set(app.jobs_by_id)
    await pilot.press("s")
    await wait_for(pilot, lambda: isinstance(app.screen, SubmitScreen))
    await type_text(pilot, command)
    await pilot.press("tab")
    await type_text(pilot, script)
    await pilot.press("tab")
    await type_text(pilot, name)
    await wait_for(pilot, lambda: not app.screen.query_one("#submit", Button).disabled)
    await pilot.press("ctrl+s")
    await wait_for(pilot, lambda: set(app.jobs_by_id) - before != set())
    (job_id,) = set(app.jobs_by_id) - before
    await wait_for(pilot, lambda: app.query_one(JobsTable).selected_key == job_id)
    return app.jobs_by_id[job_id]


def state_cell(app: BatchdeckApp, job_id: str) -> str:
    return str(app.query_one(JobsTable).get_cell(job_id, "state"))


async def test_submit_peek_download_free(workdir: Path) -> None:
    script = workdir / "tail.sh"
    script.write_text(TAIL_SCRIPT)
    app = make_app(workdir)
    async with app.run_test(size=SIZE) as pilot:
        job = await submit(pilot, app, script=str(script), name="tailjob")
        assert job.spec.script == TAIL_SCRIPT
        await wait_for(pilot, lambda: app.jobs_by_id[job.id].state == RunState.RUNNING, timeout=20)
        assert "running" in state_cell(app, job.id)

        # Peek: the tail grows while the job runs.
        await pilot.press("p")
        view = app.query_one(PeekView)
        log = view.log_widget
        await wait_for(pilot, lambda: log.line_count >= 2, timeout=20)
        seen = log.line_count
        await wait_for(pilot, lambda: log.line_count > seen + 2, timeout=20)
        assert log.lines[0].startswith("line ")
        assert view.tail is not None and view.tail.end > 0

        # stderr with "o", and back.
        await pilot.press("o")
        await wait_for(pilot, lambda: view.tail is not None and view.tail.stderr and log.line_count >= 1)
        assert log.lines[0].startswith("err ")
        await pilot.press("o")
        await wait_for(pilot, lambda: view.tail is not None and not view.tail.stderr and log.line_count >= 1)

        sandbox = Path(app.jobs_by_id[job.id].sandbox or "")
        (sandbox / "release").write_text("")
        await wait_for(pilot, lambda: app.jobs_by_id[job.id].state == RunState.TERMINATING, timeout=20)
        await wait_for(pilot, lambda: any(line == "finished" for line in log.lines), timeout=20)
        assert "terminating" in state_cell(app, job.id)

        # Download: everything is copied the first time.
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, DownloadScreen))
        dialog = app.screen
        assert isinstance(dialog, DownloadScreen)
        await pilot.press("enter")
        await wait_for(pilot, lambda: dialog.report is not None, timeout=20)
        assert dialog.report is not None
        assert {"stdout.txt", "stderr.txt", "out.dat"} <= set(dialog.report.copied)
        assert not dialog.report.failed
        target = workdir / "downloads" / f"tailjob-{job.id}"
        assert (target / "out.dat").read_text() == "result\n"
        assert "copied" in str(dialog.query_one("#summary", Static).render())
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.jobs_by_id[job.id].state == RunState.TERMINATED)

        # Again with Overwrite and Changed-only: nothing changed, so all are skipped.
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, DownloadScreen))
        dialog = app.screen
        assert isinstance(dialog, DownloadScreen)
        await pilot.press("shift+tab", "shift+tab", "space")  # the Overwrite switch
        await pilot.press("tab", "tab", "enter")
        await wait_for(pilot, lambda: dialog.report is not None, timeout=20)
        assert dialog.report is not None
        assert dialog.report.copied == []
        assert {"stdout.txt", "stderr.txt", "out.dat"} <= set(dialog.report.skipped)
        await pilot.press("escape")

        # Free the TERMINATED job's sandbox.
        await wait_for(pilot, lambda: not isinstance(app.screen, DownloadScreen))
        await pilot.press("f")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: app.jobs_by_id[job.id].sandbox is None, timeout=20)
        assert not sandbox.exists()
        await pilot.press("q")
    assert app.return_code == 0


async def test_cancel_running_sleep(workdir: Path) -> None:
    app = make_app(workdir)
    async with app.run_test(size=SIZE) as pilot:
        job = await submit(pilot, app, command="sleep 300", name="sleeper")
        assert job.spec.command == ["sleep", "300"]
        await wait_for(pilot, lambda: app.jobs_by_id[job.id].state == RunState.RUNNING, timeout=20)
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")  # keep it: nothing happens
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        assert app.jobs_by_id[job.id].state == RunState.RUNNING
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: not app.jobs_by_id[job.id].state.is_active, timeout=20)
        await wait_for(pilot, lambda: "running" not in state_cell(app, job.id))
        assert app.jobs_by_id[job.id].state in (RunState.TERMINATING, RunState.TERMINATED)
        # Free refuses a job that is not TERMINATED, in the UI.
        if app.jobs_by_id[job.id].state == RunState.TERMINATING:
            await pilot.press("f")
            await pilot.pause()
            assert not isinstance(app.screen, ConfirmScreen)
        await pilot.press("q")


def _record(ident: str, name: str, created: float) -> JobRecord:
    return JobRecord(
        id=ident, cluster="local", spec=JobSpec(command=["true"], name=name), state=RunState.TERMINATED,
        created=created, exitcode=0,
    )


async def test_filter_and_selection(workdir: Path) -> None:
    deck = Deck.open()
    for n, name in enumerate(["alpha-one", "beta-two", "alpha-three"]):
        deck.journal.save(_record(f"job0000{n}", name, 1000.0 + n))
    app = BatchdeckApp(deck, auto_refresh=False, owns_deck=True)
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(JobsTable)
        assert list(table.shown) == ["job00000", "job00001", "job00002"]
        await pilot.press("down", "down")
        assert table.selected_key == "job00002"
        await pilot.press("slash")
        await type_text(pilot, "alpha")
        await wait_for(pilot, lambda: list(table.shown) == ["job00000", "job00002"])
        assert table.selected_key == "job00002"  # the selection survives the filter
        await pilot.press("enter")  # keep the filter, back to the table
        assert app.focused is table
        await pilot.press("slash", "escape")
        await wait_for(pilot, lambda: len(table.shown) == 3)
        assert table.selected_key == "job00002"
        await pilot.press("q")


async def test_bad_form_values_are_explained(workdir: Path) -> None:
    app = make_app(workdir)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, SubmitScreen))
        form = app.screen
        await type_text(pilot, "echo 'unbalanced")
        await pilot.press("tab", "tab", "tab", "tab")  # script, name, queue -> cores
        await type_text(pilot, "99")
        await pilot.press("tab")
        await type_text(pilot, "lots")
        await pilot.press("tab")
        await type_text(pilot, "-5")

        def error(field: str) -> str:
            return str(form.query_one(f"#{field}-error", Static).render())

        # The check runs after a quiet spell: under load one may run between two fields'
        # keys, so this waits for the check that saw the last field too.
        await wait_for(pilot, lambda: "max_cores" in error("cores") and bool(error("walltime")))
        assert "cannot split" in error("command")
        assert "memory size" in error("memory")
        assert form.query_one("#submit", Button).disabled
        await pilot.press("ctrl+s")
        assert app.screen is form  # refused: still on the form
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, SubmitScreen))
        assert app.jobs_by_id == {}

        # The broken cluster is on its row with the reason, and the app runs on.
        prompt = str(app.query_one("#clusters", OptionList).get_option("broken").prompt)
        assert "error" in prompt and "max_cores" in prompt
        await pilot.press("q")


async def test_unreadable_config_is_shown(workdir: Path) -> None:
    config = Path(os.environ["BATCHDECK_CONFIG"])
    config.write_text("[clusters.x\n")
    with pytest.raises(ConfigError) as caught:
        Deck.open()
    app = BatchdeckApp(broken_config_deck(None, caught.value), owns_deck=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        prompt = str(app.query_one("#clusters", OptionList).get_option(config.name).prompt)
        assert "not valid TOML" in prompt
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, SubmitScreen))
        assert "not valid TOML" in str(app.screen.query_one("#cluster-error", Static).render())
        await pilot.press("escape")
        await pilot.press("q")


async def test_theme_choice_persists(workdir: Path) -> None:
    app = make_app(workdir)
    async with app.run_test(size=SIZE) as pilot:
        assert app.theme == DARK
        await pilot.press("t")
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: app.theme == LIGHT)
        await pilot.press("q")
    assert json.loads((workdir / "ui.json").read_text())["theme"] == LIGHT
    again = make_app(workdir)
    async with again.run_test(size=SIZE) as pilot:
        assert again.theme == LIGHT
        await pilot.press("q")


async def test_peek_big_file_from_its_end_and_earlier_chunks(workdir: Path) -> None:
    """A 3 GB (sparse) stdout opens at its end; Home loads earlier chunks; nothing reads it whole."""
    from batchdeck.tui.peek_view import CHUNK

    sandbox = workdir / "sandboxes" / "bigout01"
    sandbox.mkdir(parents=True)
    stdout = sandbox / "stdout.txt"
    with open(stdout, "wb") as handle:
        handle.truncate(3 * 1024**3)
        handle.seek(0, os.SEEK_END)
        handle.write(b"".join(b"tail line %05d\n" % n for n in range(8000)))
    size = stdout.stat().st_size
    deck = Deck.open()
    deck.journal.save(
        JobRecord(id="bigout01", cluster="local", spec=JobSpec(command=["true"], name="big"),
                  state=RunState.TERMINATED, sandbox=str(sandbox), exitcode=0, created=1.0)
    )
    app = BatchdeckApp(deck, auto_refresh=False, peek_interval=0.1, owns_deck=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("p")
        view = app.query_one(PeekView)
        await wait_for(pilot, lambda: view.tail is not None and view.tail.opened)
        tail = view.tail
        assert tail is not None
        assert tail.total == size and tail.end == size
        assert tail.end - tail.start <= CHUNK  # only the last chunk was read
        assert view.log_widget.lines[-2] == "tail line 07999"
        first_start = tail.start
        first_line = view.log_widget.lines[0]
        # Scrolling up to the first line held loads the chunk before it (Home goes to the file's start).
        view.log_widget.scroll_to(y=0, animate=False)
        await wait_for(pilot, lambda: tail.start < first_start)
        assert first_start - tail.start <= CHUNK
        # The earlier lines went in front, and the previous first line follows them.
        assert first_line in view.log_widget.lines[1:]
        assert not view.log_widget.following
        await pilot.press("end")
        await wait_for(pilot, lambda: view.log_widget.following)
        await pilot.press("q")


async def test_queue_selection_filters_and_palette_lists_actions(tmp_path: Path) -> None:
    from batchdeck.tui.demo import demo_app

    app = demo_app(tmp_path / "demo")
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(JobsTable)
        assert len(table.shown) == 7
        await pilot.press("shift+tab")  # Jobs -> Queues
        assert app.focused is app.query_one("#queues")
        await pilot.press("down", "down", "down")  # (all), localhost:local, hpc:short, hpc:gpu
        await wait_for(pilot, lambda: list(table.shown) == ["i9j0k1l2"])
        # The user's own scheduler job carrying a batchdeck tag is batchdeck's job, not an "other" row.
        assert "other:hpc:48240" not in table.shown
        await pilot.press("up", "up", "up")
        await wait_for(pilot, lambda: len(table.shown) == 7)
        commands = [command.title for command in app.get_system_commands(app.screen)]
        for title in ("Submit", "Cancel", "Peek", "Download", "Free", "Refresh", "Filter", "Theme", "Help"):
            assert title in commands
        await pilot.press("q")


async def test_unreachable_cluster_shows_error_and_stale_jobs(workdir: Path) -> None:
    config = Path(os.environ["BATCHDECK_CONFIG"])
    config.write_text(
        """
[clusters.far]
type = "local"
frontend = "127.0.0.1"
port = 1
poll_interval = 0.3
ssh_timeout = 5
"""
    )
    deck = Deck.open()
    deck.journal.save(
        JobRecord(id="farjob01", cluster="far", spec=JobSpec(command=["sleep", "9"], name="far"),
                  jobid="farjob01", state=RunState.RUNNING, sandbox="/nonexistent/farjob01", created=1.0)
    )
    app = BatchdeckApp(deck, owns_deck=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: deck.status["far"].state == "error", timeout=30)
        await wait_for(pilot, lambda: app.jobs_by_id["farjob01"].stale)
        await wait_for(pilot, lambda: "stale" in state_cell(app, "farjob01"))
        prompt = str(app.query_one("#clusters", OptionList).get_option("far").prompt)
        assert "error" in prompt and deck.status["far"].error in prompt
        assert app.jobs_by_id["farjob01"].state == RunState.RUNNING  # last known state kept
        await pilot.press("q")


async def test_many_rows_fill_in_chunks_and_keep_the_selection(workdir: Path) -> None:
    from batchdeck.tui.jobs_table import FILL_CHUNK

    deck = Deck.open()
    total = FILL_CHUNK * 2 + 500
    for n in range(total):
        deck.journal.save(_record(f"m{n:07d}", "even" if n % 2 == 0 else "odd", float(n)))
    app = BatchdeckApp(deck, auto_refresh=False, owns_deck=True)
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(JobsTable)
        await wait_for(pilot, lambda: not table.filling and table.row_count == total)
        assert [row.key.value for row in table.ordered_rows][:3] == ["m0000000", "m0000001", "m0000002"]
        target = f"m{total - 2:07d}"  # an "even" job beyond the first chunk
        table.select_key(target)
        await pilot.press("slash")
        await type_text(pilot, "even")
        await wait_for(pilot, lambda: not table.filling and table.row_count == total // 2)
        assert table.selected_key == target
        await pilot.press("escape")  # clear the filter: all rows again, rebuilt in chunks
        await wait_for(pilot, lambda: not table.filling and table.row_count == total)
        assert table.selected_key == target
        # In journal order again, not kept rows first and the rest after.
        assert [row.key.value for row in table.ordered_rows] == [f"m{n:07d}" for n in range(total)]
        await pilot.press("q")


async def test_changes_by_another_process_show_without_a_poll(workdir: Path) -> None:
    """A second Deck on the same journal (the CLI, another app) submits and cancels; the app follows."""
    config = Path(os.environ["BATCHDECK_CONFIG"])
    # Polls far apart: what shows within the deadline came from the journal, not a poll.
    config.write_text(config.read_text().replace("poll_interval = 0.3", "poll_interval = 120"))
    app = make_app(workdir)
    other = Deck.open()
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.deck.status["local"].state == "connected", timeout=20)
            job = await other.submit("local", JobSpec(command=["sleep", "300"], name="elsewhere"))
            await wait_for(pilot, lambda: job.id in app.query_one(JobsTable).shown, timeout=20)
            await other.cancel(job.id)
            ended = other.job(job.id)
            assert ended.state not in (RunState.SUBMITTED, RunState.RUNNING)
            await wait_for(pilot, lambda: app.jobs_by_id[job.id].state == ended.state, timeout=20)
            await wait_for(pilot, lambda: "running" not in state_cell(app, job.id) and "submitted" not in state_cell(app, job.id))
            await pilot.press("q")
    finally:
        for record in other.jobs():
            if record.state.is_active and record.sandbox:
                await other.cancel(record.id)
        await other.close()


async def test_forget_a_finished_job_and_refuse_a_running_one(workdir: Path) -> None:
    deck = Deck.open()
    deck.journal.save(_record("done0001", "finished-[b]one[/b]", 1000.0))
    running = JobRecord(id="run00001", cluster="local", spec=JobSpec(command=["true"], name="still"), state=RunState.RUNNING, created=1001.0)
    deck.journal.save(running)
    app = BatchdeckApp(deck, auto_refresh=False, owns_deck=True)
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(JobsTable)
        assert table.selected_key == "done0001"
        await pilot.press("backspace")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        # the name is shown as it is, not as markup
        assert "finished-[b]one[/b]" in str(app.screen.query_one("#question", Static).render())
        await pilot.press("n")
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        assert "done0001" in table.shown
        await pilot.press("backspace")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: "done0001" not in table.shown)
        assert [j.id for j in Deck.open().journal.jobs()] == ["run00001"]
        assert table.selected_key == "run00001"
        await pilot.press("backspace")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)  # refused: it may still run
        assert "run00001" in table.shown
        await pilot.press("q")


async def test_notifications_show_brackets_as_written(workdir: Path) -> None:
    # Job names, file names and scheduler messages go into notifications; "[...]" in them
    # (an array id, a host list) is data, so it must neither style the text nor vanish.
    from textual.widgets._toast import Toast

    app = make_app(workdir)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        message = "submitted 7 (sweep[red]x[/] [/b]) to local"
        app.main.notify(message)
        await wait_for(pilot, lambda: any(message in str(t.render()) for t in app.query(Toast)))
        await pilot.press("q")


async def test_a_lost_job_shows_as_lost_with_its_next_check(workdir: Path) -> None:
    """A local job whose sandbox (all the local "scheduler" knows of it) is gone, last seen an hour ago:
    after accounting_delay nothing answers for it, and the app's poll shows it lost, with when it is asked
    about next (the back-off), not as running."""
    deck = Deck.open()
    job = JobRecord(id="lostrow1", cluster="local", spec=JobSpec(command=["true"], name="gone"), jobid="lostrow1")
    job.sandbox = str(workdir / "sandboxes" / job.id)
    job.transition(RunState.SUBMITTED, "submitted")
    job.last_seen = job.created - 3600
    deck.journal.save(job)
    app = BatchdeckApp(deck, owns_deck=True)
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(JobsTable)
        await wait_for(pilot, lambda: app.jobs_by_id[job.id].state == RunState.UNKNOWN, timeout=20)
        await wait_for(pilot, lambda: "unknown" in state_cell(app, job.id))
        shown = str(table.get_cell(job.id, "exit"))
        assert shown.startswith("lost:") and "next check" in shown, shown
        assert app.jobs_by_id[job.id].reason.startswith("lost:")
        await pilot.press("q")


async def test_clean_forgets_old_finished_jobs_after_asking(workdir: Path) -> None:
    import time

    deck = Deck.open()
    deck.journal.save(_record("old00001", "old-one", 1000.0))
    kept = _record("old00002", "old-two", 1001.0)
    kept.sandbox = str(workdir / "sandboxes" / kept.id)
    deck.journal.save(kept)
    deck.journal.save(_record("new00001", "recent", time.time()))
    running = JobRecord(id="run00001", cluster="local", spec=JobSpec(command=["true"], name="still"), state=RunState.RUNNING, created=999.0)
    deck.journal.save(running)
    app = BatchdeckApp(deck, auto_refresh=False, owns_deck=True)
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(JobsTable)
        await wait_for(pilot, lambda: len(table.shown) == 4)
        await pilot.press("X")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        question = str(app.screen.query_one("#question", Static).render())
        assert "Forget 2 finished job(s) older than 30d" in question and "1 of their sandboxes" in question, question
        await pilot.press("n")
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        assert len(table.shown) == 4 and len(Deck.open().journal.jobs()) == 4
        await pilot.press("X")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: "old00001" not in table.shown and "old00002" not in table.shown)
        assert sorted(j.id for j in Deck.open().journal.jobs()) == ["new00001", "run00001"]
        assert {"new00001", "run00001"} <= set(table.shown)
        # nothing old is left: the key says so instead of asking
        await pilot.press("X")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        await pilot.press("q")


async def test_the_app_sends_a_stored_cancel_whose_command_never_went_out(workdir: Path) -> None:
    """#11 item 3: another process stored its intent to cancel and was killed before the cancel command
    ran; the app's next poll sends it, and the job ends cancelled."""
    other = Deck.open()
    job = await other.submit("local", JobSpec(command=["sleep", "300"], name="intent"))
    try:
        record = other.job(job.id)
        record.cancel_requested = record.created - 60  # the intent alone, a while ago: no cancel_sent
        other.journal.save(record)
        app = make_app(workdir)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.jobs_by_id[job.id].cancel_sent is not None, timeout=20)
            await wait_for(
                pilot, lambda: app.jobs_by_id[job.id].state in (RunState.TERMINATING, RunState.TERMINATED), timeout=30
            )
            ended = other.job(job.id)
            assert ended.outcome is not None and ended.outcome.value == "cancelled", ended
            await pilot.press("q")
    finally:
        if other.job(job.id).state.is_active:
            await other.cancel(job.id)
        await other.close()


async def test_a_download_folder_that_cannot_be_made_is_one_line_in_the_dialog_which_stays_usable(
    workdir: Path,
) -> None:
    from textual.widgets import Input

    deck = Deck.open()
    job = await deck.submit("local", JobSpec(command=["sh", "-c", "echo hi"], name="dl"))
    try:
        app = make_app(workdir)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: job.id in app.jobs_by_id and app.jobs_by_id[job.id].state == RunState.TERMINATING, timeout=20)
            await wait_for(pilot, lambda: app.query_one(JobsTable).selected_key == job.id)  # the only job
            await pilot.press("d")
            await wait_for(pilot, lambda: isinstance(app.screen, DownloadScreen))
            dialog = app.screen
            assert isinstance(dialog, DownloadScreen)
            dialog.query_one("#directory", Input).value = "/proc/nope/results"
            dialog.query_one("#start", Button).press()
            summary = dialog.query_one("#summary", Static)
            await wait_for(pilot, lambda: "cannot create the download folder" in str(summary.render()), timeout=20)
            assert "/proc/nope/results" in str(summary.render())
            await wait_for(pilot, lambda: not dialog.query_one("#start", Button).disabled)
            # still usable: a folder that can be made downloads
            dialog.query_one("#directory", Input).value = str(workdir / "ok")
            dialog.query_one("#start", Button).press()
            await wait_for(pilot, lambda: dialog.report is not None, timeout=20)
            assert "stdout.txt" in (dialog.report.copied if dialog.report else [])
            await pilot.press("escape")
            await pilot.press("q")
    finally:
        await deck.close()
