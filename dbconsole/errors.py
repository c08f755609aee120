"""The errors dbconsole shows to people.

Every failure a user can cause or meet (a typo in the config, a wrong password, a closed port,
an unknown SSH host key, a constraint violation during a sync) becomes one of these, carrying a
single readable line that is safe to print: no traceback, no secret. The CLI maps them to exit
codes (2 for bad usage or configuration, 1 for an operation that failed); the TUI shows the same
line inline or as a notification.

Each error also says whether trying again could help (``transient``), set by the code that
raises it and knows why: a lost network is transient, a wrong password or an unknown SSH host
key is not (retried, it would only delay the answer, or get this machine banned by fail2ban).
"""

from __future__ import annotations

from dbconsole.redact import redact


class DbconsoleError(Exception):
    """Base of every error meant for a human. ``str(err)`` is the one line to show."""

    exit_code = 1
    transient = False  # whether the same operation, tried again later, might succeed

    def __init__(self, message: str) -> None:
        # Keep a single line even when a driver message spans several.
        super().__init__(" ".join(message.split()))

    @property
    def message(self) -> str:
        return str(self)


class ConfigError(DbconsoleError):
    """The configuration is wrong: bad TOML, unknown key, unset variable, unknown profile."""

    exit_code = 2


class UsageError(DbconsoleError):
    """The command line asks for something that cannot be done as written."""

    exit_code = 2


class ConnectError(DbconsoleError):
    """A database (or the SSH hop in front of it) could not be reached or refused us.

    ``transient``: the network or the server failed (worth a retry); False for what a retry
    cannot fix (credentials, a bad URL, a host key, settings).
    """

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


class TunnelError(ConnectError):
    """The SSH tunnel could not be opened (host key, authentication, key file, network)."""


class ReadOnlyError(DbconsoleError):
    """A write was asked of a profile that is read-only."""

    exit_code = 2


class SyncError(DbconsoleError):
    """A sync stopped: the message names the table and the reason."""

    def __init__(self, message: str, *, table: str | None = None, transient: bool = False) -> None:
        super().__init__(message)
        self.table = table
        self.transient = transient


class Cancelled(DbconsoleError):
    """The user asked to stop; the last committed checkpoint is kept."""


def one_line(exc: BaseException) -> str:
    """The one line a person sees for a failure that is not the database's: never a traceback,
    never a secret. (:func:`dbconsole.reading.error_line` adds the database's own errors.)"""
    if isinstance(exc, DbconsoleError):
        return redact(str(exc))
    text = " ".join(str(exc).split()) or exc.__class__.__name__
    return redact(f"{exc.__class__.__name__}: {text}" if not isinstance(exc, OSError) else text)
