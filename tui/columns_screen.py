"""Choose the Jobs table's columns (``C``): each tick applies at once and is remembered."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, SelectionList, Static
from textual.widgets.selection_list import Selection

from .keys import bindings, key_text


class ColumnsScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    ColumnsScreen #dialog.columns {
        width: 48;
    }
    ColumnsScreen #column-list {
        height: auto;
        max-height: 12;
    }
    ColumnsScreen #columns-note {
        color: $warning;
        height: auto;
    }
    """
    BINDINGS = bindings("columns")

    def __init__(
        self, columns: Sequence[tuple[str, str]], visible: Sequence[str], on_change: Callable[[tuple[str, ...]], None]
    ) -> None:
        super().__init__()
        self.columns = tuple(columns)  # (key, label) in display order
        self.chosen = tuple(visible)
        self.on_change = on_change

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="columns"):
            close = key_text(self.app, "columns_close").split(" / ")[0]
            yield Label(Text(f"Jobs columns (space ticks, {close} closes)"))
            yield SelectionList[str](
                *(Selection(label, key, key in self.chosen) for key, label in self.columns), id="column-list"
            )
            yield Static("", id="columns-note")

    def on_mount(self) -> None:
        self.query_one(SelectionList).focus()

    def on_selection_list_selected_changed(self, event: SelectionList.SelectedChanged[str]) -> None:
        chosen = set(event.selection_list.selected)
        note = self.query_one("#columns-note", Static)
        if not chosen:
            # the table needs a column to show its rows: the last one stays
            event.selection_list.select(self.chosen[0])
            note.update("at least one column stays")
            return
        note.update("")
        self.chosen = tuple(key for key, _label in self.columns if key in chosen)
        self.on_change(self.chosen)

    def action_close(self) -> None:
        self.dismiss(None)
