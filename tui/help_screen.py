"""The key reference (``?``)."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS: tuple[tuple[str, str], ...] = (
    ("tab / shift+tab", "move between the Clusters, Queues, Jobs and Peek panes"),
    ("s", "submit a job (the form checks values against the cluster's limits)"),
    ("c", "cancel the selected job (asks first)"),
    ("p / enter", "peek: live tail of the job's stdout"),
    ("o", "toggle stdout / stderr in the peek"),
    ("end G / home g", "in the peek: go to the end and follow it / go to the file's start"),
    ("/  n  N", "in the peek: search the file (on the cluster) / next / previous match"),
    (":", "in the peek: go to a line (:@N a byte offset, :50% a point of the file)"),
    ("d", "download the job's results"),
    ("f", "free the job's remote sandbox (TERMINATED jobs only)"),
    ("r", "refresh every cluster now"),
    ("/", "filter jobs by text (escape clears)"),
    ("t", "choose the theme (remembered)"),
    ("ctrl+p", "command palette: every action by name"),
    ("?", "this help"),
    ("q", "quit (jobs keep running)"),
)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "close", "Close")]

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold")
        table.add_column()
        for key, what in KEYS:
            table.add_row(key, what)
        with VerticalScroll(id="dialog", classes="help"):
            yield Static("[b]batchdeck keys[/b]", classes="title")
            yield Static(table)
            yield Static(
                "\n[dim]States: ◌ pending  ▶ running  ✔ done  ✘ failed  ? stale/unknown.  "
                "'other' rows are your jobs on that scheduler not started by batchdeck.[/dim]"
            )
            yield Static("[dim]escape closes[/dim]")

    def action_close(self) -> None:
        self.dismiss(None)
