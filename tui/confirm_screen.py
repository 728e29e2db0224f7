"""A yes/no question (cancel a job, free a sandbox)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label

from ..backends.text import terminal_safe
from .keys import bindings, key_text


class ConfirmScreen(ModalScreen[bool]):
    # The question wraps inside the dialog: a path cut at its width loses the part that matters.
    DEFAULT_CSS = """
    ConfirmScreen #question {
        width: 100%;
    }
    """
    BINDINGS = bindings("confirm")

    def __init__(self, question: str, yes: str = "Yes", no: str = "No") -> None:
        super().__init__()
        self.question = question
        self.yes, self.no = yes, no

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="confirm"):
            # plain text: a job name or path is never markup, and never a terminal escape
            yield Label(Text(terminal_safe(self.question)), id="question")
            with Horizontal(classes="buttons"):
                # the first key of each, as the user set them in [keys]
                yes_key = key_text(self.app, "confirm_yes").split(" / ")[0]
                no_key = key_text(self.app, "confirm_no").split(" / ")[0]
                yield Button(f"{self.yes} ({yes_key})", variant="error", id="yes")
                yield Button(f"{self.no} ({no_key})", variant="primary", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)
