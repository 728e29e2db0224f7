"""Snapshots of every screen and dialog of the app, in both batchdeck themes.

The app runs over the fixed demo deck (tui/demo.py): fixed ids, timestamps and
cluster states, an injected clock, no polling. Regenerate with
``pytest tests/test_tui_snapshots.py --snapshot-update`` and look at the SVGs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from textual.pilot import Pilot

from batchdeck.themes import DARK, LIGHT
from batchdeck.tui.confirm_screen import ConfirmScreen
from batchdeck.tui.demo import demo_app
from batchdeck.tui.screenshots import SCENES, SIZE, wait_for
from batchdeck.tui.theme_screen import ThemeScreen

NARROW = (80, 24)


@pytest.fixture(autouse=True)
def _utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


async def _cancel_dialog(pilot: Pilot) -> None:
    await pilot.press("down", "c")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen))


async def _theme_picker(pilot: Pilot) -> None:
    await pilot.press("t")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ThemeScreen))


async def _filtered(pilot: Pilot) -> None:
    await pilot.press("slash", *"hpc")
    await pilot.pause()


async def _stderr_peek(pilot: Pilot) -> None:
    await SCENES["peek"](pilot)
    view = pilot.app.query_one("#peek")
    await pilot.press("o")
    await wait_for(pilot, lambda: view.tail.stderr and view.tail.opened and view.log_widget.line_count > 0)


async def _cluster_selected(pilot: Pilot) -> None:
    await pilot.press("shift+tab", "shift+tab", "down", "down")  # Jobs -> Queues -> Clusters: hpc
    await pilot.pause()


async def _whole_command(pilot: Pilot) -> None:
    await pilot.press("down", "down", "e")  # quick-test: a multi-line sh -c script
    await pilot.pause()


ALL_SCENES = {
    **SCENES,
    "cancel": _cancel_dialog,
    "theme": _theme_picker,
    "filter": _filtered,
    "stderr": _stderr_peek,
    "cluster": _cluster_selected,
    "command": _whole_command,
}


@pytest.mark.parametrize("theme", [DARK, LIGHT])
@pytest.mark.parametrize("scene", list(ALL_SCENES))
def test_screen(snap_compare, scene: str, theme: str) -> None:  # noqa: ANN001 - pytest fixture
    async def run_before(pilot: Pilot) -> None:
        await pilot.pause()
        await ALL_SCENES[scene](pilot)

    assert snap_compare(demo_app(theme=theme), run_before=run_before, terminal_size=SIZE)


async def _history(pilot: Pilot) -> None:
    from batchdeck.tui.history_screen import HistoryScreen

    await pilot.press("h")
    await wait_for(
        pilot,
        lambda: isinstance(pilot.app.screen, HistoryScreen)
        and all(entry.loaded for entry in pilot.app.screen.model.clusters.values()),
    )
    await pilot.press("down")
    await pilot.pause()


@pytest.mark.parametrize("size", [(80, 24), SIZE], ids=["80x24", "wide"])
def test_history_screen(snap_compare, size: tuple[int, int]) -> None:  # noqa: ANN001 - pytest fixture
    """The demo's accounting (the Deck's cache, as if just asked): a cluster without accounting, an
    unreachable one and one the view cannot ask each say so on a line of their own."""

    async def run_before(pilot: Pilot) -> None:
        await pilot.pause()
        await _history(pilot)

    assert snap_compare(demo_app(theme=DARK), run_before=run_before, terminal_size=size)


@pytest.mark.parametrize("theme", [DARK, LIGHT])
@pytest.mark.parametrize("scene", list(ALL_SCENES))
def test_screen_at_80x24(snap_compare, scene: str, theme: str) -> None:  # noqa: ANN001 - pytest fixture
    """The smallest terminal batchdeck promises to work in: folded panes, fitted columns, scrolling dialogs."""

    async def run_before(pilot: Pilot) -> None:
        await pilot.pause()
        await ALL_SCENES[scene](pilot)

    assert snap_compare(demo_app(theme=theme), run_before=run_before, terminal_size=NARROW)


async def _other_row(pilot: Pilot, key: str) -> None:
    from batchdeck.tui.jobs_table import JobsTable

    table = pilot.app.query_one(JobsTable)
    await wait_for(pilot, lambda: key in table.shown)
    table.select_key(key)
    await pilot.pause()


async def _details(pilot: Pilot) -> None:
    from batchdeck.tui.details_screen import DetailsScreen

    await _other_row(pilot, "other:hpc:48213")
    await pilot.press("i")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, DetailsScreen) and pilot.app.screen.rows is not None)


async def _signal(pilot: Pilot) -> None:
    from batchdeck.tui.signal_screen import SignalScreen

    await _other_row(pilot, "other:hpc:48213")
    await pilot.press("k")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, SignalScreen))


async def _time_limit(pilot: Pilot) -> None:
    from batchdeck.tui.time_limit_screen import TimeLimitScreen

    await _other_row(pilot, "other:hpc:48213")
    await pilot.press("T")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, TimeLimitScreen))
    await pilot.press(*"12h")


async def _columns(pilot: Pilot) -> None:
    from batchdeck.tui.columns_screen import ColumnsScreen

    await pilot.press("S", "S", "S")  # sorted by name, ascending
    await pilot.press("C")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ColumnsScreen))
    await pilot.press("down", "down", "down", "down", "space")  # elapsed hidden


async def _other_selected(pilot: Pilot) -> None:
    await _other_row(pilot, "other:hpc:48213")  # the footer offers the other-job actions


ANY_JOB_SCENES = {
    "details": _details,
    "signal": _signal,
    "time_limit": _time_limit,
    "columns": _columns,
    "other_row": _other_selected,
}


@pytest.mark.parametrize("theme", [DARK, LIGHT])
@pytest.mark.parametrize("scene", list(ANY_JOB_SCENES))
def test_any_job_screen(snap_compare, scene: str, theme: str) -> None:  # noqa: ANN001 - pytest fixture
    """A job batchdeck did not submit: its details, the signal chooser, a new time limit; the
    columns dialog over a sorted table; the footer on such a row."""

    async def run_before(pilot: Pilot) -> None:
        await pilot.pause()
        await ANY_JOB_SCENES[scene](pilot)

    assert snap_compare(demo_app(theme=theme), run_before=run_before, terminal_size=SIZE)
