"""The compare browser: every table of the two compared profiles, side by side, kept live.

Estimates come first, from one catalog query per side; exact counts then stream in from a
thread worker per side, a few tables per message, and only the changed cells are updated (by
row key), so a thousand tables fill in without a rebuild and without freezing the keyboard.
A refresh interval repeats the whole read while no sync runs against the pair.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.timer import Timer
from textual.widgets import DataTable, Input, Static
from textual.widgets.data_table import ColumnKey
from textual.worker import get_current_worker

from dbconsole.config import Profile
from dbconsole.connect import connect
from dbconsole.names import TableName
from dbconsole.tui.actions import bindings
from dbconsole.tui.jobs import error_line, read_side, stream_counts
from dbconsole.tui.messages import (
    CatalogLoaded,
    CountsArrived,
    CountsFinished,
    JobFailed,
    LastSyncedLoaded,
    ProfileStatusChanged,
    SideFailed,
)
from dbconsole.tui.widgets.browser.rows import (
    TableRow,
    count_cell,
    diff_cell,
    key_cell,
    mark_cell,
    name_cell,
    row_height,
    size_cell,
    synced_cell,
)

SIDES = ("left", "right")


class BrowserGrid(DataTable):
    """The table grid; its keys (mark, filter, inspect, sync) act on the browser around it."""

    ACTION_SCOPE = "browser"
    BINDINGS = bindings("browser")

    @property
    def browser(self) -> CompareBrowser:
        return self.query_ancestor(CompareBrowser)

    def on_focus(self) -> None:
        self.app.call_later(getattr(self.app, "fold_profiles", lambda: None))

    def action_filter(self) -> None:
        self.browser.open_filter()

    def action_mark(self) -> None:
        self.browser.toggle_mark()

    def action_mark_all(self) -> None:
        self.browser.mark_all_shown()


    def action_refresh(self) -> None:
        self.browser.refresh_counts()


class FilterBox(Input):
    """``/`` opens it; typing narrows the grid at once; ``enter`` goes back to the grid."""

    ACTION_SCOPE = "filter"
    BINDINGS = bindings("filter")

    def action_clear_filter(self) -> None:
        self.value = ""
        self.query_ancestor(CompareBrowser).close_filter()


class CompareBrowser(Vertical):
    """Main pane: rows per table, marks, filter, and the workers that fill in the counts."""

    DEFAULT_CLASSES = "pane"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rows: dict[TableName, TableRow] = {}
        self.marked: set[TableName] = set()
        self.filter_text = ""
        self.shown: list[TableName] = []
        self.profiles: dict[str, Profile | None] = {"left": None, "right": None}
        self.loaded: dict[str, bool] = {"left": False, "right": False}
        self.errors: dict[str, str | None] = {"left": None, "right": None}
        self.counting: dict[str, bool] = {"left": False, "right": False}
        self.counted: dict[str, int] = {"left": 0, "right": 0}
        self.last_synced: dict[str, dict[TableName, Any]] = {"left": {}, "right": {}}
        self.generation = 0
        self.paused = False
        self.refresh_interval = 0.0
        self._timer: Timer | None = None
        self._notified: dict[str, str | None] = {"left": None, "right": None}
        self._columns: list[str] = []

    def compose(self) -> ComposeResult:
        yield FilterBox(placeholder="/ filter tables by name (enter: back to the list, esc: clear)", id="filter",
                        compact=True)
        yield BrowserGrid(id="grid", cursor_type="row", zebra_stripes=True, cursor_foreground_priority="renderable")
        yield Static("", id="browser-status")

    def on_mount(self) -> None:
        self.query_one(FilterBox).display = False
        self.border_title = "Tables"
        self._setup_columns()

    # ------------------------------------------------------------------ loading

    def set_pair(self, left: Profile | None, right: Profile | None) -> None:
        """Compare these two profiles from now on (clears what was shown for the old pair)."""
        self.profiles = {"left": left, "right": right}
        self.rows.clear()
        self.last_synced = {"left": {}, "right": {}}
        self.loaded = {"left": False, "right": False}
        self.errors = {"left": None, "right": None}
        self._notified = {"left": None, "right": None}
        self._setup_columns()
        self.rebuild()
        self.refresh_counts()

    def set_refresh_interval(self, seconds: float) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self.refresh_interval = seconds
        if seconds and seconds > 0:
            self._timer = self.set_interval(seconds, self._tick)

    def _tick(self) -> None:
        if not self.paused and not any(self.counting.values()):
            self.refresh_counts()

    def refresh_counts(self) -> None:
        """Read both sides again: catalog (estimates) first, then exact counts per table."""
        self.workers.cancel_group(self, "counts")
        self.generation += 1
        for side in SIDES:
            profile = self.profiles[side]
            if profile is None:
                continue
            self.counting[side] = True
            self.counted[side] = 0
            self._load_side(self.generation, side, profile)
        self.update_status()

    @work(thread=True, group="counts", exit_on_error=False)
    def _load_side(self, generation: int, side: str, profile: Profile) -> None:
        """Runs in a thread: connect read-only, read the catalog, then count table by table."""
        worker = get_current_worker()
        app = self.app
        app.post_message(ProfileStatusChanged(profile.name, "connecting"))
        try:
            conn = connect(profile, read_only=True, purpose="browser")
        except Exception as exc:  # every failure becomes one line on screen
            message = error_line(exc)
            app.post_message(ProfileStatusChanged(profile.name, "error", error=message))
            self.post_message(SideFailed(generation, side, profile.name, message))
            return
        try:
            snapshot = read_side(conn, profile)
            app.post_message(ProfileStatusChanged(profile.name, "connected", version=snapshot.info.version,
                                                  read_only=snapshot.info.read_only))
            self.post_message(CatalogLoaded(generation, side, profile.name, snapshot.tables))
            self.post_message(LastSyncedLoaded(generation, side, snapshot.last_synced))
            stream_counts(conn, [t.qualified for t in snapshot.tables],
                          lambda results: self.post_message(CountsArrived(generation, side, results)),
                          cancelled=lambda: worker.is_cancelled)
        except Exception as exc:
            message = error_line(exc)
            app.post_message(ProfileStatusChanged(profile.name, "error", error=message))
            self.post_message(SideFailed(generation, side, profile.name, message))
        finally:
            try:
                conn.close()
            except Exception:
                pass
            self.post_message(CountsFinished(generation, side))

    # ------------------------------------------------------------------ messages from the workers

    def on_catalog_loaded(self, message: CatalogLoaded) -> None:
        if message.generation != self.generation:
            return
        side = message.side
        by_name = {t.qualified: t for t in message.tables}
        names_before = set(self.rows)
        for name, table in by_name.items():
            row = self.rows.get(name) or self.rows.setdefault(name, TableRow(name))
            old_table = getattr(row, side)
            setattr(row, side, table)
            exact = row.left_exact if side == "left" else row.right_exact
            if old_table is None or not exact:
                # keep an exact count from the last round on screen until the new one lands
                row.set_count(side, table.estimated_rows, None)
                if side == "left":
                    row.left_exact = False
                else:
                    row.right_exact = False
        for name, row in list(self.rows.items()):
            if name not in by_name and getattr(row, side) is not None:
                setattr(row, side, None)
                row.set_count(side, None, None)
            if row.left is None and row.right is None:
                del self.rows[name]
        self.loaded[side] = True
        self.errors[side] = None
        self._notified[side] = None
        if set(self.rows) != names_before or not self.shown:
            self.rebuild()
        else:
            for name in self.shown:
                self._update_row(name)
        self.update_status()

    def on_side_failed(self, message: SideFailed) -> None:
        if message.generation != self.generation:
            return
        self.errors[message.side] = message.error
        self.counting[message.side] = False
        if self._notified[message.side] != message.error:
            self._notified[message.side] = message.error
            self.post_message(JobFailed("counts", f"{message.profile}: {message.error}"))
        self.update_status()

    def on_counts_arrived(self, message: CountsArrived) -> None:
        if message.generation != self.generation:
            return
        side = message.side
        grid = self.query_one(BrowserGrid)
        for result in message.results:
            row = self.rows.get(result.table)
            if row is None:
                continue
            row.set_count(side, result.rows, result.error)
            self.counted[side] += 1
            if row.key in grid.rows:
                grid.update_cell(row.key, side, count_cell(row, side, True))
                grid.update_cell(row.key, "diff", diff_cell(row, self.loaded["left"] and self.loaded["right"]))
        self.update_status()

    def on_counts_finished(self, message: CountsFinished) -> None:
        if message.generation != self.generation:
            return
        self.counting[message.side] = False
        self.update_status()

    def on_last_synced_loaded(self, message: LastSyncedLoaded) -> None:
        if message.generation != self.generation:
            return
        self.last_synced[message.side] = message.entries
        grid = self.query_one(BrowserGrid)
        for name, row in self.rows.items():
            latest = self._latest_sync(name)
            if latest is not row.last_synced:
                row.last_synced = latest
                if row.key in grid.rows:
                    grid.update_cell(row.key, "synced", synced_cell(row))

    def _latest_sync(self, name: TableName) -> Any:
        entries = [e for e in (self.last_synced["left"].get(name), self.last_synced["right"].get(name)) if e is not None]
        return max(entries, key=lambda e: e.finished_at) if entries else None

    # ------------------------------------------------------------------ the grid

    # Column widths for a wide and a narrow screen; the table name takes what is left.
    WIDE = {"mark": 1, "left": 13, "right": 13, "diff": 11, "size": 9, "key": 3, "synced": 8}
    NARROW = {"mark": 1, "left": 10, "right": 10, "diff": 10, "key": 3, "synced": 8}
    NARROW_BELOW = 96

    def _widths(self) -> dict[str, int]:
        return dict(self.NARROW if 0 < self.size.width < self.NARROW_BELOW else self.WIDE)

    def _setup_columns(self) -> None:
        grid = self.query_one(BrowserGrid)
        grid.clear(columns=True)
        widths = self._widths()
        self._columns = list(widths)
        self._columns.insert(1, "table")
        left = self.profiles["left"].name if self.profiles["left"] else "left"
        right = self.profiles["right"].name if self.profiles["right"] else "right"
        labels = {"mark": " ", "left": left, "right": right, "diff": "diff", "size": "size", "key": "key",
                  "synced": "synced"}
        for key in self._columns:
            if key == "table":
                grid.add_column("table", key="table", width=self._name_width())
                continue
            label = labels[key][:widths[key]]
            justify = "right" if key in ("left", "right", "diff", "size") else "left"
            grid.add_column(Text(label, justify=justify), key=key, width=widths[key])

    def _name_width(self) -> int:
        longest = max((len(str(n)) for n in self.rows), default=20)
        widths = self._widths()
        # two cells of padding per column, the borders and the scrollbar
        room = self.size.width - sum(widths.values()) - 2 * (len(widths) + 1) - 4 if self.size.width else 40
        return max(12, min(longest, 48, room)) if room >= 12 else 12

    def on_resize(self) -> None:
        grid = self.query_one(BrowserGrid)
        column = grid.columns.get(ColumnKey("table"))
        widths = self._widths()
        if column is None or column.width != self._name_width() or set(widths) != set(self._columns) - {"table"}:
            self._setup_columns()
            self.rebuild()

    def _cells(self, row: TableRow) -> list[Any]:
        both = self.loaded["left"] and self.loaded["right"]
        cells = {
            "mark": lambda: mark_cell(row.name in self.marked),
            "table": lambda: name_cell(row),
            "left": lambda: count_cell(row, "left", self.loaded["left"] or self.errors["left"] is not None),
            "right": lambda: count_cell(row, "right", self.loaded["right"] or self.errors["right"] is not None),
            "diff": lambda: diff_cell(row, both),
            "size": lambda: size_cell(row),
            "key": lambda: key_cell(row),
            "synced": lambda: synced_cell(row),
        }
        return [cells[key]() for key in self._columns]

    def matches(self, name: TableName) -> bool:
        return not self.filter_text or self.filter_text.lower() in str(name).lower()

    def rebuild(self) -> None:
        """Re-create the rows shown (after a filter change or a new set of tables)."""
        grid = self.query_one(BrowserGrid)
        cursor_key = self.current_name()
        width = self._name_width()
        column = grid.columns.get(ColumnKey("table"))
        if column is None or column.width != width:
            self._setup_columns()
        grid.clear()
        self.shown = [name for name in sorted(self.rows) if self.matches(name)]
        for name in self.shown:
            row = self.rows[name]
            grid.add_row(*self._cells(row), key=row.key, height=row_height(row))
        if cursor_key is not None and cursor_key in self.shown:
            grid.move_cursor(row=self.shown.index(cursor_key), animate=False)
        self.update_status()

    def _update_row(self, name: TableName) -> None:
        grid = self.query_one(BrowserGrid)
        row = self.rows[name]
        if row.key not in grid.rows:
            return
        if grid.rows[row.key].height != row_height(row):  # the other side brought other partitions
            self.rebuild()
            return
        for column, value in zip(self._columns, self._cells(row)):
            grid.update_cell(row.key, column, value)

    def current_name(self) -> TableName | None:
        grid = self.query_one(BrowserGrid)
        if not self.shown or grid.cursor_row < 0 or grid.cursor_row >= len(self.shown):
            return None
        return self.shown[grid.cursor_row]

    def current_row(self) -> TableRow | None:
        name = self.current_name()
        return self.rows.get(name) if name is not None else None

    # ------------------------------------------------------------------ marks and filter

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

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip()
        self.rebuild()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        self.close_filter()

    # ------------------------------------------------------------------ status line

    def update_status(self) -> None:
        total = len(self.rows)
        parts = [f"{total:,} tables"]
        if self.filter_text:
            parts.append(f"{len(self.shown):,} shown for '{self.filter_text}'")
        parts.append(f"{len(self.marked):,} marked")
        for side in SIDES:
            profile = self.profiles[side]
            if profile is None:
                continue
            if self.errors[side]:
                parts.append(f"{profile.name}: error")
            elif not self.loaded[side]:
                parts.append(f"{profile.name}: connecting…")
            elif self.counting[side]:
                tables = sum(1 for r in self.rows.values() if getattr(r, side) is not None)
                parts.append(f"{profile.name}: counting {min(self.counted[side], tables):,}/{tables:,}")
        if self.paused:
            parts.append("live refresh paused (sync running)")
        elif self.refresh_interval:
            parts.append(f"refresh every {self.refresh_interval:g}s")
        status = Text("  ·  ".join(parts), style="dim", no_wrap=True, overflow="ellipsis")
        for side in SIDES:
            if self.errors[side] and self.profiles[side] is not None:
                status.append(f"\n{self.profiles[side].name}: {self.errors[side]}", style="red")
        self.query_one("#browser-status", Static).update(status)
        left = self.profiles["left"].name if self.profiles["left"] else "?"
        right = self.profiles["right"].name if self.profiles["right"] else "?"
        self.border_title = f"Tables · {left} ⇄ {right}"

    @property
    def busy(self) -> bool:
        return any(self.counting.values())

    def marked_names(self) -> list[TableName]:
        return sorted(n for n in self.marked if n in self.rows)
