"""Profiles: where each environment's database lives and how careful to be with it.

The file is TOML (SPEC "Config file"), read with :mod:`tomllib` and written with tomli-w. It is
found by ``--config`` > ``$DBCONSOLE_CONFIG`` > ``./dbconsole.toml`` >
``$XDG_CONFIG_HOME/dbconsole/dbconsole.toml``. ``${VAR}`` references are expanded from the
environment and from ``.env`` files (beside the config, then the working directory; real
environment variables win), so secrets live in ``.env`` and never in the file the app writes.
With no file at all, the classic variables become profiles: ``local`` from ``DATABASE_URL`` /
``POSTGRES_DSN`` / ``DB_URL`` and ``server`` from ``SERVER_DATABASE_URL``.

Each :class:`Profile` keeps two faces: the expanded values used to connect (which may hold a
password) and the raw table exactly as written (with ``${VAR}`` references), which is the only
thing ever saved back.
"""

from __future__ import annotations

import copy
import difflib
import fnmatch
import os
import re
import socket
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import tomli_w
from dotenv import dotenv_values
from psycopg.conninfo import conninfo_to_dict

from dbconsole.errors import ConfigError
from dbconsole.fsutil import atomic_write
from dbconsole.redact import mask_url, register_secret

CONFIG_NAME = "dbconsole.toml"
LOCAL_ENV_VARS = ("DATABASE_URL", "POSTGRES_DSN", "DB_URL")
SERVER_ENV_VAR = "SERVER_DATABASE_URL"
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", ""}
DEFAULT_CONNECT_TIMEOUT = 10
MASK_RULES = ("mask_email", "null", "hash", "redact")
SYNC_MODES = ("upsert", "replace", "incremental", "xmin")

# Every key the file may hold, so a typo is caught and a close match suggested.
TOP_KEYS = {"default_profile", "profiles", "sync", "detect", "tui"}
PROFILE_KEYS = {
    "url", "url_env", "read_only", "ssh", "color", "connect_timeout", "description", "live_exact_counts",
}
SSH_KEYS = {"host", "port", "user", "key", "password", "known_hosts"}
SYNC_KEYS = {"batch_size", "mode", "retries", "stall_timeout", "tables", "triggers"}
TRIGGER_POLICIES = ("disable", "keep")
TABLE_KEYS = {"mode", "where", "preserve_columns", "mask", "cursor", "overlap", "batch_size"}
DETECT_KEYS = {"profile", "hostname", "path"}
TUI_KEYS = {"refresh_interval", "theme", "auto_diff_rows"}

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Variable names that hold secrets (PWD/OLDPWD, the shell's working directory, do not count).
_SECRET_NAME = re.compile(r"PASS|SECRET|TOKEN|CREDENTIAL|(?<!^)(?<!OLD)PWD", re.IGNORECASE)


# --------------------------------------------------------------------------- data model


@dataclass(frozen=True)
class SshSettings:
    """The SSH hop in front of a database; ``host`` may be an alias from ``~/.ssh/config``."""

    host: str
    port: int | None = None
    user: str | None = None
    key: str | None = None
    password: str | None = field(default=None, repr=False)  # never in a log through repr()
    known_hosts: str | None = None


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

    mode: str | None = None
    where: str | None = None
    preserve_columns: tuple[str, ...] = ()
    mask: Mapping[str, str] = field(default_factory=dict)
    cursor: str | None = None
    overlap: float | None = None
    batch_size: int | None = None


@dataclass(frozen=True)
class SyncSettings:
    batch_size: int | None = None
    mode: str | None = None
    retries: int | None = None
    stall_timeout: float | None = None  # seconds without a byte from the source before giving up
    tables: Mapping[str, TableRules] = field(default_factory=dict)
    triggers: str | None = None  # "disable" (default) | "keep": target user triggers during the apply


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
            hint = _did_you_mean(name, self.profiles)
            raise ConfigError(f"unknown profile '{name}'{hint} (known: {known})") from None

    def default(self, hostname: str | None = None) -> tuple[str | None, str]:
        """Which profile this machine is, and why: env var, detect rule, or default_profile."""
        return detect_default_profile(self, hostname=hostname)

    @property
    def save_path(self) -> Path:
        return self.path or default_config_path(self.environ)


# --------------------------------------------------------------------------- discovery


def default_config_path(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "dbconsole" / CONFIG_NAME


def find_config(
    explicit: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Path | None:
    """The config file to use, by SPEC precedence; None when there is none at all."""
    env = os.environ if environ is None else environ
    if explicit:
        path = Path(os.path.expanduser(str(explicit)))
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        return path
    if env.get("DBCONSOLE_CONFIG"):
        path = Path(os.path.expanduser(env["DBCONSOLE_CONFIG"]))
        if not path.is_file():
            raise ConfigError(f"config file not found: {path} (from $DBCONSOLE_CONFIG)")
        return path
    local = (cwd or Path.cwd()) / CONFIG_NAME
    if local.is_file():
        return local
    xdg = default_config_path(env)
    return xdg if xdg.is_file() else None


def load_environ(config_path: Path | None, *, environ: Mapping[str, str] | None = None,
                 cwd: Path | None = None) -> dict[str, str]:
    """The variables ``${VAR}`` may use: ``.env`` files under the real environment."""
    merged: dict[str, str] = {}
    env_files = [(cwd or Path.cwd()) / ".env"]
    if config_path is not None:
        env_files.append(config_path.parent / ".env")  # beside the config wins over the cwd
    for env_file in env_files:
        if env_file.is_file():
            try:
                values = dotenv_values(env_file)
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"cannot read {env_file}: {exc.__class__.__name__}") from None
            merged.update({k: v for k, v in values.items() if v is not None})
    merged.update(os.environ if environ is None else environ)
    return merged


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Config:
    """Find, read, expand and validate the configuration (or build it from env vars)."""
    base_env = os.environ if environ is None else environ
    config_path = find_config(path, environ=base_env, cwd=cwd)
    env = load_environ(config_path, environ=base_env, cwd=cwd)
    if config_path is None:
        return config_from_env(env)
    try:
        text = config_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {config_path}: {exc.__class__.__name__}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML in {config_path}: {exc}") from None
    return parse_config(data, path=config_path, environ=env)


def config_from_env(env: Mapping[str, str]) -> Config:
    """Profiles from the variables teams already use when there is no config file."""
    profiles: dict[str, Profile] = {}
    for var in LOCAL_ENV_VARS:
        if env.get(var):
            profiles["local"] = _profile_from_raw("local", {"url_env": var}, env, where=f"${var}",
                                                  origin=f"env:{var}")
            break
    if env.get(SERVER_ENV_VAR):
        # A server reached through a hand-made tunnel looks like localhost: never trust that.
        profiles["server"] = _profile_from_raw(
            "server", {"url_env": SERVER_ENV_VAR, "read_only": True}, env,
            where=f"${SERVER_ENV_VAR}", origin=f"env:{SERVER_ENV_VAR}")
    return Config(path=None, profiles=profiles, environ=env,
                  default_profile="local" if "local" in profiles else None)


# --------------------------------------------------------------------------- parsing


def parse_config(data: Mapping[str, Any], *, path: Path | None, environ: Mapping[str, str]) -> Config:
    """Validate a decoded TOML document; every error names the file and the key."""
    where = str(path) if path else "config"
    _check_keys(data, TOP_KEYS, where, "")
    raw_profiles = _expect(data.get("profiles", {}), dict, where, "profiles")
    profiles: dict[str, Profile] = {}
    for name, raw in raw_profiles.items():
        raw = _expect(raw, dict, where, f"profiles.{name}")
        profiles[name] = _profile_from_raw(name, raw, environ, where=where)

    default_profile = data.get("default_profile")
    if default_profile is not None:
        _expect(default_profile, str, where, "default_profile")
        if default_profile not in profiles:
            raise ConfigError(f"{where}: default_profile '{default_profile}' is not a profile"
                              f"{_did_you_mean(default_profile, profiles)}")

    detect = [_parse_detect(rule, i, profiles, where)
              for i, rule in enumerate(_expect(data.get("detect", []), list, where, "detect"))]
    sync = _parse_sync(data.get("sync", {}), where)
    tui = _expect(data.get("tui", {}), dict, where, "tui")
    _check_keys(tui, TUI_KEYS, where, "tui.")
    interval = tui.get("refresh_interval")
    if interval is not None and (not isinstance(interval, (int, float)) or isinstance(interval, bool) or interval < 0):
        raise ConfigError(f"{where}: tui.refresh_interval must be a number of seconds >= 0 (0: no live refresh)")
    auto_rows = tui.get("auto_diff_rows")
    if auto_rows is not None and (not isinstance(auto_rows, int) or isinstance(auto_rows, bool) or auto_rows < 0):
        raise ConfigError(f"{where}: tui.auto_diff_rows must be a whole number of rows >= 0 (0: off)")
    if tui.get("theme") not in (None, "dark", "light"):
        raise ConfigError(f"{where}: tui.theme must be \"dark\" or \"light\"")
    return Config(path=path, profiles=profiles, default_profile=default_profile, detect=detect,
                  sync=sync, tui=dict(tui), raw=copy.deepcopy(dict(data)), environ=environ)


def _profile_from_raw(name: str, raw: Mapping[str, Any], env: Mapping[str, str], *, where: str,
                      origin: str = "file") -> Profile:
    """Validate one profile table; a ``${VAR}`` that is not set makes it unusable, not an error.

    Everything that can be checked without the variables' values (keys, types, url vs
    url_env) stays strict, so a typo still stops the load; only the expansion waits until
    the profile is used (:meth:`Profile.require_usable`).
    """
    key = f"profiles.{name}"
    _check_keys(raw, PROFILE_KEYS, where, key + ".")
    if ("url" in raw) == ("url_env" in raw):
        raise ConfigError(f"{where}: {key} needs exactly one of 'url' or 'url_env'")
    options = _profile_options(raw, where, key)
    ssh_raw = _expect(raw["ssh"], dict, where, f"{key}.ssh") if "ssh" in raw else None
    if ssh_raw is not None:
        _check_ssh_shape(ssh_raw, where, f"{key}.ssh")
    missing = _missing_variables(raw, env, where, key)
    if missing:
        return _unusable_profile(name, raw, options, missing, origin)
    if "url_env" in raw:
        url = env[raw["url_env"]]
    else:
        url = expand_url(raw["url"], env, where, f"{key}.url")
    _validate_url(url, where, f"{key}.url")
    ssh = _parse_ssh(ssh_raw, env, where, f"{key}.ssh") if ssh_raw is not None else None
    read_only = options.pop("read_only")
    if read_only is None:
        read_only = not (ssh is None and is_local_host(url))
    return Profile(name=name, url=url, read_only=read_only, ssh=ssh, origin=origin,
                   raw=copy.deepcopy(dict(raw)), **options)


def _profile_options(raw: Mapping[str, Any], where: str, key: str) -> dict[str, Any]:
    """The settings that hold no ``${VAR}``: checked the same whether the profile is usable or not."""
    read_only = raw.get("read_only")
    if read_only is not None:
        _expect(read_only, bool, where, f"{key}.read_only")
    timeout = raw.get("connect_timeout", DEFAULT_CONNECT_TIMEOUT)
    if not isinstance(timeout, int) or isinstance(timeout, bool) or timeout <= 0:
        raise ConfigError(f"{where}: {key}.connect_timeout must be a positive whole number of seconds")
    for name in ("color", "description"):
        if raw.get(name) is not None:
            _expect(raw[name], str, where, f"{key}.{name}")
    live_exact = _expect(raw.get("live_exact_counts", False), bool, where, f"{key}.live_exact_counts")
    return {"read_only": read_only, "connect_timeout": timeout, "color": raw.get("color"),
            "description": raw.get("description"), "live_exact_counts": live_exact}


def _missing_variables(raw: Mapping[str, Any], env: Mapping[str, str], where: str, key: str) -> list[str]:
    """Every variable the profile needs that neither the environment nor ``.env`` sets, in order."""
    if "url_env" in raw:
        var = _expect(raw["url_env"], str, where, f"{key}.url_env")
        texts = [] if env.get(var) else [f"${{{var}}}"]
    else:
        texts = [_expect(raw["url"], str, where, f"{key}.url")]
    ssh = raw.get("ssh") or {}
    texts += [value for value in ssh.values() if isinstance(value, str)]
    names = [name for text in texts for name in _VAR.findall(text) if name not in env]
    return list(dict.fromkeys(names))


def _unusable_profile(name: str, raw: Mapping[str, Any], options: dict[str, Any], missing: list[str],
                      origin: str) -> Profile:
    """A profile kept for listing: its URL as written (references, no values), read-only unless
    it is plainly a local database, and the variables it waits for."""
    raw_url = str(raw.get("url") or f"${{{raw.get('url_env')}}}")
    read_only = options.pop("read_only")
    if read_only is None:
        read_only = "ssh" in raw or not is_local_host(raw_url)
    ssh_raw = raw.get("ssh")
    ssh = None
    if ssh_raw:
        port = ssh_raw.get("port")
        ssh = SshSettings(host=str(ssh_raw["host"]), port=port if isinstance(port, int) else None,
                          user=ssh_raw.get("user"), key=ssh_raw.get("key"),
                          known_hosts=ssh_raw.get("known_hosts"))
    return Profile(name=name, url=raw_url, read_only=read_only, ssh=ssh, origin=origin,
                   raw=copy.deepcopy(dict(raw)), unusable="needs " + ", ".join(missing), **options)


def _check_ssh_shape(raw: Mapping[str, Any], where: str, key: str) -> None:
    _check_keys(raw, SSH_KEYS, where, key + ".")
    if "host" not in raw:
        raise ConfigError(f"{where}: {key}.host is required")
    for name in ("host", "user", "key", "password", "known_hosts"):
        if name in raw:
            _expect(raw[name], str, where, f"{key}.{name}")


def _parse_ssh(raw: Mapping[str, Any], env: Mapping[str, str], where: str, key: str) -> SshSettings:
    values: dict[str, Any] = {}
    for name in ("host", "user", "key", "password", "known_hosts"):
        if name in raw:
            value = expand(_expect(raw[name], str, where, f"{key}.{name}"), env, where, f"{key}.{name}")
            values[name] = value
    if "port" in raw:
        port = raw["port"]
        if isinstance(port, str):
            port = expand(port, env, where, f"{key}.port")
            port = int(port) if port.isdigit() else port
        if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
            raise ConfigError(f"{where}: {key}.port must be a port number (1-65535)")
        values["port"] = port
    if not values["host"]:
        raise ConfigError(f"{where}: {key}.host is empty")
    register_secret(values.get("password"))
    return SshSettings(**values)


def _parse_detect(rule: Any, index: int, profiles: Mapping[str, Profile], where: str) -> DetectRule:
    key = f"detect[{index}]"
    rule = _expect(rule, dict, where, key)
    _check_keys(rule, DETECT_KEYS, where, key + ".")
    profile = _expect(rule.get("profile"), str, where, f"{key}.profile")
    if profile not in profiles:
        raise ConfigError(f"{where}: {key}.profile '{profile}' is not a profile"
                          f"{_did_you_mean(profile, profiles)}")
    if "hostname" not in rule and "path" not in rule:
        raise ConfigError(f"{where}: {key} needs 'hostname' or 'path'")
    hostname = rule.get("hostname")
    path = rule.get("path")
    if hostname is not None:
        _expect(hostname, str, where, f"{key}.hostname")
    if path is not None:
        _expect(path, str, where, f"{key}.path")
    return DetectRule(profile=profile, hostname=hostname, path=path)


def _parse_sync(raw: Any, where: str) -> SyncSettings:
    raw = _expect(raw, dict, where, "sync")
    _check_keys(raw, SYNC_KEYS, where, "sync.")
    batch_size = raw.get("batch_size")
    if batch_size is not None:
        _positive_int(batch_size, where, "sync.batch_size")
    retries = raw.get("retries")
    if retries is not None and (not isinstance(retries, int) or isinstance(retries, bool) or retries < 0):
        raise ConfigError(f"{where}: sync.retries must be a whole number >= 0")
    mode = raw.get("mode")
    if mode is not None:
        _check_mode(mode, where, "sync.mode")
    stall = raw.get("stall_timeout")
    if stall is not None and (not isinstance(stall, (int, float)) or isinstance(stall, bool) or stall <= 0):
        raise ConfigError(f"{where}: sync.stall_timeout must be a number of seconds > 0")
    triggers = raw.get("triggers")
    if triggers is not None and triggers not in TRIGGER_POLICIES:
        raise ConfigError(f"{where}: sync.triggers must be one of {', '.join(TRIGGER_POLICIES)}")
    tables = {}
    for name, table_raw in _expect(raw.get("tables", {}), dict, where, "sync.tables").items():
        tables[name] = _parse_table_rules(table_raw, where, f'sync.tables."{name}"')
    return SyncSettings(batch_size=batch_size, mode=mode, retries=retries,
                        stall_timeout=float(stall) if stall is not None else None, tables=tables, triggers=triggers)


def _parse_table_rules(raw: Any, where: str, key: str) -> TableRules:
    raw = _expect(raw, dict, where, key)
    _check_keys(raw, TABLE_KEYS, where, key + ".")
    if "mode" in raw:
        _check_mode(raw["mode"], where, f"{key}.mode")
    preserve = _expect(raw.get("preserve_columns", []), list, where, f"{key}.preserve_columns")
    if not all(isinstance(c, str) for c in preserve):
        raise ConfigError(f"{where}: {key}.preserve_columns must be a list of column names")
    mask = _expect(raw.get("mask", {}), dict, where, f"{key}.mask")
    for column, rule in mask.items():
        if not isinstance(rule, str) or not (rule in MASK_RULES or rule.startswith("fixed:")):
            allowed = ", ".join(MASK_RULES + ("fixed:VALUE",))
            raise ConfigError(f"{where}: {key}.mask.{column}: unknown rule {rule!r} (use one of {allowed})")
    for name in ("where", "cursor"):
        if name in raw:
            _expect(raw[name], str, where, f"{key}.{name}")
    overlap = raw.get("overlap")
    if overlap is not None and (not isinstance(overlap, (int, float)) or isinstance(overlap, bool) or overlap < 0):
        raise ConfigError(f"{where}: {key}.overlap must be a number of seconds >= 0")
    batch_size = raw.get("batch_size")
    if batch_size is not None:
        _positive_int(batch_size, where, f"{key}.batch_size")
    return TableRules(mode=raw.get("mode"), where=raw.get("where"), preserve_columns=tuple(preserve),
                      mask=dict(mask), cursor=raw.get("cursor"),
                      overlap=float(overlap) if overlap is not None else None, batch_size=batch_size)


# --------------------------------------------------------------------------- ad-hoc profiles


def looks_like_url(text: str) -> bool:
    """A libpq URL typed where a profile name is expected (``postgresql://...``)."""
    return text.startswith(("postgresql://", "postgres://"))


def adhoc_profile(url: str) -> Profile:
    """A profile for a URL given on the command line: named by the URL with its password
    masked (so every message that names it is safe), read-only unless it is a local database."""
    where = "the command line"
    _validate_url(url, where, "URL")
    shown = mask_url(url)
    return Profile(name=shown, url=url, read_only=not is_local_host(url), origin="url")


# --------------------------------------------------------------------------- helpers


def expand(value: str, env: Mapping[str, str], where: str, key: str) -> str:
    """Replace each ``${VAR}``; an unset variable is a configuration error naming it."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise ConfigError(f"{where}: {key}: ${{{name}}} is not set "
                              "(define it in the environment or in a .env file)")
        result = env[name]
        if _SECRET_NAME.search(name):
            register_secret(result)
        return result

    return _VAR.sub(substitute, value)


def expand_url(value: str, env: Mapping[str, str], where: str, key: str) -> str:
    """Expand a URL; values landing in its ``user:password@`` part are percent-encoded.

    ``.env`` holds passwords as they are, and a password with ``@``, ``/`` or ``:`` would
    otherwise break the URL it is spliced into.
    """
    scheme, sep, rest = value.partition("://")
    if not sep:
        return expand(value, env, where, key)
    authority, slash, tail = rest.partition("/")
    userinfo, at, hostinfo = authority.rpartition("@")
    if not at:
        return expand(value, env, where, key)
    user, colon, password = userinfo.partition(":")
    quoted = lambda part: quote(expand(part, env, where, key), safe="")  # noqa: E731
    expanded_userinfo = quoted(user) if "${" in user else user
    if colon:
        expanded_userinfo += ":" + (quoted(password) if "${" in password else password)
    return (f"{expand(scheme, env, where, key)}://{expanded_userinfo}@"
            f"{expand(hostinfo, env, where, key)}{slash}{expand(tail, env, where, key)}")


def is_local_host(url: str) -> bool:
    """True when the URL's host is this machine: localhost, a loopback address or a socket."""
    try:
        params = conninfo_to_dict(url)
    except Exception:
        return False
    hosts = str(params.get("host") or "").split(",")
    hostaddrs = str(params.get("hostaddr") or "").split(",")
    return all(h in LOCAL_HOSTS or h.startswith("/") for h in hosts) and all(
        a in LOCAL_HOSTS for a in hostaddrs)


def _validate_url(url: str, where: str, key: str) -> None:
    """libpq must be able to parse the URL; the password found in it becomes a secret."""
    if "://" in url and not url.startswith(("postgresql://", "postgres://")):
        raise ConfigError(f"{where}: {key}: the URL must start with postgresql:// ({mask_url(url)!r})")
    try:
        params = conninfo_to_dict(url)
    except Exception:
        raise ConfigError(f"{where}: {key}: malformed connection URL {mask_url(url)!r}") from None
    register_secret(params.get("password"))
    for port in str(params.get("port") or "").split(","):
        if port and not (port.isdigit() and 0 < int(port) < 65536):
            shown = mask_url(url)
            # A raw '/' in a password makes libpq read part of it as the port: never echo that part.
            detail = f" (bad port {port!r})" if port in shown else ""
            raise ConfigError(f"{where}: {key}: malformed connection URL {shown!r}{detail}")


def _check_keys(table: Mapping[str, Any], allowed: set[str], where: str, prefix: str) -> None:
    for name in table:
        if name not in allowed:
            hint = _did_you_mean(name, allowed)
            raise ConfigError(f"{where}: unknown key '{prefix}{name}'{hint}")


def _did_you_mean(name: str, choices: Any) -> str:
    match = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


def _expect(value: Any, kind: type, where: str, key: str) -> Any:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        names = {dict: "a table", list: "a list", str: "a string", bool: "true or false", int: "a number"}
        raise ConfigError(f"{where}: {key} must be {names.get(kind, kind.__name__)}")
    return value


def _positive_int(value: Any, where: str, key: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ConfigError(f"{where}: {key} must be a whole number > 0")


def _check_mode(mode: Any, where: str, key: str) -> None:
    if mode not in SYNC_MODES:
        raise ConfigError(f"{where}: {key} must be one of {', '.join(SYNC_MODES)}{_did_you_mean(str(mode), SYNC_MODES)}")


# --------------------------------------------------------------------------- detection


def detect_default_profile(config: Config, hostname: str | None = None) -> tuple[str | None, str]:
    """The profile this machine should start on, with the reason, in SPEC order."""
    env = config.environ
    chosen = env.get("DBCONSOLE_PROFILE")
    if chosen:
        if chosen not in config.profiles:
            raise ConfigError(f"$DBCONSOLE_PROFILE names unknown profile '{chosen}'"
                              f"{_did_you_mean(chosen, config.profiles)}")
        return chosen, "$DBCONSOLE_PROFILE"
    environment = env.get("ENVIRONMENT")
    if environment:
        for name in config.profiles:
            if name.lower() == environment.lower():
                return name, "$ENVIRONMENT"
    host = hostname if hostname is not None else socket.gethostname()
    for index, rule in enumerate(config.detect):
        if rule.matches(host):
            return rule.profile, f"detect[{index}]"
    if config.default_profile:
        return config.default_profile, "default_profile"
    if "local" in config.profiles:
        return "local", "name"
    if config.profiles:
        return next(iter(config.profiles)), "first profile"
    return None, "no profiles"


# --------------------------------------------------------------------------- saving


def profile_table(
    *,
    url: str | None = None,
    url_env: str | None = None,
    read_only: bool | None = None,
    ssh: Mapping[str, Any] | None = None,
    color: str | None = None,
    connect_timeout: int | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    """A raw profile table as the file holds it, leaving out what is unset."""
    table: dict[str, Any] = {}
    if url is not None:
        table["url"] = url
    if url_env is not None:
        table["url_env"] = url_env
    if read_only is not None:
        table["read_only"] = read_only
    if ssh:
        table["ssh"] = {k: v for k, v in ssh.items() if v not in (None, "")}
    if color:
        table["color"] = color
    if connect_timeout is not None and connect_timeout != DEFAULT_CONNECT_TIMEOUT:
        table["connect_timeout"] = connect_timeout
    if description:
        table["description"] = description
    return table


def with_profile(config: Config, name: str, table: Mapping[str, Any], *, old_name: str | None = None) -> Config:
    """A new Config with profile ``name`` added or replaced (renamed from ``old_name``).

    The table is validated exactly as if it had been read from the file, so a form cannot
    save what the loader would later refuse.
    """
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ConfigError(f"profile name {name!r} may only use letters, digits, '_', '-' and '.'")
    raw = copy.deepcopy(config.raw) if config.raw else {}
    profiles = dict(raw.get("profiles", {p.name: dict(p.raw) for p in config.profiles.values()
                                         if p.origin == "file"}))
    if old_name and old_name != name:
        profiles.pop(old_name, None)
        if raw.get("default_profile") == old_name:
            raw["default_profile"] = name
    profiles[name] = dict(table)
    raw["profiles"] = profiles
    return parse_config(raw, path=config.save_path, environ=config.environ)


def without_profile(config: Config, name: str) -> Config:
    config.profile(name)
    raw = copy.deepcopy(config.raw)
    raw.get("profiles", {}).pop(name, None)
    if raw.get("default_profile") == name:
        raw.pop("default_profile")
    raw["detect"] = [r for r in raw.get("detect", []) if r.get("profile") != name]
    if not raw["detect"]:
        raw.pop("detect")
    return parse_config(raw, path=config.save_path, environ=config.environ)


def save_config(config: Config, path: str | os.PathLike[str] | None = None) -> Path:
    """Write the raw (unexpanded) document atomically with mode 0600.

    Only the raw tables are written, so ``${VAR}`` stays a reference. As a last guard, the text
    is checked against every expanded secret value: if one would land in the file (because it
    was typed literally where a reference belongs), nothing is written.
    """
    target = Path(path) if path else config.save_path
    document = {k: v for k, v in config.raw.items() if v not in ({}, [], None)}
    if "profiles" not in document:
        document["profiles"] = {p.name: dict(p.raw) for p in config.profiles.values() if p.origin == "file"}
    text = tomli_w.dumps(document)
    values = list(_string_values(document))
    for secret in _expanded_secrets(config):
        if any(_holds_secret(value, secret) for value in values):
            raise ConfigError("refusing to save: a password would be written into the config file; "
                              "use a ${VAR} reference and put the value in .env")
    atomic_write(target, text)
    config.path = target
    return target


def _expanded_secrets(config: Config) -> list[str]:
    """Secret values the config got by expansion: referenced secret-like ``${VAR}``s and
    ``url_env`` variables, and passwords that a ``${...}`` put into a URL."""
    referenced = set(_VAR.findall(tomli_w.dumps(config.raw))) if config.raw else set()
    referenced |= {str(p.raw["url_env"]) for p in config.profiles.values() if "url_env" in p.raw}
    found = [config.environ[name] for name in referenced
             if config.environ.get(name) and _SECRET_NAME.search(name)]
    for profile in config.profiles.values():
        raw_url = str(profile.raw.get("url", ""))
        if "${" in raw_url or "url_env" in profile.raw:
            password = _password_of(profile.url)
            if password and password not in raw_url:
                found.append(password)
    return found


def _string_values(node: Any) -> Any:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _string_values(value)
    elif isinstance(node, list):
        for value in node:
            yield from _string_values(value)


def _holds_secret(value: str, secret: str) -> bool:
    """A long secret anywhere in a value; a short one only where a URL keeps its password."""
    if len(secret) >= 4:
        return secret in value or quote(secret, safe="") in value
    return f":{secret}@" in value or f":{quote(secret, safe='')}@" in value


def _password_of(url: str) -> str | None:
    try:
        return conninfo_to_dict(url).get("password")
    except Exception:
        return None


def env_var_name(profile_name: str, what: str = "PASSWORD") -> str:
    """The variable a form stores a profile's secret in: ``DBCONSOLE_<PROFILE>_<WHAT>``."""
    return "DBCONSOLE_" + re.sub(r"[^A-Z0-9]", "_", profile_name.upper()) + "_" + what


def set_env_secret(env_path: Path, name: str, value: str) -> None:
    """Store ``name=value`` in a ``.env`` file (atomic, 0600), replacing an earlier value."""
    lines = env_path.read_text(encoding="utf-8").splitlines() if env_path.is_file() else []
    # python-dotenv expands ${NAME} even inside quotes and has no escape for it; "${:-}" (no name,
    # empty default) expands to nothing, so a "$${:-}{" written here reads back as "${".
    stored = value.replace("${", "$${:-}{")
    quoted = "'" + stored.replace("\\", "\\\\").replace("'", "\\'") + "'"
    entry = f"{name}={quoted}"
    pattern = re.compile(rf"^\s*(export\s+)?{re.escape(name)}\s*=")
    replaced = False
    for index, line in enumerate(lines):
        if pattern.match(line):
            lines[index] = entry
            replaced = True
    if not replaced:
        lines.append(entry)
    register_secret(value)
    atomic_write(env_path, "\n".join(lines) + "\n")


def secret_references(raw: Mapping[str, Any]) -> set[str]:
    """The ``${VAR}`` names a raw profile table refers to (URL, ``url_env``, SSH password)."""
    names: set[str] = set()
    for value in _string_values(dict(raw)):
        names.update(_VAR.findall(value))
    if isinstance(raw.get("url_env"), str):
        names.add(raw["url_env"])
    return names


def remove_env_secret(env_path: Path, name: str) -> bool:
    """Drop ``name=...`` from a ``.env`` file (atomic, 0600); False when it was not there."""
    if not env_path.is_file():
        return False
    lines = env_path.read_text(encoding="utf-8").splitlines()
    pattern = re.compile(rf"^\s*(export\s+)?{re.escape(name)}\s*=")
    kept = [line for line in lines if not pattern.match(line)]
    if len(kept) == len(lines):
        return False
    atomic_write(env_path, "\n".join(kept) + ("\n" if kept else ""))
    return True


def split_password(url: str, var_name: str) -> tuple[str, str | None]:
    """Move a literal password out of a URL: return the URL with ``${var_name}`` and the value."""
    if "://" not in url:
        return url, None
    scheme, rest = url.split("://", 1)
    netloc, sep, tail = rest.partition("/")
    if "@" not in netloc:
        return url, None
    userinfo, hostinfo = netloc.rsplit("@", 1)
    if ":" not in userinfo:
        return url, None
    user, password = userinfo.split(":", 1)
    if _VAR.fullmatch(password) or not password:
        return url, None
    return f"{scheme}://{user}:${{{var_name}}}@{hostinfo}{sep}{tail}", unquote(password)
