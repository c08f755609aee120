"""The demo's third profile, ``legacy``: the app's SQLite database from before it moved to PostgreSQL.

Teams outgrow SQLite (issue 18's story): the Django app kept its data in ``db.sqlite3`` and now
runs on PostgreSQL, whose tables its migrations created. The file holds ``stocks`` and ``sectors``
as Django's SQLite backend writes them (dates and datetimes as ISO text, decimals as numbers),
taken from the local copy with a little drift: a few stocks the file never had, a few renamed
since, and a sector whose fee changed. So the console and the CLI have a SQLite side to show:
its counts beside local's, a content check that finds the changed rows, and a sync from it that
converts every value to the PostgreSQL column's type. (Not ``users``: the demo masks their
emails when read from a read-only side, so every user would compare as changed.)
"""

from __future__ import annotations

import sqlite3
from datetime import timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg

FILE_NAME = "legacy.sqlite3"
MISSING_EVERY = 25  # every 25th stock was listed after the move: not in the file
RENAMED_EVERY = 40  # every 40th stock was renamed since: the file has its old name
RAISED_FEE = "0.0001"  # the first sector's fee was raised after the move

SCHEMA = """
CREATE TABLE "stocks" ("symbol" varchar(12) NOT NULL PRIMARY KEY, "name" varchar(100) NOT NULL,
    "market" varchar(6) NOT NULL, "sector" varchar(50) NULL, "listed_on" date NULL, "updated_at" datetime NOT NULL);
CREATE TABLE "sectors" ("code" varchar(10) NOT NULL PRIMARY KEY, "name" varchar(50) NOT NULL,
    "name_en" varchar(50) NULL, "fee_rate" decimal NOT NULL, "updated_at" datetime NOT NULL);
"""


def write_legacy_sqlite(root: Path, local: psycopg.Connection[Any]) -> Path:
    """The legacy file under ``root``, from the local copy's rows (read with ``local``)."""
    path = root / FILE_NAME
    stocks = local.execute("SELECT symbol, name, market, sector, listed_on, updated_at FROM public.stocks "
                           "ORDER BY symbol").fetchall()
    sectors = local.execute("SELECT code, name, name_en, fee_rate, updated_at FROM public.sectors "
                            "ORDER BY code").fetchall()
    db = sqlite3.connect(path)
    try:
        db.executescript(SCHEMA)
        db.executemany('INSERT INTO "stocks" VALUES (?, ?, ?, ?, ?, ?)', [
            (symbol, f"{name} (old name)" if n % RENAMED_EVERY == 0 else name, market, sector,
             listed_on.isoformat() if listed_on else None, _datetime(updated_at))
            for n, (symbol, name, market, sector, listed_on, updated_at) in enumerate(stocks, 1)
            if n % MISSING_EVERY != 0])
        db.executemany('INSERT INTO "sectors" VALUES (?, ?, ?, ?, ?)', [
            (code, name, name_en, str(fee_rate - Decimal(RAISED_FEE) if n == 1 else fee_rate), _datetime(updated_at))
            for n, (code, name, name_en, fee_rate, updated_at) in enumerate(sectors, 1)])
        db.commit()
    finally:
        db.close()
    return path


def _datetime(value: Any) -> str:
    """As Django's SQLite backend stores a datetime: ISO text in UTC, a space between the parts."""
    return value.astimezone(timezone.utc).replace(tzinfo=None).isoformat(sep=" ")
