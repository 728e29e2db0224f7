"""The key reference (``?``): the keys in effect, the user's ``[keys]`` included."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ..backends.engine.keys import ACTIONS
from .keys import bindings, key_text

# One row: what it shows in the key column (an action id stands for its keys in
# effect, anything else is written as it is), joined by the separator, and what
# the keys do ("{ID}" in it becomes that action's keys).
Row = tuple[tuple[str, ...], str, str]
ROWS: tuple[Row, ...] = (
    (("tab / shift+tab",), "", "move between the Clusters, Queues, Jobs and Peek panes"),
    (("submit",), "", "submit a job (the form checks values against the cluster's limits)"),
    (("details",), "", "details of the selected job, any of yours: what the scheduler says"),
    (("cancel",), "", "cancel the selected job, any of yours (asks first)"),
    (("peek", "enter"), " / ", "peek: live tail of the job's stdout, any of yours"),
    (("signal",), "", "on a job batchdeck did not submit: send it a signal (TERM INT HUP USR1 USR2 KILL)"),
    (("hold", "release"), " / ", "on a job batchdeck did not submit: hold / release it"),
    (("time_limit",), "", "on a job batchdeck did not submit: a new time limit"),
    (("stream",), "", "toggle stdout / stderr in the peek"),
    (("tasks",), "", "expand / collapse the selected array job into its tasks (each task peekable)"),
    (("command",), "", "show the selected job's whole command in Details, or one line again"),
    (("peek_follow", "peek_top"), " / ", "in the peek: go to the end and follow it / go to the file's start"),
    (("peek_search", "peek_next", "peek_previous"), "  ", "in the peek: search the file (on the cluster) / next / previous match"),
    (("peek_goto",), "", "in the peek: go to a line (:@N a byte offset, :50% a point of the file)"),
    (("download",), "", "download the job's results"),
    (("free",), "", "free the job's remote sandbox (TERMINATED jobs only)"),
    (("forget",), "", "forget the selected finished job (asks first; its sandbox stays until freed)"),
    (("clean",), "", "forget every finished job older than 30 days, of the selected cluster or all (asks first)"),
    (("refresh",), "", "refresh every cluster now"),
    (("history",), "", "finished jobs from every cluster's accounting (d / w / m: 1, 7, 30 days)"),
    (("resubmit",), "", "submit the selected job again: the form opens with its values"),
    (("filter",), "", "filter jobs by text ({filter_clear} clears)"),
    (("sort",), "", "sort the Jobs table: the next column and direction (remembered)"),
    (("columns",), "", "choose the Jobs table's columns (remembered)"),
    (("theme",), "", "choose the theme (remembered)"),
    (("ctrl+p",), "", "command palette: every action by name"),
    (("help",), "", "this help"),
    (("quit",), "", "quit (jobs keep running)"),
)


class HelpScreen(ModalScreen[None]):
    BINDINGS = bindings("help")

    def keys_of(self, action_id: str) -> str:
        return key_text(self.app, action_id, " ")

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold")
        table.add_column()
        table.add_column(style="dim")
        for parts, separator, what in ROWS:
            shown = separator.join(self.keys_of(p) if p in ACTIONS else p for p in parts)
            ids = " ".join(p for p in parts if p in ACTIONS)
            table.add_row(shown, what.format_map({i: self.keys_of(i) for i in ACTIONS}), ids)
        with VerticalScroll(id="dialog", classes="help"):
            yield Static("[b]batchdeck keys[/b]", classes="title")
            yield Static(table)
            yield Static(
                "\n[dim]The last column names the action for the \\[keys] table of the configuration "
                '(e.g. submit = "ctrl+n").[/dim]'
            )
            yield Static(
                "\n[dim]States: ◌ pending  ▶ running  ✔ done  ✘ failed  ? stale/unknown.  "
                "'other' rows are your jobs on that scheduler not started by batchdeck.[/dim]"
            )
            yield Static(f"[dim]{self.keys_of('help_close').split(' ')[0]} closes[/dim]")

    def action_close(self) -> None:
        self.dismiss(None)
