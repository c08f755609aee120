"""What to do with each compared range: done, bisect it, or fetch its per-row hashes.

Pure decisions from checksums, so they are unit-tested without a server.

* Equal checksums (count and both 64-bit sums): the range is the same, nothing more is read.
* One side empty in the range: every row of the other side differs; only their keys are read.
* Small enough (``leaf_rows``) or as deep as bisection goes: fetch (key, 64-bit hash) pairs.
* Dense: when most sibling ranges differ (evenly spread changes, e.g. one key in a hundred),
  another level of checksums would find every child differing again and only add a full
  re-scan per level; streaming the per-row hashes of those ranges at once is cheaper. The
  choice is made per group of siblings, from what their parent's level shows. A streamed range
  of more than a few buckets' rows first checksums fine buckets of ~``bucket_rows`` rows, so only
  the differing buckets' rows cross the network (:mod:`dbconsole.diff.buckets`).
* Otherwise: bisect (split into ``fanout`` parts and checksum again).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

from dbconsole.diff.ranges import KeyRange


@dataclass(frozen=True)
class Checksum:
    """One side's aggregate over a range: row count and the sums of both 64-bit halves of md5."""

    rows: int = 0
    sum_high: int = 0
    sum_low: int = 0


class Step(enum.Enum):
    SAME = "same"
    ONE_SIDED = "one_sided"
    STREAM = "stream"
    BISECT = "bisect"


@dataclass(frozen=True)
class Tuning:
    rows_per_range: int = 10_000  # first-level ranges hold about this many rows
    # An evenly spread integer key's first level is cut this many times finer: its ranges are
    # found by arithmetic, so more of them cost nothing a row, and a differing one is then small
    # enough (<= leaf_rows) to stream at once instead of being read again to bisect it.
    even_split: int = 5
    max_ranges: int = 4096  # first-level ranges at most (bounds one query's bucket array)
    fanout: int = 16  # children per bisected range
    leaf_rows: int = 2_000  # at or below this many rows, fetch per-row hashes
    stream_rows: int = 50_000  # the density switch streams ranges up to this size (bounds memory)
    dense_fraction: float = 0.5  # this share of siblings differing means "spread evenly": stream
    max_depth: int = 8
    # Streams of ranges over leaf_rows first checksum fine buckets of about this many rows
    # (0: never); see dbconsole/diff/buckets.py for the measurements behind 16.
    bucket_rows: int = 16
    bucket_batch_rows: int = 200_000  # rows of the ranges bucketed in one round trip per side
    bucket_giveup_share: float = 0.5  # once a batch shows more buckets differing, stream directly


@dataclass(frozen=True)
class RangeCompare:
    range: KeyRange
    left: Checksum
    right: Checksum
    dense: bool = False  # set by decide(): most of its siblings differ too (see buckets.py)

    @property
    def differs(self) -> bool:
        return self.left != self.right

    @property
    def rows(self) -> int:
        return max(self.left.rows, self.right.rows)


def decide(siblings: Sequence[RangeCompare], tuning: Tuning) -> list[tuple[RangeCompare, Step]]:
    """The step for each of a group of sibling ranges (one level under one parent)."""
    differing = [c for c in siblings if c.differs]
    dense = len(siblings) > 1 and len(differing) >= tuning.dense_fraction * len(siblings)
    steps: list[tuple[RangeCompare, Step]] = []
    for compare in siblings:
        if not compare.differs:
            step = Step.SAME
        elif compare.left.rows == 0 or compare.right.rows == 0:
            step = Step.ONE_SIDED
        elif dense and compare.rows <= tuning.stream_rows:
            compare, step = replace(compare, dense=True), Step.STREAM
        elif compare.rows <= tuning.leaf_rows or compare.range.depth >= tuning.max_depth:
            step = Step.STREAM
        else:
            step = Step.BISECT
        steps.append((compare, step))
    return steps


def split_step(source_rows: int, tuning: Tuning) -> int:
    """Rows between cut points when a range of ``source_rows`` source rows is bisected."""
    return max(1, -(-source_rows // tuning.fanout))


def merge_neighbours(streams: Sequence[RangeCompare], max_rows: int) -> list[RangeCompare]:
    """Dense ranges that touch (one's upper bound is the next one's lower), joined up to about
    ``max_rows`` rows each; others as they are.

    Fine first-level ranges pay for *locating* sparse changes. When changes are everywhere, each
    range becomes a statement of its own per round trip of the bucket step, so through a link
    the fine cut only adds statements and round trips: measured 2,012 statements and 2.25 s
    against 412 and 1.9 s for the same 1%-changed table through 80 Mbit/s and 30 ms. Sums of
    sums are sums, so a joined range's checksums are exact.
    """
    merged: list[RangeCompare] = []
    for compare in streams:
        last = merged[-1] if merged else None
        if (last is not None and last.dense and compare.dense and last.range.upper is not None
                and last.range.upper == compare.range.lower and last.range.depth == compare.range.depth
                and last.rows + compare.rows <= max_rows):
            merged[-1] = RangeCompare(KeyRange(last.range.lower, compare.range.upper, last.range.depth),
                                      _add(last.left, compare.left), _add(last.right, compare.right), dense=True)
        else:
            merged.append(compare)
    return merged


def _add(a: Checksum, b: Checksum) -> Checksum:
    return Checksum(a.rows + b.rows, a.sum_high + b.sum_high, a.sum_low + b.sum_low)


Item = TypeVar("Item")


def batches_of(items: Sequence[Item], rows_of: Callable[[Item], int], *, max_rows: int, max_items: int) -> list[list[Item]]:
    """``items`` in order, grouped so a group holds at most ``max_rows`` rows (memory) and
    ``max_items`` items (statements in one pipelined round trip); an item bigger than
    ``max_rows`` is a group of its own."""
    groups: list[list[Item]] = []
    rows = 0
    for item in items:
        if groups and len(groups[-1]) < max_items and rows + rows_of(item) <= max_rows:
            groups[-1].append(item)
            rows += rows_of(item)
        else:
            groups.append([item])
            rows = rows_of(item)
    return groups
