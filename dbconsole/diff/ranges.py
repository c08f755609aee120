"""Key ranges: the unit a diff checksums, compares and splits.

A range is ``[lower, upper)`` over the key in its compare form (text keys in the "C"
collation), with ``None`` for an open end. Bounds are always key values read from the source
side, as text, and are cast back to the key's type on each server, so one range holds the same
rows on both ends whatever each server's own collation or type width.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

Bound = tuple[str, ...]


@dataclass(frozen=True)
class KeyRange:
    lower: Bound | None = None  # inclusive
    upper: Bound | None = None  # exclusive
    depth: int = 0  # 0: a first-level range; each bisection adds one

    def split(self, boundaries: Sequence[Bound]) -> list[KeyRange]:
        """This range cut at ``boundaries`` (sorted, inside the range), in key order."""
        edges: list[Bound | None] = [self.lower, *boundaries, self.upper]
        return [KeyRange(edges[i], edges[i + 1], self.depth + 1) for i in range(len(edges) - 1)]

    def __str__(self) -> str:
        low = "-inf" if self.lower is None else ",".join(self.lower)
        high = "+inf" if self.upper is None else ",".join(self.upper)
        return f"[{low} .. {high})"


def pick_boundaries(sorted_keys: Sequence[Bound], parts: int) -> list[Bound]:
    """At most ``parts - 1`` distinct cut points taken evenly from sorted sample keys.

    Duplicates (a composite key's sample may repeat a prefix, a sample may hit a value twice)
    are dropped, so no range is empty by construction and the result stays strictly increasing.
    """
    if parts < 2 or not sorted_keys:
        return []
    step = len(sorted_keys) / parts
    cuts: list[Bound] = []
    for i in range(1, parts):
        candidate = sorted_keys[min(int(i * step), len(sorted_keys) - 1)]
        if not cuts or candidate != cuts[-1]:
            cuts.append(candidate)
    if cuts and cuts[0] == sorted_keys[0]:
        cuts = cuts[1:]  # a cut at the very first key would leave an empty first range
    return cuts


def first_level_parts(estimated_rows: int | None, *, rows_per_range: int, max_ranges: int) -> int:
    """How many first-level ranges a table of ``estimated_rows`` gets (1 when small or unknown)."""
    if not estimated_rows or estimated_rows <= rows_per_range:
        return 1
    return max(2, min(max_ranges, -(-estimated_rows // rows_per_range)))


def even_integer_cuts(sorted_keys: Sequence[Bound], parts: int, *, max_skew: float = 4.0,
                      finer: int = 1) -> list[Bound] | None:
    """Evenly spaced cut points for a single integer key, when the sample says keys are spread evenly.

    The server then finds a row's range by arithmetic rather than by a search. Skewed keys (a
    sampled range holding over ``max_skew`` times its share) get None: sample-picked cuts
    instead, so no first-level range is much bigger than the rest. The skew is judged at
    ``parts`` ranges (what the sample was sized for: it holds whole pages, so finer counts would
    only see its clumps); the cuts are ``finer`` times closer.
    """
    if parts < 2 or len(sorted_keys) < parts:
        return None
    try:
        low, high = int(sorted_keys[0][0]), int(sorted_keys[-1][0])
    except (ValueError, IndexError):
        return None
    step = (high - low + 1) // parts
    if step < 1:
        return None
    counts = [0] * parts
    for key in sorted_keys:
        counts[min(parts - 1, (int(key[0]) - low) // step)] += 1
    if max(counts) > max_skew * len(sorted_keys) / parts:
        return None
    cuts = max(1, min(parts * finer, high - low + 1))
    step = (high - low + 1) // cuts
    return [(str(low + i * step),) for i in range(1, cuts)]
