"""The inspector: a table's first rows on both sides, and a SQL box that can only read.

Why a screen of its own: looking at the actual rows is how a developer decides whether a sync
is needed. The SQL box goes through :class:`~dbconsole.tui.jobs.ReadOnlyQuery` (read-only
session, ``BEGIN READ ONLY`` after ``SELECT 1``, one prepared statement, always rolled back,
statement timeout, fetch limit), so even on a writable profile nothing typed here can write.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static, TextArea

from dbconsole.config import Profile
from dbconsole.format import format_count, format_duration
from dbconsole.tui.actions import bindings
from dbconsole.tui.jobs import PREVIEW_ROWS, ReadOnlyQuery, error_line, preview_rows
from dbconsole.tui.messages import QueryFinished, RowsPreviewed
from dbconsole.tui.widgets.browser.rows import TableRow

SIDES = ("left", "right")


def fill_table(table: DataTable, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    table.clear(columns=True)
    for index, column in enumerate(columns):
        table.add_column(column, key=f"c{index}")
    table.add_rows(rows)


class Inspector(Screen[None]):
    """Rows side by side plus the read-only SQL box; ``escape`` goes back to the browser."""

    ACTION_SCOPE = "inspector"
    BINDINGS = bindings("inspector")

    def __init__(self, row: TableRow, left: Profile | None, right: Profile | None) -> None:
        super().__init__()
        self.row = row
        self.profiles = {"left": left, "right": right}
        self.query_side = "left" if left is not None else "right"
        self.runners: dict[str, ReadOnlyQuery] = {}
        self.running = False

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="sides"):
            for side in SIDES:
                with Vertical(classes="side", id=f"side-{side}"):
                    yield DataTable(id=f"rows-{side}", zebra_stripes=True)
                    yield Static("", classes="side-error", id=f"error-{side}")
        with Vertical(id="query-box"):
            yield TextArea(f"SELECT * FROM {self.row.name} LIMIT 20", id="sql", soft_wrap=True,
                           show_line_numbers=False, tab_behavior="focus")
            yield Static("", id="query-status")
            yield DataTable(id="query-result", zebra_stripes=True)
        yield Footer()

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
            if table is None:
                box.border_subtitle = "table missing"
                self._side_error(side, f"{self.row.name} does not exist on {profile.name}")
                continue
            box.border_subtitle = f"first {PREVIEW_ROWS} of {format_count(rows)} rows"
            self.query_one(f"#error-{side}", Static).update(Text("loading…", style="dim"))
            self._preview(side, profile, table)
        self._show_query_title()
        self.query_one("#sql", TextArea).focus()

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
    def _preview(self, side: str, profile: Profile, table: Any) -> None:
        try:
            columns, rows = preview_rows(profile, table)
        except Exception as exc:
            self.post_message(RowsPreviewed(side, [], [], error_line(exc)))
            return
        self.post_message(RowsPreviewed(side, columns, rows, None))

    def on_rows_previewed(self, message: RowsPreviewed) -> None:
        if message.error:
            self._side_error(message.side, message.error)
            return
        self.query_one(f"#error-{message.side}", Static).update("")
        self.query_one(f"#error-{message.side}", Static).display = False
        fill_table(self.query_one(f"#rows-{message.side}", DataTable), message.columns, message.rows)

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
            return
        shown = len(message.rows)
        more = f" (first {shown:,}; fetch limit)" if message.truncated else ""
        status.update(Text(f"{name}: {message.status or 'OK'} · {shown:,} rows{more} · "
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
