"""Choose the signal to send to a job batchdeck did not submit (``k``)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from ..backends.text import terminal_safe
from .keys import bindings, key_text

#: what the chooser offers, with what each usually means to a job
CHOICES: tuple[tuple[str, str], ...] = (
    ("TERM", "ask it to stop"),
    ("INT", "interrupt, as ctrl+c"),
    ("HUP", "hang up (often: reload)"),
    ("USR1", "user signal 1 (often: checkpoint)"),
    ("USR2", "user signal 2"),
    ("KILL", "stop it at once, no clean-up"),
)


class SignalScreen(ModalScreen[str | None]):
    DEFAULT_CSS = """
    SignalScreen #dialog.signal {
        width: 52;
    }
    SignalScreen #signal-list {
        height: auto;
        max-height: 10;
    }
    """
    BINDINGS = bindings("signal")

    def __init__(self, target: str) -> None:
        super().__init__()
        self.target = target

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="signal"):
            cancel = key_text(self.app, "signal_cancel").split(" / ")[0]
            yield Label(Text(f"Signal to {terminal_safe(self.target)} (enter sends, {cancel} cancels)"))
            yield OptionList(
                *(Option(Text.assemble((f"{name:<5}", "bold"), f" {what}"), id=name) for name, what in CHOICES),
                id="signal-list",
            )

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.highlighted = 0
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
