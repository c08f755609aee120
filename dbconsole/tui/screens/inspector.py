"""The inspector: a table's first rows on both sides, and a SQL box that can only read.

Why a screen of its own: looking at the actual rows is how a developer decides whether a sync
is needed. The SQL box goes through :class:`~dbconsole.reading.ReadOnlyQuery` (read-only
session, ``BEGIN READ ONLY`` after ``SELECT 1``, one prepared statement, always rolled back,
statement timeout, server-side cursor), so even on a writable profile nothing typed here can
write and a ``SELECT *`` over millions of rows fetches only the first 500.

The two previews are lined up by key: a mark column says whether a row is the same on the
other side (``=``), differs (``≠``) or is on this side only (``+``), in words a monochrome
terminal can read, and moving the cursor on one side moves the other to the same key.

Once a content diff has run for the table (``c`` in the browser, or ``ctrl+d`` here), the two
sides show the *differing* rows instead: the keys the diff reported, read on both sides with one
query per side, one line per key on both sides, the differing cells highlighted, and a summary
line (``≠ 12 rows: 10 changed, 1 only left, 1 only right``). ``ctrl+d`` switches back to the first
rows. That part is :mod:`.inspector_content`; the lining up, :mod:`.differing_rows`. Under the
rows, the table's schema differences (:mod:`.inspector_schema`); ``ctrl+s`` starts a subset sync
from the highlighted row ("copy this row and what it needs": :mod:`.inspector_subset`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Header, Static, TextArea

from dbconsole.config import Profile
from dbconsole.format import format_count, format_duration
from dbconsole.reading import PREVIEW_ROWS, ReadOnlyQuery, error_line, preview_rows
from dbconsole.tui.actions import bindings
from dbconsole.tui.messages import QueryFinished, RowsPreviewed
from dbconsole.tui.screens.differing_rows import AlignedSide, FetchedSide
from dbconsole.tui.screens.inspector_content import DifferingRowsView, View, fill_table
from dbconsole.tui.screens.inspector_schema import SchemaDiffView
from dbconsole.tui.screens.row_compare import ROW_STYLES, Preview, RowState, compare_previews, where_clause
from dbconsole.tui.widgets.browser.content import TableContent
from dbconsole.tui.widgets.browser.rows import TableRow
from dbconsole.tui.widgets.footer import KeysFooter

SIDES = ("left", "right")


class Inspector(SchemaDiffView, DifferingRowsView, Screen[None]):
    """Rows side by side plus the read-only SQL box; ``escape`` goes back to the browser."""

    ACTION_SCOPE = "inspector"
    BINDINGS = bindings("inspector")

    def __init__(self, row: TableRow, left: Profile | None, right: Profile | None, *,
                 content: TableContent | None = None, check_content: Callable[[], int] | None = None,
                 masks: dict[str, dict[str, str]] | None = None, schema_diffs: Any = None,
                 schema_compared: bool = False) -> None:
        super().__init__()
        self.row = row
        self.schema_diffs = schema_diffs  # the browser's schema differences of this table (None: none)
        self.schema_compared = schema_compared
        self.content = content  # the browser's content state of this table (updated by ContentUpdated)
        self.check_content = check_content  # asks the browser's diff worker to check this table
        self.masks = masks or {}  # side -> column -> rule: what the diff compared on the side a sync reads
        self.view: View = "first"
        self.differing: dict[str, AlignedSide] = {}
        self._fetched: dict[str, FetchedSide | None] = {}
        self._fetch_token = 0
        self.captions: dict[str, str] = {}
        self.profiles = {"left": left, "right": right}
        self.query_side = "left" if left is not None else "right"
        self.runners: dict[str, ReadOnlyQuery] = {}
        self.running = False
        self.previews: dict[str, Preview] = {}
        self.states: dict[str, list[RowState]] = {}
        self._following = False
        self.copied: str | None = None  # the last key copied (the clipboard cannot be read back)

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="sides"):
            for side in SIDES:
                with Vertical(classes="side", id=f"side-{side}"):
                    yield DataTable(id=f"rows-{side}", zebra_stripes=True)
                    yield Static("", classes="side-error", id=f"error-{side}")
        yield Static("", id="content-note")
        yield Static("", id="compare-note")
        yield Static("", id="schema-note")
        with Vertical(id="query-box"):
            yield TextArea(f"SELECT * FROM {self.row.name} LIMIT 20", id="sql", soft_wrap=True,
                           show_line_numbers=False, tab_behavior="focus")
            yield Static("", id="query-status")
            yield DataTable(id="query-result", zebra_stripes=True)
        yield KeysFooter()

    def on_mount(self) -> None:
        self.title = f"Inspect {self.row.name}"
        for side in SIDES:
            profile = self.profiles[side]
            table = getattr(self.row, side)
            box = self.query_one(f"#side-{side}")
            rows = self.row.left_rows if side == "left" else self.row.right_rows
            if profile is None:
                box.border_title = side
                self._side_error(side, "no profile chosen for this side")
                continue
            box.border_title = f"{profile.name}"
            if profile.unusable:
                box.border_subtitle = "unusable"
                self._side_error(side, f"{profile.name} is unusable: {profile.unusable}")
                continue
            if table is None:
                box.border_subtitle = "table missing"
                self._side_error(side, f"{self.row.name} does not exist on {profile.name}")
                continue
            exact = self.row.left_exact if side == "left" else self.row.right_exact
            box.border_subtitle = self.captions[side] = preview_caption(rows, exact)
            self.query_one(f"#error-{side}", Static).update(Text("loading…", style="dim"))
            self._preview(side, profile, table, getattr(self.row, "right" if side == "left" else "left"))
        self._show_query_title()
        self._show_content()
        self._show_schema()
        self.query_one("#sql", TextArea).focus()

    def on_resize(self) -> None:
        """A short terminal (80x24) gives the SQL box one line so the result keeps its rows."""
        self.set_class(self.size.height < 32, "-short")

    def on_unmount(self) -> None:
        runners = list(self.runners.values())
        self.runners.clear()
        for runner in runners:
            runner.cancel()
            runner.close()

    def _side_error(self, side: str, message: str) -> None:
        self.query_one(f"#error-{side}", Static).update(Text(message, style="red"))

    def _show_query_title(self) -> None:
        profile = self.profiles[self.query_side]
        name = profile.name if profile else "?"
        box = self.query_one("#sql", TextArea)
        box.border_title = f"SQL on {name} · read-only"
        box.border_subtitle = "^r run · ^o other side · ^c cancel"

    # ------------------------------------------------------------------ previews

    @work(thread=True, group="query", exit_on_error=False)
    def _preview(self, side: str, profile: Profile, table: Any, other: Any) -> None:
        try:
            columns, rows = preview_rows(profile, table, like=other)
        except Exception as exc:
            self.post_message(RowsPreviewed(side, [], [], error_line(exc)))
            return
        self.post_message(RowsPreviewed(side, columns, rows, None))

    def on_rows_previewed(self, message: RowsPreviewed) -> None:
        side = message.side
        if message.error:
            self._side_error(side, message.error)
            return
        self.query_one(f"#error-{side}", Static).update("")
        self.query_one(f"#error-{side}", Static).display = False
        self.previews[side] = Preview(list(message.columns), [tuple(r) for r in message.rows])
        box = self.query_one(f"#side-{side}")
        shown = len(message.rows)
        if shown < PREVIEW_ROWS:
            self.captions[side] = f"all {format_count(shown)} rows"
            if self.view == "first":
                box.border_subtitle = self.captions[side]
        self._show_previews()

    def _show_previews(self) -> None:
        """Fill both previews; once both are in, mark each row against the other side by key."""
        key = self._key()
        both = all(side in self.previews for side in SIDES)
        for side in SIDES:
            preview = self.previews.get(side)
            if preview is None:
                continue
            other = "right" if side == "left" else "left"
            states = None
            if both and key:
                other_preview = self.previews[other]
                states = compare_previews(preview, other_preview, key, len(other_preview.rows) < PREVIEW_ROWS)
                self.states[side] = states
            if self.view == "first":
                fill_table(self.query_one(f"#rows-{side}", DataTable), preview.columns, preview.rows, states)
        if both and key and self.view == "first":
            counts = {state: sum(s.count(state) for s in self.states.values()) for state in ("differs", "only_here")}
            note = Text("by key: ", style="dim", no_wrap=True, overflow="ellipsis")
            note.append(f"≠ {counts['differs'] // 2} differ", style=ROW_STYLES["differs"])
            note.append(" · ")
            note.append(f"+ {counts['only_here']} on one side only", style=ROW_STYLES["only_here"])
            note.append(" (first rows) · ^↑/^↓ both sides · ^l copy key", style="dim")
            self.query_one("#compare-note", Static).update(note)

    def _key(self) -> tuple[str, ...] | None:
        for table in (self.row.left, self.row.right):
            if table is not None and table.key:
                return tuple(table.key)
        return None

    @on(DataTable.RowHighlighted, "#rows-left, #rows-right")
    def _follow(self, event: DataTable.RowHighlighted) -> None:
        """Moving on one side moves the other to the same key (or leaves it where it is)."""
        if self._following or event.data_table.id is None:
            return
        side = event.data_table.id.removeprefix("rows-")
        other = "right" if side == "left" else "left"
        target = self._twin_row(side, other, event.cursor_row)
        if target is None:
            return
        table = self.query_one(f"#rows-{other}", DataTable)
        self._following = True
        try:
            table.move_cursor(row=target, animate=False)
        finally:
            self.call_after_refresh(self._stop_following)

    def _stop_following(self) -> None:
        self._following = False

    def _twin_row(self, side: str, other: str, index: int) -> int | None:
        if self.view == "differing":  # line n is the same key on both sides
            rows = len(self.differing[other].preview.rows) if other in self.differing else 0
            return index if 0 <= index < rows else None
        key = self._key()
        mine, theirs = self.previews.get(side), self.previews.get(other)
        if not key or mine is None or theirs is None or not 0 <= index < len(mine.rows):
            return None
        wanted = mine.key_of(mine.rows[index], key)
        keys = theirs.keys(key)
        return keys.index(wanted) if wanted in keys else None

    def action_scroll_both(self, step: int) -> None:
        """``ctrl+↓`` / ``ctrl+↑``: move the focused side (else the left one); the other follows."""
        focused = self.focused
        side = focused.id.removeprefix("rows-") if isinstance(focused, DataTable) and focused.id and \
            focused.id.startswith("rows-") else "left" if "left" in self.previews else "right"
        table = self.query_one(f"#rows-{side}", DataTable)
        if table.row_count:
            table.move_cursor(row=max(0, min(table.row_count - 1, table.cursor_row + step)), animate=False)

    def action_copy_key(self) -> None:
        """Copy the highlighted preview row's key as a WHERE clause (for the SQL box, or a ticket)."""
        found = self.highlighted_where(missing="no keyed row highlighted to copy")
        if found is None:
            return
        text = found[1]
        self.copied = text
        self.app.copy_to_clipboard(text)
        self.notify(f"copied: {text}", timeout=3)

    def highlighted_where(self, *, missing: str = "no keyed row highlighted") -> tuple[str, str] | None:
        """(side, ``WHERE`` text of the highlighted preview row's key), or None (said to the user)."""
        key = self._key()
        focused = self.focused
        side = focused.id.removeprefix("rows-") if isinstance(focused, DataTable) and focused.id and \
            focused.id.startswith("rows-") else "left" if "left" in self.previews else "right"
        preview = self.shown_preview(side)
        table = self.query_one(f"#rows-{side}", DataTable)
        if not key or preview is None or not 0 <= table.cursor_row < len(preview.rows):
            self.notify(missing, severity="warning", timeout=3)
            return None
        return side, where_clause(preview.columns, key, preview.rows[table.cursor_row])

    def action_subset_row(self) -> None:
        """``ctrl+s``: "copy this row and what it needs" (:mod:`.inspector_subset`)."""
        from dbconsole.tui.screens.inspector_subset import start_subset

        start_subset(self)

    # ------------------------------------------------------------------ the SQL box

    def action_run_query(self) -> None:
        if self.running:
            self.notify("a query is running; ctrl+c cancels it", severity="warning")
            return
        profile = self.profiles[self.query_side]
        if profile is None:
            return
        text = self.query_one("#sql", TextArea).text
        runner = self.runners.get(self.query_side)
        if runner is None:
            runner = self.runners[self.query_side] = ReadOnlyQuery(profile)
        self.running = True
        self.query_one("#query-status", Static).update(Text(f"running on {profile.name}…  (ctrl+c cancels)",
                                                            style="yellow"))
        self._run_query(self.query_side, runner, text)

    @work(thread=True, group="query", exit_on_error=False)
    def _run_query(self, side: str, runner: ReadOnlyQuery, text: str) -> None:
        try:
            result = runner.run(text)
        except Exception as exc:
            self.post_message(QueryFinished(side, [], [], error=error_line(exc)))
            return
        self.post_message(QueryFinished(side, result.columns, result.rows, truncated=result.truncated,
                                        seconds=result.seconds, status=result.status))

    def on_query_finished(self, message: QueryFinished) -> None:
        self.running = False
        status = self.query_one("#query-status", Static)
        name = self.profiles[message.side].name if self.profiles[message.side] else message.side
        if message.error:
            text = message.error
            if "multiple commands" in text:
                text = "one statement at a time: the SQL box runs a single read-only statement"
            status.update(Text(f"{name}: {text}", style="red"))
            self.query_one("#query-result", DataTable).clear(columns=True)  # no stale rows under an error
            return
        shown = len(message.rows)
        rows = f"first {shown:,} rows (more not fetched)" if message.truncated else f"{shown:,} rows"
        status.update(Text(f"{name}: {message.status or 'OK'} · {rows} · "
                           f"{format_duration(message.seconds)}", style="green"))
        fill_table(self.query_one("#query-result", DataTable), message.columns, message.rows)

    def action_switch_side(self) -> None:
        other = "right" if self.query_side == "left" else "left"
        if self.profiles[other] is None:
            return
        self.query_side = other
        self._show_query_title()

    def action_cancel_query(self) -> None:
        runner = self.runners.get(self.query_side)
        if not self.running or runner is None:
            focused = self.focused
            if isinstance(focused, TextArea) and focused.selected_text:
                focused.action_copy()
            else:
                self.notify("no query is running", timeout=2)
            return
        self.query_one("#query-status", Static).update(Text("cancelling…", style="yellow"))
        self._cancel(runner)

    @work(thread=True, group="query-cancel", exit_on_error=False)
    def _cancel(self, runner: ReadOnlyQuery) -> None:
        runner.cancel()

    def action_close(self) -> None:
        self.dismiss(None)


def preview_caption(rows: int | None, exact: bool) -> str:
    """``first 50 of ~1,000,000 rows``; never "first 50 of 10" (then it is simply all of them)."""
    if rows is not None and rows <= PREVIEW_ROWS and exact:
        return f"all {format_count(rows)} rows"
    if rows is None:
        return f"first {PREVIEW_ROWS} rows"
    return f"first {PREVIEW_ROWS} of {format_count(rows, exact=exact)} rows"
