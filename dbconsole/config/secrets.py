"""Secrets kept out of the TOML: stored in ``.env`` beside it, and a last guard before a save.

Why apart from editing: the rule "a password never lands in the file the app writes" has three
parts (where the form puts a secret, what is removed with a profile, what refuses a save) and
they must agree on one variable naming and one idea of "a secret value".
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote

import tomli_w

from dbconsole.config.expansion import SECRET_NAME, VAR_REFERENCE, secret_references
from dbconsole.config.model import Config, Profile
from dbconsole.errors import one_line
from dbconsole.fsutil import atomic_write
from dbconsole.redact import register_secret
from dbconsole.urls import password_of

OUR_VARIABLES = "DBCONSOLE_"  # the namespace the profile form writes secrets in


def env_var_name(profile_name: str, what: str = "PASSWORD") -> str:
    """The variable a form stores a profile's secret in: ``DBCONSOLE_<PROFILE>_<WHAT>``."""
    return OUR_VARIABLES + re.sub(r"[^A-Z0-9]", "_", profile_name.upper()) + "_" + what


def _assignment(name: str) -> re.Pattern[str]:
    return re.compile(rf"^\s*(export\s+)?{re.escape(name)}\s*=")


def set_env_secret(env_path: Path, name: str, value: str) -> None:
    """Store ``name=value`` in a ``.env`` file (atomic, 0600), replacing an earlier value."""
    lines = env_path.read_text(encoding="utf-8").splitlines() if env_path.is_file() else []
    # python-dotenv expands ${NAME} even inside quotes and has no escape for it; "${:-}" (no name,
    # empty default) expands to nothing, so a "$${:-}{" written here reads back as "${".
    stored = value.replace("${", "$${:-}{")
    quoted = "'" + stored.replace("\\", "\\\\").replace("'", "\\'") + "'"
    entry = f"{name}={quoted}"
    pattern = _assignment(name)
    replaced = False
    for index, line in enumerate(lines):
        if pattern.match(line):
            lines[index] = entry
            replaced = True
    if not replaced:
        lines.append(entry)
    register_secret(value)
    atomic_write(env_path, "\n".join(lines) + "\n")


def remove_env_secret(env_path: Path, name: str) -> bool:
    """Drop ``name=...`` from a ``.env`` file (atomic, 0600); False when it was not there."""
    if not env_path.is_file():
        return False
    lines = env_path.read_text(encoding="utf-8").splitlines()
    pattern = _assignment(name)
    kept = [line for line in lines if not pattern.match(line)]
    if len(kept) == len(lines):
        return False
    atomic_write(env_path, "\n".join(kept) + ("\n" if kept else ""))
    return True


def forget_secrets(profile: Profile, new_config: Config) -> str:
    """Take the deleted profile's secrets out of ``.env``; say what was removed or kept, and why."""
    env_path = Path(new_config.save_path).parent / ".env"
    still_used = {var for p in new_config.profiles.values() for var in secret_references(p.raw)}
    removed, kept = [], []
    for var in sorted(secret_references(profile.raw)):
        if var in still_used:
            kept.append(f"{var} (used by another profile)")
            continue
        if not var.startswith(OUR_VARIABLES):
            kept.append(f"{var} (not written by dbconsole; it may serve other tools)")
            continue
        try:
            if remove_env_secret(env_path, var):
                removed.append(var)
            else:
                kept.append(f"{var} (not in {env_path})")
        except OSError as exc:
            kept.append(f"{var} ({one_line(exc)})")
    words = []
    if removed:
        words.append(f"removed {', '.join(removed)} from {env_path}")
    if kept:
        words.append(f"kept {', '.join(kept)}")
    return "; ".join(words) or "it had no secret in .env"


def expanded_secrets(config: Config) -> list[str]:
    """Secret values the config got by expansion: referenced secret-like ``${VAR}``s and
    ``url_env`` variables, and passwords that a ``${...}`` put into a URL."""
    referenced = set(VAR_REFERENCE.findall(tomli_w.dumps(config.raw))) if config.raw else set()
    referenced |= {str(p.raw["url_env"]) for p in config.profiles.values() if "url_env" in p.raw}
    found = [config.environ[name] for name in referenced
             if config.environ.get(name) and SECRET_NAME.search(name)]
    for profile in config.profiles.values():
        raw_url = str(profile.raw.get("url", ""))
        if "${" in raw_url or "url_env" in profile.raw:
            password = password_of(profile.url)
            if password and password not in raw_url:
                found.append(password)
    return found


def holds_secret(value: str, secret: str) -> bool:
    """A long secret anywhere in a value; a short one only where a URL keeps its password."""
    if len(secret) >= 4:
        return secret in value or quote(secret, safe="") in value
    return f":{secret}@" in value or f":{quote(secret, safe='')}@" in value
