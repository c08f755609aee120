"""Content diff: which rows differ between two databases, found by checksums on the servers.

Counting rows says nothing about changed values, and reading both tables through a tunnel to
compare them costs as much as copying them. So each server computes checksums of its own rows
and only checksums cross the network, then, at the end, the keys of the rows that differ.

The algorithm, per table (see :class:`~dbconsole.diff.table.TableDiffer`):

1. **Ranges by key.** The key (primary key, else a unique key of NOT NULL columns; none:
   ``no_key``) is cut into first-level ranges of ~10,000 rows (~2,000 for an evenly spread
   integer key, whose ranges the servers find by arithmetic) at cut points taken from a page
   sample of the *source's* keys (``TABLESAMPLE SYSTEM``, sorted by the server, so no table is
   ever sorted, by us or by it). Bounds are source key values, compared on both servers in one
   form (text keys ``COLLATE "C"``), so a range holds the same rows on both ends whatever each
   server's collation. Ranges, not one whole-table checksum, because a difference must be
   *located*, and because a range's statement can be retried smaller after a timeout.
2. **One aggregate per range**, in one statement per side, both sides at once: ``count(*)``
   and the exact sums of two 64-bit hashes of the row's text (``hashtextextended`` with two
   seeds, or md5's two halves when the servers hash differently: :mod:`.checksum`). The text
   joins the columns' texts with ``concat_ws`` and chr 31, each in a form that tells NULL, ''
   and a value holding the separator apart (``Rendering`` in :mod:`.columns`): ~28% cheaper a
   row than ``ROW(columns)::text``, whose tuple forming and quoting cost more than the values'
   own output functions.
   128 bits per row before aggregation, so an accidental collision is astronomically unlikely;
   sums, not XOR, so duplicated or swapped values do not cancel out. Rows render with the same session settings
   on both sides (:mod:`dbconsole.sessions`: UTC, ISO dates, exact floats, hex bytea), types
   that print differently are cast to one canonical type or refused (:mod:`.columns`), and
   masks apply on the source, so a masked column compares as its masked value.
3. **Bisect or stream** (:mod:`.strategy`): a differing range is cut into 16 at every n-th
   source key (walking the index) and checksummed again, until ranges are small (2,000 rows);
   then both sides send (key, 64-bit hash) for those rows and Python compares them in a dict
   bounded by the range's size. The **density switch**: when most siblings differ (changes
   spread evenly, e.g. one key in a hundred, as a nightly job leaves them), another level would
   find every child differing again and only re-scan the range; those ranges are streamed at
   once instead. A range empty on one side is settled by its counts alone. Ranges are settled
   a level at a time and each level's statements are pipelined, one round trip per side per
   kind of step, because through a tunnel a round trip costs tens of milliseconds.
4. Read-only sessions and transactions on both sides, a statement timeout on every statement;
   a timed-out statement is retried on smaller ranges, and a range that still times out is
   reported as that table's ``error``. ``cancel`` (a ``threading.Event``) stops the run and
   cancels running statements on the servers.

Entry points: :func:`diff_tables` (a whole run, as ``dbconsole diff``) and
:class:`TableDiffer` (one table over two open connections: the console's worker and a
diff-driven sync use it; the result's ``differing_ranges`` are the key ranges to copy).
"""

from dbconsole.diff.model import DiffError, DiffReport, RowDifference, TableDiff
from dbconsole.diff.run import DiffRequest, default_source, diff_tables
from dbconsole.diff.table import TableDiffer

__all__ = ["DiffError", "DiffReport", "DiffRequest", "RowDifference", "TableDiff", "TableDiffer", "default_source",
           "diff_tables"]
