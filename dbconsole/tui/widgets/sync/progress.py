"""Progress of a running sync: a bar for the whole run and one line per table, with rows/s and ETA.

Fed only with engine events (``TableStart``, ``Progress``, ``TableDone``); rates and ETAs per
table come from the engine (the same figures the CLI prints), the run's own rate from rows over
time. The tables are rows of one DataTable whose cells are updated in place, so a sync of a
thousand tables costs a thousand rows, not three thousand widgets, and the keys stay quick.
"""

from __future__ import annotations

import time

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Label, ProgressBar

from dbconsole.format import format_count, format_duration, format_rate
from dbconsole.sync.counts import RowCounts, describe_counts
from dbconsole.tui.widgets.sync.columns import elide_middle

BAR_WIDTH = 24


def bar_cell(done: int, total: int | None, finished: bool = False, width: int = BAR_WIDTH) -> Text:
    """``━━━━━━━━╺━━━━━━━━  42%`` drawn as text: cheap to redraw a few times a second."""
    if finished:
        fraction = 1.0
    elif total:
        fraction = max(0.0, min(1.0, done / total))
    else:
        fraction = 0.0
    filled = int(round(fraction * width))
    text = Text(no_wrap=True)
    text.append("━" * filled, style="green" if finished else "bright_blue")
    text.append("━" * (width - filled), style="grey30")
    text.append(f" {fraction * 100:3.0f}%", style="bold" if finished else "")
    return text


class RunProgress(Vertical):
    """The whole run on top, then one row per planned table."""

    COLUMNS = ("table", "progress", "rows", "speed", "eta")

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.started = time.monotonic()
        self.estimates: dict[str, int] = {}
        self.rows: dict[str, int] = {}
        self.finished: set[str] = set()
        self.running: list[str] = []  # started, not done: several at once with --jobs
        self.bar_width = BAR_WIDTH
        self.name_width = 20
        self.columns: tuple[str, ...] = self.COLUMNS

    def compose(self) -> ComposeResult:
        with Horizontal(id="run-overall"):
            yield Label(Text("all tables", style="bold"), id="overall-name")
            yield ProgressBar(total=None, show_eta=False, id="overall-bar")
            yield Label("", id="overall-rate")
        yield DataTable(id="run-tables", cursor_type="row", zebra_stripes=True, cursor_foreground_priority="renderable")

    def on_mount(self) -> None:
        self._columns(20)

    def _columns(self, name_width: int) -> None:
        """Fixed widths that fit the terminal: cells change a few times a second and must not
        make columns jump, and at 80 columns the grid must not scroll sideways."""
        available = max(self.app.size.width - 6, 60)
        narrow = available < 120
        self.bar_width = 12 if narrow else BAR_WIDTH
        # Narrow: no per-table speed column (the overall line has the rate), so the ETA / result fits.
        self.columns = tuple(c for c in self.COLUMNS if not (narrow and c == "speed"))
        widths = {"progress": self.bar_width + 5, "rows": 9 if narrow else 11, "speed": 13}
        fixed = sum(widths[c] for c in self.columns if c in widths)
        padding = 2 * len(self.columns) + 2
        widths["table"] = max(16, min(name_width, available - fixed - padding - 22))
        widths["eta"] = max(12, min(50, available - fixed - widths["table"] - padding))
        grid = self.query_one("#run-tables", DataTable)
        grid.clear(columns=True)
        for column in self.columns:
            label = Text(column, justify="right") if column in ("rows", "speed") else column
            grid.add_column(label, key=column, width=widths[column])
        self.name_width = widths["table"]

    async def plan(self, tables: list[tuple[str, int | None]]) -> None:
        """One row per planned table (the engine's PlanEvent)."""
        grid = self.query_one("#run-tables", DataTable)
        self._columns(max([20] + [min(len(t), 40) for t, _ in tables]))
        for table, estimated in tables:
            self.estimates[table] = estimated or 0
            self.rows[table] = 0
            cells = {"table": Text(elide_middle(table, self.name_width), no_wrap=True),
                     "progress": bar_cell(0, estimated, width=self.bar_width),
                     "rows": Text("-", style="dim", justify="right"), "speed": "",
                     "eta": Text("waiting", style="dim")}
            grid.add_row(*[cells[c] for c in self.columns], key=table)
        self.started = time.monotonic()
        self._update_overall()

    def _set(self, table: str, **cells: object) -> None:
        grid = self.query_one("#run-tables", DataTable)
        if table not in grid.rows:
            grid.add_row(table, *[""] * (len(self.columns) - 1), key=table)
        for column, value in cells.items():
            if column in self.columns:
                grid.update_cell(table, column, value)

    def table_start(self, table: str, estimated: int | None, resume_rows: int) -> None:
        if estimated:
            self.estimates[table] = estimated
        self.rows[table] = resume_rows
        if table not in self.running:
            self.running.append(table)
        self._set(table, progress=bar_cell(resume_rows, self.estimates.get(table), width=self.bar_width),
                  rows=Text(format_count(resume_rows), justify="right"),
                  eta=Text(f"resumed at {resume_rows:,}" if resume_rows else "started", style="dim"))
        self._update_overall()

    def progress(self, table: str, rows: int, rows_per_s: float, eta_s: float | None, estimated: int | None) -> None:
        self.rows[table] = rows
        if estimated:
            self.estimates[table] = estimated
        total = max(self.estimates.get(table, 0), rows) or None
        self._set(table, progress=bar_cell(rows, total, width=self.bar_width),
                  rows=Text(format_count(rows), justify="right"),
                  speed=Text(format_rate(rows_per_s), justify="right"),
                  eta=Text(f"ETA {format_duration(eta_s)}" if eta_s is not None else ""))
        self._update_overall()

    def table_done(self, table: str, counts: RowCounts, seconds: float) -> None:
        self.rows[table] = max(self.rows.get(table, 0), counts.total)
        self.estimates[table] = self.rows[table]
        self.finished.add(table)
        if table in self.running:
            self.running.remove(table)
        result = describe_counts(counts, sep=" · ")
        self._set(table, progress=bar_cell(1, 1, finished=True, width=self.bar_width),
                  rows=Text(format_count(self.rows[table]), justify="right"),
                  eta=Text(f"{result} · {format_duration(seconds)}", style="green"))
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
            f"{format_count(done)} / {format_count(total)} rows · {format_rate(rate)}{eta_text}{self.running_text()}")

    def running_text(self) -> str:
        """`` · running: a, b`` when more than one table runs at once (``--jobs``), else nothing."""
        if len(self.running) < 2:
            return ""
        return f" · running: {', '.join(elide_middle(t, 24) for t in self.running)}"
