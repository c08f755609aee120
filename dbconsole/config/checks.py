"""The small checks every part of the config file goes through; each error names file and key.

Why one place: the loader and the profile form must refuse the same things in the same words,
and a range check written by hand six times drifts (one accepted ``true`` as 1).
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping
from typing import Any

from psycopg.conninfo import conninfo_to_dict

from dbconsole.errors import ConfigError
from dbconsole.redact import mask_url, register_secret
from dbconsole.urls import URL_SCHEMES

_KIND_NAMES = {dict: "a table", list: "a list", str: "a string", bool: "true or false", int: "a number"}


def check_keys(table: Mapping[str, Any], allowed: set[str], where: str, prefix: str) -> None:
    for name in table:
        if name not in allowed:
            hint = did_you_mean(name, allowed)
            raise ConfigError(f"{where}: unknown key '{prefix}{name}'{hint}")


def did_you_mean(name: str, choices: Any) -> str:
    match = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


def expect(value: Any, kind: type, where: str, key: str) -> Any:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"{where}: {key} must be {_KIND_NAMES.get(kind, kind.__name__)}")
    return value


def check_number(value: Any, where: str, key: str, *, must_be: str, whole: bool = False,
                 minimum: float = 0, above_minimum: bool = False, maximum: float | None = None) -> None:
    """``value`` is a number (a whole one if ``whole``; never a bool) in the range, else a
    ConfigError "<where>: <key> must be <must_be>" (no "<where>: " when ``where`` is empty)."""
    kinds: tuple[type, ...] = (int,) if whole else (int, float)
    in_range = (isinstance(value, kinds) and not isinstance(value, bool)
                and (value > minimum if above_minimum else value >= minimum)
                and (maximum is None or value <= maximum))
    if not in_range:
        raise ConfigError(f"{where}: {key} must be {must_be}" if where else f"{key} must be {must_be}")


def check_positive_int(value: Any, where: str, key: str) -> None:
    check_number(value, where, key, whole=True, above_minimum=True, must_be="a whole number > 0")


def check_choice(value: Any, choices: Collection[str], where: str, key: str, *, suggest: bool = True) -> None:
    if value not in choices:
        hint = did_you_mean(str(value), choices) if suggest else ""
        raise ConfigError(f"{where}: {key} must be one of {', '.join(choices)}{hint}")


def validate_url(url: str, where: str, key: str) -> None:
    """libpq must be able to parse the URL; the password found in it becomes a secret."""
    if "://" in url and not url.startswith(URL_SCHEMES):
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
