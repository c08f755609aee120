"""``${VAR}`` references: where their values come from, how they are spliced in, what is missing.

Values come from ``.env`` files (beside the config, then the working directory) under the real
environment, so secrets live in ``.env`` and never in the file the app writes. A profile whose
variables are not set is kept, marked unusable, instead of failing the whole load: the other
profiles still work and the listing says what to set.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from dotenv import dotenv_values

from dbconsole.config.checks import expect
from dbconsole.config.model import Profile, SshSettings
from dbconsole.errors import ConfigError
from dbconsole.redact import register_secret
from dbconsole.urls import UserInfoUrl, is_local_host, split_userinfo

VAR_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Variable names that hold secrets (PWD/OLDPWD, the shell's working directory, do not count).
SECRET_NAME = re.compile(r"PASS|SECRET|TOKEN|CREDENTIAL|(?<!^)(?<!OLD)PWD", re.IGNORECASE)


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


def expand(value: str, env: Mapping[str, str], where: str, key: str) -> str:
    """Replace each ``${VAR}``; an unset variable is a configuration error naming it."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise ConfigError(f"{where}: {key}: ${{{name}}} is not set "
                              "(define it in the environment or in a .env file)")
        result = env[name]
        if SECRET_NAME.search(name):
            register_secret(result)
        return result

    return VAR_REFERENCE.sub(substitute, value)


def expand_url(value: str, env: Mapping[str, str], where: str, key: str) -> str:
    """Expand a URL; values landing in its ``user:password@`` part are percent-encoded.

    ``.env`` holds passwords as they are, and a password with ``@``, ``/`` or ``:`` would
    otherwise break the URL it is spliced into.
    """
    parts = split_userinfo(value)
    if parts is None:
        return expand(value, env, where, key)

    def userinfo_part(text: str) -> str:
        return quote(expand(text, env, where, key), safe="") if "${" in text else text

    password = None if parts.password is None else userinfo_part(parts.password)
    return UserInfoUrl(scheme=expand(parts.scheme, env, where, key), user=userinfo_part(parts.user),
                       password=password, host_and_rest=expand(parts.host_and_rest, env, where, key)).joined()


def missing_variables(raw: Mapping[str, Any], env: Mapping[str, str], where: str, key: str) -> list[str]:
    """Every variable the profile needs that neither the environment nor ``.env`` sets, in order."""
    if "url_env" in raw:
        var = expect(raw["url_env"], str, where, f"{key}.url_env")
        texts = [] if env.get(var) else [f"${{{var}}}"]
    else:
        texts = [expect(raw["url"], str, where, f"{key}.url")]
    ssh = raw.get("ssh") or {}
    texts += [value for value in ssh.values() if isinstance(value, str)]
    names = [name for text in texts for name in VAR_REFERENCE.findall(text) if name not in env]
    return list(dict.fromkeys(names))


def unusable_profile(name: str, raw: Mapping[str, Any], options: dict[str, Any], missing: list[str],
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


def string_values(node: Any) -> Any:
    """Every string in a decoded TOML document, depth first."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from string_values(value)
    elif isinstance(node, list):
        for value in node:
            yield from string_values(value)


def secret_references(raw: Mapping[str, Any]) -> set[str]:
    """The ``${VAR}`` names a raw profile table refers to (URL, ``url_env``, SSH password)."""
    names: set[str] = set()
    for value in string_values(dict(raw)):
        names.update(VAR_REFERENCE.findall(value))
    if isinstance(raw.get("url_env"), str):
        names.add(raw["url_env"])
    return names
