"""A SQLite profile as one side of the compare browser: the file read in the counts worker.

Why not the PostgreSQL path (connect, catalog query, estimates, exact counts on demand): a
SQLite file has no server, no estimates and no history of syncs into it (it is never a
target). One read of the file gives every table with its exact count, so a refresh shows
exact counts at once and ``ctrl+r`` has nothing more to ask. Runs in the browser's thread
worker (:meth:`CompareBrowser._load_side`); posts the same messages the PostgreSQL path does.
"""

from __future__ import annotations

from typing import Any

from dbconsole.config import Profile
from dbconsole.reading import error_line
from dbconsole.sqlite.info import read_sqlite_file
from dbconsole.tui.messages import CatalogLoaded, CountsArrived, CountsFinished, LastSyncedLoaded, ProfileStatusChanged, SideFailed


def load_sqlite_side(browser: Any, generation: int, side: str, profile: Profile) -> None:
    """In a thread: the file's tables and exact counts, or one error line for the side."""
    app = browser.app
    app.post_message(ProfileStatusChanged(profile.name, "connecting"))
    try:
        snapshot = read_sqlite_file(profile)
    except Exception as exc:  # every failure becomes one line on screen
        message = error_line(exc)
        app.post_message(ProfileStatusChanged(profile.name, "error", error=message))
        browser.post_message(SideFailed(generation, side, profile.name, message))
    else:
        app.post_message(ProfileStatusChanged(profile.name, "connected", version=snapshot.info.version,
                                              read_only=True, file=snapshot.info))
        browser.post_message(CatalogLoaded(generation, side, profile.name, snapshot.tables))
        browser.post_message(LastSyncedLoaded(generation, side, {}))
        browser.post_message(CountsArrived(generation, side, snapshot.counts))  # exact: shown without "~"
    finally:
        browser.post_message(CountsFinished(generation, side))
