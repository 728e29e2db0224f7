"""The Jobs pane: a DataTable updated in place from the rows the app computes."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.cells import cell_len
from rich.text import Text
from textual._two_way_dict import TwoWayDict
from textual.coordinate import Coordinate
from textual.widgets.data_table import CellDoesNotExist, ColumnKey, RowDoesNotExist, RowKey

from .fitted_table import FittedTable
from .rows import COLUMNS, DISPLAY_ORDER, ESSENTIAL_COLUMNS, Row

#: rows added per step when many arrive at once
FILL_CHUNK = 1000
#: the narrowest the outcome and name columns get (cells, padding included) before the table scrolls
MIN_OUTCOME = 12
MIN_NAME = 10
#: what the outcome and name columns keep while others still need room (an outcome's first words)
OUTCOME_GOAL = 24
NAME_GOAL = 18
#: below these, keeping every column on screen is not worth it: the last ones scroll in instead
OUTCOME_FLOOR = 16
NAME_FLOOR = 14
#: where each display column's value sits in a Row
_CELL_INDEX = {key: index for index, (key, _label) in enumerate(COLUMNS)}


def fit_widths(natural: Sequence[int], room: int, order: Sequence[str] = DISPLAY_ORDER) -> list[int]:
    """The display columns' widths (padding included) for ``room`` cells.

    Everything at its natural width when it fits. Otherwise the two free-text columns give
    way in turn, the outcome to OUTCOME_GOAL, the name to NAME_GOAL, then both to their
    floors, so the table needs no horizontal scrollbar while the other columns fit. When
    even that is too wide (a narrower terminal), the essential columns (id, name, state,
    outcome) share the visible width, a long name giving way (down to MIN_NAME) until the
    outcome has OUTCOME_GOAL cells, and the rest are reached by scrolling. ``order`` is the
    columns shown (DISPLAY_ORDER's, some maybe hidden); with the name or outcome hidden
    nothing gives way and the table scrolls.
    """
    widths = list(natural)
    if room <= 0 or sum(widths) <= room or "exit" not in order or "name" not in order:
        return widths
    outcome_at, name_at = order.index("exit"), order.index("name")
    essential = sum(1 for key in order if key in DISPLAY_ORDER[:ESSENTIAL_COLUMNS])
    for index, floor in ((outcome_at, OUTCOME_GOAL), (name_at, NAME_GOAL), (outcome_at, OUTCOME_FLOOR), (name_at, NAME_FLOOR)):
        excess = sum(widths) - room
        if excess <= 0:
            return widths
        widths[index] = max(min(widths[index], floor), widths[index] - excess)
    if sum(widths) <= room:
        return widths
    widths = list(natural)
    before = sum(widths[:essential]) - widths[outcome_at]
    want = min(widths[outcome_at], OUTCOME_GOAL)
    if room - before < want:
        widths[name_at] = max(MIN_NAME, widths[name_at] - (want - (room - before)))
        before = sum(widths[:essential]) - widths[outcome_at]
    widths[outcome_at] = min(widths[outcome_at], max(MIN_OUTCOME, room - before))
    return widths


class JobsTable(FittedTable[str | Text]):
    """Rows keyed by job id (or ``other:<cluster>:<jobid>``).

    ``sync`` touches only what changed, so a refresh of thousands of jobs costs a
    comparison per cell, and the cursor and scroll position survive it.
    """

    def __init__(self, on_select: Callable[[str | None], None] | None = None, **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)  # type: ignore[arg-type]
        # Told at once (not by a message) which row the cursor is on, so the
        # owner's selection is never a step behind a key that acts on it.
        self._on_select = on_select
        self._reported: str | None = None
        self._shown: dict[str, Row] = {}
        self._pending: dict[str, Row] | None = None
        self._restore: str | None = None
        #: the columns shown, in DISPLAY_ORDER's order, and where each one's value sits in a Row
        self.shown_columns: tuple[str, ...] = DISPLAY_ORDER
        self._order = tuple(_CELL_INDEX[key] for key in self.shown_columns)
        self._adding_columns = False
        self.border_title = "Jobs"

    def on_mount(self) -> None:
        self._add_columns()

    def _add_columns(self) -> None:
        labels = dict(COLUMNS)
        self._adding_columns = True
        try:
            for key in self.shown_columns:
                self.add_column(labels[key], key=key)
        finally:
            self._adding_columns = False

    def set_columns(self, visible: Sequence[str]) -> None:
        """Show these columns (kept in DISPLAY_ORDER's order); the rows are drawn again."""
        wanted = tuple(key for key in DISPLAY_ORDER if key in visible) or DISPLAY_ORDER
        if wanted == self.shown_columns:
            return
        rows = self._pending or self._shown
        self._restore = self._restore or self.selected_key
        self.shown_columns = wanted
        self._order = tuple(_CELL_INDEX[key] for key in wanted)
        self._shown, self._pending = {}, None
        self.clear(columns=True)
        self._fitted = None
        if self.is_mounted:
            self._add_columns()
        self.sync(rows)

    def fit(self, natural: Sequence[int], room: int) -> list[int]:
        if self._adding_columns or len(natural) != len(self.shown_columns):
            return list(natural)  # still adding the columns
        return fit_widths(natural, room, self.shown_columns)

    @property
    def shown(self) -> dict[str, Row]:
        return self._shown

    @property
    def selected_key(self) -> str | None:
        if not self._shown or self.cursor_row < 0 or self.row_count == 0:
            return None
        try:
            return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except CellDoesNotExist:
            return None

    def watch_cursor_coordinate(self, old: Coordinate, new: Coordinate) -> None:
        super().watch_cursor_coordinate(old, new)
        self._report()

    def _report(self) -> None:
        key = self.selected_key
        if self._on_select is not None and key != self._reported:
            self._reported = key
            self._on_select(key)

    def select_key(self, key: str) -> bool:
        try:
            index = self.get_row_index(key)
        except RowDoesNotExist:
            return False
        self.move_cursor(row=index, animate=False)
        return True

    def sync(self, rows: dict[str, Row]) -> int:
        """Make the table show ``rows``; returns how many cells or rows changed.

        Many new rows at once (the first fill, clearing a filter over thousands of
        jobs) are added FILL_CHUNK at a time with a screen refresh between chunks:
        measuring new rows is what blocks the event loop, and it stays bounded.
        """
        selected = self._restore or self.selected_key
        scroll = (self.scroll_x, self.scroll_y)
        old = self._shown
        self._pending = None
        changes = 0
        if list(old) == list(rows):
            for key, cells in rows.items():
                before = old[key]
                if before == cells:
                    continue
                changes += self._update_cells(key, before, cells)
            shown = dict(rows)
        else:
            removed = [key for key in old if key not in rows]
            kept = [key for key in old if key in rows]
            for key in removed:
                self.remove_row(key)
                changes += 1
            for key in kept:
                before, cells = old[key], rows[key]
                if before != cells:
                    changes += self._update_cells(key, before, cells)
            added = [key for key in rows if key not in old]
            now = added[:FILL_CHUNK]
            self.add_rows_keyed({key: rows[key] for key in now})
            changes += len(now)
            present = set(kept).union(now)
            order = [key for key in rows if key in present]
            # New rows were appended, and a new sort or filter moves the kept ones:
            # put them in order in place (no row is measured again), only when it is off.
            if [row.key.value for row in self.ordered_rows] != order:
                self._reorder(order)
            shown = {key: rows[key] for key in order}
            if len(added) > len(now):
                self._pending = rows
                self.call_after_refresh(self._continue_fill)
        self._shown = shown
        self._restore = None
        if selected is not None:
            if selected in shown:
                self.select_key(selected)
                self.scroll_to(*scroll, animate=False, immediate=True)
            elif selected in rows:
                self._restore = selected  # still to come in a later chunk
        self._report()
        return changes

    @property
    def filling(self) -> bool:
        """Rows are still being added in chunks."""
        return self._pending is not None

    def _continue_fill(self) -> None:
        if self._pending is not None:
            self.sync(self._pending)

    def _update_cells(self, key: str, before: Row, cells: Row) -> int:
        changes = 0
        for index, (column, _label) in enumerate(COLUMNS):
            if before[index] != cells[index] and column in self.shown_columns:
                self._set_cell(key, column, cells[index])
                changes += 1
        return changes

    def _set_cell(self, key: str, column: str, value: str | Text) -> None:
        """Update one cell without clipping it and without re-measuring its column.

        update_width=False clips a value wider than the column ("runnin"), but
        update_width=True re-measures every cell of the column whenever the new
        value is narrower, which is O(rows) per cell. So columns only grow: widen
        when the value needs it, otherwise keep the width.
        """
        width = value.cell_len if isinstance(value, Text) else cell_len(value)
        grow = width > self.columns[ColumnKey(column)].content_width
        self.update_cell(key, column, value, update_width=grow)

    def add_rows_keyed(self, rows: dict[str, Row]) -> None:
        for key, cells in rows.items():
            self.add_row(*(cells[index] for index in self._order), key=key)

    def _reorder(self, order: list[str]) -> None:
        """Rows in this order of keys, as DataTable.sort places them (its row locations),
        without a sort key read from cells: the columns that tell rows apart may be hidden."""
        self._row_locations = TwoWayDict({RowKey(key): index for index, key in enumerate(order)})
        self._update_count += 1
        self.refresh()
