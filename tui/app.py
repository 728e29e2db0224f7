"""The batchdeck app: the session (backends/engine/session.py), the themes and the screens.

The model (jobs, queues, cluster states, the selection, when to poll) is the
Session's; the panes and main keys are the MainScreen's (main_screen.py).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path

from textual.app import App, SystemCommand
from textual.notifications import SeverityLevel
from textual.screen import Screen

from ..backends.engine.config import Config, default_config_path
from ..backends.engine.deck import Deck, succeeded
from ..backends.engine.keys import actions_of
from ..backends.engine.session import ChangeSet, Session
from ..backends.errors import BatchdeckError, ConfigError
from ..backends.model import JobRecord, QueueInfo
from ..backends.text import terminal_safe
from ..themes import DARK, DEFAULT_STATE_COLOURS, STATE_ROLES, THEMES
from .download_screen import DownloadScreen
from .main_screen import MainScreen
from .rows import COLUMNS, DISPLAY_ORDER, Clock
from .terminal_notify import send
from .theme_screen import ThemeScreen

#: (title, body) -> None: how the app tells the user a job ended, beside the toast
Ring = Callable[[str, str], object]


def ui_settings_path(config_path: str | Path | None = None) -> Path:
    """``ui.json`` beside the configuration file (the user's config dir by default)."""
    base = Path(config_path) if config_path is not None else default_config_path()
    return base.parent / "ui.json"


class BatchdeckApp(App[int]):
    """The session, the themes and the screens; the main screen does the rest."""

    CSS_PATH = "app.tcss"
    TITLE = "batchdeck"

    def __init__(
        self,
        deck: Deck,
        *,
        clock: Clock = time.time,
        auto_refresh: bool = True,
        ui_settings: Path | None = None,
        queues: dict[str, list[QueueInfo]] | None = None,
        peek_interval: float = 0.5,
        owns_deck: bool = False,
        download_base: Path | None = None,
        ring: Ring | None = None,
    ) -> None:
        super().__init__()
        self.session = Session(deck, queues=dict(queues or {}), clock=clock)
        # None: the terminal's own bell and OSC 9/777, when there is a terminal (not in a browser)
        self.ring = ring
        self.session.add_listener(self._tell_of_ended_jobs)
        self.ui_settings = ui_settings
        self.owns_deck = owns_deck
        self._load_view()
        self.main = MainScreen(
            self.session, live=auto_refresh, peek_interval=peek_interval, download_base=download_base,
            on_view_change=self._save_view,
        )
        # The [keys] table, checked by the config loader: Textual moves the bindings with these ids.
        self.set_keymap(deck.config.keys)
        for theme in THEMES:
            self.register_theme(theme)
        self.theme = self._saved_theme() or DARK

    def get_default_screen(self) -> MainScreen:
        return self.main

    # The session's state, for callers that hold the app (tests, the demo, the benchmark).
    @property
    def deck(self) -> Deck:
        return self.session.deck

    @property
    def jobs_by_id(self) -> dict[str, JobRecord]:
        return self.session.jobs

    @property
    def last_refresh(self) -> float | None:
        return self.session.last_refresh

    @last_refresh.setter
    def last_refresh(self, when: float | None) -> None:
        self.session.last_refresh = when

    def on_mount(self) -> None:
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        self._update_state_colours()

    async def on_unmount(self) -> None:
        await self.session.stop()
        if self.owns_deck:
            await self.deck.close()

    # ------------------------------------------------------------------ jobs that ended

    def _tell_of_ended_jobs(self, changes: ChangeSet) -> None:
        """A toast, the bell and a desktop notification when jobs of a cluster with ``notify`` end."""
        clusters = self.deck.config.clusters
        jobs = [
            self.session.jobs[ident]
            for ident in sorted(changes.ended)
            if ident in self.session.jobs and getattr(clusters.get(self.session.jobs[ident].cluster), "notify", False)
        ]
        if not jobs:
            return
        good = [job for job in jobs if succeeded(job)]
        if len(jobs) == 1:
            (job,) = jobs
            title = "batchdeck: job " + ("done" if good else "did not succeed")
            outcome = job.outcome.value if job.outcome is not None else job.state.value
            body = f"{job.name} ({job.id}) on {job.cluster}: {outcome}" + (f" ({job.reason})" if job.reason else "")
        else:
            # one notification for a batch: a hundred tasks ending in one poll must not raise a hundred
            title = f"batchdeck: {len(jobs)} jobs ended"
            body = f"{len(good)} done, {len(jobs) - len(good)} did not succeed"
        self.notify(terminal_safe(f"{title.removeprefix('batchdeck: ')}: {body}"),
                    severity="information" if len(good) == len(jobs) else "warning")  # fmt: skip
        if self.ring is not None:
            self.ring(title, body)
        elif not (self.is_web or self.is_headless):
            send(title, body)

    # ------------------------------------------------------------------ themes

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Every notification as plain text: its words carry job names, file names and the
        scheduler's messages, where ``[...]`` is data (an array id, a host list), not markup."""
        del markup
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=False)

    def _ui_data(self) -> dict[str, object]:
        if self.ui_settings is None:
            return {}
        try:
            data = json.loads(self.ui_settings.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _saved_theme(self) -> str | None:
        name = self._ui_data().get("theme")
        return name if isinstance(name, str) and name in self.available_themes else None

    def _save_ui(self, what: str, values: dict[str, object]) -> None:
        if self.ui_settings is None:
            return
        data = self._ui_data()
        data.update(values)
        # under a temp name, then renamed: a crash mid-write never leaves half a file
        temp = self.ui_settings.with_name(f".{self.ui_settings.name}.tmp")
        try:
            self.ui_settings.parent.mkdir(parents=True, exist_ok=True)
            temp.write_text(json.dumps(data, indent=2) + "\n")
            temp.replace(self.ui_settings)
        except OSError as exc:
            self.notify(f"cannot save the {what} to {self.ui_settings}: {exc.strerror}", severity="warning")

    def _save_theme(self, name: str) -> None:
        self._save_ui("theme", {"theme": name})

    # The Jobs table's sort and columns are remembered beside the theme; a value this version
    # does not know (a column renamed since) is dropped, never an error at start.

    def _load_view(self) -> None:
        data = self._ui_data()
        known = dict(COLUMNS)
        sort = data.get("sort")
        if isinstance(sort, list) and len(sort) == 2 and sort[0] in known and isinstance(sort[1], bool):
            self.session.sort = (sort[0], sort[1])
        columns = data.get("columns")
        if isinstance(columns, list):
            shown = tuple(key for key in DISPLAY_ORDER if key in columns)
            self.session.columns = shown if shown and shown != DISPLAY_ORDER else None

    def _save_view(self) -> None:
        sort = self.session.sort
        self._save_ui(
            "Jobs table's sort and columns",
            {"sort": list(sort) if sort else None, "columns": list(self.session.columns or DISPLAY_ORDER)},
        )

    def _theme_changed(self, _theme: object) -> None:
        self._update_state_colours()

    def _update_state_colours(self) -> None:
        variables = self.get_css_variables()
        self.main.recolour(
            {role: variables.get(f"bd-{role}", DEFAULT_STATE_COLOURS[role]) for role in STATE_ROLES}
        )

    def action_choose_theme(self) -> None:
        self.push_screen(ThemeScreen(self.theme, list(self.available_themes)), self._theme_chosen)

    def _theme_chosen(self, name: str | None) -> None:
        if name:
            self.theme = name
            self._save_theme(name)

    # ------------------------------------------------------------------ app-wide

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for action in actions_of("main").values():
            if action.action != "quit":
                help_text = action.description[:1].upper() + action.description[1:]
                yield SystemCommand(action.label, help_text, partial(self.main.run_action, action.action))

    def on_download_screen_finished(self, event: DownloadScreen.Finished) -> None:
        self.session.reload_job(event.job_id)

    async def action_quit(self) -> None:
        await self.main.stop()
        self.exit(0)


def broken_config_deck(config_path: str | None, error: ConfigError) -> Deck:
    """A Deck with no usable cluster whose only row shows why the file is broken."""
    path = Path(config_path) if config_path else default_config_path()
    return Deck(Config(path=path, broken={path.name: error}))


def run_app(config_path: str | None) -> int:
    """``batchdeck`` without a subcommand: open the engine and run the app."""
    try:
        deck = Deck.open(config_path)
    except ConfigError as exc:
        try:
            deck = broken_config_deck(config_path, exc)
        except BatchdeckError as inner:
            print(f"batchdeck: {inner}", file=sys.stderr)
            return 1
    except BatchdeckError as exc:
        print(f"batchdeck: {exc}", file=sys.stderr)
        return 1
    app = BatchdeckApp(deck, ui_settings=ui_settings_path(config_path), owns_deck=True)
    result = app.run()
    return result if isinstance(result, int) else (app.return_code or 0)
