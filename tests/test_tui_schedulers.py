"""The same screens on the real SLURM and Grid Engine: submit, watch, peek, queues, cancel, through the keys."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_tui_pilot import SIZE, make_app, state_cell, submit
from textual.widgets import DataTable

from batchdeck.backends.engine.deck import Deck
from batchdeck.backends.errors import BatchdeckError
from batchdeck.backends.model import RunState
from batchdeck.tui.app import BatchdeckApp
from batchdeck.tui.confirm_screen import ConfirmScreen
from batchdeck.tui.peek_view import PeekView
from batchdeck.tui.screenshots import wait_for

QUEUES = {"slurm": "debug", "sge": "all.q"}


@pytest.fixture(params=["slurm", "sge"])
def scheduler(request: pytest.FixtureRequest) -> Iterator[str]:
    request.getfixturevalue(f"{request.param}_cluster")
    # The compute node reads the sandbox: a shared path, not pytest's root-only tmp dir.
    root = Path("/var/tmp/batchdeck-test") / f"tui-{uuid.uuid4().hex[:8]}"
    root.mkdir(parents=True)
    config = Path(os.environ["BATCHDECK_CONFIG"])
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        f'[clusters.hpc]\ntype = "{request.param}"\nsandbox_root = "{root}"\npoll_interval = 0.5\naccounting_delay = 60\n'
    )
    yield request.param
    asyncio.run(_cancel_leftovers())
    shutil.rmtree(root, ignore_errors=True)


async def _cancel_leftovers() -> None:
    """A failed run must not leave jobs holding the node's slots for the next test."""
    deck = Deck.open()
    try:
        for job in deck.jobs():
            if job.state.is_active:
                with contextlib.suppress(BatchdeckError):
                    await deck.cancel(job.id)
    finally:
        await deck.close()


def queue_names(app: BatchdeckApp) -> list[str]:
    table = app.query_one("#queues", DataTable)
    return [str(table.get_row_at(i)[0]) for i in range(table.row_count)]


async def test_submit_watch_peek_and_cancel_on_a_real_scheduler(scheduler: str, tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: any(QUEUES[scheduler] in name for name in queue_names(app)), timeout=30)
        job = await submit(pilot, app, command="sh -c 'echo hello from the scheduler; exit 3'", name="tuijob")
        assert app.jobs_by_id[job.id].jobid not in (None, job.id)  # the scheduler's own id
        await wait_for(pilot, lambda: app.jobs_by_id[job.id].state == RunState.TERMINATING, timeout=90)
        assert app.jobs_by_id[job.id].exitcode == 3
        assert "terminating" in state_cell(app, job.id)

        await pilot.press("p")
        view = app.query_one(PeekView)
        await wait_for(pilot, lambda: "hello from the scheduler" in view.log_widget.lines, timeout=30)
        await pilot.press("escape")

        sleeper = await submit(pilot, app, command="sleep 300", name="sleeper")
        try:
            await wait_for(pilot, lambda: app.jobs_by_id[sleeper.id].state == RunState.RUNNING, timeout=60)
        except TimeoutError:
            record = app.jobs_by_id[sleeper.id]
            raise AssertionError(f"{record.summary()} status={app.deck.status['hpc']}") from None
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: app.jobs_by_id[sleeper.id].state == RunState.TERMINATED, timeout=60)
        assert app.jobs_by_id[sleeper.id].reason.startswith("cancel")
        await pilot.press("q")
