"""The history view (``h``): the user's finished jobs from every cluster's accounting, not only
batchdeck's, with how well each used what it asked for.

Its state is a HistoryModel (backends/engine/history.py); the queries run in a worker, one per
cluster, through the Deck's short-lived cache, and only when the view opens, its window changes
or the user reloads: never on the app's refresh. A cluster whose accounting is off or unreachable
gets a line saying so.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Static

from ..backends.engine.history import WINDOWS, HistoryModel
from ..backends.engine.session import Session
from ..backends.model import HistoryRecord
from ..backends.text import first_line, terminal_safe
from .keys import bindings
from .rows import HISTORY_COLUMNS, history_detail, history_row

WINDOW_WORDS = {"1d": "the last day", "7d": "the last 7 days", "30d": "the last 30 days"}
#: the name column gets what the others leave, at least this
_NAME_MIN = 6

#: (cluster, its scheduler's job id, the record): a job the user asked to submit again
Resubmit = Callable[[str, HistoryRecord], None]


class HistoryScreen(ModalScreen[None]):
    BINDINGS = bindings("history")

    DEFAULT_CSS = """
    HistoryScreen {
        align: center middle;
    }
    HistoryScreen > #history {
        width: 100%;
        height: 100%;
        border: round $accent;
        border-title-color: $accent;
        border-title-style: bold;
        background: $surface;
    }
    HistoryScreen #history-notes {
        height: auto;
        max-height: 5;
        color: $text-warning;
        padding: 0 1;
    }
    HistoryScreen #history-table {
        height: 1fr;
        overflow-x: hidden;
    }
    HistoryScreen #history-detail {
        height: 2;
        color: $text-muted;
        padding: 0 1;
    }
    """

    def __init__(self, session: Session, on_resubmit: Resubmit | None = None, window: str = "7d") -> None:
        super().__init__()
        self.session = session
        self.on_resubmit = on_resubmit
        # the Deck's HistoryCache outlives this view: reopening it within the cache's life asks nothing
        self.model = HistoryModel(session.cluster_names, session.deck.history, session.clock, window)
        self._rows: list[tuple[str, HistoryRecord]] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="history"):
            yield Static(id="history-notes")
            table: DataTable[Text] = DataTable(id="history-table", cursor_type="row", zebra_stripes=True)
            yield table
            yield Static(id="history-detail")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#history-table", DataTable)
        for key, label, width in HISTORY_COLUMNS:
            table.add_column(label, key=key, width=width or self._name_width())
        table.focus()
        self.load()

    # ------------------------------------------------------------------ loading

    def load(self, fresh: bool = False) -> None:
        self.render_state()
        self.run_worker(self._load(fresh), group="history", exclusive=True, exit_on_error=False)

    async def _load(self, fresh: bool) -> None:
        await self.model.load(fresh)
        self.render_state()

    # ------------------------------------------------------------------ rendering

    def _name_width(self) -> int:
        fixed = sum(width or 0 for _key, _label, width in HISTORY_COLUMNS)
        # two cells of padding a column, the border, the scrollbar
        spare = self.app.size.width - fixed - 2 * len(HISTORY_COLUMNS) - 4
        return max(_NAME_MIN, spare)

    def render_state(self) -> None:
        if not self.is_mounted:
            return
        model = self.model
        box = self.query_one("#history", Vertical)
        box.border_title = f"Finished jobs, {WINDOW_WORDS[model.window]}"
        loading = [name for name, entry in model.clusters.items() if entry.loading]
        lines = [
            Text.assemble((f"{terminal_safe(name)}: ", "bold"), terminal_safe(first_line(why)[0]))
            for name, why in model.notes()
        ]
        if loading:
            lines.append(Text(f"asking {', '.join(terminal_safe(n) for n in loading)}…"))
        if not model.clusters:
            lines.append(Text("no cluster is configured"))
        elif not loading and not model.rows():
            lines.append(Text(f"no finished job in {WINDOW_WORDS[model.window]}"))
        notes = self.query_one("#history-notes", Static)
        notes.update(Text("\n").join(lines))
        notes.display = bool(lines)
        box.border_subtitle = f"{len(model.rows())} jobs" if not loading else "loading"
        self._fill_table()

    def _fill_table(self) -> None:
        table = self.query_one("#history-table", DataTable)
        self._rows = self.model.rows()
        width = self._name_width()
        table.clear()
        for index, (cluster, record) in enumerate(self._rows):
            table.add_row(*(Text(cell) for cell in history_row(cluster, record, width)), key=str(index))
        self._show_detail()

    def _show_detail(self) -> None:
        row = self.selected()
        detail = self.query_one("#history-detail", Static)
        detail.update(Text(history_detail(*row)) if row else Text(""))

    @on(DataTable.RowHighlighted, "#history-table")
    def _highlighted(self) -> None:
        self._show_detail()

    def selected(self) -> tuple[str, HistoryRecord] | None:
        table = self.query_one("#history-table", DataTable)
        if not self._rows or table.cursor_row < 0 or table.cursor_row >= len(self._rows):
            return None
        return self._rows[table.cursor_row]

    # ------------------------------------------------------------------ keys

    def action_window(self, window: str) -> None:
        if window in WINDOWS and self.model.set_window(window):
            self.load()

    def action_reload(self) -> None:
        self.load(fresh=True)

    def action_resubmit(self) -> None:
        row = self.selected()
        if row is None:
            self.notify("no job selected", severity="warning")
            return
        if self.on_resubmit is not None:
            self.on_resubmit(*row)

    def action_close(self) -> None:
        self.dismiss(None)
