"""Schema facts that decide, before anything is written, whether a table can be synced as is.

Each check reads only the two catalogs (no query of its own) and either returns a note for the
plan or raises a :class:`SyncError` of one line naming the object and what to do about it.
"""

from __future__ import annotations

from dbconsole.catalog import Column, Table
from dbconsole.errors import SyncError
from dbconsole.names import TableName


def check_enum_labels(name: TableName, source: Column, target: Column, *, source_name: str,
                      target_name: str) -> None:
    """Every label the source may send must exist on the target's enum (order may differ)."""
    if source.enum_labels is None or target.enum_labels is None:
        return
    missing = [label for label in source.enum_labels if label not in target.enum_labels]
    if missing:
        labels = ", ".join(repr(label) for label in missing)
        raise SyncError(f"{name}: column {source.name} uses enum {target.type}, whose labels {labels} exist only on "
                        f"{source_name}; add them on {target_name} (ALTER TYPE {target.type} ADD VALUE ...)",
                        table=str(name))


def type_mismatch(name: TableName, source: Column, target: Column, *, source_name: str, target_name: str) -> SyncError:
    """The refusal for two column types that do not load into each other, naming a missing extension."""
    if source.extension and source.extension != target.extension:
        return SyncError(f"{name}: column {source.name} is {source.type} from extension {source.extension} on "
                         f"{source_name}, but {target.type} on {target_name}, where that extension's type is not "
                         f"used (CREATE EXTENSION {source.extension} there and make the column {source.type})",
                         table=str(name))
    return SyncError(f"{name}: column {source.name} is {source.type} on {source_name} but {target.type} on "
                     f"{target_name}; change one side so the types match", table=str(name))


def check_row_security(name: TableName, target: Table, *, target_name: str) -> None:
    """Row-level security that filters this role would hide target rows from the sync's matching."""
    if target.row_security_applies:
        raise SyncError(f"{name} has row-level security on {target_name} that applies to this role, so the sync "
                        "cannot see every target row; sync as the table's owner or a role with BYPASSRLS",
                        table=str(name))


def partition_notes(source: Table, target: Table, *, source_name: str, target_name: str) -> list[str]:
    """Partitions that exist on one side only: rows still route by the target's own bounds."""
    src = {p.qualified for p in source.partitions}
    tgt = {p.qualified for p in target.partitions}
    notes = [f"partition {p} exists only on {source_name}: its rows go to whichever {target_name} partition "
             "accepts them (the sync stops if none does)" for p in sorted(src - tgt)]
    notes += [f"partition {p} exists only on {target_name}" for p in sorted(tgt - src)]
    return notes


def keys_collate_differently(source: Table, target: Table, key: tuple[str, ...] | None) -> bool:
    """Whether a key column sorts differently on the two sides (another collation, or another
    database default): then key ranges are compared byte-wise (``COLLATE "C"``) on both ends."""
    if not key:
        return False
    for column in key:
        s, t = source.column(column), target.column(column)
        if s is not None and t is not None and _order_of(s.collation) != _order_of(t.collation):
            return True
    return False


def _order_of(collation: str | None) -> str | None:
    """``default:C`` (a database whose default is C) sorts as ``C``; ``POSIX`` is ``C`` too."""
    if collation is None:
        return None
    name = collation.removeprefix("default:")
    return "C" if name == "POSIX" else name


def partition_parents(tables: dict[TableName, Table]) -> dict[TableName, TableName]:
    """Every partition's name -> the root table that is its sync unit."""
    return {p.qualified: t.qualified for t in tables.values() for p in t.partitions}
