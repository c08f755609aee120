from dbconsole.tui.widgets.sync.progress import RunProgress, TableProgress

__all__ = ["RunProgress", "TableProgress"]
