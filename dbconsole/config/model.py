"""What a loaded configuration is: profiles, sync rules, detection rules (SPEC "Config file").

The bottom layer of :mod:`dbconsole.config`: plain frozen values and the names of every key the
file may hold. Each :class:`Profile` keeps two faces: the expanded values used to connect (which
may hold a password) and the raw table exactly as written (with ``${VAR}`` references), which is
the only thing ever saved back.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from dbconsole.config.checks import did_you_mean, validate_url
from dbconsole.errors import ConfigError
from dbconsole.redact import mask_url
from dbconsole.urls import is_local_host, looks_like_url
from dbconsole.modes import STRATEGIES, SYNC_MODES, Mode, Strategy  # noqa: F401  (SYNC_MODES, STRATEGIES re-exported)

CONFIG_NAME = "dbconsole.toml"
LOCAL_ENV_VARS = ("DATABASE_URL", "POSTGRES_DSN", "DB_URL")
SERVER_ENV_VAR = "SERVER_DATABASE_URL"
DEFAULT_CONNECT_TIMEOUT = 10
MASK_RULES = ("mask_email", "null", "hash", "redact")
TRIGGER_POLICIES = ("disable", "keep")

# Every key the file may hold, so a typo is caught and a close match suggested.
TOP_KEYS = {"default_profile", "profiles", "sync", "detect", "tui"}
PROFILE_KEYS = {
    "url", "url_env", "read_only", "ssh", "color", "connect_timeout", "description", "live_exact_counts",
}
SSH_KEYS = {"host", "port", "user", "key", "password", "known_hosts", "jump", "compression", "transport"}
SSH_TRANSPORTS = ("auto", "openssh", "paramiko")
SYNC_KEYS = {"batch_size", "jobs", "max_snapshot_age", "mode", "retries", "split_rows", "stall_timeout", "strategy", "tables",
             "triggers", "subsets", "undo_keep_runs"}
SUBSET_KEYS = {"root", "where", "relations", "exclude", "limits"}
RELATION_KEYS = {"from", "to"}
TABLE_KEYS = {"mode", "where", "preserve_columns", "mask", "cursor", "overlap", "batch_size"}
DETECT_KEYS = {"profile", "hostname", "path"}
TUI_KEYS = {"refresh_interval", "theme", "auto_diff_rows"}


@dataclass(frozen=True)
class SshSettings:
    """The SSH hop in front of a database; ``host`` may be an alias from ``~/.ssh/config``."""

    host: str
    port: int | None = None
    user: str | None = None
    key: str | None = None
    password: str | None = field(default=None, repr=False)  # never in a log through repr()
    known_hosts: str | None = None
    jump: str | None = None  # a ProxyJump spec: [user@]host[:port][,...]
    compression: bool = True  # the COPY stream compresses 3-4x; off pays only on fast links
    transport: Literal["auto", "openssh", "paramiko"] = "auto"


@dataclass(frozen=True)
class Profile:
    """One environment: its expanded connection settings and its raw TOML table."""

    name: str
    url: str
    read_only: bool
    ssh: SshSettings | None = None
    color: str | None = None
    connect_timeout: int = DEFAULT_CONNECT_TIMEOUT
    description: str | None = None
    origin: str = "file"
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    # Opt-in: the console's live refresh may count(*) this (local, writable) database's tables.
    live_exact_counts: bool = False
    # Why this profile cannot be used right now ("needs NOPE_PASS"): its other settings are
    # valid but a ${VAR} it references is not set. Never holds a value, only variable names.
    unusable: str | None = None

    @property
    def display_url(self) -> str:
        """The URL as it may be shown: password masked."""
        return mask_url(self.url)

    @property
    def is_sqlite(self) -> bool:
        """A ``sqlite:///path`` file: a read-only source only (see :mod:`dbconsole.sqlite`)."""
        return self.url.startswith("sqlite://")

    @property
    def is_local(self) -> bool:
        """A database on this machine reached without a tunnel (the only safe default to write)."""
        return self.ssh is None and is_local_host(self.url)

    def require_usable(self) -> Profile:
        """This profile, or the one-line ConfigError telling which variables to set."""
        if self.unusable:
            them = "them" if "," in self.unusable else "it"
            raise ConfigError(f"profile '{self.name}' {self.unusable} "
                              f"(set {them} in the environment or in .env beside the config)")
        return self

    def __repr__(self) -> str:  # never let a password reach a log through repr()
        return f"Profile(name={self.name!r}, url={self.display_url!r}, read_only={self.read_only})"


@dataclass(frozen=True)
class TableRules:
    """Per-table sync settings from ``[sync.tables."schema.table"]``."""

    mode: Mode | None = None
    where: str | None = None
    preserve_columns: tuple[str, ...] = ()
    mask: Mapping[str, str] = field(default_factory=dict)
    cursor: str | None = None
    overlap: float | None = None
    batch_size: int | None = None


@dataclass(frozen=True)
class VirtualRelation:
    """An FK the schema does not declare: ``from = "public.audit_log.user_ref"``, ``to = "public.users.id"``."""

    source: str  # schema.table.column (the referencing side)
    target: str  # schema.table.column (the referenced side)


@dataclass(frozen=True)
class SubsetRules:
    """A named subset from ``[sync.subsets.NAME]``: its root rows (``where`` may hold ``{1}``-style
    arguments), virtual FKs, tables never followed down, and per-table limits applied going down."""

    root: str
    where: str
    relations: tuple[VirtualRelation, ...] = ()
    exclude: tuple[str, ...] = ()
    limits: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SyncSettings:
    batch_size: int | None = None
    mode: Mode | None = None
    retries: int | None = None
    stall_timeout: float | None = None  # seconds without a byte from the source before giving up
    tables: Mapping[str, TableRules] = field(default_factory=dict)
    triggers: str | None = None  # "disable" (default) | "keep": target user triggers during the apply
    max_snapshot_age: float | None = None  # seconds a read-only source's snapshot may stay open (0: no limit)
    strategy: Strategy | None = None  # None: auto (per table: diff when the target holds most rows)
    subsets: Mapping[str, SubsetRules] = field(default_factory=dict)
    jobs: int | Literal["auto"] | None = None  # workers of a run (--jobs); None: 1
    split_rows: int | None = None  # tables larger than this are copied as key ranges when jobs > 1
    undo_keep_runs: int | None = None  # runs whose pre-images stay on the target (None: 3; 0: off)


@dataclass(frozen=True)
class DetectRule:
    """Pick ``profile`` as the default when every given condition holds on this machine."""

    profile: str
    hostname: str | None = None
    path: str | None = None

    def matches(self, hostname: str) -> bool:
        if self.hostname is not None and not fnmatch.fnmatch(hostname, self.hostname):
            return False
        if self.path is not None and not Path(os.path.expanduser(self.path)).exists():
            return False
        return True


@dataclass
class Config:
    """Everything loaded: profiles in file order, sync settings, and where they came from."""

    path: Path | None
    profiles: dict[str, Profile]
    default_profile: str | None = None
    detect: list[DetectRule] = field(default_factory=list)
    sync: SyncSettings = field(default_factory=SyncSettings)
    tui: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)

    def profile(self, name: str) -> Profile:
        """The profile called ``name`` (or an ad-hoc one for a libpq URL), else a ConfigError
        that lists the known ones. An unusable profile is returned as is: callers that connect
        call :meth:`Profile.require_usable`."""
        if looks_like_url(name) and name not in self.profiles:
            return adhoc_profile(name)
        try:
            return self.profiles[name]
        except KeyError:
            known = ", ".join(self.profiles) or "none"
            hint = did_you_mean(name, self.profiles)
            raise ConfigError(f"unknown profile '{name}'{hint} (known: {known})") from None

    def default(self, hostname: str | None = None) -> tuple[str | None, str]:
        """Which profile this machine is, and why: env var, detect rule, or default_profile."""
        # Imported here: detection reads a Config, so it sits one layer above this module.
        from dbconsole.config.detection import detect_default_profile

        return detect_default_profile(self, hostname=hostname)

    @property
    def save_path(self) -> Path:
        return self.path or default_config_path(self.environ)


def default_config_path(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "dbconsole" / CONFIG_NAME


def adhoc_profile(url: str) -> Profile:
    """A profile for a URL given on the command line: named by the URL with its password
    masked (so every message that names it is safe), read-only unless it is a local database;
    a SQLite file URL is always read-only (a source only)."""
    if url.startswith("sqlite://"):
        return Profile(name=url, url=url, read_only=True, origin="url")
    validate_url(url, "the command line", "URL")
    return Profile(name=mask_url(url), url=url, read_only=not is_local_host(url), origin="url")
