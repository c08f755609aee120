"""One side of the compare browser: its profile, how the connection is doing, its tables and counts.

Why one object per side: before, the browser kept six parallel ``{"left": ..., "right": ...}``
dicts (profile, loaded, error, counting, counted, history) and every new fact meant a seventh.
Here a side is one value, the rows of the grid are views over the two sides
(:class:`~dbconsole.tui.widgets.browser.rows.TableRow`), and the count policy, estimates on a
live refresh unless the profile opted in, is decided in one place (:func:`live_counts_exact`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from dbconsole.catalog import Table
from dbconsole.config import Profile
from dbconsole.live import gets_exact_live_counts
from dbconsole.names import TableName

Side = Literal["left", "right"]
SIDES: tuple[Side, Side] = ("left", "right")

# idle: no profile on this side · unusable: the profile cannot be used (``needs NOPE_PASS``) and is
# never connected · connecting · loaded: the catalog is in · error: the side could not be read.
Stage = Literal["idle", "unusable", "connecting", "loaded", "error"]


# May a live refresh count(*) this profile's tables? The core's one rule (dbconsole.live): only a
# local, writable database that opted in; production gets the catalog's estimates.
live_counts_exact = gets_exact_live_counts


@dataclass
class RowCount:
    """A table's row count on one side: exact (``count(*)``) or the catalog's estimate."""

    rows: int | None
    exact: bool
    error: str | None = None
    # The catalog's estimate when an exact count was taken: while the estimate stays the same,
    # the exact figure is still shown; once it moves, the table changed and the estimate wins.
    estimate_then: int | None = None


@dataclass
class BrowserSide:
    name: Side
    profile: Profile | None = None
    stage: Stage = "idle"
    error: str | None = None
    tables: dict[TableName, Table] = field(default_factory=dict)
    counts: dict[TableName, RowCount] = field(default_factory=dict)
    last_synced: dict[TableName, Any] = field(default_factory=dict)
    counting: bool = False
    counted: int = 0
    to_count: int = 0
    notified_error: str | None = None  # the last error shown as a notification (shown once)

    @classmethod
    def for_profile(cls, name: Side, profile: Profile | None) -> BrowserSide:
        if profile is None:
            return cls(name)
        if profile.unusable:
            return cls(name, profile, stage="unusable", error=profile.unusable)
        return cls(name, profile, stage="connecting")

    @property
    def label(self) -> str:
        return self.profile.name if self.profile is not None else self.name

    @property
    def usable(self) -> bool:
        return self.profile is not None and self.stage != "unusable"

    @property
    def loaded(self) -> bool:
        return self.stage == "loaded"

    @property
    def settled(self) -> bool:
        """Nothing more will arrive without a new refresh (loaded, failed, unusable or empty)."""
        return self.stage != "connecting"

    @property
    def live_exact(self) -> bool:
        return self.profile is not None and live_counts_exact(self.profile)

    def take_catalog(self, tables: list[Table]) -> None:
        """New catalog: estimates replace counts, except exact ones the catalog says still hold."""
        self.tables = {t.qualified: t for t in tables}
        self.stage, self.error = "loaded", None
        counts: dict[TableName, RowCount] = {}
        for name, table in self.tables.items():
            old = self.counts.get(name)
            if old is not None and old.exact and old.estimate_then == table.estimated_rows:
                counts[name] = old
            else:
                counts[name] = RowCount(table.estimated_rows, exact=False)
        self.counts = counts

    def take_count(self, table: TableName, rows: int | None, error: str | None) -> None:
        known = self.tables.get(table)
        estimate = known.estimated_rows if known is not None else None
        if error is not None:
            self.counts[table] = RowCount(estimate, exact=False, error=error)
        else:
            self.counts[table] = RowCount(rows, exact=True, estimate_then=estimate)
        self.counted += 1

    def fail(self, error: str) -> None:
        self.stage, self.error, self.counting = "error", error, False

    def count_of(self, table: TableName) -> RowCount | None:
        return self.counts.get(table)
