"""The app at the sizes it promises: 80x24 (panes folded, the Jobs table's essential columns on
screen) and 160x48 (every column at once, no horizontal scrollbar), on the demo deck (a real Deck
over a real journal) with jobs whose names and reasons are long.

What is checked is what the table draws — its rendered lines and its columns' offsets within
the visible region — not only the data it holds.
"""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable, OptionList, Static
from textual.widgets.data_table import ColumnKey

from batchdeck.backends.model import JobRecord, JobSpec, Outcome, RunState
from batchdeck.tui.app import BatchdeckApp
from batchdeck.tui.demo import FIXED_NOW, demo_app
from batchdeck.tui.fitted_table import shrink_first
from batchdeck.tui.jobs_table import JobsTable, fit_widths
from batchdeck.tui.main_screen import FoldBar
from batchdeck.tui.peek_view import PeekView
from batchdeck.tui.rows import DISPLAY_ORDER, full_command
from batchdeck.tui.screenshots import wait_for

LONG_NAME = "hyperparameter-sweep-resnet50-lr-0.001"
LONG_REASON = "job requested more memory than the node has: 512G asked, 256G available on any node of the partition"


def _app(root: Path) -> BatchdeckApp:
    app = demo_app(root)
    # a job whose name and reason are each wider than an 80-column terminal leaves room for
    app.deck.journal.save(
        JobRecord(
            id="z9y8x7w6", cluster="hpc", spec=JobSpec(command=["./sweep.sh"], name=LONG_NAME),
            state=RunState.TERMINATED, created=FIXED_NOW - 100, started=FIXED_NOW - 90, finished=FIXED_NOW - 10,
            exitcode=1, reason=LONG_REASON, queue="short", outcome=Outcome.FAILED,
        )
    )
    return app


def _column_span(table: JobsTable, key: str) -> tuple[int, int]:
    """Where a column is drawn, in the table's visible content region (x from its left edge)."""
    start = 0
    for other in DISPLAY_ORDER:
        width = table.columns[ColumnKey(other)].get_render_width(table)
        if other == key:
            return start - int(table.scroll_x), start - int(table.scroll_x) + width
        start += width
    raise KeyError(key)


def _drawn_line(table: JobsTable, job_id: str) -> str:
    """The row's line as the table draws it now (header is line 0)."""
    row = table.get_row_index(job_id)
    return table.render_line(1 + row - int(table.scroll_y)).text


async def test_at_80x24_each_job_shows_its_state_and_outcome(tmp_path: Path) -> None:
    app = _app(tmp_path / "demo")
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(JobsTable)
        await wait_for(pilot, lambda: "z9y8x7w6" in table.shown)
        room = table.scrollable_content_region.width
        assert table.region.right <= 80 and room > 0
        for key in ("id", "name", "state", "exit"):
            start, end = _column_span(table, key)
            assert 0 <= start < end <= room, (key, start, end, room)
        # The drawn rows carry the state and (the start of) the outcome, the long one included.
        line = _drawn_line(table, "z9y8x7w6")
        assert "z9y8x7w6" in line and "terminated" in line and "failed · exit 1" in line, line
        assert "cancelled" in _drawn_line(table, "u1v2w3x4")
        assert "Priority" in _drawn_line(table, "i9j0k1l2")
        # Clusters and Queues fold to one line; tabbing back unfolds them, leaving folds them.
        clusters = app.query_one("#clusters", OptionList)
        bar = app.query_one(FoldBar)
        left = app.query_one("#left")

        def clusters_shown() -> int:
            return clusters.region.intersection(left.region).intersection(app.screen.region).area

        assert bar.region.height == 1 and left.region.height == 1 and clusters_shown() == 0
        assert "All clusters" in str(bar.render()) and "2 failing" in str(bar.render())
        await pilot.press("shift+tab", "shift+tab")  # Jobs -> Queues -> Clusters
        await pilot.pause()
        assert app.focused is clusters and clusters.region.width > 20 and clusters.region.height > 5
        assert clusters_shown() == clusters.region.area
        await pilot.press("tab", "tab")
        await pilot.pause()
        assert app.focused is table and clusters_shown() == 0
        await pilot.press("q")


def _no_sideways_scrolling(app: BatchdeckApp) -> None:
    for widget in (app.query_one(JobsTable), app.query_one("#queues", DataTable)):
        assert not widget.show_horizontal_scrollbar, widget
        assert widget.virtual_size.width <= widget.scrollable_content_region.width, widget


async def test_at_160x48_typical_jobs_show_whole_without_scrolling(tmp_path: Path) -> None:
    app = demo_app(tmp_path / "demo")
    async with app.run_test(size=(160, 48)) as pilot:
        table = app.query_one(JobsTable)
        await wait_for(pilot, lambda: len(table.shown) == 7)
        await pilot.pause()
        assert app.query_one(FoldBar).region.area == 0
        _no_sideways_scrolling(app)
        for job_id, words in (
            ("m3n4o5p6", ["m3n4o5p6", "bad-params", "terminating", "failed · exit 1", "00:00:12", "hpc", "short", "bd"]),
            ("other:hpc:48213", ["48213", "jupyter-notebook", "running", "01:30:00", "interactive", "other"]),
        ):
            line = _drawn_line(table, job_id)
            assert all(word in line for word in words), line
        # the Queues pane's last column too (it was cut at 160 columns)
        queues = app.query_one("#queues", DataTable)
        assert "max wall" in queues.render_line(0).text and "2-00:00:00" in queues.render_line(4).text
        await pilot.press("q")


async def test_at_160x48_a_long_name_and_reason_are_cut_not_scrolled(tmp_path: Path) -> None:
    app = _app(tmp_path / "demo")
    async with app.run_test(size=(160, 48)) as pilot:
        table = app.query_one(JobsTable)
        await wait_for(pilot, lambda: "z9y8x7w6" in table.shown)
        await pilot.pause()
        _no_sideways_scrolling(app)
        assert _column_span(table, DISPLAY_ORDER[-1])[1] <= table.scrollable_content_region.width
        line = _drawn_line(table, "z9y8x7w6")
        assert LONG_NAME[:12] in line and "failed" in line and "hpc" in line and "short" in line, line
        await pilot.press("q")


async def test_the_expand_key_shows_the_whole_command(tmp_path: Path) -> None:
    app = demo_app(tmp_path / "demo")
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(JobsTable)
        detail = app.query_one(PeekView).query_one("#detail", Static)
        await pilot.press("down", "down")  # quick-test: an sh -c script over three lines
        await wait_for(pilot, lambda: table.selected_key == "u1v2w3x4")
        one_line = str(detail.render())
        assert "'for f in data/*.csv; do …' (+2 lines)" in one_line and "(e: whole command)" in one_line
        await pilot.press("e")
        whole = str(detail.render())
        assert "sh -c 'for f in data/*.csv; do\n  python check.py \"$f\" || exit 1\ndone'" in whole
        assert detail.region.height >= 6  # every line of it, not cut at the pane's usual five
        await pilot.press("down")  # the choice holds for the next job
        await wait_for(pilot, lambda: table.selected_key == "i9j0k1l2")
        await pilot.press("up", "e")
        await wait_for(pilot, lambda: "(+2 lines)" in str(detail.render()))
        await pilot.press("q")


def test_fit_widths_gives_way_in_order() -> None:
    # id, name, state, outcome, elapsed, cluster, queue, by
    natural = [10, 20, 15, 60, 10, 11, 13, 7]
    assert fit_widths(natural, 200) == natural
    # wide but not enough: only the outcome shrinks, and everything fits exactly
    wide = fit_widths(natural, 120)
    assert sum(wide) == 120 and wide[:3] == natural[:3] and wide[4:] == natural[4:]
    # narrow: the essentials fill the view, the rest scroll in
    narrow = fit_widths(natural, 76)
    assert sum(narrow[:4]) == 76 and narrow[:3] == natural[:3]
    # very narrow: the name gives way before the outcome goes below its minimum
    tight = fit_widths(natural, 50)
    assert sum(tight[:4]) <= 50 and tight[1] < 20 and tight[3] >= 12


def test_full_command_keeps_a_scripts_lines() -> None:
    assert full_command(["sh", "-c", "echo a\necho b"]) == "sh -c 'echo a\necho b'"
    # a single quote of its own: shell-quoted, still one word a shell would take back
    assert full_command(["sh", "-c", "echo 'a'\nb"]) == "sh -c 'echo '\"'\"'a'\"'\"'\nb'"
    assert full_command(["python", "x y.py"]) == "python 'x y.py'"


def test_shrink_first_cuts_the_name_only_when_that_makes_everything_fit() -> None:
    assert shrink_first([18, 7, 9, 8, 12], 54) == [18, 7, 9, 8, 12]
    assert shrink_first([18, 7, 9, 8, 12], 50) == [14, 7, 9, 8, 12]
    assert shrink_first([18, 7, 9, 8, 12], 44) == [18, 7, 9, 8, 12]  # it would take the name below 12: scroll
