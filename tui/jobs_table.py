"""The Jobs pane: a DataTable updated in place from the rows the app computes."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.cells import cell_len
from rich.text import Text
from textual.coordinate import Coordinate
from textual.widgets.data_table import CellDoesNotExist, ColumnKey, RowDoesNotExist

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
_ORDER = tuple(_CELL_INDEX[key] for key in DISPLAY_ORDER)
_OUTCOME = DISPLAY_ORDER.index("exit")
_NAME = DISPLAY_ORDER.index("name")


def fit_widths(natural: Sequence[int], room: int) -> list[int]:
    """The display columns' widths (padding included) for ``room`` cells.

    Everything at its natural width when it fits. Otherwise the two free-text columns give
    way in turn, the outcome to OUTCOME_GOAL, the name to NAME_GOAL, then both to their
    floors, so the table needs no horizontal scrollbar while the other columns fit. When
    even that is too wide (a narrower terminal), the essential columns (id, name, state,
    outcome) share the visible width, a long name giving way (down to MIN_NAME) until the
    outcome has OUTCOME_GOAL cells, and the rest are reached by scrolling.
    """
    widths = list(natural)
    if room <= 0 or sum(widths) <= room:
        return widths
    for index, floor in ((_OUTCOME, OUTCOME_GOAL), (_NAME, NAME_GOAL), (_OUTCOME, OUTCOME_FLOOR), (_NAME, NAME_FLOOR)):
        excess = sum(widths) - room
        if excess <= 0:
            return widths
        widths[index] = max(min(widths[index], floor), widths[index] - excess)
    if sum(widths) <= room:
        return widths
    widths = list(natural)
    before = sum(widths[:ESSENTIAL_COLUMNS]) - widths[_OUTCOME]
    want = min(widths[_OUTCOME], OUTCOME_GOAL)
    if room - before < want:
        widths[_NAME] = max(MIN_NAME, widths[_NAME] - (want - (room - before)))
        before = sum(widths[:ESSENTIAL_COLUMNS]) - widths[_OUTCOME]
    widths[_OUTCOME] = min(widths[_OUTCOME], max(MIN_OUTCOME, room - before))
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
        self.border_title = "Jobs"

    def on_mount(self) -> None:
        labels = dict(COLUMNS)
        for key in DISPLAY_ORDER:
            self.add_column(labels[key], key=key)

    def fit(self, natural: Sequence[int], room: int) -> list[int]:
        if len(natural) != len(DISPLAY_ORDER):
            return list(natural)  # still adding the columns
        return fit_widths(natural, room)

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
                for index, (column, _label) in enumerate(COLUMNS):
                    if before[index] != cells[index]:
                        self._set_cell(key, column, cells[index])
                        changes += 1
            shown = dict(rows)
        else:
            removed = [key for key in old if key not in rows]
            kept = [key for key in old if key in rows]
            if kept != [key for key in rows if key in old]:
                # The order of surviving rows changed (e.g. a new filter): rebuild.
                self.clear()
                old, removed, kept = {}, [], []
            for key in removed:
                self.remove_row(key)
                changes += 1
            for key in kept:
                before, cells = old[key], rows[key]
                if before != cells:
                    for index, (column, _label) in enumerate(COLUMNS):
                        if before[index] != cells[index]:
                            self._set_cell(key, column, cells[index])
                            changes += 1
            added = [key for key in rows if key not in old]
            now = added[:FILL_CHUNK]
            self.add_rows_keyed({key: rows[key] for key in now})
            changes += len(now)
            present = set(kept).union(now)
            order = [key for key in rows if key in present]
            # New rows were appended; a new batchdeck job belongs before the
            # other jobs, so re-sort only when the order is off.
            if [row.key.value for row in self.ordered_rows] != order:
                self._reorder(order, rows)
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
            self.add_row(*(cells[index] for index in _ORDER), key=key)

    def _reorder(self, order: list[str], rows: dict[str, Row]) -> None:
        # the sort sees cells, not keys: each row is found again by its (by, id, cluster) cells
        # (an array's task rows, "└ 3", are told apart by them only within one array)
        position: dict[tuple[str, str, str], int] = {}
        for index, key in enumerate(order):
            cells = rows[key]
            position.setdefault((str(cells[0]), str(cells[1]), str(cells[3])), index)
        if len(position) < len(order):
            # two expanded arrays of one cluster: the cells cannot tell their tasks apart
            self.clear()
            self.add_rows_keyed({key: rows[key] for key in order})
            return

        def where(values: tuple[str | Text, ...]) -> int:
            src, job, cluster = (str(v) for v in values)
            return position.get((src, job, cluster), len(position))

        self.sort("src", "id", "cluster", key=where)
