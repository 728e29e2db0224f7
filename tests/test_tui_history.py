"""The history view (``h``) and the resubmit key (``R``) through the app's keys, on real jobs: plain
sbatch jobs in the real SLURM's accounting, a local cluster that keeps none, and a local job submitted
again from the prefilled form. Every wait polls with a deadline."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from textual.widgets import Input

from batchdeck.backends.engine.deck import Deck
from batchdeck.backends.model import JobSpec, Outcome
from batchdeck.tui.app import BatchdeckApp
from batchdeck.tui.history_screen import HistoryScreen
from batchdeck.tui.jobs_table import JobsTable
from batchdeck.tui.screenshots import wait_for
from batchdeck.tui.submit_screen import SubmitScreen

from helpers import eventually

SIZE = (100, 30)


def write_config(tmp_path: Path, slurm: bool) -> None:
    config = Path(os.environ["BATCHDECK_CONFIG"])
    config.parent.mkdir(parents=True, exist_ok=True)
    text = f'[clusters.localhost]\ntype = "local"\nsandbox_root = "{tmp_path / "l"}"\npoll_interval = 0.3\n'
    if slurm:
        text += f'[clusters.slurm]\ntype = "slurm"\nsandbox_root = "{tmp_path / "s"}"\n'
    config.write_text(text)


def app_over(tmp_path: Path) -> BatchdeckApp:
    return BatchdeckApp(Deck.open(), ui_settings=tmp_path / "ui.json", owns_deck=True, peek_interval=0.1)


def cell(screen: HistoryScreen, row: int, column: str) -> str:
    table = screen.query_one("#history-table")
    return str(table.get_cell_at((row, [k for k in table.columns].index(column))))  # type: ignore[attr-defined]


async def test_history_lists_real_slurm_jobs_and_says_local_keeps_no_accounting(
    slurm_cluster: None, tmp_path: Path
) -> None:
    write_config(tmp_path, slurm=True)
    tag = tmp_path.name[-10:]
    ids = {}
    for name, command in ((f"ok-{tag}", "true"), (f"bad-{tag}", "exit 3")):
        ids[name] = subprocess.run(
            ["sbatch", "--parsable", f"--job-name={name}", "-o", "/dev/null", "--wrap", command],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
    probe = Deck.open()
    try:

        async def recorded() -> bool:
            records = {r.jobid: r for r in await probe.history("slurm", time.time() - 3600, fresh=True)}
            # slurmdbd names a job "allocation" for a moment before its own name
            return all(j in records and records[j].name != "allocation" for j in ids.values())

        await eventually(recorded, timeout=90, what="both jobs in sacct")
    finally:
        await probe.close()
    app = app_over(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("h")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen))
        screen = app.screen
        assert isinstance(screen, HistoryScreen)
        await wait_for(pilot, lambda: all(e.loaded for e in screen.model.clusters.values()), timeout=60)
        rows = {record.jobid: (cluster, record) for cluster, record in screen.model.rows()}
        ok, bad = rows[ids[f"ok-{tag}"]], rows[ids[f"bad-{tag}"]]
        assert ok[0] == bad[0] == "slurm"
        assert (ok[1].outcome, bad[1].outcome, bad[1].exitcode) == (Outcome.OK, Outcome.FAILED, 3)
        index = [r.jobid for _c, r in screen.model.rows()].index(ids[f"bad-{tag}"])
        assert (cell(screen, index, "outcome"), cell(screen, index, "exit"), cell(screen, index, "cluster")) == (
            "failed", "3", "slurm",
        )  # fmt: skip
        # the local cluster keeps no accounting: a line says so, instead of nothing
        notes = str(screen.query_one("#history-notes").render())
        assert "localhost" in notes and "keep no accounting" in notes, notes
        # another window asks again (the cache is per window), and still lists them
        await pilot.press("d")
        await wait_for(pilot, lambda: screen.model.window == "1d" and not screen.model.loading)
        assert ids[f"ok-{tag}"] in {r.jobid for _c, r in screen.model.rows()}
        # R on a job batchdeck did not submit: the form opens with SLURM's copy of its script
        table = screen.query_one("#history-table")
        table.move_cursor(row=[r.jobid for _c, r in screen.model.rows()].index(ids[f"ok-{tag}"]))  # type: ignore[attr-defined]
        await pilot.press("R")
        await wait_for(pilot, lambda: isinstance(app.screen, SubmitScreen), timeout=30)
        form = app.screen
        script = form.query_one("#script", Input).value
        assert form.query_one("#name", Input).value == f"ok-{tag}" and form.cluster == "slurm"
        assert Path(script).read_text().startswith("#!") and oct(Path(script).stat().st_mode & 0o777) == "0o600"
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen))
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, HistoryScreen))


async def test_resubmit_key_opens_the_form_prefilled_and_submits_a_real_local_job(tmp_path: Path) -> None:
    write_config(tmp_path, slurm=False)
    app = app_over(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        spec = JobSpec(command=["sh", "-c", "echo again $0", "x y"], name="redo-me", cores=2, walltime=600)
        first = await app.session.submit("localhost", spec)
        await wait_for(pilot, lambda: app.jobs_by_id[first.id].outcome is not None, timeout=30)
        table = app.query_one(JobsTable)
        await wait_for(pilot, lambda: table.select_key(first.id))
        table.focus()
        await pilot.press("R")
        await wait_for(pilot, lambda: isinstance(app.screen, SubmitScreen))
        form = app.screen
        values = {f: form.query_one(f"#{f}", Input).value for f in ("command", "name", "cores", "walltime")}
        assert values == {"command": "sh -c 'echo again $0' 'x y'", "name": "redo-me", "cores": "2", "walltime": "00:10:00"}
        before = set(app.jobs_by_id)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: set(app.jobs_by_id) - before != set(), timeout=30)
        (new_id,) = set(app.jobs_by_id) - before
        await wait_for(pilot, lambda: app.jobs_by_id[new_id].outcome is not None, timeout=30)
        again = app.jobs_by_id[new_id]
        assert (again.outcome, again.spec.command, again.spec.cores) == (Outcome.OK, spec.command, 2)
        out = Path(again.sandbox or "") / again.spec.stdout
        assert out.read_text() == "again x y\n"
