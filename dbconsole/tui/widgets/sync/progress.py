"""Progress of a running sync: one bar per table and one for the whole run, with rows/s and ETA.

Fed only with engine events (``TableStart``, ``Progress``, ``TableDone``); rates and ETAs come
from the engine (the same figures the CLI prints), the run's own rate from rows over time.
"""

from __future__ import annotations

import time

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Label, ProgressBar

from dbconsole.format import format_count, format_duration, format_rate


class TableProgress(Horizontal):
    """One table: name, bar, and rows / rate / ETA (or the final counts once done)."""

    DEFAULT_CLASSES = "table-progress"

    def __init__(self, table: str, estimated: int | None, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.table = table
        self.estimated = estimated
        self.rows = 0
        self.done = False

    def compose(self) -> ComposeResult:
        yield Label(Text(self.table, no_wrap=True, overflow="ellipsis"), classes="tp-name")
        yield ProgressBar(total=self.estimated or None, show_eta=False, show_percentage=True)
        yield Label(Text("waiting", style="dim"), classes="tp-rate")

    def start(self, estimated: int | None, resume_rows: int) -> None:
        if estimated:
            self.estimated = estimated
            self.query_one(ProgressBar).update(total=max(estimated, resume_rows))
        self.advance(resume_rows, 0.0, None)

    def advance(self, rows: int, rows_per_s: float, eta_s: float | None, estimated: int | None = None) -> None:
        self.rows = rows
        bar = self.query_one(ProgressBar)
        if estimated and estimated != self.estimated:
            self.estimated = estimated
        total = max(self.estimated or 0, rows) or None
        bar.update(total=total, progress=rows)
        eta = f" · ETA {format_duration(eta_s)}" if eta_s is not None else ""
        self.query_one(".tp-rate", Label).update(f"{format_count(rows)} rows · {format_rate(rows_per_s)}{eta}")

    def finish(self, inserted: int, updated: int, unchanged: int, deleted: int, seconds: float) -> None:
        self.done = True
        bar = self.query_one(ProgressBar)
        final = max(self.rows, inserted + updated + unchanged, 1)
        bar.update(total=final, progress=final)
        text = f"+{inserted:,} ins · {updated:,} upd · {unchanged:,} same"
        if deleted:
            text += f" · {deleted:,} del"
        self.query_one(".tp-rate", Label).update(Text(f"{text} · {format_duration(seconds)}", style="green"))


class RunProgress(Vertical):
    """The whole run: an overall bar with rows/s and ETA above one :class:`TableProgress` per table."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.started = time.monotonic()
        self.estimates: dict[str, int] = {}
        self.rows: dict[str, int] = {}
        self.bars: dict[str, TableProgress] = {}

    def compose(self) -> ComposeResult:
        with Horizontal(id="run-overall", classes="table-progress"):
            yield Label(Text("all tables", style="bold"), classes="tp-name")
            yield ProgressBar(total=None, show_eta=False, id="overall-bar")
            yield Label("", classes="tp-rate", id="overall-rate")
        yield VerticalScroll(id="run-tables")

    async def plan(self, tables: list[tuple[str, int | None]]) -> None:
        """Lay out one bar per planned table (the engine's PlanEvent); returns once they are mounted."""
        container = self.query_one("#run-tables", VerticalScroll)
        await container.remove_children()
        self.bars = {}
        for table, estimated in tables:
            self.estimates[table] = estimated or 0
            bar = TableProgress(table, estimated)
            self.bars[table] = bar
        await container.mount_all(self.bars.values())
        self.started = time.monotonic()
        self._update_overall()

    def table_start(self, table: str, estimated: int | None, resume_rows: int) -> None:
        if estimated:
            self.estimates[table] = estimated
        self.rows[table] = resume_rows
        bar = self.bars.get(table)
        if bar is not None:
            bar.start(estimated, resume_rows)
            self.query_one("#run-tables", VerticalScroll).scroll_to_widget(bar, animate=False)
        self._update_overall()

    def progress(self, table: str, rows: int, rows_per_s: float, eta_s: float | None, estimated: int | None) -> None:
        self.rows[table] = rows
        if estimated:
            self.estimates[table] = estimated
        bar = self.bars.get(table)
        if bar is not None:
            bar.advance(rows, rows_per_s, eta_s, estimated)
        self._update_overall()

    def table_done(self, table: str, inserted: int, updated: int, unchanged: int, deleted: int, seconds: float) -> None:
        self.rows[table] = max(self.rows.get(table, 0), inserted + updated + unchanged)
        self.estimates[table] = self.rows[table]
        bar = self.bars.get(table)
        if bar is not None:
            bar.finish(inserted, updated, unchanged, deleted, seconds)
        self._update_overall()

    def _update_overall(self) -> None:
        done = sum(self.rows.values())
        total = sum(max(self.estimates.get(t, 0), self.rows.get(t, 0)) for t in set(self.estimates) | set(self.rows))
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = done / elapsed if done else 0.0
        eta = (total - done) / rate if rate and total > done else None
        self.query_one("#overall-bar", ProgressBar).update(total=total or None, progress=done)
        eta_text = f" · ETA {format_duration(eta)}" if eta is not None else ""
        self.query_one("#overall-rate", Label).update(
            f"{format_count(done)} / {format_count(total)} rows · {format_rate(rate)}{eta_text}")


