"""Choose a theme (``t``): batchdeck's own first, then Textual's."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from ..themes import THEMES
from .keys import bindings


class ThemeScreen(ModalScreen[str | None]):
    BINDINGS = bindings("theme")

    def __init__(self, current: str, available: list[str]) -> None:
        super().__init__()
        self.current = current
        ours = [t.name for t in THEMES]
        self.names = ours + sorted(n for n in available if n not in ours and n != "textual-ansi")

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="themes"):
            yield Label("Theme (enter chooses, escape cancels)")
            yield OptionList(*(Option(name, id=name) for name in self.names), id="theme-list")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        if self.current in self.names:
            options.highlighted = self.names.index(self.current)
        options.focus()

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        # Preview while moving; escape restores the previous theme.
        if event.option.id:
            self.app.theme = event.option.id

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.app.theme = self.current
        self.dismiss(None)
