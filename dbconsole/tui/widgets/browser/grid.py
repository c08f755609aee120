"""The compare browser's focusable parts: the grid of tables and the filter box.

Their keys come from the action registry and act on the :class:`CompareBrowser` around them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.widgets import DataTable, Input

from dbconsole.tui.actions import bindings

if TYPE_CHECKING:
    from dbconsole.tui.widgets.browser.compare_browser import CompareBrowser


def _browser(widget: DataTable | Input) -> CompareBrowser:
    from dbconsole.tui.widgets.browser.compare_browser import CompareBrowser

    return widget.query_ancestor(CompareBrowser)


class BrowserGrid(DataTable):
    """The table grid; its keys (mark, filter, inspect, sync) act on the browser around it."""

    ACTION_SCOPE = "browser"
    BINDINGS = bindings("browser")

    @property
    def browser(self) -> CompareBrowser:
        return _browser(self)

    def on_focus(self) -> None:
        self.app.call_later(getattr(self.app, "fold_profiles", lambda: None))

    def action_filter(self) -> None:
        self.browser.open_filter()

    def action_mark(self) -> None:
        self.browser.toggle_mark()

    def action_mark_all(self) -> None:
        self.browser.mark_all_shown()

    def action_refresh(self) -> None:
        self.browser.refresh_counts("asked")

    def action_check_content(self) -> None:
        self.browser.check_marked_or_current()

    def action_check_all_content(self) -> None:
        self.browser.check_all_shown()

    def action_stop_or_clear(self) -> None:
        """``escape``: stop exact counts and content diffs if they run, else clear the filter."""
        browser = self.browser
        if browser.counting or browser.diffing:
            browser.stop_counts()
            browser.stop_content()
        elif browser.filter_text:
            browser.set_filter("")


class FilterBox(Input):
    """``/`` opens it; typing narrows the grid at once; ``enter`` goes back to the grid."""

    ACTION_SCOPE = "filter"
    BINDINGS = bindings("filter")

    def action_clear_filter(self) -> None:
        self.value = ""
        _browser(self).close_filter()
