"""The Jobs table's sort (a key cycles the column and direction) and its visible columns (a
dialog), remembered beside the theme in ui.json; sorted in plain Python over the rows, so 10,000
rows across clusters sort the same as a few. Over the demo deck: no daemon."""

from __future__ import annotations

import json
from pathlib import Path

from batchdeck.backends.model import RunState, SchedulerJob
from batchdeck.tui.app import BatchdeckApp
from batchdeck.tui.columns_screen import ColumnsScreen
from batchdeck.tui.demo import FIXED_NOW, build_demo_deck
from batchdeck.tui.jobs_table import JobsTable
from batchdeck.tui.rows import DISPLAY_ORDER, next_sort, sort_rows, sort_value
from batchdeck.tui.screenshots import wait_for

SIZE = (140, 42)


def test_sort_values_read_numbers_and_times_as_such() -> None:
    ids = ["48120_12", "a1b2c3d4", "9", "48120_3", "10"]
    assert sorted(ids, key=lambda c: sort_value("id", c)) == ["9", "10", "48120_3", "48120_12", "a1b2c3d4"]
    times = ["1-00:00:00", "00:59:59", "", "02:00:00"]
    assert sorted(times, key=lambda c: sort_value("elapsed", c)) == ["00:59:59", "02:00:00", "1-00:00:00", ""]
    assert sort_value("state", "▶ running") == sort_value("state", "✔ running")  # the word, not the symbol


def test_sort_rows_keeps_empty_cells_last_both_ways() -> None:
    rows = {k: ("bd", k, name, "c", "q", "", el, "") for k, name, el in
            (("a", "zeta", "00:00:05"), ("b", "alpha", ""), ("c", "Mid", "01:00:00"))}  # fmt: skip
    assert list(sort_rows(rows, "elapsed", False)) == ["a", "c", "b"]
    assert list(sort_rows(rows, "elapsed", True)) == ["c", "a", "b"]
    assert list(sort_rows(rows, "name", False)) == ["b", "c", "a"]


def test_an_unfolded_array_s_task_rows_stay_under_it_when_sorted() -> None:
    rows = {k: ("bd", k, name, "c", "q", "", "", "") for k, name in
            (("arr", "mid"), ("arr/1", "zz-task"), ("arr/2", "aa-task"), ("x", "alpha"), ("y", "zeta"))}  # fmt: skip
    assert list(sort_rows(rows, "name", False)) == ["x", "arr", "arr/1", "arr/2", "y"]
    assert list(sort_rows(rows, "name", True)) == ["y", "arr", "arr/1", "arr/2", "x"]


def test_next_sort_cycles_every_column_both_ways_then_none() -> None:
    columns = ("id", "name")
    seen = [None]
    for _ in range(5):
        seen.append(next_sort(seen[-1], columns))
    assert seen == [None, ("id", False), ("id", True), ("name", False), ("name", True), None]
    assert next_sort(("gone", True), columns) == ("id", False)  # a column no longer shown starts over


def many_jobs(count: int) -> list[SchedulerJob]:
    return [
        SchedulerJob(str(100000 + (i * 7919) % count), RunState.RUNNING, raw_state="RUNNING", name=f"w{i:05d}",
                     user="ada", queue="short", start_time=FIXED_NOW - (i * 37) % 90000)
        for i in range(count)
    ]  # fmt: skip


def app_over_demo(root: Path, others: int = 0) -> BatchdeckApp:
    deck, queues = build_demo_deck(root / "demo")
    if others:
        deck.status["hpc"].other_jobs = many_jobs(others)
    return BatchdeckApp(deck, clock=lambda: FIXED_NOW, auto_refresh=False, queues=queues, ui_settings=root / "ui.json")


def table_order(table: JobsTable) -> list[str]:
    return [str(row.key.value) for row in table.ordered_rows]


async def test_sort_key_cycles_and_is_remembered_with_10000_rows(tmp_path: Path) -> None:
    app = app_over_demo(tmp_path, others=10_000)
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(JobsTable)
        await wait_for(pilot, lambda: len(table.shown) == 10_006 and not table.filling, timeout=60)
        before = table_order(table)
        await pilot.press("S")  # id, ascending
        await wait_for(pilot, lambda: app.session.sort == ("id", False))
        ids = [str(table.get_cell(key, "id")) for key in table_order(table)]
        assert ids == sorted(ids, key=lambda c: sort_value("id", c)) and table_order(table) != before
        assert "by id ↑" in str(table.border_title)
        await pilot.press("S")  # id, descending
        await wait_for(pilot, lambda: app.session.sort == ("id", True))
        ids = [str(table.get_cell(key, "id")) for key in table_order(table)]
        assert ids == sorted(ids, key=lambda c: sort_value("id", c), reverse=True)
        # the cursor's job stays selected through a re-sort
        selected = table.selected_key
        await pilot.press("S")
        await wait_for(pilot, lambda: app.session.sort == ("name", False))
        assert table.selected_key == selected
        await pilot.press("q")
    saved = json.loads((tmp_path / "ui.json").read_text())
    assert saved["sort"] == ["name", False]
    # a new app starts sorted as the last one left it
    again = app_over_demo(tmp_path)
    async with again.run_test(size=SIZE) as pilot:
        table = again.query_one(JobsTable)
        await wait_for(pilot, lambda: len(table.shown) == 7)
        names = [str(table.get_cell(key, "name")) for key in table_order(table)]
        assert names == sorted(names, key=lambda c: sort_value("name", c))
        await pilot.press("q")


async def test_columns_dialog_hides_columns_and_is_remembered(tmp_path: Path) -> None:
    app = app_over_demo(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(JobsTable)
        await wait_for(pilot, lambda: len(table.shown) == 7)
        await pilot.press("C")
        await wait_for(pilot, lambda: isinstance(app.screen, ColumnsScreen))
        # untick "elapsed" and "queue" (display order: id name state outcome elapsed cluster queue by)
        await pilot.press("down", "down", "down", "down", "space", "down", "down", "space")
        await wait_for(pilot, lambda: table.shown_columns == ("id", "name", "state", "exit", "cluster", "src"))
        assert [str(c.key.value) for c in table.ordered_columns] == ["id", "name", "state", "exit", "cluster", "src"]
        assert len(table.shown) == 7 and table.row_count == 7
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, ColumnsScreen))
        await pilot.press("q")
    saved = json.loads((tmp_path / "ui.json").read_text())
    assert saved["columns"] == ["id", "name", "state", "exit", "cluster", "src"]
    again = app_over_demo(tmp_path)
    async with again.run_test(size=SIZE) as pilot:
        table = again.query_one(JobsTable)
        await wait_for(pilot, lambda: len(table.shown) == 7)
        assert table.shown_columns == ("id", "name", "state", "exit", "cluster", "src")
        await pilot.press("q")
    assert set(DISPLAY_ORDER) >= set(saved["columns"])
