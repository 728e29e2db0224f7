"""Job arrays in the app (#12 item 4): one row per array, batchdeck's and plain sbatch arrays alike, with its
tasks counted by state; ``a`` unfolds it into one row per task and folds it again; ``p`` on a task peeks that
task's own output. On the demo deck (tui/demo.py, ``arrays=True``)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.pilot import Pilot

from batchdeck.themes import DARK
from batchdeck.tui.demo import demo_app
from batchdeck.tui.jobs_table import JobsTable
from batchdeck.tui.peek_view import PeekView
from batchdeck.tui.rows import other_key, task_key
from batchdeck.tui.screenshots import SIZE, wait_for

ARRAY = "z1y2x3w4"
PLAIN = other_key("hpc", "48300")


@pytest.fixture(autouse=True)
def _utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _cells(pilot: Pilot, key: str) -> list[str]:
    """The row's cells in rows.COLUMNS order (the outcome last)."""
    table = pilot.app.screen.query_one(JobsTable)
    return [str(cell) for cell in table.shown[key]]


async def test_arrays_fold_unfold_and_every_task_peeks(tmp_path: Path) -> None:
    app = demo_app(tmp_path / "demo", theme=DARK, arrays=True)
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one(JobsTable)
        await wait_for(pilot, lambda: ARRAY in table.shown)
        assert "12 run · 30 pend · 3 failed" in _cells(pilot, ARRAY)
        assert "2 run · 6 pend" in _cells(pilot, PLAIN)
        assert not any("/" in key for key in table.shown)  # folded: one row per array
        before = len(table.shown)

        table.select_key(ARRAY)
        table.focus()
        await pilot.press("a")
        await wait_for(pilot, lambda: task_key(ARRAY, "45") in table.shown)
        assert len(table.shown) == before + 45
        drawn = [row.key.value for row in table.ordered_rows]
        assert drawn[drawn.index(ARRAY) + 1 : drawn.index(ARRAY) + 46] == [task_key(ARRAY, str(t)) for t in range(1, 46)]
        assert "failed · exit 2" in _cells(pilot, task_key(ARRAY, "14"))[-1]

        # p on the array row says to pick a task; on a task's row it peeks that task's own file
        await pilot.press("p")
        await pilot.pause()
        assert app.screen.query_one(PeekView).tail is None
        table.select_key(task_key(ARRAY, "14"))
        await pilot.press("p")
        view = app.screen.query_one(PeekView)
        await wait_for(pilot, lambda: view.tail is not None)
        assert view.peek_task == "14" and view.border_title == f"Peek {ARRAY} task 14 · stdout"
        assert app.deck.job(ARRAY).output_name(False, view.peek_task) == "14/stdout.txt"
        view.toggle_stream()
        assert view.peek_task == "14" and view.border_title == f"Peek {ARRAY} task 14 · stderr"

        # a from a task's row folds its array again
        table.focus()
        table.select_key(task_key(ARRAY, "14"))
        await pilot.press("a")
        await wait_for(pilot, lambda: task_key(ARRAY, "14") not in table.shown)
        assert len(table.shown) == before and table.selected_key == ARRAY

        # a plain sbatch array unfolds into its listed tasks
        table.select_key(PLAIN)
        await pilot.press("a")
        await wait_for(pilot, lambda: other_key("hpc", "48300_1") in table.shown)
        assert len(table.shown) == before + 3
        drawn = [row.key.value for row in table.ordered_rows]
        assert drawn[drawn.index(PLAIN) + 1] == other_key("hpc", "48300_1")


def test_array_rows_snapshot(snap_compare) -> None:  # noqa: ANN001 - pytest fixture
    async def run_before(pilot: Pilot) -> None:
        await pilot.pause()
        await wait_for(pilot, lambda: bool(pilot.app.screen.query(JobsTable)))
        table = pilot.app.screen.query_one(JobsTable)
        await wait_for(pilot, lambda: ARRAY in table.shown)
        table.select_key(ARRAY)
        await pilot.press("a")
        await wait_for(pilot, lambda: task_key(ARRAY, "45") in table.shown)
        table.select_key(task_key(ARRAY, "13"))
        await pilot.pause()

    assert snap_compare(demo_app(theme=DARK, arrays=True), run_before=run_before, terminal_size=SIZE)
