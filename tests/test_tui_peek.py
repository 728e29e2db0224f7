"""The peek view's keys on a big (sparse) local file: top, end, go to line, remote search, next/previous.

Every wait polls the app with a deadline; nothing asserts on durations.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Static

from batchdeck.backends.engine.deck import Deck
from batchdeck.backends.model import JobRecord, JobSpec, RunState
from batchdeck.tui.app import BatchdeckApp
from batchdeck.tui.peek_view import PeekLog, PeekView
from batchdeck.tui.screenshots import wait_for

SIZE = (140, 42)
HOLE = 64 * 1024**2


@pytest.fixture
def big_job(tmp_path: Path) -> tuple[Deck, Path]:
    config = Path(os.environ["BATCHDECK_CONFIG"])
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(f'[clusters.local]\ntype = "local"\nsandbox_root = "{tmp_path / "sandboxes"}"\n')
    sandbox = tmp_path / "sandboxes" / "bigpeek1"
    sandbox.mkdir(parents=True)
    stdout = sandbox / "stdout.txt"
    with open(stdout, "wb") as handle:
        handle.write(b"".join(b"head %05d\n" % n for n in range(1000)))
        handle.truncate(HOLE - 1)
        handle.seek(0, os.SEEK_END)
        handle.write(b"\n" + b"".join(b"tail %05d\n" % n for n in range(3000)))
        handle.write(b"\x1b[31mred\x1b[0m and a bell\x07\n")
        handle.write(b"progress 10%\rprogress 55%\rprogress 100%\n")
    deck = Deck.open()
    deck.journal.save(
        JobRecord(id="bigpeek1", cluster="local", spec=JobSpec(command=["true"], name="big"),
                  state=RunState.TERMINATED, sandbox=str(sandbox), exitcode=0, created=1.0)
    )
    return deck, stdout


def top_text(log: PeekLog) -> str:
    return log.lines[log.top_index]


def shown_rows(log: PeekLog) -> list[str]:
    return ["".join(segment.text for segment in log.render_line(y)).rstrip() for y in range(log.size.height)]


def status_text(app: BatchdeckApp) -> str:
    return str(app.query_one("#peek-status", Static).render())


async def type_line(pilot: Pilot, text: str) -> None:
    await pilot.press(*["space" if ch == " " else ch for ch in text], "enter")


async def test_keys_move_through_a_big_file_and_search_it_remotely(big_job: tuple[Deck, Path]) -> None:
    deck, stdout = big_job
    size = stdout.stat().st_size
    app = BatchdeckApp(deck, auto_refresh=False, peek_interval=0.1, owns_deck=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("p")
        view = app.query_one(PeekView)
        log = view.log_widget
        await wait_for(pilot, lambda: view.tail is not None and view.tail.opened)
        tail = view.tail
        assert tail is not None and tail.end == size and log.following
        # What the terminal gets: the progress line as it ended, control characters made visible.
        rows = shown_rows(log)
        assert "progress 100%" in rows and not any("\x1b" in row or "\x07" in row for row in rows)
        assert any("^[[31mred^[[0m and a bell^G" in row for row in rows)
        assert "following" in status_text(app)

        # Go to line 500 (1-based), counted on the file's host.
        await pilot.press("colon")
        await type_line(pilot, "500")
        await wait_for(pilot, lambda: tail.first_line == 499 and top_text(log) == "head 00499")
        assert not log.following
        await wait_for(pilot, lambda: "line 500" in status_text(app) and "paused" in status_text(app))
        # Up at the first line held fetches the chunk before it; the view stays on the same line.
        span_start = tail.start
        await pilot.press("up")
        await wait_for(pilot, lambda: tail.start < span_start)
        assert top_text(log) == "head 00499" and tail.first_line is not None and tail.first_line < 499
        await pilot.press("up")
        await wait_for(pilot, lambda: top_text(log) == "head 00498")

        # End follows again; g goes to the file's start.
        await pilot.press("end")
        await wait_for(pilot, lambda: log.following and tail.end == size)
        await pilot.press("g")
        await wait_for(pilot, lambda: tail.start == 0 and top_text(log) == "head 00000")

        # / searches forward (across the hole) on the host; n and N move between matches.
        await pilot.press("slash")
        await type_line(pilot, "tail 0010")
        await wait_for(pilot, lambda: log.match is not None and top_text(log) != "head 00000", timeout=60)

        def match_text() -> str:
            assert log.match is not None and tail is not None
            return tail.text(tail.index_of(log.match[0]))

        assert match_text() == "tail 00100"
        index = tail.index_of(log.match[0]) if log.match else -1
        assert log.scroll_y <= index < log.scroll_y + log.size.height
        await pilot.press("n")
        await wait_for(pilot, lambda: match_text() == "tail 00101")
        await pilot.press("n")
        await wait_for(pilot, lambda: match_text() == "tail 00102")
        await pilot.press("N")
        await wait_for(pilot, lambda: match_text() == "tail 00101")
        await pilot.press("slash")
        await type_line(pilot, "no such text")
        await wait_for(pilot, lambda: "not found: no such text" in status_text(app), timeout=60)

        await pilot.press("G")
        await wait_for(pilot, lambda: log.following and tail.end == size)
        await pilot.press("q")
