"""What a sync will do, decided before anything is written.

:func:`build_plan` is pure: given the request and both sides' catalogs it resolves the table
names, closes the selection over foreign keys (``--with-parents``), orders it parents before
children, picks each table's mode, columns, key, COPY format, masks and batch size, and
collects every schema difference. Anything that would make the sync fail for certain (a table
missing on the target, a type that cannot be loaded, upsert without a key, a foreign-key cycle)
is raised here, so a doomed run never writes its first batch.

Which column types load into which is :mod:`.column_types`; parents-before-children order and
foreign-key cycles are :mod:`.fk_order`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from dbconsole.catalog import Table, Trigger
from dbconsole.config import Profile, SyncSettings, TableRules
from dbconsole.errors import SyncError, UsageError
from dbconsole.jobs import DEFAULT_SPLIT_ROWS, JobsSetting, resolve_jobs
from dbconsole.modes import DEFAULT_MODE, DEFAULT_STRATEGY, DELETING_MODES, KEYED_MODES, Mode, Strategy
from dbconsole.names import TableName, is_pattern, resolve_name, select_tables
from dbconsole.sync import checks
from dbconsole.sync.confirm import confirmation_reason
# base_type is re-exported: dbconsole.diff (on main) imports it from here.
from dbconsole.sync.column_types import base_type, check_mask, types_compatible  # noqa: F401
from dbconsole.sync.fk_order import fk_order
from dbconsole.sync.subset import SubsetRows, SubsetSpec
from dbconsole.sync.triggers import DEFAULT_TRIGGER_POLICY, TriggerPolicy, triggers_to_disable

DEFAULT_BATCH_SIZE = 50_000
DEFAULT_OVERLAP_SECONDS = 300.0
DEFAULT_CURSOR = "updated_at"

@dataclass(frozen=True)
class SyncRequest:
    """Everything the user asked for, as the CLI and the wizard collect it."""

    source: Profile
    target: Profile
    tables: tuple[str, ...] = ()
    mode: Mode | None = None
    where: str | None = None  # one filter for every table in ``tables`` (the wizard's option)
    with_parents: bool = False
    batch_size: int | None = None
    dry_run: bool = False
    settings: SyncSettings = field(default_factory=SyncSettings)
    # ``--where TABLE:EXPR``: a filter for one table, keyed by the name as typed.
    where_by_table: Mapping[str, str] = field(default_factory=dict)
    exclude: tuple[str, ...] = ()  # names or globs taken out of the selection
    triggers: TriggerPolicy | None = None  # None: [sync] triggers, else "disable"
    refresh_matviews: bool = False  # REFRESH the materialized views that read synced tables, after the sync
    create_missing: bool = False  # the face ran dbconsole.schema.create first (the engine needs nothing)
    strategy: Strategy | None = None  # None: [sync] strategy, else auto

    @property
    def effective_strategy(self) -> Strategy:
        """``--strategy``, else ``[sync] strategy``, else auto."""
        return self.strategy or self.settings.strategy or DEFAULT_STRATEGY
    subsets: tuple[SubsetSpec, ...] = ()  # --subset: root rows and what they need (implies --with-parents)
    jobs: JobsSetting | None = None  # --jobs; None: [sync] jobs, else 1

    @property
    def effective_jobs(self) -> int:
        """Workers for this run: ``--jobs``, else ``[sync] jobs``, else 1 (``auto`` resolved)."""
        return resolve_jobs(self.jobs if self.jobs is not None else self.settings.jobs)

    @property
    def split_rows(self) -> int:
        """A table with more rows than this (estimated) is copied as key ranges when jobs > 1."""
        return self.settings.split_rows or DEFAULT_SPLIT_ROWS

    @property
    def trigger_policy(self) -> TriggerPolicy:
        return self.triggers or self.settings.triggers or DEFAULT_TRIGGER_POLICY  # type: ignore[return-value]

    @property
    def needs_confirmation(self) -> bool:
        """``replace`` and any target that is not a local database need an explicit yes
        (:func:`~dbconsole.sync.confirm.confirmation_reason` says which)."""
        return confirmation_reason(self) is not None


@dataclass(frozen=True)
class ParentNeed:
    """A selected table's FK parent that is not part of the sync."""

    child: TableName
    constraint: str
    parent: TableName


@dataclass
class TablePlan:
    """How one table is synced. ``columns`` are written in target order."""

    name: TableName
    source: Table
    target: Table
    mode: Mode
    columns: list[str]
    key: tuple[str, ...] | None
    copy_format: str
    batch_size: int
    where: str | None = None
    masks: dict[str, str] = field(default_factory=dict)
    preserve: list[str] = field(default_factory=list)
    cursor: str | None = None
    overlap: float = DEFAULT_OVERLAP_SECONDS
    self_referencing: bool = False
    warnings: list[str] = field(default_factory=list)
    disable_triggers: tuple[Trigger, ...] = ()  # target triggers turned off during each apply
    keys_collate_differently: bool = False  # key order differs between the sides: never trust target order
    subset: SubsetRows | None = None  # set in the run's snapshot when the request has --subset

    @property
    def restore_triggers(self) -> tuple[Trigger, ...]:
        """Every trigger of the table and its partitions, to be put back as it was before commit."""
        return self.target.triggers if self.disable_triggers else ()

    @property
    def updatable(self) -> list[str]:
        """Columns an UPDATE may set: not the key, not preserved, not identity ALWAYS."""
        key = set(self.key or ())
        keep = set(self.preserve)
        return [c for c in self.columns if c not in key and c not in keep
                and not self.target.column(c).identity_always]  # type: ignore[union-attr]

    @property
    def overriding_system_value(self) -> bool:
        return any(self.target.column(c).identity_always for c in self.columns)  # type: ignore[union-attr]

    def fingerprint(self) -> str:
        """Identifies the *shape* of this table's run: a checkpoint only resumes the same shape."""
        shape = [self.mode, self.columns, list(self.key or ()), self.where, sorted(self.masks.items()),
                 self.cursor, self.copy_format]
        if self.subset is not None:
            shape.append(self.subset.digest)
        return hashlib.sha256(json.dumps(shape, default=str).encode()).hexdigest()[:16]


@dataclass
class SyncPlan:
    request: SyncRequest
    tables: list[TablePlan]
    missing_parents: list[ParentNeed] = field(default_factory=list)
    skipped: list[tuple[TableName, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notices: list[tuple[TableName, str]] = field(default_factory=list)  # said once, not warnings
    matviews: list[TableName] = field(default_factory=list)  # target materialized views that read synced tables
    chosen: tuple[TableName, ...] = ()  # the tables the user selected, before --with-parents added any

    def table(self, name: TableName) -> TablePlan | None:
        return next((t for t in self.tables if t.name == name), None)


# --------------------------------------------------------------------------- building


def build_plan(request: SyncRequest, source_tables: Sequence[Table], target_tables: Sequence[Table]) -> SyncPlan:
    """Decide the whole sync from both catalogs; raise on anything that cannot work."""
    if request.where and not request.tables:
        raise UsageError("--where needs --tables: it filters only the tables you name")
    source = {t.qualified: t for t in source_tables}
    target = {t.qualified: t for t in target_tables}
    skipped: list[tuple[TableName, str]] = []

    notices: list[tuple[TableName, str]] = []
    # A partition named in --tables means its partitioned table, the sync unit (with a notice).
    literal = {_resolve_unit(text, source, request, notices): None for text in request.tables if not is_pattern(text)}
    entries = [str(name) for name in literal] + [text for text in request.tables if is_pattern(text)]
    chosen = select_tables(entries, list(source), exclude=request.exclude, where=request.source.name)
    # Tables named one by one must work; tables a glob (or no --tables) picked are skipped with a reason.
    named = []
    for name in chosen:
        if name in target:
            named.append(name)
        elif name in literal:
            raise SyncError(f"{name} does not exist on {request.target.name}: create it there first "
                            "(dbconsole syncs rows, not schema)", table=str(name))
        else:
            skipped.append((name, f"only on {request.source.name}"))
    selected = list(dict.fromkeys(named))

    if request.with_parents or request.subsets:  # a subset's rows need their parents' rows
        selected = _close_over_parents(selected, source, target, request)
    filters = _filters_by_table(request, source, selected)

    plans: dict[TableName, TablePlan] = {}
    warnings: list[str] = []
    for name in selected:
        rules = _rules_for(name, request.settings.tables)
        mode = request.mode or rules.mode or request.settings.mode or DEFAULT_MODE
        if mode in DELETING_MODES and name not in named:
            mode = "upsert"  # a parent pulled in by --with-parents: its other rows are not ours to delete
        where = filters.get(name) or (request.where if name in named else None)
        if mode == "mirror" and (where or rules.where):
            # Rows outside the filter would count as "only on the target" and be deleted.
            raise UsageError(f"{name}: --mode mirror cannot take a --where filter (it would delete the target's "
                             "other rows); use upsert with --where, or mirror the whole table")
        table_plan = _plan_table(name, source[name], target[name], mode, rules, request, where=where)
        if table_plan.mode in KEYED_MODES and table_plan.key is None:
            reason = (f"{name} has no primary key or unique key of NOT NULL columns, so {mode} cannot match "
                      "rows; use --mode replace for it, or add a key")
            if name in literal:
                raise SyncError(reason, table=str(name))
            skipped.append((name, "no key (use --mode replace)"))
            continue
        plans[name] = table_plan
        warnings += [f"{name}: {w}" for w in table_plan.warnings]

    order = fk_order({n: plans[n].target for n in plans}, allow_deferred=_replace_deferrable(plans),
                     subset=bool(request.subsets))
    for name in order:
        plans[name].self_referencing = any(fk.parent == name for fk in plans[name].target.foreign_keys)
    missing = [ParentNeed(name, fk.name, fk.parent)
               for name in order for fk in plans[name].target.foreign_keys
               if fk.parent != name and fk.parent not in plans]
    matviews = sorted({mv for n in order for mv in plans[n].target.matviews})
    return SyncPlan(request=request, tables=[plans[n] for n in order], missing_parents=missing,
                    skipped=skipped, warnings=warnings, notices=notices, matviews=matviews, chosen=tuple(named))


def _resolve_unit(text: str, source: Mapping[TableName, Table], request: SyncRequest,
                  notices: list[tuple[TableName, str]]) -> TableName:
    """A ``--tables`` entry; a partition's name means its partitioned table, which is the sync unit.

    Naming a partition is taken as naming its root (with a notice), not refused: the user wants
    those rows, and only the root can take them (COPY into it routes every row to its partition).
    Under ``replace`` that would delete the rows of the *other* partitions, so it is refused.
    """
    try:
        return resolve_name(text, source, where=request.source.name)
    except UsageError as not_a_table:
        parents = checks.partition_parents(dict(source))
        try:
            partition = resolve_name(text, parents)
        except UsageError:
            raise not_a_table from None
        root = parents[partition]
        rules_mode = _rules_for(root, request.settings.tables).mode
        if (chosen := request.mode or rules_mode or request.settings.mode) in DELETING_MODES:
            raise UsageError(f"{partition} is a partition of {root}; {chosen} works on {root} as a whole "
                             f"(all its partitions): name {root} instead")
        notices.append((root, f"{partition} is a partition of {root}: {root} is the sync unit, so all its "
                              "partitions are synced"))
        return root


def _filters_by_table(request: SyncRequest, source: Mapping[TableName, Table],
                      selected: Sequence[TableName]) -> dict[TableName, str]:
    """``--where TABLE:EXPR`` resolved to tables; naming a table that is not synced is a usage error."""
    filters: dict[TableName, str] = {}
    for text, expression in request.where_by_table.items():
        name = resolve_name(text, source, where=request.source.name)
        if name not in selected:
            raise UsageError(f"--where {text}:...: {name} is not among the tables being synced")
        filters[name] = expression
    return filters


def effective_mode(name: TableName, request: SyncRequest) -> Mode:
    """The mode a table would be synced in: the request's, its rules', the settings', upsert."""
    return (request.mode or _rules_for(name, request.settings.tables).mode or request.settings.mode
            or DEFAULT_MODE)


def _rules_for(name: TableName, rules: Mapping[str, TableRules]) -> TableRules:
    """Rules are keyed by the name as the user wrote it; match it like a --tables entry."""
    for text, table_rules in rules.items():
        try:
            if resolve_name(text, [name]) == name:
                return table_rules
        except UsageError:
            continue
    return TableRules()


def _close_over_parents(selected: list[TableName], source: Mapping[TableName, Table],
                        target: Mapping[TableName, Table], request: SyncRequest) -> list[TableName]:
    """Add every FK ancestor of the selection (parents of parents too)."""
    result = list(selected)
    queue = list(selected)
    while queue:
        name = queue.pop()
        for fk in target[name].foreign_keys:
            parent = fk.parent
            if parent in result:
                continue
            if parent not in source:
                raise SyncError(f"{name} references {parent} (foreign key {fk.name}), which does not exist on "
                                f"{request.source.name}", table=str(name))
            result.append(parent)
            queue.append(parent)
    return result


def _plan_table(name: TableName, src: Table, tgt: Table, mode: Mode, rules: TableRules,
                request: SyncRequest, *, where: str | None) -> TablePlan:
    warnings: list[str] = []
    src_cols = {c.name: c for c in src.columns}
    columns: list[str] = []
    binary = True
    for col in tgt.columns:
        if col.generated:
            continue  # PostgreSQL computes it on the target
        scol = src_cols.get(col.name)
        if scol is None:
            if col.not_null and not col.has_default and not col.identity:
                raise SyncError(f"{name}: column {col.name} exists only on {request.target.name} and is NOT NULL "
                                "without a default, so new rows cannot be inserted", table=str(name))
            warnings.append(f"column {col.name} exists only on {request.target.name}: left as is")
            continue
        compatible, note = types_compatible(scol, col)
        if not compatible:
            raise checks.type_mismatch(name, scol, col, source_name=request.source.name,
                                       target_name=request.target.name)
        checks.check_enum_labels(name, scol, col, source_name=request.source.name, target_name=request.target.name)
        if note:
            warnings.append(f"column {col.name}: {note}")
        if scol.type != col.type or not (scol.builtin_type and col.builtin_type):
            binary = False
        columns.append(col.name)
    for scol in src.columns:
        if tgt.column(scol.name) is None:
            warnings.append(f"column {scol.name} exists only on {request.source.name}: not copied")
    if not columns:
        raise SyncError(f"{name}: no column in common between {request.source.name} and {request.target.name}",
                        table=str(name))

    key = tgt.key
    if key is not None and not all(k in columns for k in key):
        key = None  # the key is not fully copied, so rows cannot be matched by it
    checks.check_row_security(name, tgt, target_name=request.target.name)
    if src.row_security_applies:
        warnings.append(f"row-level security on {request.source.name} applies to this role: only the rows it may "
                        "see are synced")
    warnings += checks.partition_notes(src, tgt, source_name=request.source.name, target_name=request.target.name)
    for column in list(rules.preserve_columns) + list(rules.mask):
        if column not in src_cols and tgt.column(column) is None:
            raise SyncError(f"{name}: [sync.tables] names column {column}, which does not exist", table=str(name))
    for column, rule in rules.mask.items():
        check_mask(name, tgt.column(column) or src_cols[column], rule)

    cursor = None
    if mode == "incremental":
        cursor = rules.cursor or DEFAULT_CURSOR
        if cursor not in src_cols:
            raise SyncError(f"{name}: incremental mode needs a cursor column, and there is no {cursor}; set "
                            f'[sync.tables."{name}"] cursor = "..." or use another mode', table=str(name))
    return TablePlan(
        name=name, source=src, target=tgt, mode=mode, columns=columns, key=key,
        copy_format="binary" if binary else "text",
        batch_size=request.batch_size or rules.batch_size or request.settings.batch_size or DEFAULT_BATCH_SIZE,
        where=where or rules.where, masks={c: r for c, r in rules.mask.items() if c in columns},
        preserve=[c for c in rules.preserve_columns if c in columns], cursor=cursor,
        overlap=rules.overlap if rules.overlap is not None else DEFAULT_OVERLAP_SECONDS,
        warnings=warnings,
        disable_triggers=triggers_to_disable(tgt, request.trigger_policy, target_name=request.target.name),
        keys_collate_differently=checks.keys_collate_differently(src, tgt, key),
    )


def _replace_deferrable(plans: Mapping[TableName, TablePlan]) -> list[TableName]:
    return [n for n, p in plans.items() if p.mode == "replace"]
