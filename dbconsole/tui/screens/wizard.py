"""The sync wizard: direction → tables → options → dry run → confirm → run → summary.

A screen over one widget per step (:mod:`dbconsole.tui.widgets.sync`): each step knows how to
enter, what still blocks Next, and its part of the :class:`~dbconsole.sync.SyncRequest`; this
screen moves between them and owns the engine calls. Every engine call (plan, dry run, run)
happens in a thread worker; events stream back as messages, throttled so a fast sync cannot
flood the screen. A read-only target is refused at the first step, before anything connects; a
dry run that predicts a failure cannot be confirmed; ``escape`` (or ``ctrl+q``) during the run
asks, then sets the cancel event, and the engine stops at its next block with the checkpoint kept.

With create-missing ticked, the DDL comes first (:mod:`dbconsole.tui.widgets.sync.schema_step`):
the dry run shows it, the run creates the target's missing tables and then syncs them. A subset
(options step) syncs root rows and what they need; the dry run counts its rows per table.

Keys: ``enter`` goes on from Direction, Tables and Options, ``space`` toggles, ``escape`` goes
back, ``ctrl+n`` is Next / Run / Close everywhere (what the button says).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Button, ContentSwitcher, Footer, Header, Input, Static

from dbconsole.config import Config, Profile
from dbconsole.modes import DEFAULT_MODE, Mode
from dbconsole.names import TableName
from dbconsole.sync import SyncRequest
from dbconsole.reading import error_line
from dbconsole.tui.actions import bindings
from dbconsole.tui.messages import (
    CreateMissingPlanned, PlanReady, RunPlanned, SyncEvents, SyncFinished, SyncStateChanged)
from dbconsole.tui.widgets.sync import (
    STEPS, ConfirmStep, DirectionStep, OptionsStep, PreviewStep, RunStep, StepId, SummaryStep, TablesStep,
    WizardStep)
from dbconsole.tui.widgets.sync.throttle import EventThrottle, lower_thread_priority
from dbconsole.tui.widgets.sync.wording import console_wording, plural

__all__ = ["EventThrottle", "SyncWizard"]

NEXT_LABELS = {"confirm": "Run ^n", "run": "Running…", "summary": "Close ^n"}
# Which step each action means something on (the palette can reach every step's actions).
STEP_ACTIONS: dict[str, set[StepId]] = {
    "next": {"direction", "tables", "options", "preview"},
    "back": {"tables", "options", "preview", "confirm"},
    "start": {"confirm"},
    "close": {"summary"},
    "leave": {"direction", "summary"},
    "cancel_run": {"run"},
}


class SyncWizard(Screen[Any]):
    """Dismisses with the run's SyncSummary (or None when nothing ran)."""

    ACTION_SCOPE = "wizard"
    BINDINGS = bindings("wizard")

    def __init__(self, config: Config, left: Profile, right: Profile, marked: Sequence[TableName], *,
                 tables: Sequence[Any] = (), create_missing: bool = False, subset: str = "") -> None:
        """``create_missing`` / ``subset``: the options step starts with them (a marked table only on
        the source ticks create-missing by itself; the inspector's row starts a subset)."""
        super().__init__()
        self.config = config
        self.left = left
        self.right = right
        self.marked = list(marked)
        self.source, self.target = self._default_direction()
        pairs = [(right, left), (left, right)]
        choose = TablesStep(tables, self.marked, left.name, right.name, source=self.source.name)
        create_missing = create_missing or any(n in choose.source_only for n in self.marked)
        self.steps: dict[StepId, WizardStep] = {step.step_id: step for step in (
            DirectionStep(pairs, pairs.index((self.source, self.target))), choose,
            OptionsStep(config.sync, create_missing=create_missing, subset=subset), PreviewStep(), ConfirmStep(),
            RunStep(), SummaryStep())}
        self.create_step: Any = None  # create-missing's DDL, as the last plan or dry run saw it
        self.step: StepId = "direction"
        self.plan: Any = None
        self.plan_error: str | None = None
        self.plan_token = 0
        self.engine_calls = 0  # numbers each dry run / run, so a stale one's messages are dropped
        self.left_out: list[str] = []  # keyless tables the chosen mode cannot sync
        self.preview_after_plan = False  # "add the FK parents": dry-run again once re-planned
        self.cancel_event = threading.Event()
        self.running = False
        self.quit_when_stopped = False
        self.summary: Any = None
        self.run_error: str | None = None

    def _default_direction(self) -> tuple[Profile, Profile]:
        """Into the writable side: usually server → local."""
        if not self.left.read_only:
            return self.right, self.left
        if not self.right.read_only:
            return self.left, self.right
        return self.right, self.left

    # ------------------------------------------------------------------ what the tests and steps read

    @property
    def available(self) -> list[TableName]:
        return self.steps_tables.available

    @property
    def steps_tables(self) -> TablesStep:
        return self.steps["tables"]  # type: ignore[return-value]

    @property
    def options(self) -> OptionsStep:
        return self.steps["options"]  # type: ignore[return-value]

    @property
    def previewer(self) -> PreviewStep:
        return self.steps["preview"]  # type: ignore[return-value]

    @property
    def preview_done(self) -> bool:
        return self.previewer.done

    @property
    def preview_error(self) -> str | None:
        return self.previewer.error

    @property
    def preview_results(self) -> list[Any]:
        return self.previewer.results

    @property
    def run_record(self) -> Any:
        return self.steps["run"].record  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="wizard-steps")
        with ContentSwitcher(initial="direction", id="wizard-body"):
            yield from self.steps.values()
        with Horizontal(id="wizard-nav", classes="buttons"):
            yield Button("Back esc", id="nav-back", compact=True)
            yield Button("Next ^n", id="nav-next", variant="primary", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.update_title()
        self.show_step("direction")

    def update_title(self) -> None:
        """The title follows the selection (and the FK parents the plan adds)."""
        count = len(self.plan.tables) if self.plan is not None else len(self.steps_tables.selected())
        if self.plan is not None and self.create_step is not None and self.step != "run":
            count += len([t for t in self.create_step.left_out if t in self.create_step.outcome.plan.created_tables])
        self.title = f"Sync {plural(count, 'table')}"

    def show_step(self, step: StepId) -> None:
        self.step = step
        self.query_one(ContentSwitcher).current = step
        bar = Text(no_wrap=True, overflow="ellipsis")
        for index, name in enumerate(STEPS):
            if index:
                bar.append("›", style="dim")
            style = "bold reverse" if name == step else ("" if index < STEPS.index(step) else "dim")
            bar.append(f" {self.steps[name].title} ", style=style)
        self.query_one("#wizard-steps", Static).update(bar)
        back = self.query_one("#nav-back", Button)
        back.display = step not in ("direction", "summary")
        back.label = "Stop esc" if step == "run" else "Back esc"
        nxt = self.query_one("#nav-next", Button)
        nxt.label = NEXT_LABELS.get(step, "Next ^n")
        nxt.disabled = step == "run" or (step == "preview" and bool(self.previewer.failures))
        self.sub_title = f"{self.source.name} → {self.target.name}"
        self.refresh_bindings()
        self.steps[step].enter()

    # ------------------------------------------------------------------ navigation

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Keys that mean nothing on the current step leave the footer (and do nothing)."""
        if action == "next" and self.step == "preview":
            return not self.previewer.failures  # a predicted failure blocks Confirm
        if action in STEP_ACTIONS:
            return self.step in STEP_ACTIONS[action]
        if action == "add_parents":
            return (self.step == "preview" and self.previewer.parents_would_fix) or (
                self.step == "summary" and self.can_add_parents())
        if action == "retry":
            return self.step == "summary" and (self.run_error is not None or bool(
                self.summary is not None and self.summary.cancelled))
        return True

    def action_next(self) -> None:
        step = self.step
        blocker = self.steps[step].blocker()
        if blocker:
            if step in ("options", "preview"):
                self.notify(blocker, severity="warning")
            return
        if step == "direction":
            chosen = self.steps["direction"].contribute()
            pair = (chosen["source"], chosen["target"])
            if pair != (self.source, self.target):
                self.plan = None
            self.source, self.target = pair
        if step == "summary":
            self.dismiss(self.summary)
            return
        if step == "confirm":
            self._start_run()
            return
        self.show_step(STEPS[STEPS.index(step) + 1])

    action_start = action_next
    action_close = action_next

    def action_back(self) -> None:
        if self.step in STEP_ACTIONS["back"]:
            self.show_step(STEPS[STEPS.index(self.step) - 1])

    def action_leave(self) -> None:
        self.dismiss(self.summary)

    def action_cancel_run(self) -> None:
        self.steps["run"].ask_to_stop(quitting=False)  # type: ignore[attr-defined]

    def action_escape(self) -> None:
        """escape, whatever the step: back, close, or (while running) ask to cancel."""
        if self.step == "run":
            self.action_cancel_run()
        elif self.step in ("direction", "summary"):
            self.action_leave()
        else:
            self.action_back()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "nav-next":
            self.action_next()
        elif event.button.id == "nav-back":
            self.action_escape()

    @on(Input.Submitted)
    def _input_submitted(self, event: Input.Submitted) -> None:
        self.action_next()

    # ------------------------------------------------------------------ tables, options and plan

    def selection_changed(self) -> None:
        self.plan = None
        self.update_title()

    def mode(self) -> Mode | None:
        return self.options.mode()

    def mode_label(self) -> str:
        return self.mode() or f"mode {self.config.sync.mode or DEFAULT_MODE}"

    def modes(self) -> set[Mode]:
        return self.steps_tables.modes(self.request()) or {self.mode() or self.config.sync.mode or DEFAULT_MODE}

    def request(self, *, dry_run: bool = False) -> SyncRequest:
        """The steps' parts put together, minus the keyless tables the mode cannot sync."""
        request = SyncRequest(source=self.source, target=self.target, dry_run=dry_run, settings=self.config.sync,
                              **self.steps_tables.contribute(), **self.options.contribute())
        self.left_out = self.steps_tables.left_out(request)
        if self.left_out:
            request = replace(request, tables=tuple(t for t in request.tables if t not in self.left_out))
        return request

    def replan(self) -> None:
        self.plan = None
        self.plan_error = None  # the last plan's error is not this one's
        self.plan_token += 1
        request = self.request()
        if not request.tables:  # an empty list would mean "every table" to the engine
            self.plan_error = ("nothing to sync: " + ", ".join(self.left_out) + " has no key; choose mode "
                               "replace to sync it" if self.left_out else "choose at least one table")
            self.options.show_plan_error(self.plan_error)
            return
        problem = self.options.problem()
        if problem:
            self.plan_error = problem
            self.options.show_plan_error(problem)
            return
        self.options.show_planning()
        self._plan(self.plan_token, request)

    @work(thread=True, group="plan", exclusive=True, exit_on_error=False)
    def _plan(self, token: int, request: SyncRequest) -> None:
        try:
            from dbconsole.tui.widgets.sync.schema_step import plan_with_create

            plan, create = plan_with_create(request)
        except Exception as exc:
            self.post_message(PlanReady(token, None, error_line(exc)))
            return
        self.post_message(PlanReady(token, plan, None, create))

    def on_plan_ready(self, message: PlanReady) -> None:
        if message.token != self.plan_token:
            return
        if message.error:
            self.plan_error = message.error
            self.options.show_plan_error(message.error)
            self.preview_after_plan = False
            return
        plan = message.plan
        if plan.missing_parents and not self.options.parents_touched and not self.options.with_parents():
            self.options.tick_parents()  # the plan needs them: ticked by default
            self.replan()
            return
        self.plan = plan
        self.create_step = message.create
        self.update_title()
        self.options.show_plan(plan, self.left_out, message.create)
        if self.preview_after_plan and self.step == "options":
            self.preview_after_plan = False
            self.show_step("preview")

    def can_add_parents(self) -> bool:
        return (self.plan is not None and bool(self.plan.missing_parents) and not self.options.with_parents()
                and not self.running)

    def action_add_parents(self) -> None:
        """One key from a predicted (or real) FK failure: tick FK parents, re-plan, dry-run again."""
        self.options.tick_parents()
        self.options.parents_touched = True
        self.preview_after_plan = True
        self.summary = None
        self.run_error = None
        self.show_step("options")

    def action_retry(self) -> None:
        """Run the same sync again: batched tables resume from their checkpoints."""
        self.summary = None
        self.run_error = None
        self._start_run()

    # ------------------------------------------------------------------ dry run and run

    def start_dry_run(self) -> None:
        self.engine_calls += 1
        self._run_engine(self.request(dry_run=True), dry_run=True, run=self.engine_calls)

    def _start_run(self) -> None:
        self.cancel_event.clear()
        self.running = True
        self.quit_when_stopped = False
        self.show_step("run")
        self.post_message(SyncStateChanged((self.source.name, self.target.name), True))
        self.engine_calls += 1
        self._run_engine(self.request(), dry_run=False, run=self.engine_calls)

    def ask_quit(self) -> None:
        """ctrl+q while the run goes on: ask as escape does, then stop and quit."""
        self.steps["run"].ask_to_stop(quitting=True)  # type: ignore[attr-defined]

    def stop_run(self, *, quitting: bool) -> None:
        """The user said yes: stop at the next block (and quit once stopped, for ctrl+q)."""
        if not self.running:
            return
        self.quit_when_stopped = self.quit_when_stopped or quitting
        self.cancel_event.set()
        self.steps["run"].write("stopping… at the next block; committed batches are kept",  # type: ignore[attr-defined]
                                "yellow")
        self.query_one("#nav-next", Button).label = "Stopping…"
        self.sub_title = "stopping…"
        if quitting:
            self.notify("stopping… the console quits once the sync has stopped", timeout=30)

    @work(thread=True, group="sync", exclusive=True, exit_on_error=False)
    def _run_engine(self, request: SyncRequest, dry_run: bool, run: int) -> None:
        """The engine in a thread; its events come back in throttled batches."""
        throttle = EventThrottle(lambda events: self.post_message(SyncEvents(dry_run, events, run)))
        lower_thread_priority()
        try:
            from dbconsole.tui.widgets.sync.schema_step import run_with_create

            summary = run_with_create(request, throttle, None if dry_run else self.cancel_event,
                                      on_create=lambda step: self.post_message(CreateMissingPlanned(run, step)),
                                      on_plan=lambda plan: self.post_message(RunPlanned(run, plan)))
        except Exception as exc:
            throttle.flush()
            self.post_message(SyncFinished(dry_run, None, error_line(exc), run))
            return
        throttle.flush()
        self.post_message(SyncFinished(dry_run, summary, None, run))

    def on_create_missing_planned(self, message: CreateMissingPlanned) -> None:
        if message.run == self.engine_calls:
            self.create_step = message.step
            self.previewer.show_ddl(message.step)

    def on_run_planned(self, message: RunPlanned) -> None:
        if message.run == self.engine_calls:
            self.plan = message.plan  # the new tables are in it now: progress and summary list them
            self.update_title()

    async def on_sync_events(self, message: SyncEvents) -> None:
        if message.run != self.engine_calls:
            return  # a dry run the user walked away from (back, then forward again)
        if message.dry_run:
            for event in message.events:
                self.previewer.engine_event(event)
            return
        await self.steps["run"].engine_events(message.events)  # type: ignore[attr-defined]

    def on_sync_finished(self, message: SyncFinished) -> None:
        if message.dry_run and message.run != self.engine_calls:
            return
        if message.dry_run:
            self.previewer.finished(message.summary, message.error)
            self.query_one("#nav-next", Button).disabled = bool(self.previewer.failures)
            self.refresh_bindings()
            return
        self.running = False
        self.summary = message.summary
        self.run_error = message.error
        self.post_message(SyncStateChanged((self.source.name, self.target.name), False))
        if self.quit_when_stopped:
            self.app.call_later(self.app.quit_now)  # type: ignore[attr-defined]
            return
        if message.error:
            error = console_wording(message.error)
            self.steps["run"].write(f"failed: {error}", "red")  # type: ignore[attr-defined]
            self.app.notify(error, title="sync failed", severity="error", timeout=10)
        self.show_step("summary")
