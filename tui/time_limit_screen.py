"""A new time limit for a job batchdeck did not submit (``T``): the walltime forms the form takes."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from ..backends.text import terminal_safe
from ..backends.units import parse_walltime
from .keys import bindings, key_text


class TimeLimitScreen(ModalScreen[int | None]):
    """Dismissed with the new limit in seconds, or None."""

    DEFAULT_CSS = """
    TimeLimitScreen #dialog.time-limit {
        width: 64;
    }
    TimeLimitScreen #limit-error {
        color: $error;
        height: auto;
    }
    """
    BINDINGS = bindings("time_limit")

    def __init__(self, target: str, current: str = "") -> None:
        super().__init__()
        self.target = target
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="time-limit"):
            cancel = key_text(self.app, "time_limit_cancel").split(" / ")[0]
            now = f" (now {self.current})" if self.current else ""
            yield Label(Text(f"New time limit for {terminal_safe(self.target)}{now}"))
            yield Input(placeholder="e.g. 1:30:00, 90m, 2h, 2-00:00:00", id="limit")
            yield Static("", id="limit-error")
            yield Label(Text(f"enter sets it, {cancel} keeps the old one", style="dim"))

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            seconds = parse_walltime(event.value)
        except ValueError as exc:
            self.query_one("#limit-error", Static).update(Text(terminal_safe(exc)))
            return
        self.dismiss(seconds)

    def action_cancel(self) -> None:
        self.dismiss(None)
