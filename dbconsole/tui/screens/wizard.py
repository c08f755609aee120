"""The sync wizard: direction → tables → options → dry-run preview → confirm → run → summary.

It collects a :class:`~dbconsole.sync.SyncRequest` step by step and hands it to the same engine
the CLI uses. Every engine call (plan, dry run, run) happens in a thread worker; events stream
back as messages, throttled so a fast sync cannot flood the screen. A read-only target is
refused at the first step, before anything connects; ``escape`` during the run asks, then sets
the cancel event, and the engine stops at its next block with the checkpoint kept.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import (
    Button,
    Checkbox,
    ContentSwitcher,
    DataTable,
    Footer,
    Header,
    Input,
    Label,
    RadioButton,
    RadioSet,
    RichLog,
    SelectionList,
    Select,
    Static,
)

from dbconsole.config import Config, Profile
from dbconsole.format import format_count, format_duration
from dbconsole.names import TableName
from dbconsole.sync import SyncRequest
from dbconsole.tui.actions import bindings
from dbconsole.tui.jobs import error_line
from dbconsole.tui.messages import PlanReady, SyncEvents, SyncFinished, SyncStateChanged
from dbconsole.tui.widgets.sync import RunProgress

STEPS = ("direction", "tables", "options", "preview", "confirm", "run", "summary")
STEP_TITLES = {"direction": "Direction", "tables": "Tables", "options": "Options", "preview": "Dry run",
               "confirm": "Confirm", "run": "Run", "summary": "Summary"}
MODES = ("upsert", "replace", "incremental", "xmin")
EVENT_FLUSH_SECONDS = 0.1


def lower_thread_priority(niceness: int = 10) -> None:
    """Let the screen win the CPU over the engine thread (and the threads it starts).

    On a small machine the sync's threads and both PostgreSQL backends keep every core busy;
    keys then wait for CPU time. Linux schedules each thread on its own, so the worker thread
    is niced; threads it creates inherit that. Elsewhere this is a no-op.
    """
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)
    except (AttributeError, OSError):
        pass


def plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


class EventThrottle:
    """Collects engine events in the worker thread and hands them over a few times a second.

    Progress events of the same table replace each other while waiting; every other event is
    kept and forces a flush, so the screen sees each table start and finish at once.
    """

    def __init__(self, post: Any, interval: float = EVENT_FLUSH_SECONDS) -> None:
        self.post = post
        self.interval = interval
        self.pending: list[Any] = []
        self.last = time.monotonic()
        self.lock = threading.Lock()

    def __call__(self, event: Any) -> None:
        with self.lock:
            if getattr(event, "event", "") == "progress":
                self.pending = [e for e in self.pending
                                if not (getattr(e, "event", "") == "progress" and e.table == event.table)]
                self.pending.append(event)
                if time.monotonic() - self.last < self.interval:
                    return
            else:
                self.pending.append(event)
            self._flush()

    def _flush(self) -> None:
        if self.pending:
            events, self.pending = self.pending, []
            self.last = time.monotonic()
            self.post(events)

    def flush(self) -> None:
        with self.lock:
            self._flush()


class SyncWizard(Screen[Any]):
    """Dismisses with the run's SyncSummary (or None when nothing ran)."""

    ACTION_SCOPE = "wizard"
    BINDINGS = bindings("wizard")

    def __init__(self, config: Config, left: Profile, right: Profile, marked: Sequence[TableName], *,
                 tables: Sequence[Any] = ()) -> None:
        super().__init__()
        self.config = config
        self.left = left
        self.right = right
        self.marked = list(marked)
        # Only tables on both sides can be synced; the browser rows tell which.
        both = [r.name for r in tables if getattr(r, "left", None) is not None and getattr(r, "right", None) is not None]
        self.available = sorted(set(both) | set(self.marked))
        self.step = "direction"
        self.source, self.target = self._default_direction()
        self.plan: Any = None
        self.plan_error: str | None = None
        self.plan_token = 0
        self.preview: list[Any] = []
        self.preview_error: str | None = None
        self.preview_warnings: list[str] = []
        self.preview_done = False
        self.cancel_event = threading.Event()
        self.running = False
        self.summary: Any = None
        self.run_error: str | None = None

    def _default_direction(self) -> tuple[Profile, Profile]:
        """Into the writable side: usually server → local."""
        if self.left.read_only and not self.right.read_only:
            return self.right, self.left  # pragma: no cover - unusual pair
        if not self.left.read_only:
            return self.right, self.left
        if not self.right.read_only:
            return self.left, self.right
        return self.right, self.left

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="wizard-steps")
        with ContentSwitcher(initial="direction", id="wizard-body"):
            with Vertical(id="direction", classes="step"):
                yield Static("Which way do rows go? The target is written; the source is only read.",
                             classes="step-intro")
                with RadioSet(id="direction-set"):
                    for source, target in ((self.right, self.left), (self.left, self.right)):
                        label = Text(f"{source.name}  →  {target.name}")
                        if target.read_only:
                            label.append("   (target is read-only: refused)", style="red")
                        yield RadioButton(label, value=(source, target) == (self.source, self.target))
                yield Static("", classes="step-error", id="direction-error")
            with Vertical(id="tables", classes="step"):
                yield Static("", classes="step-intro", id="tables-intro")
                yield SelectionList[str](
                    *[(str(n), str(n), n in self.marked) for n in self.available], id="table-choice")
                yield Static("", classes="step-error", id="tables-error")
            with Vertical(id="options", classes="step"):
                with Grid(id="options-grid"):
                    yield Label("Mode")
                    yield Select([(f"{m}", m) for m in MODES], prompt="from config (upsert)", id="opt-mode",
                                 compact=True)
                    yield Label("Where")
                    yield Input(placeholder="filter on the source, e.g. created_at > now() - interval '7 days'",
                                id="opt-where", compact=True)
                    yield Label("Batch size")
                    yield Input(placeholder=str(self.config.sync.batch_size or "engine default"), id="opt-batch",
                                type="integer", compact=True)
                    yield Label("FK parents")
                    yield Checkbox("also sync parent tables the selection needs", False, id="opt-parents",
                                   compact=True)
                yield Static("", id="plan-status", classes="step-intro")
                yield DataTable(id="plan-table", zebra_stripes=True, cursor_type="row")
            with Vertical(id="preview", classes="step"):
                yield Static("", id="preview-status", classes="step-intro")
                yield DataTable(id="preview-table", zebra_stripes=True, cursor_type="row")
            with Vertical(id="confirm", classes="step"):
                yield Static("", id="confirm-text", classes="step-intro")
                yield Input(placeholder="", id="confirm-input")
                yield Static("", classes="step-error", id="confirm-error")
            with Vertical(id="run", classes="step"):
                yield RunProgress(id="run-progress")
                yield RichLog(id="run-log", wrap=True, markup=False, max_lines=2000)
            with Vertical(id="summary", classes="step"):
                yield Static("", id="summary-text", classes="step-intro")
                yield DataTable(id="summary-table", zebra_stripes=True, cursor_type="row")
        with Horizontal(id="wizard-nav", classes="buttons"):
            yield Button("Back ^b", id="nav-back", compact=True)
            yield Button("Next ^n", id="nav-next", variant="primary", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.title = f"Sync {plural(len(self.marked), 'table')}"
        self.query_one("#run-log", RichLog).border_title = "Events"
        self.show_step("direction")

    # ------------------------------------------------------------------ steps

    def show_step(self, step: str) -> None:
        self.step = step
        self.query_one(ContentSwitcher).current = step
        bar = Text(no_wrap=True, overflow="ellipsis")
        for index, name in enumerate(STEPS, 1):
            if index > 1:
                bar.append("›", style="dim")
            style = "bold reverse" if name == step else ("" if STEPS.index(name) < STEPS.index(step) else "dim")
            bar.append(f" {STEP_TITLES[name]} ", style=style)
        self.query_one("#wizard-steps", Static).update(bar)
        back = self.query_one("#nav-back", Button)
        nxt = self.query_one("#nav-next", Button)
        back.disabled = step in ("direction", "run", "summary")
        nxt.label = {"confirm": "Run ^n", "run": "Running…", "summary": "Close ^n"}.get(step, "Next ^n")
        nxt.disabled = step == "run"
        self.sub_title = f"{self.source.name} → {self.target.name}"
        self.refresh_bindings()
        getattr(self, f"_enter_{step}")()

    def _enter_direction(self) -> None:
        self.query_one("#direction-set", RadioSet).focus()

    def _enter_tables(self) -> None:
        self._update_tables_intro()
        self.query_one("#table-choice", SelectionList).focus()

    def _enter_options(self) -> None:
        self.query_one("#opt-mode", Select).focus()
        self.replan()

    def _enter_preview(self) -> None:
        self.preview = []
        self.preview_warnings = []
        self.preview_done = False
        self.preview_error = None
        table = self.query_one("#preview-table", DataTable)
        table.clear(columns=True)
        for label in ("table", "would insert", "would update", "unchanged", "would delete", "time"):
            table.add_column(Text(label, justify="right") if label != "table" else label, key=label)
        self.query_one("#preview-status", Static).update(Text("dry run: reading both sides, writing nothing…",
                                                              style="yellow"))
        table.focus()
        self._run_engine(self.request(dry_run=True), dry_run=True)

    def _enter_confirm(self) -> None:
        request = self.request()
        totals = [sum(getattr(t, k) for t in self.preview) for k in ("inserted", "updated", "unchanged", "deleted")]
        text = Text()
        text.append(f"Sync {plural(len(self.plan.tables) if self.plan else 0, 'table')} from ")
        text.append(self.source.name, style="bold")
        text.append(" into ")
        text.append(self.target.name, style="bold")
        text.append(f" ({self.mode_label()}).\n")
        text.append(f"The dry run would insert {totals[0]:,}, update {totals[1]:,} and leave {totals[2]:,} "
                    f"rows unchanged" + (f", delete {totals[3]:,}" if totals[3] else "") + ".\n\n")
        box = self.query_one("#confirm-input", Input)
        if request.needs_confirmation:
            why = "the mode is replace" if "replace" in self._modes() else f"{self.target.name} is not a local database"
            text.append(f"Because {why}, type the target's name ", style="yellow")
            text.append(self.target.name, style="bold yellow")
            text.append(" to confirm, then press Enter.", style="yellow")
            box.display = True
            box.placeholder = self.target.name
            box.value = ""
            box.focus()
        else:
            text.append("Press ctrl+n (or Run) to start. escape goes back.")
            box.display = False
            self.query_one("#nav-next", Button).focus()
        self.query_one("#confirm-text", Static).update(text)
        self.query_one("#confirm-error", Static).update("")

    def _enter_run(self) -> None:
        self.query_one("#run-log", RichLog).focus()
        self.cancel_event.clear()
        self.running = True
        self.post_message(SyncStateChanged((self.source.name, self.target.name), True))
        self._run_engine(self.request(), dry_run=False)

    def _enter_summary(self) -> None:
        summary = self.summary
        text = Text()
        if self.run_error:
            text.append(f"The sync stopped: {self.run_error}\n", style="red")
            text.append("Committed batches are kept; run it again to resume.\n", style="dim")
        if summary is not None:
            if summary.cancelled:
                text.append("Cancelled. Committed batches are kept; running again resumes.\n", style="yellow")
            else:
                text.append("Done.\n", style="green bold")
            text.append(f"inserted {summary.inserted:,} · updated {summary.updated:,} · unchanged "
                        f"{summary.unchanged:,}" + (f" · deleted {summary.deleted:,}" if summary.deleted else "")
                        + f" · {format_duration(summary.seconds)}")
        self.query_one("#summary-text", Static).update(text)
        table = self.query_one("#summary-table", DataTable)
        table.clear(columns=True)
        for label in ("table", "inserted", "updated", "unchanged", "deleted", "time"):
            table.add_column(Text(label, justify="right") if label != "table" else label, key=label)
        for done in (summary.tables if summary is not None else []):
            table.add_row(*self._done_cells(done))
        self.query_one("#nav-next", Button).focus()

    # ------------------------------------------------------------------ navigation

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Keys that mean nothing on the current step leave the footer (and do nothing)."""
        if action == "next" and self.step == "run":
            return False
        if action == "back" and self.step in ("direction", "run", "summary"):
            return False
        return True

    def action_next(self) -> None:
        step = self.step
        if step == "direction":
            if self._choose_direction():
                self.show_step("tables")
        elif step == "tables":
            if not self.selected_tables():
                self.query_one("#tables-error", Static).update("choose at least one table (space toggles)")
                return
            self.show_step("options")
        elif step == "options":
            if self.plan is None:
                self.notify(self.plan_error or "the plan is not ready yet", severity="warning")
                return
            self.show_step("preview")
        elif step == "preview":
            if not self.preview_done:
                self.notify(self.preview_error or "the dry run is still running", severity="warning")
                return
            self.show_step("confirm")
        elif step == "confirm":
            if self.request().needs_confirmation:
                typed = self.query_one("#confirm-input", Input).value.strip()
                if typed != self.target.name:
                    self.query_one("#confirm-error", Static).update(
                        f"type {self.target.name} exactly to confirm" if typed else "")
                    return
            self.show_step("run")
        elif step == "summary":
            self.dismiss(self.summary)

    def action_back(self) -> None:
        if self.step in ("direction", "run", "summary"):
            return
        self.show_step(STEPS[STEPS.index(self.step) - 1])

    def action_escape(self) -> None:
        if self.step == "run":
            self._ask_cancel()
        elif self.step in ("direction", "summary"):
            self.dismiss(self.summary)
        else:
            self.action_back()

    def _ask_cancel(self) -> None:
        from dbconsole.tui.screens.confirm import ConfirmScreen

        if not self.running or self.cancel_event.is_set():
            return

        def answered(yes: bool | None) -> None:
            if yes and self.running:
                self.cancel_event.set()
                self.query_one("#run-log", RichLog).write(
                    Text("cancelling at the next block; committed batches are kept…", style="yellow"))

        self.app.push_screen(ConfirmScreen("Cancel the running sync? It stops at the next block; "
                                           "committed batches are kept and a new run resumes.",
                                           yes="Cancel sync", no="Keep going"), answered)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "nav-next":
            self.action_next()
        elif event.button.id == "nav-back":
            self.action_back()

    @on(Input.Submitted)
    def _input_submitted(self, event: Input.Submitted) -> None:
        self.action_next()

    # ------------------------------------------------------------------ direction and tables

    def _choose_direction(self) -> bool:
        radio = self.query_one("#direction-set", RadioSet)
        index = radio.pressed_index if radio.pressed_index >= 0 else 0
        source, target = [(self.right, self.left), (self.left, self.right)][index]
        error = self.query_one("#direction-error", Static)
        if target.read_only:
            error.update(f"{target.name} is read-only: a sync never writes to it. Choose the other direction, "
                         f"or edit the profile if it really is a scratch database.")
            return False
        error.update("")
        if (source, target) != (self.source, self.target):
            self.plan = None
        self.source, self.target = source, target
        return True

    def selected_tables(self) -> list[str]:
        return list(self.query_one("#table-choice", SelectionList).selected)

    @on(SelectionList.SelectedChanged, "#table-choice")
    def _tables_changed(self) -> None:
        self.plan = None
        self._update_tables_intro()

    def _update_tables_intro(self) -> None:
        count = len(self.selected_tables())
        self.query_one("#tables-intro", Static).update(
            f"{count} of {len(self.available)} tables selected (present on both sides). "
            "space toggles; FK parents are offered on the next step.")
        if count:
            self.query_one("#tables-error", Static).update("")

    # ------------------------------------------------------------------ options and plan

    def mode(self) -> str | None:
        value = self.query_one("#opt-mode", Select).value
        return value if isinstance(value, str) else None

    def mode_label(self) -> str:
        return self.mode() or f"mode {self.config.sync.mode or 'upsert'}"

    def _modes(self) -> set[str]:
        if self.mode():
            return {self.mode() or ""}
        return {r.mode for r in self.config.sync.tables.values() if r.mode} | {self.config.sync.mode or "upsert"}

    def request(self, *, dry_run: bool = False) -> SyncRequest:
        where = self.query_one("#opt-where", Input).value.strip() or None
        batch = self.query_one("#opt-batch", Input).value.strip()
        return SyncRequest(
            source=self.source, target=self.target, tables=tuple(self.selected_tables()), mode=self.mode(),
            where=where, with_parents=self.query_one("#opt-parents", Checkbox).value,
            batch_size=int(batch) if batch.isdigit() and int(batch) > 0 else None, dry_run=dry_run,
            settings=self.config.sync)

    @on(Select.Changed, "#opt-mode")
    @on(Checkbox.Changed, "#opt-parents")
    @on(Input.Changed, "#opt-where, #opt-batch")
    def _options_changed(self) -> None:
        if self.step == "options":
            self.replan()

    def replan(self) -> None:
        self.plan = None
        self.plan_error = None  # the last plan's error is not this one's
        self.plan_token += 1
        self.query_one("#plan-status", Static).update(Text("planning…", style="yellow"))
        self._plan(self.plan_token, self.request())

    @work(thread=True, group="plan", exclusive=True, exit_on_error=False)
    def _plan(self, token: int, request: SyncRequest) -> None:
        try:
            from dbconsole.sync.engine import plan_sync

            plan = plan_sync(request)
        except Exception as exc:
            self.post_message(PlanReady(token, None, error_line(exc)))
            return
        self.post_message(PlanReady(token, plan, None))

    def on_plan_ready(self, message: PlanReady) -> None:
        if message.token != self.plan_token:
            return
        self.plan = message.plan
        self.plan_error = message.error
        status = self.query_one("#plan-status", Static)
        table = self.query_one("#plan-table", DataTable)
        table.clear(columns=True)
        if message.error:
            status.update(Text(message.error, style="red"))
            return
        plan = message.plan
        self.title = f"Sync {plural(len(plan.tables), 'table')}"  # FK parents may have joined
        text = Text()
        text.append(f"{plural(len(plan.tables), 'table')} in FK order, parents first.", style="green")
        if plan.missing_parents:
            parents = sorted({str(p.parent) for p in plan.missing_parents})
            text.append(f"\nNot selected but referenced: {', '.join(parents)}", style="yellow")
            text.append(" — tick 'FK parents' to sync them too (rows the target lacks would fail the child).",
                        style="yellow")
        for name, reason in plan.skipped:
            text.append(f"\nskipped {name}: {reason}", style="dim")
        for warning in plan.warnings:
            text.append(f"\n{warning}", style="dim")
        status.update(text)
        for label in ("table", "mode", "est. rows", "key", "batch", "masks"):
            table.add_column(label, key=label)
        for tp in plan.tables:
            masks = ", ".join(f"{c}:{r}" for c, r in tp.masks.items()) or "-"
            table.add_row(str(tp.name), tp.mode, Text(format_count(tp.source.estimated_rows), justify="right"),
                          ", ".join(tp.key) if tp.key else "-", f"{tp.batch_size:,}", masks)

    # ------------------------------------------------------------------ dry run and run

    @work(thread=True, group="sync", exclusive=True, exit_on_error=False)
    def _run_engine(self, request: SyncRequest, dry_run: bool) -> None:
        """The engine in a thread; its events come back in throttled batches."""
        throttle = EventThrottle(lambda events: self.post_message(SyncEvents(dry_run, events)))
        lower_thread_priority()
        try:
            from dbconsole.sync.engine import run_sync

            summary = run_sync(request, on_event=throttle, cancel=None if dry_run else self.cancel_event)
        except Exception as exc:
            throttle.flush()
            self.post_message(SyncFinished(dry_run, None, error_line(exc)))
            return
        throttle.flush()
        self.post_message(SyncFinished(dry_run, summary, None))

    async def on_sync_events(self, message: SyncEvents) -> None:
        if message.dry_run:
            for event in message.events:
                if event.event == "table_done":
                    self.preview.append(event)
                    self.query_one("#preview-table", DataTable).add_row(*self._done_cells(event))
                elif event.event == "table_start":
                    self.query_one("#preview-status", Static).update(
                        Text(f"dry run: {event.table}…", style="yellow"))
                elif event.event == "notice" and event.kind == "warning":
                    self.preview_warnings.append(f"{event.table}: {event.message}" if event.table else event.message)
            return
        progress = self.query_one(RunProgress)
        log = self.query_one("#run-log", RichLog)
        for event in message.events:
            kind = event.event
            if kind == "plan":
                await progress.plan([(t.table, t.estimated_rows) for t in event.tables])
                log.write(Text(f"plan: {len(event.tables)} tables, {event.source} → {event.target}", style="dim"))
                for warning in event.warnings:
                    log.write(Text(f"warning: {warning}", style="yellow"))
            elif kind == "table_start":
                progress.table_start(event.table, event.estimated_rows, event.resume_rows)
                resumed = f" (resuming after {event.resume_rows:,} rows)" if event.resume_rows else ""
                log.write(Text(f"{event.table}: {event.mode}{resumed}"))
            elif kind == "progress":
                progress.progress(event.table, event.rows, event.rows_per_s, event.eta_s, event.estimated_rows)
            elif kind == "table_done":
                progress.table_done(event.table, event.inserted, event.updated, event.unchanged, event.deleted,
                                    event.seconds)
                log.write(Text(f"{event.table}: +{event.inserted:,} inserted, {event.updated:,} updated, "
                               f"{event.unchanged:,} unchanged" + (f", {event.deleted:,} deleted" if event.deleted else "")
                               + f" in {format_duration(event.seconds)}", style="green"))
            elif kind == "error":
                log.write(Text(f"error{' in ' + event.table if event.table else ''}: {event.message}", style="red"))
            elif kind == "notice":
                log.write(Text(f"{event.table + ': ' if event.table else ''}{event.message}",
                               style="yellow" if event.kind in ("warning", "retry") else "dim"))
            elif kind == "done":
                state = "cancelled" if event.cancelled else "done"
                log.write(Text(f"{state}: {event.inserted:,} inserted, {event.updated:,} updated, "
                               f"{event.unchanged:,} unchanged in {format_duration(event.seconds)}", style="bold"))

    def on_sync_finished(self, message: SyncFinished) -> None:
        if message.dry_run:
            status = self.query_one("#preview-status", Static)
            if message.error:
                self.preview_error = message.error
                status.update(Text(f"dry run failed: {message.error}", style="red"))
                return
            self.preview_done = True
            summary = message.summary
            text = Text(f"dry run done in {format_duration(summary.seconds)}: nothing was written. "
                        f"Would insert {summary.inserted:,}, update {summary.updated:,}; "
                        f"{summary.unchanged:,} unchanged. ctrl+n to continue.", style="green")
            for warning in self.preview_warnings:  # e.g. rows whose FK parents the target lacks
                text.append(f"\n⚠ {warning}", style="yellow")
            status.update(text)
            if not self.preview and summary.tables:
                for done in summary.tables:
                    self.preview.append(done)
                    self.query_one("#preview-table", DataTable).add_row(*self._done_cells(done))
            return
        self.running = False
        self.summary = message.summary
        self.run_error = message.error
        self.post_message(SyncStateChanged((self.source.name, self.target.name), False))
        if message.error:
            self.query_one("#run-log", RichLog).write(Text(f"failed: {message.error}", style="red"))
            self.app.notify(message.error, title="sync failed", severity="error", timeout=10)
        self.show_step("summary")

    @staticmethod
    def _done_cells(done: Any) -> list[Any]:
        return [done.table] + [Text(f"{getattr(done, k):,}", justify="right")
                               for k in ("inserted", "updated", "unchanged", "deleted")] + [
            Text(format_duration(done.seconds), justify="right")]
