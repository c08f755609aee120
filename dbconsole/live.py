"""Which row counts a profile may get without being asked: the rule shared by `tables` and the console.

``count(*)`` reads a whole table. On a production server behind a tunnel, a refresh that counts
every table every minute is a full scan of the database every minute, done by a tool the user
thinks is idle. So counts are estimates from the catalog (``reltuples`` / ``n_live_tup``) unless
the user asks for exact ones (``tables --exact``, ``ctrl+r`` in the console), and the only
profile that gets exact counts unasked is a local, writable database whose profile opts in
with ``live_exact_counts = true``.
"""

from __future__ import annotations

from typing import Literal

from dbconsole.config import Profile

CountKind = Literal["exact", "estimate"]


def gets_exact_live_counts(profile: Profile) -> bool:
    """True only for a local, writable database whose profile sets ``live_exact_counts = true``."""
    return profile.is_local and not profile.read_only and profile.live_exact_counts


def count_kind(profile: Profile, *, asked_exact: bool) -> CountKind:
    """The counts a listing of ``profile`` shows: exact when asked for, or when the profile opts in."""
    return "exact" if asked_exact or gets_exact_live_counts(profile) else "estimate"
