"""The sync modes, named once: config validation, the CLI's choices, the wizard's list and the plan.

A module of its own with no imports, so the config (which the engine imports) can use it
without a cycle.
"""

from __future__ import annotations

from typing import Literal, get_args

Mode = Literal["upsert", "replace", "incremental", "xmin", "mirror"]

SYNC_MODES: tuple[Mode, ...] = get_args(Mode)
DEFAULT_MODE: Mode = "upsert"
# Modes that remember where the last successful run stopped, and read only what changed since.
WATERMARK_MODES: tuple[Mode, ...] = ("incremental", "xmin")
# Modes that match source rows to target rows by key, batch after batch.
KEYED_MODES: tuple[Mode, ...] = ("upsert", "incremental", "xmin", "mirror")
# Modes that delete target rows the source lacks, so a run needs an explicit yes.
DELETING_MODES: tuple[Mode, ...] = ("replace", "mirror")

# How a keyed table's rows are read: every row (copy), only the key ranges whose checksums
# differ (diff), or chosen per table from the two sides' sizes (auto).
Strategy = Literal["auto", "diff", "copy"]
STRATEGIES: tuple[Strategy, ...] = get_args(Strategy)
DEFAULT_STRATEGY: Strategy = "auto"
