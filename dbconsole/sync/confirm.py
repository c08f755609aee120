"""Why a sync needs an explicit yes, worded once for the CLI prompt and the wizard's confirm step.

Why one function: the rule (``replace`` deletes target rows; a target that is not a local
database is somebody's real data) was once written three ways, and the CLI's wording looked
only at ``--mode``: with ``[sync] mode = "replace"`` and a localhost target it asked "local is
not a local database". The reason and the decision now come from the same place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dbconsole.sync.plan import SyncRequest

REPLACE = "replace"
MIRROR = "mirror"


def requested_modes(request: SyncRequest) -> set[str | None]:
    """Every mode the request may sync a table in: ``--mode`` alone when given (it wins over
    every rule), else each table rule's and the ``[sync]`` default (None: upsert)."""
    if request.mode:
        return {request.mode}
    return {rules.mode for rules in request.settings.tables.values()} | {request.settings.mode}


def confirmation_reason(request: SyncRequest) -> str | None:
    """The reason this sync needs the target's name typed (or ``--yes``), or None when it does not.

    A dry run writes nothing and needs none. ``replace`` is named first because it is the more
    destructive reason: it deletes rows even on a local database.
    """
    if request.dry_run:
        return None
    modes = requested_modes(request)
    if REPLACE in modes:
        return "mode replace deletes target rows"
    if MIRROR in modes:
        return "mode mirror deletes target rows"
    if not request.target.is_local:
        return f"{request.target.name} is not a local database"
    return None
