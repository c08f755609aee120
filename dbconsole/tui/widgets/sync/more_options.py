"""The options step's schema and subset fields: create-missing and a subset.

Kept apart from :mod:`.options` (the mode, strategy, where, batch and parents fields), which
composes these into its grid and adds their part to the request.

* **Create missing** (``sync --create-missing``): before the sync, create on the target the
  tables it lacks (and add missing columns), additive only. Ticked for the user when a selected
  table exists only on the source (until the user unticks it).
* **Subset** (``sync --subset``): the same text as the CLI, ``TABLE: FILTER`` (``users: id = 42``)
  or a named subset from ``[sync.subsets]`` (``NAME`` / ``NAME:ARG``); the plan then syncs those
  root rows and every row they need, and the dry run counts them per table; with mode mirror
  also the target's rows of the subset the source's lacks, to be deleted.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from rich.text import Text
from textual.widget import Widget
from textual.widgets import Input, Label

from dbconsole.config import SubsetRules
from dbconsole.errors import DbconsoleError
from dbconsole.modes import Mode
from dbconsole.sync.subset import SubsetSpec, parse_subset
from dbconsole.sync.subset_reads import SUBSET_MODES, mode_refusal
from dbconsole.tui.widgets.sync.toggles import TickBox

MORE_FIELDS = ("opt-create", "opt-subset")


def subset_placeholder(named: Mapping[str, SubsetRules]) -> str:
    names = ", ".join(f"{n}:ARG" if "{1}" in rules.where else n for n, rules in list(named.items())[:3])
    return "TABLE: FILTER (users: id = 42)" + (f" or a named one: {names}" if names else "")


def more_fields(named: Mapping[str, SubsetRules], *, create_missing: bool, subset: str) -> Iterator[Widget]:
    """The label / field pairs, for the options grid."""
    yield Label("  Create", id="label-opt-create")
    yield TickBox("create missing tables and columns on the target first (additive)",
                  create_missing, id="opt-create", compact=True)
    yield Label("  Subset", id="label-opt-subset")
    yield Input(value=subset, placeholder=subset_placeholder(named), id="opt-subset", compact=True)


def subset_text(step: Any) -> str:
    return step.query_one("#opt-subset", Input).value.strip()


def create_missing_ticked(step: Any) -> bool:
    return bool(step.query_one("#opt-create", TickBox).value)


def tick_create_missing(step: Any) -> None:
    """Tick create-missing on the user's behalf (a table only on the source was chosen)."""
    from textual.widgets import Checkbox

    box = step.query_one("#opt-create", TickBox)
    with box.prevent(Checkbox.Changed):
        box.value = True


def parsed_subset(text: str, named: Mapping[str, SubsetRules]) -> tuple[SubsetSpec | None, str | None]:
    """The subset the field holds (None when empty), or why it cannot be read."""
    if not text:
        return None, None
    try:
        return parse_subset(text, named), None
    except DbconsoleError as exc:
        return None, str(exc)


def subset_problem(text: str, named: Mapping[str, SubsetRules], mode: Mode | None, default_mode: Mode) -> str | None:
    """What stops the plan: a subset that cannot be read, or a mode a subset cannot use."""
    spec, error = parsed_subset(text, named)
    if error:
        return error
    chosen = mode or default_mode
    if spec is not None and chosen not in SUBSET_MODES:
        return f"a subset syncs with mode upsert or mirror: {mode_refusal(chosen)}"
    return None


def more_contribute(step: Any, named: Mapping[str, SubsetRules]) -> dict[str, Any]:
    spec, _error = parsed_subset(subset_text(step), named)
    return {"create_missing": create_missing_ticked(step), "subsets": (spec,) if spec is not None else ()}


def create_summary(step: Any, target: str) -> Text:
    """Lines for the plan: which tables create-missing makes (their rows are copied after), what
    it skips for a conflict."""
    plan = step.outcome.plan
    text = Text()
    created = [str(t) for t in plan.created_tables]
    if step.statements:
        text.append(f"\ncreate-missing: {len(step.statements)} DDL statements on {target} first", style="cyan")
        if created:
            text.append(f"; creates {', '.join(created)} (its rows are copied once it exists)", style="cyan")
    else:
        text.append(f"\ncreate-missing: {target} already has what these tables need", style="dim")
    for conflict in plan.conflicts:
        text.append(f"\n✗ {conflict}", style="yellow")
    return text


DDL_SHOWN = 40  # statements shown in the dry run; the rest are counted (``sync --create-missing --dry-run`` prints all)


def ddl_text(step: Any) -> Text:
    text = Text()
    statements = step.statements
    if not statements:
        return text
    text.append(f"create-missing would run {len(statements)} DDL statements first (one transaction):\n",
                style="bold cyan")
    for statement in statements[:DDL_SHOWN]:
        text.append(f"  {statement}\n")
    if len(statements) > DDL_SHOWN:
        text.append(f"  … {len(statements) - DDL_SHOWN} more\n", style="dim")
    return text


def added_by_create(warning: str, create: Any) -> bool:
    """A plan warning ("X: column c exists only on server: not copied") that create-missing makes
    moot: it adds that column before the sync, so the column is copied after all."""
    if create is None:
        return False
    for step in create.outcome.plan.steps:
        if step.what.startswith("column "):
            table, _, column = step.what.removeprefix("column ").rpartition(".")
            if warning.startswith(f"{table}: column {column} exists only on "):
                return True
    return False


def subset_summary(request: Any) -> Text:
    text = Text()
    mirror = request.mode == "mirror"
    for spec in request.subsets:
        text.append(f"\nsubset {spec.label}: those rows and every row they need (down within these tables, "
                    "up to every parent); the dry run counts them per table", style="cyan")
        if mirror:
            text.append("; mirror also deletes the target's rows of the subset that the source's lacks "
                        "(the dry run counts them)", style="cyan")
    return text
