"""A DataTable whose columns share the width it has instead of scrolling sideways.

DataTable sizes each column to its widest cell and scrolls when they add up to more
than the table's width. A FittedTable asks its ``fit`` (natural widths and the room
in, widths out) how wide to draw each column, so a long free-text cell is cut to the
room left rather than pushing the last columns off the edge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from rich.text import TextType
from textual import events
from textual.geometry import Size
from textual.widgets import DataTable
from textual.widgets.data_table import Column, ColumnKey

CellType = TypeVar("CellType")


def shrink_first(natural: Sequence[int], room: int, minimum: int = 12) -> list[int]:
    """The first column (a name) gives way, down to ``minimum``, when that lets every column fit;
    when it would not, nothing is cut and the table scrolls (a cut name and a scrollbar is worse)."""
    widths = list(natural)
    excess = sum(widths) - room
    if room > 0 and excess > 0 and widths and widths[0] - excess >= minimum:
        widths[0] -= excess
    return widths


@dataclass
class FittedColumn(Column):
    """A column whose width its FittedTable decides from the room it has."""

    def get_render_width(self, data_table: DataTable[Any]) -> int:
        if isinstance(data_table, FittedTable):
            return data_table.fitted_width(self.key)
        return super().get_render_width(data_table)


class FittedTable(DataTable[CellType]):
    """Columns drawn at the widths ``fit`` gives; the default makes the first column give way."""

    #: (room, natural widths) -> each column's width: the last fit, which every cell asks for
    _fitted: tuple[tuple[int, tuple[int, ...]], dict[ColumnKey, int]] | None = None

    def fit(self, natural: Sequence[int], room: int) -> list[int]:
        """Widths (padding included, in column order) for ``room`` cells."""
        return shrink_first(natural, room)

    def add_column(
        self, label: TextType, *, width: int | None = None, key: str | None = None, default: CellType | None = None
    ) -> ColumnKey:
        column_key = super().add_column(label, width=width, key=key, default=default)
        column = self.columns[column_key]
        self.columns[column_key] = FittedColumn(
            column.key, column.label, column.width, column.content_width, column.auto_width
        )
        return column_key

    def _room(self, rows_height: int) -> int:
        """The cells a row has across, for a table ``rows_height`` lines tall: the container's
        width less the vertical scrollbar when the rows need one (as Textual decides it)."""
        width, height = self.container_size
        overflow = self.styles.overflow_y
        if overflow == "scroll" or (overflow == "auto" and rows_height > height):
            width -= self.styles.scrollbar_size_vertical
        return max(0, width)

    def fitted_width(self, key: ColumnKey, rows_height: int | None = None) -> int:
        """A column's width as ``fit`` shares the table's room (memoised: every cell asks)."""
        columns = self.ordered_columns
        natural = tuple(Column.get_render_width(column, self) for column in columns)
        room = self._room(self.virtual_size.height if rows_height is None else rows_height)
        if self._fitted is None or self._fitted[0] != (room, natural):
            widths = self.fit(natural, room)
            self._fitted = ((room, natural), {c.key: w for c, w in zip(columns, widths, strict=True)})
        return self._fitted[1].get(key, 0)

    def validate_virtual_size(self, size: Size) -> Size:
        # DataTable sums its columns' widths when its cells change; the sum is what they are
        # fitted to, for the height the rows take (a vertical scrollbar narrows the room).
        if not self.columns:
            return size
        return Size(sum(self.fitted_width(column.key, size.height) for column in self.ordered_columns), size.height)

    def on_resize(self, event: events.Resize) -> None:
        # The room changed, and DataTable measures its virtual width only when cells change.
        self.virtual_size = Size(0, self.virtual_size.height)
