"""Step 3: mode and options, and the plan they give (asked of the engine as they change).

FK parents the plan needs are ticked by default (until the user unticks them), so the common
case of a child table whose parents are behind does not fail later. Each mode is explained in
one line; the plan shows every table's mode, rows, key and ``where``. The create-missing and
subset fields are :mod:`.more_options`.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Grid
from textual.widgets import Checkbox, DataTable, Input, Label, Select, Static

from dbconsole.config import SyncSettings
from dbconsole.format import format_count
from dbconsole.jobs import JOBS_HELP, JobsSetting, parse_jobs
from dbconsole.modes import DEFAULT_MODE, DEFAULT_STRATEGY, STRATEGIES, SYNC_MODES, Mode, Strategy
from dbconsole.tui.widgets.sync import columns as grid_columns
from dbconsole.tui.widgets.sync.columns import GridColumn
from dbconsole.tui.widgets.sync import more_options
from dbconsole.tui.widgets.sync.step import WizardStep
from dbconsole.tui.widgets.sync.toggles import ModeSelect, TickBox
from dbconsole.tui.widgets.sync.wording import MODE_HELP, console_wording, plural

PLAN_COLUMNS = (
    GridColumn("mode", "mode", 11, priority=90),
    GridColumn("rows", "est. rows", 9, priority=80, right=True),
    GridColumn("where", "where", 22, priority=70),
    GridColumn("key", "key", 14, priority=30),
    GridColumn("batch", "batch", 8, priority=20, right=True),
    GridColumn("masks", "masks", 16, priority=10),
)
FIELDS = ("opt-mode", "opt-strategy", "opt-where", "opt-batch", "opt-jobs", "opt-parents", *more_options.MORE_FIELDS)
STRATEGY_HELP: dict[Strategy, str] = {
    "auto": "per table: diff when the target already holds most rows",
    "diff": "read only the rows whose checksums differ",
    "copy": "read every row",
}


class OptionsStep(WizardStep):
    step_id = "options"
    title = "Options"

    def __init__(self, settings: SyncSettings, *, create_missing: bool = False, subset: str = "") -> None:
        super().__init__()
        self.settings = settings
        self.parents_touched = False  # the user ticked or unticked FK parents: never overridden
        self.create_touched = False  # likewise for create-missing
        self.initial_create, self.initial_subset = create_missing, subset

    def compose(self) -> ComposeResult:
        config_mode = self.settings.mode or DEFAULT_MODE
        with Grid(id="options-grid"):
            yield Label("  Mode", id="label-opt-mode")
            yield ModeSelect([(f"{m} — {MODE_HELP[m]}", m) for m in SYNC_MODES], prompt=f"from config ({config_mode})",
                             id="opt-mode", compact=True)
            yield Label("  Strategy", id="label-opt-strategy")
            yield Select([(f"{s} — {STRATEGY_HELP[s]}", s) for s in STRATEGIES],
                         prompt=f"from config ({self.settings.strategy or DEFAULT_STRATEGY})", id="opt-strategy",
                         compact=True)
            yield Label("  Where", id="label-opt-where")
            yield Input(placeholder="filter on the source, e.g. created_at > now() - interval '7 days'",
                        id="opt-where", compact=True)
            yield Label("  Batch size", id="label-opt-batch")
            yield Input(placeholder=str(self.settings.batch_size or "engine default"), id="opt-batch",
                        type="integer", compact=True)
            yield Label("  Jobs", id="label-opt-jobs")
            yield Input(placeholder=f"{self.settings.jobs or 1} (workers in one snapshot; a number or auto)",
                        id="opt-jobs", compact=True, restrict=r"[0-9]*|a(u(t(o)?)?)?")
            yield Label("  FK parents", id="label-opt-parents")
            yield TickBox("also sync parent tables the selection needs", False, id="opt-parents", compact=True)
            yield from more_options.more_fields(self.settings.subsets, create_missing=self.initial_create,
                                                subset=self.initial_subset)
        yield Static("", id="mode-help", classes="step-note")
        yield Static("", id="plan-status", classes="step-intro")
        yield DataTable(id="plan-table", zebra_stripes=True, cursor_type="row", classes="step-list")

    def on_mount(self) -> None:
        self._explain_mode()

    def enter(self) -> None:
        if self.wizard.steps_tables.needs_create() and not self.create_touched:
            more_options.tick_create_missing(self)  # a chosen table is only on the source
        self.query_one(ModeSelect).focus()
        self.wizard.replan()

    # -- the fields ---------------------------------------------------------

    def mode(self) -> Mode | None:
        value = self.query_one(ModeSelect).value
        return next((m for m in SYNC_MODES if m == value), None)

    def strategy(self) -> Strategy | None:
        value = self.query_one("#opt-strategy", Select).value
        return next((s for s in STRATEGIES if s == value), None)

    def with_parents(self) -> bool:
        return self.query_one(TickBox).value

    def tick_parents(self) -> None:
        """Tick FK parents on the user's behalf (the plan needs them, or the user pressed p)."""
        box = self.query_one(TickBox)
        with box.prevent(Checkbox.Changed):
            box.value = True

    def blocker(self) -> str | None:
        typed = self.query_one("#opt-jobs", Input).value.strip()
        if typed and parse_jobs(typed) is None:
            return f"jobs must be {JOBS_HELP}"
        if self.wizard.plan is not None:
            return None
        return console_wording(self.wizard.plan_error or "the plan is not ready yet")

    def contribute(self) -> dict[str, Any]:
        where = self.query_one("#opt-where", Input).value.strip() or None
        batch = self.query_one("#opt-batch", Input).value.strip()
        return {"mode": self.mode(), "strategy": self.strategy(), "where": where, "with_parents": self.with_parents(),
                "batch_size": int(batch) if batch.isdigit() and int(batch) > 0 else None, "jobs": self.jobs(),
                **more_options.more_contribute(self, self.settings.subsets)}

    def jobs(self) -> JobsSetting | None:
        """The jobs typed (None: from the config); a value out of range counts as not typed."""
        return parse_jobs(self.query_one("#opt-jobs", Input).value.strip() or None)

    def problem(self) -> str | None:
        """What the fields say is wrong before anything is planned (a bad subset, say)."""
        new = self.wizard.steps_tables.created(self.wizard.request())
        if new and not more_options.create_missing_ticked(self):
            return (f"{', '.join(new)} exists only on {self.wizard.source.name}: tick Create (create-missing) to "
                    f"create it on {self.wizard.target.name} first, or untick it on the Tables step")
        return more_options.subset_problem(more_options.subset_text(self), self.settings.subsets, self.mode(),
                                           self.settings.mode or DEFAULT_MODE)

    @on(Select.Changed, "#opt-mode")
    @on(Select.Changed, "#opt-strategy")
    @on(Checkbox.Changed, "#opt-parents, #opt-create")
    @on(Input.Changed, "#opt-where, #opt-batch, #opt-subset")
    def _changed(self, event: Any) -> None:
        if isinstance(event, Checkbox.Changed):
            if event.checkbox.id == "opt-create":
                self.create_touched = True
            else:
                self.parents_touched = True
        self._explain_mode()
        if self.wizard.step == "options":
            self.wizard.replan()

    def _explain_mode(self) -> None:
        mode = self.mode()
        text = (f"{mode}: {MODE_HELP[mode]}" if mode else
                f"each table's mode from the config (default {self.settings.mode or 'upsert'}); "
                "space opens the list")
        self.query_one("#mode-help", Static).update(Text(text, style="dim"))

    def on_descendant_focus(self, event: Any) -> None:
        self._mark_focus()

    def on_descendant_blur(self, event: Any) -> None:
        self.call_after_refresh(self._mark_focus)

    def _mark_focus(self) -> None:
        """The focused field's label gets a ``›``: focus that reads without colour."""
        focused = self.app.focused
        for field in FIELDS:
            label = self.query_one(f"#label-{field}", Label)
            name = str(label.render()).strip().lstrip("› ").strip()
            on_field = focused is not None and (focused.id == field or any(
                a.id == field for a in focused.ancestors_with_self))
            label.update(Text(f"› {name}", style="bold") if on_field else f"  {name}")

    # -- the plan -------------------------------------------------------------

    def show_planning(self) -> None:
        self.query_one("#plan-status", Static).update(Text("planning…", style="yellow"))
        self.query_one("#plan-table", DataTable).clear(columns=True)

    def show_plan_error(self, message: str) -> None:
        self.query_one("#plan-status", Static).update(Text(console_wording(message), style="red"))
        self.query_one("#plan-table", DataTable).clear(columns=True)

    def show_plan(self, plan: Any, left_out: list[str], create: Any = None) -> None:
        text = Text()
        text.append(f"{plural(len(plan.tables), 'table')} in FK order, parents first.", style="green")
        if plan.missing_parents:
            parents = sorted({str(p.parent) for p in plan.missing_parents})
            text.append(f"\nNot selected but referenced: {', '.join(parents)}", style="yellow")
            text.append(" — tick FK parents to sync them too (rows the target lacks would stop the child).",
                        style="yellow")
        chosen = set(self.wizard.steps_tables.selected())
        added = [str(t.name) for t in plan.tables if str(t.name) not in chosen]
        if added:
            text.append(f"\nFK parents added: {', '.join(added)} (untick FK parents to leave them out)", style="dim")
        for name in left_out:
            text.append(f"\nskipped {name}: no key, so only mode replace can sync it", style="yellow")
        for name, reason in plan.skipped:
            text.append(f"\nskipped {name}: {console_wording(reason)}", style="dim")
        for warning in plan.warnings:
            if not more_options.added_by_create(warning, create):
                text.append(f"\n{console_wording(warning)}", style="dim")
        if create is not None:
            text.append_text(more_options.create_summary(create, self.wizard.target.name))
        text.append_text(more_options.subset_summary(plan.request))
        self.query_one("#plan-status", Static).update(text)
        grid = self.query_one("#plan-table", DataTable)
        names = [str(t.name) for t in plan.tables]
        kept, width = grid_columns.setup(grid, PLAN_COLUMNS, names, self.app.size.width - 6)
        for tp in plan.tables:
            masks = ", ".join(f"{c}:{r}" for c, r in tp.masks.items()) or "-"
            cells = {"mode": tp.mode, "rows": format_count(tp.source.estimated_rows),
                     "where": tp.where or "-", "key": ", ".join(tp.key) if tp.key else "-",
                     "batch": f"{tp.batch_size:,}", "masks": masks}
            grid.add_row(*grid_columns.row(kept, str(tp.name), width, cells))
