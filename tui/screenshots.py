"""``python -m batchdeck.tui.screenshots DIR``: SVG screenshots of every screen, from the real app.

The app runs headlessly (Textual's pilot) over the fixed demo deck, so the
pictures are the same on every machine. The snapshot tests replay the same scenes.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from textual.pilot import Pilot

from ..themes import DARK, LIGHT
from .demo import demo_app, set_utc
from .download_screen import DownloadScreen
from .help_screen import HelpScreen
from .peek_view import PeekView
from .submit_screen import SubmitScreen

SIZE = (140, 42)
#: the smallest terminal batchdeck promises to work in, and the scenes also shot at it
NARROW = (80, 24)
NARROW_SCENES = ("main", "peek")
Scene = Callable[[Pilot[int]], Awaitable[None]]


async def wait_for(pilot: Pilot[int], condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Pump the app until ``condition`` holds; raise if it never does."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise TimeoutError("the app did not reach the expected state in time")
        await pilot.pause(0.02)
    await pilot.pause()


async def main_screen(pilot: Pilot[int]) -> None:
    await pilot.press("down")  # the running job, so the detail area has something to say
    await pilot.pause()


async def submit_form(pilot: Pilot[int]) -> None:
    await pilot.press("s")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, SubmitScreen))
    await pilot.press(*"./train.sh", "space", *"-e", "space", "5")
    await pilot.press("tab", "tab", *"small", "tab", "tab", "8")
    form = pilot.app.screen
    # the form checks itself once typing pauses: show it checked
    await wait_for(pilot, lambda: isinstance(form, SubmitScreen) and form.settled)


async def peek(pilot: Pilot[int]) -> None:
    await pilot.press("down", "p")
    view = pilot.app.query_one(PeekView)
    await wait_for(pilot, lambda: view.tail is not None and view.tail.opened and view.log_widget.line_count > 0)


async def download_dialog(pilot: Pilot[int]) -> None:
    await pilot.press("down", "d")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, DownloadScreen))


async def help_screen(pilot: Pilot[int]) -> None:
    await pilot.press("question_mark")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, HelpScreen))


SCENES: dict[str, Scene] = {
    "main": main_screen,
    "submit": submit_form,
    "peek": peek,
    "download": download_dialog,
    "help": help_screen,
}
THEME_SUFFIX = {DARK: "dark", LIGHT: "light"}


async def shoot(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    shots = [(name, scene, SIZE, name) for name, scene in SCENES.items()]
    shots += [(name, SCENES[name], NARROW, f"{name}-{NARROW[0]}x{NARROW[1]}") for name in NARROW_SCENES]
    for theme, suffix in THEME_SUFFIX.items():
        for _name, scene, size, stem in shots:
            app = demo_app(theme=theme)
            async with app.run_test(size=size) as pilot:
                await pilot.pause()
                await scene(pilot)
                filename = f"{stem}-{suffix}.svg"
                app.save_screenshot(filename, str(directory))
                written.append(directory / filename)
                app.exit(0)
    return written


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    directory = Path(args[0] if args else "screenshots")
    set_utc()
    for path in asyncio.run(shoot(directory)):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
