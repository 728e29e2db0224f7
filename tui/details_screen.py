"""A job's details (``i``), any of the user's jobs: what ``batchdeck show`` prints, fetched by the
main screen in a worker while this dialog says so; it only shows what it is given."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.css.query import NoMatches
from textual.screen import ModalScreen
from textual.widgets import Static

from ..backends.text import terminal_safe
from .keys import bindings, key_text


class DetailsScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    DetailsScreen #dialog.details {
        width: 110;
        max-width: 100%;
    }
    DetailsScreen #details-body {
        height: auto;
    }
    DetailsScreen #details-error {
        color: $error;
        height: auto;
    }
    """
    BINDINGS = bindings("details")

    def __init__(self, title: str) -> None:
        super().__init__()
        self.title_text = title
        #: what is shown: None while fetching, then the rows or the error
        self.rows: list[tuple[str, str]] | None = None
        self.error = ""

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="dialog", classes="details"):
            yield Static(Text(terminal_safe(self.title_text), style="bold"), classes="title")
            yield Static(Text("asking the scheduler…", style="dim italic"), id="details-body")
            yield Static("", id="details-error")
            yield Static(Text(f"{key_text(self.app, 'details_close').split(' / ')[0]} closes", style="dim"))

    def on_mount(self) -> None:
        # details held for the job may arrive before this dialog is on screen
        if self.rows is not None:
            self.show_rows(self.rows)
        elif self.error:
            self.show_error(self.error)

    def show_rows(self, rows: list[tuple[str, str]]) -> None:
        self.rows, self.error = rows, ""
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column(overflow="fold")
        for label, value in rows:
            table.add_row(label, Text(terminal_safe(value)))
        try:
            self.query_one("#details-body", Static).update(table)
            self.query_one("#details-error", Static).update("")
        except NoMatches:
            pass  # not composed yet: on_mount shows them

    def show_error(self, message: str) -> None:
        self.error = message
        try:
            if self.rows is None:
                self.query_one("#details-body", Static).update("")
            self.query_one("#details-error", Static).update(Text(terminal_safe(message)))
        except NoMatches:
            pass  # not composed yet: on_mount shows it

    def action_close(self) -> None:
        self.dismiss(None)
