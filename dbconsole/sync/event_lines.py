"""One event as one JSON line: SPEC's ``sync --json`` contract, for every face that writes it.

``dbconsole sync --json`` prints these lines and the Airflow operator writes the same lines into
its task log, so a log parser written for one reads the other.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

from dbconsole.sync.events import SyncEvent

__all__ = ["json_line", "utc_timestamp"]


def utc_timestamp() -> str:
    """``2026-12-01T10:30:48.123Z``: when an event was printed, for logs that interleave runs."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def json_line(event: SyncEvent) -> str:
    """The event's JSON object, stamped with ``ts`` (ISO-8601, UTC), without a newline."""
    data = event.to_json()
    data["ts"] = utc_timestamp()
    return json.dumps(data, ensure_ascii=False, default=str)
