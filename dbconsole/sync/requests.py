"""A sync request from what a user typed: the one translation the CLI and Airflow both use.

Why here and not in the CLI: ``dbconsole sync`` and :class:`dbconsole.airflow.DbconsoleSyncOperator`
take the same options (tables as a list or globs, ``--where`` with or without a table,
``--subset`` text or a configured name, mode, strategy...). Built twice, the two faces would drift
on exactly the rules that keep a run safe (a bare ``--where`` filters exactly one table, a subset
is upsert or mirror), so both call :func:`build_request` with the options as written.
"""

from __future__ import annotations

from collections.abc import Sequence

from dbconsole.config import Profile, SyncSettings
from dbconsole.errors import UsageError
from dbconsole.jobs import JobsSetting
from dbconsole.modes import Mode, Strategy
from dbconsole.names import is_pattern, split_list, split_where
from dbconsole.sync.plan import SyncRequest
from dbconsole.sync.subset import parse_subset
from dbconsole.sync.subset_reads import SUBSET_MODES, mode_refusal
from dbconsole.sync.triggers import TriggerPolicy

__all__ = ["build_request", "names_from", "split_filters"]


def names_from(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """Table names or globs from ``"a,b"`` (the CLI's comma list, quotes respected) or a list."""
    if not value:
        return ()
    if isinstance(value, str):
        return tuple(split_list(value))
    return tuple(name.strip() for name in value if name and name.strip())


def build_request(source: Profile, target: Profile, settings: SyncSettings, *,
                  tables: str | Sequence[str] | None = None, exclude: str | Sequence[str] | None = None,
                  mode: Mode | None = None, strategy: Strategy | None = None, where: Sequence[str] = (),
                  subsets: Sequence[str] = (), with_parents: bool = False, batch_size: int | None = None,
                  dry_run: bool = False, triggers: TriggerPolicy | None = None, refresh_matviews: bool = False,
                  create_missing: bool = False, jobs: JobsSetting | None = None) -> SyncRequest:
    """The :class:`SyncRequest` for these options, or a UsageError naming the option that is wrong.

    ``where`` holds ``--where`` texts as typed (``"users:id < 10"`` or a bare ``"id < 10"``);
    ``subsets`` holds ``--subset`` texts (``"users: id = 42"`` or ``NAME[:ARGS]`` of
    ``settings.subsets``).
    """
    table_names = names_from(tables)
    bare_where, where_by_table = split_filters(where, table_names)
    parsed_subsets = tuple(parse_subset(text, settings.subsets) for text in subsets)
    if parsed_subsets and mode not in (None, *SUBSET_MODES):
        raise UsageError(mode_refusal(mode))
    return SyncRequest(
        source=source, target=target, tables=table_names, mode=mode, where=bare_where,
        where_by_table=where_by_table, exclude=names_from(exclude), with_parents=with_parents,
        batch_size=batch_size, dry_run=dry_run, settings=settings, triggers=triggers,
        refresh_matviews=refresh_matviews, create_missing=create_missing, strategy=strategy,
        subsets=parsed_subsets, jobs=jobs)


def split_filters(texts: Sequence[str], tables: Sequence[str]) -> tuple[str | None, dict[str, str]]:
    """``--where`` options as (bare filter, per-table filters).

    A bare ``--where EXPR`` is only taken when it can mean one table: listed once and not a
    glob, so a filter never silently applies to every table of a list.
    """
    bare: list[str] = []
    by_table: dict[str, str] = {}
    for text in texts:
        table, expression = split_where(text)
        if table is None:
            bare.append(expression)
        elif table in by_table:
            raise UsageError(f"--where {table}: given twice; combine the conditions with AND")
        else:
            by_table[table] = expression
    if not bare:
        return None, by_table
    if len(bare) > 1:
        raise UsageError("several bare --where filters: name the table of each (--where TABLE:EXPR)")
    if not tables:
        raise UsageError("--where needs --tables: it filters only the tables you name "
                         "(or use --where TABLE:EXPR)")
    if len(tables) != 1 or is_pattern(tables[0]):
        raise UsageError(f"a bare --where filters exactly one table, but --tables names {', '.join(tables)}: "
                         "use --where TABLE:EXPR for each table to filter")
    return bare[0], by_table
