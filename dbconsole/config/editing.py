"""Changing the configuration: add, edit, rename or remove a profile, and save the file safely.

The profile form is a face over these functions: :func:`build_profile` turns what was typed into
a validated Config plus the secrets for ``.env``, and :func:`save_profile` writes both. Every new
Config goes through :func:`parse_config`, so nothing can be saved that the loader would refuse.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import tomli_w

from dbconsole.config.checks import check_number
from dbconsole.config.expansion import VAR_REFERENCE, string_values
from dbconsole.config.model import DEFAULT_CONNECT_TIMEOUT, Config
from dbconsole.config.secrets import env_var_name, expanded_secrets, holds_secret, set_env_secret
from dbconsole.config.validation import parse_config
from dbconsole.errors import ConfigError
from dbconsole.fsutil import atomic_write
from dbconsole.urls import split_userinfo

PROFILE_NAME = re.compile(r"[A-Za-z0-9_.-]+")


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
    if not PROFILE_NAME.fullmatch(name):
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
    values = list(string_values(document))
    for secret in expanded_secrets(config):
        if any(holds_secret(value, secret) for value in values):
            raise ConfigError("refusing to save: a password would be written into the config file; "
                              "use a ${VAR} reference and put the value in .env")
    atomic_write(target, text)
    config.path = target
    return target


# --------------------------------------------------------------------------- the profile form's logic


def split_password(url: str, var_name: str) -> tuple[str, str | None]:
    """Move a literal password out of a URL: return the URL with ``${var_name}`` and the value."""
    parts = split_userinfo(url)
    if parts is None or not parts.password or VAR_REFERENCE.fullmatch(parts.password):
        return url, None
    return parts.joined(password=f"${{{var_name}}}"), unquote(parts.password)


def with_password_reference(url: str, var: str) -> str:
    """Put ``${var}`` as the password of ``url`` (replacing any password already there)."""
    if "://" not in url:
        raise ConfigError("use a postgresql://user@host/db URL to store a password")
    parts = split_userinfo(url)
    if parts is None:
        raise ConfigError("the URL needs a user (postgresql://USER@host/db) to go with a password")
    return parts.joined(password=f"${{{var}}}")


@dataclass
class ProfileFormValues:
    """What the profile form holds, as typed (text boxes stay text until :func:`build_profile`)."""

    name: str
    url: str
    password: str = ""
    ssh_host: str = ""
    ssh_port: str = ""
    ssh_user: str = ""
    ssh_key: str = ""
    read_only: bool = True
    color: str | None = None


def values_from_profile(config: Config, name: str) -> ProfileFormValues:
    profile = config.profiles[name]
    raw = profile.raw
    ssh = dict(raw.get("ssh") or {})
    return ProfileFormValues(
        name=name, url=str(raw.get("url", "")), ssh_host=str(ssh.get("host", "")),
        ssh_port=str(ssh.get("port", "")), ssh_user=str(ssh.get("user", "")), ssh_key=str(ssh.get("key", "")),
        read_only=profile.read_only, color=profile.color)


def _form_ssh(values: ProfileFormValues, old_ssh: Mapping[str, Any]) -> dict[str, Any]:
    """The ``ssh`` table from the form's boxes; what the form has no box for is kept."""
    if not values.ssh_host.strip():
        return {}
    ssh = {k: v for k, v in old_ssh.items() if k in ("password", "known_hosts")}
    ssh["host"] = values.ssh_host.strip()
    port = values.ssh_port.strip()
    if port:
        check_number(int(port) if port.isdigit() else port, "", "SSH port", whole=True, above_minimum=True,
                     maximum=65535, must_be="a number between 1 and 65535")
        ssh["port"] = int(port)
    if values.ssh_user.strip():
        ssh["user"] = values.ssh_user.strip()
    if values.ssh_key.strip():
        ssh["key"] = values.ssh_key.strip()
    return ssh


def build_profile(config: Config, values: ProfileFormValues, old_name: str | None) -> tuple[Config, dict[str, str]]:
    """The config with this profile added or replaced, and the secrets to put in ``.env``.

    Raises ConfigError (one line naming the field) when the values would not load.
    """
    name = values.name.strip()
    if not name:
        raise ConfigError("the profile needs a name")
    if old_name != name and name in config.profiles:
        raise ConfigError(f"a profile called '{name}' exists already")
    old_raw: dict[str, Any] = dict(config.profiles[old_name].raw) if old_name in config.profiles else {}
    var = env_var_name(name)
    secrets: dict[str, str] = {}
    url = values.url.strip()
    url_env = None
    if url:
        url, literal = split_password(url, var)
        if literal is not None:
            secrets[var] = literal
        if values.password:
            url = with_password_reference(url, var)
            secrets[var] = values.password
        # renamed without a new password: a reference to the old profile's variable keeps working
    elif "url_env" in old_raw:
        url_env = old_raw["url_env"]
    else:
        raise ConfigError("the profile needs a URL (postgresql://user@host:5432/db)")
    ssh = _form_ssh(values, dict(old_raw.get("ssh") or {}))
    table = profile_table(url=url or None, url_env=url_env, read_only=values.read_only, ssh=ssh or None,
                          color=values.color or None, connect_timeout=old_raw.get("connect_timeout"),
                          description=old_raw.get("description"))
    if old_raw.get("live_exact_counts"):
        table["live_exact_counts"] = True  # kept on edit (the form has no field for it)
    environ = {**dict(config.environ), **secrets}
    staged = dataclasses.replace(config, environ=environ)
    return with_profile(staged, name, table, old_name=old_name), secrets


def save_profile(config: Config, values: ProfileFormValues, old_name: str | None) -> Config:
    """Validate, store the secrets in ``.env`` (0600) and write the TOML atomically (0600)."""
    new_config, secrets = build_profile(config, values, old_name)
    # The TOML first: its save refuses when a secret would land in it, and then nothing at all
    # has been written. A failure writing .env afterwards leaves a ${VAR} the loader names.
    save_config(new_config)
    env_path = Path(new_config.save_path).parent / ".env"
    for var, value in secrets.items():
        set_env_secret(env_path, var, value)
    return new_config
