"""Live reads of one profile or of a pair, for every face: the console's workers and the CLI.

- :mod:`~dbconsole.reading.sides`: one side of a compare (server facts, catalog, sync history),
  exact counts that can be cancelled, both sides at once, and the one-line error for any failure;
- :mod:`~dbconsole.reading.probing`: reach a profile and say what it allows (``check``, Test);
- :mod:`~dbconsole.reading.query`: a table's first rows and the read-only SQL box;
- :mod:`~dbconsole.reading.content`: content diffs queued for a live view, one table at a time
  and cancellable, and the rows of the keys they found (one query per side).

No Textual here: a face schedules these (a console in thread workers) and renders the result.
"""

from dbconsole.reading.probing import ProbeResult, WriteAccess, describe_probe, probe, write_access
from dbconsole.reading.query import (
    BOX_CURSOR, CELL_CHARS, PREVIEW_ROWS, QUERY_FETCH_LIMIT, QUERY_TIMEOUT_MS, QueryResult, ReadOnlyQuery,
    display_row, display_value, is_query, preview_rows)
from dbconsole.reading.sides import (
    COUNT_TIMEOUT_MS, ExactCounter, SideSnapshot, both_sides, compare_profiles, error_line, listing_counts,
    read_last_synced, read_side)

__all__ = [
    "BOX_CURSOR", "CELL_CHARS", "COUNT_TIMEOUT_MS", "PREVIEW_ROWS", "QUERY_FETCH_LIMIT", "QUERY_TIMEOUT_MS",
    "ExactCounter", "ProbeResult", "QueryResult", "ReadOnlyQuery", "SideSnapshot", "WriteAccess", "both_sides",
    "compare_profiles", "describe_probe", "display_row", "display_value", "error_line", "is_query",
    "listing_counts", "preview_rows", "probe", "read_last_synced", "read_side", "write_access",
]
