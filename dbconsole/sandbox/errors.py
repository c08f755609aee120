"""The one error type of the sandbox.

Why a separate class: a failure to build the throwaway servers (no PostgreSQL installed, initdb
refusing, a port that never frees up) is neither a configuration mistake nor a failure to reach
the user's own database, yet the CLI must still print it as one readable line and exit 1.
"""

from __future__ import annotations

from dbconsole.errors import DbconsoleError


class SandboxError(DbconsoleError):
    """A throwaway PostgreSQL cluster or SSH server could not be created or driven."""
