"""Which tables the browser points at: the cursor's table, the marked ones, the filter.

A mixin of :class:`~dbconsole.tui.widgets.browser.compare_browser.CompareBrowser`, kept apart
because it only reads and sets the browser's ``shown``, ``rows``, ``marked`` and ``filter_text``
and its grid; counting, content and schema work live in the browser and its other mixins. The
filter box's ``Input`` handlers stay on the browser (Textual collects ``@on`` handlers from the
widget's own class).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dbconsole.names import TableName
from dbconsole.tui.widgets.browser.grid import BrowserGrid, FilterBox
from dbconsole.tui.widgets.browser.rows import TableRow, mark_cell


class TableSelection:
    """The cursor, the marks and the filter; mixed into the browser."""

    if TYPE_CHECKING:
        shown: list[TableName]
        rows: dict[TableName, TableRow]
        marked: set[TableName]
        filter_text: str

        def query_one(self, selector: Any, expect_type: Any = None) -> Any: ...
        def rebuild(self) -> None: ...
        def update_status(self) -> None: ...

    def current_name(self) -> TableName | None:
        grid = self.query_one(BrowserGrid)
        if not self.shown or grid.cursor_row < 0 or grid.cursor_row >= len(self.shown):
            return None
        return self.shown[grid.cursor_row]

    def current_row(self) -> TableRow | None:
        name = self.current_name()
        return self.rows.get(name) if name is not None else None

    def toggle_mark(self) -> None:
        name = self.current_name()
        if name is None:
            return
        if name in self.marked:
            self.marked.discard(name)
        else:
            self.marked.add(name)
        grid = self.query_one(BrowserGrid)
        grid.update_cell(str(name), "mark", mark_cell(name in self.marked))
        if grid.cursor_row < len(self.shown) - 1:
            grid.move_cursor(row=grid.cursor_row + 1, animate=False)
        self.update_status()

    def mark_all_shown(self) -> None:
        """Mark every table the filter shows; if they all are marked already, unmark them."""
        shown = set(self.shown)
        if shown and shown <= self.marked:
            self.marked -= shown
        else:
            self.marked |= shown
        grid = self.query_one(BrowserGrid)
        for name in self.shown:
            grid.update_cell(str(name), "mark", mark_cell(name in self.marked))
        self.update_status()

    def set_marked(self, names: set[TableName]) -> None:
        self.marked = set(names)
        grid = self.query_one(BrowserGrid)
        for name in self.shown:
            grid.update_cell(str(name), "mark", mark_cell(name in self.marked))
        self.update_status()

    def open_filter(self) -> None:
        box = self.query_one(FilterBox)
        box.display = True
        box.focus()

    def close_filter(self) -> None:
        box = self.query_one(FilterBox)
        if not box.value:
            box.display = False
        self.query_one(BrowserGrid).focus()

    def set_filter(self, text: str) -> None:
        self.filter_text = text.strip()
        box = self.query_one(FilterBox)
        if box.value != text:
            box.value = text
        box.display = bool(text) or box.has_focus
        self.rebuild()

    def marked_names(self) -> list[TableName]:
        return sorted(n for n in self.marked if n in self.rows)
