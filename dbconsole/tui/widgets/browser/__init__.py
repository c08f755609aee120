from dbconsole.tui.widgets.browser.compare_browser import BrowserGrid, CompareBrowser, FilterBox
from dbconsole.tui.widgets.browser.rows import TableRow

__all__ = ["BrowserGrid", "CompareBrowser", "FilterBox", "TableRow"]
