"""The compare browser: every table of the two compared profiles, side by side, kept live.

A refresh reads one catalog query per side: tables, keys, sizes and the catalog's row
*estimates* (shown as ``~12,345``). It never runs ``count(*)`` by itself on a read-only or
tunnelled profile, which is production as a rule: a console left open must not full-scan the
server every minute. Exact counts run when asked (``ctrl+r``: the marked tables, else every
table shown), one table at a time under a statement timeout, and ``escape`` stops them. A local
writable profile may opt in to exact live counts (``live_exact_counts = true``). Each side's
state is one :class:`~dbconsole.tui.widgets.browser.side.BrowserSide`; only the changed cells of
the grid are updated (by row key), so a thousand tables fill in without a rebuild. The content
column (what a content diff found, on demand only) is :mod:`.content_column`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.timer import Timer
from textual.widgets import Input, Static

from dbconsole.config import Profile
from dbconsole.connect import connect
from dbconsole.names import TableName
from dbconsole.reading import ExactCounter, error_line, read_side
from dbconsole.tui.widgets.browser.grid import BrowserGrid, FilterBox
from dbconsole.tui.widgets.browser.status import browser_status
from dbconsole.tui.messages import (
    CatalogLoaded,
    CountsArrived,
    CountsFinished,
    JobFailed,
    LastSyncedLoaded,
    ProfileStatusChanged,
    SideFailed,
)
from dbconsole.tui.widgets.browser.columns import GridLayout, layout
from dbconsole.tui.widgets.browser.content_column import ContentColumn
from dbconsole.tui.widgets.browser.schema_markers import LOCK_TIMEOUT_MS, SchemaMarkers
from dbconsole.tui.widgets.browser.selection import TableSelection
from dbconsole.tui.widgets.browser.rows import (
    TableRow,
    count_cell,
    diff_cell,
    elide_middle,
    key_cell,
    mark_cell,
    name_cell,
    row_height,
    size_cell,
    synced_cell,
)
from dbconsole.tui.widgets.browser.side import SIDES, BrowserSide, Side
from dbconsole.tui.widgets.browser.sqlite_side import load_sqlite_side

# "live": the timer, a new pair, the end of a sync: estimates, exact only where opted in.
# "asked": ctrl+r: exact counts of the marked tables (else of every table shown).
RefreshKind = Literal["live", "asked"]


class CompareBrowser(TableSelection, SchemaMarkers, ContentColumn, Vertical):
    """Main pane: rows per table, marks, filter, and the workers that fill in the counts and contents."""

    DEFAULT_CLASSES = "pane"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sides: dict[Side, BrowserSide] = {side: BrowserSide(side) for side in SIDES}
        self.rows: dict[TableName, TableRow] = {}
        self.marked: set[TableName] = set()
        self.filter_text = ""
        self.shown: list[TableName] = []
        self.generation = 0
        self.paused = False
        self.refresh_interval = 0.0
        self._timer: Timer | None = None
        self._counters: dict[Side, ExactCounter] = {}
        self._layout: GridLayout | None = None
        self._init_schema_markers()
        self._init_content()

    def compose(self) -> ComposeResult:
        yield Static("", id="pair-line")
        yield FilterBox(placeholder="/ filter tables by name (enter: back to the list, esc: clear)", id="filter",
                        compact=True)
        yield BrowserGrid(id="grid", cursor_type="row", zebra_stripes=True, cursor_foreground_priority="renderable")
        yield Static("", id="browser-status")

    def on_mount(self) -> None:
        self.query_one(FilterBox).display = False
        self.query_one("#pair-line").display = False
        self.border_title = "Tables"
        self._setup_columns()

    # ------------------------------------------------------------------ state seen from outside

    @property
    def profiles(self) -> dict[Side, Profile | None]:
        return {side: state.profile for side, state in self.sides.items()}

    @property
    def loaded(self) -> dict[Side, bool]:
        return {side: state.loaded for side, state in self.sides.items()}

    @property
    def errors(self) -> dict[Side, str | None]:
        return {side: state.error for side, state in self.sides.items()}

    @property
    def counting(self) -> bool:
        return any(state.counting for state in self.sides.values())

    @property
    def busy(self) -> bool:
        """A refresh is under way: a side still connecting, or counts still coming."""
        return any(state.counting or state.stage == "connecting" for state in self.sides.values())

    # ------------------------------------------------------------------ loading

    def set_pair(self, left: Profile | None, right: Profile | None) -> None:
        """Compare these two profiles from now on (clears what was shown for the old pair)."""
        self.stop_counts()
        self.reset_content()
        self.sides = {"left": BrowserSide.for_profile("left", left), "right": BrowserSide.for_profile("right", right)}
        self.rows.clear()
        self._setup_columns()
        self.rebuild()
        self.refresh_counts("live")
        self.compare_schemas()

    def set_refresh_interval(self, seconds: float) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self.refresh_interval = seconds
        if seconds and seconds > 0:
            self._timer = self.set_interval(seconds, self._tick)

    def _tick(self) -> None:
        if not self.paused and not self.busy:
            self.refresh_counts("live")

    def refresh_counts(self, kind: RefreshKind = "live", *, written: str | None = None) -> None:
        """Read both sides again: the catalog (estimates), then exact counts where asked or allowed.

        ``written``: a sync just wrote into this profile; its marked tables are counted exactly
        there (a target is writable, so never the read-only server), so the numbers the user
        checks after a sync are not estimates.
        """
        self.stop_counts()
        if written is not None and written in {s.profile.name for s in self.sides.values() if s.profile}:
            self.forget_content()  # the sync changed rows: what the diffs found no longer holds
        self.generation += 1
        if kind == "asked" and self.is_mounted:
            self.compare_schemas()
        asked = (self.marked_names() or list(self.shown)) if kind == "asked" else None
        current = self.current_name()
        synced = self.marked_names() or ([current] if current is not None else [])
        for side, state in self.sides.items():
            if not state.usable or state.profile is None:
                continue
            if not state.loaded:
                state.stage = "connecting"  # first read, or a retry after an error
            exact: Sequence[TableName] | Literal["all"] | None = asked
            if asked is None and state.live_exact:
                exact = "all"
            elif asked is None and written == state.profile.name and not state.profile.read_only and synced:
                exact = synced
            state.counting = exact is not None
            state.counted = 0
            state.to_count = len([n for n in exact if not state.tables or n in state.tables]) \
                if isinstance(exact, list) else 0
            counter = self._counters[side] = ExactCounter()
            self._load_side(self.generation, side, state.profile, exact, counter)
        self.update_status()

    def stop_counts(self) -> None:
        """Stop every exact count under way (the server is asked to cancel the current one)."""
        counters, self._counters = self._counters, {}
        for counter in counters.values():
            counter.cancel()
        for state in self.sides.values():
            state.counting = False
        if self.is_mounted:
            self.update_status()

    @work(thread=True, group="counts", exit_on_error=False)
    def _load_side(self, generation: int, side: Side, profile: Profile,
                   exact: Sequence[TableName] | Literal["all"] | None, counter: ExactCounter) -> None:
        """Runs in a thread: connect read-only, read the catalog, then count what was asked."""
        if profile.is_sqlite:  # a file: its tables and exact counts in one read
            return load_sqlite_side(self, generation, side, profile)
        app = self.app
        app.post_message(ProfileStatusChanged(profile.name, "connecting"))
        try:
            # A table locked by a migration must fail this refresh, not hang it (the catalog's
            # sizes and the counts both wait for an ACCESS EXCLUSIVE lock).
            conn = connect(profile, read_only=True, purpose="browser" if exact is None else "counts",
                           options={"lock_timeout": str(LOCK_TIMEOUT_MS)})
        except Exception as exc:  # every failure becomes one line on screen
            message = error_line(exc)
            app.post_message(ProfileStatusChanged(profile.name, "error", error=message))
            self.post_message(SideFailed(generation, side, profile.name, message))
            self.post_message(CountsFinished(generation, side))
            return
        try:
            snapshot = read_side(conn, profile)
            app.post_message(ProfileStatusChanged(profile.name, "connected", version=snapshot.info.version,
                                                  read_only=snapshot.info.read_only))
            self.post_message(CatalogLoaded(generation, side, profile.name, snapshot.tables))
            self.post_message(LastSyncedLoaded(generation, side, snapshot.last_synced))
            present = [t.qualified for t in snapshot.tables]
            known = set(present)
            wanted = present if exact == "all" else [n for n in (exact or ()) if n in known]
            if wanted and not counter.cancelled:
                counter.run(conn, wanted, lambda results: self.post_message(CountsArrived(generation, side, results)))
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
        state = self.sides[message.side]  # type: ignore[index]
        names_before = set(self.rows)
        state.take_catalog(message.tables)
        state.notified_error = None
        present = set(self.sides["left"].tables) | set(self.sides["right"].tables)
        for name in present - names_before:
            self.rows[name] = TableRow(name, self.sides, self._latest_sync(name))
        for name in names_before - present:
            del self.rows[name]
        if set(self.rows) != names_before or not self.shown:
            self.rebuild()
        else:
            for name in self.shown:
                self._update_row(name)
        self.update_status()
        self.maybe_auto_diff()

    def on_side_failed(self, message: SideFailed) -> None:
        if message.generation != self.generation:
            return
        state = self.sides[message.side]  # type: ignore[index]
        state.fail(message.error)
        if state.notified_error != message.error:
            state.notified_error = message.error
            self.post_message(JobFailed("counts", f"{message.profile}: {message.error}"))
        for name in self.shown:
            self._update_row(name)
        self.update_status()

    def on_counts_arrived(self, message: CountsArrived) -> None:
        if message.generation != self.generation:
            return
        side: Side = message.side  # type: ignore[assignment]
        state = self.sides[side]
        grid = self.query_one(BrowserGrid)
        for result in message.results:
            state.take_count(result.table, result.rows, result.error)
            row = self.rows.get(result.table)
            if row is not None and row.key in grid.rows:
                grid.update_cell(row.key, side, count_cell(row, side))
                grid.update_cell(row.key, "diff", diff_cell(row))
        self.update_status()

    def on_counts_finished(self, message: CountsFinished) -> None:
        if message.generation != self.generation:
            return
        self.sides[message.side].counting = False  # type: ignore[index]
        self.update_status()

    def on_last_synced_loaded(self, message: LastSyncedLoaded) -> None:
        if message.generation != self.generation:
            return
        self.sides[message.side].last_synced = message.entries  # type: ignore[index]
        grid = self.query_one(BrowserGrid)
        for name, row in self.rows.items():
            latest = self._latest_sync(name)
            if latest is not row.last_synced:
                row.last_synced = latest
                if row.key in grid.rows and "synced" in self._columns:
                    grid.update_cell(row.key, "synced", synced_cell(row))

    def _latest_sync(self, name: TableName) -> Any:
        entries = [e for e in (s.last_synced.get(name) for s in self.sides.values()) if e is not None]
        return max(entries, key=lambda e: e.finished_at) if entries else None

    # ------------------------------------------------------------------ the grid

    @property
    def _columns(self) -> list[str]:
        return self._layout.columns if self._layout is not None else []

    def _current_layout(self) -> GridLayout:
        longest = max((len(str(n)) for n in self.rows), default=20)
        return layout(self.size.width, longest)

    def _setup_columns(self) -> None:
        grid = self.query_one(BrowserGrid)
        grid.clear(columns=True)
        self._layout = current = self._current_layout()
        labels = {"mark": " ", "left": self.sides["left"].label, "right": self.sides["right"].label,
                  "diff": "diff", "content": "content" if current.widths.get("content", 0) >= 7 else "data",
                  "size": "size", "key": "key", "synced": "synced"}
        for key in current.columns:
            if key == "table":
                grid.add_column("table", key="table", width=current.name_width)
                continue
            width = current.widths[key]
            label = elide_middle(labels[key], width)
            justify = "right" if key in ("left", "right", "diff", "content", "size") else "left"
            grid.add_column(Text(label, justify=justify), key=key, width=width)

    def on_resize(self) -> None:
        if self._current_layout() != self._layout:
            self._setup_columns()
            self.rebuild()

    def _cells(self, row: TableRow) -> list[Any]:
        name_width = self._layout.name_width if self._layout else 40
        cells = {
            "mark": lambda: mark_cell(row.name in self.marked),
            "table": lambda: name_cell(row, name_width, schema_differs=row.name in self.schema_diffs),
            "left": lambda: count_cell(row, "left"),
            "right": lambda: count_cell(row, "right"),
            "diff": lambda: diff_cell(row),
            "content": lambda: self.content_cell_of(row.name),
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
        if self._current_layout() != self._layout:
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
        row = self.rows.get(name)
        if row is None or row.key not in grid.rows:
            return
        if grid.rows[row.key].height != row_height(row):  # the other side brought other partitions
            self.rebuild()
            return
        for column, value in zip(self._columns, self._cells(row)):
            grid.update_cell(row.key, column, value)

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip()
        self.rebuild()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        self.close_filter()

    # ------------------------------------------------------------------ status line

    def update_status(self) -> None:
        self.query_one("#browser-status", Static).update(browser_status(
            self.sides, tables=len(self.rows), shown=len(self.shown), marked=len(self.marked),
            filter_text=self.filter_text, paused=self.paused, refresh_interval=self.refresh_interval,
            content=self.content_progress()))
        names = [state.profile.name if state.profile else "?" for state in self.sides.values()]
        self.border_title = f"Tables · {names[0]} ⇄ {names[1]}"

    def show_pair_line(self, text: Text | None) -> None:
        """The profiles' status folded into one line, while the profiles pane is folded away."""
        found = self.query("#pair-line")
        if not found:
            return  # shutting down
        line = found.first(Static)
        line.display = text is not None
        if text is not None:
            line.update(text)
