"""What a sync did to a table's rows, as one value, and the one way to say it to a person.

The engine counts, checkpoints store, events carry and all three faces (CLI, JSON, console)
show the same four numbers; keeping them in one frozen value means none of those places
spells the four out again, and :func:`describe_counts` is the only sentence for them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class RowCounts:
    """Rows inserted, updated, left unchanged and deleted on the target."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0

    def __add__(self, other: RowCounts) -> RowCounts:
        return RowCounts(self.inserted + other.inserted, self.updated + other.updated,
                         self.unchanged + other.unchanged, self.deleted + other.deleted)

    @property
    def total(self) -> int:
        """Source rows these counts account for (deletes are target rows, so not among them)."""
        return self.inserted + self.updated + self.unchanged

    @classmethod
    def of_batch(cls, rows: int, inserted: int, updated: int) -> RowCounts:
        """A batch of ``rows`` source rows of which ``inserted`` were new and ``updated`` changed."""
        return cls(inserted, updated, rows - inserted - updated)

    @classmethod
    def sum(cls, many: Iterable[RowCounts]) -> RowCounts:
        total = cls()
        for counts in many:
            total = total + counts
        return total


class HasCounts:
    """Reads a holder's ``counts`` field as its four numbers (``done.inserted``)."""

    counts: RowCounts
    inserted = property(lambda self: self.counts.inserted)
    updated = property(lambda self: self.counts.updated)
    unchanged = property(lambda self: self.counts.unchanged)
    deleted = property(lambda self: self.counts.deleted)


def describe_counts(counts: RowCounts, *, dry_run: bool = False, sep: str = ", ") -> str:
    """``insert 1,200, update 3, unchanged 40, delete 2``; ``would insert ...`` for a dry run.

    Deletes are only said when there are some: most modes never delete.
    """
    verb = "would " if dry_run else ""
    parts = [f"{verb}insert {counts.inserted:,}", f"{verb}update {counts.updated:,}", f"unchanged {counts.unchanged:,}"]
    if counts.deleted:
        parts.append(f"{verb}delete {counts.deleted:,}")
    return sep.join(parts)
