"""Who and where the local user is, asked the way libpq and the rest of dbconsole ask.

``$HOME`` (through :func:`os.path.expanduser`) decides where ``~`` is, so a user (or a test) with
its own ``HOME`` gets the same config, keys and ``known_hosts`` from every part of dbconsole,
including the OpenSSH child, which would otherwise look them up in the password database.
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path


def login_name() -> str:
    """The local login name (libpq's default database user), ``postgres`` if none is known."""
    try:
        return getpass.getuser()
    except Exception:  # no USER/LOGNAME and no password-database entry (a bare container)
        return "postgres"


def home_dir() -> Path:
    """``~`` as dbconsole resolves it: ``$HOME`` first, the password database only without it."""
    return Path(os.path.expanduser("~"))


def expand_user_path(path: str) -> str:
    """``~/x`` -> ``$HOME/x``; other paths unchanged."""
    return os.path.expanduser(path)
