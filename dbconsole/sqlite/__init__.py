"""SQLite as a read-only source: ``url = "sqlite:///path"`` profiles (SPEC "Other sources").

Projects outgrow SQLite (Django's development default) and move to PostgreSQL: dump, migrate,
load, then count rows on both sides. Here a SQLite file is one more side: ``tables``, ``schema``,
``diff`` and ``sync`` into PostgreSQL tables that the app's own migrations created, with every
value converted to its target column's type on the way (:mod:`.convert`).

* :mod:`.source`  – the file opened read-only (``mode=ro``), its catalog as :class:`~dbconsole.catalog.Table` values
* :mod:`.convert` – SQLite's loose values into the target column's type, or a clear refusal
* :mod:`.sides`   – ``tables`` and ``schema`` with a SQLite side
* :mod:`.content` – ``diff`` with a SQLite side: counts, and rows compared by key in Python
* :mod:`.sync`    – the sync: batches by key, converted rows through COPY, checkpoints like any run
* :mod:`.info`, :mod:`.preview` – the console's view of the file: what it is, and a table's first
  rows shown as the PostgreSQL side's types would hold them (the inspector)

The URL follows SQLAlchemy's and dj-database-url's rule: ``sqlite:///relative/path`` (relative
to the current directory) and ``sqlite:////absolute/path``; ``~`` is expanded. SQLite is
never a target, never behind SSH and always read-only. Only the standard library's ``sqlite3``
is used.
"""

from __future__ import annotations

import os
from pathlib import Path

SQLITE_SCHEME = "sqlite://"
SQLITE_SCHEMA = "public"  # SQLite has no schemas: its tables line up with PostgreSQL's public ones


def is_sqlite_url(url: str) -> bool:
    return url.startswith(SQLITE_SCHEME)


def sqlite_path(url: str) -> Path:
    """The file a ``sqlite:///...`` URL names (``sqlite:////abs`` absolute, ``sqlite:///rel`` relative)."""
    rest = url[len(SQLITE_SCHEME):]
    if not rest.startswith("/"):
        raise ValueError("a SQLite URL is sqlite:///relative/path or sqlite:////absolute/path")
    path = rest[1:].split("?", 1)[0]
    if not path:
        raise ValueError("the SQLite URL names no file")
    return Path(os.path.expanduser(path))
