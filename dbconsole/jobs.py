"""How many workers a run uses (``--jobs N|auto``, ``[sync] jobs``) and when a table is split.

Kept apart from the scheduler (:mod:`dbconsole.sync.parallel`) and free of imports of ours (as
:mod:`dbconsole.modes`), so the config loader, the CLI and the wizard validate a value without
importing the engine. ``auto`` is the cores this process may run
on, at most :data:`MAX_AUTO_JOBS`: past that the source's disks and the tunnel, not the CPU,
are what a sync waits for, and each worker is two more sessions on production.
"""

from __future__ import annotations

import os
from typing import Literal

JobsSetting = int | Literal["auto"]
MAX_AUTO_JOBS = 8
MAX_JOBS = 64  # a typo guard: more sessions than this is never what a sync wants
DEFAULT_SPLIT_ROWS = 1_000_000  # a table with more rows (the catalog's estimate) is copied as key ranges
JOBS_HELP = "a whole number from 1 to 64, or auto"


def usable_cores() -> int:
    """The cores this process may run on (the affinity mask, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return max(1, os.cpu_count() or 1)


def parse_jobs(value: object) -> JobsSetting | None:
    """``value`` as a jobs setting, or None when it is not one (the caller words the error)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "auto":
            return "auto"
        if not text.isdigit():
            return None
        value = int(text)
    if isinstance(value, int) and 1 <= value <= MAX_JOBS:
        return value
    return None


def resolve_jobs(setting: JobsSetting | None) -> int:
    """Workers for a run: the setting, ``auto`` = usable cores (at most 8), nothing = 1."""
    if setting is None:
        return 1
    if setting == "auto":
        return min(MAX_AUTO_JOBS, usable_cores())
    return int(setting)
