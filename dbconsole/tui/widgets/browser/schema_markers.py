"""The compare browser's schema markers: a ``≠`` after a table whose schema differs on the two sides.

A part of :class:`~dbconsole.tui.widgets.browser.compare_browser.CompareBrowser` (a mixin, as the
content column is). The schemas are compared in a thread worker (group ``schema``): one catalog
query per side, once per pair and again on ``ctrl+r``, never on the live timer, so a console left
open reads nothing more than the estimates. The same worker reads each side's migration history
(one more query where a migration table is there) and tells the app (``MigrationsRead``), which
the profiles pane shows; the differences themselves are kept for the inspector.
"""

from __future__ import annotations

from typing import Any

from textual import work

from dbconsole.config import Profile
from dbconsole.connect import connect
from dbconsole.errors import ConnectError
from dbconsole.names import TableName
from dbconsole.reading import error_line
from dbconsole.tui.messages import JobFailed, MigrationsRead, SchemaCompared

LOCK_TIMEOUT_MS = 5_000  # a table locked by a migration fails the read in seconds instead of hanging it


class SchemaMarkers:
    """State and worker of the schema markers; mixed into the browser, whose ``sides``, ``shown``
    and ``_update_row`` it uses."""

    def _init_schema_markers(self) -> None:
        self.pair_generation = 0  # a new pair (or ctrl+r) compares the schemas again
        self.schema_diffs: dict[TableName, Any] = {}  # tables whose schema differs -> their differences
        self.schema_compared = False  # the current pair's comparison has arrived

    def compare_schemas(self) -> None:
        """Compare the pair's schemas in a worker (see the module docstring)."""
        self.pair_generation += 1
        self.schema_diffs = {}
        self.schema_compared = False
        left, right = self.sides["left"], self.sides["right"]  # type: ignore[attr-defined]
        if left.usable and right.usable and left.profile is not None and right.profile is not None:
            self._compare_schemas(self.pair_generation, left.profile, right.profile)

    @work(thread=True, group="schema", exit_on_error=False)
    def _compare_schemas(self, pair: int, left: Profile, right: Profile) -> None:
        """Runs in a thread: both schemas, compared; a failure only means no markers."""
        from dbconsole.schema.compare import compare_schemas, differing_tables
        from dbconsole.schema.migrations import compare_migrations
        from dbconsole.schema.run import read_side

        try:
            sides = []
            for profile in (left, right):
                with connect(profile, read_only=True, purpose="schema",
                             options={"lock_timeout": str(LOCK_TIMEOUT_MS)}) as conn:
                    sides.append(read_side(conn))
            schemas = [side.schema for side in sides]
            differing = differing_tables(*schemas, compare_schemas(*schemas))
        except ConnectError:  # the counts' worker already says the side is unreachable
            return
        except Exception as exc:  # anything else: said once; the grid just has no markers
            self.post_message(JobFailed("schema", f"schema compare: {error_line(exc)}"))  # type: ignore[attr-defined]
            return
        self.post_message(SchemaCompared(pair, differing))  # type: ignore[attr-defined]
        histories = {left.name: sides[0].migrations, right.name: sides[1].migrations}
        comparison = compare_migrations(sides[0].migrations, sides[1].migrations, left.name, right.name)
        self.app.post_message(MigrationsRead(histories, comparison))  # type: ignore[attr-defined]

    def on_schema_compared(self, message: SchemaCompared) -> None:
        if message.pair != self.pair_generation:
            return
        changed = set(self.schema_diffs) | set(message.differing)
        self.schema_diffs = message.differing
        self.schema_compared = True
        for name in changed:
            if name in self.shown:  # type: ignore[attr-defined]
                self._update_row(name)  # type: ignore[attr-defined]
        for screen in self.app.screen_stack[1:]:  # type: ignore[attr-defined]  # an open inspector redraws
            screen.post_message(SchemaCompared(message.pair, message.differing))
