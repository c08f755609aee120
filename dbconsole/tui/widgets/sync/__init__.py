from dbconsole.tui.widgets.sync.progress import RunProgress, bar_cell

__all__ = ["RunProgress", "bar_cell"]
