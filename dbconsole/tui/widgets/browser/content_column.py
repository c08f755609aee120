"""The compare browser's content column: content diffs on demand, in a thread worker, cancellable.

A part of :class:`~dbconsole.tui.widgets.browser.compare_browser.CompareBrowser` (a mixin, so
the counting browser stays readable on its own). ``c`` checks the marked tables (else the
highlighted one), ``C`` every table shown; ``escape`` stops. One worker (group ``diff``) works
the queue off one table at a time (:class:`~dbconsole.reading.content.ContentChecks`) and posts
typed messages; only the handlers here change state. A live refresh never starts a diff: the
only automatic check is ``[tui] auto_diff_rows`` (off by default), once per table, right after
the first load of a pair, for tables smaller than that on both sides.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from textual import work

from dbconsole.config import SyncSettings
from dbconsole.names import TableName
from dbconsole.reading.content import ContentChecks
from dbconsole.tui.messages import ContentChecked, ContentChecksFinished, ContentProgress, ContentUpdated, JobFailed
from dbconsole.tui.widgets.browser.content import TableContent, content_cell


class ContentColumn:
    """State and workers of the content column; mixed into the browser, whose ``rows``, ``sides``,
    ``shown``, ``marked_names``, ``current_name``, ``update_status`` and grid it uses."""

    def _init_content(self) -> None:
        self.content: dict[TableName, TableContent] = {}
        self.diff_settings = SyncSettings()
        self.auto_diff_rows = 0
        self._checks: ContentChecks | None = None
        self._checks_run = 0
        self._checks_total = 0
        self._checks_done = 0
        self._auto_done = False

    def configure_content(self, settings: SyncSettings, auto_diff_rows: int) -> None:
        """The config's ``[sync.tables]`` rules (masks, where) and ``[tui] auto_diff_rows``."""
        self.diff_settings = settings
        self.auto_diff_rows = max(0, int(auto_diff_rows or 0))

    # ------------------------------------------------------------------ state seen from outside

    @property
    def diffing(self) -> bool:
        return any(c.running for c in self.content.values())

    def content_of(self, name: TableName) -> TableContent | None:
        return self.content.get(name)

    def checkable(self, name: TableName) -> bool:
        row = self.rows.get(name)
        return row is not None and row.left is not None and row.right is not None

    # ------------------------------------------------------------------ asking

    def check_marked_or_current(self) -> None:
        """``c``: the marked tables, else the highlighted one."""
        names = self.marked_names()
        if not names:
            current = self.current_name()
            names = [current] if current is not None else []
        self.check_content(names, say_why=True)

    def check_all_shown(self) -> None:
        """``C``: every table shown (the filter applies)."""
        self.check_content(list(self.shown), say_why=True)

    def check_content(self, names: Iterable[TableName], *, say_why: bool = False) -> int:
        """Queue a content diff of ``names`` (tables on both sides); returns how many were queued."""
        left, right = self.sides["left"].profile, self.sides["right"].profile
        if left is None or right is None or not all(s.loaded for s in self.sides.values()):
            if say_why:
                self.app.notify("content diffs need both profiles connected", severity="warning", timeout=4)
            return 0
        wanted = [n for n in dict.fromkeys(names) if self.checkable(n)
                  and not (n in self.content and self.content[n].running)]
        if not wanted:
            if say_why:
                self.app.notify("nothing to check: a content diff needs the table on both sides", timeout=4)
            return 0
        if self._checks is None:
            self._checks_run += 1
            self._checks = ContentChecks(self._checks_run, left, right, self.diff_settings)
            self._checks_total = self._checks_done = 0
        for name in wanted:
            previous = self.content.get(name)
            self.content[name] = TableContent("queued", before=previous)
            self._show_content(name)
        self._checks_total += len(wanted)
        if self._checks.add(wanted):
            self._run_checks(self._checks)
        self.update_status()
        return len(wanted)

    def stop_content(self) -> bool:
        """Stop the content diffs under way; tables not finished show what they showed before."""
        checks, self._checks = self._checks, None
        if checks is not None:
            checks.cancel()
        stopped = [n for n, c in self.content.items() if c.running]
        for name in stopped:
            before = self.content[name].before
            if before is None:
                del self.content[name]
            else:
                self.content[name] = before
            self._show_content(name)
        if self.is_mounted:
            self.update_status()
        return bool(stopped)

    def reset_content(self) -> None:
        """A new pair: nothing known about its content yet (and no automatic check done)."""
        self.stop_content()
        self.content.clear()
        self._auto_done = False

    def forget_content(self) -> None:
        """A sync wrote into one side: what the diffs found no longer holds."""
        for name in [n for n, c in self.content.items() if not c.running]:
            del self.content[name]
            self._show_content(name)

    def maybe_auto_diff(self) -> None:
        """After the first load of a pair, once: tables under ``auto_diff_rows`` rows on both sides."""
        if self._auto_done or self.auto_diff_rows <= 0 or not all(s.loaded for s in self.sides.values()):
            return
        self._auto_done = True
        small = []
        for name, row in self.rows.items():
            left, right = row.left, row.right
            if left is None or right is None or not (left.key or right.key):
                continue
            estimates = (left.estimated_rows, right.estimated_rows)
            if all(e is not None and 0 <= e < self.auto_diff_rows for e in estimates):
                small.append(name)
        if small:
            self.check_content(sorted(small))

    # ------------------------------------------------------------------ the worker

    @work(thread=True, group="diff", exit_on_error=False)
    def _run_checks(self, checks: ContentChecks) -> None:
        """Runs in a thread: diff the queued tables one by one, posting progress and results."""
        run = checks.run_id
        try:
            checks.run(lambda name, fraction: self.post_message(ContentProgress(run, name, fraction)),
                       lambda name, result: self.post_message(ContentChecked(run, name, result)))
        finally:
            self.post_message(ContentChecksFinished(run, checks.cancelled))

    def _current_run(self, run: int) -> bool:
        return self._checks is not None and self._checks.run_id == run

    def on_content_progress(self, message: ContentProgress) -> None:
        if not self._current_run(message.run):
            return
        content = self.content.get(message.table)
        if content is None or not content.running:
            return
        content.stage, content.fraction = "checking", message.fraction
        self._show_content(message.table)

    def on_content_checked(self, message: ContentChecked) -> None:
        if not self._current_run(message.run):
            return
        result = message.result
        self.content[message.table] = TableContent("done", 1.0, result)
        self._checks_done += 1
        self._show_content(message.table)
        if result.status == "error":
            self.post_message(JobFailed("content diff", f"{message.table}: {result.error}"))
        self.update_status()

    def on_content_checks_finished(self, message: ContentChecksFinished) -> None:
        if self._current_run(message.run) and not self.diffing:
            self._checks_total = self._checks_done = 0
        self.update_status()

    def content_progress(self) -> tuple[int, int] | None:
        """(tables checked, tables asked) while diffs run, for the status line."""
        return (self._checks_done, self._checks_total) if self.diffing else None

    def _show_content(self, name: TableName) -> None:
        """Redraw one content cell, and tell the screens on top (the inspector of that table)."""
        if not self.is_mounted:
            return
        from dbconsole.tui.widgets.browser.grid import BrowserGrid

        grid = self.query_one(BrowserGrid)
        row = self.rows.get(name)
        if row is not None and row.key in grid.rows and "content" in self._columns:
            grid.update_cell(row.key, "content", self.content_cell_of(name))
        content: Any = self.content.get(name)
        for screen in self.app.screen_stack[1:]:
            screen.post_message(ContentUpdated(name, content))

    def content_cell_of(self, name: TableName) -> Any:
        width = self._layout.widths.get("content", 13) if self._layout is not None else 13
        return content_cell(self.content.get(name), width)
