"""Finding the config file and reading it, or building profiles from the classic variables.

The file is found by ``--config`` > ``$DBCONSOLE_CONFIG`` > ``./dbconsole.toml`` >
``$XDG_CONFIG_HOME/dbconsole/dbconsole.toml``. With no file at all, ``local`` comes from
``DATABASE_URL`` / ``POSTGRES_DSN`` / ``DB_URL`` and ``server`` from ``SERVER_DATABASE_URL``.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path

from dbconsole.config.expansion import load_environ
from dbconsole.config.model import CONFIG_NAME, LOCAL_ENV_VARS, SERVER_ENV_VAR, Config, Profile, default_config_path
from dbconsole.config.validation import parse_config, profile_from_raw
from dbconsole.errors import ConfigError


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
            profiles["local"] = profile_from_raw("local", {"url_env": var}, env, where=f"${var}",
                                                 origin=f"env:{var}")
            break
    if env.get(SERVER_ENV_VAR):
        # A server reached through a hand-made tunnel looks like localhost: never trust that.
        profiles["server"] = profile_from_raw(
            "server", {"url_env": SERVER_ENV_VAR, "read_only": True}, env,
            where=f"${SERVER_ENV_VAR}", origin=f"env:{SERVER_ENV_VAR}")
    return Config(path=None, profiles=profiles, environ=env,
                  default_profile="local" if "local" in profiles else None)
